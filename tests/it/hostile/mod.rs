//! Hostile clients on the same network (issue #10): each attack gets a clean refusal or a
//! bounded cost, and a normal Windows client is still served while or right after it runs.
//! "Served" has a generous liveness bound (`SERVED_WITHIN`), not a speed target: before the
//! fixes these attacks held the daemon for 15 s to minutes.

mod connections;
mod memory;
mod ranges;
mod soap;
mod store;

use crate::client::{serve_synthetic, WindowsClient};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a normal client may take to be served while an attack runs.
const SERVED_WITHIN: Duration = Duration::from_secs(5);

/// The value of the sample line starting with `line` (name, labels and a space) in a scrape.
fn metric(metrics: &str, line: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line} in\n{metrics}"))
}

/// A normal client completes the handshake (four SOAP calls) and one SyncUpdates in time.
async fn assert_normal_client_served(addr: SocketAddr) {
    let served = tokio::time::timeout(SERVED_WITHIN, async {
        let mut client = WindowsClient::new(addr);
        client.handshake().await;
        client
            .sync_updates(&Default::default())
            .await
            .expect("SyncUpdates answers");
    })
    .await;
    assert!(
        served.is_ok(),
        "a normal client was not served within {SERVED_WITHIN:?}"
    );
}

/// Sends `head` (request line and headers, without the blank line) and `body`, and reads the
/// answer's status and body; gives up after `SERVED_WITHIN`.
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    raw_from(None, addr, head, body).await
}

/// `raw` from a chosen loopback source address (127.0.0.2 for attackers).
async fn raw_from(
    source: Option<std::net::IpAddr>,
    addr: SocketAddr,
    head: &str,
    body: &[u8],
) -> (u16, String) {
    let exchange = async {
        let mut stream = match source {
            None => TcpStream::connect(addr).await.unwrap(),
            Some(source) => {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind(SocketAddr::new(source, 0)).unwrap();
                socket.connect(addr).await.unwrap()
            }
        };
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(b"\r\n\r\n").await.unwrap();
        // A server that answers early may close before the body is all written.
        let _ = stream.write_all(body).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        answer
    };
    let answer = tokio::time::timeout(SERVED_WITHIN, exchange)
        .await
        .expect("the server answered in time");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

/// A SOAP POST of `envelope` to `path` as a client would send it.
async fn post_soap(addr: SocketAddr, path: &str, action: &str, envelope: &str) -> (u16, String) {
    post_soap_from(None, addr, path, action, envelope).await
}

/// `post_soap` from a chosen loopback source address; `action` unquoted.
async fn post_soap_from(
    source: Option<std::net::IpAddr>,
    addr: SocketAddr,
    path: &str,
    action: &str,
    envelope: &str,
) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"{action}\"\r\nContent-Length: {}\r\nConnection: close",
        envelope.len()
    );
    raw_from(source, addr, &head, envelope.as_bytes()).await
}

/// The attackers' source address (loopback, but not the normal client's 127.0.0.1).
fn attacker() -> Option<std::net::IpAddr> {
    Some([127, 0, 0, 2].into())
}

/// `inner` inside a SOAP 1.1 envelope's Body.
fn envelope(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{inner}</s:Body></s:Envelope>"
    )
}

const CLIENT_PATH: &str = "/ClientWebService/client.asmx";
const CLIENT_NS: &str = "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService";

/// A served synthetic catalog for the attacks that need no special limits.
async fn served() -> (wucache::daemon::Daemon, tempfile::TempDir) {
    let (daemon, _catalog, data) = serve_synthetic(101, 20).await;
    (daemon, data)
}

/// A served synthetic catalog with `[server]` (or other) settings changed by `tweak`.
async fn served_with(
    tweak: impl FnOnce(&mut wucache::config::Config),
) -> (wucache::daemon::Daemon, tempfile::TempDir) {
    let catalog = crate::harness::synthetic(102, 20);
    let upstream = crate::harness::fake_with(&catalog).await;
    let data = tempfile::tempdir().unwrap();
    let mut config = crate::harness::config(&upstream.url(), &data);
    let store = wucache::store::Store::open(data.path()).unwrap();
    wucache::upstream::run_sync(&store, &config, &wucache::upstream::Quiet)
        .await
        .unwrap();
    drop(store);
    tweak(&mut config);
    (crate::client::start(config).await, data)
}
