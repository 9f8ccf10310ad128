//! The background workers of `serve`, each on the one shutdown signal: the catalog loader
//! followed by the sync loop (retries, backoff, status), the prefetcher (and the clean-up of
//! payloads no approved update uses), and the re-planner that lets approvals mature at each
//! evaluation epoch. Uses `app` and the modules below it.

use crate::app::{App, SyncControl};
use crate::config::ContentMode;
use crate::content::cache::Cache;
use crate::shutdown::Shutdown;
use crate::upstream::payload::HttpFetch;
use crate::upstream::{self, Phase, Progress, SyncSummary};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// The first retry delay after a failed sync; it doubles up to the sync interval.
const FIRST_SYNC_RETRY: Duration = Duration::from_secs(60);

/// Starts every background worker on `tasks`.
pub fn spawn_all(tasks: &mut JoinSet<()>, app: &Arc<App>, shutdown: &Shutdown) {
    tasks.spawn(load_then_sync(Arc::clone(app), shutdown.clone()));
    tasks.spawn(prefetch_worker(Arc::clone(app), shutdown.clone()));
    tasks.spawn(replan_each_epoch(Arc::clone(app), shutdown.clone()));
    tasks.spawn(expire_events_hourly(Arc::clone(app), shutdown.clone()));
    tasks.spawn(persist_counters_every_minute(Arc::clone(app), shutdown.clone()));
    tasks.spawn(watch_storage(Arc::clone(app), shutdown.clone()));
}

/// How often the storage watch looks at the data directory and writes to the store.
const STORAGE_PROBE_PERIOD: Duration = Duration::from_secs(10);
/// Free space below which the data directory counts as full (sled grows by 512 KiB segments;
/// payload downloads need more, and fail on their own).
const MIN_FREE_BYTES: u64 = 16 << 20;
/// A store reopened this recently is not reopened again: its failure is not the disk's.
const REOPEN_AT_MOST_EVERY: Duration = Duration::from_secs(300);

/// When the store was last reopened for a storage failure (process-wide: the daemon that
/// asked for it is gone by the time the next one runs).
static LAST_REOPEN: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

