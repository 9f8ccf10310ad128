//! Windows clients against a running wucache over HTTP, graded independently: requests are
//! built, answers decompressed and read by the test kit's `wua` (written from the WSDL, MS-XCA
//! and real Windows 11 ↔ WSUS traffic), and what a client must be offered is worked out from the
//! synthetic catalog's ground truth (`truth`), never from the server's snapshot. wucache is only
//! started here (`Daemon`, `run_sync`, `Store`, its config).

mod agent;
mod cache;
mod deployments;
mod faults;
mod scan;
mod template;
mod truth;
mod windows;

pub(crate) use agent::{ScanResult, WindowsClient};

use crate::harness::{config, eventually, fake_with, http, synthetic};
use std::collections::BTreeSet;
use std::path::PathBuf;
use tempfile::TempDir;
use wucache::daemon::Daemon;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};
use wucache_testkit::synth::SynthCatalog;

/// Starts a daemon on `config` and waits until it serves its catalog.
pub(crate) async fn start(config: wucache::config::Config) -> Daemon {
    let daemon = Daemon::start(config).await.expect("daemon starts");
    let app = daemon.app.clone();
    let ready = eventually(|| {
        let app = app.clone();
        async move { app.is_ready() }
    })
    .await;
    assert!(ready, "the daemon becomes ready");
    daemon
}

/// Mirrors `catalog` from a fake upstream into a fresh data directory and serves it, with the
/// baseline file `baselines` if one is given (its path is returned).
pub(crate) async fn serve(catalog: &SynthCatalog, baselines: Option<&str>) -> (Daemon, TempDir, PathBuf) {
    let upstream = fake_with(catalog).await;
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = config(&upstream.url(), &data);
    {
        let store = Store::open(data.path()).expect("store opens");
        run_sync(&store, &config, &Quiet).await.expect("sync runs");
    }
    let file = data.path().join("baselines.toml");
    if let Some(text) = baselines {
        std::fs::write(&file, text).expect("baseline file written");
        config.baselines.file = file.display().to_string();
    }
    (start(config).await, data, file)
}

/// A synthetic catalog of `updates` updates, served without baselines.
pub(crate) async fn serve_synthetic(seed: u64, updates: usize) -> (Daemon, SynthCatalog, TempDir) {
    let catalog = synthetic(seed, updates);
    let (daemon, data, _) = serve(&catalog, None).await;
    (daemon, catalog, data)
}

/// A baseline file whose one (default) baseline explicitly approves `kbs` and offers superseded
/// updates; `report_unapproved` sends the others detect-only.
pub(crate) fn baseline_toml(kbs: &BTreeSet<String>, report_unapproved: bool) -> String {
    let list: Vec<String> = kbs.iter().map(|kb| format!("\"{kb}\"")).collect();
    format!(
        r#"schema_version = 1
default_baseline = "explicit"

[evaluation]
report_unapproved = {report_unapproved}

[[baseline]]
id = "explicit"
Name = "explicit"
OperatingSystem = "WINDOWS"
ApprovedPatches = [{}]

[baseline.ProxyExtensions]
SupersededHandling = "Offer"
"#,
        list.join(", ")
    )
}

/// Rewrites the baseline file and has the daemon reload it.
pub(crate) async fn reload(daemon: &Daemon, file: &std::path::Path, text: &str) {
    std::fs::write(file, text).expect("baseline file written");
    let token = daemon.app.admin_token();
    let (status, body) = http("POST", daemon.admin_addr, "/api/v1/reload", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
}
