//! Content benchmark (prints figures; asserts nothing about time): payload serving under the
//! Delivery Optimization pattern (docs/protocol.md §10.2), against wucache and against nginx
//! serving the very same files in the same run, and a cold miss with many clients at once.
//!
//! - Warm DO load: N clients, each with 7 keep-alive HTTP/1.1 connections (no pipelining)
//!   downloading its files in turn as shuffled, closed, 1 MiB-aligned 1 MiB ranges. Rounds alternate
//!   wucache, nginx, wucache, nginx… Every range's status, `Content-Range`, length and first
//!   and last bytes are checked, and a sample of whole ranges byte for byte, against
//!   `synth::payload_range`.
//! - Cold miss: many clients ask at once for the first 1 MiB range of one uncached file the
//!   fake upstream serves at full speed: upstream transfers (target 1) and time to first byte,
//!   next to the upstream's own.
//!
//! wucache, the fake upstream and the load generator share one process (and the machine's
//! cores with nginx): the process RSS printed for wucache includes all three. nginx (Debian's,
//! `/usr/sbin/nginx` or `WUCACHE_BENCH_NGINX`) is started by this benchmark with its own
//! temp prefix and stopped at the end; without it the nginx rows are skipped.
//!
//! Run: `cargo bench --bench content` (about 30 s after the build). Quick run:
//! `WUCACHE_BENCH_CLIENTS=4 WUCACHE_BENCH_FILE_MB=8 WUCACHE_BENCH_PER_CLIENT=1
//! WUCACHE_BENCH_ROUNDS=1 WUCACHE_BENCH_COLD_MB=20 WUCACHE_BENCH_COLD_CLIENTS=20 cargo bench
//! --bench content`. Also `WUCACHE_BENCH_FILES` (distinct cached files, default 4).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_RANGE, HOST, RANGE, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::runtime::Runtime;
use wucache::config::Config;
use wucache::daemon::Daemon;
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};
use wucache_testkit::synth::{self, SynthCatalog, SynthFile, SynthKind, SynthOptions};

/// Connections per client, as Delivery Optimization opens them.
const CONNECTIONS: usize = 7;
/// Delivery Optimization's piece size and alignment.
const PIECE: u64 = 1 << 20;
/// Bytes checked at both ends of every range.
const EDGE: usize = 64;
/// One range in this many is checked byte for byte.
const FULL_CHECK_EVERY: usize = 32;
/// Direct GETs to the upstream for its time to first byte (the median is printed).
const UPSTREAM_SAMPLES: usize = 5;

const SERVER_THREADS: &str = "wucache-server";
const LOAD_THREADS: &str = "load-generator";
const UPSTREAM_THREADS: &str = "fake-upstream";

fn main() {
    let knobs = Knobs::from_env();
    println!("wucache content benchmark (wucache, fake upstream and load generator in one process;");
    println!("nginx in its own processes; all on this machine's 2 shared cores, loopback)");
    println!("command: {}", knobs.command());
    let runtimes = Runtimes::new();
    let bench = Bench::start(&runtimes, &knobs);
    let nginx = start_nginx(&bench);
    let warm = warm_load(&runtimes, &bench, nginx.as_ref(), &knobs);
    let cold = runtimes.load.block_on(cold_miss(&bench, knobs.cold_clients));
    print_cold(&bench, &cold);
    print_summary(&warm, &cold, &knobs);
    drop(nginx);
    runtimes.server.block_on(bench.daemon.stop());
    runtimes.upstream.block_on(bench.upstream.stop());
}

/// Sizes set from the environment.
struct Knobs {
    clients: usize,
    files: usize,
    /// Size of each warm file, in MB (10^6 bytes).
    file_mb: u64,
    /// Files each client downloads per round, one after the other.
    per_client: usize,
    /// Pairs of rounds (wucache then nginx).
    rounds: usize,
    cold_mb: u64,
    cold_clients: usize,
}

