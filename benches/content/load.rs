//! The Delivery Optimization client: HTTP/1.1 keep-alive connections, ranged GETs as DO
//! sends them with every answer checked against `synth::payload_range`, and one round of
//! load (every client's files as shuffled 1 MiB pieces over its 7 connections).

use crate::served::Target;
use crate::Knobs;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_RANGE, HOST, RANGE, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wucache_testkit::synth::{self, SynthFile};

/// Connections per client, as Delivery Optimization opens them.
pub(crate) const CONNECTIONS: usize = 7;
/// Delivery Optimization's piece size and alignment.
pub(crate) const PIECE: u64 = 1 << 20;
/// Bytes checked at both ends of every range.
const EDGE: usize = 64;
/// One range in this many is checked byte for byte.
const FULL_CHECK_EVERY: usize = 32;

type Sender = SendRequest<Empty<Bytes>>;

/// One HTTP/1.1 connection (no pipelining: one request at a time on it).
pub(crate) async fn connect(addr: SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(async move {
        // The connection ends when the sender is dropped; nothing to report.
        let _ = connection.await;
    });
    sender
}

/// What one GET received.
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    content_range: Option<String>,
    /// From sending the request to the first body byte, and to the last.
    pub(crate) first_byte: Duration,
    pub(crate) last_byte: Duration,
    pub(crate) length: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    /// The whole body, when asked to keep it.
    body: Option<Vec<u8>>,
}

/// A GET of `path`, with a closed range `(start, end)` if given, as Delivery Optimization
/// sends it; the body is read to its end.
pub(crate) async fn get(
    sender: &mut Sender,
    addr: SocketAddr,
    path: &str,
    range: Option<(u64, u64)>,
) -> Fetched {
    let mut request = Request::get(path)
        .header(HOST, addr.to_string())
        .header(USER_AGENT, "Microsoft-Delivery-Optimization/10.1");
    if let Some((start, end)) = range {
        request = request.header(RANGE, format!("bytes={start}-{end}"));
    }
    let request = request.body(Empty::new()).expect("request");
    sender.ready().await.expect("connection ready");
    get_sent(sender, request, false).await
}

pub(crate) async fn get_sent(sender: &mut Sender, request: Request<Empty<Bytes>>, keep: bool) -> Fetched {
    let started = Instant::now();
    let response = sender.send_request(request).await.expect("HTTP exchange");
    let status = response.status();
    let content_range = response
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = response.into_body();
    let mut fetched = Fetched {
        status,
        content_range,
        first_byte: Duration::ZERO,
        last_byte: Duration::ZERO,
        length: 0,
        head: Vec::with_capacity(EDGE),
        tail: Vec::with_capacity(2 * EDGE),
        body: keep.then(Vec::new),
    };
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.expect("response body").into_data() else {
            continue;
        };
        if fetched.length == 0 {
            fetched.first_byte = started.elapsed();
        }
        fetched.take(&data);
    }
    fetched.last_byte = started.elapsed();
    fetched
}

impl Fetched {
    /// Counts a body frame and keeps what the checks need.
    fn take(&mut self, data: &[u8]) {
        self.length += data.len() as u64;
        let head = (EDGE - self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..head]);
        if data.len() >= EDGE {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - EDGE..]);
        } else {
            self.tail.extend_from_slice(data);
            let excess = self.tail.len().saturating_sub(EDGE);
            self.tail.drain(..excess);
        }
        if let Some(body) = &mut self.body {
            body.extend_from_slice(data);
        }
    }

    /// Panics unless this is exactly bytes `start..=end` of `file` as a 206 answer. Checks the
    /// first and last [`EDGE`] bytes, or every byte if the body was kept.
    pub(crate) fn check(&self, file: &SynthFile, start: u64, end: u64, server: &str) {
        let expected_range = format!("bytes {start}-{end}/{}", file.size);
        assert_eq!(self.status, StatusCode::PARTIAL_CONTENT, "{server}: status");
        assert_eq!(
            self.content_range.as_deref(),
            Some(expected_range.as_str()),
            "{server}"
        );
        assert_eq!(
            self.length,
            end + 1 - start,
            "{server}: body length of {expected_range}"
        );
        let at = |from: u64, len: usize| synth::payload_range(file, from, from + len as u64);
        assert!(
            self.head == at(start, self.head.len()),
            "{server}: wrong bytes at {start}"
        );
        let tail_from = end + 1 - self.tail.len() as u64;
        assert!(
            self.tail == at(tail_from, self.tail.len()),
            "{server}: wrong bytes before {end}"
        );
        if let Some(body) = &self.body {
            assert!(
                *body == at(start, body.len()),
                "{server}: wrong bytes in {expected_range}"
            );
        }
    }
}

