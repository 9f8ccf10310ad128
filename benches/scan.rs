//! Scan benchmark (prints figures; asserts nothing): full staged scans, as the Windows Update
//! Agent runs them, of a synthetic ~50,000-revision catalog with 2,000 approved updates.
//!
//! - Server CPU per full scan: one real scan is recorded, then its byte-identical requests are
//!   replayed through `service::handle` (plus the Xpress compression the HTTP layer adds for
//!   Win11), so no client-side work is counted.
//! - Full scans per second: one replaying thread per core, for a fixed time.
//! - SyncUpdates latency: many simulated machines over HTTP on loopback, each handshaking
//!   first (untimed) and then running one full scan at the same moment as all the others.
//!
//! Run: `cargo bench --bench scan`. Quick run: `WUCACHE_BENCH_UPDATES=5000
//! WUCACHE_BENCH_CLIENTS=100 WUCACHE_BENCH_SECONDS=2 cargo bench --bench scan`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;
use wucache::app::App;
use wucache::approval::Offer;
use wucache::daemon::Daemon;
use wucache::plan::Graph;
use wucache::protocol::wusp::messages as msg;
use wucache::protocol::wusp::{
    envelope, AuthorizationCookie, ComputerInfo, Cookie, DeploymentAction, GetAuthorizationCookieRequest,
    GetConfigRequest, GetCookieRequest, Operation, RegisterComputerRequest, SyncUpdateParameters,
    SyncUpdatesRequest,
};
use wucache::protocol::{soap, xml::Element, xpress};
use wucache::snapshot::Snapshot;
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};
use wucache_testkit::synth::{generate, SynthOptions};

/// Top-level updates approved; the rest of the catalog is excluded.
const APPROVED: usize = 2_000;
/// Warm scans replayed sequentially for the CPU figure.
const CPU_SCANS: usize = 50;
/// Cold scans (each right after a snapshot build) for the CPU figure.
const COLD_SCANS: usize = 3;
/// File descriptors kept free for everything but the simulated machines' connections.
const SPARE_FDS: usize = 256;

fn main() {
    let knobs = Knobs::from_env();
    println!("wucache scan benchmark (everything in one process on this machine's shared cores)");
    println!("command: {}", knobs.command());
    let server = runtime(SERVER_THREADS);
    let served = server.block_on(serve(knobs.updates));
    let app = &served.daemon.app;
    let (calls, machine) = record_scan(app, 0);
    print_catalog(&served, &machine, calls.len());
    print_cpu(&served, &calls);
    throughput(app, knobs.seconds);
    print_latency(&served, knobs.clients);
    print_targets();
    server.block_on(served.daemon.stop());
}

/// Sizes set from the environment.
struct Knobs {
    /// Software update documents generated (categories and detectoids come on top).
    updates: usize,
    clients: usize,
    seconds: u64,
}

impl Knobs {
    fn from_env() -> Knobs {
        let knob = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        Knobs {
            updates: knob("WUCACHE_BENCH_UPDATES", 49_950),
            clients: knob("WUCACHE_BENCH_CLIENTS", 1_000).max(1),
            seconds: knob("WUCACHE_BENCH_SECONDS", 10).max(1) as u64,
        }
    }

    fn command(&self) -> String {
        format!(
            "WUCACHE_BENCH_UPDATES={} WUCACHE_BENCH_CLIENTS={} WUCACHE_BENCH_SECONDS={} cargo bench --bench scan",
            self.updates, self.clients, self.seconds
        )
    }
}

/// Names of the daemon's and the load generator's runtime threads (CPU is counted by name).
const SERVER_THREADS: &str = "wucache-server";
const LOAD_THREADS: &str = "load-generator";

/// A two-worker tokio runtime whose threads are called `name`.
fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---- Set-up ------------------------------------------------------------------------------

/// The daemon serving the synthetic catalog with the benchmark's approvals.
struct Served {
    daemon: Daemon,
    revisions: usize,
    /// Local ids of the approved top-level updates.
    approved: HashSet<i32>,
    _data: TempDir,
}

