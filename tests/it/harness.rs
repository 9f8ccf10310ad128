//! Shared set-up: configs pointing at a fake upstream, temp data dirs, synthetic catalogs.

use std::collections::HashSet;
use std::time::Duration;
use tempfile::TempDir;
use wucache::config::Config;
use wucache::store::Store;
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};
use wucache_testkit::synth::{self, SynthCatalog, SynthOptions};

/// A config for tests: loopback listeners on free ports, fast retries, everything synced.
pub(crate) fn config(upstream: &str, data: &TempDir) -> Config {
    let mut config = Config::default();
    config.server.http_listen = "127.0.0.1:0".parse().unwrap();
    config.admin.listen = "127.0.0.1:0".parse().unwrap();
    config.storage.data_dir = data.path().to_path_buf();
    config.upstream.server = upstream.to_string();
    config.upstream.initial_backoff = Duration::from_millis(5);
    config.upstream.max_backoff = Duration::from_millis(50);
    config.upstream.max_attempts = 6;
    config.upstream.request_timeout = Duration::from_secs(20);
    // The proxy environment of whoever runs the suite plays no part (tests/it/proxy.rs sets one).
    config.upstream.proxy = "none".into();
    config.sync.products = vec!["all".into()];
    config.sync.classifications = vec!["all".into()];
    config.sync.languages = vec![];
    config.sync.interval = Duration::ZERO;
    config.sync.on_start = false;
    config
}

/// A deterministic synthetic catalog of `updates` software updates.
pub(crate) fn synthetic(seed: u64, updates: usize) -> SynthCatalog {
    synth::generate(&SynthOptions {
        seed,
        updates,
        ..SynthOptions::default()
    })
}

pub(crate) fn upstream_docs(catalog: &SynthCatalog) -> Vec<UpstreamDoc> {
    catalog.docs.iter().map(UpstreamDoc::from_synth).collect()
}

/// Starts a fake upstream serving a synthetic catalog.
pub(crate) async fn fake_with(catalog: &SynthCatalog) -> FakeUpstream {
    FakeUpstream::start(upstream_docs(catalog)).await.unwrap()
}

/// Every (update id, revision) stored, and the local ids, checking none is duplicated.
pub(crate) fn stored_identities(store: &Store) -> HashSet<(uuid::Uuid, u32)> {
    let mut identities = HashSet::new();
    let mut local_ids = HashSet::new();
    for record in store.all_revisions() {
        let record = record.unwrap();
        assert!(
            local_ids.insert(record.local_id),
            "local id {} used twice",
            record.local_id
        );
        assert!(
            identities.insert((record.identity.update_id, record.identity.revision)),
            "revision {} stored twice",
            record.identity
        );
    }
    identities
}

/// The identities a synthetic catalog holds.
pub(crate) fn synthetic_identities(catalog: &SynthCatalog) -> HashSet<(uuid::Uuid, u32)> {
    catalog.docs.iter().map(|d| (d.update_id, d.revision)).collect()
}

pub(crate) fn upstream_doc(doc: &synth::SynthDoc) -> UpstreamDoc {
    UpstreamDoc::from_synth(doc)
}

/// A plain HTTP/1.1 request on loopback; returns (status, body).
pub(crate) async fn http(
    method: &str,
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return (0, String::new());
    };
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

/// Polls until `check` passes or ten seconds go by.
pub(crate) async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A child process killed when the guard drops (so a failing test leaves no daemon behind).
pub(crate) struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A config file for the CLI's API commands (`compliance`, `stats`, `syncs` …) against a
/// daemon running in the test: its admin listener and the data folder holding its token.
pub(crate) fn cli_config(data: &std::path::Path, admin: std::net::SocketAddr) -> std::path::PathBuf {
    let path = data.join("cli.toml");
    let text = format!(
        "[admin]\nlisten = \"{admin}\"\n[storage]\ndata_dir = \"{}\"\n",
        data.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The daemon on a store synced from `upstream`, deciding by the baseline file `baselines`
/// (TOML text), ready (catalog loaded) when this returns.
pub(crate) async fn serve_with_baselines(
    upstream: &str,
    data: &TempDir,
    baselines: &str,
) -> wucache::daemon::Daemon {
    let mut config = config(upstream, data);
    let store = Store::open(data.path()).unwrap();
    wucache::upstream::run_sync(&store, &config, &wucache::upstream::Quiet)
        .await
        .unwrap();
    drop(store);
    let file = data.path().join("baselines.toml");
    std::fs::write(&file, baselines).unwrap();
    config.baselines.file = file.display().to_string();
    let daemon = wucache::daemon::Daemon::start(config).await.unwrap();
    let app = daemon.app.clone();
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { app.is_ready() }
        })
        .await,
        "the catalog loads"
    );
    daemon
}
