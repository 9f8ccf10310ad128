//! The client listener's routes: the MS-WUSP SOAP services and the MS-WSUSSS ones downstream
//! servers sync from (body read within its size, time and memory bounds, answered on the
//! blocking pool, Xpress when the caller offers it, faults as HTTP 500) and the payload
//! route under `/Content/`.

use super::body::{full, text, Body};
use super::{downstream, payload, soap};
use crate::admission::Admission;
use crate::admission::BodyMemory;
use crate::app::App;
use crate::protocol::wusp::envelope::Service;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The SOAP services Windows clients call, matched case-insensitively as IIS does, and the
/// service each path answers for.
const SOAP_PATHS: [(&str, Endpoint); 6] = [
    ("/clientwebservice/client.asmx", Endpoint::Client(Service::Client)),
    (
        "/simpleauthwebservice/simpleauth.asmx",
        Endpoint::Client(Service::SimpleAuth),
    ),
    (
        "/reportingwebservice/reportingwebservice.asmx",
        Endpoint::Client(Service::Reporting),
    ),
    (
        "/reportingwebservice/webservice.asmx",
        Endpoint::Client(Service::Reporting),
    ),
    (
        "/serversyncwebservice/serversyncwebservice.asmx",
        Endpoint::ServerSync,
    ),
    ("/dssauthwebservice/dssauthwebservice.asmx", Endpoint::DssAuth),
];

/// Who a SOAP path serves: Windows clients (MS-WUSP) or downstream servers (MS-WSUSSS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Client(Service),
    ServerSync,
    DssAuth,
}

impl Endpoint {
    /// The path as the WSDL spells it, for `faultactor`.
    fn path(self) -> &'static str {
        match self {
            Endpoint::ServerSync => "/ServerSyncWebService/ServerSyncWebService.asmx",
            Endpoint::DssAuth => "/DssAuthWebService/DssAuthWebService.asmx",
            Endpoint::Client(_) => "/ClientWebService/client.asmx",
        }
    }
}

