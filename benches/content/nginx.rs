//! The nginx comparison: Debian's nginx started on the warm files (hard links to wucache's
//! committed files) with its own temp prefix, its processes' CPU and RSS, stopped on drop.

use crate::served::Bench;
use crate::support::proc_stats::{schedstat, status_kib};
use crate::support::setup::{free_port, terminate};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// nginx serving the warm files from a root of hard links to wucache's committed files,
/// stopped on drop.
pub(crate) struct Nginx {
    child: Child,
    pub(crate) addr: SocketAddr,
    _dir: TempDir,
}

/// Starts nginx on the warm files, or says why not.
pub(crate) fn start_nginx(bench: &Bench) -> Option<Nginx> {
    let files: Vec<(String, PathBuf)> = bench
        .warm
        .iter()
        .map(|t| (t.path.clone(), bench.committed(t)))
        .collect();
    start_nginx_on(&files)
}

/// Starts nginx serving each `(URL path, committed file)`, or says why not.
pub(crate) fn start_nginx_on(files: &[(String, PathBuf)]) -> Option<Nginx> {
    let binary = std::env::var("WUCACHE_BENCH_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into());
    println!();
    if !Path::new(&binary).exists() {
        println!("nginx: {binary} not found, nginx rows skipped (install: apt-get install -y nginx)");
        return None;
    }
    match Nginx::start(&binary, files) {
        Ok(nginx) => {
            println!(
                "nginx: {} ({}), 2 workers, sendfile on, on {} serving the same files (hard links)",
                binary,
                nginx_version(&binary),
                nginx.addr
            );
            Some(nginx)
        }
        Err(err) => {
            println!("nginx: could not start {binary}: {err}; nginx rows skipped");
            None
        }
    }
}

impl Nginx {
    fn start(binary: &str, files: &[(String, PathBuf)]) -> Result<Nginx, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        for (url_path, committed) in files {
            let link = dir.path().join("root").join(url_path.trim_start_matches('/'));
            std::fs::create_dir_all(link.parent().expect("parent")).map_err(|e| e.to_string())?;
            if std::fs::hard_link(committed, &link).is_err() {
                std::fs::copy(committed, &link).map_err(|e| e.to_string())?;
            }
        }
        let addr = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir.path(), addr)).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut nginx = Nginx {
            child,
            addr,
            _dir: dir,
        };
        nginx.wait_listening()?;
        Ok(nginx)
    }

    /// Waits until the port accepts connections (five seconds at most).
    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("error.log")).unwrap_or_default();
                return Err(format!("exited with {status}: {}", log.trim()));
            }
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("not listening after 5 s".into())
    }

    /// The master and its workers.
    fn processes(&self) -> Vec<u32> {
        let master = self.child.id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return vec![master];
        };
        let parent_of = |pid: &str| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 1..];
            after_name.split_whitespace().nth(1)?.parse::<u32>().ok()
        };
        let children = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|name| parent_of(name) == Some(master))
            .filter_map(|name| name.parse().ok());
        std::iter::once(master).chain(children).collect()
    }

    /// A `/proc/<pid>/status` field (kB) summed over the processes.
    pub(crate) fn status_kib(&self, key: &str) -> u64 {
        self.processes()
            .iter()
            .map(|pid| status_kib(&format!("/proc/{pid}/status"), key))
            .sum()
    }

    /// CPU time of the processes (each single-threaded).
    pub(crate) fn cpu(&self) -> Duration {
        self.processes()
            .iter()
            .filter_map(|pid| schedstat(&format!("/proc/{pid}/schedstat"), 0))
            .sum()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Fast shutdown: the master stops its workers, then exits.
        terminate(&mut self.child);
    }
}

/// Debian's defaults where they matter (sendfile, tcp_nopush), two workers, no access log,
/// `reuseport` so the kernel spreads the connections over both workers, everything else in
/// the temp prefix.
fn nginx_conf(prefix: &Path, addr: SocketAddr) -> String {
    let p = prefix.display();
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        "{user}worker_processes 2;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n\
         \x20 default_type application/octet-stream;\n\
         \x20 client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n\
         \x20 uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
         \x20 server {{\n    listen {addr} reuseport;\n    root {p}/root;\n  }}\n}}\n"
    )
}

fn nginx_version(binary: &str) -> String {
    let output = Command::new(binary).arg("-v").output();
    let text = output.map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
    let text = text.unwrap_or_default();
    text.trim().trim_start_matches("nginx version: ").to_string()
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find(|l| l.starts_with("Uid:"));
    uid.and_then(|l| l.split_whitespace().nth(1)) == Some("0")
}
