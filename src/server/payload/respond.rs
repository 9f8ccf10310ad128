//! Serving a committed payload file as HTTP: GET and HEAD, whole or by ranges (single or
//! multipart), with the validators Delivery Optimization and BITS expect (docs/protocol.md §10.2).
//! Bytes stream from disk in bounded chunks; nothing holds a whole file or range in memory.
//! Uses `content::range` for the decision and `model::upper_hex` for the ETag; the body is
//! `file_body`.

use super::file_body::{FileBody, Segment};
use crate::content::range::{if_range_matches, parse_range, ByteRange, RangeRequest};
use crate::content::Sha1;
use crate::model::upper_hex;
use crate::server::body::{empty, full, Body};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{
    HeaderValue, ACCEPT_RANGES, ALLOW, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE,
    LAST_MODIFIED, RANGE,
};
use hyper::{HeaderMap, Method, Response, StatusCode};
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// The media type of every payload and of every multipart part.
const OCTET_STREAM: &str = "application/octet-stream";

/// Why a committed file could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The committed file is gone (evicted or deleted meanwhile): 404.
    #[error("payload file is missing")]
    Missing(#[source] io::Error),
    /// The file cannot be opened or read: 500.
    #[error("payload file cannot be read")]
    Unreadable(#[source] io::Error),
    /// The file is shorter than committed: 500.
    #[error("payload file has {actual} bytes where {expected} were committed")]
    Truncated {
        /// Bytes committed.
        expected: u64,
        /// Bytes the file has now.
        actual: u64,
    },
    /// A response header could not be built (a bug): 500.
    #[error("invalid payload response header")]
    Header(#[source] hyper::http::Error),
}

impl ServeError {
    /// The status a client sees for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::Missing(_) => StatusCode::NOT_FOUND,
            ServeError::Unreadable(_) | ServeError::Truncated { .. } | ServeError::Header(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

/// What a response says about the file: its size and validators, fixed per digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub(crate) size: u64,
    pub(crate) etag: String,
    /// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`; empty before the file is committed
    /// (no `Last-Modified` is sent, and no `If-Range` date matches).
    pub last_modified: String,
}

impl Served {
    /// The ETag is the quoted upper-case SHA-1: strong and stable, since the bytes behind a
    /// digest never change.
    pub fn new(sha1: &Sha1, size: u64, modified: SystemTime) -> Served {
        Served {
            size,
            etag: format!("\"{}\"", upper_hex(sha1)),
            last_modified: http_date(modified),
        }
    }
}

impl Served {
    /// A file known from the catalog but not committed yet: size and ETag, no date (the
    /// committed file's date is not known before it is).
    pub fn uncommitted(sha1: &Sha1, size: u64) -> Served {
        Served {
            last_modified: String::new(),
            ..Served::new(sha1, size, SystemTime::UNIX_EPOCH)
        }
    }
}

/// A time as an HTTP date in IMF-fixdate form (RFC 9110 §5.6.7), whole seconds.
pub fn http_date(time: SystemTime) -> String {
    // `httpdate` formats without a format-string interpreter (it is on every payload answer)
    // but only 1970 to 9999, which it asserts; chrono writes any other time.
    const LAST: std::time::Duration = std::time::Duration::from_secs(253_402_300_799);
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(since) if since <= LAST => httpdate::fmt_http_date(time),
        _ => chrono::DateTime::<chrono::Utc>::from(time)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string(),
    }
}

/// A payload response and the body bytes it will send (0 for HEAD and errors), so the
/// route counts bytes without reading its own headers back.
pub struct Answer {
    pub(crate) response: Response<Body>,
    pub(crate) body_bytes: u64,
}

impl Answer {
    fn without_body(response: Response<Body>) -> Answer {
        Answer {
            response,
            body_bytes: 0,
        }
    }
}

/// Answers a request for a committed file at `path` that `served` describes.
pub async fn respond(path: &Path, served: &Served, method: &Method, headers: &HeaderMap) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        return Answer::without_body(method_not_allowed());
    }
    match open(path, served.size).await {
        Ok(file) => answer(file, served, method, headers),
        Err(err) => failed(path, &err),
    }
}

