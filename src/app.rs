//! Wiring only: the one `App` of cheap handles built from the config — store, admin token,
//! cookie key, TLS certificate, baselines (the baseline file is read here), the served
//! snapshot and readiness, the payload cache, and the controls the workers and the admin API
//! share. Uses `config`, `approval`, `cookie`, `cert`, `store`, `content`, `snapshot`,
//! `upstream`, `stats`.

use crate::approval::{Baseline, BaselineError, BaselineSet, EvaluationSettings, Loaded};
use crate::cert::{CertError, ServerCert};
use crate::config::Config;
use crate::content::cache::{Cache, CacheConfig};
use crate::content::prefetch::{PrefetchProgress, PrefetchSummary};
use crate::cookie::CookieKey;
use crate::snapshot::Snapshot;
use crate::stats::{ContentCounters, PersistedContent, ReportingCounters};
use crate::store::{MetaKey, Store, StoreError};
use crate::upstream::payload::HttpFetch;
use crate::upstream::transport::{Transport, TransportError};
use crate::upstream::SyncSummary;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::Notify;

/// Why the daemon's shared state could not be opened or reloaded.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The catalog store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file or directory under the data directory could not be read, written or created.
    #[error("cannot prepare {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `[upstream] ca_file` does not load (checked at start, not at the first sync).
    #[error("config key `upstream.ca_file`: {0}")]
    CaFile(String),
    /// The proxy settings cannot be used: the credentials file or a proxy variable in the
    /// environment (checked at start); the message names the key or variable.
    #[error("{0}")]
    Proxy(String),
    /// The payload cache could not be opened (upstream transport or content directory).
    #[error("payload cache: {0}")]
    Content(String),
    /// The TLS certificate or key does not load; the message names the key and the file.
    #[error(transparent)]
    Tls(#[from] CertError),
    /// The baseline file does not load; the message names file and field.
    #[error("{0}")]
    Baselines(String),
    /// The admin token file is empty on reload.
    #[error("admin token file {path} is empty; the previous token stays in force")]
    EmptyToken {
        /// The token file.
        path: String,
    },
    /// Another process holds the catalog store's lock.
    #[error("catalog store in {path} is in use by another wucache process (a running `wucache serve`?); stop it, or ask it to sync with `POST /api/v1/sync`")]
    Locked {
        /// The data directory.
        path: String,
    },
}

