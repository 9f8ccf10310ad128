//! Prefetch: download the payloads of approved updates ahead of clients, with a concurrency
//! limit and an optional bandwidth cap, reporting progress. Transfers go through the cache,
//! so a client asking for a file being prefetched joins that transfer; each takes one of the
//! cache's `max_transfers` slots (waiting however long the queue, never refused) and runs to
//! its end whether or not clients joined and left it. Interrupted transfers
//! leave resumable partials; the next run (after a restart too) resumes them.

use crate::content::cache::{Cache, CacheError};
use crate::content::fetch::Fetch;
use crate::content::rate::RateLimit;
use crate::content::PayloadMeta;
use crate::shutdown::Shutdown;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// What a prefetch run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PrefetchSummary {
    pub(crate) files: usize,
    pub(crate) bytes: u64,
    pub(crate) already_cached: usize,
    pub(crate) downloaded: usize,
    pub(crate) downloaded_bytes: u64,
    pub(crate) failed: Vec<String>,
    pub(crate) interrupted: bool,
}

/// Receives progress: the CLI draws a bar, the daemon logs.
pub trait PrefetchProgress: Send + Sync {
    /// A run starts: `files` payloads to fetch, `bytes` in all.
    fn start(&self, files: u64, bytes: u64);
    /// One payload is done (fetched or failed); `bytes` its size.
    fn file_done(&self, bytes: u64);
}

/// Progress that goes nowhere.
pub struct Silent;

impl PrefetchProgress for Silent {
    fn start(&self, _: u64, _: u64) {}
    fn file_done(&self, _: u64) {}
}

/// Fetches every payload not yet cached, `concurrency` at a time, within `rate` bytes/s
/// (0 = no cap), until done or shutdown.
pub async fn run<F: Fetch>(
    cache: &Cache<F>,
    payloads: Vec<PayloadMeta>,
    concurrency: usize,
    rate: u64,
    progress: &dyn PrefetchProgress,
    shutdown: &Shutdown,
) -> PrefetchSummary {
    let mut summary = PrefetchSummary {
        files: payloads.len(),
        bytes: payloads.iter().map(|p| p.size).sum(),
        ..PrefetchSummary::default()
    };
    let (cached, missing): (Vec<_>, Vec<_>) = payloads
        .into_iter()
        .partition(|p| cache.committed(&p.sha1).is_some());
    summary.already_cached = cached.len();
    progress.start(missing.len() as u64, missing.iter().map(|p| p.size).sum());
    let limit = (rate > 0).then(|| Arc::new(RateLimit::new(rate)));
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for meta in missing {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit,
            _ = shutdown.wait() => break,
        };
        let Ok(permit) = permit else { break };
        let (cache, limit) = (cache.clone(), limit.clone());
        tasks.spawn(async move {
            let result = cache.get_limited(&meta, limit).await;
            drop(permit);
            (meta, result)
        });
        drain_finished(&mut tasks, &mut summary, progress);
    }
    loop {
        let next = tokio::select! {
            next = tasks.join_next() => next,
            _ = shutdown.wait() => {
                summary.interrupted = true;
                break;
            }
        };
        match next {
            Some(Ok((meta, result))) => record(&mut summary, progress, &meta, result),
            Some(Err(_)) => summary.failed.push("a prefetch task panicked".into()),
            None => break,
        }
    }
    summary.interrupted |= shutdown.is_triggered();
    summary
}

fn drain_finished(
    tasks: &mut tokio::task::JoinSet<(PayloadMeta, Result<std::path::PathBuf, CacheError>)>,
    summary: &mut PrefetchSummary,
    progress: &dyn PrefetchProgress,
) {
    while let Some(Ok((meta, result))) = tasks.try_join_next() {
        record(summary, progress, &meta, result);
    }
}

fn record(
    summary: &mut PrefetchSummary,
    progress: &dyn PrefetchProgress,
    meta: &PayloadMeta,
    result: Result<std::path::PathBuf, CacheError>,
) {
    match result {
        Ok(_) => {
            summary.downloaded += 1;
            summary.downloaded_bytes += meta.size;
        }
        Err(err) => summary.failed.push(err.to_string()),
    }
    progress.file_done(meta.size);
}