/// Opens a committed file: the file, and what answers say about it (size and ETag from the
/// catalog, `Last-Modified` from the file). Runs on the caller's thread: `Cache::committed`
/// has just looked the path up, so opening it reads no disk.
pub fn open_committed(path: &Path, sha1: &Sha1, size: u64) -> Result<(std::fs::File, Served), ServeError> {
    let (file, metadata) = open_checked(path, size)?;
    Ok((file, served_from(&metadata, sha1, size)))
}

/// What answers say about a committed file already open (`Cache::open_committed`), once its
/// metadata shows it holds the committed size.
pub fn opened_committed(
    file: std::fs::File,
    metadata: &std::fs::Metadata,
    sha1: &Sha1,
    size: u64,
) -> Result<(std::fs::File, Served), ServeError> {
    check_size(metadata, size)?;
    Ok((file, served_from(metadata, sha1, size)))
}

fn served_from(metadata: &std::fs::Metadata, sha1: &Sha1, size: u64) -> Served {
    let modified = metadata.modified().unwrap_or(std::time::UNIX_EPOCH);
    Served::new(sha1, size, modified)
}

/// The answer to a GET or HEAD for an open file `served` describes; its body reads the file
/// as it is sent.
pub fn answer(file: std::fs::File, served: &Served, method: &Method, headers: &HeaderMap) -> Answer {
    match reply(file, served, method, headers) {
        Ok(reply) => reply.into_answer(),
        Err(err) => {
            tracing::error!(error = %err, "cannot serve payload");
            Answer::without_body(error(err.status()))
        }
    }
}

/// The error answer for a file that could not be opened.
pub(super) fn failed(path: &Path, err: &ServeError) -> Answer {
    tracing::error!(path = %path.display(), error = ?err, "cannot serve payload");
    Answer::without_body(error(err.status()))
}

/// What an answer sends, decided before any byte is: the status and headers, and the body
/// as literal bytes and runs of the open file (nothing for HEAD). `into_answer` makes it a
/// hyper response; `sendfile` writes it to the socket itself.
pub(super) struct Reply {
    pub(super) head: Response<()>,
    pub(super) body: Vec<Segment>,
    pub(super) file: std::fs::File,
    /// The committed size: a file found shorter while sending is an error, never wrong bytes.
    pub(super) size: u64,
}

impl Reply {
    /// Bytes the body sends.
    pub(super) fn body_bytes(&self) -> u64 {
        self.body.iter().map(Segment::length).sum()
    }

    /// The reply as a hyper response streaming the file.
    pub(super) fn into_answer(self) -> Answer {
        let body_bytes = self.body_bytes();
        let body = if self.body.is_empty() {
            empty()
        } else {
            FileBody::new(self.file, self.size, self.body).boxed()
        };
        Answer {
            response: self.head.map(|()| body),
            body_bytes,
        }
    }
}

/// The reply to a GET or HEAD for an open file `served` describes.
pub(super) fn reply(
    file: std::fs::File,
    served: &Served,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Reply, ServeError> {
    reply_to(&requested_range(headers, served), file, served, method)
}

/// The reply for a range decision.
fn reply_to(
    request: &RangeRequest,
    file: std::fs::File,
    served: &Served,
    method: &Method,
) -> Result<Reply, ServeError> {
    let shape = shape(request, served, &boundary_for(request));
    Ok(Reply {
        head: build(&shape, served)?,
        body: if method == Method::HEAD {
            Vec::new()
        } else {
            shape.segments
        },
        file,
        size: served.size,
    })
}

/// Answers a HEAD for a file that is not committed from what the catalog says of it: the
/// status and headers a GET would get (no `Last-Modified`), and no transfer.
pub fn head_uncommitted(served: &Served, headers: &HeaderMap) -> Answer {
    let request = requested_range(headers, served);
    let shape = shape(&request, served, &boundary_for(&request));
    match build(&shape, served) {
        Ok(head) => Answer::without_body(head.map(|()| empty())),
        Err(err) => Answer::without_body(error(err.status())),
    }
}

/// The single closed range a request asks for, if that is what it asks for (`None` for a
/// whole-file, multi-range or unsatisfiable request).
pub fn single_range(headers: &HeaderMap, served: &Served) -> Option<ByteRange> {
    match requested_range(headers, served) {
        RangeRequest::Single(range) => Some(range),
        _ => None,
    }
}

/// Answers one range from a file still being downloaded: `path` must already hold the
/// range's bytes (the caller waited for them); the rest of the file may not exist yet.
pub async fn respond_range_in_progress(
    path: &Path,
    served: &Served,
    range: ByteRange,
    method: &Method,
) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        return Answer::without_body(method_not_allowed());
    }
    let reply = match open(path, range.end + 1).await {
        Ok(file) => reply_to(&RangeRequest::Single(range), file, served, method),
        Err(err) => Err(err),
    };
    match reply {
        Ok(reply) => reply.into_answer(),
        Err(err) => Answer::without_body(error(err.status())),
    }
}

