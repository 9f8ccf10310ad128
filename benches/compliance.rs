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

use rand::{Rng, SeedableRng};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
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
        seed_fleet(&store, machines, &ids);
        store.flush().unwrap();
        ids
    };
    let baselines = write_baselines(data.path());
    let admin = free_port();
    let config_path = write_config(data.path(), admin, &baselines);
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(admin);
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
    let one = format!("/api/v1/computers/{}", client_id(machines / 2));
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

fn client_id(n: usize) -> String {
    Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 + n as u128).to_string()
}

/// Every machine registered, half in Ring1; each reported a status: about a tenth of the
/// updates needed, two thirds installed, a few failed.
fn seed_fleet(store: &wucache::store::Store, machines: usize, updates: &[Uuid]) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    for n in 0..machines {
        let id = client_id(n);
        let groups = if n % 2 == 0 { "[\"Ring1\"]" } else { "[]" };
        let record = format!(
            "{{\"client_id\":\"{id}\",\"dns_name\":\"pc-{n:05}.corp.example\",\"requested_groups\":{groups},\
             \"registered\":true,\"last_report\":\"2026-12-01T10:00:00+00:00\"}}"
        );
        store.put_computer(&id, &record).unwrap();
        let (mut needed, mut installed, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for update in updates {
            match rng.gen_range(0..100) {
                0..=9 => needed.push(format!("\"{update}\"")),
                10..=11 => failed.push(format!(
                    "\"{update}\":{{\"hresult\":-2145099769,\"at\":1764583200000}}"
                )),
                12..=78 => installed.push(format!("\"{update}\"")),
                _ => {}
            }
        }
        let status = format!(
            "{{\"status_at\":1764583200000,\"needed\":[{}],\"installed\":[{}],\"failed\":{{{}}}}}",
            needed.join(","),
            installed.join(","),
            failed.join(",")
        );
        store.put_status(&id, &status).unwrap();
    }
}

/// Everyone: every update approved after 7 days; Ring1: security and critical updates at once.
fn write_baselines(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("baselines.toml");
    let text = r#"schema_version = 1
default_baseline = "everyone"

[[patch_group]]
name = "Ring1"
baseline = "ring-one"

[[baseline]]
id = "everyone"
Name = "everyone"
OperatingSystem = "WINDOWS"
[[baseline.ApprovalRules.PatchRules]]
ApproveAfterDays = 7
ComplianceLevel = "HIGH"
PatchFilterGroup = { PatchFilters = [{ Key = "PRODUCT", Values = ["*"] }] }

[[baseline]]
id = "ring-one"
Name = "ring-one"
OperatingSystem = "WINDOWS"
[[baseline.ApprovalRules.PatchRules]]
ApproveAfterDays = 0
ComplianceLevel = "CRITICAL"
PatchFilterGroup = { PatchFilters = [{ Key = "CLASSIFICATION", Values = ["SecurityUpdates", "CriticalUpdates"] }] }
"#;
    std::fs::write(&path, text).unwrap();
    path
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

fn wait_ready(admin: SocketAddr) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if get(admin, None, "/ready").0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("serve never became ready");
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
