//! The HTTP front: listeners, connection limits and draining, and routing. The client
//! listeners (HTTP, and HTTPS through `tls`) serve the MS-WUSP SOAP services (`soap`, via
//! `client`) and payloads (`payload`, plain-HTTP hits on `lanes`); the admin listener serves
//! health, readiness, metrics and the admin API (`admin`, `metrics`). One body type (`body`).
//! Uses `app` and the modules below it.

mod admin;
pub mod body;
mod client;
mod compliance;
mod downstream;
mod explain;
mod lanes;
mod metrics;
pub mod payload;
pub mod soap;
mod stats;
mod tls;
mod xpress;

pub use body::Body;
pub use tls::{Acceptor, Scheme};

use crate::app::App;
use crate::shutdown::Shutdown;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Time a client has to send a request's headers (also bounds idle keep-alive).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes hyper's read buffer grows to on one connection, and so the longest request
/// head it takes (431 beyond). hyper's default, ~408 KiB, let each of 1,000 clients posting
/// SOAP bodies at once keep ~70 KiB after its body was read (heaptrack of a burst of 1,000
/// first scans); bodies are read in pieces of this size whatever their length.
const MAX_READ_BUFFER: usize = 32 * 1024;
/// Time in-flight requests get to finish after shutdown is signalled.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Which routes a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The client listener: Windows Update clients (SOAP services and payloads).
    Client,
    /// The admin listener: `/health`, `/ready`, `/api/v1/...`, metrics.
    Admin,
}