/// Every `STORAGE_PROBE_PERIOD`: the data directory's free space and a small store write. A
/// problem is kept for `/ready` and the sync status and logged when it changes; once the disk
/// has room again but sled still refuses writes (it keeps its first I/O error for good), the
/// daemon stops so `serve` reopens the store.
async fn watch_storage(app: Arc<App>, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(STORAGE_PROBE_PERIOD) => {}
        }
        let probe = Arc::clone(&app);
        let Ok(outcome) = tokio::task::spawn_blocking(move || probe_storage(&probe)).await else {
            continue;
        };
        if outcome == StorageProbe::Reopen {
            tracing::warn!(
                "the disk has room again but the catalog store still refuses writes: stopping to reopen it"
            );
            if let Ok(mut last) = LAST_REOPEN.lock() {
                *last = Some(std::time::Instant::now());
            }
            app.reopen_wanted.store(true, Ordering::SeqCst);
            shutdown.trigger();
            return;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum StorageProbe {
    Healthy,
    Failing,
    Reopen,
}

fn probe_storage(app: &App) -> StorageProbe {
    let data_dir = &app.config.storage.data_dir;
    let free = fs2::available_space(data_dir).unwrap_or(u64::MAX);
    let (problem, outcome) = if free < MIN_FREE_BYTES {
        let problem = format!(
            "data directory {} is full: {} KiB free (the store and the payload cache need {} MiB)",
            data_dir.display(),
            free >> 10,
            MIN_FREE_BYTES >> 20
        );
        (Some(problem), StorageProbe::Failing)
    } else {
        match app.store.probe_write() {
            Ok(()) => (None, StorageProbe::Healthy),
            Err(err) => {
                let recently = LAST_REOPEN
                    .lock()
                    .ok()
                    .and_then(|last| *last)
                    .is_some_and(|at| at.elapsed() < REOPEN_AT_MOST_EVERY);
                let outcome = if recently {
                    StorageProbe::Failing
                } else {
                    StorageProbe::Reopen
                };
                (Some(err.to_string()), outcome)
            }
        }
    };
    note_storage_problem(app, problem);
    outcome
}

/// Keeps the problem for `/ready`; logs when it appears, changes or goes away.
fn note_storage_problem(app: &App, problem: Option<String>) {
    let Ok(mut slot) = app.storage_error.lock() else {
        return;
    };
    if *slot == problem {
        return;
    }
    match (&*slot, &problem) {
        (Some(was), None) => tracing::info!(previous = %was, "the catalog store takes writes again"),
        (_, Some(now)) => {
            tracing::error!(problem = %now, "storage problem: /ready answers 503 until it is gone")
        }
        (None, None) => {}
    }
    *slot = problem;
}

/// How often the counters that persist across restarts are written (and at shutdown).
const COUNTER_PERSIST_PERIOD: Duration = Duration::from_secs(60);

async fn persist_counters_every_minute(app: Arc<App>, shutdown: Shutdown) {
    loop {
        let stopping = tokio::select! {
            _ = shutdown.wait() => true,
            _ = tokio::time::sleep(COUNTER_PERSIST_PERIOD) => false,
        };
        if let Err(err) = app.persist_counters() {
            tracing::warn!(error = %err, "saving the content counters to the catalog store failed");
        }
        if stopping {
            return;
        }
    }
}

/// How often raw events past `[reporting] event_retention` are looked for.
const EVENT_EXPIRY_PERIOD: Duration = Duration::from_secs(3600);

/// Removes expired raw events every `EVENT_EXPIRY_PERIOD`, off the async threads.
async fn expire_events_hourly(app: Arc<App>, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(EVENT_EXPIRY_PERIOD) => {}
        }
        let worker = Arc::clone(&app);
        match tokio::task::spawn_blocking(move || expire_events(&worker)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::error!(error = %err, "removing expired events from the catalog store failed")
            }
            Err(err) => tracing::error!(error = %err, "event expiry panicked"),
        }
    }
}

/// Removes the raw events that arrived longer than `[reporting] event_retention` ago (the
/// machines' folded statuses stay); returns how many went.
pub fn expire_events(app: &App) -> Result<u64, crate::store::StoreError> {
    let retention = app.config.reporting.event_retention.as_millis() as i64;
    let cutoff = chrono::Utc::now().timestamp_millis() - retention;
    let removed = app.store.remove_events_before(cutoff)?;
    app.reporting.events_expired.fetch_add(removed, Ordering::Relaxed);
    if removed > 0 {
        tracing::info!(removed, "expired reporting events removed");
    }
    Ok(removed)
}

/// How often the re-planner looks at the clock: a window boundary is acted on within this.
const REPLAN_TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// With baselines, approvals mature with time ("approve after N days"): the catalog is
/// re-planned at every evaluation epoch (`snapshot_interval_minutes`) and, within
/// `REPLAN_TICK`, at every maintenance-window boundary (a gate opening or reaching its
/// cutoff) of the snapshot being served — whichever snapshot that is (after a sync, a reload
/// or the start-up load).
async fn replan_each_epoch(app: Arc<App>, shutdown: Shutdown) {
    let mut last_plan = std::time::Instant::now();
    // Wall-clock time of the last re-plan here: a boundary is due when it has passed and lies
    // after it (a snapshot planned for another instant — a benchmark's, a test's — is left be).
    let mut last_plan_at = chrono::Utc::now().timestamp();
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(REPLAN_TICK) => {}
        }
        let minutes = app
            .baselines()
            .map_or(60, |set| set.evaluation.snapshot_interval_minutes.max(1));
        let epoch_due = last_plan.elapsed().as_secs() >= u64::from(minutes) * 60;
        let now = chrono::Utc::now().timestamp();
        let boundary_due = app
            .snapshot()
            .next_window_boundary
            .is_some_and(|boundary| now >= boundary && boundary > last_plan_at);
        if !(epoch_due || boundary_due) {
            continue;
        }
        last_plan = std::time::Instant::now();
        last_plan_at = now;
        if app.baselines().is_none() || !app.is_ready() {
            continue;
        }
        let loader = Arc::clone(&app);
        if let Ok(Err(err)) = tokio::task::spawn_blocking(move || loader.load_catalog()).await {
            tracing::error!(error = %err, "re-planning the catalog failed");
        }
    }
}