impl Knobs {
    fn from_env() -> Knobs {
        let knob = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
                .max(1)
        };
        Knobs {
            clients: knob("WUCACHE_BENCH_CLIENTS", 20),
            files: knob("WUCACHE_BENCH_FILES", 4),
            file_mb: knob("WUCACHE_BENCH_FILE_MB", 64) as u64,
            per_client: knob("WUCACHE_BENCH_PER_CLIENT", 4),
            rounds: knob("WUCACHE_BENCH_ROUNDS", 5),
            cold_mb: knob("WUCACHE_BENCH_COLD_MB", 200) as u64,
            cold_clients: knob("WUCACHE_BENCH_COLD_CLIENTS", 100),
        }
    }

    fn command(&self) -> String {
        format!(
            "WUCACHE_BENCH_CLIENTS={} WUCACHE_BENCH_FILES={} WUCACHE_BENCH_FILE_MB={} \
             WUCACHE_BENCH_PER_CLIENT={} WUCACHE_BENCH_ROUNDS={} WUCACHE_BENCH_COLD_MB={} \
             WUCACHE_BENCH_COLD_CLIENTS={} cargo bench --bench content",
            self.clients,
            self.files,
            self.file_mb,
            self.per_client,
            self.rounds,
            self.cold_mb,
            self.cold_clients
        )
    }
}

/// The daemon's, the load generator's and the fake upstream's runtimes, two workers each.
struct Runtimes {
    server: Runtime,
    load: Runtime,
    upstream: Runtime,
}

impl Runtimes {
    fn new() -> Runtimes {
        Runtimes {
            server: runtime(SERVER_THREADS),
            load: runtime(LOAD_THREADS),
            upstream: runtime(UPSTREAM_THREADS),
        }
    }
}

/// A two-worker tokio runtime whose threads (blocking pool included, kept alive so their CPU
/// time stays countable) are called `name`.
fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .thread_keep_alive(Duration::from_secs(600))
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---- Set-up ------------------------------------------------------------------------------

/// The fake upstream, the daemon in front of it, and the files both serve.
struct Bench {
    upstream: FakeUpstream,
    daemon: Daemon,
    /// Files the warm load downloads, committed in wucache's cache.
    warm: Vec<Target>,
    /// The file the cold miss asks for, not cached yet.
    cold: Target,
    _data: TempDir,
}

/// A payload and the path it is requested at.
#[derive(Clone)]
struct Target {
    file: SynthFile,
    path: String,
}

impl Target {
    fn new(file: SynthFile) -> Target {
        let ext = file.name.rsplit('.').next().unwrap_or("exe").to_string();
        let path = wucache::content::layout::url_path(&file.sha1, &ext);
        Target { file, path }
    }
}

impl Bench {
    /// Publishes a small synthetic catalog whose first few standalone updates carry the
    /// benchmark's large files, mirrors it, starts the daemon and warms the cache.
    fn start(runtimes: &Runtimes, knobs: &Knobs) -> Bench {
        let started = Instant::now();
        let upstream = runtimes
            .upstream
            .block_on(FakeUpstream::start(Vec::new()))
            .expect("fake upstream");
        let mut sizes = vec![knobs.file_mb * 1_000_000; knobs.files];
        sizes.push(knobs.cold_mb * 1_000_000);
        let (catalog, mut files) = catalog_with_files(&upstream.url(), &sizes);
        upstream.publish(catalog.docs.iter().map(UpstreamDoc::from_synth).collect());
        upstream.serve_files(catalog.files());
        let data = tempfile::tempdir().expect("temp dir");
        let daemon = runtimes.server.block_on(serve(&upstream.url(), &data));
        let cold = Target::new(files.pop().expect("cold file"));
        let warm: Vec<Target> = files.into_iter().map(Target::new).collect();
        for target in warm.iter().chain([&cold]) {
            let approved = daemon.app.snapshot().payload(&target.file.sha1);
            assert!(
                approved.is_some_and(|(_, ok)| ok),
                "the benchmark file {} must belong to an approved update",
                target.path
            );
        }
        let set_up = started.elapsed();
        let warming = Instant::now();
        runtimes.load.block_on(warm_cache(daemon.client_addr, &warm));
        println!(
            "set-up: catalog, digests and mirror {:.1} s; cache warmed with {} x {} MB in {:.1} s",
            set_up.as_secs_f64(),
            warm.len(),
            knobs.file_mb,
            warming.elapsed().as_secs_f64()
        );
        Bench {
            upstream,
            daemon,
            warm,
            cold,
            _data: data,
        }
    }

    /// Where wucache committed a warm file.
    fn committed(&self, target: &Target) -> PathBuf {
        let cache = self.daemon.app.content.get().expect("content cache open");
        cache.committed(&target.file.sha1).expect("warm file committed").0
    }
}

