//! Payload downloads for the cache: `content::Fetch` over HTTP(S) to the URL the catalog
//! names (Microsoft's CDN `MUUrl`, or an upstream WSUS's content URL), resuming with
//! `Range`, with a time-out on headers and between body chunks.

use super::transport::{Transport, TransportError};
use crate::content::fetch::{Fetch, FetchError, Fetched};
use http_body_util::BodyExt;
use hyper::StatusCode;
use std::time::Duration;
use tokio::sync::mpsc;

/// Chunks buffered between the socket and the cache writer.
const CHANNEL_DEPTH: usize = 16;

/// Payload downloads over HTTP(S) for the cache, resuming with `Range`.
#[derive(Clone)]
pub struct HttpFetch {
    transport: Transport,
    /// Longest silence allowed between two body chunks.
    idle_timeout: Duration,
}

impl HttpFetch {
    pub(crate) fn new(transport: Transport, idle_timeout: Duration) -> HttpFetch {
        HttpFetch {
            transport,
            idle_timeout,
        }
    }
}

impl Fetch for HttpFetch {
    async fn fetch(&self, url: &str, offset: u64) -> Result<Fetched, FetchError> {
        let response = self
            .transport
            .get_from(url, offset)
            .await
            .map_err(|e| from_transport(url, e))?;
        let start = body_start(url, offset, response.status(), response.headers())?;
        let (sender, chunks) = mpsc::channel(CHANNEL_DEPTH);
        tokio::spawn(pump(
            url.to_string(),
            response.into_body(),
            sender,
            self.idle_timeout,
        ));
        Ok(Fetched { start, chunks })
    }
}

/// Where the body starts: the requested offset for a 206 that says so, 0 for a 200.
fn body_start(
    url: &str,
    offset: u64,
    status: StatusCode,
    headers: &hyper::HeaderMap,
) -> Result<u64, FetchError> {
    let fail = |detail: String, retryable: bool| FetchError {
        url: url.to_string(),
        detail,
        retryable,
    };
    match status {
        StatusCode::OK => Ok(0),
        StatusCode::PARTIAL_CONTENT => {
            let range = headers
                .get(hyper::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let first: Option<u64> = range
                .strip_prefix("bytes ")
                .and_then(|r| r.split('-').next())
                .and_then(|n| n.parse().ok());
            match first {
                Some(first) if first == offset => Ok(offset),
                _ => Err(fail(
                    format!("206 with Content-Range `{range}` for offset {offset}"),
                    true,
                )),
            }
        }
        s if s.is_server_error()
            || s == StatusCode::TOO_MANY_REQUESTS
            || s == StatusCode::REQUEST_TIMEOUT =>
        {
            Err(fail(format!("HTTP {s}"), true))
        }
        s => Err(fail(format!("HTTP {s}"), false)),
    }
}

/// Moves body chunks into the channel until the end, an error, a stall or the receiver
/// going away (noticed at once, even while the upstream sends nothing: a cancelled transfer
/// drops its upstream connection then, not at the idle timeout).
async fn pump(
    url: String,
    mut body: hyper::body::Incoming,
    sender: mpsc::Sender<Result<bytes::Bytes, FetchError>>,
    idle: Duration,
) {
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(idle, body.frame()) => next,
            _ = sender.closed() => return,
        };
        let frame = match next {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => return,
            Ok(Some(Err(err))) => {
                let _ = sender
                    .send(Err(FetchError {
                        url,
                        detail: format!("body: {err}"),
                        retryable: true,
                    }))
                    .await;
                return;
            }
            Err(_) => {
                let detail = format!("no data for {} s", idle.as_secs());
                let _ = sender
                    .send(Err(FetchError {
                        url,
                        detail,
                        retryable: true,
                    }))
                    .await;
                return;
            }
        };
        if let Ok(data) = frame.into_data() {
            if sender.send(Ok(data)).await.is_err() {
                return;
            }
        }
    }
}

fn from_transport(url: &str, err: TransportError) -> FetchError {
    FetchError {
        url: url.to_string(),
        retryable: err.is_retryable(),
        detail: err.to_string(),
    }
}
