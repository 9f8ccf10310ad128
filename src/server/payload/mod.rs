//! The payload route, `GET`/`HEAD /Content/XX/<SHA1HEX>.<ext>`: the path is parsed into a
//! digest (never joined onto the filesystem); unknown digests and those of unapproved updates
//! are 404; a cached file is served at once, a missing one after its single upstream transfer
//! is verified. HEAD of a missing file is answered from the catalog (size, ETag) and starts no
//! transfer. The route returns an `Outcome`; `finish` alone turns it into a status and
//! counters. `respond` builds the HTTP answer for a file, `file_body` streams it.

mod file_body;
pub mod respond;

use self::respond::{
    error, head_uncommitted, method_not_allowed, not_found, respond, respond_range_in_progress, single_range,
    Answer, Served,
};
use super::body::Body;
use crate::app::App;
use crate::content::cache::{Cache, FlightState};
use crate::content::{layout, PayloadMeta};
use crate::stats::ContentCounters as C;
use crate::upstream::payload::HttpFetch;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

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
    /// The upstream transfer failed or its bytes failed verification.
    UpstreamFailed,
}

/// Answers a payload request; one access-log line at debug.
pub(super) async fn route(app: &App, request: &Request<Incoming>) -> Response<Body> {
    let outcome = outcome(app, request).await;
    let kind = outcome.kind();
    let response = finish(outcome, &app.counters);
    tracing::debug!(
        method = %request.method(),
        path = request.uri().path(),
        range = request.headers().get(hyper::header::RANGE).and_then(|v| v.to_str().ok()),
        status = response.status().as_u16(),
        outcome = kind,
        "payload request"
    );
    response
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
            Outcome::UpstreamFailed => "upstream_failed",
        }
    }
}

/// The one place an outcome becomes a status and counters.
fn finish(outcome: Outcome, counters: &C) -> Response<Body> {
    match outcome {
        Outcome::Hit(answer) => {
            C::add(&counters.hits, 1);
            C::add(&counters.bytes_from_cache, answer.body_bytes);
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
        Outcome::UpstreamFailed => {
            C::add(&counters.errors, 1);
            error(StatusCode::BAD_GATEWAY)
        }
    }
}

async fn outcome(app: &App, request: &Request<Incoming>) -> Outcome {
    let payload = layout::parse_content_path(request.uri().path())
        .and_then(|path| app.snapshot().payload(&path.sha1))
        .filter(|(_, approved)| *approved || app.config.content.serve_unapproved);
    let Some((meta, _)) = payload else {
        return Outcome::NotFound;
    };
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return Outcome::NotAllowed;
    }
    let Some(cache) = app.content.get() else {
        return Outcome::CacheClosed;
    };
    let committed = cache.committed(&meta.sha1);
    if committed.is_none() && method == Method::HEAD {
        let served = Served::uncommitted(&meta.sha1, meta.size);
        return Outcome::Catalog(head_uncommitted(&served, request.headers()));
    }
    if committed.is_none() && app.config.content.serve_while_downloading {
        if let Some(outcome) = range_while_downloading(cache, &meta, request).await {
            return outcome;
        }
    }
    let (path, hit) = match committed {
        Some((path, _)) => (path, true),
        None => match cache.get(&meta).await {
            Ok(path) => (path, false),
            Err(err) => {
                tracing::warn!(error = %err, "payload not available");
                return Outcome::UpstreamFailed;
            }
        },
    };
    let modified = tokio::fs::metadata(&path)
        .await
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH);
    let served = Served::new(&meta.sha1, meta.size, modified);
    let answer = respond(&path, &served, request.method(), request.headers()).await;
    if hit {
        Outcome::Hit(answer)
    } else {
        Outcome::Miss(answer)
    }
}

/// With `serve_while_downloading`: a single range is answered from the transfer's partial
/// file as soon as its bytes have arrived. `None` when the request is not a single range or
/// the file got committed meanwhile (the caller then serves the committed file).
async fn range_while_downloading(
    cache: &Cache<HttpFetch>,
    meta: &PayloadMeta,
    request: &Request<Incoming>,
) -> Option<Outcome> {
    let served = Served::new(&meta.sha1, meta.size, std::time::SystemTime::now());
    let range = single_range(request.headers(), &served)?;
    let mut flight = cache.flight(meta);
    loop {
        let state = flight.borrow_and_update().clone();
        match state {
            FlightState::Running { received } if received > range.end => break,
            FlightState::Running { .. } => {}
            FlightState::Committed(_) => return None,
            FlightState::Failed(err) => {
                tracing::warn!(error = %err, "payload not available");
                return Some(Outcome::UpstreamFailed);
            }
        }
        if flight.changed().await.is_err() {
            return None;
        }
    }
    let answer =
        respond_range_in_progress(&cache.partial_path(&meta.sha1), &served, range, request.method()).await;
    if answer.response.status() == StatusCode::NOT_FOUND {
        // Committed (renamed) between the wait and the open.
        return None;
    }
    Some(Outcome::Miss(answer))
}