/// A small synthetic catalog in which one file each of that many standalone, published,
/// latest-revision updates is replaced by a file of the given size (same name). The
/// document's `Digest`, `Size` and SHA-256 are rewritten to match.
fn catalog_with_files(base_url: &str, sizes: &[u64]) -> (SynthCatalog, Vec<SynthFile>) {
    let mut catalog = synth::generate(&SynthOptions {
        seed: 2026,
        updates: 40 + 4 * sizes.len(),
        content_base_url: base_url.to_string(),
        ..SynthOptions::default()
    });
    let candidates = standalone_leaves(&catalog);
    assert!(candidates.len() >= sizes.len(), "not enough standalone updates");
    let mut files = Vec::new();
    for (n, (&index, &size)) in candidates.iter().zip(sizes).enumerate() {
        let doc = &mut catalog.docs[index];
        let old = doc.files[0].clone();
        let new = synth::make_file(0xC0_7E47 + n as u64, size, &old.name, base_url);
        doc.xml = replace_once(&doc.xml, &file_attrs(&old), &file_attrs(&new));
        doc.xml = replace_once(&doc.xml, &sha256_element(&old), &sha256_element(&new));
        doc.files[0] = new.clone();
        files.push(new);
    }
    (catalog, files)
}

/// Indices of software leaves that are published, the latest revision of their update, and
/// no bundle's member: each is a top-level update the default approval approves.
fn standalone_leaves(catalog: &SynthCatalog) -> Vec<usize> {
    let members: HashSet<_> = catalog.docs.iter().flat_map(|d| d.bundled.iter()).collect();
    let latest = |doc: &synth::SynthDoc| {
        !catalog
            .docs
            .iter()
            .any(|d| d.update_id == doc.update_id && d.revision > doc.revision)
    };
    let docs = catalog.docs.iter().enumerate();
    docs.filter(|(_, d)| d.kind == SynthKind::Software && !d.expired && !d.files.is_empty())
        .filter(|(_, d)| !members.contains(&d.update_id) && latest(d))
        .map(|(i, _)| i)
        .collect()
}

fn file_attrs(file: &SynthFile) -> String {
    use base64::Engine as _;
    let digest = base64::engine::general_purpose::STANDARD.encode(file.sha1);
    format!(
        r#"Digest="{digest}" DigestAlgorithm="SHA1" FileName="{}" Size="{}""#,
        file.name, file.size
    )
}

fn sha256_element(file: &SynthFile) -> String {
    use base64::Engine as _;
    let digest = base64::engine::general_purpose::STANDARD.encode(file.sha256);
    format!(r#"<upd:AdditionalDigest Algorithm="SHA256">{digest}<"#)
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected `{from}` once in the document"
    );
    text.replacen(from, to, 1)
}

