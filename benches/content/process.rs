//! `wucache serve` as a process of its own: the real binary with its default configuration
//! but for the listeners (free loopback ports), the data folder and the mirrored scope; its
//! files committed through the real miss path (one whole GET each, fetched from the fake
//! upstream, verified, committed); CPU and memory read from `/proc/<pid>/`. Stopped on drop.

use crate::load::{connect, get};
use crate::served::Target;
use crate::support::proc_stats::status_kib;
use crate::support::setup::{free_port, mirror, terminate};
use hyper::StatusCode;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// A running `wucache serve` and its data folder.
pub(crate) struct ServeProcess {
    child: Child,
    /// The client listener.
    pub(crate) addr: SocketAddr,
    data: TempDir,
}

impl ServeProcess {
    /// Mirrors `upstream` into a new data folder, starts `binary serve` on it, waits for
    /// `/ready`, then fetches each of `files` once so the cache holds them committed.
    pub(crate) fn start(binary: &Path, upstream: &str, runtime: &Runtime, files: &[Target]) -> ServeProcess {
        let data = tempfile::tempdir().expect("temp dir");
        let config = crate::support::setup::config(upstream, &data);
        runtime.block_on(mirror(&config));
        let (addr, admin) = (free_port(), free_port());
        let config_path = data.path().join("serve.toml");
        std::fs::write(&config_path, config_text(upstream, data.path(), addr, admin)).expect("config");
        let log = std::fs::File::create(data.path().join("serve.log")).expect("log file");
        let child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
        let mut served = ServeProcess { child, addr, data };
        served.wait_ready(admin);
        runtime.block_on(fetch_whole(addr, files));
        served
    }

    /// Waits until the admin listener answers `/ready` with 200 (60 s at most).
    fn wait_ready(&mut self, admin: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("wucache serve exited with {status}:\n{}", self.log());
            }
            if ready(admin) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("wucache serve not ready after 60 s:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("serve.log")).unwrap_or_default()
    }

    /// Where this daemon committed a file.
    pub(crate) fn committed(&self, target: &Target) -> PathBuf {
        let path = self
            .data
            .path()
            .join("content")
            .join(wucache::content::layout::relative_path(&target.file.sha1));
        assert!(path.is_file(), "{} not committed", target.path);
        path
    }

    /// The process's CPU time, all threads (live or gone).
    pub(crate) fn cpu(&self) -> Duration {
        process_cpu(self.child.id())
    }

    /// A `kB` field of the process's status (`VmRSS:`, `VmHWM:`), in MiB.
    pub(crate) fn status_mib(&self, key: &str) -> f64 {
        status_kib(&format!("/proc/{}/status", self.child.id()), key) as f64 / 1024.0
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// The default configuration but for listeners, data folder and the mirror's scope (every
/// product and classification of the synthetic catalog), with no scheduled sync.
fn config_text(upstream: &str, data: &Path, addr: SocketAddr, admin: SocketAddr) -> String {
    format!(
        "[server]\nhttp_listen = \"{addr}\"\n[admin]\nlisten = \"{admin}\"\n\
         [upstream]\nserver = \"{upstream}\"\n\
         [sync]\non_start = false\ninterval = \"0s\"\nproducts = [\"all\"]\n\
         classifications = [\"all\"]\nlanguages = []\n\
         [storage]\ndata_dir = \"{}\"\n",
        data.display()
    )
}

/// Whether `GET /ready` answers 200.
fn ready(admin: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(admin) else {
        return false;
    };
    let request = format!("GET /ready HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let exchanged =
        stream.write_all(request.as_bytes()).is_ok() && stream.read_to_string(&mut answer).is_ok();
    exchanged && answer.starts_with("HTTP/1.1 200")
}

/// GETs each file once, whole: a miss, fetched from the upstream, verified and committed.
async fn fetch_whole(addr: SocketAddr, targets: &[Target]) {
    for target in targets {
        let mut sender = connect(addr).await;
        let fetched = get(&mut sender, addr, &target.path, None).await;
        assert_eq!(fetched.status, StatusCode::OK, "fetching {}", target.path);
        assert_eq!(fetched.length, target.file.size, "fetching {}", target.path);
    }
}

/// utime + stime of a process (`/proc/<pid>/stat`, clock ticks of 10 ms), every thread it
/// has had included.
pub(crate) fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    Duration::from_millis(stat_ticks(&stat, 11) * 10)
}

/// CPU time of this process's children that have been waited for (cutime + cstime).
pub(crate) fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    Duration::from_millis(stat_ticks(&stat, 13) * 10)
}

/// The sum of two consecutive tick fields, counted from the first field after the command
/// name (`state` is 0, `utime` 11, `cutime` 13).
fn stat_ticks(stat: &str, first: usize) -> u64 {
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    after_name
        .split_whitespace()
        .skip(first)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum()
}
