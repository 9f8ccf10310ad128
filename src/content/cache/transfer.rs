//! One transfer's run, from its place in the queue to its verdict: it waits for one of
//! `max_transfers` slots (unless it got one at once), fetches with resume and backoff, streams
//! into a verified `Partial` and commits it; a watchdog (`demand`) halts it when the cache
//! stops or every client has gone, the partial kept. The waiters get the verdict through the
//! flight's channel; counters and logs are written here.

use super::{lock, now_secs, transfer_error, Cache, CacheConfig, CacheError, FlightState};
use crate::content::demand::{halted, Audience, Halt, ABANDON_GRACE};
use crate::content::disk::{DiskError, Partial};
use crate::content::fetch::{Fetch, FetchError, Fetched};
use crate::content::rate::RateLimit;
use crate::content::PayloadMeta;
use crate::model::upper_hex;
use crate::stats::ContentCounters;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit};

/// One of `max_transfers` slots, held by a running transfer; counted in `in_flight`.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    counters: Arc<ContentCounters>,
}

impl Slot {
    pub(super) fn new(permit: OwnedSemaphorePermit, counters: &Arc<ContentCounters>) -> Slot {
        ContentCounters::add(&counters.transfers_started, 1);
        counters.in_flight.fetch_add(1, Ordering::Relaxed);
        Slot {
            _permit: permit,
            counters: Arc::clone(counters),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a halted transfer waits for its fetcher to let go of the upstream connection
/// before it frees its slot anyway.
const LET_GO: Duration = Duration::from_secs(2);

/// Why an attempt ended without the whole file.
enum Interrupted {
    Fetch(FetchError),
    Halted(Halt),
}

impl<F: Fetch> Cache<F> {
    /// Runs one flight to its verdict: waits for a slot if it has none, transfers, and
    /// announces the outcome; a watchdog halts it when the cache stops or its audience goes.
    pub(super) async fn run_transfer(
        self,
        meta: PayloadMeta,
        sender: watch::Sender<FlightState>,
        audience: Audience,
        limit: Option<Arc<RateLimit>>,
        slot: Option<Slot>,
    ) {
        let (halt_sender, mut halt) = watch::channel(None);
        let stopping = self.inner.stopping.subscribe();
        let watched = audience.clone();
        let watchdog = tokio::spawn(watched.watch(stopping, halt_sender, ABANDON_GRACE));
        let outcome = self
            .in_slot(&meta, &sender, &audience, limit.as_deref(), slot, &mut halt)
            .await;
        watchdog.abort();
        let state = self.settle(&meta, outcome, sender.borrow().clone());
        // Remove the flight before announcing the verdict, so a failed digest is retried
        // by the next request rather than answered from the dead flight.
        lock(&self.inner.flights).remove(&meta.sha1);
        sender.send_replace(state);
    }

    /// Transfers in `slot`, or in the first free one; the slot is free again on return.
    async fn in_slot(
        &self,
        meta: &PayloadMeta,
        sender: &watch::Sender<FlightState>,
        audience: &Audience,
        limit: Option<&RateLimit>,
        slot: Option<Slot>,
        halt: &mut watch::Receiver<Option<Halt>>,
    ) -> Result<PathBuf, CacheError> {
        let _slot = match slot {
            Some(slot) => slot,
            None => self.wait_for_slot(meta, halt).await?,
        };
        audience.runs();
        sender.send_replace(FlightState::Running { received: 0 });
        self.transfer(meta, sender, limit, halt).await
    }

    /// Waits in the queue for a slot, unless halted first.
    async fn wait_for_slot(
        &self,
        meta: &PayloadMeta,
        halt: &mut watch::Receiver<Option<Halt>>,
    ) -> Result<Slot, CacheError> {
        // A halted transfer never takes a slot (nor, below, starts a request): `biased`
        // looks at the halt first.
        let acquired = tokio::select! {
            biased;
            reason = halted(halt) => Err(reason),
            permit = Arc::clone(&self.inner.slots).acquire_owned() => Ok(permit),
        };
        self.inner
            .counters
            .transfers_queued
            .fetch_sub(1, Ordering::Relaxed);
        match acquired {
            Ok(Ok(permit)) => Ok(Slot::new(permit, &self.inner.counters)),
            // The semaphore is never closed; a closed one would mean the cache is going away.
            Ok(Err(_)) => Err(halted_error(meta, Halt::Stopping)),
            Err(reason) => Err(halted_error(meta, reason)),
        }
    }

    /// Turns a transfer's outcome into the state its waiters get; counts and logs it.
    fn settle(
        &self,
        meta: &PayloadMeta,
        outcome: Result<PathBuf, CacheError>,
        last: FlightState,
    ) -> FlightState {
        match outcome {
            Ok(path) => {
                if let Ok(mut lru) = self.inner.lru.lock() {
                    lru.insert(meta.sha1, meta.size, now_secs());
                }
                self.publish_usage();
                self.evict(Some(&meta.sha1));
                FlightState::Committed(path)
            }
            Err(err @ CacheError::Abandoned(_)) => {
                ContentCounters::add(&self.inner.counters.transfers_abandoned, 1);
                let (queued, received) = match last {
                    FlightState::Running { received } => (false, received),
                    _ => (true, 0),
                };
                tracing::info!(sha1 = %upper_hex(&meta.sha1), queued, received, size = meta.size, "payload transfer cancelled: every client waiting for it went away; what arrived is kept to resume");
                FlightState::Failed(err)
            }
            Err(err) => {
                tracing::warn!(sha1 = %upper_hex(&meta.sha1), url = %meta.url, error = %err, "payload transfer failed");
                FlightState::Failed(err)
            }
        }
    }

    /// Attempts with resume and backoff; a digest mismatch is final for this flight, and so
    /// is a halt.
    async fn transfer(
        &self,
        meta: &PayloadMeta,
        sender: &watch::Sender<FlightState>,
        limit: Option<&RateLimit>,
        halt: &mut watch::Receiver<Option<Halt>>,
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
            match self.pump(meta, partial, sender, limit, halt).await {
                Ok(partial) => return self.commit(meta, partial).await,
                Err(Interrupted::Halted(reason)) => return Err(halted_error(meta, reason)),
                Err(Interrupted::Fetch(err)) if err.retryable && attempt < attempts => {
                    let delay = backoff(&self.inner.config, attempt);
                    tracing::info!(sha1 = %upper_hex(&meta.sha1), attempt, delay_ms = delay.as_millis() as u64, error = %err, "payload transfer interrupted; resuming");
                    last = err.to_string();
                    tokio::select! {
                        biased;
                        reason = halted(halt) => return Err(halted_error(meta, reason)),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Err(Interrupted::Fetch(err)) => return Err(transfer_error(meta, err.to_string())),
            }
        }
        Err(transfer_error(meta, last))
    }

    /// Streams the upstream answer into the partial; on an upstream error or a halt the
    /// partial is kept for a resume.
    async fn pump(
        &self,
        meta: &PayloadMeta,
        partial: Partial,
        sender: &watch::Sender<FlightState>,
        limit: Option<&RateLimit>,
        halt: &mut watch::Receiver<Option<Halt>>,
    ) -> Result<Partial, Interrupted> {
        if partial.offset() == meta.size {
            // Whole already (a crash between the last write and the rename): a range from
            // its end would be unsatisfiable, and `commit` verifies the bytes.
            return Ok(partial);
        }
        let fetched = tokio::select! {
            biased;
            reason = halted(halt) => {
                partial.keep_for_resume();
                return Err(Interrupted::Halted(reason));
            }
            fetched = self.inner.fetch.fetch(&meta.url, partial.offset()) => fetched,
        };
        let mut fetched = match fetched {
            Ok(fetched) => fetched,
            Err(err) => {
                partial.keep_for_resume();
                return Err(Interrupted::Fetch(err));
            }
        };
        let mut partial = self.restart_if_whole(meta, partial, &fetched).await?;
        loop {
            let next = tokio::select! {
                biased;
                reason = halted(halt) => {
                    partial.keep_for_resume();
                    fetched.stop(LET_GO).await;
                    return Err(Interrupted::Halted(reason));
                }
                next = fetched.chunks.recv() => next,
            };
            let Some(chunk) = next else { break };
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    partial.keep_for_resume();
                    return Err(Interrupted::Fetch(err));
                }
            };
            if let Some(limit) = limit {
                limit.take(chunk.len() as u64).await;
            }
            if let Err(err) = partial.write(&chunk).await {
                return Err(Interrupted::Fetch(local_error(meta, err)));
            }
            ContentCounters::add(&self.inner.counters.upstream_bytes, chunk.len() as u64);
            sender.send_replace(FlightState::Running {
                received: partial.offset(),
            });
        }
        if partial.offset() != meta.size {
            let detail = format!("upstream ended after {} of {} bytes", partial.offset(), meta.size);
            partial.keep_for_resume();
            return Err(Interrupted::Fetch(FetchError {
                url: meta.url.clone(),
                detail,
                retryable: true,
            }));
        }
        Ok(partial)
    }

    /// The partial to write `fetched` into: `partial` when the server honoured the range, a
    /// fresh one when it sent the whole file instead.
    async fn restart_if_whole(
        &self,
        meta: &PayloadMeta,
        partial: Partial,
        fetched: &Fetched,
    ) -> Result<Partial, Interrupted> {
        if fetched.start == partial.offset() {
            return Ok(partial);
        }
        drop(partial);
        let partial = self
            .inner
            .dir
            .begin(meta)
            .await
            .map_err(|e| Interrupted::Fetch(local_error(meta, e)))?;
        if fetched.start != 0 || partial.offset() != 0 {
            return Err(Interrupted::Fetch(FetchError {
                url: meta.url.clone(),
                detail: "upstream answered an unexpected range".into(),
                retryable: true,
            }));
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
}

fn backoff(config: &CacheConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    config
        .initial_backoff
        .saturating_mul(1 << exponent)
        .min(config.max_backoff)
}

/// What waiters of a halted transfer get.
fn halted_error(meta: &PayloadMeta, reason: Halt) -> CacheError {
    match reason {
        Halt::Abandoned => CacheError::Abandoned(upper_hex(&meta.sha1)),
        Halt::Stopping => transfer_error(meta, "shutting down; partial kept".into()),
    }
}

fn local_error(meta: &PayloadMeta, err: DiskError) -> FetchError {
    FetchError {
        url: meta.url.clone(),
        detail: format!("writing the cache failed: {err}"),
        retryable: false,
    }
}