/// A 404 with a short text body.
pub fn not_found() -> Response<Body> {
    error(StatusCode::NOT_FOUND)
}

/// A response of `status` whose body is the status line as text.
pub fn error(status: StatusCode) -> Response<Body> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(full(text.clone()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    response
}

/// 405 naming the methods a payload supports.
pub fn method_not_allowed() -> Response<Body> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// The range decision for a request: `Range` applies unless repeated, or unless `If-Range`
/// names another version of the file (RFC 9110 §13.1.5).
fn requested_range(headers: &HeaderMap, served: &Served) -> RangeRequest {
    let mut ranges = headers.get_all(RANGE).iter();
    let (Some(range), None) = (ranges.next(), ranges.next()) else {
        return RangeRequest::Whole;
    };
    let if_range_fails = headers.get(IF_RANGE).is_some_and(|value| {
        !value
            .to_str()
            .is_ok_and(|value| if_range_matches(value, &served.etag, &served.last_modified))
    });
    if if_range_fails {
        return RangeRequest::Whole;
    }
    parse_range(range.to_str().ok(), served.size)
}

/// Everything a response carries except the validators, decided before any I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    status: StatusCode,
    content_type: String,
    content_range: Option<String>,
    segments: Vec<Segment>,
}

impl Shape {
    fn content_length(&self) -> u64 {
        self.segments.iter().map(Segment::length).sum()
    }
}

/// The response layout for a range decision; `boundary` separates multipart parts.
fn shape(request: &RangeRequest, served: &Served, boundary: &str) -> Shape {
    let size = served.size;
    let (status, content_type, content_range, segments) = match request {
        RangeRequest::Whole => (
            StatusCode::OK,
            OCTET_STREAM.to_string(),
            None,
            vec![Segment::File {
                offset: 0,
                length: size,
            }],
        ),
        RangeRequest::Single(range) => (
            StatusCode::PARTIAL_CONTENT,
            OCTET_STREAM.to_string(),
            Some(content_range(range, size)),
            vec![Segment::file(range)],
        ),
        RangeRequest::Multi(ranges) => (
            StatusCode::PARTIAL_CONTENT,
            format!("multipart/byteranges; boundary={boundary}"),
            None,
            multipart(ranges, size, boundary),
        ),
        RangeRequest::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            OCTET_STREAM.to_string(),
            Some(format!("bytes */{size}")),
            Vec::new(),
        ),
    };
    Shape {
        status,
        content_type,
        content_range,
        segments,
    }
}

/// `bytes a-b/size`.
fn content_range(range: &ByteRange, size: u64) -> String {
    format!("bytes {}-{}/{}", range.start, range.end, size)
}

/// A `multipart/byteranges` body (RFC 9110 §14.6): each part's headers, then its bytes,
/// then the closing delimiter.
fn multipart(ranges: &[ByteRange], size: u64, boundary: &str) -> Vec<Segment> {
    let mut segments = Vec::with_capacity(2 * ranges.len() + 1);
    for range in ranges {
        let head = format!(
            "\r\n--{boundary}\r\nContent-Type: {OCTET_STREAM}\r\nContent-Range: {}\r\n\r\n",
            content_range(range, size)
        );
        segments.push(Segment::Bytes(Bytes::from(head)));
        segments.push(Segment::file(range));
    }
    segments.push(Segment::Bytes(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
    segments
}

/// The multipart boundary of an answer: fresh for several ranges, none for the rest.
fn boundary_for(request: &RangeRequest) -> String {
    match request {
        RangeRequest::Multi(_) => new_boundary(),
        _ => String::new(),
    }
}

/// A fresh multipart boundary; random, so payload bytes cannot plausibly contain it.
fn new_boundary() -> String {
    format!("wucache-{}", uuid::Uuid::new_v4().simple())
}

/// Opens the file and checks it still holds the committed size (one blocking hand-off).
async fn open(path: &Path, size: u64) -> Result<std::fs::File, ServeError> {
    let path = path.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || open_checked(&path, size).map(|(file, _)| file));
    opened
        .await
        .unwrap_or_else(|err| Err(ServeError::Unreadable(io::Error::other(err))))
}

/// Opens the file (blocking) and checks it still holds `size` bytes.
fn open_checked(path: &Path, size: u64) -> Result<(std::fs::File, std::fs::Metadata), ServeError> {
    let file = std::fs::File::open(path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => ServeError::Missing(err),
        _ => ServeError::Unreadable(err),
    })?;
    let metadata = file.metadata().map_err(ServeError::Unreadable)?;
    check_size(&metadata, size)?;
    Ok((file, metadata))
}