/// Loads the catalog off the async threads, then runs the sync worker.
async fn load_then_sync(app: Arc<App>, shutdown: Shutdown) {
    let loader = Arc::clone(&app);
    match tokio::task::spawn_blocking(move || loader.load_catalog()).await {
        Ok(Ok(count)) => tracing::info!(updates = count, "catalog loaded"),
        Ok(Err(err)) => tracing::error!(error = %err, "loading the catalog failed"),
        Err(err) => tracing::error!(error = %err, "catalog loader panicked"),
    }
    let opener = Arc::clone(&app);
    match tokio::task::spawn_blocking(move || opener.open_content()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::error!(error = %err, "opening the payload cache failed; payloads are not served")
        }
        Err(err) => tracing::error!(error = %err, "payload cache opener panicked"),
    }
    if app.config.content.mode != ContentMode::OnDemand {
        app.prefetch.request();
    }
    sync_worker(app, shutdown).await;
}

/// The background prefetch worker: runs on request (after each sync in `prefetch`/`both`
/// mode, and on `POST /api/v1/prefetch`), then removes payloads no approved update has
/// referenced for `unreferenced_grace`.
async fn prefetch_worker(app: Arc<App>, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = app.prefetch.trigger.notified() => {}
        }
        let Some(cache) = app.content.get() else { continue };
        app.prefetch.running.store(true, Ordering::SeqCst);
        let payloads = app.snapshot().approved_payloads();
        let config = &app.config.content;
        let summary = crate::content::prefetch::run(
            cache,
            payloads,
            config.prefetch_concurrency as usize,
            config.prefetch_rate,
            &app.prefetch,
            &shutdown,
        )
        .await;
        tracing::info!(
            downloaded = summary.downloaded,
            failed = summary.failed.len(),
            cached = summary.already_cached,
            "prefetch finished"
        );
        if let Ok(mut last) = app.prefetch.last.lock() {
            *last = Some(summary);
        }
        app.prefetch.running.store(false, Ordering::SeqCst);
        remove_unreferenced(&app, cache);
    }
}

/// Removes committed payloads that no approved update has referenced for the grace period.
/// When each was first seen unreferenced is kept in `<content dir>/unreferenced.json`.
pub fn remove_unreferenced(app: &App, cache: &Cache<HttpFetch>) {
    let path = app.config.content_dir().join("unreferenced.json");
    let now = chrono::Utc::now().timestamp();
    let mut since: std::collections::HashMap<String, i64> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let snapshot = app.snapshot();
    let committed = cache.list().unwrap_or_default();
    let grace = app.config.content.unreferenced_grace.as_secs() as i64;
    let mut still = std::collections::HashMap::new();
    for sha1 in committed {
        if snapshot.payload(&sha1).is_some_and(|(_, approved)| approved) {
            continue;
        }
        let key = crate::model::upper_hex(&sha1);
        let first = since.remove(&key).unwrap_or(now);
        if now - first >= grace {
            if let Err(err) = cache.remove(&sha1) {
                tracing::warn!(sha1 = %key, error = %err, "removing an unreferenced payload failed");
            }
        } else {
            still.insert(key, first);
        }
    }
    if let Ok(text) = serde_json::to_string(&still) {
        let _ = std::fs::write(&path, text);
    }
}

/// Progress of a background sync: counters for the API, a log line per phase.
struct LogProgress<'a>(&'a SyncControl);

