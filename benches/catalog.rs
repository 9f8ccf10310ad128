//! Catalog benchmark (prints figures; asserts nothing): import rate of `wucache sync` from
//! the local fake upstream for 10k and 100k synthetic revisions, peak RSS and store size
//! afterwards (and the sync's log line about the catalog image it wrote), and `wucache serve`
//! on each synced store: start-up time to `/ready` (with its log lines about the catalog
//! image and the snapshot) and the daemon's resident memory then (`VmRSS` and `VmHWM` of the
//! child, read from outside), then once its log says the fragment cache is warm and again
//! after ten idle seconds. On the largest store it then registers a fleet (10,000 machines by
//! default, half of them in a patch group with its own baseline) and starts `serve` again with
//! a baseline file: `/ready` and memory then, once the fleet's compliance has been computed,
//! and (a third start) once the fragment cache is warm and ten seconds later.
//!
//! Run: `cargo bench --bench catalog` (set `WUCACHE_BENCH_SIZES=10000` for a quick run,
//! `WUCACHE_BENCH_MACHINES=0` to skip the fleet, `WUCACHE_BENCH_BIN` to measure another
//! build's `wucache` binary with this benchmark, `WUCACHE_BENCH_KEEP=1` to keep the synced
//! data folders for profiling `serve` on them).

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use support::serve::{binary, log_line, start_serve, ServeStart};
use support::setup::{free_port, knob, synthetic_upstream};

/// `serve`'s log line once the fragment cache is warm (its background warm-up after start).
const FRAGMENTS_WARMED: &str = "fragment cache warmed";

/// Updates each seeded machine has reported a state for.
const UPDATES_PER_MACHINE: usize = 300;