/// A file shorter than committed is an error, never served short.
fn check_size(metadata: &std::fs::Metadata, size: u64) -> Result<(), ServeError> {
    if metadata.len() < size {
        return Err(ServeError::Truncated {
            expected: size,
            actual: metadata.len(),
        });
    }
    Ok(())
}

/// The status and headers of an answer.
fn build(shape: &Shape, served: &Served) -> Result<Response<()>, ServeError> {
    let mut builder = Response::builder()
        .status(shape.status)
        .header(ACCEPT_RANGES, "bytes")
        .header(ETAG, &served.etag)
        .header(CONTENT_TYPE, &shape.content_type)
        .header(CONTENT_LENGTH, shape.content_length());
    if !served.last_modified.is_empty() {
        builder = builder.header(LAST_MODIFIED, &served.last_modified);
    }
    if let Some(content_range) = &shape.content_range {
        builder = builder.header(CONTENT_RANGE, content_range);
    }
    builder.body(()).map_err(ServeError::Header)
}
#[cfg(test)]
mod tests {
    use super::super::file_body::CHUNK;
    use super::*;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{RngCore, SeedableRng};
    use std::time::{Duration, UNIX_EPOCH};

    const MIB: u64 = 1 << 20;
    const SHA1: Sha1 = [
        0xA3, 0x79, 0xD5, 0x52, 0x6F, 0xB3, 0xA7, 0xA0, 0x42, 0x3D, 0xA1, 0xCD, 0x7F, 0xC3, 0x18, 0x2A, 0x8D,
        0x44, 0x84, 0x49,
    ];

    /// A temp file of `size` pseudo-random bytes, kept alive by the returned directory.
    struct Fixture {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        bytes: Vec<u8>,
        served: Served,
    }

