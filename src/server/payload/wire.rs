//! HTTP/1.1 as the sendfile path speaks it, pure: which request heads it answers itself
//! (`parse`) and the response head it writes (`response_head`). It takes only a GET or HEAD
//! under `/Content/` in origin form, HTTP/1.1, without a body, an `Expect` or an upgrade;
//! everything else — another method or path, HTTP/1.0, a malformed head — is declined and left
//! to hyper, which answers it as it always has.

use hyper::header::{HeaderName, HeaderValue, IF_RANGE, RANGE};
use hyper::{HeaderMap, Method, Response};

/// Most header lines a head may have here (hyper's default limit too); more are hyper's to
/// refuse.
const MAX_HEADERS: usize = 100;

/// A request the sendfile path answers.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) method: Method,
    /// The request path, without the query.
    pub(super) path: String,
    /// `Range` and `If-Range` as sent (repeats kept: a repeated `Range` is ignored later).
    pub(super) headers: HeaderMap,
    /// The client asked to close the connection after the answer.
    pub(super) close: bool,
    /// Bytes of the head, blank line included.
    pub(super) length: usize,
}

/// What the bytes read so far hold.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed {
    /// Not a whole head yet.
    Incomplete,
    /// A request this path answers.
    Taken(Head),
    /// A request for hyper (or bytes hyper will refuse).
    Declined,
}

/// Reads a request head from the start of `bytes`.
pub(super) fn parse(bytes: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let length = match request.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Parsed::Incomplete,
        Err(_) => return Parsed::Declined,
    };
    let method = match request.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Parsed::Declined,
    };
    let Some(path) = request.path.and_then(content_path) else {
        return Parsed::Declined;
    };
    if request.version != Some(1) {
        return Parsed::Declined;
    }
    match taken_headers(request.headers) {
        Some((headers, close)) => Parsed::Taken(Head {
            method,
            path: path.to_string(),
            headers,
            close,
            length,
        }),
        None => Parsed::Declined,
    }
}

/// The path of an origin-form target under `/Content/` (any case, as the router matches it),
/// without its query.
fn content_path(target: &str) -> Option<&str> {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let prefix = path.get(..9)?;
    prefix.eq_ignore_ascii_case("/content/").then_some(path)
}

/// The headers the answer depends on, and whether the client asked to close; `None` when a
/// header makes the request hyper's: a body, `Expect`, an upgrade.
fn taken_headers(headers: &[httparse::Header<'_>]) -> Option<(HeaderMap, bool)> {
    let mut taken = HeaderMap::new();
    let mut close = false;
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            if header.value != b"0" {
                return None;
            }
        } else if ["transfer-encoding", "expect", "upgrade"]
            .iter()
            .any(|refused| name.eq_ignore_ascii_case(refused))
        {
            return None;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"upgrade") {
                    return None;
                }
                close |= token.eq_ignore_ascii_case(b"close");
            }
        } else if let Some(kept) = kept_name(name) {
            taken.append(kept, HeaderValue::from_bytes(header.value).ok()?);
        }
    }
    Some((taken, close))
}

fn kept_name(name: &str) -> Option<HeaderName> {
    [RANGE, IF_RANGE]
        .into_iter()
        .find(|kept| name.eq_ignore_ascii_case(kept.as_str()))
}

