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

impl ContentCounters {
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