/// Mirrors the upstream's catalog into `data` and starts the daemon there.
async fn serve(upstream: &str, data: &TempDir) -> Daemon {
    let config = config(upstream, data);
    {
        let store = wucache::store::Store::open(data.path()).expect("store");
        wucache::upstream::run_sync(&store, &config, &wucache::upstream::Quiet)
            .await
            .expect("sync from the fake upstream");
    }
    let daemon = Daemon::start(config).await.expect("daemon");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(daemon.app.is_ready() && daemon.app.content.get().is_some()) {
        assert!(Instant::now() < deadline, "the daemon did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon
}

fn config(upstream: &str, data: &TempDir) -> Config {
    let mut config = Config::default();
    config.server.http_listen = "127.0.0.1:0".parse().expect("address");
    config.admin.listen = "127.0.0.1:0".parse().expect("address");
    config.storage.data_dir = data.path().to_path_buf();
    config.upstream.server = upstream.to_string();
    config.sync.products = vec!["all".into()];
    config.sync.classifications = vec!["all".into()];
    config.sync.languages = vec![];
    config.sync.interval = Duration::ZERO;
    config.sync.on_start = false;
    config
}

/// GETs each warm file once, whole, so it is fetched, verified and committed.
async fn warm_cache(addr: SocketAddr, targets: &[Target]) {
    for target in targets {
        let mut sender = connect(addr).await;
        let fetched = get(&mut sender, addr, &target.path, None).await;
        assert_eq!(fetched.status, StatusCode::OK, "warming {}", target.path);
        assert_eq!(fetched.length, target.file.size, "warming {}", target.path);
    }
}

// ---- HTTP client ---------------------------------------------------------------------------

type Sender = SendRequest<Empty<Bytes>>;

/// One HTTP/1.1 connection (no pipelining: one request at a time on it).
async fn connect(addr: SocketAddr) -> Sender {
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
struct Fetched {
    status: StatusCode,
    content_range: Option<String>,
    /// From sending the request to the first body byte, and to the last.
    first_byte: Duration,
    last_byte: Duration,
    length: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    /// The whole body, when asked to keep it.
    body: Option<Vec<u8>>,
}

/// A GET of `path`, with a closed range `(start, end)` if given, as Delivery Optimization
/// sends it; the body is read to its end.
async fn get(sender: &mut Sender, addr: SocketAddr, path: &str, range: Option<(u64, u64)>) -> Fetched {
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

async fn get_sent(sender: &mut Sender, request: Request<Empty<Bytes>>, keep: bool) -> Fetched {
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
    fn check(&self, file: &SynthFile, start: u64, end: u64, server: &str) {
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

// ---- Warm Delivery Optimization load -------------------------------------------------------

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
struct Round {
    bytes: u64,
    wall: Duration,
    latencies: Vec<Duration>,
    fully_checked: usize,
    /// CPU of the server (wucache's runtime threads, or nginx's processes) and of the load
    /// generator's threads.
    server_cpu: Duration,
    load_cpu: Duration,
    /// RSS right after the round: wucache's whole process, or nginx's processes summed.
    rss_kib: u64,
    /// This process's RSS right after the round (for nginx rounds: load generator, fake
    /// upstream and an idle wucache).
    process_rss_kib: u64,
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
async fn run_round(
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

/// All rounds of one server, merged.
#[derive(Default)]
struct Totals {
    rounds: Vec<Round>,
}

impl Totals {
    fn bytes(&self) -> u64 {
        self.rounds.iter().map(|r| r.bytes).sum()
    }

    fn wall(&self) -> Duration {
        self.rounds.iter().map(|r| r.wall).sum()
    }

    fn mb_per_s(&self) -> f64 {
        self.bytes() as f64 / 1e6 / self.wall().as_secs_f64()
    }

    fn latencies(&self) -> Vec<Duration> {
        let mut all: Vec<Duration> = self.rounds.iter().flat_map(|r| r.latencies.clone()).collect();
        all.sort_unstable();
        all
    }

    fn max_rss_mib(&self) -> f64 {
        self.rounds.iter().map(|r| r.rss_kib).max().unwrap_or(0) as f64 / 1024.0
    }

    fn cpu_per_gb(&self, cpu: impl Fn(&Round) -> Duration) -> f64 {
        let total: Duration = self.rounds.iter().map(cpu).sum();
        total.as_secs_f64() / (self.bytes() as f64 / 1e9)
    }
}

/// The warm load's results for both servers, and the peak RSS of each.
struct Warm {
    wucache: Totals,
    nginx: Option<Totals>,
    wucache_hwm_mib: f64,
    nginx_hwm_mib: f64,
    rss_before_mib: f64,
    /// This process's RSS after the nginx warm-up round.
    generator_rss_mib: Option<f64>,
}

fn warm_load(runtimes: &Runtimes, bench: &Bench, nginx: Option<&Nginx>, knobs: &Knobs) -> Warm {
    let targets: Vec<Arc<Target>> = bench.warm.iter().cloned().map(Arc::new).collect();
    let rss_before_mib = self_status_kib("VmRSS:") as f64 / 1024.0;
    println!();
    println!(
        "warm DO load: {} clients x {CONNECTIONS} keep-alive connections (no pipelining), each client",
        knobs.clients
    );
    println!(
        "downloading {} of the {} cached {} MB files in turn as shuffled closed 1 MiB ranges; rounds",
        knobs.per_client,
        targets.len(),
        knobs.file_mb,
    );
    println!("alternate wucache and nginx. RSS: wucache = this whole process, nginx = its processes summed;");
    println!("proc = this process (for nginx rounds: load generator, fake upstream and an idle wucache)");
    println!(
        "  {:<8} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>12} {:>12} {:>9} {:>9}",
        "server",
        "round",
        "MB",
        "wall s",
        "MB/s",
        "p50 ms",
        "p99 ms",
        "srv CPU s/GB",
        "gen CPU s/GB",
        "RSS MiB",
        "proc MiB"
    );
    let mut warm = Warm {
        wucache: Totals::default(),
        nginx: nginx.map(|_| Totals::default()),
        wucache_hwm_mib: 0.0,
        nginx_hwm_mib: 0.0,
        rss_before_mib,
        generator_rss_mib: None,
    };
    // Uncounted warm-up, nginx first: this process's RSS after it is the load generator's
    // (with the fake upstream and a wucache that has served no ranges yet).
    let warm_up = u64::MAX / 2;
    if let Some(nginx) = nginx {
        let round = nginx_round(runtimes, nginx, &targets, knobs, warm_up);
        print_round("nginx", "warm-up", &round);
        warm.generator_rss_mib = Some(round.process_rss_kib as f64 / 1024.0);
    }
    let round = wucache_round(runtimes, bench, &targets, knobs, warm_up);
    print_round("wucache", "warm-up", &round);
    for n in 0..knobs.rounds {
        let seed = 1_000 * n as u64;
        let label = (n + 1).to_string();
        let round = wucache_round(runtimes, bench, &targets, knobs, seed);
        print_round("wucache", &label, &round);
        warm.wucache.rounds.push(round);
        if let (Some(nginx), Some(totals)) = (nginx, warm.nginx.as_mut()) {
            let round = nginx_round(runtimes, nginx, &targets, knobs, seed);
            print_round("nginx", &label, &round);
            totals.rounds.push(round);
        }
    }
    warm.wucache_hwm_mib = self_status_kib("VmHWM:") as f64 / 1024.0;
    warm.nginx_hwm_mib = nginx.map_or(0.0, |n| n.status_kib("VmHWM:") as f64 / 1024.0);
    warm
}

fn wucache_round(
    runtimes: &Runtimes,
    bench: &Bench,
    targets: &[Arc<Target>],
    knobs: &Knobs,
    seed: u64,
) -> Round {
    let addr = bench.daemon.client_addr;
    let round = measured(runtimes, targets, addr, "wucache", knobs, seed, || {
        threads_cpu(SERVER_THREADS)
    });
    Round {
        rss_kib: round.process_rss_kib,
        ..round
    }
}

fn nginx_round(
    runtimes: &Runtimes,
    nginx: &Nginx,
    targets: &[Arc<Target>],
    knobs: &Knobs,
    seed: u64,
) -> Round {
    let round = measured(runtimes, targets, nginx.addr, "nginx", knobs, seed, || {
        nginx.cpu()
    });
    Round {
        rss_kib: nginx.status_kib("VmRSS:"),
        ..round
    }
}

/// A round with the CPU the server (`server_cpu` reads it) and the load generator used.
fn measured(
    runtimes: &Runtimes,
    targets: &[Arc<Target>],
    addr: SocketAddr,
    server: &'static str,
    knobs: &Knobs,
    seed: u64,
    server_cpu: impl Fn() -> Duration,
) -> Round {
    let cpu_before = (server_cpu(), threads_cpu(LOAD_THREADS));
    let round = runtimes
        .load
        .block_on(run_round(addr, server, targets, knobs, seed));
    Round {
        process_rss_kib: self_status_kib("VmRSS:"),
        server_cpu: server_cpu().saturating_sub(cpu_before.0),
        load_cpu: threads_cpu(LOAD_THREADS).saturating_sub(cpu_before.1),
        ..round
    }
}

fn print_round(server: &str, label: &str, round: &Round) {
    let mut latencies = round.latencies.clone();
    latencies.sort_unstable();
    let gb = round.bytes as f64 / 1e9;
    println!(
        "  {:<8} {:>7} {:>10.0} {:>8.2} {:>8.0} {:>8.2} {:>8.2} {:>12.2} {:>12.2} {:>9.0} {:>9.0}",
        server,
        label,
        round.bytes as f64 / 1e6,
        round.wall.as_secs_f64(),
        round.bytes as f64 / 1e6 / round.wall.as_secs_f64(),
        ms(quantile(&latencies, 0.50)),
        ms(quantile(&latencies, 0.99)),
        round.server_cpu.as_secs_f64() / gb,
        round.load_cpu.as_secs_f64() / gb,
        round.rss_kib as f64 / 1024.0,
        round.process_rss_kib as f64 / 1024.0,
    );
}

// ---- Cold miss -----------------------------------------------------------------------------

/// What the cold miss measured.
struct Cold {
    /// Each client's time to first byte and to its whole 1 MiB range.
    first_byte: Vec<Duration>,
    last_byte: Vec<Duration>,
    transfers: u64,
    /// The upstream's own time to first byte for the same request (median of a few).
    upstream_first_byte: Duration,
    /// The upstream sending the whole file, direct (time to last byte).
    upstream_whole: Duration,
}

/// All clients ask at once for the first 1 MiB of the uncached file (connections opened
/// first); then the upstream is timed directly with the same request, and with a whole GET.
async fn cold_miss(bench: &Bench, clients: usize) -> Cold {
    let addr = bench.daemon.client_addr;
    let target = Arc::new(bench.cold.clone());
    let end = PIECE.min(target.file.size) - 1;
    let mut senders = Vec::with_capacity(clients);
    for _ in 0..clients {
        senders.push(connect(addr).await);
    }
    let hex = wucache::model::hex(&target.file.sha1);
    let transfers_before = bench.upstream.stats().file(&hex).transfers;
    let mut tasks = tokio::task::JoinSet::new();
    for mut sender in senders {
        let target = Arc::clone(&target);
        tasks.spawn(async move {
            let request = Request::get(target.path.as_str())
                .header(HOST, addr.to_string())
                .header(RANGE, format!("bytes=0-{end}"))
                .body(Empty::new())
                .expect("request");
            sender.ready().await.expect("connection ready");
            let fetched = get_sent(&mut sender, request, true).await;
            fetched.check(&target.file, 0, end, "wucache (cold)");
            (fetched.first_byte, fetched.last_byte)
        });
    }
    let times = tasks.join_all().await;
    let transfers = bench.upstream.stats().file(&hex).transfers - transfers_before;
    let (upstream_first_byte, upstream_whole) = time_upstream(&bench.upstream.url(), &target, end).await;
    Cold {
        first_byte: sorted(times.iter().map(|t| t.0)),
        last_byte: sorted(times.iter().map(|t| t.1)),
        transfers,
        upstream_first_byte,
        upstream_whole,
    }
}

/// The upstream's time to first byte for `bytes=0-end` of the cold file's MUUrl (median of
/// [`UPSTREAM_SAMPLES`] fresh connections), and its time to send the whole file.
async fn time_upstream(url: &str, target: &Target, end: u64) -> (Duration, Duration) {
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("upstream address");
    let mu_url = &target.file.mu_url;
    let path = &mu_url[mu_url.find("://").map_or(0, |at| at + 3)..];
    let path = &path[path.find('/').unwrap_or(0)..];
    let mut first = Vec::new();
    for _ in 0..UPSTREAM_SAMPLES {
        let mut sender = connect(addr).await;
        let fetched = get(&mut sender, addr, path, Some((0, end))).await;
        fetched.check(&target.file, 0, end, "upstream");
        first.push(fetched.first_byte);
    }
    let mut sender = connect(addr).await;
    let whole = get(&mut sender, addr, path, None).await;
    assert_eq!(whole.length, target.file.size, "upstream whole file");
    (sorted(first.into_iter())[UPSTREAM_SAMPLES / 2], whole.last_byte)
}

fn print_cold(bench: &Bench, cold: &Cold) {
    let size_mb = bench.cold.file.size as f64 / 1e6;
    println!();
    println!(
        "cold miss: {} clients at once ask for the first 1 MiB range (bytes=0-1048575) of one uncached",
        cold.first_byte.len()
    );
    println!(
        "{size_mb:.0} MB file; the fake upstream serves it at full speed (generated on the fly, loopback)"
    );
    println!("  upstream transfers of that file: {} (target 1)", cold.transfers);
    println!(
        "  wucache time to first byte: min {:.0} ms, p50 {:.0} ms, max {:.0} ms; whole 1 MiB range p50 {:.0} ms",
        ms(cold.first_byte[0]),
        ms(quantile(&cold.first_byte, 0.5)),
        ms(quantile(&cold.first_byte, 1.0)),
        ms(quantile(&cold.last_byte, 0.5)),
    );
    println!(
        "  upstream direct, same request: time to first byte {:.2} ms (median of {UPSTREAM_SAMPLES});",
        ms(cold.upstream_first_byte)
    );
    println!(
        "  upstream direct, whole file: {:.0} ms ({:.0} MB/s)",
        ms(cold.upstream_whole),
        size_mb / cold.upstream_whole.as_secs_f64()
    );
    println!(
        "  ratio wucache p50 TTFB / upstream TTFB = {:.0}x; / upstream whole-file time = {:.2}x",
        ratio(quantile(&cold.first_byte, 0.5), cold.upstream_first_byte),
        ratio(quantile(&cold.first_byte, 0.5), cold.upstream_whole),
    );
    println!("  (wucache sends no byte before the whole file has arrived and its SHA-1 and SHA-256 are");
    println!("  verified and it is committed, so its first byte comes after a whole upstream transfer)");
}

// ---- nginx ---------------------------------------------------------------------------------

/// nginx serving the warm files from a root of hard links to wucache's committed files,
/// stopped on drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

/// Starts nginx on the warm files, or says why not.
fn start_nginx(bench: &Bench) -> Option<Nginx> {
    let binary = std::env::var("WUCACHE_BENCH_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into());
    println!();
    if !Path::new(&binary).exists() {
        println!("nginx: {binary} not found, nginx rows skipped (install: apt-get install -y nginx)");
        return None;
    }
    let files: Vec<(String, PathBuf)> = bench
        .warm
        .iter()
        .map(|t| (t.path.clone(), bench.committed(t)))
        .collect();
    match Nginx::start(&binary, &files) {
        Ok(nginx) => {
            println!(
                "nginx: {} ({}), 2 workers, sendfile on, on {} serving the same files (hard links)",
                binary,
                nginx_version(&binary),
                nginx.addr
            );
            Some(nginx)
        }
        Err(err) => {
            println!("nginx: could not start {binary}: {err}; nginx rows skipped");
            None
        }
    }
}

impl Nginx {
    fn start(binary: &str, files: &[(String, PathBuf)]) -> Result<Nginx, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        for (url_path, committed) in files {
            let link = dir.path().join("root").join(url_path.trim_start_matches('/'));
            std::fs::create_dir_all(link.parent().expect("parent")).map_err(|e| e.to_string())?;
            if std::fs::hard_link(committed, &link).is_err() {
                std::fs::copy(committed, &link).map_err(|e| e.to_string())?;
            }
        }
        let addr = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir.path(), addr)).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut nginx = Nginx {
            child,
            addr,
            _dir: dir,
        };
        nginx.wait_listening()?;
        Ok(nginx)
    }

    /// Waits until the port accepts connections (five seconds at most).
    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("error.log")).unwrap_or_default();
                return Err(format!("exited with {status}: {}", log.trim()));
            }
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("not listening after 5 s".into())
    }

    /// The master and its workers.
    fn processes(&self) -> Vec<u32> {
        let master = self.child.id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return vec![master];
        };
        let parent_of = |pid: &str| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 1..];
            after_name.split_whitespace().nth(1)?.parse::<u32>().ok()
        };
        let children = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|name| parent_of(name) == Some(master))
            .filter_map(|name| name.parse().ok());
        std::iter::once(master).chain(children).collect()
    }

    /// A `/proc/<pid>/status` field (kB) summed over the processes.
    fn status_kib(&self, key: &str) -> u64 {
        self.processes()
            .iter()
            .map(|pid| status_kib(&format!("/proc/{pid}/status"), key))
            .sum()
    }

    /// CPU time of the processes (each single-threaded).
    fn cpu(&self) -> Duration {
        self.processes()
            .iter()
            .filter_map(|pid| schedstat_ns(&format!("/proc/{pid}/schedstat")))
            .map(Duration::from_nanos)
            .sum()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Fast shutdown: the master stops its workers, then exits.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Debian's defaults where they matter (sendfile, tcp_nopush), two workers, no access log,
/// `reuseport` so the kernel spreads the connections over both workers, everything else in
/// the temp prefix.
fn nginx_conf(prefix: &Path, addr: SocketAddr) -> String {
    let p = prefix.display();
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        "{user}worker_processes 2;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n\
         \x20 default_type application/octet-stream;\n\
         \x20 client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n\
         \x20 uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
         \x20 server {{\n    listen {addr} reuseport;\n    root {p}/root;\n  }}\n}}\n"
    )
}

