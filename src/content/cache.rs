//! Pull-through with single flight: the first request for a missing payload starts one
//! transfer; every request for it, then and later, waits on that transfer's outcome. A
//! transfer resumes interrupted downloads with a Range request, verifies SHA-1 and SHA-256
//! before the file is committed (`disk`), and on a mismatch discards the bytes, counts and
//! logs it, and fails its waiters (the next request tries again). Committed files are kept
//! within `max_size` by least-recently-used eviction (`evict`).

use super::disk::{ContentDir, DiskError, Partial};
use super::evict::Lru;
use super::fetch::{Fetch, FetchError};
use super::rate::RateLimit;
use super::{PayloadMeta, Sha1};
use crate::model::upper_hex;
use crate::stats::ContentCounters;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How the cache behaves.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Committed bytes kept at most; 0 = no limit.
    pub max_size: u64,
    /// Attempts per transfer (each resumes where the last stopped).
    pub attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
}

/// Why a payload could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The catalog gives no `MUUrl` for the payload; its SHA-1, upper-case hex.
    #[error("no upstream URL is known for {0}")]
    NoUrl(String),
    /// The transfer failed (upstream, network or local disk) after its attempts.
    #[error("upstream transfer of {sha1} failed: {detail}")]
    Transfer {
        /// The payload's SHA-1, upper-case hex.
        sha1: String,
        /// What failed last.
        detail: String,
    },
    /// The bytes failed verification (size or digest) and were discarded.
    #[error("{sha1} arrived with the wrong digest and was discarded: {detail}")]
    Corrupt {
        /// The payload's SHA-1, upper-case hex.
        sha1: String,
        /// The mismatch.
        detail: String,
    },
}

/// A transfer's progress as its waiters see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlightState {
    /// Downloading; bytes received so far.
    Running {
        /// Bytes of the file on disk so far, resumed bytes included.
        received: u64,
    },
    /// Verified and in place, at this path.
    Committed(PathBuf),
    /// The transfer failed; waiters get this error.
    Failed(CacheError),
}

/// One running transfer: its waiters' channel, what it fetches, and since when.
struct Flight {
    receiver: watch::Receiver<FlightState>,
    meta: PayloadMeta,
    started: std::time::Instant,
}

/// A transfer in progress, as the stats API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// What is being fetched.
    pub meta: PayloadMeta,
    /// Bytes verified-written so far (a resumed transfer counts what it had).
    pub received: u64,
    /// How long the transfer has run.
    pub seconds: f64,
}

struct Inner<F> {
    dir: ContentDir,
    /// std Mutexes: never held across an await.
    lru: Mutex<Lru>,
    flights: Mutex<HashMap<Sha1, Flight>>,
    fetch: F,
    config: CacheConfig,
    counters: Arc<ContentCounters>,
    /// Set by `stop`: transfers keep their partials and end.
    stopping: watch::Sender<bool>,
}

/// The payload cache; cheap to clone.
pub struct Cache<F> {
    inner: Arc<Inner<F>>,
}