/// Mirrors a synthetic catalog from the fake upstream, starts the daemon on it and serves
/// a snapshot with exactly the chosen approvals.
async fn serve(updates: usize) -> Served {
    let started = Instant::now();
    let catalog = generate(&SynthOptions {
        seed: 2026,
        updates,
        ..SynthOptions::default()
    });
    let docs: Vec<UpstreamDoc> = catalog.docs.iter().map(UpstreamDoc::from_synth).collect();
    let upstream = FakeUpstream::start(docs).await.expect("fake upstream");
    let data = tempfile::tempdir().expect("temp dir");
    let config = config(&upstream.url(), &data);
    {
        let store = wucache::store::Store::open(data.path()).expect("store");
        wucache::upstream::run_sync(&store, &config, &wucache::upstream::Quiet)
            .await
            .expect("sync from the fake upstream");
    }
    upstream.stop().await;
    let daemon = Daemon::start(config).await.expect("daemon");
    while !daemon.app.is_ready() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let approved = choose_approved(&daemon.app);
    daemon.app.set_snapshot(snapshot(&daemon.app, &approved));
    println!(
        "set-up (generate, mirror, start, plan): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Served {
        daemon,
        revisions: catalog.docs.len(),
        approved,
        _data: data,
    }
}

fn config(upstream: &str, data: &TempDir) -> wucache::config::Config {
    let mut config = wucache::config::Config::default();
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

/// The first [`APPROVED`] non-expired top-level updates by update id (deterministic for a
/// seed, and spread over every product and classification).
fn choose_approved(app: &App) -> HashSet<i32> {
    let records = app.store.latest_records().expect("latest records");
    let graph = Graph::build(&records);
    let mut candidates: Vec<_> = graph
        .nodes
        .iter()
        .filter(|n| n.is_top_level() && !n.expired)
        .collect();
    candidates.sort_by_key(|n| n.update_id);
    candidates.iter().take(APPROVED).map(|n| n.local_id).collect()
}

/// A fresh snapshot (empty Core fragment cache) approving exactly `approved`.
fn snapshot(app: &App, approved: &HashSet<i32>) -> Snapshot {
    Snapshot::build_with(&app.store, unix_now(), |record| {
        if approved.contains(&record.local_id) {
            Offer::Install
        } else {
            Offer::NotSent
        }
    })
    .expect("snapshot")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

// ---- The simulated Windows Update Agent -----------------------------------------------------

/// Where a machine is in its scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    GetConfig,
    Authorize,
    GetCookie,
    Register,
    Software { first: bool },
    Drivers,
    Done,
}

/// One simulated machine as a sequence of SOAP calls, each built from the answers so far:
/// the handshake, the staged SyncUpdates loop (every non-leaf returned counts as installed,
/// every leaf as cached; repeat while truncated or a non-leaf came back) and the driver pass.
/// The same loop as `WindowsClient::scan` in `tests/it/client.rs`, without the checks.
struct Machine {
    client_id: String,
    step: Step,
    last_change: String,
    auth: Option<AuthorizationCookie>,
    cookie: Option<Cookie>,
    installed: Vec<i32>,
    other: Vec<i32>,
    /// UpdateInfos received (NewUpdates, all pages).
    delivered: usize,
    /// SyncUpdates calls, the driver pass included.
    sync_calls: usize,
}

impl Machine {
    fn new(n: usize) -> Machine {
        Machine {
            client_id: format!("{n:08x}-5ca1-4e00-8000-{:012x}", rand::random::<u64>() >> 16),
            step: Step::GetConfig,
            last_change: String::new(),
            auth: None,
            cookie: None,
            installed: Vec::new(),
            other: Vec::new(),
            delivered: 0,
            sync_calls: 0,
        }
    }

    fn dns_name(&self) -> String {
        format!("pc-{}.corp.example", &self.client_id[..8])
    }

    /// True once the handshake is done.
    fn is_scanning(&self) -> bool {
        matches!(self.step, Step::Software { .. } | Step::Drivers)
    }

    /// The next call (operation and SOAP envelope), or `None` when the scan is over.
    fn request(&self) -> Option<(Operation, String)> {
        let (op, xml) = match self.step {
            Step::GetConfig => (
                Operation::GetConfig,
                msg::build_get_config_request(&GetConfigRequest {
                    protocol_version: "2.90".into(),
                }),
            ),
            Step::Authorize => (
                Operation::GetAuthorizationCookie,
                msg::build_get_authorization_cookie_request(&GetAuthorizationCookieRequest {
                    client_id: Some(self.client_id.clone()),
                    target_group_name: None,
                    dns_name: Some(self.dns_name()),
                }),
            ),
            Step::GetCookie => (
                Operation::GetCookie,
                msg::build_get_cookie_request(&self.cookie_request()),
            ),
            Step::Register => (
                Operation::RegisterComputer,
                msg::build_register_computer_request(&RegisterComputerRequest {
                    cookie: self.cookie.clone(),
                    computer: windows11(self.dns_name()),
                }),
            ),
            Step::Software { first } => (Operation::SyncUpdates, self.software_request(first)),
            Step::Drivers => (Operation::SyncUpdates, self.driver_request()),
            Step::Done => return None,
        };
        Some((op, envelope::request(&xml)))
    }

    fn cookie_request(&self) -> GetCookieRequest {
        GetCookieRequest {
            auth_cookies: self.auth.iter().cloned().collect(),
            old_cookie: Some(Cookie {
                expiration: "2026-10-04T15:03:36Z".into(),
                encrypted_data: None,
            }),
            last_change: Some(self.last_change.clone()),
            current_time: Some("2026-10-04T15:03:36Z".into()),
            protocol_version: Some("2.90".into()),
        }
    }

    fn software_request(&self, first: bool) -> String {
        self.sync_request(SyncUpdateParameters {
            installed_non_leaf: (!first).then(|| self.installed.clone()),
            other_cached: (!first).then(|| self.other.clone()),
            need_two_group_out_of_scope: true,
            ..SyncUpdateParameters::default()
        })
    }

    fn driver_request(&self) -> String {
        self.sync_request(SyncUpdateParameters {
            installed_non_leaf: Some(self.installed.clone()),
            skip_software_sync: true,
            system_spec_present: true,
            ..SyncUpdateParameters::default()
        })
    }

    fn sync_request(&self, parameters: SyncUpdateParameters) -> String {
        msg::build_sync_updates_request(&SyncUpdatesRequest {
            cookie: self.cookie.clone(),
            parameters: Some(parameters),
        })
    }

    /// Takes the answer to the call `request` last gave.
    fn answer(&mut self, response: &Element) {
        self.step = match self.step {
            Step::GetConfig => {
                let config = msg::parse_get_config_response(response).expect("Config");
                self.last_change = config.last_change;
                Step::Authorize
            }
            Step::Authorize => {
                let auth = msg::parse_get_authorization_cookie_response(response);
                self.auth = Some(auth.expect("AuthorizationCookie"));
                Step::GetCookie
            }
            Step::GetCookie => {
                self.cookie = Some(msg::parse_get_cookie_response(response).expect("Cookie"));
                Step::Register
            }
            Step::Register => Step::Software { first: true },
            Step::Software { .. } => self.take_page(response),
            Step::Drivers => {
                self.sync_calls += 1;
                Step::Done
            }
            Step::Done => Step::Done,
        };
    }

    /// One software page: remember what came, decide whether to ask again.
    fn take_page(&mut self, response: &Element) -> Step {
        let info = msg::parse_sync_updates_response(response).expect("SyncInfo");
        self.sync_calls += 1;
        assert!(self.sync_calls < 10_000, "the scan does not converge");
        self.cookie = Some(info.new_cookie);
        self.delivered += info.new_updates.len();
        let mut non_leaf = false;
        for update in &info.new_updates {
            if update.is_leaf {
                self.other.push(update.id);
            } else {
                non_leaf = true;
                self.installed.push(update.id);
            }
        }
        let gone: HashSet<i32> = info.out_of_scope_revision_ids.into_iter().collect();
        self.installed.retain(|id| !gone.contains(id));
        self.other.retain(|id| !gone.contains(id));
        if info.truncated || non_leaf {
            Step::Software { first: false }
        } else {
            Step::Drivers
        }
    }
}

/// A Windows 11 25H2 machine, as the captured client registered (native-scan 000004).
fn windows11(dns_name: String) -> ComputerInfo {
    let text = |s: &str| s.to_string();
    ComputerInfo {
        dns_name,
        os_major_version: text("10"),
        os_minor_version: text("0"),
        os_build_number: text("26200"),
        os_service_pack_major_number: text("0"),
        os_service_pack_minor_number: text("0"),
        os_locale: text("en-US"),
        computer_manufacturer: text("QEMU"),
        computer_model: text("Standard PC (Q35 + ICH9, 2009)"),
        bios_version: text("unknown"),
        bios_name: text("unknown"),
        bios_release_date: text("2022-02-02T00:00:00Z"),
        processor_architecture: text("AMD64"),
        suite_mask: text("256"),
        old_product_type: text("1"),
        new_product_type: text("48"),
        system_metrics: text("0"),
        client_version_major_number: text("1507"),
        client_version_minor_number: text("2601"),
        client_version_build_number: text("30012"),
        client_version_qfe_number: text("0"),
        os_description: text("Windows 10 Pro"),
        oem: text("QEMU"),
        device_type: text("Standard PC (Q35 + ICH9, 2009)"),
        firmware_version: text("unknown"),
        mobile_operator: text("Not Present"),
    }
}

// ---- In-process: the server side only -------------------------------------------------------

/// One recorded request, ready to replay.
struct Call {
    action: String,
    body: String,
}

/// What the server does for one request: `service::handle` with a fresh context, then the
/// Xpress compression the HTTP layer adds for clients that accept it (Win11 does).
fn serve_call(app: &App, action: &str, body: &str) -> String {
    let context = wucache::server::soap::Context {
        app,
        snapshot: app.snapshot(),
        content_base: "http://bench".into(),
        now: unix_now(),
    };
    let (xml, is_fault) = wucache::server::soap::handle(&context, body, Some(action));
    assert!(!is_fault, "the server answered a fault: {xml}");
    std::hint::black_box(xpress::compress(xml.as_bytes()));
    xml
}

/// Runs one machine's whole scan in-process and keeps its requests for replay.
fn record_scan(app: &App, n: usize) -> (Vec<Call>, Machine) {
    let mut machine = Machine::new(n);
    let mut calls = Vec::new();
    while let Some((op, body)) = machine.request() {
        let action = envelope::soap_action(op);
        let xml = serve_call(app, &action, &body);
        machine.answer(&soap::parse_response(&xml).expect("SOAP answer"));
        calls.push(Call { action, body });
    }
    (calls, machine)
}

fn replay(app: &App, calls: &[Call]) {
    for call in calls {
        std::hint::black_box(serve_call(app, &call.action, &call.body));
    }
}

/// Handshake calls at the start of every recorded scan.
const HANDSHAKE_CALLS: usize = 4;

/// CPU and wall time in milliseconds per run.
#[derive(Clone, Copy, Default)]
struct Cost {
    thread_cpu_ms: f64,
    process_cpu_ms: f64,
    wall_ms: f64,
}

impl Cost {
    fn plus(self, other: Cost) -> Cost {
        Cost {
            thread_cpu_ms: self.thread_cpu_ms + other.thread_cpu_ms,
            process_cpu_ms: self.process_cpu_ms + other.process_cpu_ms,
            wall_ms: self.wall_ms + other.wall_ms,
        }
    }
}

/// The cost of `work`, divided by `runs`.
fn cost(runs: usize, work: impl FnOnce()) -> Cost {
    let (thread, process, wall) = (thread_cpu(), process_cpu(), Instant::now());
    work();
    let per_run = |d: Duration| d.as_secs_f64() * 1000.0 / runs as f64;
    Cost {
        thread_cpu_ms: per_run(thread_cpu().saturating_sub(thread)),
        process_cpu_ms: per_run(process_cpu().saturating_sub(process)),
        wall_ms: per_run(wall.elapsed()),
    }
}

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, ns; the kernel updates it
/// at least every scheduler tick, so one reading may lag by a tick).
fn thread_cpu() -> Duration {
    schedstat(0)
}

/// Time the calling thread was runnable but waited for a CPU (taken by other threads or
/// other processes on the shared cores).
fn thread_run_queue_wait() -> Duration {
    schedstat(1)
}

fn schedstat(field: usize) -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(field)?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// CPU time of the whole process, all threads (utime + stime of `/proc/self/stat`, in clock
/// ticks of 10 ms: `getconf CLK_TCK` is 100 on Linux).
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let fields: Vec<u64> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

fn print_catalog(served: &Served, machine: &Machine, calls: usize) {
    let snapshot = served.daemon.app.snapshot();
    let count = |action| {
        let entries = snapshot.scope.entries.iter();
        entries.filter(|e| e.action == action).count()
    };
    println!();
    println!("catalog");
    println!("  {:<32}  {}", "revisions mirrored", served.revisions);
    println!(
        "  {:<32}  {}",
        "updates (newest revision each)",
        snapshot.records.len()
    );
    println!(
        "  {:<32}  {}",
        "approved top-level updates",
        snapshot.approved_count()
    );
    println!(
        "  {:<32}  {} ({} approved + {} bundle members + {} categories/detectoids)",
        "UpdateInfos per full scan",
        machine.delivered,
        count(DeploymentAction::Install),
        count(DeploymentAction::Bundle),
        count(DeploymentAction::Evaluate)
    );
    println!(
        "  {:<32}  {} ({} software pages + 1 driver pass; plus {} handshake calls)",
        "SyncUpdates calls per full scan",
        machine.sync_calls,
        machine.sync_calls - 1,
        calls - machine.sync_calls
    );
}

fn print_cpu(served: &Served, calls: &[Call]) {
    let app = &served.daemon.app;
    let (handshake, scan) = calls.split_at(HANDSHAKE_CALLS);
    let mut cold = Cost::default();
    for _ in 0..COLD_SCANS {
        app.set_snapshot(snapshot(app, &served.approved));
        cold = cold.plus(cost(COLD_SCANS, || replay(app, calls)));
    }
    let handshake_cost = cost(CPU_SCANS, || (0..CPU_SCANS).for_each(|_| replay(app, handshake)));
    let scan_cost = cost(CPU_SCANS, || (0..CPU_SCANS).for_each(|_| replay(app, scan)));
    let full = cost(CPU_SCANS, || (0..CPU_SCANS).for_each(|_| replay(app, calls)));
    println!();
    println!("server CPU per full scan: in-process, one thread, the recorded scan's requests replayed");
    println!("through service::handle + Xpress (no HTTP, no client work); milliseconds per scan");
    println!(
        "  {:<44} {:>10} {:>11} {:>8}",
        "", "thread CPU", "process CPU", "wall"
    );
    let row = |label: &str, c: Cost| {
        println!(
            "  {label:<44} {:>10.2} {:>11.2} {:>8.2}",
            c.thread_cpu_ms, c.process_cpu_ms, c.wall_ms
        );
    };
    row(
        &format!("handshake only ({HANDSHAKE_CALLS} calls), mean of {CPU_SCANS}"),
        handshake_cost,
    );
    row(
        &format!("SyncUpdates only ({} calls), mean of {CPU_SCANS}", scan.len()),
        scan_cost,
    );
    row(&format!("full scan, warm, mean of {CPU_SCANS}"), full);
    row(&format!("full scan, cold, mean of {COLD_SCANS}"), cold);
    println!("  thread CPU: the replaying thread (/proc/thread-self/schedstat); process CPU: all");
    println!("  threads incl. sled's flusher (/proc/self/stat, 10 ms ticks); cold: first scan of a new");
    println!("  snapshot, Core fragments not cached yet");
}

/// Full scans per second with one replaying thread per core.
fn throughput(app: &App, seconds: u64) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let recorded: Vec<Vec<Call>> = (0..threads).map(|n| record_scan(app, 1 + n).0).collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let total = std::thread::scope(|scope| {
        let workers: Vec<_> = recorded
            .iter()
            .map(|calls| scope.spawn(move || replay_until(app, calls, deadline)))
            .collect();
        let done = workers.into_iter().map(|w| w.join().expect("worker"));
        done.fold(Replayed::default(), Replayed::plus)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_ms = total.cpu.as_secs_f64() * 1000.0 / total.scans.max(1) as f64;
    println!();
    println!("full scans per second: {threads} threads replaying full scans (handshake included) in-process");
    println!(
        "  {} scans in {elapsed:.1} s = {:.0} scans/s; {cpu_ms:.2} ms thread CPU per scan",
        total.scans,
        total.scans as f64 / elapsed,
    );
    println!(
        "  the threads waited for a CPU (taken by other processes) {:.0}% of the time;",
        100.0 * total.wait.as_secs_f64() / (threads as f64 * elapsed)
    );
    println!(
        "  at {cpu_ms:.2} ms per scan, {threads} cores of our own would give {:.0} scans/s",
        threads as f64 * 1000.0 / cpu_ms
    );
}

/// What one replaying thread did.
#[derive(Default)]
struct Replayed {
    scans: usize,
    cpu: Duration,
    wait: Duration,
}

impl Replayed {
    fn plus(self, other: Replayed) -> Replayed {
        Replayed {
            scans: self.scans + other.scans,
            cpu: self.cpu + other.cpu,
            wait: self.wait + other.wait,
        }
    }
}

/// Replays a scan until `deadline`.
fn replay_until(app: &App, calls: &[Call], deadline: Instant) -> Replayed {
    let (cpu, wait) = (thread_cpu(), thread_run_queue_wait());
    let mut scans = 0;
    while Instant::now() < deadline {
        replay(app, calls);
        scans += 1;
    }
    Replayed {
        scans,
        cpu: thread_cpu().saturating_sub(cpu),
        wait: thread_run_queue_wait().saturating_sub(wait),
    }
}

// ---- Over HTTP: many machines at once ------------------------------------------------------

type Http = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// A simulated machine with its own HTTP connection pool.
struct Remote {
    machine: Machine,
    http: Http,
    addr: SocketAddr,
    /// Every SyncUpdates call's time from sending the request to the last body byte.
    latencies: Vec<Duration>,
}

impl Remote {
    fn new(n: usize, addr: SocketAddr) -> Remote {
        Remote {
            machine: Machine::new(n),
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
            addr,
            latencies: Vec::new(),
        }
    }

    /// Runs the handshake (`scan` false) or the rest of the scan (`scan` true).
    async fn run(mut self, scan: bool) -> Remote {
        while let Some((op, body)) = self.machine.request() {
            if !scan && self.machine.is_scanning() {
                break;
            }
            let started = Instant::now();
            let (bytes, compressed) = self.post(op, body).await;
            if op == Operation::SyncUpdates {
                self.latencies.push(started.elapsed());
            }
            let bytes = if compressed {
                xpress::decompress(&bytes, 256 << 20).expect("xpress body")
            } else {
                bytes.to_vec()
            };
            let text = String::from_utf8(bytes).expect("UTF-8 answer");
            match soap::parse_response(&text) {
                Ok(element) => self.machine.answer(&element),
                Err(err) => panic!("{op:?} failed over HTTP: {err}"),
            }
        }
        self
    }

    /// POSTs a SOAP call as Win11 does (quoted SOAPAction, `Accept-Encoding: xpress`).
    async fn post(&self, op: Operation, body: String) -> (Bytes, bool) {
        let path = match op {
            Operation::GetAuthorizationCookie => "/SimpleAuthWebService/SimpleAuth.asmx",
            _ => "/ClientWebService/client.asmx",
        };
        let request = hyper::Request::post(format!("http://{}{path}", self.addr))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", envelope::soap_action(op))
            .header("Accept-Encoding", "xpress")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let response = self.http.request(request).await.expect("HTTP exchange");
        let compressed = response
            .headers()
            .get("content-encoding")
            .is_some_and(|v| v == "xpress");
        let body = response.into_body().collect().await.expect("HTTP body");
        (body.to_bytes(), compressed)
    }
}

/// What the scans over HTTP measured.
struct LoadRun {
    latencies: Vec<Duration>,
    wall: Duration,
    server_cpu: Duration,
    generator_cpu: Duration,
    process_cpu: Duration,
}

/// Handshakes every machine (untimed), then starts all their scans at once.
async fn load(addr: SocketAddr, machines: usize) -> LoadRun {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..machines {
        tasks.spawn(Remote::new(1_000 + n, addr).run(false));
    }
    let ready = tasks.join_all().await;
    let cpu = (
        threads_cpu(SERVER_THREADS),
        threads_cpu(LOAD_THREADS),
        process_cpu(),
    );
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for remote in ready {
        tasks.spawn(remote.run(true));
    }
    let done = tasks.join_all().await;
    LoadRun {
        wall: started.elapsed(),
        latencies: done.into_iter().flat_map(|r| r.latencies).collect(),
        server_cpu: threads_cpu(SERVER_THREADS).saturating_sub(cpu.0),
        generator_cpu: threads_cpu(LOAD_THREADS).saturating_sub(cpu.1),
        process_cpu: process_cpu().saturating_sub(cpu.2),
    }
}

fn print_latency(served: &Served, clients: usize) {
    let limit = open_files_limit();
    let machines = clients.min(limit.saturating_sub(SPARE_FDS) / 2).max(1);
    let generator = runtime(LOAD_THREADS);
    let mut run = generator.block_on(load(served.daemon.client_addr, machines));
    drop(generator);
    let latencies = &mut run.latencies;
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| {
        let rank = (q * latencies.len() as f64).ceil() as usize;
        ms(latencies[rank.clamp(1, latencies.len()) - 1])
    };
    println!();
    println!(
        "SyncUpdates latency under load: {machines} simulated machines over HTTP/1.1 on loopback (asked"
    );
    println!(
        "for {clients}; open-files limit {limit}), each handshaking first (untimed), then all running one"
    );
    println!("full scan at once; the load generator (2 tokio workers) shares the 2 cores with the server");
    println!(
        "  {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>13}",
        "calls", "p50 ms", "p99 ms", "max ms", "wall s", "scans/s", "peak RSS MiB"
    );
    println!(
        "  {:>9} {:>9.1} {:>9.1} {:>9.1} {:>10.2} {:>10.0} {:>13.0}",
        latencies.len(),
        at(0.50),
        at(0.99),
        latencies.last().map_or(0.0, |d| ms(*d)),
        run.wall.as_secs_f64(),
        machines as f64 / run.wall.as_secs_f64(),
        peak_rss_mib()
    );
    println!(
        "  CPU while scanning: server threads {:.1} s ({:.1} ms per scan, HTTP and Xpress included),",
        run.server_cpu.as_secs_f64(),
        ms(run.server_cpu) / machines as f64
    );
    println!(
        "  load generator {:.1} s, whole process {:.1} s",
        run.generator_cpu.as_secs_f64(),
        run.process_cpu.as_secs_f64()
    );
}

/// CPU time of this process's live threads called `name` (`/proc/self/task/*/`).
fn threads_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    tasks
        .filter_map(Result::ok)
        .filter(|task| read(task.path().join("comm")).trim() == name)
        .filter_map(|task| {
            read(task.path().join("schedstat"))
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .map(Duration::from_nanos)
        .sum()
}

/// The soft `Max open files` limit of this process.
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(1_024)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn print_targets() {
    println!();
    println!("targets: <= 20 ms server CPU per full scan, >= 500 full scans/s on 2 cores, SyncUpdates");
    println!("p99 <= 100 ms with 1,000 concurrent clients");
}