/// Shared state of the daemon; cheap to clone behind an `Arc`.
pub struct App {
    /// The configuration the daemon was started with.
    pub config: Config,
    /// The catalog store.
    pub store: Store,
    /// The bearer token of `/api/v1`, re-read from the token file on reload (std RwLock:
    /// never held across an await).
    admin_token: RwLock<String>,
    /// Seals client cookies; persisted so a restart keeps clients' cookies valid.
    pub cookie_key: CookieKey,
    /// The `[tls]` certificate, when a listener serves TLS; re-read on reload.
    pub tls_cert: Option<Arc<ServerCert>>,
    /// Triggers and reports the background sync.
    pub sync: SyncControl,
    pub(crate) prefetch: PrefetchControl,
    /// The payload cache, opened once the catalog is loaded (its start-up check needs the
    /// catalog's file sizes).
    pub content: OnceLock<Cache<HttpFetch>>,
    /// Payload counters for metrics, shared with the cache.
    pub counters: Arc<ContentCounters>,
    /// What the reporting bounds turned away.
    pub reporting: ReportingCounters,
    /// Metadata sync totals (runs, failures, revisions, bytes), kept across restarts.
    pub sync_totals: crate::stats::SyncCounters,
    /// SOAP requests answered, by operation and outcome, with their durations.
    pub soap: crate::stats::SoapCounters,
    /// Why the catalog store does not take writes, while it does not (the storage watch).
    pub(crate) storage_error: Mutex<Option<String>>,
    /// Set when the store must be reopened (the disk takes writes again, sled does not): the
    /// daemon stops and `serve` starts it again.
    pub(crate) reopen_wanted: AtomicBool,
    /// What the listeners let in (`[server]` limits), shared by the client listeners.
    pub(crate) admission: crate::admission::Admission,
    /// The fleet's compliance rows, kept between reads.
    pub(crate) fleet: crate::compliance::FleetCache,
    /// The baselines in force (`[baselines] file`); `None` = approve every mirrored update.
    baselines: RwLock<Option<Arc<BaselineSet>>>,
    /// The served catalog, rebuilt at start and after each sync.
    snapshot: RwLock<Arc<Snapshot>>,
    /// Metadata fragments, derived once and kept ready to write; outlives snapshots.
    pub fragments: Arc<crate::fragments::FragmentCache>,
    /// Bumped by every new snapshot and at shutdown: a warming thread of an older one stops.
    warm_generation: Arc<AtomicU64>,
    /// The thread warming the fragment cache for the newest snapshot, if one runs.
    warming: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The baselines in force have not been checked against a catalog yet (they were just
    /// loaded, or the catalog was empty): the next `load_catalog` logs the guardrails.
    guardrails_due: AtomicBool,
    ready: AtomicBool,
}

/// Triggers and reports the background prefetch.
#[derive(Default)]
pub struct PrefetchControl {
    pub(crate) trigger: Notify,
    pub(crate) running: AtomicBool,
    /// The last finished run (std Mutex: never held across an await).
    pub(crate) last: Mutex<Option<PrefetchSummary>>,
    pub(crate) files_done: AtomicU64,
    pub(crate) files_total: AtomicU64,
}

impl PrefetchControl {
    /// Asks the worker to prefetch now (a request during a run starts another after it).
    pub fn request(&self) {
        self.trigger.notify_one();
    }

    /// A prefetch run is in progress.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// The last finished prefetch run, if any.
    pub fn last(&self) -> Option<PrefetchSummary> {
        self.last.lock().map(|l| l.clone()).unwrap_or(None)
    }
}

impl PrefetchProgress for PrefetchControl {
    fn start(&self, files: u64, bytes: u64) {
        self.files_total.store(files, Ordering::Relaxed);
        self.files_done.store(0, Ordering::Relaxed);
        tracing::info!(files, bytes, "prefetch started");
    }

    fn file_done(&self, _bytes: u64) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Triggers and reports the background sync.
#[derive(Default)]
pub struct SyncControl {
    pub(crate) trigger: Notify,
    pub(crate) running: AtomicBool,
    /// The last finished sync (std Mutex: never held across an await).
    pub(crate) last: Mutex<Option<SyncSummary>>,
    pub(crate) progress_done: AtomicU64,
    pub(crate) progress_total: AtomicU64,
}

impl SyncControl {
    /// Asks the worker to sync now; false when a sync is already running.
    pub fn request(&self) -> bool {
        if self.running.load(Ordering::SeqCst) {
            return false;
        }
        self.trigger.notify_one();
        true
    }

