//! Scan benchmark (prints figures; asserts nothing): full staged scans, as the Windows Update
//! Agent runs them, of a synthetic ~50,000-revision catalog with 2,000 approved updates.
//!
//! - Server CPU per full scan: one real scan is recorded, then its byte-identical requests are
//!   replayed through `server::soap::handle` (plus the Xpress compression the HTTP layer adds
//!   for Win11), so no client-side work is counted.
//! - Full scans per second: one replaying thread per core, for a fixed time.
//! - SyncUpdates latency: many simulated machines over HTTP on loopback, each handshaking
//!   first (untimed) and then running one full scan at the same moment as all the others.
//!
//! Run: `cargo bench --bench scan`. Quick run: `WUCACHE_BENCH_UPDATES=5000
//! WUCACHE_BENCH_CLIENTS=100 WUCACHE_BENCH_SECONDS=2 cargo bench --bench scan`.
//!
//! The files: `machine` (the simulated Windows Update Agent), `in_process` (server CPU per
//! scan and scans per second, replaying a recorded scan), `over_http` (SyncUpdates latency
//! with many machines at once); this file the knobs, the set-up and the catalog figures.

#[path = "../support/mod.rs"]
mod support;

mod in_process;
mod machine;
mod over_http;

use in_process::{print_cpu, record_scan, throughput};
use machine::Machine;
use over_http::print_latency;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::setup::{config, knob, mirror, runtime, synthetic_upstream, SERVER_THREADS};
use tempfile::TempDir;
use wucache::app::App;
use wucache::approval::Offer;
use wucache::daemon::Daemon;
use wucache::plan::Graph;
use wucache::protocol::wusp::DeploymentAction;
use wucache::snapshot::Snapshot;

/// Top-level updates approved; the rest of the catalog is excluded.
const APPROVED: usize = 2_000;

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
    let (catalog, upstream) = synthetic_upstream(updates).await;
    let data = tempfile::tempdir().expect("temp dir");
    let config = config(&upstream.url(), &data);
    mirror(&config).await;
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
fn print_targets() {
    println!();
    println!("targets: <= 20 ms server CPU per full scan, >= 500 full scans/s on 2 cores, SyncUpdates");
    println!("p99 <= 100 ms with 1,000 concurrent clients");
}