/// The status line and headers of `head` as HTTP/1.1 bytes, with `Date` (an IMF-fixdate) and,
/// when the connection closes after it, `Connection: close`.
pub(super) fn response_head(head: &Response<()>, date: &str, close: bool) -> Vec<u8> {
    let status = head.status();
    let mut bytes = Vec::with_capacity(512);
    bytes.extend_from_slice(b"HTTP/1.1 ");
    bytes.extend_from_slice(status.as_str().as_bytes());
    bytes.push(b' ');
    bytes.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    bytes.extend_from_slice(b"\r\n");
    for (name, value) in head.headers() {
        line(&mut bytes, name.as_str(), value.as_bytes());
    }
    line(&mut bytes, "date", date.as_bytes());
    if close {
        line(&mut bytes, "connection", b"close");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

fn line(bytes: &mut Vec<u8>, name: &str, value: &[u8]) {
    bytes.extend_from_slice(name.as_bytes());
    bytes.extend_from_slice(b": ");
    bytes.extend_from_slice(value);
    bytes.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    const DO_RANGE: &str = "GET /Content/49/A379D5526FB3A7A0423DA1CD7FC3182A8D448449.cab HTTP/1.1\r\n\
        Host: wsus:8530\r\nUser-Agent: Microsoft-Delivery-Optimization/10.1\r\nRange: bytes=1048576-2097151\r\n\r\n";

    fn taken(text: &str) -> Head {
        match parse(text.as_bytes()) {
            Parsed::Taken(head) => head,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn a_delivery_optimization_range_is_taken() {
        let head = taken(DO_RANGE);
        assert_eq!(head.method, Method::GET);
        assert_eq!(
            head.path,
            "/Content/49/A379D5526FB3A7A0423DA1CD7FC3182A8D448449.cab"
        );
        assert_eq!(head.headers.len(), 1);
        assert_eq!(head.headers[RANGE], "bytes=1048576-2097151");
        assert!(!head.close);
        assert_eq!(head.length, DO_RANGE.len());
    }

    #[test]
    fn a_head_is_taken_only_once_whole() {
        for cut in [0, 10, DO_RANGE.len() - 2] {
            assert_eq!(parse(&DO_RANGE.as_bytes()[..cut]), Parsed::Incomplete, "{cut}");
        }
        let pipelined = format!("{DO_RANGE}GET /x HTTP/1.1\r\n");
        assert_eq!(taken(&pipelined).length, DO_RANGE.len());
    }

    #[test]
    fn head_method_query_any_case_close_and_repeated_ranges() {
        let head = taken(
            "HEAD /content/49/x.cab?a=b HTTP/1.1\r\nConnection: keep-alive, Close\r\n\
             Range: bytes=0-1\r\nrange: bytes=2-3\r\nIf-Range: \"AB\"\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(head.method, Method::HEAD);
        assert_eq!(head.path, "/content/49/x.cab");
        assert!(head.close);
        assert_eq!(head.headers.get_all(RANGE).iter().count(), 2);
        assert_eq!(head.headers[IF_RANGE], "\"AB\"");
    }

    #[test]
    fn everything_else_is_declined_for_hyper() {
        for text in [
            "POST /Content/49/x.cab HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET /ClientWebService/client.asmx HTTP/1.1\r\n\r\n",
            "GET /Contentx/49/x.cab HTTP/1.1\r\n\r\n",
            "GET http://wsus/Content/49/x.cab HTTP/1.1\r\n\r\n",
            "GET /Content/49/x.cab HTTP/1.0\r\n\r\n",
            "GET /Content/49/x.cab HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /Content/49/x.cab HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET /Content/49/x.cab HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET /Content/49/x.cab HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            "GET /Content/49/x.cab HTTP/1.1\r\nBad Header\r\n\r\n",
            "GET /Content/49/x.cab HTTP/1.1\r\nRange: bytes=0-1\x7f\r\n\r\n",
        ] {
            assert_eq!(parse(text.as_bytes()), Parsed::Declined, "{text:?}");
        }
        let tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
        assert_eq!(parse(tls_hello), Parsed::Declined, "TLS on the plain port");
        let many: String = (0..MAX_HEADERS + 1).map(|n| format!("X-{n}: y\r\n")).collect();
        let text = format!("GET /Content/49/x.cab HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse(text.as_bytes()), Parsed::Declined, "too many headers");
    }

    #[test]
    fn the_response_head_is_the_status_line_headers_date_and_a_blank_line() {
        let mut head = Response::new(());
        *head.status_mut() = StatusCode::PARTIAL_CONTENT;
        head.headers_mut()
            .insert("content-length", HeaderValue::from(10u64));
        head.headers_mut()
            .insert("etag", HeaderValue::from_static("\"AB\""));
        let date = "Tue, 06 Oct 2026 10:00:00 GMT";
        let kept = String::from_utf8(response_head(&head, date, false)).unwrap();
        assert_eq!(
            kept,
            "HTTP/1.1 206 Partial Content\r\ncontent-length: 10\r\netag: \"AB\"\r\n\
             date: Tue, 06 Oct 2026 10:00:00 GMT\r\n\r\n"
        );
        let closing = String::from_utf8(response_head(&head, date, true)).unwrap();
        assert!(closing.ends_with("\r\nconnection: close\r\n\r\n"), "{closing}");
    }
}
