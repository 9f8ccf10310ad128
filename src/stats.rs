//! Counters the daemon keeps for `/metrics`, `/api/v1/stats` and `wucache stats`: plain
//! atomics, written where things happen, read by whoever reports; the SOAP request counts and
//! durations are `prometheus-client` families. Uses nothing else.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{counter::Counter, family::Family, histogram::Histogram};
use std::sync::atomic::{AtomicU64, Ordering};

/// Payload cache counters (metric names in docs/interfaces.md).
#[derive(Debug, Default)]
pub struct ContentCounters {
    /// Requests answered from a committed file that was already there.
    pub hits: AtomicU64,
    /// Requests that had to wait for an upstream transfer.
    pub misses: AtomicU64,
    pub not_found: AtomicU64,
    pub errors: AtomicU64,
    /// Misses answered 503: all transfer slots busy and `max_queued` transfers waiting.
    pub busy: AtomicU64,
    /// Body bytes sent to clients of requests that were hits / misses.
    pub bytes_from_cache: AtomicU64,
    pub bytes_after_miss: AtomicU64,
    /// Payload bytes received from upstream.
    pub upstream_bytes: AtomicU64,
    pub transfers_started: AtomicU64,
    /// Transfers running (holding one of `max_transfers` slots).
    pub in_flight: AtomicU64,
    /// Transfers waiting for a slot.
    pub transfers_queued: AtomicU64,
    /// Transfers cancelled, queued or running, because every client waiting for them had
    /// gone and prefetch did not want the file.
    pub transfers_abandoned: AtomicU64,
    pub evictions: AtomicU64,
    pub digest_mismatches: AtomicU64,
    /// Committed files and bytes, as of the last change.
    pub cache_files: AtomicU64,
    pub cache_bytes: AtomicU64,
}

/// The content counters that matter across restarts, as persisted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PersistedContent {
    pub hits: u64,
    pub misses: u64,
    pub not_found: u64,
    pub errors: u64,
    pub busy: u64,
    pub bytes_from_cache: u64,
    pub bytes_after_miss: u64,
    pub upstream_bytes: u64,
    pub transfers_started: u64,
    pub transfers_abandoned: u64,
    pub evictions: u64,
    pub digest_mismatches: u64,
}

impl ContentCounters {
    /// The running totals worth keeping across a restart.
    pub fn persisted(&self) -> PersistedContent {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PersistedContent {
            hits: get(&self.hits),
            misses: get(&self.misses),
            not_found: get(&self.not_found),
            errors: get(&self.errors),
            busy: get(&self.busy),
            bytes_from_cache: get(&self.bytes_from_cache),
            bytes_after_miss: get(&self.bytes_after_miss),
            upstream_bytes: get(&self.upstream_bytes),
            transfers_started: get(&self.transfers_started),
            transfers_abandoned: get(&self.transfers_abandoned),
            evictions: get(&self.evictions),
            digest_mismatches: get(&self.digest_mismatches),
        }
    }

    /// Adds totals kept by an earlier run (at start, before anything is counted).
    pub fn restore(&self, kept: &PersistedContent) {
        let add = |c: &AtomicU64, n: u64| c.fetch_add(n, Ordering::Relaxed);
        add(&self.hits, kept.hits);
        add(&self.misses, kept.misses);
        add(&self.not_found, kept.not_found);
        add(&self.errors, kept.errors);
        add(&self.busy, kept.busy);
        add(&self.bytes_from_cache, kept.bytes_from_cache);
        add(&self.bytes_after_miss, kept.bytes_after_miss);
        add(&self.upstream_bytes, kept.upstream_bytes);
        add(&self.transfers_started, kept.transfers_started);
        add(&self.transfers_abandoned, kept.transfers_abandoned);
        add(&self.evictions, kept.evictions);
        add(&self.digest_mismatches, kept.digest_mismatches);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What the reporting bounds turned away (`[reporting]`).
#[derive(Debug, Default)]
pub struct ReportingCounters {
    /// Contacts (authorizations, registrations) from new client ids not recorded because
    /// `max_computers` computers are.
    pub computers_refused: AtomicU64,
    /// Contacts from new client ids not recorded because their address was over
    /// `new_computers_per_minute_per_ip`.
    pub computers_rate_limited: AtomicU64,
    /// Raw events dropped: from unrecorded clients, or a computer's oldest beyond
    /// `max_events_per_computer`.
    pub events_dropped: AtomicU64,
    /// Raw events removed after `event_retention`.
    pub events_expired: AtomicU64,
}

/// Metadata sync totals, kept across restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SyncTotals {
    /// Syncs run to the end, successful or not.
    pub runs: u64,
    /// Syncs that failed.
    pub failures: u64,
    /// Revisions stored.
    pub revisions: u64,
    /// Bytes received from the upstream's Server Sync service.
    pub metadata_bytes: u64,
}

/// The sync totals (std Mutex: held for one update).
#[derive(Debug, Default)]
pub struct SyncCounters {
    totals: std::sync::Mutex<SyncTotals>,
}

impl SyncCounters {
    /// Counts one finished sync.
    pub fn add_run(&self, failed: bool, revisions: u64, metadata_bytes: u64) {
        let mut totals = self
            .totals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        totals.runs += 1;
        totals.failures += u64::from(failed);
        totals.revisions += revisions;
        totals.metadata_bytes += metadata_bytes;
    }

    /// The totals so far.
    pub fn totals(&self) -> SyncTotals {
        *self
            .totals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds totals kept by an earlier run (at start).
    pub fn restore(&self, kept: &SyncTotals) {
        let mut totals = self
            .totals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        totals.runs += kept.runs;
        totals.failures += kept.failures;
        totals.revisions += kept.revisions;
        totals.metadata_bytes += kept.metadata_bytes;
    }
}

/// Upper bounds (seconds) of the SOAP request duration histogram's buckets.
pub(crate) const SOAP_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The labels of `wucache_soap_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SoapRequest {
    /// The SOAP operation (`unreadable` when none could be read).
    pub operation: &'static str,
    /// `ok` or `fault`.
    pub outcome: &'static str,
}

/// The label of `wucache_soap_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SoapOperation {
    /// The SOAP operation.
    pub operation: &'static str,
}

type DurationFamily = Family<SoapOperation, Histogram, fn() -> Histogram>;

/// SOAP requests answered, by operation and outcome, and their durations by operation: metric
/// families of the `prometheus-client` crate (cheap clones of one shared state), registered
/// as they are by `/metrics`.
#[derive(Debug, Clone)]
pub struct SoapCounters {
    /// Requests by operation and outcome.
    pub requests: Family<SoapRequest, Counter>,
    /// Durations (seconds) by operation.
    pub durations: DurationFamily,
}

impl Default for SoapCounters {
    fn default() -> Self {
        fn histogram() -> Histogram {
            Histogram::new(SOAP_BUCKETS)
        }
        Self {
            requests: Family::default(),
            durations: Family::new_with_constructor(histogram),
        }
    }
}

impl SoapCounters {
    /// Counts one request: its operation (`unreadable` when none could be read), its outcome
    /// (`ok` or `fault`) and how long the server took.
    pub fn record(&self, operation: &'static str, outcome: &'static str, seconds: f64) {
        self.requests
            .get_or_create(&SoapRequest { operation, outcome })
            .inc();
        self.durations
            .get_or_create(&SoapOperation { operation })
            .observe(seconds);
    }
}