    /// A sync is in progress.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// The last finished sync, if any.
    pub fn last(&self) -> Option<SyncSummary> {
        self.last.lock().map(|l| l.clone()).unwrap_or(None)
    }
}

impl App {
    /// Opens the store and the admin token; the catalog is loaded by `load_catalog`.
    pub fn open(config: Config) -> Result<Arc<App>, AppError> {
        check_upstream(&config)?;
        let store = open_store_with_cache(&config.storage.data_dir, SERVE_CACHE_BYTES, true)?;
        let admin_token = load_or_create_token(&config.token_path())?;
        let cookie_key = load_or_create_key(&config.storage.data_dir.join("cookie.key"))?;
        let tls_cert = load_tls_cert(&config)?;
        let baselines = load_baselines(&config)?;
        let counters = Arc::new(ContentCounters::default());
        if let Some(kept) = store
            .meta(MetaKey::ContentCounters)?
            .and_then(|json| serde_json::from_str::<PersistedContent>(&json).ok())
        {
            counters.restore(&kept);
        }
        let sync_totals = crate::stats::SyncCounters::default();
        if let Some(kept) = store
            .meta(MetaKey::SyncCounters)?
            .and_then(|json| serde_json::from_str::<crate::stats::SyncTotals>(&json).ok())
        {
            sync_totals.restore(&kept);
        }
        let admission = crate::admission::Admission::new(&config);
        let fragment_budget = usize::try_from(config.server.fragment_cache).unwrap_or(usize::MAX);
        Ok(Arc::new(App {
            config,
            store,
            admin_token: RwLock::new(admin_token),
            cookie_key,
            tls_cert,
            sync: SyncControl::default(),
            prefetch: PrefetchControl::default(),
            content: OnceLock::new(),
            counters,
            reporting: ReportingCounters::default(),
            fleet: Default::default(),
            soap: Default::default(),
            admission,
            storage_error: Mutex::new(None),
            reopen_wanted: AtomicBool::new(false),
            sync_totals,
            baselines: RwLock::new(baselines),
            snapshot: RwLock::new(Arc::new(Snapshot::empty())),
            fragments: Arc::new(crate::fragments::FragmentCache::new(fragment_budget)),
            warm_generation: Arc::default(),
            warming: Mutex::new(None),
            ready: AtomicBool::new(false),
            guardrails_due: AtomicBool::new(true),
        }))
    }

    /// Builds the served catalog from the store and marks the daemon ready.
    pub fn load_catalog(&self) -> Result<usize, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let snapshot = match self.baselines() {
            Some(set) => Snapshot::build_with_baselines(&self.store, now, set)?,
            None => Snapshot::build(&self.store, now)?,
        };
        let count = snapshot.records.len();
        self.set_snapshot(snapshot);
        self.ready.store(true, Ordering::SeqCst);
        // Neither the guardrail warnings nor the fleet's compliance rows change an answer
        // to a client: they come after `/ready`.
        self.log_catalog_guardrails(&self.snapshot().records);
        self.warm_fleet();
        Ok(count)
    }

    /// Logs the catalog guardrails of the baselines in force once after they load, as soon
    /// as the catalog has updates.
    fn log_catalog_guardrails(&self, records: &[crate::model::UpdateRecord]) {
        let Some(set) = self.baselines() else { return };
        if !self.guardrails_due.load(Ordering::SeqCst) {
            return;
        }
        let facts = crate::approval::catalog_facts(records);
        if facts.is_empty() {
            return;
        }
        self.guardrails_due.store(false, Ordering::SeqCst);
        for warning in crate::approval::catalog_warnings(&set, &facts, chrono::Utc::now()) {
            tracing::warn!(%warning, "baselines against the catalog");
        }
    }

    /// Recomputes the fleet's compliance rows under the new snapshot now, so the next
    /// compliance read does not pay for it (about a second per 10,000 machines).
    fn warm_fleet(&self) {
        if self.store.computer_count() == 0 {
            return;
        }
        let started = std::time::Instant::now();
        match self.fleet.refresh(&self.store, &self.snapshot()) {
            Ok(machines) => tracing::info!(
                machines,
                ms = started.elapsed().as_millis() as u64,
                "fleet compliance recomputed"
            ),
            Err(err) => tracing::warn!(error = %err, "recomputing the fleet's compliance failed"),
        }
    }

    /// The baselines in force.
    pub fn baselines(&self) -> Option<Arc<BaselineSet>> {
        self.baselines.read().ok().and_then(|b| b.clone())
    }

    /// Writes the counters that persist across restarts to the store.
    pub fn persist_counters(&self) -> Result<(), StoreError> {
        let json = serde_json::to_string(&self.counters.persisted()).unwrap_or_default();
        self.store.set_meta(MetaKey::ContentCounters, &json)?;
        let json = serde_json::to_string(&self.sync_totals.totals()).unwrap_or_default();
        self.store.set_meta(MetaKey::SyncCounters, &json)
    }