impl Progress for LogProgress<'_> {
    fn phase(&self, phase: Phase, total: u64) {
        self.0.progress_total.store(total, Ordering::Relaxed);
        self.0.progress_done.store(0, Ordering::Relaxed);
        tracing::info!(phase = phase.as_str(), revisions = total, "sync phase");
    }

    fn advance(&self, n: u64) {
        self.0.progress_done.fetch_add(n, Ordering::Relaxed);
    }
}

/// The background sync worker: syncs at start (if configured), every interval, and on
/// request; a failed sync is retried sooner, backing off up to the interval. Never exits
/// on an upstream failure: the daemon keeps serving what it has.
async fn sync_worker(app: Arc<App>, shutdown: Shutdown) {
    let interval = app.config.sync.interval;
    let periodic = (!interval.is_zero()).then_some(interval);
    let mut next = if app.config.sync.on_start {
        Some(Duration::ZERO)
    } else {
        periodic
    };
    let mut retry = FIRST_SYNC_RETRY;
    loop {
        let timer = async move {
            match next {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = app.sync.trigger.notified() => {}
            _ = timer => {}
        }
        let ok = run_one_sync(&app, &shutdown).await;
        if shutdown.is_triggered() {
            return;
        }
        next = if ok {
            retry = FIRST_SYNC_RETRY;
            periodic
        } else {
            let delay = periodic.map_or(retry, |p| retry.min(p));
            retry = retry.saturating_mul(2);
            tracing::info!(
                retry_in_s = delay.as_secs(),
                "sync failed; serving the catalog we have and retrying"
            );
            Some(delay)
        };
    }
}

/// Runs one sync unless shutdown comes first (a cancelled sync leaves whole batches and old
/// anchors behind, which the next run completes).
async fn run_one_sync(app: &Arc<App>, shutdown: &Shutdown) -> bool {
    app.sync.running.store(true, Ordering::SeqCst);
    let progress = LogProgress(&app.sync);
    let outcome = tokio::select! {
        result = upstream::run_sync(&app.store, &app.config, &progress) => Some(result),
        _ = shutdown.wait() => None,
    };
    let Some(result) = outcome else {
        app.sync.running.store(false, Ordering::SeqCst);
        return false;
    };
    // The catalog is re-planned (off the async threads) before the sync reports itself
    // done, so whoever sees the summary also sees the catalog it brought.
    let loader = Arc::clone(app);
    let replica = app.config.upstream.replica && result.is_ok();
    let reload = move || {
        if replica {
            match crate::app::adopt_replica_baselines(&loader.config) {
                Ok(true) => {
                    if let Err(err) = loader.reload_baselines() {
                        tracing::error!(error = %err, "the hub's baselines do not load");
                    }
                }
                Ok(false) => {}
                Err(err) => tracing::error!(error = %err, "keeping the baselines in force"),
            }
        }
        loader.load_catalog()
    };
    match tokio::task::spawn_blocking(reload).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => tracing::error!(error = %err, "reloading the catalog after sync failed"),
        Err(err) => tracing::error!(error = %err, "catalog reload after sync panicked"),
    }
    let ok = match result {
        Ok(summary) => {
            tracing::info!(
                new_revisions = summary.new_revisions,
                documents = summary.documents_fetched,
                seconds = summary.seconds,
                "sync finished"
            );
            store_last(app, summary);
            true
        }
        Err(err) => {
            tracing::error!(error = %err, "sync failed");
            if let Ok(Some(text)) = app.store.meta(crate::store::MetaKey::LastSyncSummary) {
                if let Ok(summary) = serde_json::from_str(&text) {
                    store_last(app, summary);
                }
            }
            false
        }
    };
    app.sync.running.store(false, Ordering::SeqCst);
    if app.config.content.mode != ContentMode::OnDemand {
        app.prefetch.request();
    }
    ok
}

fn store_last(app: &App, summary: SyncSummary) {
    app.sync_totals.add_run(
        summary.error.is_some(),
        summary.new_revisions as u64,
        summary.bytes_received,
    );
    if let Ok(mut last) = app.sync.last.lock() {
        *last = Some(summary);
    }
}
