//! Counters the daemon keeps for `/metrics`, `/api/v1/stats` and `wucache stats`: plain
//! atomics, written where things happen, read by whoever reports. Uses nothing else.

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
    /// Body bytes sent to clients of requests that were hits / misses.
    pub bytes_from_cache: AtomicU64,
    pub bytes_after_miss: AtomicU64,
    /// Payload bytes received from upstream.
    pub upstream_bytes: AtomicU64,
    pub transfers_started: AtomicU64,
    pub in_flight: AtomicU64,
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
    pub bytes_from_cache: u64,
    pub bytes_after_miss: u64,
    pub upstream_bytes: u64,
    pub transfers_started: u64,
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
            bytes_from_cache: get(&self.bytes_from_cache),
            bytes_after_miss: get(&self.bytes_after_miss),
            upstream_bytes: get(&self.upstream_bytes),
            transfers_started: get(&self.transfers_started),
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
        add(&self.bytes_from_cache, kept.bytes_from_cache);
        add(&self.bytes_after_miss, kept.bytes_after_miss);
        add(&self.upstream_bytes, kept.upstream_bytes);
        add(&self.transfers_started, kept.transfers_started);
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
    /// Raw events dropped: from unrecorded clients, or a computer's oldest beyond
    /// `max_events_per_computer`.
    pub events_dropped: AtomicU64,
    /// Raw events removed after `event_retention`.
    pub events_expired: AtomicU64,
}
