//! Pull-through with single flight: the first request for a missing payload starts one
//! transfer; every request for it, then and later, waits on that transfer's outcome. At most
//! `max_transfers` transfers run; others wait for a slot, and a client's miss that would make
//! more than `max_queued` wait is refused (`CacheError::Busy`). A transfer every client has
//! left is cancelled unless kept (`demand`), its partial kept. A transfer resumes interrupted
//! downloads with a Range request, verifies SHA-1 and SHA-256 before the file is committed
//! (`disk`), and on a mismatch discards the bytes, counts and logs it, and fails its waiters
//! (the next request tries again). Committed files are kept within `max_size` by
//! least-recently-used eviction (`evict`).
//!
//! This file holds the handle: looking files up, joining or starting flights (slot or queue),
//! listing, eviction; `transfer` runs one flight to its verdict.

mod transfer;

use super::demand::{Asker, Audience, Interest};
use super::disk::{ContentDir, DiskError};
use super::evict::Lru;
use super::fetch::Fetch;
use super::rate::RateLimit;
use super::{PayloadMeta, Sha1};
use crate::model::upper_hex;
use crate::stats::ContentCounters;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use transfer::Slot;

/// How the cache behaves.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Committed bytes kept at most; 0 = no limit.
    pub max_size: u64,
    /// Attempts per transfer (each resumes where the last stopped).
    pub attempts: u32,
    /// Transfers running at once (at least one).
    pub max_transfers: usize,
    /// Transfers waiting for a slot before a client's miss is refused.
    pub max_queued: usize,
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
    /// Every transfer slot is taken and `max_queued` transfers wait: the client should come
    /// back later (`[content] max_transfers`, `max_queued`).
    #[error("{sha1} not fetched now: {running} upstream transfers run and {queued} wait (max_transfers, max_queued)")]
    Busy {
        /// The payload's SHA-1, upper-case hex.
        sha1: String,
        /// Transfers running.
        running: usize,
        /// Transfers waiting for a slot.
        queued: usize,
    },
    /// Every client waiting for the transfer went away and prefetch does not want the file:
    /// cancelled, partial kept. Seen only by an asker that joined as it ended; it asks again.
    #[error("transfer of {0} cancelled: every client waiting for it went away")]
    Abandoned(String),
}

/// A transfer's progress as its waiters see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlightState {
    /// Waiting for one of `max_transfers` slots.
    Queued,
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

/// One transfer, queued or running: its waiters' channel, who waits, what it fetches, and
/// since when.
struct Flight {
    receiver: watch::Receiver<FlightState>,
    audience: Audience,
    meta: PayloadMeta,
    started: std::time::Instant,
}

impl Flight {
    fn join(&self, asker: Asker) -> Waiting {
        Waiting {
            state: self.receiver.clone(),
            _interest: self.audience.join(asker),
        }
    }
}

/// A place among a transfer's waiters: its progress and, for a client, the `Interest` that
/// keeps it going. Dropping it (the client went away) may cancel the transfer.
#[derive(Debug)]
pub struct Waiting {
    state: watch::Receiver<FlightState>,
    _interest: Option<Interest>,
}

impl Waiting {
    /// A transfer that has already ended so.
    fn over(state: FlightState) -> Waiting {
        Waiting {
            state: watch::channel(state).1,
            _interest: None,
        }
    }

    /// The transfer's progress.
    pub fn state(&mut self) -> &mut watch::Receiver<FlightState> {
        &mut self.state
    }

    /// Waits for the transfer's verdict.
    async fn verdict(mut self, meta: &PayloadMeta) -> Result<PathBuf, CacheError> {
        loop {
            match &*self.state.borrow_and_update() {
                FlightState::Committed(path) => return Ok(path.clone()),
                FlightState::Failed(err) => return Err(err.clone()),
                FlightState::Queued | FlightState::Running { .. } => {}
            }
            if self.state.changed().await.is_err() {
                // The transfer task ended without a verdict (runtime shutting down).
                return Err(transfer_error(meta, "transfer abandoned".into()));
            }
        }
    }
}

/// A transfer in progress, as the stats API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// What is being fetched.
    pub meta: PayloadMeta,
    /// Bytes verified-written so far (a resumed transfer counts what it had).
    pub received: u64,
    /// How long the transfer has existed (queued or running).
    pub seconds: f64,
    /// Clients waiting for it now.
    pub clients: usize,
    /// Waiting for a slot (`max_transfers` running).
    pub queued: bool,
}

struct Inner<F> {
    dir: ContentDir,
    /// std Mutexes: never held across an await.
    lru: Mutex<Lru>,
    flights: Mutex<HashMap<Sha1, Flight>>,
    /// `max_transfers` permits, handed out in order of asking.
    slots: Arc<Semaphore>,
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
                slots: Arc::new(Semaphore::new(config.max_transfers.max(1))),
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

    /// The committed file of a digest opened, with its metadata, if present (marks it used).
    pub fn open_committed(&self, sha1: &Sha1) -> Option<(std::fs::File, std::fs::Metadata)> {
        let opened = self.inner.dir.open_committed(sha1)?;
        self.mark_used(sha1);
        Some(opened)
    }