/// A client's downloads: its files one after the other, each file's pieces shuffled; its
/// connections take the next piece when free.
struct Pieces {
    order: Vec<(Arc<Target>, u64)>,
    next: AtomicUsize,
}

impl Pieces {
    fn shuffled(files: &[Arc<Target>], seed: u64) -> Pieces {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut order = Vec::new();
        for target in files {
            let mut pieces: Vec<u64> = (0..target.file.size.div_ceil(PIECE)).collect();
            pieces.shuffle(&mut rng);
            order.extend(pieces.into_iter().map(|piece| (Arc::clone(target), piece)));
        }
        Pieces {
            order,
            next: AtomicUsize::new(0),
        }
    }

    /// The next piece to fetch and whether to check it byte for byte.
    fn take(&self) -> Option<(&Target, u64, bool)> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (target, piece) = self.order.get(n)?;
        Some((target, *piece, n % FULL_CHECK_EVERY == 0))
    }
}

/// What one round of the load measured.
#[derive(Default)]
pub(crate) struct Round {
    pub(crate) bytes: u64,
    pub(crate) wall: Duration,
    pub(crate) latencies: Vec<Duration>,
    pub(crate) fully_checked: usize,
    /// CPU of the server (wucache's runtime threads, or nginx's processes) and of the load
    /// generator's threads.
    pub(crate) server_cpu: Duration,
    pub(crate) load_cpu: Duration,
    /// RSS right after the round: wucache's whole process, or nginx's processes summed.
    pub(crate) rss_kib: u64,
    /// This process's RSS right after the round (for nginx rounds: load generator, fake
    /// upstream and an idle wucache).
    pub(crate) process_rss_kib: u64,
}

/// One connection's work: pieces until the client has none left.
async fn fetch_pieces(
    mut sender: Sender,
    addr: SocketAddr,
    server: &'static str,
    pieces: Arc<Pieces>,
) -> Round {
    let mut round = Round::default();
    while let Some((target, piece, full)) = pieces.take() {
        let (start, end) = (piece * PIECE, ((piece + 1) * PIECE).min(target.file.size) - 1);
        let request = Request::get(target.path.as_str())
            .header(HOST, addr.to_string())
            .header(USER_AGENT, "Microsoft-Delivery-Optimization/10.1")
            .header(RANGE, format!("bytes={start}-{end}"))
            .body(Empty::new())
            .expect("request");
        sender.ready().await.expect("connection ready");
        let fetched = get_sent(&mut sender, request, full).await;
        fetched.check(&target.file, start, end, server);
        round.latencies.push(fetched.last_byte);
        round.bytes += fetched.length;
        round.fully_checked += usize::from(full);
    }
    round
}

/// Every client downloads `per_client` files over its own 7 connections, opened before the
/// clock starts; client `n` starts with file `n % files`.
pub(crate) async fn run_round(
    addr: SocketAddr,
    server: &'static str,
    targets: &[Arc<Target>],
    knobs: &Knobs,
    seed: u64,
) -> Round {
    let mut connections = Vec::with_capacity(knobs.clients * CONNECTIONS);
    for client in 0..knobs.clients {
        let files: Vec<_> = (0..knobs.per_client)
            .map(|n| Arc::clone(&targets[(client + n) % targets.len()]))
            .collect();
        let pieces = Arc::new(Pieces::shuffled(&files, seed + client as u64));
        for _ in 0..CONNECTIONS {
            connections.push((connect(addr).await, Arc::clone(&pieces)));
        }
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (sender, pieces) in connections {
        tasks.spawn(fetch_pieces(sender, addr, server, pieces));
    }
    let parts = tasks.join_all().await;
    let mut round = Round {
        wall: started.elapsed(),
        ..Round::default()
    };
    for part in parts {
        round.bytes += part.bytes;
        round.fully_checked += part.fully_checked;
        round.latencies.extend(part.latencies);
    }
    round
}
