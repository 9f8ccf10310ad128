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
//!
//! Independent measurement: `cargo bench --bench content -- wrk` has wrk drive the same
//! pattern against `wucache serve` as a process of its own and nginx (see `wrk`).
//!
//! The files: `served` (the catalog with the benchmark's files, the daemon, the warm cache),
//! `load` (the Delivery Optimization client: connections, ranged GETs and their checks, one
//! round of load), `warm` (warm rounds against wucache and nginx), `cold` (the cold miss),
//! `nginx` (the nginx comparison server), `wrk` and `process` (the wrk mode and `wucache
//! serve` as a child process, with `do_ranges.lua`, wrk's script); this file the knobs, the
//! runtimes and the summary.

#[path = "../support/mod.rs"]
mod support;

mod cold;
mod load;
mod nginx;
mod process;
mod served;
mod warm;
mod wrk;

use cold::{cold_miss, print_cold, Cold};
use nginx::start_nginx;
use served::Bench;
use std::time::Duration;
use support::setup::{knob, runtime, LOAD_THREADS, SERVER_THREADS};
use support::timings::{ms, quantile};
use tokio::runtime::Runtime;
use warm::{warm_load, Totals, Warm};

const UPSTREAM_THREADS: &str = "fake-upstream";

fn main() {
    if std::env::args().skip(1).any(|arg| arg == "wrk") {
        wrk::main();
        return;
    }
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
        let knob = |name: &str, default: usize| knob(name, default).max(1);
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
