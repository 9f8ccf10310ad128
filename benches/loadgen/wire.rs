//! One simulated machine's HTTP/1.1 connection to the daemon: opened from the machine's own
//! loopback address (so the daemon's per-address limits see one machine per address), kept
//! alive for the whole session, and POSTing SOAP calls with the headers of the captured
//! Windows 11 client (`Accept-Encoding: xpress` included). Answers are timed to the last body
//! byte, then decoded from xpress with the test kit's own decoder.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use wucache_testkit::wua::transport::USER_AGENT;
use wucache_testkit::wua::{xpress, Request};

/// Largest decoded answer accepted (a SyncUpdates page of a big catalog is a few MB).
const MAX_ANSWER: usize = 256 << 20;

/// Why a call did not produce a usable answer, or what was wrong with the answer. The label is
/// what the report counts errors by.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// No connection could be opened from the machine's address.
    Connect(String),
    /// The exchange broke off (reset, closed, refused at the connection limit).
    Transport(String),
    /// No whole answer within the per-request timeout.
    Timeout,
    /// An HTTP status other than 200 that carries no SOAP fault.
    Status(u16),
    /// A SOAP fault: its `ErrorCode` (empty when it has none) and `Message`.
    Fault { code: String, message: String },
    /// The answer could not be read: xpress, UTF-8, XML, envelope or the answer's shape.
    Undecodable(String),
    /// A readable answer that breaks the protocol as a client relies on it.
    Protocol(String),
    /// A revision the machine may not be sent, by the catalog's ground truth (an update whose
    /// prerequisites it does not meet, or one not in the catalog): what, and the update id.
    Truth(&'static str, uuid::Uuid),
}

impl Failure {
    /// The kind errors are counted by.
    pub(crate) fn label(&self) -> String {
        match self {
            Failure::Connect(_) => "connect".into(),
            Failure::Transport(_) => "connection broken".into(),
            Failure::Timeout => "timeout".into(),
            Failure::Status(code) => format!("HTTP {code}"),
            Failure::Fault { code, .. } if code.is_empty() => "SOAP fault without ErrorCode".into(),
            Failure::Fault { code, .. } => format!("SOAP fault {code}"),
            Failure::Undecodable(_) => "undecodable answer".into(),
            Failure::Protocol(what) => format!("protocol: {what}"),
            Failure::Truth(what, _) => format!("ground truth: {what}"),
        }
    }

    /// A one-line example for the report.
    pub(crate) fn detail(&self) -> String {
        match self {
            Failure::Connect(why) | Failure::Transport(why) | Failure::Undecodable(why) => why.clone(),
            Failure::Fault { message, .. } if !message.is_empty() => format!("Message {message:?}"),
            Failure::Truth(_, id) => format!("update {id}"),
            _ => self.label(),
        }
    }
}

/// A whole answer: HTTP status, the decoded body, and the time from sending the request to
/// the last body byte.
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The answer came `Content-Encoding: xpress`.
    pub(crate) xpress: bool,
    pub(crate) body: String,
    pub(crate) elapsed: Duration,
}

/// A keep-alive connection from one machine's address.
pub(crate) struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// TCP connections opened so far (1 while the server keeps the first alive).
    pub(crate) opened: usize,
    source: Ipv4Addr,
    server: SocketAddr,
    host: String,
    timeout: Duration,
}

impl Connection {
    /// Connects from `source` (any free port) to `server`.
    pub(crate) async fn open(
        source: Ipv4Addr,
        server: SocketAddr,
        timeout: Duration,
    ) -> Result<Connection, Failure> {
        let sender = handshake(source, server, timeout).await?;
        Ok(Connection {
            sender,
            opened: 1,
            source,
            server,
            host: server.to_string(),
            timeout,
        })
    }

    /// POSTs one SOAP call and waits for its whole answer. A connection the server closed
    /// between calls (idle keep-alive) is reopened first, as Windows does.
    pub(crate) async fn post(&mut self, request: Request) -> Result<Answer, Failure> {
        if self.sender.is_closed() || self.sender.ready().await.is_err() {
            self.sender = handshake(self.source, self.server, self.timeout).await?;
            self.opened += 1;
        }
        let outgoing = self.request(request)?;
        let started = Instant::now();
        let exchange = async {
            let response = self.sender.send_request(outgoing).await.map_err(transport)?;
            let status = response.status().as_u16();
            let encoded = response
                .headers()
                .get("Content-Encoding")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"xpress"));
            let raw = response
                .into_body()
                .collect()
                .await
                .map_err(transport)?
                .to_bytes();
            Ok::<_, Failure>((status, encoded, raw))
        };
        let (status, encoded, raw) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Failure::Timeout)??;
        let elapsed = started.elapsed();
        Ok(Answer {
            status,
            xpress: encoded,
            body: decode(&raw, encoded)?,
            elapsed,
        })
    }

    fn request(&self, request: Request) -> Result<hyper::Request<Full<Bytes>>, Failure> {
        hyper::Request::post(path_of(&request.action))
            .header("Cache-Control", "no-cache")
            .header("Connection", "Keep-Alive")
            .header("Pragma", "no-cache")
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("Accept-Encoding", "xpress")
            .header("User-Agent", USER_AGENT)
            .header("SOAPAction", request.action.as_str())
            .header("Host", self.host.as_str())
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|e| Failure::Transport(e.to_string()))
    }
}

fn transport(error: impl std::fmt::Display) -> Failure {
    Failure::Transport(error.to_string())
}

/// Opens a TCP connection bound to `source` and runs the HTTP/1.1 handshake over it.
async fn handshake(
    source: Ipv4Addr,
    server: SocketAddr,
    timeout: Duration,
) -> Result<SendRequest<Full<Bytes>>, Failure> {
    let connect = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        let stream = socket.connect(server).await?;
        stream.set_nodelay(true)?;
        Ok::<_, std::io::Error>(stream)
    };
    let stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| Failure::Timeout)?
        .map_err(|e| Failure::Connect(format!("{source} -> {server}: {e}")))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Connect(e.to_string()))?;
    tokio::spawn(async move {
        // Ends when the server closes the connection or the sender is dropped.
        let _ = connection.await;
    });
    Ok(sender)
}

/// The service a SOAPAction belongs to decides the path, as the client's configured URLs do.
fn path_of(action: &str) -> &'static str {
    if action.contains("/SimpleAuthWebService/") {
        "/SimpleAuthWebService/SimpleAuth.asmx"
    } else if action.contains("/Server/ClientWebService/") {
        "/ClientWebService/client.asmx"
    } else {
        "/ReportingWebService/ReportingWebService.asmx"
    }
}

/// The body as text, decoded from xpress when it came encoded.
fn decode(raw: &[u8], encoded: bool) -> Result<String, Failure> {
    let bytes = if encoded {
        xpress::decode_body(raw, MAX_ANSWER).map_err(|e| Failure::Undecodable(format!("xpress: {e}")))?
    } else {
        raw.to_vec()
    };
    String::from_utf8(bytes).map_err(|e| Failure::Undecodable(format!("not UTF-8: {e}")))
}
