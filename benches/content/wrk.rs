//! The independent measurement (`cargo bench --bench content -- wrk`): wrk, not this
//! process, drives Delivery Optimization's pattern (`do_ranges.lua`: each wrk thread one
//! client with 7 keep-alive connections, shuffled closed 1 MiB-aligned ranges, every response
//! checked for 206, `Content-Range` and `Content-Length`) against `wucache serve` running as
//! its own process (the real binary, default configuration but for ports, data folder and
//! scope) and nginx on hard links to the very same committed files; rounds alternate between
//! them. With `WUCACHE_BENCH_BASELINE=<another wucache binary>` (built from an older commit),
//! that binary is run the same way on its own data folder and joins the alternation.
//!
//! Prints each round, then medians: MB/s, wrk's p50 and p99 per range, the servers' CPU per
//! GB (`/proc/<pid>/stat`) and wrk's own, responses checked and errors, and the throughput
//! ratio to nginx (the median of the rounds' ratios). Knobs: `WUCACHE_BENCH_CLIENTS` (wrk
//! threads, 7 connections each; 2), `WUCACHE_BENCH_FILES` (4), `WUCACHE_BENCH_FILE_MB` (64),
//! `WUCACHE_BENCH_ROUNDS` (3), `WUCACHE_BENCH_SECONDS` (10 per round).

use crate::load::{connect, get_sent, CONNECTIONS, PIECE};
use crate::nginx::{start_nginx_on, Nginx};
use crate::process::{children_cpu, ServeProcess};
use crate::served::{catalog_with_files, Target};
use crate::support::setup::{knob, runtime, LOAD_THREADS};
use bytes::Bytes;
use http_body_util::Empty;
use hyper::header::{HOST, RANGE};
use hyper::Request;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};

const BIN: &str = env!("CARGO_BIN_EXE_wucache");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/content/do_ranges.lua");
/// Pieces per server checked byte for byte before the rounds.
const SPOT_CHECKS: usize = 16;
/// Length of the uncounted first round of each server.
const WARM_UP_SECONDS: u64 = 2;

/// Sizes and what to compare, from the environment.
struct Knobs {
    clients: usize,
    files: usize,
    file_mb: u64,
    rounds: usize,
    seconds: u64,
    baseline: Option<PathBuf>,
}

impl Knobs {
    fn from_env() -> Knobs {
        let knob = |name: &str, default: usize| knob(name, default).max(1);
        Knobs {
            clients: knob("WUCACHE_BENCH_CLIENTS", 2),
            files: knob("WUCACHE_BENCH_FILES", 4),
            file_mb: knob("WUCACHE_BENCH_FILE_MB", 64) as u64,
            rounds: knob("WUCACHE_BENCH_ROUNDS", 3),
            seconds: knob("WUCACHE_BENCH_SECONDS", 10) as u64,
            baseline: std::env::var_os("WUCACHE_BENCH_BASELINE").map(PathBuf::from),
        }
    }

    fn command(&self) -> String {
        let baseline = self
            .baseline
            .as_ref()
            .map(|b| format!("WUCACHE_BENCH_BASELINE={} ", b.display()))
            .unwrap_or_default();
        format!(
            "{baseline}WUCACHE_BENCH_CLIENTS={} WUCACHE_BENCH_FILES={} WUCACHE_BENCH_FILE_MB={} \
             WUCACHE_BENCH_ROUNDS={} WUCACHE_BENCH_SECONDS={} cargo bench --bench content -- wrk",
            self.clients, self.files, self.file_mb, self.rounds, self.seconds
        )
    }
}

/// A server under load: what to call it, where it listens, how to read its CPU time.
struct Server<'a> {
    name: String,
    addr: SocketAddr,
    cpu: Box<dyn Fn() -> Duration + 'a>,
    peak_rss_mib: Box<dyn Fn() -> f64 + 'a>,
    rounds: Vec<WrkRound>,
}

/// What one wrk run measured, and the CPU the server and wrk used meanwhile.
#[derive(Default, Clone)]
struct WrkRound {
    seconds: f64,
    good: u64,
    bad: u64,
    socket_errors: u64,
    body_bytes: u64,
    p50_ms: f64,
    p99_ms: f64,
    server_cpu: Duration,
    wrk_cpu: Duration,
}

impl WrkRound {
    fn mb_per_s(&self) -> f64 {
        self.body_bytes as f64 / 1e6 / self.seconds
    }
}

