//! Payload serving: synthetic files at their `MUUrl` path and at the WSUS content path
//! `/Content/<XX>/<SHA1HEX>.<ext>`, with single byte ranges.
//!
//! Bytes are regenerated from each file's seed per request, so a 100,000-update catalog costs
//! no payload memory.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use hyper::{Method, Request, Response, StatusCode};

use super::faults::lock;
use super::server::{status_page, Body};
use super::Shared;
use crate::testkit::synth::{hex, payload, SynthFile};

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

/// Answers a GET or HEAD for a registered file, 404 otherwise.
pub(super) fn serve(shared: &Shared, request: &Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_ascii_lowercase();
    let Some(file) = lock(&shared.content).get(&path).cloned() else {
        return status_page(StatusCode::NOT_FOUND);
    };
    let range = request
        .headers()
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, file.size));
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, file.size),
        Some(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Some(None) => return unsatisfiable(file.size),
    };
    let head = request.method() == Method::HEAD;
    let body = if head {
        Vec::new()
    } else {
        slice(payload(&file), start, end)
    };
    {
        let mut stats = lock(&shared.stats);
        stats.content_requests += 1;
        stats.content_bytes += body.len() as u64;
    }
    file_response(status, body, (start, end, file.size))
}

fn slice(bytes: Vec<u8>, start: u64, end: u64) -> Vec<u8> {
    let start = usize::try_from(start).unwrap_or(usize::MAX).min(bytes.len());
    let end = usize::try_from(end).unwrap_or(usize::MAX).min(bytes.len());
    bytes[start..end.max(start)].to_vec()
}

fn file_response(status: StatusCode, body: Vec<u8>, (start, end, size): (u64, u64, u64)) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
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