    /// The committed file of a digest, if present (marks it used).
    pub fn committed(&self, sha1: &Sha1) -> Option<(PathBuf, u64)> {
        let size = self.inner.dir.committed_size(sha1)?;
        self.mark_used(sha1);
        Some((self.inner.dir.path(sha1), size))
    }

    /// Moves a committed file to the young end of the eviction order.
    fn mark_used(&self, sha1: &Sha1) {
        if let Ok(mut lru) = self.inner.lru.lock() {
            lru.touch(sha1, now_secs());
        }
    }

    /// The committed file of `meta`, fetching it first if needed (one transfer however many
    /// callers ask). Waits until the file is verified and committed; `Busy` when `asker` is a
    /// client and the transfer queue is full.
    pub async fn get(&self, meta: &PayloadMeta, asker: Asker) -> Result<PathBuf, CacheError> {
        self.get_within(meta, asker, None).await
    }

    /// `get` for prefetch, with a bandwidth limit for the transfer if this call starts one.
    pub async fn get_limited(
        &self,
        meta: &PayloadMeta,
        limit: Option<Arc<RateLimit>>,
    ) -> Result<PathBuf, CacheError> {
        self.get_within(meta, Asker::Prefetch, limit).await
    }

    async fn get_within(
        &self,
        meta: &PayloadMeta,
        asker: Asker,
        limit: Option<Arc<RateLimit>>,
    ) -> Result<PathBuf, CacheError> {
        loop {
            if let Some((path, _)) = self.committed(&meta.sha1) {
                return Ok(path);
            }
            match self.join_with(meta, asker, limit.clone())?.verdict(meta).await {
                // Joined as it was being cancelled: it has gone from the list, ask again.
                Err(CacheError::Abandoned(_)) => continue,
                verdict => return verdict,
            }
        }
    }

    /// A place among the waiters of the digest's transfer, starting one if there is none.
    pub fn join(&self, meta: &PayloadMeta, asker: Asker) -> Result<Waiting, CacheError> {
        self.join_with(meta, asker, None)
    }

    fn join_with(
        &self,
        meta: &PayloadMeta,
        asker: Asker,
        limit: Option<Arc<RateLimit>>,
    ) -> Result<Waiting, CacheError> {
        let mut flights = lock(&self.inner.flights);
        if let Some(existing) = flights.get(&meta.sha1) {
            return Ok(existing.join(asker));
        }
        // A flight that finished between the caller's look-up and this lock.
        if self.inner.dir.committed_size(&meta.sha1).is_some() {
            return Ok(Waiting::over(FlightState::Committed(
                self.inner.dir.path(&meta.sha1),
            )));
        }
        let slot = self.slot_or_queue(meta, asker)?;
        let state = match slot {
            Some(_) => FlightState::Running { received: 0 },
            None => FlightState::Queued,
        };
        let (sender, receiver) = watch::channel(state);
        let flight = Flight {
            receiver,
            audience: Audience::new(slot.is_some()),
            meta: meta.clone(),
            started: std::time::Instant::now(),
        };
        let waiting = flight.join(asker);
        let audience = flight.audience.clone();
        flights.insert(meta.sha1, flight);
        let cache = self.clone();
        let meta = meta.clone();
        tokio::spawn(async move { cache.run_transfer(meta, sender, audience, limit, slot).await });
        Ok(waiting)
    }

    /// A free slot, or a place in the queue (`None`), or `Busy` for a client when
    /// `max_queued` transfers already wait. Called under the flights lock, which makes the
    /// check and the count of queued transfers one step.
    fn slot_or_queue(&self, meta: &PayloadMeta, asker: Asker) -> Result<Option<Slot>, CacheError> {
        let counters = &self.inner.counters;
        if let Ok(permit) = Arc::clone(&self.inner.slots).try_acquire_owned() {
            return Ok(Some(Slot::new(permit, counters)));
        }
        let queued = ContentCounters::get(&counters.transfers_queued) as usize;
        if matches!(asker, Asker::Client { .. }) && queued >= self.inner.config.max_queued {
            return Err(CacheError::Busy {
                sha1: upper_hex(&meta.sha1),
                running: ContentCounters::get(&counters.in_flight) as usize,
                queued,
            });
        }
        ContentCounters::add(&counters.transfers_queued, 1);
        Ok(None)
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

    /// Transfers in progress, queued ones included.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.flights).len()
    }

    /// The transfers in progress: what, how far, for how long, for how many clients.
    pub fn transfers(&self) -> Vec<Transfer> {
        let flights = lock(&self.inner.flights);
        flights
            .values()
            .map(|flight| {
                let state = flight.receiver.borrow().clone();
                Transfer {
                    meta: flight.meta.clone(),
                    received: match state {
                        FlightState::Queued => 0,
                        FlightState::Running { received } => received,
                        _ => flight.meta.size,
                    },
                    seconds: flight.started.elapsed().as_secs_f64(),
                    clients: flight.audience.clients(),
                    queued: state == FlightState::Queued,
                }
            })
            .collect()
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

/// Locks a mutex whatever a panicking holder left: the guarded maps stay consistent, since
/// each change is one insert or remove.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn transfer_error(meta: &PayloadMeta, detail: String) -> CacheError {
    CacheError::Transfer {
        sha1: upper_hex(&meta.sha1),
        detail,
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
