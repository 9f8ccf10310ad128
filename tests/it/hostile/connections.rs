//! Connection and memory floods: idle connections from one address, slow uploads holding body
//! memory. Attackers connect from 127.0.0.2 (loopback too) so the normal client on 127.0.0.1
//! is another source address.

use super::{assert_normal_client_served, metric, served_with, CLIENT_PATH};
use crate::harness::http;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from 127.0.0.2.
async fn connect_from_attacker(to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// True when the server closed the connection without answering.
async fn closed_at_once(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_per_address_limit_are_closed_and_others_still_served() {
    let (daemon, _data) = served_with(|config| config.server.max_connections_per_ip = 8).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(connect_from_attacker(daemon.client_addr).await);
    }
    let mut ninth = connect_from_attacker(daemon.client_addr).await;
    assert!(
        closed_at_once(&mut ninth).await,
        "the ninth connection from one address is closed"
    );
    // The eight idle ones are still open: the limit did not close them.
    let mut first = idle.remove(0);
    first
        .write_all(b"GET /Content/zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    first.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    // Another address is served, and so is the admin listener.
    assert_normal_client_served(daemon.client_addr).await;
    let (status, _) = http("GET", daemon.admin_addr, "/health", None).await;
    assert_eq!(status, 200);
    let (_, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    assert!(
        metric(
            &metrics,
            "wucache_connections_refused_total{listener=\"client\"} "
        ) >= 1
    );
    assert!(metric(&metrics, "wucache_connections_open{listener=\"client\"} ") >= 7);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_listener_limit_are_closed() {
    let (daemon, _data) = served_with(|config| config.server.max_connections = 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from_attacker(daemon.client_addr).await);
    }
    let mut fifth = TcpStream::connect(daemon.client_addr).await.unwrap();
    assert!(closed_at_once(&mut fifth).await, "the fifth connection is closed");
    drop(held);
    // Places come back when connections close.
    assert!(
        crate::harness::eventually(|| async {
            let Ok(mut stream) = TcpStream::connect(daemon.client_addr).await else {
                return false;
            };
            let asked = stream
                .write_all(b"GET /Content/zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut answer = String::new();
            // A refused connection is reset: an error here, not a panic.
            asked.is_ok()
                && stream.read_to_string(&mut answer).await.is_ok()
                && answer.starts_with("HTTP/1.1 404")
        })
        .await
    );
    daemon.stop().await;
}

/// Starts an upload from `source` that declares `declared` bytes and sends `sent` of them.
async fn slow_upload(to: SocketAddr, source: [u8; 4], declared: usize, sent: usize) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    let head = format!("POST {CLIENT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {declared}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent]).await.unwrap();
    stream
}

/// Posts a small body and reads the answer (allowing for the 10 s queue wait).
async fn small_post(to: SocketAddr) -> String {
    let body = b"<x/>";
    let head = format!(
        "POST {CLIENT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut stream = TcpStream::connect(to).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        answer
    })
    .await
    .expect("answered within the queue wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_hold_only_what_they_sent_and_the_overflow_is_told_to_retry() {
    let (daemon, _data) = served_with(|config| {
        config.server.max_soap_body = 64 << 10;
        config.server.soap_body_budget = 64 << 10;
    })
    .await;
    // Forty uploads that declare 64 KiB and send ten bytes hold almost nothing.
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(slow_upload(daemon.client_addr, [127, 0, 0, 2], 64 << 10, 10).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = small_post(daemon.client_addr).await;
    assert!(
        answer.starts_with("HTTP/1.1 500"),
        "served (a fault for <x/>): {answer}"
    );
    drop(idle);

    // An upload that really sends all but 100 bytes of 64 KiB holds the whole budget.
    let full = slow_upload(daemon.client_addr, [127, 0, 0, 2], 64 << 10, (64 << 10) - 100).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = small_post(daemon.client_addr).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 30"),
        "{answer}"
    );
    drop(full);
    assert_normal_client_served(daemon.client_addr).await;
    let (_, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    assert!(metric(&metrics, "wucache_soap_busy_refusals_total ") >= 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_a_quarter_of_the_body_budget() {
    let (daemon, _data) = served_with(|config| {
        config.server.max_soap_body = 64 << 10;
        config.server.soap_body_budget = 1 << 20;
    })
    .await;
    // A quarter of 1 MiB is 256 KiB: four uploads of 60 KiB fit, a fifth is refused at once.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(slow_upload(daemon.client_addr, [127, 0, 0, 2], 64 << 10, 60 << 10).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = slow_upload(daemon.client_addr, [127, 0, 0, 2], 64 << 10, 60 << 10).await;
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), fifth.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // Other addresses still have the rest of the budget.
    assert_normal_client_served(daemon.client_addr).await;
    drop(held);
    daemon.stop().await;
}

/// A request head is read into at most 32 KiB per connection: one past that is refused with
/// 431, one of 20 KiB (past the payload path's own 16 KiB, so hyper reads it) is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_past_the_read_buffer_are_refused_and_shorter_ones_served() {
    let (daemon, _data) = super::served().await;
    let head = |cookie_bytes: usize| {
        format!(
            "GET /Content/zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: c={}",
            "a".repeat(cookie_bytes)
        )
    };
    let (status, _) = super::raw(daemon.client_addr, &head(40 * 1024), b"").await;
    assert_eq!(status, 431);
    let (status, _) = super::raw(daemon.client_addr, &head(20 * 1024), b"").await;
    assert_eq!(status, 404);
    assert_normal_client_served(daemon.client_addr).await;
    daemon.stop().await;
}