    fn fixture(size: u64) -> Fixture {
        let mut bytes = vec![0u8; size as usize];
        StdRng::seed_from_u64(size).fill_bytes(&mut bytes);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload");
        std::fs::write(&path, &bytes).unwrap();
        let modified = UNIX_EPOCH + Duration::from_secs(1_791_280_800);
        Fixture {
            _dir: dir,
            path,
            bytes,
            served: Served::new(&SHA1, size, modified),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    async fn get(fixture: &Fixture, pairs: &[(&'static str, &str)]) -> Response<Body> {
        respond(&fixture.path, &fixture.served, &Method::GET, &headers(pairs))
            .await
            .response
    }

    async fn body(response: Response<Body>) -> Vec<u8> {
        response.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    fn header<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
        response.headers()[name].to_str().unwrap()
    }

    /// The headers every payload answer carries, and a Content-Length equal to the body.
    async fn assert_payload(
        response: Response<Body>,
        fixture: &Fixture,
        status: StatusCode,
    ) -> (Response<()>, Vec<u8>) {
        assert_eq!(response.status(), status);
        assert_eq!(header(&response, "accept-ranges"), "bytes");
        assert_eq!(header(&response, "etag"), fixture.served.etag);
        assert_eq!(header(&response, "last-modified"), fixture.served.last_modified);
        let length: usize = header(&response, "content-length").parse().unwrap();
        let (parts, body_) = response.into_parts();
        let bytes = body(Response::new(body_)).await;
        assert_eq!(bytes.len(), length);
        (Response::from_parts(parts, ()), bytes)
    }

    fn slice(fixture: &Fixture, start: u64, end: u64) -> &[u8] {
        &fixture.bytes[start as usize..=end as usize]
    }

    #[tokio::test]
    async fn full_get_is_200_with_the_whole_file() {
        let fixture = fixture(300_000);
        let (response, bytes) = assert_payload(get(&fixture, &[]).await, &fixture, StatusCode::OK).await;
        assert_eq!(response.headers()["content-type"], OCTET_STREAM);
        assert!(response.headers().get("content-range").is_none());
        assert_eq!(bytes, fixture.bytes);
    }

    #[tokio::test]
    async fn head_has_the_get_headers_and_no_body() {
        let fixture = fixture(300_000);
        for range in [
            None,
            Some("bytes=0-99"),
            Some("bytes=0-9,20-29"),
            Some("bytes=999999-"),
        ] {
            let pairs: Vec<(&'static str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
            let head = respond(&fixture.path, &fixture.served, &Method::HEAD, &headers(&pairs))
                .await
                .response;
            let get = get(&fixture, &pairs).await;
            assert_eq!(head.status(), get.status(), "{range:?}");
            for name in [
                "accept-ranges",
                "etag",
                "last-modified",
                "content-length",
                "content-range",
            ] {
                assert_eq!(
                    head.headers().get(name),
                    get.headers().get(name),
                    "{range:?} {name}"
                );
            }
            let multipart =
                |r: &Response<Body>| header(r, "content-type").starts_with("multipart/byteranges; boundary=");
            assert_eq!(multipart(&head), multipart(&get), "{range:?}");
            assert!(body(head).await.is_empty(), "{range:?}");
        }
    }

    #[tokio::test]
    async fn single_ranges_send_the_file_slice() {
        let fixture = fixture(300_000);
        for (range, start, end) in [
            ("bytes=0-0", 0, 0),
            ("bytes=100-199", 100, 199),
            ("bytes=299999-299999", 299_999, 299_999),
            ("bytes=1000-999999", 1000, 299_999),
            ("bytes=262143-262144", 262_143, 262_144),
            ("bytes=12345-", 12_345, 299_999),
            ("bytes=0-", 0, 299_999),
            ("bytes=-1", 299_999, 299_999),
            ("bytes=-70000", 230_000, 299_999),
            ("bytes=-999999", 0, 299_999),
        ] {
            let response = get(&fixture, &[("range", range)]).await;
            let (response, bytes) = assert_payload(response, &fixture, StatusCode::PARTIAL_CONTENT).await;
            assert_eq!(
                response.headers()["content-range"],
                format!("bytes {start}-{end}/300000"),
                "{range}"
            );
            assert_eq!(response.headers()["content-type"], OCTET_STREAM, "{range}");
            assert_eq!(bytes, slice(&fixture, start, end), "{range}");
        }
    }

    /// Parses a multipart/byteranges body independently: (Content-Type, Content-Range, bytes).
    fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(String, String, Vec<u8>)> {
        let mut parts = Vec::new();
        let mut rest = body;
        let delimiter = format!("\r\n--{boundary}");
        loop {
            assert!(rest.starts_with(delimiter.as_bytes()), "missing delimiter");
            rest = &rest[delimiter.len()..];
            if rest == b"--\r\n" {
                return parts;
            }
            assert!(rest.starts_with(b"\r\n"));
            rest = &rest[2..];
            let end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            let head = std::str::from_utf8(&rest[..end]).unwrap();
            rest = &rest[end + 4..];
            let mut content_type = String::new();
            let mut content_range = String::new();
            for line in head.split("\r\n") {
                let (name, value) = line.split_once(": ").unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-type" => content_type = value.to_string(),
                    "content-range" => content_range = value.to_string(),
                    other => panic!("unexpected part header {other}"),
                }
            }
            let span = content_range
                .strip_prefix("bytes ")
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            let (start, end) = span.split_once('-').unwrap();
            let length = end.parse::<usize>().unwrap() - start.parse::<usize>().unwrap() + 1;
            parts.push((content_type, content_range, rest[..length].to_vec()));
            rest = &rest[length..];
        }
    }

    #[tokio::test]
    async fn multiple_ranges_are_multipart() {
        let fixture = fixture(600_000);
        let response = get(
            &fixture,
            &[("range", "bytes=500000-, 0-9, 20-29, 100000-399999,-5")],
        )
        .await;
        let content_type = header(&response, "content-type").to_string();
        let boundary = content_type
            .strip_prefix("multipart/byteranges; boundary=")
            .unwrap()
            .to_string();
        assert!(response.headers().get("content-range").is_none());
        let (_, bytes) = assert_payload(response, &fixture, StatusCode::PARTIAL_CONTENT).await;
        let parts = parse_multipart(&bytes, &boundary);
        let expected = [(0, 9), (20, 29), (100_000, 399_999), (500_000, 599_999)];
        assert_eq!(parts.len(), expected.len());
        for ((content_type, content_range, data), (start, end)) in parts.iter().zip(expected) {
            assert_eq!(content_type, OCTET_STREAM);
            assert_eq!(content_range, &format!("bytes {start}-{end}/600000"));
            assert_eq!(data.as_slice(), slice(&fixture, start, end));
        }
    }

    #[tokio::test]
    async fn each_response_gets_its_own_boundary() {
        let fixture = fixture(1000);
        let pairs = [("range", "bytes=0-1,5-6")];
        let first = get(&fixture, &pairs).await;
        let second = get(&fixture, &pairs).await;
        assert_ne!(header(&first, "content-type"), header(&second, "content-type"));
        assert_eq!(
            header(&first, "content-length"),
            header(&second, "content-length")
        );
    }

    #[tokio::test]
    async fn unsatisfiable_range_is_416() {
        let fixture = fixture(1000);
        for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
            let response = get(&fixture, &[("range", range)]).await;
            let (response, bytes) =
                assert_payload(response, &fixture, StatusCode::RANGE_NOT_SATISFIABLE).await;
            assert_eq!(response.headers()["content-range"], "bytes */1000", "{range}");
            assert!(bytes.is_empty());
        }
    }

    #[tokio::test]
    async fn ignored_range_headers_send_the_whole_file() {
        let fixture = fixture(1000);
        for pairs in [
            vec![("range", "items=0-1")],
            vec![("range", "bytes=5-1")],
            vec![("range", "bytes=0-1"), ("range", "bytes=2-3")],
            vec![("if-range", fixture.served.etag.as_str())],
        ] {
            let (_, bytes) = assert_payload(get(&fixture, &pairs).await, &fixture, StatusCode::OK).await;
            assert_eq!(bytes, fixture.bytes, "{pairs:?}");
        }
    }

    #[tokio::test]
    async fn if_range_that_matches_keeps_the_range() {
        let fixture = fixture(1000);
        for validator in [fixture.served.etag.clone(), fixture.served.last_modified.clone()] {
            let response = get(&fixture, &[("range", "bytes=10-19"), ("if-range", &validator)]).await;
            let (_, bytes) = assert_payload(response, &fixture, StatusCode::PARTIAL_CONTENT).await;
            assert_eq!(bytes, slice(&fixture, 10, 19), "{validator}");
        }
    }

    #[tokio::test]
    async fn if_range_that_does_not_match_sends_the_whole_file() {
        let fixture = fixture(1000);
        let weak = format!("W/{}", fixture.served.etag);
        for validator in [
            "\"0000000000000000000000000000000000000000\"",
            weak.as_str(),
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "x",
        ] {
            let response = get(&fixture, &[("range", "bytes=10-19"), ("if-range", validator)]).await;
            let (_, bytes) = assert_payload(response, &fixture, StatusCode::OK).await;
            assert_eq!(bytes, fixture.bytes, "{validator}");
        }
    }

    #[tokio::test]
    async fn validators_are_stable_across_calls() {
        let fixture = fixture(1000);
        let first = get(&fixture, &[]).await;
        let second = get(&fixture, &[("range", "bytes=1-2")]).await;
        for name in ["etag", "last-modified"] {
            assert_eq!(first.headers()[name], second.headers()[name]);
        }
        let again = Served::new(&SHA1, 1000, UNIX_EPOCH + Duration::from_millis(1_791_280_800_999));
        assert_eq!(again, fixture.served);
        assert_eq!(
            fixture.served.etag,
            "\"A379D5526FB3A7A0423DA1CD7FC3182A8D448449\""
        );
        assert_eq!(fixture.served.last_modified, "Tue, 06 Oct 2026 10:00:00 GMT");
    }

    #[test]
    fn head_of_an_uncommitted_file_states_what_get_would_without_a_date() {
        let served = Served::uncommitted(&SHA1, 1000);
        let answer = head_uncommitted(&served, &HeaderMap::new());
        assert_eq!(answer.body_bytes, 0);
        let response = answer.response;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "content-length"), "1000");
        assert_eq!(header(&response, "accept-ranges"), "bytes");
        assert_eq!(header(&response, "content-type"), OCTET_STREAM);
        assert_eq!(header(&response, "etag"), fixture(1).served.etag);
        assert!(response.headers().get(LAST_MODIFIED).is_none());

        let mut headers = HeaderMap::new();
        headers.insert(RANGE, HeaderValue::from_static("bytes=10-19"));
        let response = head_uncommitted(&served, &headers).response;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(header(&response, "content-range"), "bytes 10-19/1000");
        assert_eq!(header(&response, "content-length"), "10");
        // No date matches a file that has none yet; the ETag still does.
        headers.insert(
            IF_RANGE,
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        let response = head_uncommitted(&served, &headers).response;
        assert_eq!(response.status(), StatusCode::OK);
        headers.insert(IF_RANGE, HeaderValue::from_str(&served.etag).unwrap());
        let response = head_uncommitted(&served, &headers).response;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    }

    #[test]
    fn http_date_is_imf_fixdate() {
        let time = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(time), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(http_date(before), "Wed, 31 Dec 1969 23:59:59 GMT");
        let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        assert_eq!(http_date(last), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert!(
            http_date(last + Duration::from_secs(1)).contains("10000"),
            "past 9999: no panic"
        );
    }

    /// Delivery Optimization: 1 MiB pieces at 1 MiB offsets, shuffled, several at once.
    #[tokio::test]
    async fn delivery_optimization_pieces_rebuild_the_file() {
        let fixture = std::sync::Arc::new(fixture(5 * MIB));
        let mut pieces: Vec<u64> = (0..5).collect();
        pieces.shuffle(&mut StdRng::seed_from_u64(10));
        let mut tasks = Vec::new();
        for piece in pieces {
            let fixture = fixture.clone();
            tasks.push(tokio::spawn(async move {
                let (start, end) = (piece * MIB, piece * MIB + MIB - 1);
                let range = format!("bytes={start}-{end}");
                let response = get(
                    &fixture,
                    &[
                        ("range", &range),
                        ("user-agent", "Microsoft-Delivery-Optimization/10.1"),
                    ],
                )
                .await;
                assert_eq!(
                    header(&response, "content-range"),
                    format!("bytes {start}-{end}/{}", 5 * MIB)
                );
                assert_eq!(header(&response, "content-type"), OCTET_STREAM);
                let (_, bytes) = assert_payload(response, &fixture, StatusCode::PARTIAL_CONTENT).await;
                (start, bytes)
            }));
        }
        let mut rebuilt = vec![0u8; 5 * MIB as usize];
        for task in tasks {
            let (start, bytes) = task.await.unwrap();
            assert_eq!(bytes.len() as u64, MIB);
            rebuilt[start as usize..start as usize + bytes.len()].copy_from_slice(&bytes);
        }
        assert_eq!(rebuilt, fixture.bytes);
    }

    #[tokio::test]
    async fn a_range_streams_in_bounded_chunks() {
        let fixture = fixture(3 * MIB);
        let range = format!("bytes={}-{}", MIB, 2 * MIB - 1);
        let mut body = get(&fixture, &[("range", &range)]).await.into_body();
        assert_eq!(hyper::body::Body::size_hint(&body).exact(), Some(MIB));
        let mut sizes = Vec::new();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            sizes.push(data.len() as u64);
            bytes.extend_from_slice(&data);
        }
        assert_eq!(sizes, vec![CHUNK], "a 1 MiB range is one read");
        assert_eq!(bytes, slice(&fixture, MIB, 2 * MIB - 1));
    }

    #[tokio::test]
    async fn empty_file() {
        let fixture = fixture(0);
        let (_, bytes) = assert_payload(get(&fixture, &[]).await, &fixture, StatusCode::OK).await;
        assert!(bytes.is_empty());
        let response = get(&fixture, &[("range", "bytes=0-")]).await;
        let (response, _) = assert_payload(response, &fixture, StatusCode::RANGE_NOT_SATISFIABLE).await;
        assert_eq!(response.headers()["content-range"], "bytes */0");
    }

    #[tokio::test]
    async fn other_methods_are_405() {
        let fixture = fixture(10);
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let response = respond(&fixture.path, &fixture.served, &method, &HeaderMap::new())
                .await
                .response;
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(header(&response, "allow"), "GET, HEAD");
        }
    }

    #[tokio::test]
    async fn missing_file_is_404() {
        let fixture = fixture(10);
        let missing = fixture.path.with_file_name("gone");
        let response = respond(&missing, &fixture.served, &Method::GET, &HeaderMap::new())
            .await
            .response;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn file_shorter_than_committed_is_500() {
        let mut fixture = fixture(1000);
        fixture.served.size = 1001;
        let response = get(&fixture, &[]).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn file_that_shrinks_mid_response_ends_the_body_with_an_error() {
        let fixture = fixture(2 * MIB);
        let mut body = get(&fixture, &[]).await.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.as_ref(), &fixture.bytes[..CHUNK as usize]);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fixture.path)
            .unwrap()
            .set_len(MIB + 10)
            .unwrap();
        let mut sent = first.len();
        let error = loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    let data = frame.into_data().unwrap();
                    assert_eq!(data.as_ref(), &fixture.bytes[sent..sent + data.len()]);
                    sent += data.len();
                }
                Some(Err(error)) => break error,
                None => panic!("body ended without an error after {sent} bytes"),
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(sent <= MIB as usize + 10);
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn error_helpers_are_small_text_responses() {
        let response = not_found();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(header(&response, "content-type"), "text/plain; charset=utf-8");
        assert_eq!(header(&response, "content-length"), "14");
        assert_eq!(body(response).await, b"404 Not Found\n");
        let response = error(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(response).await, b"503 Service Unavailable\n");
    }

    #[test]
    fn multipart_length_is_exact_before_any_io() {
        let served = Served::new(&SHA1, 100, UNIX_EPOCH);
        let ranges = vec![ByteRange { start: 0, end: 9 }, ByteRange { start: 50, end: 99 }];
        let shape = shape(&RangeRequest::Multi(ranges), &served, "B");
        let head = |range: &str| {
            format!("\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {range}/100\r\n\r\n").len() as u64
        };
        let expected = head("0-9") + 10 + head("50-99") + 50 + "\r\n--B--\r\n".len() as u64;
        assert_eq!(shape.content_length(), expected);
    }

    #[test]
    fn open_committed_dates_the_answer_from_the_file_and_checks_its_size() {
        let fixture = fixture(1000);
        let (_, served) = open_committed(&fixture.path, &SHA1, 1000).unwrap();
        let modified = std::fs::metadata(&fixture.path).unwrap().modified().unwrap();
        assert_eq!(served, Served::new(&SHA1, 1000, modified));
        let short = open_committed(&fixture.path, &SHA1, 1001).unwrap_err();
        assert!(matches!(
            short,
            ServeError::Truncated {
                expected: 1001,
                actual: 1000
            }
        ));
        let gone = open_committed(&fixture.path.with_file_name("gone"), &SHA1, 1).unwrap_err();
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_reply_is_the_answer_s_head_and_body_segments() {
        let fixture = fixture(1000);
        let open = || std::fs::File::open(&fixture.path).unwrap();
        let ranged = headers(&[("range", "bytes=10-19")]);
        let get = reply(open(), &fixture.served, &Method::GET, &ranged).unwrap();
        assert_eq!(get.head.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(get.head.headers()["content-range"], "bytes 10-19/1000");
        assert_eq!(
            get.body,
            vec![Segment::File {
                offset: 10,
                length: 10
            }]
        );
        assert_eq!(get.body_bytes(), 10);
        let head = reply(open(), &fixture.served, &Method::HEAD, &ranged).unwrap();
        assert_eq!(head.head.headers(), get.head.headers());
        assert!(head.body.is_empty(), "HEAD sends no body");
    }

    #[test]
    fn error_statuses() {
        let io = || io::Error::other("x");
        assert_eq!(ServeError::Missing(io()).status(), StatusCode::NOT_FOUND);
        assert_eq!(
            ServeError::Unreadable(io()).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            ServeError::Truncated {
                expected: 2,
                actual: 1
            }
            .status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let header = Response::builder().header("etag", "\n").body(()).unwrap_err();
        assert_eq!(
            ServeError::Header(header).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