/// Binds a listener (port 0 picks a free one; the bound address is returned by `local_addr`).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Accepts connections until shutdown, then drains them; with `tls`, each connection is
/// TLS (the handshake runs in the connection's own task). Plain client connections go to
/// `payload::serve_plain` first, on one of the listener's payload lanes (`lanes`), which
/// answers payload hits with sendfile and hands the connection back to this runtime, for
/// hyper, at the first other request. A connection past the listener's
/// limits (`[server] max_connections`, `max_connections_per_ip`, shared by the HTTP and HTTPS
/// client listeners; 64 for the admin listener) is closed at once; accept errors (out of file
/// descriptors, say) back off and are logged at most once per `ACCEPT_LOG_EVERY`.
pub async fn serve(
    listener: TcpListener,
    role: Role,
    tls: Option<Acceptor>,
    app: Arc<App>,
    shutdown: Shutdown,
) {
    let scheme = if tls.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let graceful = GracefulShutdown::new();
    let lanes = (role == Role::Client && tls.is_none())
        .then(start_lanes)
        .flatten();
    let main = tokio::runtime::Handle::current();
    let mut accept_errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                let pause = accept_errors.failed(role, &err);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => continue,
                    _ = shutdown.wait() => break,
                }
            }
        };
        accept_errors.succeeded();
        let limit = match role {
            Role::Client => &app.admission.clients,
            Role::Admin => &app.admission.admin,
        };
        let Some(place) = limit.admit(peer.ip()) else {
            tracing::debug!(%peer, ?role, "connection refused: connection limit reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, tls, shutdown) = (Arc::clone(&app), tls.clone(), shutdown.clone());
        // Drain waits for the watcher: held while sendfile serves, then watching hyper.
        let watcher = graceful.watcher();
        let http = Http {
            role,
            scheme,
            app,
            peer,
        };
        if let Some(lanes) = &lanes {
            match stream.into_std() {
                Ok(stream) => lanes.spawn(on_lane(stream, http, place, main.clone(), watcher, shutdown)),
                Err(err) => tracing::debug!(error = %err, %peer, "connection lost before its lane"),
            }
            continue;
        }
        tokio::spawn(async move {
            let _place = place;
            match tls {
                None if role == Role::Client => {
                    if let Some(rest) = payload::serve_plain(stream, &http.app, peer, &shutdown).await {
                        http.serve(rest, watcher).await;
                    }
                }
                tls => http.serve(tls::Stream::new(stream, tls.as_ref()), watcher).await,
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

/// The plain client listener's payload lanes; without them (no thread could be started),
/// connections are served on the main runtime as before.
fn start_lanes() -> Option<lanes::Lanes> {
    lanes::Lanes::per_core()
        .inspect_err(|err| tracing::warn!(error = %err, "payload lanes not started; serving payloads on the main runtime"))
        .ok()
}

/// A plain client connection on its lane: payload hits there, then (at its first other
/// request) back to the main runtime for hyper.
async fn on_lane(
    stream: std::net::TcpStream,
    http: Http,
    place: crate::admission::ConnectionPermit,
    main: tokio::runtime::Handle,
    watcher: hyper_util::server::graceful::Watcher,
    shutdown: Shutdown,
) {
    let peer = http.peer;
    let stream = match tokio::net::TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(err) => return tracing::debug!(error = %err, %peer, "connection lost on its way to a lane"),
    };
    let Some(rest) = payload::serve_plain(stream, &http.app, peer, &shutdown).await else {
        return;
    };
    let rest = match rest.unregister() {
        Ok(rest) => rest,
        Err(err) => return tracing::debug!(error = %err, %peer, "connection lost leaving its lane"),
    };
    drop(main.spawn(async move {
        let _place = place;
        match rest.register() {
            Ok(rest) => http.serve(rest, watcher).await,
            Err(err) => tracing::debug!(error = %err, %peer, "connection lost on its way back from a lane"),
        }
    }));
}

/// One connection's hyper side: its listener's routes.
struct Http {
    role: Role,
    scheme: Scheme,
    app: Arc<App>,
    peer: SocketAddr,
}

impl Http {
    /// Serves HTTP/1.1 on `io` until the connection ends, shutting down gracefully when
    /// `watcher` says so.
    async fn serve<I>(self, io: I, watcher: hyper_util::server::graceful::Watcher)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Http {
            role,
            scheme,
            app,
            peer,
        } = self;
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(scheme);
            let app = Arc::clone(&app);
            async move { Ok::<_, std::convert::Infallible>(route(role, app, request, peer).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_READ_BUFFER)
            .serve_connection(TokioIo::new(io), service);
        if let Err(err) = watcher.watch(connection).await {
            tracing::debug!(error = %err, "connection ended with an error");
        }
    }
}

/// Longest pause after failed accepts.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one accept-error log line per this long.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Consecutive accept failures: the pause doubles from 10 ms to `ACCEPT_BACKOFF_MAX`, and the
/// log says how many failed since its last line.
#[derive(Debug, Default)]
struct AcceptErrors {
    consecutive: u32,
    unlogged: u64,
    last_logged: Option<std::time::Instant>,
}

impl AcceptErrors {
    fn failed(&mut self, role: Role, err: &std::io::Error) -> Duration {
        self.consecutive = self.consecutive.saturating_add(1);
        self.unlogged += 1;
        let due = self.last_logged.is_none_or(|at| at.elapsed() >= ACCEPT_LOG_EVERY);
        if due {
            tracing::warn!(error = %err, ?role, failures = self.unlogged, "accepting connections failed");
            self.unlogged = 0;
            self.last_logged = Some(std::time::Instant::now());
        }
        let pause = Duration::from_millis(10).saturating_mul(1 << self.consecutive.min(7));
        pause.min(ACCEPT_BACKOFF_MAX)
    }

    fn succeeded(&mut self) {
        self.consecutive = 0;
    }
}

async fn route(role: Role, app: Arc<App>, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    match role {
        Role::Client => client::route(app, request, peer).await,
        Role::Admin => admin_off_the_runtime(app, request).await,
    }
}

/// Admin requests can walk the store or the fleet (compliance of 10,000 machines, a catalog
/// re-plan on reload): they run on the blocking pool, so the async threads keep serving
/// Windows clients meanwhile.
async fn admin_off_the_runtime(app: Arc<App>, request: Request<Incoming>) -> Response<Body> {
    let (parts, _body) = request.into_parts();
    match tokio::task::spawn_blocking(move || admin::route(&app, &parts)).await {
        Ok(response) => response,
        Err(err) => {
            tracing::error!(error = %err, "admin request panicked");
            body::text(hyper::StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}