    /// The admin API's bearer token in force.
    pub fn admin_token(&self) -> String {
        self.admin_token.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// SIGHUP and `POST /api/v1/reload`: re-reads the admin token file (so a token can be
    /// rotated without a restart), the `[tls]` certificate and key (new connections get the
    /// new certificate) and `[baselines] file`, then re-plans the catalog with the baselines.
    /// Whatever does not load keeps its previous value in force, and the error says why.
    pub fn reload(&self) -> Result<(), AppError> {
        let token = read_token(&self.config.token_path());
        if let Ok(token) = &token {
            if let Ok(mut slot) = self.admin_token.write() {
                slot.clone_from(token);
            }
        }
        let certificate = match &self.tls_cert {
            Some(cert) => cert.reload().map_err(AppError::from),
            None => Ok(()),
        };
        self.reload_baselines()?;
        self.load_catalog()?;
        token?;
        certificate
    }

    /// Re-reads the baselines (`[baselines] file`, or a replica's adopted copy of the hub's)
    /// and puts them in force for the next `load_catalog`; on error the old ones stay.
    pub fn reload_baselines(&self) -> Result<(), AppError> {
        let loaded = load_baselines(&self.config)?;
        if let Ok(mut slot) = self.baselines.write() {
            *slot = loaded;
        }
        self.guardrails_due.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Opens the payload cache (reconciling the content directory against the catalog).
    pub fn open_content(&self) -> Result<(), AppError> {
        if self.content.get().is_some() {
            return Ok(());
        }
        let cache = open_cache(&self.config, self.snapshot(), Arc::clone(&self.counters))?;
        let _ = self.content.set(cache);
        Ok(())
    }

    /// Serves `snapshot` from now on (used by `load_catalog`, and by benchmarks that plan
    /// their own approvals).
    pub fn set_snapshot(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        if let Ok(mut slot) = self.snapshot.write() {
            *slot = Arc::clone(&snapshot);
        }
        self.warm_fragments(snapshot);
    }

    /// Derives, on a thread of its own, the Core fragments of what `snapshot` serves that the
    /// cache lacks, so that the first clients after a start or a sync do not pay for them;
    /// stops when a newer snapshot comes or the daemon stops (`stop_background`).
    fn warm_fragments(&self, snapshot: Arc<Snapshot>) {
        let generation = self.warm_generation.fetch_add(1, Ordering::SeqCst) + 1;
        let current = Arc::clone(&self.warm_generation);
        let cache = Arc::clone(&self.fragments);
        let store = self.store.clone();
        let warm = move || {
            let started = std::time::Instant::now();
            let ids = snapshot.served_local_ids();
            let derived = cache.warm(&store, ids, || current.load(Ordering::SeqCst) == generation);
            let stats = cache.stats();
            tracing::info!(
                derived,
                entries = stats.entries,
                mib = stats.bytes >> 20,
                ms = started.elapsed().as_millis() as u64,
                "fragment cache warmed"
            );
        };
        let spawned = std::thread::Builder::new()
            .name("fragment-warm".into())
            .spawn(warm);
        let previous = match spawned {
            Ok(handle) => self.warming.lock().ok().and_then(|mut slot| slot.replace(handle)),
            Err(err) => {
                tracing::warn!(error = %err, "could not start warming the fragment cache");
                None
            }
        };
        if let Some(previous) = previous {
            let _ = previous.join();
        }
    }

    /// Stops the background work that holds the store outside the daemon's tasks (the
    /// fragment cache's warming) and waits for it, so that the store can close.
    pub fn stop_background(&self) {
        self.warm_generation.fetch_add(1, Ordering::SeqCst);
        let running = self.warming.lock().ok().and_then(|mut slot| slot.take());
        if let Some(handle) = running {
            let _ = handle.join();
        }
    }

    /// Why the catalog store does not take writes, if it does not.
    pub fn storage_error(&self) -> Option<String> {
        self.storage_error.lock().map(|e| e.clone()).unwrap_or(None)
    }

    /// Whether the daemon stopped to reopen its store (`serve` starts it again).
    pub fn wants_reopen(&self) -> bool {
        self.reopen_wanted.load(Ordering::SeqCst)
    }

    /// The catalog is loaded and clients can be served (`/ready`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The served catalog as of now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_else(|_| Arc::new(Snapshot::empty()))
    }
}

/// Loads the `[tls]` certificate when a listener serves TLS.
fn load_tls_cert(config: &Config) -> Result<Option<Arc<ServerCert>>, AppError> {
    if !config.tls_in_use() {
        if !config.tls.cert.is_empty() {
            tracing::warn!("[tls] cert is set, but no listener serves TLS");
        }
        return Ok(None);
    }
    let cert = ServerCert::load(Path::new(&config.tls.cert), Path::new(&config.tls.key))?;
    Ok(Some(Arc::new(cert)))
}

/// Loads `[baselines] file`, if one is configured; a replica loads the hub's instead.
fn load_baselines(config: &Config) -> Result<Option<Arc<BaselineSet>>, AppError> {
    if config.upstream.replica {
        if !config.baselines.file.is_empty() {
            tracing::warn!(file = %config.baselines.file, "[baselines] file is ignored: a replica follows its hub's baselines");
        }
        return load_replica_baselines(config);
    }
    if config.baselines.file.is_empty() {
        return Ok(None);
    }
    let loaded = load_baseline_file(std::path::Path::new(&config.baselines.file))
        .map_err(|e| AppError::Baselines(e.to_string()))?;
    for warning in &loaded.warnings {
        tracing::warn!(%warning, "baseline file");
    }
    for warning in crate::approval::document_warnings(&loaded.value) {
        tracing::warn!(%warning, "baseline file");
    }
    Ok(Some(Arc::new(loaded.value)))
}

/// A replica's adopted baselines: the hub's file (`replica/baselines.toml|json`), none when
/// the hub has none (`replica/none`: every mirrored update approved, as on the hub), and
/// before the first adoption a baseline that approves nothing (a replica offers nothing it
/// has not been told to, as a WSUS replica before its first sync).
fn load_replica_baselines(config: &Config) -> Result<Option<Arc<BaselineSet>>, AppError> {
    let dir = replica_dir(config);
    for name in ["baselines.toml", "baselines.json"] {
        let path = dir.join(name);
        if path.exists() {
            let loaded = load_baseline_file(&path).map_err(|e| AppError::Baselines(e.to_string()))?;
            return Ok(Some(Arc::new(loaded.value)));
        }
    }
    if dir.join("none").exists() {
        return Ok(None);
    }
    let nothing = BaselineSet::from_toml(APPROVE_NOTHING, &|file: &str| Err(file.to_string()))
        .map_err(|e| AppError::Baselines(e.to_string()))?;
    Ok(Some(Arc::new(nothing.value)))
}

/// The baselines of a replica that has not heard from its hub yet.
const APPROVE_NOTHING: &str = r#"schema_version = 1
default_baseline = "replica-waiting-for-hub"

[[baseline]]
id = "replica-waiting-for-hub"
Name = "replica-waiting-for-hub"
OperatingSystem = "WINDOWS"
"#;

fn replica_dir(config: &Config) -> std::path::PathBuf {
    config.storage.data_dir.join("replica")
}

/// After a replica's sync: checks the hub's baselines the sync left
/// (`upstream::replica_incoming`) and, when they load, puts them in place of the previous
/// ones. Returns whether anything was adopted; baselines that do not load are kept aside as
/// `replica/rejected.json` and the previous ones stay in force.
pub fn adopt_replica_baselines(config: &Config) -> Result<bool, AppError> {
    let incoming = crate::upstream::replica_incoming(config);
    let Ok(answer) = std::fs::read_to_string(&incoming) else {
        return Ok(false);
    };
    let dir = replica_dir(config);
    let reject = |why: String| {
        let _ = std::fs::rename(&incoming, dir.join("rejected.json"));
        AppError::Baselines(format!("the hub's baselines were not adopted: {why}"))
    };
    let parsed: serde_json::Value = serde_json::from_str(&answer).map_err(|e| reject(e.to_string()))?;
    let format = parsed["format"].as_str().unwrap_or_default();
    let text = parsed["text"].as_str().unwrap_or_default();
    let adopted = match format {
        "none" => dir.join("none"),
        "toml" => dir.join("baselines.toml"),
        "json" => dir.join("baselines.json"),
        other => return Err(reject(format!("unknown format `{other}`"))),
    };
    let candidate = dir.join(format!("candidate.{format}"));
    std::fs::write(&candidate, text).map_err(|e| reject(e.to_string()))?;
    if format != "none" {
        if let Err(err) = load_baseline_file(&candidate) {
            let _ = std::fs::remove_file(&candidate);
            return Err(reject(err.to_string()));
        }
    }
    for name in ["baselines.toml", "baselines.json", "none"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    std::fs::rename(&candidate, &adopted).map_err(|e| reject(e.to_string()))?;
    let _ = std::fs::remove_file(&incoming);
    tracing::info!(format, "the hub's baselines are in force (replica mode)");
    Ok(true)
}

/// Builds the upstream transport as the sync and the payload fetches will, so a wrong CA
/// file, proxy credentials file or proxy variable stops the start instead of the first sync.
fn check_upstream(config: &Config) -> Result<(), AppError> {
    match Transport::new(&config.upstream) {
        Ok(_) => Ok(()),
        Err(err @ TransportError::CaFile { .. }) => Err(AppError::CaFile(err.to_string())),
        Err(err) => Err(AppError::Proxy(err.to_string())),
    }
}

/// The payload cache over HTTP(S) downloads, for a catalog snapshot.
pub fn open_cache(
    config: &Config,
    snapshot: Arc<Snapshot>,
    counters: Arc<ContentCounters>,
) -> Result<Cache<HttpFetch>, AppError> {
    let known_size = move |sha1: &crate::content::Sha1| snapshot.payload(sha1).map(|(meta, _)| meta.size);
    open_cache_knowing(config, known_size, counters)
}

/// The payload cache over HTTP(S) downloads; `known_size` gives the size of every payload the
/// catalog names (the start-up reconciliation deletes files it does not know).
pub fn open_cache_knowing(
    config: &Config,
    known_size: impl Fn(&crate::content::Sha1) -> Option<u64>,
    counters: Arc<ContentCounters>,
) -> Result<Cache<HttpFetch>, AppError> {
    let transport = Transport::new(&config.upstream).map_err(|e| AppError::Content(e.to_string()))?;
    let fetch = HttpFetch::new(transport, config.content.idle_timeout);
    let cache_config = CacheConfig {
        max_size: config.content.max_size,
        attempts: config.content.attempts,
        max_transfers: config.content.max_transfers as usize,
        max_queued: config.content.max_queued as usize,
        initial_backoff: config.upstream.initial_backoff,
        max_backoff: config.upstream.max_backoff,
    };
    Cache::open(&config.content_dir(), known_size, fetch, cache_config, counters)
        .map_err(|e| AppError::Content(e.to_string()))
}

/// Opens the store, turning a held lock into advice.
pub fn open_store(data_dir: &Path) -> Result<Store, AppError> {
    open_store_with_cache(data_dir, crate::store::DEFAULT_CACHE_BYTES, false)
}

/// sled's page cache in `serve`: the served snapshot holds what clients are answered from, so
/// the daemon keeps less of the trees in memory than a one-off command (start-up reads the
/// whole revisions tree once; the operating system still caches the file). sled holds about
/// one and a half times this in memory (its pages decoded), filled by the fragment warm-up's
/// document reads. 8 MiB against 24: 10-12 MiB less resident with 100k revisions and 10k
/// machines; a first sync of 100k revisions into an empty store ~8 % slower (measured with
/// `wucache sync` at both sizes, 17.7-19.0k against 19.4-20.3k revisions/s).
const SERVE_CACHE_BYTES: u64 = 8 << 20;

/// `open_store` with sled's page cache bounded to `cache_bytes`; `serving`: the catalog image
/// is read while the store opens (the daemon loads its catalog right after).
fn open_store_with_cache(data_dir: &Path, cache_bytes: u64, serving: bool) -> Result<Store, AppError> {
    std::fs::create_dir_all(data_dir).map_err(|source| AppError::Io {
        path: data_dir.display().to_string(),
        source,
    })?;
    let opened = if serving {
        Store::open_prefetching(data_dir, cache_bytes)
    } else {
        Store::open_with_cache(data_dir, cache_bytes)
    };
    opened.map_err(|err| match err {
        StoreError::Locked => AppError::Locked {
            path: data_dir.display().to_string(),
        },
        other => AppError::Store(other),
    })
}

/// The token file as it is now; an empty or unreadable file is an error.
fn read_token(path: &Path) -> Result<String, AppError> {
    let text = std::fs::read_to_string(path).map_err(|source| AppError::Io {
        path: path.display().to_string(),
        source,
    })?;
    match text.trim() {
        "" => Err(AppError::EmptyToken {
            path: path.display().to_string(),
        }),
        token => Ok(token.to_string()),
    }
}

/// Reads the admin token, creating a random one (mode 0600) on first start.
fn load_or_create_token(path: &Path) -> Result<String, AppError> {
    let io_err = |source| AppError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_err(err)),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    write_private(path, &token).map_err(io_err)?;
    Ok(token)
}

/// Reads the 32-byte cookie key, creating a random one (mode 0600) on first start.
fn load_or_create_key(path: &Path) -> Result<CookieKey, AppError> {
    let io_err = |source| AppError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                io_err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "cookie key must be 32 bytes; delete it to make a new one (clients re-authorize)",
                ))
            })?;
            Ok(CookieKey::from_bytes(&key))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            write_private(path, key).map_err(io_err)?;
            Ok(CookieKey::from_bytes(&key))
        }
        Err(err) => Err(io_err(err)),
    }
}

