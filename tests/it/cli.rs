//! The `wucache` binary as a user runs it: config errors, `sync` killed with SIGKILL and run
//! again, `updates --json`.

use crate::harness::{fake_with, stored_identities, synthetic, synthetic_identities};
use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::{tempdir, TempDir};
use uuid::Uuid;
use wucache::store::Store;
use wucache_testkit::fake_upstream::FakeUpstream;

const BIN: &str = env!("CARGO_BIN_EXE_wucache");

fn write_config(dir: &TempDir, upstream: &str) -> std::path::PathBuf {
    let path = dir.path().join("wucache.toml");
    let data = dir.path().join("data");
    let text = format!(
        r#"
[server]
http_listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[upstream]
server = "{upstream}"
initial_backoff = "5ms"
max_backoff = "50ms"
request_timeout = "20s"
[sync]
products = ["all"]
classifications = ["all"]
languages = []
[storage]
data_dir = "{}"
"#,
        data.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `wucache` run off the async threads (the fake upstream shares the test's runtime).
async fn wucache_async(args: &[&'static str], config: &Path) -> std::process::Output {
    let (args, config) = (args.to_vec(), config.to_path_buf());
    tokio::task::spawn_blocking(move || wucache(&args, &config))
        .await
        .unwrap()
}

fn wucache(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn an_unknown_config_key_stops_serve_naming_the_key() {
    let dir = tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[sync]\nproducts = []\nintervall = \"1h\"\n").unwrap();

    let output = wucache(&["serve"], &path);

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown key `sync.intervall`"), "{stderr}");
}

#[test]
fn a_missing_explicit_config_file_is_an_error() {
    let dir = tempdir().unwrap();
    let output = wucache(&["sync"], &dir.path().join("nope.toml"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope.toml"));
}

/// GetUpdateData batches of this many ids in the kill test.
const BATCH: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_killed_with_sigkill_resumes_with_nothing_lost_or_duplicated() {
    let catalog = synthetic(40, 600);
    let upstream = fake_with(&catalog).await;
    upstream.faults().set_max_updates_per_request(BATCH);
    upstream.faults().set_delay(Duration::from_millis(15));
    let dir = tempdir().unwrap();
    let config = write_config(&dir, &upstream.url());
    let all = synthetic_identities(&catalog);
    let config_docs: HashSet<(Uuid, u32)> = catalog
        .docs
        .iter()
        .filter(|d| d.kind.is_config())
        .map(|d| (d.update_id, d.revision))
        .collect();
    assert!(
        config_docs.len() > 2 * BATCH,
        "the categories phase takes several batches"
    );

    // Killed inside the categories phase, then twice inside the updates phase.
    for (run, batches) in [3u64, 15, 15].into_iter().enumerate() {
        let stored = sync_killed_after(&config, &upstream, batches).await;
        let held = stored_identities(&stored);
        assert!(held.is_subset(&all));
        assert!(
            held.len() < all.len(),
            "run {run} was killed before it stored everything"
        );
        if run > 0 {
            assert!(
                held.is_superset(&config_docs),
                "run {run} got past the categories phase: it kept every category"
            );
        }
    }

    let before = stored_identities(&Store::open(&dir.path().join("data")).unwrap());
    let returned_before = upstream.stats().documents_returned;
    let finish = wucache_async(&["sync"], &config).await;
    assert!(
        finish.status.success(),
        "{}",
        String::from_utf8_lossy(&finish.stderr)
    );
    assert_eq!(
        upstream.stats().documents_returned - returned_before,
        (all.len() - before.len()) as u64,
        "the last run fetched exactly what the killed runs had not kept"
    );
    let store = Store::open(&dir.path().join("data")).unwrap();
    assert_eq!(stored_identities(&store), all);
    assert_categories_as_in_the_catalog(&store, &catalog);
}

/// Runs `wucache sync` and SIGKILLs it once it has sent `batches` more GetUpdateData calls,
/// checking it was still running then; returns the store it left.
async fn sync_killed_after(config: &Path, upstream: &FakeUpstream, batches: u64) -> Store {
    let calls = || upstream.stats().call_count("GetUpdateData");
    let target = calls() + batches;
    let mut child = crate::harness::ChildGuard(
        Command::new(BIN)
            .args(["sync", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    while calls() < target {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "sync ended before its GetUpdateData call {target}: the kill would not land mid-sync"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.0.kill().unwrap(); // SIGKILL
    let status = child.0.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed, not finished: {status}"
    );
    Store::open(&config.parent().unwrap().join("data")).unwrap()
}

/// Every software update and bundle has the products and classifications the catalog gives it
/// (bundle members name theirs only through their bundle).
fn assert_categories_as_in_the_catalog(store: &Store, catalog: &wucache_testkit::synth::SynthCatalog) {
    let mut members = 0;
    for doc in catalog.docs.iter().filter(|d| !d.kind.is_config()) {
        let record = store.latest(&doc.update_id).unwrap().unwrap();
        let context = format!("{} r{}", doc.update_id, record.identity.revision);
        assert_eq!(record.products[..], doc.products[..], "{context}");
        assert_eq!(record.classifications[..], doc.classifications[..], "{context}");
        members += usize::from(catalog.docs.iter().any(|b| b.bundled.contains(&doc.update_id)));
    }
    assert!(members > 0, "bundle members were checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_json_lists_the_synced_catalog() {
    let catalog = synthetic(41, 40);
    let upstream = fake_with(&catalog).await;
    let dir = tempdir().unwrap();
    let config = write_config(&dir, &upstream.url());

    let (sync, listing) = tokio::task::spawn_blocking(move || {
        let sync = wucache(&["sync"], &config);
        (sync, wucache(&["updates", "--json"], &config))
    })
    .await
    .unwrap();

    assert!(sync.status.success(), "{}", String::from_utf8_lossy(&sync.stderr));
    let summary = String::from_utf8_lossy(&sync.stdout);
    assert!(summary.contains("new revisions"), "{summary}");
    let listed: serde_json::Value = serde_json::from_slice(&listing.stdout).unwrap();
    let software = catalog
        .docs
        .iter()
        .filter(|d| !d.kind.is_config())
        .map(|d| d.update_id)
        .collect::<std::collections::HashSet<_>>();
    let entries = listed.as_array().unwrap();
    assert_eq!(entries.len(), software.len());
    let first = &entries[0];
    for field in [
        "update_id",
        "revision",
        "local_revision_id",
        "type",
        "title",
        "kb",
        "msrc_severity",
        "products",
        "classifications",
        "created",
        "state",
        "files",
    ] {
        assert!(first.get(field).is_some(), "missing {field} in {first}");
    }
}

#[test]
fn serve_runs_on_a_config_and_exits_cleanly_on_sigterm() {
    let dir = tempdir().unwrap();
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = write_config(&dir, "http://127.0.0.1:9");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\nlisten = \"127.0.0.1:0\"", &format!("\nlisten = \"{admin}\""));
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let ready = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        ready(admin)
    });
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = (0..200)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            child.try_wait().unwrap()
        })
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!("serve did not exit within 10 s of SIGTERM")
        });

    assert!(ready, "serve never became ready");
    assert!(status.success(), "serve exited with {status}");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    // What an operator needs at start: the config in force, where the token is, baselines.
    assert!(
        log.contains(&format!("configuration file={}", config.display())),
        "{log}"
    );
    assert!(log.contains("admin.token"), "{log}");
    assert!(log.contains("no [baselines] file"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI colour codes when stderr is not a terminal"
    );
}

fn ready(admin: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(admin) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream
        .write_all(format!("GET /ready HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n").as_bytes());
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// A config for the binary with fixed free ports and a [content] section.
fn write_content_config(
    dir: &TempDir,
    upstream: &str,
    extra: &str,
) -> (std::path::PathBuf, std::net::SocketAddr, std::net::SocketAddr) {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (client, admin) = (free(), free());
    let path = write_config(dir, upstream);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "http_listen = \"127.0.0.1:0\"",
            &format!("http_listen = \"{client}\""),
        )
        .replace("\nlisten = \"127.0.0.1:0\"", &format!("\nlisten = \"{admin}\""));
    let baseline = crate::oracle::write_baseline(dir.path());
    let text = format!(
        "{text}\n[content]\nattempts = 3\n{extra}\n[baselines]\nfile = \"{}\"\n",
        baseline.display()
    );
    std::fs::write(&path, text).unwrap();
    (path, client, admin)
}

fn serve_child(config: &Path) -> crate::harness::ChildGuard {
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    crate::harness::ChildGuard(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_during_a_transfer_restarts_resumes_and_serves_nothing_corrupt() {
    let (upstream, catalog) = crate::content::upstream_with_payloads(90, 20, 3_000_000).await;
    let dir = tempdir().unwrap();
    let (config, client, admin) = write_content_config(&dir, &upstream.url(), "");
    let sync = tokio::task::spawn_blocking({
        let config = config.clone();
        move || wucache(&["sync"], &config)
    });
    assert!(sync.await.unwrap().status.success());
    let file = crate::content::largest_approved(&catalog);
    let hex = wucache_testkit::synth::hex(&file.sha1);
    upstream.faults().content_rate(file.size / 2);

    let mut child = serve_child(&config);
    assert!(
        crate::harness::eventually(|| async {
            crate::harness::http("GET", admin, "/ready", None).await.0 == 200
        })
        .await
    );
    let path = crate::content::content_path(&file);
    let download = tokio::spawn(async move { crate::content::get(client, &path, None).await });
    // Kill once a good part of the file has arrived.
    assert!(crate::harness::eventually(|| async { upstream.stats().file(&hex).bytes > file.size / 3 }).await);
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let _ = download.await;

    upstream.faults().content_clear();
    let _child = serve_child(&config);
    assert!(
        crate::harness::eventually(|| async {
            crate::harness::http("GET", admin, "/ready", None).await.0 == 200
        })
        .await
    );
    let reply = crate::content::get(client, &crate::content::content_path(&file), None).await;

    assert_eq!(reply.status, 200);
    assert!(
        reply.body == wucache_testkit::synth::payload(&file),
        "the served bytes are the verified file"
    );
    let ranges = upstream.stats().file(&hex).ranges;
    assert!(
        ranges.iter().flatten().any(|r| r != "bytes=0-"),
        "the restart resumed the partial: {ranges:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_killed_midway_resumes_on_the_next_run() {
    let (upstream, catalog) = crate::content::upstream_with_payloads(91, 20, 3_000_000).await;
    let dir = tempdir().unwrap();
    let (config, _, _) = write_content_config(&dir, &upstream.url(), "prefetch_concurrency = 1");
    let sync = tokio::task::spawn_blocking({
        let config = config.clone();
        move || wucache(&["sync"], &config)
    });
    assert!(sync.await.unwrap().status.success());
    let file = crate::content::largest_approved(&catalog);
    let hex = wucache_testkit::synth::hex(&file.sha1);
    upstream.faults().content_rate(file.size / 2);

    let mut child = crate::harness::ChildGuard(
        Command::new(BIN)
            .args(["prefetch", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(crate::harness::eventually(|| async { upstream.stats().file(&hex).bytes > file.size / 3 }).await);
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();

    upstream.faults().content_clear();
    let finish = wucache_async(&["prefetch"], &config).await;
    assert!(
        finish.status.success(),
        "{}",
        String::from_utf8_lossy(&finish.stdout)
    );
    let ranges = upstream.stats().file(&hex).ranges;
    assert!(
        ranges.iter().flatten().any(|r| r != "bytes=0-"),
        "resumed: {ranges:?}"
    );
    let stored = std::fs::read(
        dir.path()
            .join("data/content")
            .join(&hex.to_uppercase()[38..])
            .join(hex.to_uppercase()),
    )
    .unwrap();
    assert_eq!(stored, wucache_testkit::synth::payload(&file));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_downloads_what_the_baselines_approve_and_nothing_else() {
    let (upstream, catalog) = crate::content::upstream_with_payloads(92, 30, 20_000).await;
    assert!(!crate::oracle::unapproved_files(&catalog).is_empty());
    let dir = tempdir().unwrap();
    let (config, _, _) = write_content_config(&dir, &upstream.url(), "");
    assert!(wucache_async(&["sync"], &config).await.status.success());

    let prefetch = wucache_async(&["prefetch"], &config).await;

    assert!(
        prefetch.status.success(),
        "{}",
        String::from_utf8_lossy(&prefetch.stderr)
    );
    let approved: std::collections::BTreeSet<String> = crate::oracle::approved_files(&catalog)
        .iter()
        .map(crate::content::upper_hex)
        .collect();
    let content = dir.path().join("data/content");
    assert_eq!(crate::content::committed_on_disk(&content), approved);
}

#[test]
fn baseline_check_names_the_bad_field_and_accepts_the_shipped_examples() {
    let shipped = format!("{}/config/baselines/baselines.toml", env!("CARGO_MANIFEST_DIR"));
    let ok = Command::new(BIN)
        .args(["baseline", "check", &shipped])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("patch group Prod -> prod-servers"));

    let dir = tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"Name":"ring-1","OperatingSystem":"WINDOWS","ApprovalRules":{"PatchRules":[{"PatchFilterGroup":{"PatchFilters":[{"Key":"CLASSIFICATION","Values":["SecurityUpdates"]}]},"ApproveAfterDays":400}]}}"#,
    )
    .unwrap();
    let refused = Command::new(BIN)
        .args(["baseline", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("ApprovalRules.PatchRules[0].ApproveAfterDays"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_preview_decides_for_the_synced_catalog() {
    let upstream =
        wucache_testkit::fake_upstream::FakeUpstream::start(wucache_testkit::fake_upstream::real_docs())
            .await
            .unwrap();
    let dir = tempdir().unwrap();
    let config = write_config(&dir, &upstream.url());
    // The real documents' product (Microsoft Defender Antivirus) has no category document here.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "products = [\"all\"]",
        "products = [\"8c3fcc84-7410-4a95-8b89-a166a0190486\"]",
    );
    std::fs::write(&config, text).unwrap();
    let shipped = format!("{}/config/baselines/baselines.toml", env!("CARGO_MANIFEST_DIR"));

    let with_baselines = format!(
        "{}\n[baselines]\nfile = \"{shipped}\"\n",
        std::fs::read_to_string(&config).unwrap()
    );
    std::fs::write(&config, with_baselines).unwrap();
    let (sync, preview, listed, unknown) = tokio::task::spawn_blocking(move || {
        let sync = wucache(&["sync"], &config);
        let preview = Command::new(BIN)
            .args([
                "baseline",
                "preview",
                "--group",
                "Pilot",
                "--at",
                "2026-11-01T00:00:00Z",
                "--json",
                "--config",
            ])
            .arg(&config)
            .output()
            .unwrap();
        let listed = Command::new(BIN)
            .args(["updates", "--group", "Pilot", "--json", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let unknown = Command::new(BIN)
            .args(["updates", "--group", "Pilott", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        (sync, preview, listed, unknown)
    })
    .await
    .unwrap();
    // A group no baseline registers is an error naming the registered ones, not the default.
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success(), "{stderr}");
    assert!(
        stderr.contains("no patch group `Pilott`") && stderr.contains("Pilot") && stderr.contains("Prod"),
        "{stderr}"
    );
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let with_decision = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["decision"]["baseline"] == "os-and-apps")
        .count();
    assert!(
        with_decision > 0,
        "updates --group shows the Pilot baseline's decisions: {listed}"
    );

    assert!(sync.status.success(), "{}", String::from_utf8_lossy(&sync.stderr));
    assert!(
        preview.status.success(),
        "{}",
        String::from_utf8_lossy(&preview.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&preview.stdout).unwrap();
    let kb = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kb"] == "KB2267602")
        .expect("KB2267602 is in the preview");
    for field in ["decision", "compliance_level", "reason", "classification"] {
        assert!(kb[field].is_string(), "{field} in {kb}");
    }
}

/// While `serve` holds the store, `wucache updates` (with `--group`) and `baseline preview`
/// go through the admin API and print what they print from the store once the daemon has
/// stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_go_through_the_api_while_serve_holds_the_store() {
    let catalog = synthetic(43, 60);
    let upstream = fake_with(&catalog).await;
    let dir = tempdir().unwrap();
    let config_path = write_config(&dir, &upstream.url());
    let baselines = dir.path().join("baselines.toml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/baselines/baselines.toml"),
        &baselines,
    )
    .unwrap();
    let mut config = wucache::config::Config::load(Some(&config_path)).unwrap();
    config.sync.on_start = false;
    config.baselines.file = baselines.display().to_string();
    let synced = {
        let path = config_path.clone();
        tokio::task::spawn_blocking(move || wucache(&["sync"], &path))
            .await
            .unwrap()
    };
    assert!(synced.status.success());
    let daemon = wucache::daemon::Daemon::start(config).await.unwrap();
    let unreachable = {
        let path = config_path.clone();
        tokio::task::spawn_blocking(move || wucache(&["updates"], &path))
            .await
            .unwrap()
    };
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        stderr.contains("admin API"),
        "the store is held, so the API is asked: {stderr}"
    );
    let text = std::fs::read_to_string(&config_path).unwrap().replace(
        "[admin]\nlisten = \"127.0.0.1:0\"",
        &format!("[admin]\nlisten = \"{}\"", daemon.admin_addr),
    ) + &format!("[baselines]\nfile = \"{}\"\n", baselines.display());
    std::fs::write(&config_path, text).unwrap();
    let run = |path: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || wucache(&["updates", "--json", "--group", "Prod"], &path))
            .await
            .unwrap()
    };

    let preview = |path: std::path::PathBuf| async move {
        let args = [
            "baseline",
            "preview",
            "--group",
            "Prod",
            "--at",
            "2026-01-01T00:00:00Z",
            "--json",
        ];
        tokio::task::spawn_blocking(move || wucache(&args, &path))
            .await
            .unwrap()
    };
    let remote = run(config_path.clone()).await;
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let remote_preview = preview(config_path.clone()).await;
    assert!(
        remote_preview.status.success(),
        "{}",
        String::from_utf8_lossy(&remote_preview.stderr)
    );
    // The API refuses a group no baseline registers rather than answering for the default.
    let token = daemon.app.admin_token();
    let (status, body) = crate::harness::http(
        "GET",
        daemon.admin_addr,
        "/api/v1/updates?group=Prodd",
        Some(&token),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("no patch group `Prodd`") && body.contains("Prod"),
        "{body}"
    );
    daemon.stop().await;
    let local = run(config_path.clone()).await;
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let local_preview = preview(config_path).await;
    assert_eq!(
        String::from_utf8_lossy(&remote_preview.stdout),
        String::from_utf8_lossy(&local_preview.stdout),
        "baseline preview through the API equals the one from the store"
    );
    assert!(remote_preview.stdout.len() > 100);

    let remote: serde_json::Value = serde_json::from_slice(&remote.stdout).unwrap();
    let local: serde_json::Value = serde_json::from_slice(&local.stdout).unwrap();
    assert_eq!(remote, local);
    let software: std::collections::HashSet<_> = catalog
        .docs
        .iter()
        .filter(|d| !d.kind.is_config())
        .map(|d| d.update_id)
        .collect();
    assert_eq!(remote.as_array().unwrap().len(), software.len());
    assert!(remote
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["decision"]["baseline"] == "prod-servers"));
}
