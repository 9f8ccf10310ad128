//! The memory ceiling: the real binary, on its default limits, through a barrage of the
//! attacks at once — element and attribute floods in parallel, slow uploads, idle connections,
//! invented client ids — keeps its peak resident memory (`VmHWM`, read from /proc by this
//! process) under 300 MiB, and serves a normal client meanwhile. The binary runs on jemalloc with
//! its background thread, which gives freed pages back to the system (`src/main.rs`).

use super::{assert_normal_client_served, envelope, post_soap_from, CLIENT_NS, CLIENT_PATH};
use crate::harness::{config, fake_with, synthetic, ChildGuard};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

const CEILING_MIB: u64 = 300;

/// Starts `wucache serve` on `config_path`; returns the child and its client and admin
/// addresses, read from its start-up log line.
fn spawn_daemon(config_path: &std::path::Path) -> (ChildGuard, SocketAddr, SocketAddr) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wucache"))
        .args(["serve", "--config"])
        .arg(config_path)
        .env("RUST_LOG", "wucache=info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let guard = ChildGuard(child);
    let mut lines = BufReader::new(stderr).lines();
    let addr = |line: &str, key: &str| -> SocketAddr {
        let start = line.find(key).unwrap() + key.len();
        line[start..].split_whitespace().next().unwrap().parse().unwrap()
    };
    loop {
        let line = lines.next().expect("the daemon logs its start").unwrap();
        if line.contains("wucache serving") {
            let found = (addr(&line, "client_addr="), addr(&line, "admin_addr="));
            // Keep draining the log so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (guard, found.0, found.1);
        }
    }
}

fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib >> 10
}

/// The names of the process's threads (`/proc/<pid>/task/*/comm`).
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

async fn connect_from(source: IpAddr, to: SocketAddr) -> Option<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(source, 0)).ok()?;
    socket.connect(to).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_stays_under_its_memory_ceiling_through_every_attack_at_once() {
    let catalog = synthetic(103, 40);
    let upstream = fake_with(&catalog).await;
    let data = tempfile::tempdir().unwrap();
    let config = config(&upstream.url(), &data);
    let store = wucache::store::Store::open(data.path()).unwrap();
    wucache::upstream::run_sync(&store, &config, &wucache::upstream::Quiet)
        .await
        .unwrap();
    drop(store);
    let config_path = data.path().join("wucache.toml");
    let text = format!(
        "[server]\nhttp_listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n[upstream]\nserver = \"{}\"\n[sync]\non_start = false\nproducts = [\"all\"]\nclassifications = [\"all\"]\n",
        data.path().display(),
        upstream.url()
    );
    std::fs::write(&config_path, text).unwrap();
    let (child, client, admin) = tokio::task::block_in_place(|| spawn_daemon(&config_path));
    let pid = child.0.id();
    assert!(
        crate::harness::eventually(|| async {
            crate::harness::http("GET", admin, "/ready", None).await.0 == 200
        })
        .await,
        "the daemon becomes ready"
    );
    let baseline = peak_rss_mib(pid);
    let threads = thread_names(pid);
    assert!(
        threads.iter().any(|name| name == "jemalloc_bg_thd"),
        "jemalloc's background thread runs: {threads:?}"
    );

    let attacker: IpAddr = [127, 0, 0, 2].into();
    let mut attacks = tokio::task::JoinSet::new();
    // Six 4 MB bodies of empty elements and three of 100,000 attributes, all at once.
    let elements = std::sync::Arc::new(envelope(&format!(
        "<SyncUpdates xmlns=\"{CLIENT_NS}\">{}</SyncUpdates>",
        "<a/>".repeat(1_000_000)
    )));
    let attributes = std::sync::Arc::new(envelope(&format!(
        "<GetConfig xmlns=\"{CLIENT_NS}\"{}/>",
        (0..100_000).map(|i| format!(" a{i}=\"x\"")).collect::<String>()
    )));
    for round in 0..9 {
        let body = if round < 6 {
            elements.clone()
        } else {
            attributes.clone()
        };
        attacks.spawn(async move {
            let action = format!("{CLIENT_NS}/SyncUpdates");
            post_soap_from(Some(attacker), client, CLIENT_PATH, &action, &body).await;
        });
    }
    // Forty slow uploads that declare 4 MB and send a few bytes.
    let mut held = Vec::new();
    for _ in 0..40 {
        if let Some(mut stream) = connect_from([127, 0, 0, 3].into(), client).await {
            let head = format!(
                "POST {CLIENT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n<s:Env",
                4 << 20
            );
            let _ = stream.write_all(head.as_bytes()).await;
            held.push(stream);
        }
    }
    // A thousand idle connections from one address.
    for _ in 0..1000 {
        if let Some(stream) = connect_from([127, 0, 0, 4].into(), client).await {
            held.push(stream);
        }
    }
    // Two thousand invented client ids.
    attacks.spawn(async move {
        for i in 0..2000 {
            let built = wucache_testkit::wua::request::get_authorization_cookie(
                &uuid::Uuid::new_v4().to_string(),
                Some("g"),
                &format!("pc{i}"),
            );
            let action = built.action.trim_matches('"').to_string();
            post_soap_from(
                Some([127, 0, 0, 5].into()),
                client,
                "/SimpleAuthWebService/SimpleAuth.asmx",
                &action,
                &built.body,
            )
            .await;
        }
    });
    // A normal client is served while all that runs.
    let started = std::time::Instant::now();
    assert_normal_client_served(client).await;
    println!(
        "a normal client's handshake and SyncUpdates during the barrage: {} ms",
        started.elapsed().as_millis()
    );
    while attacks.join_next().await.is_some() {}
    drop(held);
    assert_normal_client_served(client).await;

    let peak = peak_rss_mib(pid);
    println!("peak RSS: {peak} MiB (after start: {baseline} MiB)");
    assert!(
        peak < CEILING_MIB,
        "peak RSS {peak} MiB is over {CEILING_MIB} MiB"
    );
    drop(child);
}