fn main() {
    let sizes: Vec<usize> = std::env::var("WUCACHE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let machines = knob("WUCACHE_BENCH_MACHINES", 10_000);
    let bin = binary();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!("wucache catalog benchmark (fake upstream on loopback, same machine; 2 cores shared)");
    println!("binary: {}", bin.display());
    println!(
        "{:>8} {:>9} {:>8} {:>11} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "updates",
        "revisions",
        "seconds",
        "revisions/s",
        "sync peak",
        "store",
        "ready ms",
        "RSS ready",
        "peak ready"
    );
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for size in sizes {
        let (row, store) = run_size(&runtime, &bin, size);
        println!(
            "{:>8} {:>9} {:>8.2} {:>11.0} {:>5.1} MiB {:>5.1} MiB {:>9.0} {:>6.1} MiB {:>6.1} MiB",
            size,
            row.revisions,
            row.seconds,
            row.rate,
            row.peak_rss_mib,
            row.store_mib,
            row.serve.ready_ms,
            row.serve.rss_ready_mib,
            row.serve.peak_ready_mib
        );
        if let Some(line) = log_line(&row.sync_log, "catalog image written") {
            println!("    sync: {line}");
        }
        print_warm(&row.serve);
        for marker in [
            "catalog read from its image",
            "catalog image not used",
            "catalog snapshot built",
        ] {
            if let Some(line) = log_line(&row.serve.log, marker) {
                println!("    serve: {line}");
            }
        }
        if size == largest && machines > 0 {
            with_fleet(&bin, &store, machines);
        }
        if knob("WUCACHE_BENCH_KEEP", 0) == 1 {
            println!("    kept: {}", store.dir.keep().display());
        }
    }
    println!(
        "targets (issue #13): >= 15,000 revisions/s at 100k, <= 500 ms to /ready and <= 256 MiB RSS with 100k revisions (also with 10k machines, fragment caches warm)"
    );
}

struct Row {
    revisions: usize,
    seconds: f64,
    rate: f64,
    peak_rss_mib: f64,
    store_mib: f64,
    /// The sync's log (stderr).
    sync_log: String,
    serve: ServeStart,
}

/// A synced store, kept for the fleet run.
struct Synced {
    dir: tempfile::TempDir,
}

fn run_size(runtime: &tokio::runtime::Runtime, bin: &Path, size: usize) -> (Row, Synced) {
    let (_, upstream) = runtime.block_on(synthetic_upstream(size));
    let dir = tempfile::tempdir().unwrap();
    let admin = free_port();
    let config = write_config(dir.path(), &upstream.url(), admin, None);

    let started = Instant::now();
    let output = Command::new(bin)
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
    runtime.block_on(upstream.stop());
    let serve = start_serve(bin, &config, admin, Some(FRAGMENTS_WARMED));
    let row = Row {
        revisions,
        seconds,
        rate: revisions as f64 / seconds,
        peak_rss_mib,
        store_mib,
        sync_log: String::from_utf8_lossy(&output.stderr).into_owned(),
        serve,
    };
    (row, Synced { dir })
}

/// Registers `machines` machines in the synced store and starts `serve` with two patch
/// groups' baselines: `/ready`, then the fleet's compliance computed after it.
fn with_fleet(bin: &Path, synced: &Synced, machines: usize) {
    let data = synced.dir.path().join("data");
    {
        let store = wucache::store::Store::open(&data).expect("store");
        let software: Vec<uuid::Uuid> = store
            .latest_records()
            .expect("records")
            .into_iter()
            .filter(|r| !r.update_type.is_config())
            .map(|r| r.identity.update_id)
            .collect();
        support::fleet::seed(&store, machines, &software, UPDATES_PER_MACHINE);
        store.flush().expect("flush");
    }
    let baselines = support::fleet::write_baselines(synced.dir.path());
    let admin = free_port();
    let config = write_config(synced.dir.path(), "http://127.0.0.1:9", admin, Some(&baselines));
    let run = start_serve(bin, &config, admin, Some("fleet compliance recomputed"));
    let warm = start_serve(bin, &config, admin, Some(FRAGMENTS_WARMED));
    println!(
        "  with {machines} machines ({UPDATES_PER_MACHINE} update states each) and 2 patch groups' baselines: \
         ready after {:.0} ms, RSS {:.1} MiB (peak {:.1} MiB) at /ready",
        run.ready_ms, run.rss_ready_mib, run.peak_ready_mib
    );
    if let Some(line) = log_line(&run.log, "catalog snapshot built") {
        println!("    serve: {line}");
    }
    match (run.after_line, log_line(&run.log, "fleet compliance recomputed")) {
        (Some((rss, peak)), Some(line)) => {
            println!("    then RSS {rss:.1} MiB (peak {peak:.1} MiB) once {line}")
        }
        _ => println!("    the fleet's compliance was not recomputed within two minutes"),
    }
    print_warm(&warm);
}

/// The daemon's memory once its fragment cache was warm, and after it idled.
fn print_warm(run: &ServeStart) {
    match (
        run.after_line,
        run.settled_mib,
        log_line(&run.log, FRAGMENTS_WARMED),
    ) {
        (Some((rss, _)), Some(settled), Some(line)) => println!(
            "    RSS once the fragment cache was warm {rss:.1} MiB, {:.0} s later {settled:.1} MiB ({line})",
            support::serve::SETTLE.as_secs_f64()
        ),
        _ => println!("    the fragment cache did not finish warming within two minutes"),
    }
}

fn write_config(dir: &Path, upstream: &str, admin: SocketAddr, baselines: Option<&Path>) -> PathBuf {
    let name = if baselines.is_some() {
        "fleet.toml"
    } else {
        "wucache.toml"
    };
    let path = dir.join(name);
    let mut text = format!(
        "[server]\nhttp_listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"{admin}\"\n[upstream]\nserver = \"{upstream}\"\n\
         [sync]\non_start = false\nproducts = [\"all\"]\nclassifications = [\"all\"]\nlanguages = []\n\
         [storage]\ndata_dir = \"{}\"\n",
        dir.join("data").display()
    );
    if let Some(file) = baselines {
        text.push_str(&format!("[baselines]\nfile = \"{}\"\n", file.display()));
    }
    std::fs::write(&path, text).unwrap();
    path
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