/// The wrk mode's entry point.
pub(crate) fn main() {
    let knobs = Knobs::from_env();
    let Some(wrk) = wrk_version() else {
        println!("wrk not found: apt-get install -y wrk");
        return;
    };
    println!("wucache content benchmark, wrk mode: {wrk} drives the load; `wucache serve` and nginx are");
    println!("separate processes; all on this machine's shared cores, loopback");
    println!("command: {}", knobs.command());
    let upstream_runtime = runtime("fake-upstream");
    let load = runtime(LOAD_THREADS);
    let upstream = upstream_runtime
        .block_on(FakeUpstream::start(Vec::new()))
        .expect("fake upstream");
    let sizes = vec![knobs.file_mb * 1_000_000; knobs.files];
    let (catalog, files) = catalog_with_files(&upstream.url(), &sizes);
    upstream.publish(catalog.docs.iter().map(UpstreamDoc::from_synth).collect());
    upstream.serve_files(catalog.files());
    let targets: Vec<Target> = files.into_iter().map(Target::new).collect();

    let wucache = ServeProcess::start(Path::new(BIN), &upstream.url(), &load, &targets);
    let baseline = knobs
        .baseline
        .as_ref()
        .map(|binary| ServeProcess::start(binary, &upstream.url(), &load, &targets));
    let committed: Vec<(String, PathBuf)> = targets
        .iter()
        .map(|t| (t.path.clone(), wucache.committed(t)))
        .collect();
    let nginx = start_nginx_on(&committed);
    println!(
        "{} files of {} MB committed by `wucache serve` (fetched once each from the fake upstream)",
        targets.len(),
        knobs.file_mb
    );

    let mut servers = vec![served("wucache", &wucache)];
    if let Some(baseline) = &baseline {
        servers.push(served("baseline", baseline));
    }
    if let Some(nginx) = &nginx {
        servers.push(nginx_server(nginx));
    }
    for server in &servers {
        load.block_on(spot_check(server, &targets));
    }
    println!("{SPOT_CHECKS} pieces per server checked byte for byte before the rounds");
    run_rounds(&mut servers, &targets, &knobs);
    print_summary(&servers, &knobs);
    drop(servers);
    drop((nginx, baseline, wucache));
    upstream_runtime.block_on(upstream.stop());
}

fn served<'a>(name: &str, process: &'a ServeProcess) -> Server<'a> {
    Server {
        name: name.to_string(),
        addr: process.addr,
        cpu: Box::new(|| process.cpu()),
        peak_rss_mib: Box::new(|| process.status_mib("VmHWM:")),
        rounds: Vec::new(),
    }
}

fn nginx_server(nginx: &Nginx) -> Server<'_> {
    Server {
        name: "nginx".to_string(),
        addr: nginx.addr,
        cpu: Box::new(|| nginx.cpu()),
        peak_rss_mib: Box::new(|| nginx.status_kib("VmHWM:") as f64 / 1024.0),
        rounds: Vec::new(),
    }
}

/// `wrk -v`'s first words, if wrk runs.
fn wrk_version() -> Option<String> {
    let output = Command::new("wrk").arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = text.lines().next()?.to_string();
    Some(line.split(" Copyright").next().unwrap_or(&line).to_string())
}

/// Random pieces fetched with this process's client and compared byte for byte.
async fn spot_check(server: &Server<'_>, targets: &[Target]) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut sender = connect(server.addr).await;
    for _ in 0..SPOT_CHECKS {
        let target = &targets[rng.gen_range(0..targets.len())];
        let piece = rng.gen_range(0..target.file.size.div_ceil(PIECE));
        let (start, end) = (piece * PIECE, ((piece + 1) * PIECE).min(target.file.size) - 1);
        let request = Request::get(target.path.as_str())
            .header(HOST, server.addr.to_string())
            .header(RANGE, format!("bytes={start}-{end}"))
            .body(Empty::<Bytes>::new())
            .expect("request");
        sender.ready().await.expect("connection ready");
        get_sent(&mut sender, request, true)
            .await
            .check(&target.file, start, end, &server.name);
    }
}

