//! The payload route, `GET`/`HEAD /Content/XX/<SHA1HEX>.<ext>`: the path is parsed into a
//! digest (never joined onto the filesystem); unknown digests and those of unapproved updates
//! are 404 (but to a downstream server that authorized from the same address); a cached file is served at once, a missing one after its single upstream transfer
//! is verified. HEAD of a missing file is answered from the catalog (size, ETag) and starts no
//! transfer. A miss waits for its transfer's slot (at most `max_transfers` run); beyond
//! `max_queued` waiting transfers it is answered 503 with `Retry-After`. A client that goes
//! away leaves its transfer (cancelled once every client has, unless prefetch wants the
//! file). The route returns an `Outcome`; `finish` alone turns it into a status and counters.
//! `respond` builds the HTTP answer for a file, `file_body` streams it, `held` keeps a
//! client's place in a transfer while a range of it streams. On plain-HTTP connections,
//! `sendfile` answers hits itself (`hit`, with `wire` for the request and response heads)
//! and hands anything else to hyper and `route`.

mod file_body;
mod held;
pub mod respond;
mod sendfile;
mod wire;

pub(crate) use self::sendfile::serve as serve_plain;

use self::respond::{
    answer, error, head_uncommitted, method_not_allowed, not_found, open_committed,
    respond_range_in_progress, single_range, Answer, Reply, Served,
};
use super::body::Body;
use crate::app::App;
use crate::config::ContentMode;
use crate::content::cache::{Cache, CacheError, FlightState, Waiting};
use crate::content::demand::Asker;
use crate::content::{layout, PayloadMeta};
use crate::stats::ContentCounters as C;
use crate::upstream::payload::HttpFetch;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};

/// What a 503 for a full transfer queue asks clients to wait, in seconds (BITS and Delivery
/// Optimization honour `Retry-After`).
const RETRY_AFTER_SECONDS: u32 = 30;

/// What the payload route did with a request.
enum Outcome {
    /// Served from a file already in the cache.
    Hit(Answer),
    /// Served after (or, with `serve_while_downloading`, during) an upstream transfer.
    Miss(Answer),
    /// HEAD of a file not committed, answered from the catalog without a transfer.
    Catalog(Answer),
    /// Not a payload of this catalog, or one of an unapproved update.
    NotFound,
    /// A method other than GET and HEAD.
    NotAllowed,
    /// The payload cache is not open (yet, or failed to open).
    CacheClosed,
    /// A miss refused: every transfer slot is taken and `max_queued` transfers wait.
    Busy,
    /// The upstream transfer failed or its bytes failed verification.
    UpstreamFailed,
}

/// Answers a payload request; one access-log line at debug.
pub(super) async fn route(app: &App, request: &Request<Incoming>, peer: std::net::IpAddr) -> Response<Body> {
    let outcome = outcome(app, request, peer).await;
    let kind = outcome.kind();
    let response = finish(outcome, &app.counters);
    log(
        request.method(),
        request.uri().path(),
        request.headers(),
        response.status(),
        kind,
    );
    response
}

/// The sendfile path's route: a GET or HEAD of a committed payload this peer may have, opened
/// and counted as a hit. `None` leaves the request to `route` (not a payload, not this
/// peer's, not committed, the cache closed, the file gone or unreadable since).
fn hit(app: &App, head: &wire::Head, peer: std::net::IpAddr) -> Option<Reply> {
    let (meta, _) = payload_for(app, &head.path, peer)?;
    let (file, metadata) = app.content.get()?.open_committed(&meta.sha1)?;
    let (file, served) = respond::opened_committed(file, &metadata, &meta.sha1, meta.size).ok()?;
    let reply = respond::reply(file, &served, &head.method, &head.headers).ok()?;
    count_hit(&app.counters, reply.body_bytes());
    log(
        &head.method,
        &head.path,
        &head.headers,
        reply.head.status(),
        "hit",
    );
    Some(reply)
}

/// The access-log line of a payload request, at debug.
fn log(method: &Method, path: &str, headers: &hyper::HeaderMap, status: StatusCode, outcome: &str) {
    tracing::debug!(
        %method,
        path,
        range = headers.get(hyper::header::RANGE).and_then(|v| v.to_str().ok()),
        status = status.as_u16(),
        outcome,
        "payload request"
    );
}

impl Outcome {
    fn kind(&self) -> &'static str {
        match self {
            Outcome::Hit(_) => "hit",
            Outcome::Miss(_) => "miss",
            Outcome::Catalog(_) => "catalog",
            Outcome::NotFound => "not_found",
            Outcome::NotAllowed => "not_allowed",
            Outcome::CacheClosed => "cache_closed",
            Outcome::Busy => "busy",
            Outcome::UpstreamFailed => "upstream_failed",
        }
    }
}

/// The one place an outcome becomes a status and counters.
fn finish(outcome: Outcome, counters: &C) -> Response<Body> {
    match outcome {
        Outcome::Hit(answer) => {
            count_hit(counters, answer.body_bytes);
            answer.response
        }
        Outcome::Miss(answer) => {
            C::add(&counters.misses, 1);
            C::add(&counters.bytes_after_miss, answer.body_bytes);
            answer.response
        }
        Outcome::Catalog(answer) => answer.response,
        Outcome::NotFound => {
            C::add(&counters.not_found, 1);
            not_found()
        }
        Outcome::NotAllowed => method_not_allowed(),
        Outcome::CacheClosed => error(StatusCode::SERVICE_UNAVAILABLE),
        Outcome::Busy => {
            C::add(&counters.busy, 1);
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            response
        }
        Outcome::UpstreamFailed => {
            C::add(&counters.errors, 1);
            error(StatusCode::BAD_GATEWAY)
        }
    }
}

