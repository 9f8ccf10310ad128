//! Starting `wucache serve` as a child process and watching it from outside: the time until
//! the admin listener's `/ready` answers 200, the child's memory then (`VmRSS`, `VmHWM` of
//! `/proc/<pid>/status`), and optionally once a line has appeared in its log. `spawn_serve` and
//! `await_ready` are the two steps for benchmarks that keep the daemon running.

use super::proc_stats::status_kib;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `wucache` binary to measure: `WUCACHE_BENCH_BIN`, else the one built with the
/// benchmark (another build's binary, to compare two commits in one run).
pub(crate) fn binary() -> PathBuf {
    std::env::var_os("WUCACHE_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wucache")))
}

/// What one start of `serve` measured.
#[derive(Debug, Default)]
pub(crate) struct ServeStart {
    /// From spawning the process until `/ready` answered 200 (NaN: never within a minute).
    pub(crate) ready_ms: f64,
    /// Resident memory when `/ready` first answered 200, in MiB.
    pub(crate) rss_ready_mib: f64,
    /// Peak resident memory until then, in MiB.
    pub(crate) peak_ready_mib: f64,
    /// Resident and peak memory once the awaited log line appeared (if one was asked for).
    pub(crate) after_line: Option<(f64, f64)>,
    /// Resident memory [`SETTLE`] after the awaited line, idle meanwhile: what the allocator
    /// kept of what was freed.
    pub(crate) settled_mib: Option<f64>,
    /// The daemon's log (stderr).
    pub(crate) log: String,
}

/// How long `start_serve` watches an idle daemon after the awaited line.
pub(crate) const SETTLE: Duration = Duration::from_secs(10);

/// Starts `bin serve --config config`, waits for `/ready` on `admin`, then (when `line` is
/// given) for a log line containing it and [`SETTLE`] more, and stops the daemon with
/// SIGTERM.
pub(crate) fn start_serve(bin: &Path, config: &Path, admin: SocketAddr, line: Option<&str>) -> ServeStart {
    let log_path = config.with_extension("serve.log");
    let started = Instant::now();
    let mut child = spawn_serve(bin, config, &log_path);
    let status = format!("/proc/{}/status", child.id());
    let mib = |key: &str| status_kib(&status, key) as f64 / 1024.0;
    let mut run = ServeStart {
        ready_ms: f64::NAN,
        ..ServeStart::default()
    };
    if let Ok(after) = await_ready(&mut child, admin, started, Duration::from_secs(60)) {
        run.ready_ms = after.as_secs_f64() * 1000.0;
        run.rss_ready_mib = mib("VmRSS:");
        run.peak_ready_mib = mib("VmHWM:");
    }
    if let Some(line) = line {
        while started.elapsed() < Duration::from_secs(120) {
            if std::fs::read_to_string(&log_path).is_ok_and(|log| log.contains(line)) {
                run.after_line = Some((mib("VmRSS:"), mib("VmHWM:")));
                std::thread::sleep(SETTLE);
                run.settled_mib = Some(mib("VmRSS:"));
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    super::setup::terminate(&mut child);
    run.log = std::fs::read_to_string(&log_path).unwrap_or_default();
    run
}

/// Spawns `bin serve --config config`, its log (stderr) written to `log`.
pub(crate) fn spawn_serve(bin: &Path, config: &Path, log: &Path) -> Child {
    Command::new(bin)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("serve log"))
        .spawn()
        .expect("spawn serve")
}

/// Asks `/ready` on `admin` every 2 ms until it answers 200: the time since `started` then.
/// Gives up, saying why, when the child exits or `timeout` has passed since `started`.
pub(crate) fn await_ready(
    child: &mut Child,
    admin: SocketAddr,
    started: Instant,
    timeout: Duration,
) -> Result<Duration, String> {
    loop {
        if ready(admin) {
            return Ok(started.elapsed());
        }
        if let Ok(Some(exit)) = child.try_wait() {
            return Err(format!("exited ({exit}) before it was ready"));
        }
        if started.elapsed() > timeout {
            return Err(format!("not ready within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `GET /ready` on a fresh connection answered 200.
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

/// The text after the level of the first log line containing `marker`.
pub(crate) fn log_line<'a>(log: &'a str, marker: &str) -> Option<&'a str> {
    let line = log.lines().find(|l| l.contains(marker))?;
    Some(line.split("INFO").nth(1).unwrap_or(line).trim())
}
