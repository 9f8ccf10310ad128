//! One SOAP POST over a fresh loopback connection (or a stream the caller opened, such as a
//! TLS session), with the headers of the captured Windows 11 request
//! (`native-scan-000001.get-config.request.headers`); an `xpress`-encoded answer is decoded
//! with this crate's own decoder.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::reply::{read_reply, Reply};
use super::request::Request;
use super::xpress::decode_body;
use super::WuaError;

/// The User-Agent of Windows Update Agent 1507.2601.30012.0.
pub const USER_AGENT: &str = "Windows-Update-Agent/1507.2601.30012.0 Client-Protocol/2.90";

/// Largest decoded answer accepted.
const MAX_ANSWER: usize = 256 << 20;

/// One HTTP exchange: status, whether the body came xpress-encoded, and the decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The HTTP status code.
    pub status: u16,
    /// The answer came with `Content-Encoding: xpress`.
    pub xpress: bool,
    /// The body, decoded from xpress when it was encoded.
    pub body: String,
}

impl Exchange {
    /// Reads the body as a SOAP reply.
    pub fn reply(&self) -> Result<Reply, WuaError> {
        read_reply(&self.body)
    }
}

fn http(error: impl std::fmt::Display) -> WuaError {
    WuaError::Http(error.to_string())
}

/// POSTs `request` to `addr`, asking for xpress when `xpress` is set, as Windows always does.
pub async fn post(addr: SocketAddr, request: &Request, xpress: bool) -> Result<Exchange, WuaError> {
    let stream = TcpStream::connect(addr).await.map_err(http)?;
    post_over(stream, &addr.to_string(), request, xpress).await
}

/// POSTs `request` over an open connection to `host` (the `Host` header), as [`post`] does.
pub async fn post_over<S>(
    stream: S,
    host: &str,
    request: &Request,
    xpress: bool,
) -> Result<Exchange, WuaError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    tokio::spawn(async move {
        // The connection ends when the response is read and the sender dropped.
        let _ = connection.await;
    });
    let mut builder = hyper::Request::post(request.path)
        .header("Cache-Control", "no-cache")
        .header("Connection", "Keep-Alive")
        .header("Pragma", "no-cache")
        .header("Content-Type", "text/xml; charset=utf-8");
    if xpress {
        builder = builder.header("Accept-Encoding", "xpress");
    }
    let outgoing = builder
        .header("User-Agent", USER_AGENT)
        .header("SOAPAction", request.action.as_str())
        .header("Host", host)
        .body(Full::new(Bytes::from(request.body.clone())))
        .map_err(http)?;
    let response = sender.send_request(outgoing).await.map_err(http)?;
    let status = response.status().as_u16();
    let encoded = response
        .headers()
        .get("Content-Encoding")
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"xpress"));
    let raw = response.into_body().collect().await.map_err(http)?.to_bytes();
    let bytes = if encoded {
        decode_body(&raw, MAX_ANSWER)?
    } else {
        raw.to_vec()
    };
    let body =
        String::from_utf8(bytes).map_err(|e| WuaError::Envelope(format!("answer is not UTF-8: {e}")))?;
    Ok(Exchange {
        status,
        xpress: encoded,
        body,
    })
}