fn write_private(path: &Path, text: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_ref())?;
    file.sync_all()
}

/// A baseline file that could not be used, naming the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum BaselineFileError {
    /// The file cannot be read.
    #[error("cannot read baseline file {path}: {source}")]
    Read {
        /// The file, as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not load as baselines.
    #[error("baseline file {path}: {source}")]
    Invalid {
        /// The file, as given.
        path: String,
        /// What is wrong, with the field path.
        source: BaselineError,
    },
}

/// Loads a baseline file: `.json` is one AWS baseline export (any form), anything else the
/// TOML format of docs/baselines.md §8.
pub fn load_baseline_file(path: &Path) -> Result<Loaded<BaselineSet>, BaselineFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| BaselineFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let invalid = |source| BaselineFileError::Invalid {
        path: shown.clone(),
        source,
    };
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let loaded = Baseline::from_json(&text).map_err(invalid)?;
        let default = Some(loaded.value.id.clone());
        let (set, mut warnings) = BaselineSet::new(
            vec![loaded.value],
            Vec::new(),
            default,
            Vec::new(),
            EvaluationSettings::default(),
        )
        .map_err(invalid)?;
        warnings.extend(loaded.warnings);
        return Ok(Loaded {
            value: set,
            warnings,
            ignored: loaded.ignored,
        });
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let read = move |file: &str| std::fs::read_to_string(base.join(file)).map_err(|e| format!("{file}: {e}"));
    BaselineSet::from_toml(&text, &read).map_err(invalid)
}
