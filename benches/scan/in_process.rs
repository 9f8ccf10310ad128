//! In-process, the server side only: a recorded scan's requests replayed through
//! `server::soap::handle` plus Xpress, for the server CPU per full scan and full scans per
//! second.

use crate::machine::Machine;
use crate::support::proc_stats::{process_cpu, thread_cpu, thread_run_queue_wait};
use crate::{snapshot, unix_now, Served};
use std::time::{Duration, Instant};
use wucache::app::App;
use wucache::protocol::wusp::envelope;
use wucache::protocol::{soap, xpress};

/// Warm scans replayed sequentially for the CPU figure.
const CPU_SCANS: usize = 50;
/// Cold scans (each right after a snapshot build) for the CPU figure.
const COLD_SCANS: usize = 3;

/// One recorded request, ready to replay.
pub(crate) struct Call {
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
        peer: None,
        xpress: false,
    };
    let (xml, is_fault) = wucache::server::soap::handle(&context, body, Some(action));
    assert!(!is_fault, "the server answered a fault: {xml}");
    std::hint::black_box(xpress::compress(xml.as_bytes()));
    xml
}

/// Runs one machine's whole scan in-process and keeps its requests for replay.
pub(crate) fn record_scan(app: &App, n: usize) -> (Vec<Call>, Machine) {
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
pub(crate) fn print_cpu(served: &Served, calls: &[Call]) {
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
pub(crate) fn throughput(app: &App, seconds: u64) {
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