/// Time a client has to send its request body (Windows sends its largest, ~200 KB, at once).
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Routes one client request.
pub(super) async fn route(
    app: Arc<App>,
    request: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> Response<Body> {
    let path = request.uri().path().to_ascii_lowercase();
    if path.starts_with("/content/") {
        return payload::route(&app, &request, peer.ip()).await;
    }
    if path == downstream::REPLICA_BASELINES_PATH {
        return downstream::replica_baselines(&app, request, peer.ip()).await;
    }
    let Some(endpoint) = SOAP_PATHS
        .iter()
        .find(|(soap_path, _)| *soap_path == path)
        .map(|(_, endpoint)| *endpoint)
    else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    if endpoint_disabled(&app, endpoint) {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "SOAP services take POST\n");
    }
    let xpress = accepts_xpress(&request);
    let soap_action = request
        .headers()
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_base = content_base(&app, &request);
    let admission = &app.admission;
    let (body, body_memory) = match read_body(admission, request, peer.ip()).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let Some(worker) = admission.worker().await else {
        return busy();
    };
    // Parsing and answering are CPU work bounded by the XML limits: they run on the blocking
    // pool, at most `soap_workers` at once, so the async threads only move bytes. The body's
    // memory stays held until the answer is ready. When the client goes away (hyper drops
    // this future), the reader is told to stop.
    let gone = ClientGone::default();
    let request = SoapRequest {
        body,
        soap_action,
        endpoint,
        content_base,
        peer,
        xpress,
        gone: Arc::clone(&gone.flag),
    };
    let app_for_work = Arc::clone(&app);
    let work = tokio::task::spawn_blocking(move || {
        let _worker = worker;
        answer_soap(&app_for_work, request)
    });
    let answered = work.await;
    gone.disarm();
    drop(body_memory);
    match answered {
        Ok(response) => response,
        Err(err) => {
            tracing::error!(error = %err, "SOAP handler panicked");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

/// Longest a SOAP body may take to read as XML once its worker has started (100,000 elements
/// take milliseconds; this bounds the unforeseen).
const PARSE_DEADLINE: Duration = Duration::from_secs(5);

/// A SOAP request as its worker gets it.
struct SoapRequest {
    body: String,
    soap_action: Option<String>,
    endpoint: Endpoint,
    content_base: String,
    peer: std::net::SocketAddr,
    xpress: bool,
    /// Set when the client went away.
    gone: Arc<AtomicBool>,
}

/// Sets its flag when dropped before `disarm`: the request's future was dropped because its
/// client went away.
struct ClientGone {
    flag: Arc<AtomicBool>,
    armed: bool,
}

impl Default for ClientGone {
    fn default() -> Self {
        ClientGone {
            flag: Arc::default(),
            armed: true,
        }
    }
}

impl ClientGone {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for ClientGone {
    fn drop(&mut self) {
        if self.armed {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether the body's reader should give up: its client went away, or its deadline passed.
fn reader_stop(gone: &AtomicBool, started: std::time::Instant) -> Option<&'static str> {
    if gone.load(Ordering::Relaxed) {
        Some("the client went away")
    } else if started.elapsed() > PARSE_DEADLINE {
        Some("the 5 s deadline passed")
    } else {
        None
    }
}

/// `[downstream] enabled = false` hides the MS-WSUSSS services as a WSUS without them would.
fn endpoint_disabled(app: &App, endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::ServerSync | Endpoint::DssAuth) && !app.admission.downstream.enabled()
}

fn answer_soap(app: &App, request: SoapRequest) -> Response<Body> {
    let service = match request.endpoint {
        Endpoint::Client(service) => service,
        Endpoint::ServerSync | Endpoint::DssAuth => return answer_downstream(app, request),
    };
    let context = soap::Context {
        app,
        snapshot: app.snapshot(),
        content_base: request.content_base,
        now: chrono::Utc::now().timestamp(),
        peer: Some(request.peer.ip()),
        xpress: request.xpress,
    };
    let started = std::time::Instant::now();
    let stop = || reader_stop(&request.gone, started);
    let answer = soap::answer(
        &context,
        &request.body,
        request.soap_action.as_deref(),
        Some(service),
        &stop,
    );
    let response = soap_response(answer.xml, answer.compressed, answer.is_fault, request.xpress);
    let operation = answer.operation.map_or("unreadable", |op| op.name());
    let outcome = if answer.is_fault { "fault" } else { "ok" };
    app.soap
        .record(operation, outcome, started.elapsed().as_secs_f64());
    response
}

/// A downstream server's MS-WSUSSS request, answered as `answer_soap` answers a client's.
fn answer_downstream(app: &App, request: SoapRequest) -> Response<Body> {
    let context = downstream::SyncContext {
        app,
        snapshot: app.snapshot(),
        peer: request.peer.ip(),
        actor: format!("{}{}", request.content_base, request.endpoint.path()),
        content_base: request.content_base.clone(),
        now: chrono::Utc::now().timestamp(),
    };
    let started = std::time::Instant::now();
    let stop = || reader_stop(&request.gone, started);
    let answer = downstream::answer(
        &context,
        &request.body,
        request.soap_action.as_deref(),
        request.endpoint == Endpoint::DssAuth,
        &stop,
    );
    let operation = answer.metric_name();
    let outcome = if answer.is_fault { "fault" } else { "ok" };
    let response = soap_response(answer.xml, None, answer.is_fault, request.xpress);
    app.soap
        .record(operation, outcome, started.elapsed().as_secs_f64());
    response
}

/// 503 with a Retry-After Windows honours: no body memory or worker came free in time.
fn busy() -> Response<Body> {
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, "server busy, retry later\n");
    response
        .headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}

/// Reads a request body within the size and time bounds, holding body memory for the bytes
/// as they arrive (a slow upload holds only what it has sent; one address at most a quarter
/// of the budget). A declared length over the cap is refused before a byte is read.
async fn read_body<'a>(
    admission: &'a Admission,
    request: Request<Incoming>,
    peer: std::net::IpAddr,
) -> Result<(String, BodyMemory<'a>), Response<Body>> {
    use http_body_util::BodyExt;
    let max = admission.max_soap_body;
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return Err(too_large());
    }
    let mut memory = admission.body_memory(peer);
    // The declared length, when there is one, is the allocation: a body grown by doubling
    // holds up to twice its bytes (three times while it moves), which the body budget does
    // not see. Pages are touched as bytes arrive, so a slow upload still holds what it sent.
    let mut body = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    let mut incoming = request.into_body();
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    loop {
        let frame = match tokio::time::timeout_at(deadline, incoming.frame()).await {
            Err(_) => {
                return Err(text(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received in time\n",
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(text(StatusCode::BAD_REQUEST, "request body broken\n")),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if body.len() + data.len() > max {
            return Err(too_large());
        }
        if !memory.grow(data.len()).await {
            return Err(busy());
        }
        body.extend_from_slice(&data);
    }
    String::from_utf8(body)
        .map(|body| (body, memory))
        .map_err(|_| text(StatusCode::BAD_REQUEST, "request body is not UTF-8\n"))
}

fn too_large() -> Response<Body> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body too large or broken\n",
    )
}

fn accepts_xpress(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get_all(hyper::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            coding
                .split(';')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("xpress"))
        })
}

/// Where file locations point: the configured public URL, else the request's Host with the
/// scheme the request came in by (a client on the HTTPS listener downloads over HTTPS too).
fn content_base(app: &App, request: &Request<Incoming>) -> String {
    if !app.config.server.public_url.is_empty() {
        return app.config.server.public_url.trim_end_matches('/').to_string();
    }
    let (scheme, listener) = match request.extensions().get::<super::Scheme>() {
        Some(super::Scheme::Https) => (
            "https",
            app.config
                .server
                .https_listen
                .unwrap_or(app.config.server.http_listen),
        ),
        _ => ("http", app.config.server.http_listen),
    };
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .map(str::to_string)
        .unwrap_or_else(|| listener.to_string());
    format!("{scheme}://{host}")
}

/// A SOAP answer: HTTP 500 for faults (never compressed, so the code stays readable in
/// logs), Xpress-compressed when the client offered it.
fn soap_response(xml: String, compressed: Option<Vec<u8>>, is_fault: bool, xpress: bool) -> Response<Body> {
    let status = if is_fault {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let compress = xpress && !is_fault;
    let bytes = match compressed {
        Some(bytes) => bytes,
        None if compress => super::xpress::compress_sharing_blocks(xml.as_bytes()),
        None => xml.into_bytes(),
    };
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    if compress {
        headers.insert(
            hyper::header::CONTENT_ENCODING,
            HeaderValue::from_static("xpress"),
        );
    }
    response
}

#[cfg(test)]
mod client_gone_tests {
    use super::*;

    #[test]
    fn a_request_dropped_before_its_answer_tells_its_worker_to_stop() {
        let dropped = ClientGone::default();
        let flag = Arc::clone(&dropped.flag);
        drop(dropped);
        assert!(
            flag.load(Ordering::Relaxed),
            "the future went away: the flag is set"
        );
        let answered = ClientGone::default();
        let flag = Arc::clone(&answered.flag);
        answered.disarm();
        assert!(!flag.load(Ordering::Relaxed), "answered: nothing to stop");
    }
}