/// A hit's counters, whichever path served it.
fn count_hit(counters: &C, body_bytes: u64) {
    C::add(&counters.hits, 1);
    C::add(&counters.bytes_from_cache, body_bytes);
}

/// The catalog's payload at a URL path, if this peer may have it, and whether it is approved.
/// Unapproved payloads are served with `[content] serve_unapproved`, and to a downstream
/// server that authorized from this address (its content sync follows its own approvals).
fn payload_for(app: &App, path: &str, peer: std::net::IpAddr) -> Option<(PayloadMeta, bool)> {
    layout::parse_content_path(path)
        .and_then(|path| app.snapshot().payload(&path.sha1))
        .filter(|(_, approved)| {
            *approved
                || app.config.content.serve_unapproved
                || app.admission.downstream.may_fetch_any_payload(peer)
        })
}

async fn outcome(app: &App, request: &Request<Incoming>, peer: std::net::IpAddr) -> Outcome {
    let Some((meta, approved)) = payload_for(app, request.uri().path(), peer) else {
        return Outcome::NotFound;
    };
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return Outcome::NotAllowed;
    }
    let Some(cache) = app.content.get() else {
        return Outcome::CacheClosed;
    };
    let (path, hit) = match cache.committed(&meta.sha1) {
        Some((path, _)) => (path, true),
        None if method == Method::HEAD => {
            let served = Served::uncommitted(&meta.sha1, meta.size);
            return Outcome::Catalog(head_uncommitted(&served, request.headers()));
        }
        None => match miss(app, cache, &meta, approved, request).await {
            Ok(path) => (path, false),
            Err(outcome) => return outcome,
        },
    };
    let answer = match open_committed(&path, &meta.sha1, meta.size) {
        Ok((file, served)) => answer(file, &served, method, request.headers()),
        Err(err) => respond::failed(&path, &err),
    };
    if hit {
        Outcome::Hit(answer)
    } else {
        Outcome::Miss(answer)
    }
}

/// A GET of a file not committed: the committed file once its transfer is done, or the
/// answer already given (a range while downloading, a full queue, a failed transfer).
async fn miss(
    app: &App,
    cache: &Cache<HttpFetch>,
    meta: &PayloadMeta,
    approved: bool,
    request: &Request<Incoming>,
) -> Result<std::path::PathBuf, Outcome> {
    // A transfer prefetch would make anyway finishes even if every client leaves.
    let keep = approved && app.config.content.mode != ContentMode::OnDemand;
    let asker = Asker::Client { keep };
    if app.config.content.serve_while_downloading {
        if let Some(outcome) = range_while_downloading(cache, meta, asker, request).await {
            return Err(outcome);
        }
    }
    cache.get(meta, asker).await.map_err(|err| unavailable(&err))
}

/// Why a miss got no file: a full queue, or a failed transfer.
fn unavailable(err: &CacheError) -> Outcome {
    match err {
        CacheError::Busy { .. } => {
            tracing::debug!(error = %err, "payload miss refused");
            Outcome::Busy
        }
        err => {
            tracing::warn!(error = %err, "payload not available");
            Outcome::UpstreamFailed
        }
    }
}

/// With `serve_while_downloading`: a single range is answered from the transfer's partial
/// file as soon as its bytes have arrived; the response body keeps the client among the
/// transfer's waiters while it streams. `None` when the request is not a single range or the
/// file got committed meanwhile (the caller then serves the committed file).
async fn range_while_downloading(
    cache: &Cache<HttpFetch>,
    meta: &PayloadMeta,
    asker: Asker,
    request: &Request<Incoming>,
) -> Option<Outcome> {
    let served = Served::uncommitted(&meta.sha1, meta.size);
    let range = single_range(request.headers(), &served)?;
    let waiting = loop {
        let mut waiting = match cache.join(meta, asker) {
            Ok(waiting) => waiting,
            Err(err) => return Some(unavailable(&err)),
        };
        match arrived(&mut waiting, range.end).await? {
            Ok(()) => break waiting,
            // Joined as it was being cancelled: join a new one.
            Err(CacheError::Abandoned(_)) => continue,
            Err(err) => return Some(unavailable(&err)),
        }
    };
    let partial = cache.partial_path(&meta.sha1);
    let answer = respond_range_in_progress(&partial, &served, range, request.method()).await;
    if answer.response.status() == StatusCode::NOT_FOUND {
        // Committed (renamed) between the wait and the open.
        return None;
    }
    Some(Outcome::Miss(Answer {
        response: held::holding(answer.response, waiting),
        body_bytes: answer.body_bytes,
    }))
}

/// Waits until the transfer has written byte `last`: `Ok` then, `Err` when it failed, `None`
/// when it got committed or ended without a verdict.
async fn arrived(waiting: &mut Waiting, last: u64) -> Option<Result<(), CacheError>> {
    let state = waiting.state();
    loop {
        match state.borrow_and_update().clone() {
            FlightState::Running { received } if received > last => return Some(Ok(())),
            FlightState::Queued | FlightState::Running { .. } => {}
            FlightState::Committed(_) => return None,
            FlightState::Failed(err) => return Some(Err(err)),
        }
        state.changed().await.ok()?;
    }
}
