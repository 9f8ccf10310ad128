//! The connection under TLS for every upstream request: straight to the target, or to the
//! proxy — as it is for an http:// target (the client then writes absolute-form requests),
//! or made a CONNECT tunnel for an https:// target (TLS then runs end to end inside it).
//!
//! Hand-written rather than hyper-util's `Tunnel`: that one folds every refusal into
//! "unsuccessful" and waits for the proxy's answer without a limit, while the sync needs the
//! status (a 407 is a credentials problem, a 503 is worth a retry) and a deadline.

use super::proxy::{Proxies, Route};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Largest CONNECT answer head read.
const MAX_ANSWER: usize = 8 << 10;

/// Why a proxy did not carry a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TunnelError {
    /// No connection to the proxy, or it broke during CONNECT.
    #[error("proxy {proxy}: {detail}")]
    Unreachable { proxy: String, detail: String },
    /// The proxy answered CONNECT with something other than 2xx.
    #[error("proxy {proxy} answered CONNECT {target} with HTTP {status}")]
    Refused {
        proxy: String,
        target: String,
        status: u16,
    },
    /// No answer to CONNECT in time.
    #[error("proxy {proxy} did not answer CONNECT {target} within {timeout:?}")]
    Timeout {
        proxy: String,
        target: String,
        timeout: Duration,
    },
    /// The answer is not an HTTP response head.
    #[error("proxy {proxy} answered CONNECT {target} with something that is not HTTP")]
    Malformed { proxy: String, target: String },
}

/// Connects straight or through the proxy that [`Proxies`] names for the target.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    http: HttpConnector,
    proxies: Arc<Proxies>,
    /// Longest wait for a proxy's answer to CONNECT.
    answer_timeout: Duration,
}

impl ProxyConnector {
    pub(crate) fn new(
        http: HttpConnector,
        proxies: Arc<Proxies>,
        answer_timeout: Duration,
    ) -> ProxyConnector {
        ProxyConnector {
            http,
            proxies,
            answer_timeout,
        }
    }

    async fn connect(mut self, target: Uri) -> Result<Conn, BoxError> {
        let Some(route) = self.proxies.route(&target) else {
            let io = self.http.call(target).await?;
            return Ok(Conn { io, proxied: false });
        };
        let io = self
            .http
            .call(route.uri.clone())
            .await
            .map_err(|e| TunnelError::Unreachable {
                proxy: route.name.clone(),
                detail: chain(&e),
            })?;
        if target.scheme_str() != Some("https") {
            return Ok(Conn { io, proxied: true });
        }
        let authority = format!(
            "{}:{}",
            target.host().unwrap_or_default(),
            target.port_u16().unwrap_or(443)
        );
        let stream = tokio::time::timeout(self.answer_timeout, tunnel(io.into_inner(), &authority, &route))
            .await
            .map_err(|_| TunnelError::Timeout {
                proxy: route.name.clone(),
                target: authority.clone(),
                timeout: self.answer_timeout,
            })??;
        Ok(Conn {
            io: TokioIo::new(stream),
            proxied: false,
        })
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The HTTP connector is always ready; each call works on a clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: Uri) -> Self::Future {
        Box::pin(self.clone().connect(target))
    }
}

/// Asks the proxy for a tunnel to `authority` (`host:port`) and reads its answer head byte
/// by byte, so no byte of the tunnel is read with it.
async fn tunnel(mut stream: TcpStream, authority: &str, route: &Route) -> Result<TcpStream, TunnelError> {
    let broken = |e: std::io::Error| TunnelError::Unreachable {
        proxy: route.name.clone(),
        detail: e.to_string(),
    };
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = route.auth.as_ref().and_then(|a| a.to_str().ok()) {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.map_err(broken)?;
    let mut answer = Vec::with_capacity(256);
    while !answer.ends_with(b"\r\n\r\n") && answer.len() < MAX_ANSWER {
        let byte = stream.read_u8().await.map_err(broken)?;
        answer.push(byte);
    }
    match answer_status(&answer) {
        Some(status) if (200..300).contains(&status) => Ok(stream),
        Some(status) => Err(TunnelError::Refused {
            proxy: route.name.clone(),
            target: authority.to_string(),
            status,
        }),
        None => Err(TunnelError::Malformed {
            proxy: route.name.clone(),
            target: authority.to_string(),
        }),
    }
}

/// The status of a complete response head (`HTTP/1.x NNN reason\r\n…\r\n\r\n`).
fn answer_status(head: &[u8]) -> Option<u16> {
    if !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let line = head.split(|&b| b == b'\n').next()?;
    let mut parts = std::str::from_utf8(line).ok()?.trim_end_matches('\r').split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next().filter(|s| s.len() == 3)?.parse().ok()
}

/// An error and its sources on one line.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    detail
}