fn nginx_version(binary: &str) -> String {
    let output = Command::new(binary).arg("-v").output();
    let text = output.map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
    let text = text.unwrap_or_default();
    text.trim().trim_start_matches("nginx version: ").to_string()
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find(|l| l.starts_with("Uid:"));
    uid.and_then(|l| l.split_whitespace().nth(1)) == Some("0")
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

// ---- Summary -------------------------------------------------------------------------------

fn print_summary(warm: &Warm, cold: &Cold, knobs: &Knobs) {
    let w = &warm.wucache;
    let n = warm.nginx.as_ref();
    let w_lat = w.latencies();
    let n_lat = n.map(Totals::latencies).unwrap_or_default();
    let nginx_cell = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.1}"));
    let ratio_cell = |a: f64, b: Option<f64>| b.map_or("-".to_string(), |b| format!("{:.2}", a / b));
    let row = |name: &str, a: f64, b: Option<f64>| {
        println!(
            "  {name:<38} {a:>10.1} {:>10} {:>8}",
            nginx_cell(b),
            ratio_cell(a, b)
        );
    };
    println!();
    println!("summary ({})", knobs.command());
    println!(
        "  {:<38} {:>10} {:>10} {:>8}",
        "warm DO load", "wucache", "nginx", "w/n"
    );
    row(
        "throughput MB/s (all rounds)",
        w.mb_per_s(),
        n.map(Totals::mb_per_s),
    );
    let q = |lat: &[Duration], p: f64| (!lat.is_empty()).then(|| ms(quantile(lat, p)));
    row(
        "p50 ms per 1 MiB range",
        ms(quantile(&w_lat, 0.5)),
        q(&n_lat, 0.5),
    );
    row(
        "p99 ms per 1 MiB range",
        ms(quantile(&w_lat, 0.99)),
        q(&n_lat, 0.99),
    );
    let server_cpu = |t: &Totals| 1000.0 * t.cpu_per_gb(|r| r.server_cpu);
    row("server CPU ms per GB served", server_cpu(w), n.map(server_cpu));
    row(
        "RSS MiB after a round (max)",
        w.max_rss_mib(),
        n.map(Totals::max_rss_mib),
    );
    row(
        "peak RSS MiB (VmHWM)",
        warm.wucache_hwm_mib,
        n.map(|_| warm.nginx_hwm_mib),
    );
    let checked: usize = w
        .rounds
        .iter()
        .chain(n.iter().flat_map(|t| &t.rounds))
        .map(|r| r.fully_checked)
        .sum();
    println!(
        "  wucache RSS is this whole process: daemon + load generator + fake upstream ({:.0} MiB before",
        warm.rss_before_mib
    );
    if let Some(generator) = warm.generator_rss_mib {
        println!(
            "  the load, {generator:.0} MiB after the nginx warm-up round: the load generator's share before"
        );
        println!("  wucache served any range); nginx RSS sums its master and workers.");
    } else {
        println!("  the load).");
    }
    println!("  Every range checked at both ends, {checked} ranges byte for byte.");
    println!("  target: throughput ratio wucache/nginx >= 1.0");
    println!("  {:<38} {:>10} {:>10}", "cold miss", "wucache", "upstream");
    println!(
        "  {:<38} {:>10} {:>10}",
        "upstream transfers (target 1)", cold.transfers, "-"
    );
    println!(
        "  {:<38} {:>10.0} {:>10.2}",
        "time to first byte p50 ms",
        ms(quantile(&cold.first_byte, 0.5)),
        ms(cold.upstream_first_byte)
    );
    println!(
        "  {:<38} {:>10.0} {:>10.0}",
        "  vs upstream whole-file time ms",
        ms(quantile(&cold.first_byte, 0.5)),
        ms(cold.upstream_whole)
    );
}

// ---- Measurement helpers -------------------------------------------------------------------

fn sorted(times: impl Iterator<Item = Duration>) -> Vec<Duration> {
    let mut times: Vec<Duration> = times.collect();
    times.sort_unstable();
    times
}

/// The `q` quantile of sorted durations (nearest rank).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// A `kB` field of a `/proc/.../status` file.
fn status_kib(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn self_status_kib(key: &str) -> u64 {
    status_kib("/proc/self/status", key)
}

/// Time on CPU from a `schedstat` file.
fn schedstat_ns(path: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time of this process's live threads called `name`.
fn threads_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    tasks
        .filter_map(Result::ok)
        .filter(|task| read(task.path().join("comm")).trim() == name)
        .filter_map(|task| schedstat_ns(task.path().join("schedstat").to_str()?))
        .map(Duration::from_nanos)
        .sum()
}