/// An uncounted warm-up per server, then `rounds` rounds, the servers in turn each round.
fn run_rounds(servers: &mut [Server<'_>], targets: &[Target], knobs: &Knobs) {
    println!();
    println!(
        "wrk -t{} -c{} -d{}s, {} rounds each, alternating; MB/s of checked bodies; CPU per GB of them",
        knobs.clients,
        knobs.clients * CONNECTIONS,
        knobs.seconds,
        knobs.rounds
    );
    println!(
        "  {:<9} {:>7} {:>9} {:>8} {:>8} {:>13} {:>13} {:>9} {:>5} {:>7}",
        "server",
        "round",
        "MB/s",
        "p50 ms",
        "p99 ms",
        "srv CPU ms/GB",
        "wrk CPU ms/GB",
        "checked",
        "bad",
        "errors"
    );
    for server in servers.iter() {
        let round = wrk_round(server, targets, knobs, 0, WARM_UP_SECONDS);
        print_round(&server.name, "warm-up", &round);
    }
    for n in 1..=knobs.rounds {
        for server in servers.iter_mut() {
            let round = wrk_round(server, targets, knobs, n as u64, knobs.seconds);
            print_round(&server.name, &n.to_string(), &round);
            server.rounds.push(round);
        }
    }
}

/// One wrk run against `server`.
fn wrk_round(server: &Server<'_>, targets: &[Target], knobs: &Knobs, seed: u64, seconds: u64) -> WrkRound {
    let mut args = vec![
        format!("-t{}", knobs.clients),
        format!("-c{}", knobs.clients * CONNECTIONS),
        format!("-d{seconds}s"),
        "--timeout".to_string(),
        "10s".to_string(),
        "-s".to_string(),
        SCRIPT.to_string(),
        format!("http://{}", server.addr),
        "--".to_string(),
        seed.to_string(),
    ];
    for target in targets {
        args.push(target.path.clone());
        args.push(target.file.size.to_string());
    }
    let before = ((server.cpu)(), children_cpu());
    let output = Command::new("wrk").args(&args).output().expect("run wrk");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(result) = stdout.lines().find_map(|l| l.strip_prefix("WRK_RESULT ")) else {
        panic!(
            "wrk printed no result ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let fields: HashMap<&str, f64> = result
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect();
    let field = |name: &str| fields.get(name).copied().unwrap_or(0.0);
    let socket_errors = ["connect", "read", "write", "timeout"]
        .iter()
        .map(|k| field(k))
        .sum::<f64>();
    WrkRound {
        seconds: field("seconds"),
        good: field("good") as u64,
        bad: field("bad") as u64,
        socket_errors: socket_errors as u64,
        body_bytes: field("body_bytes") as u64,
        p50_ms: field("p50_us") / 1000.0,
        p99_ms: field("p99_us") / 1000.0,
        server_cpu: (server.cpu)().saturating_sub(before.0),
        wrk_cpu: children_cpu().saturating_sub(before.1),
    }
}

fn ms_per_gb(cpu: Duration, bytes: u64) -> f64 {
    cpu.as_secs_f64() * 1000.0 / (bytes as f64 / 1e9).max(1e-9)
}

fn print_round(server: &str, label: &str, round: &WrkRound) {
    println!(
        "  {:<9} {:>7} {:>9.0} {:>8.1} {:>8.1} {:>13.0} {:>13.0} {:>9} {:>5} {:>7}",
        server,
        label,
        round.mb_per_s(),
        round.p50_ms,
        round.p99_ms,
        ms_per_gb(round.server_cpu, round.body_bytes),
        ms_per_gb(round.wrk_cpu, round.body_bytes),
        round.good,
        round.bad,
        round.socket_errors
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn print_summary(servers: &[Server<'_>], knobs: &Knobs) {
    println!();
    println!("summary ({})", knobs.command());
    print!("  {:<34}", "");
    for server in servers {
        print!(" {:>10}", server.name);
    }
    println!();
    let row = |label: &str, value: &dyn Fn(&Server<'_>) -> String| {
        print!("  {label:<34}");
        for server in servers {
            print!(" {:>10}", value(server));
        }
        println!();
    };
    let med = |s: &Server<'_>, f: fn(&WrkRound) -> f64| median(s.rounds.iter().map(f).collect());
    row("MB/s (median of rounds)", &|s| {
        format!("{:.0}", med(s, WrkRound::mb_per_s))
    });
    row("p50 ms per range (median)", &|s| {
        format!("{:.1}", med(s, |r| r.p50_ms))
    });
    row("p99 ms per range (median)", &|s| {
        format!("{:.1}", med(s, |r| r.p99_ms))
    });
    let total = |s: &Server<'_>, f: fn(&WrkRound) -> Duration| {
        let bytes = s.rounds.iter().map(|r| r.body_bytes).sum();
        ms_per_gb(s.rounds.iter().map(f).sum(), bytes)
    };
    row("server CPU ms per GB (all rounds)", &|s| {
        format!("{:.0}", total(s, |r| r.server_cpu))
    });
    row("wrk CPU ms per GB (all rounds)", &|s| {
        format!("{:.0}", total(s, |r| r.wrk_cpu))
    });
    row("peak RSS MiB (VmHWM)", &|s| format!("{:.0}", (s.peak_rss_mib)()));
    row("responses checked", &|s| {
        s.rounds.iter().map(|r| r.good).sum::<u64>().to_string()
    });
    row("bad responses / socket errors", &|s| {
        let bad: u64 = s.rounds.iter().map(|r| r.bad).sum();
        let errors: u64 = s.rounds.iter().map(|r| r.socket_errors).sum();
        format!("{bad} / {errors}")
    });
    let Some(nginx) = servers.iter().find(|s| s.name == "nginx") else {
        return;
    };
    for server in servers.iter().filter(|s| s.name != "nginx") {
        let ratios: Vec<f64> = server
            .rounds
            .iter()
            .zip(&nginx.rounds)
            .map(|(a, b)| a.mb_per_s() / b.mb_per_s())
            .collect();
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "  {}/nginx throughput: median {:.2} (rounds: {}); target >= 1.0",
            server.name,
            median(ratios.clone()),
            each.join(", ")
        );
    }
}
