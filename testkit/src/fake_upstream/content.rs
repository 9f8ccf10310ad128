//! Payload serving: synthetic files at their `MUUrl` path and at the WSUS content path
//! `/Content/<XX>/<SHA1HEX>.<ext>`, with single byte ranges, and the injected content faults
//! (hold, delay, throttle, cut connection, status, flipped byte).
//!
//! Bodies are generated frame by frame from each file's seed while they are sent, starting at
//! the first byte asked for, so a 100,000-update catalog or a 200 MB file costs no payload
//! memory.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::time::Sleep;

use super::faults::lock;
use super::server::{full, status_page, Body};
use super::Shared;
use crate::synth::{hex, payload_range, SynthFile};

/// Largest body frame; a throttled body sends smaller ones.
const FRAME: u64 = 64 * 1024;
/// A throttled body sends about this many frames a second, so its pace is smooth.
const THROTTLED_FRAMES_PER_SECOND: u64 = 20;
/// How long a body to be cut stalls first: hyper writes queued frames (and the head) only when
/// the body stalls or its buffer fills, so without this the client would get none of them.
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);

/// The lower-cased paths a file is served at: its `MUUrl` path and its WSUS content path.
pub(super) fn paths(file: &SynthFile) -> [String; 2] {
    let ext = file.name.rsplit_once('.').map_or("", |(_, ext)| ext);
    let folder = file.sha1[19];
    [
        url_path(&file.mu_url).to_ascii_lowercase(),
        format!("/content/{folder:02x}/{}.{ext}", hex(&file.sha1)).to_ascii_lowercase(),
    ]
}

/// The path part of an absolute URL (the whole string if it has no scheme).
fn url_path(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => url,
    }
}

