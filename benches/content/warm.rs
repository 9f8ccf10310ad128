//! Warm serving: rounds of Delivery Optimization load against wucache and nginx in turn,
//! with the CPU of each server and of the load generator, and RSS after each round.

use crate::load::{run_round, Round, CONNECTIONS};
use crate::nginx::Nginx;
use crate::served::{Bench, Target};
use crate::support::proc_stats::{peak_rss_mib, self_status_kib, threads_cpu};
use crate::support::setup::{LOAD_THREADS, SERVER_THREADS};
use crate::support::timings::{ms, quantile};
use crate::{Knobs, Runtimes};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// All rounds of one server, merged.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) rounds: Vec<Round>,
}

impl Totals {
    fn bytes(&self) -> u64 {
        self.rounds.iter().map(|r| r.bytes).sum()
    }

    fn wall(&self) -> Duration {
        self.rounds.iter().map(|r| r.wall).sum()
    }

    pub(crate) fn mb_per_s(&self) -> f64 {
        self.bytes() as f64 / 1e6 / self.wall().as_secs_f64()
    }

    pub(crate) fn latencies(&self) -> Vec<Duration> {
        let mut all: Vec<Duration> = self.rounds.iter().flat_map(|r| r.latencies.clone()).collect();
        all.sort_unstable();
        all
    }

    pub(crate) fn max_rss_mib(&self) -> f64 {
        self.rounds.iter().map(|r| r.rss_kib).max().unwrap_or(0) as f64 / 1024.0
    }

    pub(crate) fn cpu_per_gb(&self, cpu: impl Fn(&Round) -> Duration) -> f64 {
        let total: Duration = self.rounds.iter().map(cpu).sum();
        total.as_secs_f64() / (self.bytes() as f64 / 1e9)
    }
}

/// The warm load's results for both servers, and the peak RSS of each.
pub(crate) struct Warm {
    pub(crate) wucache: Totals,
    pub(crate) nginx: Option<Totals>,
    pub(crate) wucache_hwm_mib: f64,
    pub(crate) nginx_hwm_mib: f64,
    pub(crate) rss_before_mib: f64,
    /// This process's RSS after the nginx warm-up round.
    pub(crate) generator_rss_mib: Option<f64>,
}

pub(crate) fn warm_load(runtimes: &Runtimes, bench: &Bench, nginx: Option<&Nginx>, knobs: &Knobs) -> Warm {
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
    warm.wucache_hwm_mib = peak_rss_mib();
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