/// A TCP connection that knows whether it goes to a proxy for absolute-form requests.
pub(crate) struct Conn {
    io: TokioIo<TcpStream>,
    /// To a proxy, carrying http:// requests (not a tunnel).
    proxied: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_status_reads_complete_http_heads_only() {
        assert_eq!(
            answer_status(b"HTTP/1.0 200 Connection established\r\n\r\n"),
            Some(200)
        );
        let refused = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n";
        assert_eq!(answer_status(refused), Some(407));
        assert_eq!(answer_status(b"HTTP/1.1 503\r\n\r\n"), Some(503));
        assert_eq!(answer_status(b"HTTP/1.1 200 OK\r\n"), None, "head not complete");
        assert_eq!(answer_status(b"SSH-2.0-OpenSSH\r\n\r\n"), None);
        assert_eq!(answer_status(b"HTTP/1.1 20 OK\r\n\r\n"), None);
    }

    /// A one-shot proxy on loopback: reads the CONNECT head, answers `reply`, then echoes.
    async fn fake_proxy(reply: &'static str) -> (std::net::SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(stream.read_u8().await.unwrap());
            }
            if reply.is_empty() {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            stream.write_all(reply.as_bytes()).await.unwrap();
            let mut rest = [0u8; 4];
            if stream.read_exact(&mut rest).await.is_ok() {
                stream.write_all(&rest).await.unwrap();
            }
            String::from_utf8(head).unwrap()
        });
        (addr, task)
    }

    fn connector(proxy: std::net::SocketAddr, timeout: Duration) -> ProxyConnector {
        let upstream = crate::config::UpstreamConfig {
            proxy: format!("http://{proxy}"),
            ..Default::default()
        };
        let settings = super::super::proxy::settings(&upstream, &Default::default()).unwrap();
        let auth = hyper::header::HeaderValue::from_static("Basic YTpi");
        let proxies = Arc::new(Proxies::new(settings, Some(auth)));
        ProxyConnector::new(HttpConnector::new(), proxies, timeout)
    }

    #[tokio::test]
    async fn connect_sends_authority_and_credentials_then_carries_the_bytes() {
        let (addr, task) = fake_proxy("HTTP/1.1 200 Connection established\r\n\r\n").await;
        let mut connector = connector(addr, Duration::from_secs(5));
        let conn = connector
            .call("https://upstream.example:8531/x".parse().unwrap())
            .await
            .unwrap();
        assert!(
            !conn.connected().is_proxied(),
            "a tunnel carries origin-form requests"
        );
        let mut stream = conn.io.into_inner();
        stream.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        stream.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");
        let head = task.await.unwrap();
        assert!(
            head.starts_with("CONNECT upstream.example:8531 HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("Proxy-Authorization: Basic YTpi\r\n"), "{head}");
    }

    #[tokio::test]
    async fn refusal_keeps_the_status_and_a_silent_proxy_times_out() {
        let (addr, _task) = fake_proxy("HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        let err = connector(addr, Duration::from_secs(5))
            .call("https://upstream.example/".parse().unwrap())
            .await
            .err()
            .unwrap();
        match err.downcast_ref::<TunnelError>() {
            Some(TunnelError::Refused {
                status: 503, target, ..
            }) => assert_eq!(target, "upstream.example:443"),
            other => panic!("{other:?}"),
        }
        let (addr, _task) = fake_proxy("").await;
        let err = connector(addr, Duration::from_millis(100))
            .call("https://upstream.example/".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                err.downcast_ref::<TunnelError>(),
                Some(TunnelError::Timeout { .. })
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn http_targets_use_the_proxy_connection_as_it_is() {
        let (addr, _task) = fake_proxy("unused").await;
        let conn = connector(addr, Duration::from_secs(5))
            .call("http://upstream.example/".parse().unwrap())
            .await
            .unwrap();
        assert!(conn.connected().is_proxied(), "absolute-form requests on it");
        assert_eq!(conn.io.inner().peer_addr().unwrap(), addr);
    }
}