/// Answers a GET or HEAD for a registered file, 404 otherwise. Counts the request, then
/// waits at the gate and applies the injected delay and status before looking at the range.
pub(super) async fn serve(shared: &Arc<Shared>, request: &Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_ascii_lowercase();
    let Some(file) = lock(&shared.content).get(&path).cloned() else {
        return status_page(StatusCode::NOT_FOUND);
    };
    let key = hex(&file.sha1);
    let range = request
        .headers()
        .get(RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    lock(&shared.stats).count_content_request(&key, range.clone());
    let active = (request.method() == Method::GET).then(|| Active::start(shared, &key));
    shared.faults.content_gate().await;
    let delay = shared.faults.content_wait();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = shared.faults.take_content_status() {
        return status_page(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    }
    let (status, start, end) = match range.map(|v| parse_range(&v, file.size)) {
        None => (StatusCode::OK, 0, file.size),
        Some(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Some(None) => return unsatisfiable(file.size),
    };
    let size = file.size;
    let body = if request.method() == Method::HEAD {
        full(Bytes::new())
    } else {
        lock(&shared.stats).count_transfer(&key);
        PayloadBody::new(Arc::clone(shared), file, (start, end), active).boxed()
    };
    file_response(status, body, (start, end, size))
}

/// A content GET being answered, counted in [`Stats::content_active`](super::Stats) and its
/// file's `active` from the request's arrival until dropped.
struct Active {
    shared: Arc<Shared>,
    key: String,
}

impl Active {
    fn start(shared: &Arc<Shared>, key: &str) -> Active {
        lock(&shared.stats).transfer_started(key);
        Active {
            shared: Arc::clone(shared),
            key: key.to_owned(),
        }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        lock(&self.shared.stats).transfer_ended(&self.key);
    }
}

/// A payload body `[next, end)` generated frame by frame, throttled, flipped and cut as the
/// faults say, counting what it hands out. Dropped by hyper when the client goes away.
struct PayloadBody {
    shared: Arc<Shared>,
    file: SynthFile,
    key: String,
    next: u64,
    /// Where the body stops: the range end, or earlier if the connection is to be cut.
    stop: u64,
    /// The range end, for the size hint.
    end: u64,
    /// What happens at `stop`.
    ending: Ending,
    flip: Option<u64>,
    pause: Option<Pin<Box<Sleep>>>,
    /// Dropped once the last byte is handed over (before the client can have it) or the
    /// connection is cut.
    active: Option<Active>,
}

impl PayloadBody {
    /// Takes up an injected cut and reads the flipped byte, both fixed for the response.
    fn new(shared: Arc<Shared>, file: SynthFile, (start, end): (u64, u64), active: Option<Active>) -> Self {
        let cut_at = shared
            .faults
            .take_content_cut()
            .map(|after| start.saturating_add(after))
            .filter(|&at| at < end);
        let flip = shared.faults.flipped_byte(&file.sha1);
        PayloadBody {
            key: hex(&file.sha1),
            shared,
            file,
            next: start,
            stop: cut_at.unwrap_or(end),
            end,
            ending: if cut_at.is_some() {
                Ending::Cut
            } else {
                Ending::Whole
            },
            flip,
            pause: None,
            active,
        }
    }

    /// The next frame (at most [`FRAME`] bytes, less when throttled), with the flipped byte
    /// applied; counts it and, when throttled, pauses for as long as it takes at the rate.
    fn next_frame(&mut self) -> Frame<Bytes> {
        let rate = self.shared.faults.content_bytes_per_second();
        let len = frame_len(rate).min(self.stop - self.next);
        let mut bytes = payload_range(&self.file, self.next, self.next + len);
        if let Some(at) = self.flip.filter(|at| (self.next..self.next + len).contains(at)) {
            bytes[(at - self.next) as usize] ^= 0xFF;
        }
        self.next += len;
        lock(&self.shared.stats).count_content_bytes(&self.key, len);
        if self.next >= self.stop && self.ending == Ending::Whole {
            self.active = None;
        }
        if rate > 0 && self.next < self.stop {
            let pace = Duration::from_secs_f64(len as f64 / rate as f64);
            self.pause = Some(Box::pin(tokio::time::sleep(pace)));
        }
        Frame::data(Bytes::from(bytes))
    }
}

impl hyper::body::Body for PayloadBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(pause) = this.pause.as_mut() {
                ready!(pause.as_mut().poll(cx));
                this.pause = None;
            }
            if this.next < this.stop {
                return Poll::Ready(Some(Ok(this.next_frame())));
            }
            match this.ending {
                Ending::Whole => return Poll::Ready(None),
                Ending::Cut => {
                    this.ending = Ending::Flushed;
                    this.pause = Some(Box::pin(tokio::time::sleep(FLUSH_BEFORE_CUT)));
                }
                Ending::Flushed => {
                    this.ending = Ending::Whole;
                    this.active = None;
                    let cut = io::Error::new(io::ErrorKind::ConnectionReset, "injected content cut");
                    return Poll::Ready(Some(Err(cut)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.stop && self.ending == Ending::Whole
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.next)
    }
}

impl Drop for PayloadBody {
    /// Counts a body the client stopped reading before its last byte.
    fn drop(&mut self) {
        if self.next < self.stop {
            lock(&self.shared.stats).count_unfinished(&self.key);
        }
    }
}

/// How a [`PayloadBody`] ends once it reaches `stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The body is complete.
    Whole,
    /// The connection is to be dropped, after a pause that lets hyper flush what it queued.
    Cut,
    /// Paused; the next poll drops the connection.
    Flushed,
}

/// Bytes per frame at `rate` bytes a second (`0`: unlimited).
fn frame_len(rate: u64) -> u64 {
    if rate == 0 {
        FRAME
    } else {
        (rate / THROTTLED_FRAMES_PER_SECOND).clamp(1, FRAME)
    }
}

fn file_response(status: StatusCode, body: Body, (start, end, size): (u64, u64, u64)) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(end - start));
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {start}-{}/{size}", end.saturating_sub(1));
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(CONTENT_RANGE, value);
        }
    }
    response
}

fn unsatisfiable(size: u64) -> Response<Body> {
    let mut response = status_page(StatusCode::RANGE_NOT_SATISFIABLE);
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(CONTENT_RANGE, value);
    }
    response
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` as a half-open `[start, end)`; `None` if unsatisfiable
/// or not a single range.
fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let (start, end) = if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        (size.saturating_sub(suffix), size)
    } else {
        let start: u64 = first.parse().ok()?;
        let end = if last.is_empty() {
            size
        } else {
            last.parse::<u64>().ok()?.saturating_add(1).min(size)
        };
        (start, end)
    };
    (start < end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_half_open_and_clamped() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn url_path_strips_scheme_and_host() {
        assert_eq!(url_path("http://h:1/a/b.exe"), "/a/b.exe");
        assert_eq!(url_path("http://h"), "/");
        assert_eq!(url_path("/x"), "/x");
    }
}
