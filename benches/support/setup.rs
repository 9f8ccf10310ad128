//! Setting up a benchmark: the synthetic catalog on the fake upstream, the daemon's
//! configuration, the mirror into its store, runtimes with named threads (CPU is counted by
//! thread name), free loopback ports, child processes stopped, sizes from the environment.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::Duration;
use tempfile::TempDir;
use tokio::runtime::Runtime;
use wucache::config::Config;
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};
use wucache_testkit::synth::{generate, SynthCatalog, SynthOptions};

/// Names of the daemon's and the load generator's runtime threads.
pub(crate) const SERVER_THREADS: &str = "wucache-server";
pub(crate) const LOAD_THREADS: &str = "load-generator";

/// A size from the environment variable `name`, or `default`.
pub(crate) fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A two-worker tokio runtime whose threads (blocking pool included, kept alive so their CPU
/// time stays countable) are called `name`.
pub(crate) fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .thread_keep_alive(Duration::from_secs(600))
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A synthetic catalog of `updates` software updates (seed 2026) and the fake upstream on
/// loopback publishing it.
pub(crate) async fn synthetic_upstream(updates: usize) -> (SynthCatalog, FakeUpstream) {
    let catalog = generate(&SynthOptions {
        seed: 2026,
        updates,
        ..SynthOptions::default()
    });
    let docs: Vec<UpstreamDoc> = catalog.docs.iter().map(UpstreamDoc::from_synth).collect();
    let upstream = FakeUpstream::start(docs).await.expect("fake upstream");
    (catalog, upstream)
}

/// The daemon's configuration: listeners on free loopback ports, `data` as its data folder,
/// every product and classification of `upstream`, no scheduled sync. Every simulated
/// machine connects from 127.0.0.1, so the per-address limits (meant for one machine per
/// address) are lifted: connections to the overall limit, new computers and events to none.
pub(crate) fn config(upstream: &str, data: &TempDir) -> Config {
    let mut config = Config::default();
    config.server.http_listen = "127.0.0.1:0".parse().expect("address");
    config.admin.listen = "127.0.0.1:0".parse().expect("address");
    config.storage.data_dir = data.path().to_path_buf();
    config.upstream.server = upstream.to_string();
    config.sync.products = vec!["all".into()];
    config.sync.classifications = vec!["all".into()];
    config.sync.languages = vec![];
    config.sync.interval = Duration::ZERO;
    config.sync.on_start = false;
    config.server.max_connections_per_ip = config.server.max_connections;
    config.reporting.new_computers_per_minute_per_ip = 0;
    config.reporting.events_per_minute_per_ip = 0;
    config
}

/// Mirrors the upstream's catalog into the store `config` names, as `wucache sync` does.
pub(crate) async fn mirror(config: &Config) {
    let store = wucache::store::Store::open(&config.storage.data_dir).expect("store");
    wucache::upstream::run_sync(&store, config, &wucache::upstream::Quiet)
        .await
        .expect("sync from the fake upstream");
}

/// A loopback address no one listens on right now.
pub(crate) fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// Stops a child process with SIGTERM (its own clean shutdown) and waits for it.
pub(crate) fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}