impl<F> Clone for Cache<F> {
    fn clone(&self) -> Self {
        Cache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F: Fetch> Cache<F> {
    /// Opens the content directory (reconciling leftovers against `known_size`) and indexes
    /// what is committed.
    pub fn open(
        root: &Path,
        known_size: impl Fn(&Sha1) -> Option<u64>,
        fetch: F,
        config: CacheConfig,
        counters: Arc<ContentCounters>,
    ) -> Result<Cache<F>, DiskError> {
        let (dir, reconciled) = ContentDir::open(root, known_size)?;
        let partials: Vec<String> = reconciled
            .partials
            .iter()
            .map(|(sha1, length)| format!("{}:{length}", upper_hex(sha1)))
            .collect();
        tracing::info!(
            files = reconciled.files,
            bytes = reconciled.bytes,
            partials = %partials.join(" "),
            removed = ?reconciled.removed,
            ignored = ?reconciled.ignored,
            "content directory reconciled"
        );
        let mut lru = Lru::new();
        for (sha1, size, modified) in dir.list()? {
            let used = modified
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            lru.insert(sha1, size, used);
        }
        let cache = Cache {
            inner: Arc::new(Inner {
                dir,
                lru: Mutex::new(lru),
                flights: Mutex::new(HashMap::new()),
                fetch,
                config,
                counters,
                stopping: watch::channel(false).0,
            }),
        };
        cache.publish_usage();
        cache.evict(None);
        Ok(cache)
    }

    /// The committed file of a digest, if present (marks it used).
    pub fn committed(&self, sha1: &Sha1) -> Option<(PathBuf, u64)> {
        let size = self.inner.dir.committed_size(sha1)?;
        if let Ok(mut lru) = self.inner.lru.lock() {
            lru.touch(sha1, now_secs());
        }
        Some((self.inner.dir.path(sha1), size))
    }

    /// The committed file of `meta`, fetching it first if needed (one transfer however many
    /// callers ask). Waits until the file is verified and committed.
    pub async fn get(&self, meta: &PayloadMeta) -> Result<PathBuf, CacheError> {
        if let Some((path, _)) = self.committed(&meta.sha1) {
            return Ok(path);
        }
        wait(self.flight(meta), meta).await
    }

    /// `get`, with a bandwidth limit for the transfer if this call starts one (prefetch).
    pub async fn get_limited(
        &self,
        meta: &PayloadMeta,
        limit: Option<Arc<RateLimit>>,
    ) -> Result<PathBuf, CacheError> {
        if let Some((path, _)) = self.committed(&meta.sha1) {
            return Ok(path);
        }
        let state = self.start_flight(meta, limit);
        wait(state, meta).await
    }

    /// The running transfer of a digest, starting one if there is none.
    pub fn flight(&self, meta: &PayloadMeta) -> watch::Receiver<FlightState> {
        self.start_flight(meta, None)
    }

    fn start_flight(
        &self,
        meta: &PayloadMeta,
        limit: Option<Arc<RateLimit>>,
    ) -> watch::Receiver<FlightState> {
        let mut flights = match self.inner.flights.lock() {
            Ok(flights) => flights,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(existing) = flights.get(&meta.sha1) {
            return existing.receiver.clone();
        }
        // A flight that finished between the caller's look-up and this lock.
        if self.inner.dir.committed_size(&meta.sha1).is_some() {
            return watch::channel(FlightState::Committed(self.inner.dir.path(&meta.sha1))).1;
        }
        let (sender, receiver) = watch::channel(FlightState::Running { received: 0 });
        flights.insert(
            meta.sha1,
            Flight {
                receiver: receiver.clone(),
                meta: meta.clone(),
                started: std::time::Instant::now(),
            },
        );
        let cache = self.clone();
        let meta = meta.clone();
        ContentCounters::add(&self.inner.counters.transfers_started, 1);
        self.inner.counters.in_flight.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move { cache.run_transfer(meta, sender, limit).await });
        receiver
    }

    /// Where a transfer in progress writes (see `ContentDir::partial_path`).
    pub fn partial_path(&self, sha1: &Sha1) -> PathBuf {
        self.inner.dir.partial_path(sha1)
    }

    /// Ends every transfer at its next chunk, keeping what arrived for a resume after the
    /// restart; waits (up to five seconds) for them to let go of their files.
    pub async fn stop(&self) {
        self.inner.stopping.send_replace(true);
        for _ in 0..100 {
            if self.in_flight() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Transfers in progress.
    pub fn in_flight(&self) -> usize {
        self.inner.flights.lock().map_or(0, |f| f.len())
    }

    /// The transfers in progress: what, how far, for how long.
    pub fn transfers(&self) -> Vec<Transfer> {
        let Ok(flights) = self.inner.flights.lock() else {
            return Vec::new();
        };
        flights
            .values()
            .map(|flight| Transfer {
                meta: flight.meta.clone(),
                received: match &*flight.receiver.borrow() {
                    FlightState::Running { received } => *received,
                    _ => flight.meta.size,
                },
                seconds: flight.started.elapsed().as_secs_f64(),
            })
            .collect()
    }

    async fn run_transfer(
        self,
        meta: PayloadMeta,
        sender: watch::Sender<FlightState>,
        limit: Option<Arc<RateLimit>>,
    ) {
        let outcome = self.transfer(&meta, &sender, limit.as_deref()).await;
        let state = match outcome {
            Ok(path) => {
                if let Ok(mut lru) = self.inner.lru.lock() {
                    lru.insert(meta.sha1, meta.size, now_secs());
                }
                self.publish_usage();
                self.evict(Some(&meta.sha1));
                FlightState::Committed(path)
            }
            Err(err) => {
                tracing::warn!(sha1 = %upper_hex(&meta.sha1), url = %meta.url, error = %err, "payload transfer failed");
                FlightState::Failed(err)
            }
        };
        // Remove the flight before announcing the verdict, so a failed digest is retried
        // by the next request rather than answered from the dead flight.
        if let Ok(mut flights) = self.inner.flights.lock() {
            flights.remove(&meta.sha1);
        }
        self.inner.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        sender.send_replace(state);
    }

    /// Attempts with resume and backoff; a digest mismatch is final for this flight.
    async fn transfer(
        &self,
        meta: &PayloadMeta,
        sender: &watch::Sender<FlightState>,
        limit: Option<&RateLimit>,
    ) -> Result<PathBuf, CacheError> {
        if meta.url.is_empty() {
            return Err(CacheError::NoUrl(upper_hex(&meta.sha1)));
        }
        let attempts = self.inner.config.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let partial = self
                .inner
                .dir
                .begin(meta)
                .await
                .map_err(|e| transfer_error(meta, e.to_string()))?;
            match self.pump(meta, partial, sender, limit).await {
                Ok(partial) => return self.commit(meta, partial).await,
                Err(err) if err.retryable && attempt < attempts => {
                    let delay = backoff(&self.inner.config, attempt);
                    tracing::info!(sha1 = %upper_hex(&meta.sha1), attempt, delay_ms = delay.as_millis() as u64, error = %err, "payload transfer interrupted; resuming");
                    last = err.to_string();
                    tokio::time::sleep(delay).await;
                }
                Err(err) => return Err(transfer_error(meta, err.to_string())),
            }
        }
        Err(transfer_error(meta, last))
    }

    /// Streams the upstream answer into the partial; on error the partial is kept for a
    /// resume.
    async fn pump(
        &self,
        meta: &PayloadMeta,
        mut partial: Partial,
        sender: &watch::Sender<FlightState>,
        limit: Option<&RateLimit>,
    ) -> Result<Partial, FetchError> {
        let mut fetched = match self.inner.fetch.fetch(&meta.url, partial.offset()).await {
            Ok(fetched) => fetched,
            Err(err) => {
                partial.keep_for_resume();
                return Err(err);
            }
        };
        if fetched.start != partial.offset() {
            // The server ignored the range and sent the whole file: start over.
            drop(partial);
            partial = self
                .inner
                .dir
                .begin(meta)
                .await
                .map_err(|e| local_error(meta, e))?;
            if fetched.start != 0 || partial.offset() != 0 {
                return Err(FetchError {
                    url: meta.url.clone(),
                    detail: "upstream answered an unexpected range".into(),
                    retryable: true,
                });
            }
        }
        let mut stopping = self.inner.stopping.subscribe();
        loop {
            let next = tokio::select! {
                next = fetched.chunks.recv() => next,
                _ = stopping.wait_for(|stop| *stop) => {
                    partial.keep_for_resume();
                    return Err(FetchError { url: meta.url.clone(), detail: "shutting down; partial kept".into(), retryable: false });
                }
            };
            let Some(chunk) = next else { break };
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    partial.keep_for_resume();
                    return Err(err);
                }
            };
            if let Some(limit) = limit {
                limit.take(chunk.len() as u64).await;
            }
            if let Err(err) = partial.write(&chunk).await {
                return Err(local_error(meta, err));
            }
            ContentCounters::add(&self.inner.counters.upstream_bytes, chunk.len() as u64);
            sender.send_replace(FlightState::Running {
                received: partial.offset(),
            });
        }
        if partial.offset() != meta.size {
            let detail = format!("upstream ended after {} of {} bytes", partial.offset(), meta.size);
            partial.keep_for_resume();
            return Err(FetchError {
                url: meta.url.clone(),
                detail,
                retryable: true,
            });
        }
        Ok(partial)
    }

    async fn commit(&self, meta: &PayloadMeta, partial: Partial) -> Result<PathBuf, CacheError> {
        match partial.commit().await {
            Ok(path) => Ok(path),
            Err(err) if err.is_bad_payload() => {
                ContentCounters::add(&self.inner.counters.digest_mismatches, 1);
                tracing::error!(sha1 = %upper_hex(&meta.sha1), url = %meta.url, error = %err, "payload failed verification; discarded");
                Err(CacheError::Corrupt {
                    sha1: upper_hex(&meta.sha1),
                    detail: err.to_string(),
                })
            }
            Err(err) => Err(transfer_error(meta, err.to_string())),
        }
    }

    /// Removes least-recently-used files beyond `max_size`, sparing `keep` (the file just
    /// committed: its waiters have yet to open it; it goes at the next pass if it must).
    fn evict(&self, keep: Option<&Sha1>) {
        let max = self.inner.config.max_size;
        if max == 0 {
            return;
        }
        let victims = self
            .inner
            .lru
            .lock()
            .map(|mut lru| {
                if let Some(sha1) = keep {
                    lru.pin(sha1);
                }
                let victims = lru.victims(max);
                if let Some(sha1) = keep {
                    lru.unpin(sha1);
                }
                victims
            })
            .unwrap_or_default();
        for (sha1, _) in victims {
            match self.inner.dir.remove(&sha1) {
                Ok(_) => ContentCounters::add(&self.inner.counters.evictions, 1),
                Err(err) => {
                    tracing::warn!(sha1 = %upper_hex(&sha1), error = %err, "evicting a payload failed")
                }
            }
        }
        self.publish_usage();
    }

    /// Removes a committed payload (e.g. no longer referenced by any approved update).
    pub fn remove(&self, sha1: &Sha1) -> Result<bool, DiskError> {
        if let Ok(mut lru) = self.inner.lru.lock() {
            lru.remove(sha1);
        }
        let removed = self.inner.dir.remove(sha1)?;
        self.publish_usage();
        Ok(removed)
    }

    /// Every committed digest.
    pub fn list(&self) -> Result<Vec<Sha1>, DiskError> {
        Ok(self
            .inner
            .dir
            .list()?
            .into_iter()
            .map(|(sha1, _, _)| sha1)
            .collect())
    }

    fn publish_usage(&self) {
        let (files, bytes) = self.inner.dir.usage();
        self.inner.counters.cache_files.store(files, Ordering::Relaxed);
        self.inner.counters.cache_bytes.store(bytes, Ordering::Relaxed);
    }
}

/// Waits for a flight's verdict.
async fn wait(mut state: watch::Receiver<FlightState>, meta: &PayloadMeta) -> Result<PathBuf, CacheError> {
    loop {
        match &*state.borrow_and_update() {
            FlightState::Committed(path) => return Ok(path.clone()),
            FlightState::Failed(err) => return Err(err.clone()),
            FlightState::Running { .. } => {}
        }
        if state.changed().await.is_err() {
            // The transfer task ended without a verdict (runtime shutting down).
            return Err(CacheError::Transfer {
                sha1: upper_hex(&meta.sha1),
                detail: "transfer abandoned".into(),
            });
        }
    }
}

fn backoff(config: &CacheConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    config
        .initial_backoff
        .saturating_mul(1 << exponent)
        .min(config.max_backoff)
}

fn transfer_error(meta: &PayloadMeta, detail: String) -> CacheError {
    CacheError::Transfer {
        sha1: upper_hex(&meta.sha1),
        detail,
    }
}

fn local_error(meta: &PayloadMeta, err: DiskError) -> FetchError {
    FetchError {
        url: meta.url.clone(),
        detail: format!("writing the cache failed: {err}"),
        retryable: false,
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
