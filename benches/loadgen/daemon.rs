//! The daemon under load, as a separate process: its configuration (the defaults but for
//! ports, data folder, upstream, every product and classification, no scheduled sync, and the
//! scenario's baseline file), `wucache sync` from the fake upstream, `wucache baseline check`
//! of the baseline file, then `wucache serve` until `/ready` answers on the admin port; its CPU
//! time and memory read from `/proc/<pid>/`.

use crate::support::proc_stats::status_kib;
use crate::support::serve::{await_ready, binary, spawn_serve};
use crate::support::setup::{free_port, terminate};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long `serve` may take to answer `/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// The configuration and data folder of one scenario's daemon.
pub(crate) struct Setup {
    pub(crate) dir: TempDir,
    pub(crate) config: PathBuf,
    pub(crate) client: SocketAddr,
    pub(crate) admin: SocketAddr,
}

impl Setup {
    /// Writes the configuration; `baseline` is the baseline file's text, if the scenario has one.
    pub(crate) fn write(upstream: &str, baseline: Option<&str>) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let client = free_port();
        let admin = free_port();
        let mut text = format!(
            "[server]\nhttp_listen = \"{client}\"\n[admin]\nlisten = \"{admin}\"\n[upstream]\nserver = \"{upstream}\"\n\
             [sync]\ninterval = \"0s\"\non_start = false\nproducts = [\"all\"]\nclassifications = [\"all\"]\n\
             [storage]\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        );
        if let Some(baseline) = baseline {
            let path = dir.path().join("baselines.toml");
            std::fs::write(&path, baseline).expect("baseline file");
            text.push_str(&format!("[baselines]\nfile = \"{}\"\n", path.display()));
        }
        let config = dir.path().join("wucache.toml");
        std::fs::write(&config, text).expect("config file");
        Setup {
            dir,
            config,
            client,
            admin,
        }
    }

    /// `wucache sync --config`; returns its summary, one line.
    pub(crate) fn sync(&self) -> String {
        let output = self.wucache(&["sync"]);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        lines.join("; ")
    }

    /// `wucache baseline check FILE --config`; panics when the file does not pass.
    pub(crate) fn check_baseline(&self) -> String {
        let file = self.dir.path().join("baselines.toml");
        let output = self.wucache(&["baseline", "check", &file.to_string_lossy()]);
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        text
    }

    /// The top-level updates the default baseline sends `Install` now, by
    /// `wucache baseline preview --group default --json`.
    pub(crate) fn approved(&self) -> usize {
        let output = self.wucache(&["baseline", "preview", "--group", "default", "--json"]);
        let text = String::from_utf8_lossy(&output.stdout);
        text.matches("\"Install\"").count()
    }

    fn wucache(&self, args: &[&str]) -> std::process::Output {
        let output = Command::new(binary())
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .expect("run wucache");
        assert!(
            output.status.success(),
            "wucache {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// A running `wucache serve`.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) client: SocketAddr,
    /// Time from spawning to the first 200 from `/ready`.
    pub(crate) ready_after: Duration,
    /// Resident memory when `/ready` first answered, in KiB.
    pub(crate) rss_at_ready_kib: u64,
    log: PathBuf,
}

impl Daemon {
    /// Spawns `serve` and waits for `/ready`.
    pub(crate) fn start(setup: &Setup) -> Daemon {
        let log = setup.dir.path().join("serve.log");
        let started = Instant::now();
        let mut daemon = Daemon {
            child: spawn_serve(&binary(), &setup.config, &log),
            client: setup.client,
            ready_after: Duration::ZERO,
            rss_at_ready_kib: 0,
            log,
        };
        let ready = await_ready(&mut daemon.child, setup.admin, started, READY_TIMEOUT);
        daemon.ready_after = ready.unwrap_or_else(|why| panic!("serve {why}: {}", daemon.log_tail()));
        daemon.rss_at_ready_kib = daemon.status_kib("VmRSS:");
        daemon
    }

    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    fn status_kib(&self, key: &str) -> u64 {
        status_kib(&format!("/proc/{}/status", self.child.id()), key)
    }

    /// Resident memory now (`VmRSS`), in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Peak resident memory so far (`VmHWM`), in KiB.
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// User plus system CPU time of the whole process so far.
    pub(crate) fn cpu(&self) -> Duration {
        pid_cpu(self.child.id())
    }

    /// The last lines of the daemon's log (warnings and errors are what it writes by default).
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    /// Log lines at WARN or ERROR.
    pub(crate) fn log_problems(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .map(str::to_owned)
            .collect()
    }

    pub(crate) fn stop(mut self) {
        terminate(&mut self.child);
    }
}

/// utime + stime of `/proc/<pid>/stat` (clock ticks of 10 ms).
pub(crate) fn pid_cpu(pid: u32) -> Duration {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// This process's own CPU time (utime + stime).
pub(crate) fn own_cpu() -> Duration {
    stat_cpu("/proc/self/stat")
}

/// CPU time all processes of the machine have used, and the hypervisor has stolen
/// (`/proc/stat`: user, nice, system, irq, softirq, steal), to tell how much of a step's CPU
/// went to work other than the two measured processes.
pub(crate) fn machine_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let line = stat.lines().next().unwrap_or_default();
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| ticks.get(i)).sum();
    Duration::from_millis(busy * 10)
}

fn stat_cpu(path: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Where the worktree's commit is read from.
pub(crate) fn commit(dir: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = !git(&["status", "--porcelain"]).is_empty();
    format!("{head}{}", if dirty { "-dirty" } else { "" })
}
