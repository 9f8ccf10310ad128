//! Catalog benchmark (prints figures; asserts nothing): import rate of `wucache sync` from
//! the local fake upstream for 10k and 100k synthetic revisions, peak RSS and store size
//! afterwards, and `wucache serve` start-up time to `/ready` on the 100k store.
//!
//! Run: `cargo bench --bench catalog` (set `WUCACHE_BENCH_SIZES=10000` for a quick run).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::setup::{free_port, synthetic_upstream, terminate};

const BIN: &str = env!("CARGO_BIN_EXE_wucache");

fn main() {
    let sizes: Vec<usize> = std::env::var("WUCACHE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!("wucache catalog benchmark (fake upstream on loopback, same machine; 2 cores shared)");
    println!(
        "{:>10} {:>10} {:>10} {:>12} {:>12} {:>12} {:>14}",
        "updates", "revisions", "seconds", "revisions/s", "peak RSS MiB", "store MiB", "ready after ms"
    );
    for size in sizes {
        let row = run_size(&runtime, size);
        println!(
            "{:>10} {:>10} {:>10.2} {:>12.0} {:>12.1} {:>12.1} {:>14.0}",
            size, row.revisions, row.seconds, row.rate, row.peak_rss_mib, row.store_mib, row.ready_ms
        );
    }
    println!("targets: >= 2,000 revisions/s, <= 256 MiB RSS, <= 1,000 ms to /ready with 100k revisions");
}

struct Row {
    revisions: usize,
    seconds: f64,
    rate: f64,
    peak_rss_mib: f64,
    store_mib: f64,
    ready_ms: f64,
}

fn run_size(runtime: &tokio::runtime::Runtime, size: usize) -> Row {
    let (_, upstream) = runtime.block_on(synthetic_upstream(size));
    let dir = tempfile::tempdir().unwrap();
    let admin = free_port();
    let config = write_config(dir.path(), &upstream.url(), admin);

    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["sync", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "sync failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stdout).into_owned();
    let revisions = number_after(&summary, "documents, ").unwrap_or(0.0) as usize;
    let peak_rss_mib = number_after(&summary, "memory:").unwrap_or(0.0);
    let store_mib = dir_size(&dir.path().join("data")) as f64 / 1048576.0;
    let ready_ms = time_to_ready(&config, admin);
    runtime.block_on(upstream.stop());
    Row {
        revisions,
        seconds,
        rate: revisions as f64 / seconds,
        peak_rss_mib,
        store_mib,
        ready_ms,
    }
}

fn write_config(dir: &Path, upstream: &str, admin: SocketAddr) -> std::path::PathBuf {
    let path = dir.join("wucache.toml");
    let text = format!(
        "[server]\nhttp_listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"{admin}\"\n[upstream]\nserver = \"{upstream}\"\n\
         [sync]\non_start = false\nproducts = [\"all\"]\nclassifications = [\"all\"]\nlanguages = []\n\
         [storage]\ndata_dir = \"{}\"\n",
        dir.join("data").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `serve` on the synced store and measures the time until `/ready` answers 200.
fn time_to_ready(config: &Path, admin: SocketAddr) -> f64 {
    let started = Instant::now();
    let log_path = config.with_extension("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut elapsed = f64::NAN;
    while started.elapsed() < Duration::from_secs(60) {
        if ready(admin) {
            elapsed = started.elapsed().as_secs_f64() * 1000.0;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    terminate(&mut child);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    if let Some(line) = log.lines().find(|l| l.contains("catalog snapshot built")) {
        println!("    serve: {}", line.split("INFO").nth(1).unwrap_or(line).trim());
    }
    elapsed
}

fn ready(admin: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&admin, Duration::from_millis(100)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /ready HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// The first number after `marker` in `text`.
fn number_after(text: &str, marker: &str) -> Option<f64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse().ok()
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let meta = e.metadata();
            match meta {
                Ok(m) if m.is_dir() => dir_size(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            }
        })
        .sum()
}
