//! Listeners and HTTP routing: the client listener (the MS-WUSP SOAP services Windows Update
//! clients call; payload content is a later milestone) and the admin listener (`/health`,
//! `/ready`, `/api/v1/...`). Every connection has a header deadline and drains on
//! shutdown. Uses `app` and below.

use crate::app::App;
use crate::shutdown::Shutdown;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Time a client has to send a request's headers (also bounds idle keep-alive).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Time in-flight requests get to finish after shutdown is signalled.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Response bodies: whole buffers for SOAP and admin answers, streams from disk for payloads.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A whole-buffer body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// Which routes a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Admin,
}

/// Binds a listener (port 0 picks a free one; the bound address is returned by `local_addr`).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Accepts connections until shutdown, then drains them.
pub async fn serve(listener: TcpListener, role: Role, app: Arc<App>, shutdown: Shutdown) {
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait() => break,
        };
        let (stream, _) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(error = %err, ?role, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let service = hyper::service::service_fn(move |request| {
            let app = Arc::clone(&app);
            async move { Ok::<_, std::convert::Infallible>(route(role, &app, request).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = watched.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?role,
            "connections still open after the drain timeout; closing them"
        );
    }
}

async fn route(role: Role, app: &App, request: Request<Incoming>) -> Response<Body> {
    match role {
        Role::Client => client_route(app, request).await,
        Role::Admin => admin_route(app, &request),
    }
}

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

async fn client_route(app: &App, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_ascii_lowercase();
    if path.starts_with("/content/") {
        return content_route(app, &request).await;
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
    let context = crate::service::Context {
        app,
        snapshot: app.snapshot(),
        content_base,
        now: chrono::Utc::now().timestamp(),
    };
    let (xml, is_fault) = crate::service::handle(&context, &body, soap_action.as_deref());
    soap_response(xml, is_fault, xpress)
}

/// `GET`/`HEAD /Content/XX/<SHA1HEX>.<ext>`: the path is parsed into a digest (never joined
/// onto the filesystem); unknown digests and those of unapproved updates are 404; a cached
/// file is served at once, a missing one after its single upstream transfer is verified.
async fn content_route(app: &App, request: &Request<Incoming>) -> Response<Body> {
    use crate::content::{layout, serve};
    use crate::stats::ContentCounters as C;
    let counters = &app.counters;
    let payload = layout::parse_content_path(request.uri().path())
        .and_then(|path| app.snapshot().payload(&path.sha1))
        .filter(|(_, approved)| *approved || app.config.content.serve_unapproved);
    let Some((meta, _)) = payload else {
        C::add(&counters.not_found, 1);
        return serve::not_found();
    };
    let Some(cache) = app.content.get() else {
        return serve::error(StatusCode::SERVICE_UNAVAILABLE);
    };
    let committed = cache.committed(&meta.sha1);
    if committed.is_none() && app.config.content.serve_while_downloading {
        if let Some(response) = range_while_downloading(app, cache, &meta, request).await {
            return response;
        }
    }
    let (path, hit) = match committed {
        Some((path, _)) => (path, true),
        None => match cache.get(&meta).await {
            Ok(path) => (path, false),
            Err(err) => {
                tracing::warn!(error = %err, "payload not available");
                C::add(&counters.errors, 1);
                return serve::error(StatusCode::BAD_GATEWAY);
            }
        },
    };
    let modified = tokio::fs::metadata(&path)
        .await
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH);
    let served = serve::Served::new(&meta.sha1, meta.size, modified);
    let response = serve::respond(&path, &served, request.method(), request.headers()).await;
    let sent = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (requests, bytes) = if hit {
        (&counters.hits, &counters.bytes_from_cache)
    } else {
        (&counters.misses, &counters.bytes_after_miss)
    };
    C::add(requests, 1);
    C::add(bytes, if request.method() == Method::HEAD { 0 } else { sent });
    response
}

/// With `serve_while_downloading`: a single range is answered from the transfer's partial
/// file as soon as its bytes have arrived. `None` when the request is not a single range or
/// the file got committed meanwhile (the caller then serves the committed file).
async fn range_while_downloading(
    app: &App,
    cache: &crate::content::cache::Cache<crate::upstream::payload::HttpFetch>,
    meta: &crate::content::PayloadMeta,
    request: &Request<Incoming>,
) -> Option<Response<Body>> {
    use crate::content::cache::FlightState;
    use crate::content::serve;
    let served = serve::Served::new(&meta.sha1, meta.size, std::time::SystemTime::now());
    let range = serve::single_range(request.headers(), &served)?;
    let mut flight = cache.flight(meta);
    loop {
        let state = flight.borrow_and_update().clone();
        match state {
            FlightState::Running { received } if received > range.end => break,
            FlightState::Running { .. } => {}
            FlightState::Committed(_) => return None,
            FlightState::Failed(err) => {
                tracing::warn!(error = %err, "payload not available");
                crate::stats::ContentCounters::add(&app.counters.errors, 1);
                return Some(serve::error(StatusCode::BAD_GATEWAY));
            }
        }
        if flight.changed().await.is_err() {
            return None;
        }
    }
    let response =
        serve::respond_range_in_progress(&cache.partial_path(&meta.sha1), &served, range, request.method())
            .await;
    if response.status() == StatusCode::NOT_FOUND {
        // Committed (renamed) between the wait and the open.
        return None;
    }
    crate::stats::ContentCounters::add(&app.counters.misses, 1);
    crate::stats::ContentCounters::add(&app.counters.bytes_after_miss, range.length());
    Some(response)
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

/// Where file locations point: the configured public URL, else the request's Host.
fn content_base(app: &App, request: &Request<Incoming>) -> String {
    if !app.config.server.public_url.is_empty() {
        return app.config.server.public_url.trim_end_matches('/').to_string();
    }
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
        .unwrap_or_else(|| app.config.server.http_listen.to_string());
    format!("http://{host}")
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

fn admin_route(app: &App, request: &Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().trim_end_matches('/');
    match (request.method(), path) {
        (&Method::GET, "/health") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/ready") => ready(app),
        (&Method::GET, "/metrics") => metrics(app),
        (_, p) if p.starts_with("/api/v1/") => {
            if !authorized(app, request) {
                return json_response(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "missing or wrong bearer token (see [admin] token_file)"}),
                );
            }
            api_route(app, request.method(), p)
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn api_route(app: &App, method: &Method, path: &str) -> Response<Body> {
    match (method, path) {
        (&Method::POST, "/api/v1/sync") => {
            if app.sync.request() {
                json_response(StatusCode::ACCEPTED, json!({"status": "started"}))
            } else {
                json_response(StatusCode::CONFLICT, json!({"status": "already running"}))
            }
        }
        (&Method::GET, "/api/v1/sync") => sync_status(app),
        (&Method::GET, "/api/v1/computers") => {
            let computers: Vec<serde_json::Value> = app
                .store
                .computers()
                .unwrap_or_default()
                .iter()
                .filter_map(|json| serde_json::from_str(json).ok())
                .collect();
            json_response(StatusCode::OK, serde_json::Value::Array(computers))
        }
        (&Method::POST, "/api/v1/reload") => match app.reload_baselines() {
            Ok(()) => json_response(StatusCode::OK, json!({"status": "reloaded"})),
            Err(err) => {
                tracing::error!(error = %err, "baseline reload failed; the previous baselines stay in force");
                json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": err, "status": "previous baselines kept"}),
                )
            }
        },
        (&Method::POST, "/api/v1/prefetch") => {
            app.prefetch.request();
            json_response(StatusCode::ACCEPTED, json!({"status": "requested"}))
        }
        (&Method::GET, "/api/v1/prefetch") => {
            use std::sync::atomic::Ordering;
            json_response(
                StatusCode::OK,
                json!({
                    "running": app.prefetch.is_running(),
                    "progress": {
                        "done": app.prefetch.files_done.load(Ordering::Relaxed),
                        "total": app.prefetch.files_total.load(Ordering::Relaxed),
                    },
                    "last": app.prefetch.last(),
                }),
            )
        }
        (&Method::GET, "/api/v1/updates") => {
            let snapshot = app.snapshot();
            json_response(
                StatusCode::OK,
                serde_json::to_value(&snapshot.records).unwrap_or_default(),
            )
        }
        _ => json_response(StatusCode::NOT_FOUND, json!({"error": "no such endpoint"})),
    }
}

/// Prometheus text exposition of the counters kept so far (names from interfaces.md).
fn metrics(app: &App) -> Response<Body> {
    let mut response = Response::new(full(crate::metrics::render(app)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

fn ready(app: &App) -> Response<Body> {
    let counts = app.store.counts();
    let body = json!({"ready": app.is_ready(), "revisions": counts.revisions, "updates": counts.updates});
    let status = if app.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, body)
}

fn sync_status(app: &App) -> Response<Body> {
    use std::sync::atomic::Ordering;
    let body = json!({
        "running": app.sync.is_running(),
        "progress": {
            "done": app.sync.progress_done.load(Ordering::Relaxed),
            "total": app.sync.progress_total.load(Ordering::Relaxed),
        },
        "last": app.sync.last(),
    });
    json_response(StatusCode::OK, body)
}

/// Constant-time comparison of the bearer token.
fn authorized(app: &App, request: &Request<Incoming>) -> bool {
    let Some(value) = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(token) = value.strip_prefix("Bearer ") else {
        return false;
    };
    let (a, b) = (token.trim().as_bytes(), app.admin_token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
