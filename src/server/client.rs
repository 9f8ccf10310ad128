//! The client listener's routes: the MS-WUSP SOAP services (bounded body read, Xpress when
//! the client offers it, faults as HTTP 500) and the payload route under `/Content/`.

use super::body::{full, text, Body};
use super::{payload, soap};
use crate::app::App;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::time::Duration;

/// The SOAP services Windows clients call, matched case-insensitively as IIS does.
const SOAP_PATHS: [&str; 4] = [
    "/clientwebservice/client.asmx",
    "/simpleauthwebservice/simpleauth.asmx",
    "/reportingwebservice/reportingwebservice.asmx",
    "/reportingwebservice/webservice.asmx",
];

/// Largest SOAP request read (a SyncUpdates with thousands of cached ids is ~100 KB).
const MAX_SOAP_BODY: usize = 16 << 20;
/// Time a client has to send its request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Routes one client request.
pub(super) async fn route(
    app: &App,
    request: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> Response<Body> {
    let path = request.uri().path().to_ascii_lowercase();
    if path.starts_with("/content/") {
        return payload::route(app, &request).await;
    }
    if !SOAP_PATHS.contains(&path.as_str()) {
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
    let content_base = content_base(app, &request);
    let body = match read_body(request.into_body()).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let context = soap::Context {
        app,
        snapshot: app.snapshot(),
        content_base,
        now: chrono::Utc::now().timestamp(),
        peer: Some(peer.ip()),
    };
    let started = std::time::Instant::now();
    let answer = soap::answer(&context, &body, soap_action.as_deref());
    let response = soap_response(answer.xml, answer.is_fault, xpress);
    let operation = answer.operation.map_or("unreadable", |op| op.name());
    let outcome = if answer.is_fault { "fault" } else { "ok" };
    app.soap
        .record(operation, outcome, started.elapsed().as_secs_f64());
    response
}

/// Reads a request body within the size and time bounds.
async fn read_body(body: Incoming) -> Result<String, Response<Body>> {
    use http_body_util::{BodyExt, Limited};
    let collected = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_SOAP_BODY).collect()).await;
    match collected {
        Ok(Ok(collected)) => String::from_utf8(collected.to_bytes().to_vec())
            .map_err(|_| text(StatusCode::BAD_REQUEST, "request body is not UTF-8\n")),
        Ok(Err(_)) => Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large or broken\n",
        )),
        Err(_) => Err(text(
            StatusCode::REQUEST_TIMEOUT,
            "request body not received in time\n",
        )),
    }
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
fn soap_response(xml: String, is_fault: bool, xpress: bool) -> Response<Body> {
    let status = if is_fault {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let compress = xpress && !is_fault;
    let bytes = if compress {
        crate::protocol::xpress::compress(xml.as_bytes())
    } else {
        xml.into_bytes()
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
