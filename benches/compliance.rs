//! Compliance benchmark (prints figures; asserts nothing): a fleet of machines that have
//! reported (10,000 by default) on a catalog of 300 updates, two patch groups with their own
//! baselines; `wucache serve` (the real binary, default configuration but for ports, data
//! folder and the baseline file) answers `GET /api/v1/compliance`, one group's, its CSV, and
//! one computer, over HTTP on loopback. Prints latency quantiles, answer sizes and the
//! daemon's RSS.
//!
//! The fleet is seeded straight into the store (computer records and folded statuses in the
//! JSON the daemon writes) before `serve` starts: sending 10,000 scans' reports over SOAP
//! first would measure ingest, not the reads this benchmark is about.
//!
//! Run: `cargo bench --bench compliance` (`WUCACHE_BENCH_MACHINES`, `WUCACHE_BENCH_UPDATES`,
//! `WUCACHE_BENCH_REQUESTS` change the sizes).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use support::fleet;
use support::serve::{await_ready, spawn_serve};
use support::setup::{config, free_port, knob, mirror, runtime, synthetic_upstream, terminate};
use support::timings::{ms, quantile, sorted};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_wucache");

fn main() {
    let machines = knob("WUCACHE_BENCH_MACHINES", 10_000);
    let updates = knob("WUCACHE_BENCH_UPDATES", 300);
    let requests = knob("WUCACHE_BENCH_REQUESTS", 20);
    let runtime = runtime("compliance-bench");
    let (_, upstream) = runtime.block_on(synthetic_upstream(updates));
    let data = tempfile::tempdir().unwrap();
    let config = config(&upstream.url(), &data);
    runtime.block_on(mirror(&config));
    runtime.block_on(upstream.stop());
    let software: Vec<Uuid> = {
        let store = wucache::store::Store::open(data.path()).unwrap();
        let ids: Vec<Uuid> = store
            .latest_records()
            .unwrap()
            .into_iter()
            .filter(|r| !r.update_type.is_config())
            .map(|r| r.identity.update_id)
            .collect();
        fleet::seed(&store, machines, &ids, ids.len());
        store.flush().unwrap();
        ids
    };
    let baselines = fleet::write_baselines(data.path());
    let admin = free_port();
    let config_path = write_config(data.path(), admin, &baselines);
    let started = Instant::now();
    let log = data.path().join("serve.log");
    let mut child = spawn_serve(Path::new(BIN), &config_path, &log);
    if let Err(why) = await_ready(&mut child, admin, started, Duration::from_secs(60)) {
        panic!("serve {why}");
    }
    let token = std::fs::read_to_string(data.path().join("admin.token")).unwrap();
    let token = token.trim();
    let rss_before = rss_mib(child.id());

    println!(
        "wucache compliance benchmark: {machines} machines, {} top-level updates, 2 patch groups, \
         `wucache serve` over HTTP/1.1 on loopback, {requests} sequential requests each",
        software.len()
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>11}",
        "request", "p50 ms", "p99 ms", "max ms", "answer KiB"
    );
    let one = format!("/api/v1/computers/{}", fleet::client_id(machines / 2));
    for path in [
        // The default page (1,000 machines) and the largest one (every machine here).
        "/api/v1/compliance",
        "/api/v1/compliance?limit=10000",
        "/api/v1/compliance?group=Ring1&limit=10000",
        "/api/v1/compliance?format=csv",
        one.as_str(),
    ] {
        let (times, size) = measure(admin, token, path, requests);
        let times = sorted(times.into_iter());
        println!(
            "{:<44} {:>9.1} {:>9.1} {:>9.1} {:>11.0}",
            if path.starts_with("/api/v1/computers/") {
                "/api/v1/computers/{id}"
            } else {
                path
            },
            ms(quantile(&times, 0.5)),
            ms(quantile(&times, 0.99)),
            ms(*times.last().unwrap()),
            size as f64 / 1024.0
        );
    }
    println!(
        "daemon RSS: {rss_before:.0} MiB after start, {:.0} MiB after the requests (VmRSS), peak {:.0} MiB (VmHWM)",
        rss_mib(child.id()),
        status_mib(child.id(), "VmHWM:")
    );
    terminate(&mut child);
}

fn write_config(dir: &std::path::Path, admin: SocketAddr, baselines: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("serve.toml");
    let text = format!(
        "[server]\nhttp_listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"{admin}\"\n\
         [upstream]\nserver = \"http://127.0.0.1:9\"\n[sync]\non_start = false\ninterval = \"0s\"\n\
         [storage]\ndata_dir = \"{}\"\n[baselines]\nfile = \"{}\"\n",
        dir.display(),
        baselines.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn measure(admin: SocketAddr, token: &str, path: &str, requests: usize) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(requests);
    let mut size = 0;
    for _ in 0..requests {
        let started = Instant::now();
        let (status, body) = get(admin, Some(token), path);
        times.push(started.elapsed());
        assert_eq!(status, 200, "{path}: {body}");
        size = body.len();
    }
    (times, size)
}

/// One GET on a fresh connection (as a script or the CLI would), the whole body read.
fn get(admin: SocketAddr, token: Option<&str>, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(admin) else {
        return (0, String::new());
    };
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {admin}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn status_mib(pid: u32, key: &str) -> f64 {
    support::proc_stats::status_kib(&format!("/proc/{pid}/status"), key) as f64 / 1024.0
}

fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS:")
}
