//! `/metrics`: the daemon's counters in the Prometheus text format, under the names in
//! docs/interfaces.md. Reads `App`; writes nothing.

use crate::app::App;
use crate::stats::{ContentCounters as C, SOAP_BUCKETS};
use std::fmt::Write;

/// Renders every metric as Prometheus text.
pub(super) fn render(app: &App) -> String {
    let mut out = String::new();
    content(&mut out, app);
    catalog(&mut out, app);
    reporting(&mut out, app);
    soap(&mut out, app);
    sync(&mut out, app);
    out
}

fn sync(out: &mut String, app: &App) {
    let totals = app.sync_totals.totals();
    counter(
        out,
        "wucache_sync_runs_total",
        "Metadata syncs run to the end.",
        totals.runs,
    );
    counter(
        out,
        "wucache_sync_failures_total",
        "Metadata syncs that failed.",
        totals.failures,
    );
    counter(
        out,
        "wucache_sync_revisions_total",
        "Update revisions stored by syncs.",
        totals.revisions,
    );
}

fn soap(out: &mut String, app: &App) {
    family(
        out,
        "wucache_soap_requests_total",
        "counter",
        "SOAP requests answered, by operation and outcome (ok, fault).",
    );
    for ((operation, outcome), count) in app.soap.requests() {
        let _ = writeln!(
            out,
            "wucache_soap_requests_total{{operation=\"{operation}\",outcome=\"{outcome}\"}} {count}"
        );
    }
    family(
        out,
        "wucache_soap_request_duration_seconds",
        "histogram",
        "Time from a SOAP request's body to its answer (Xpress included), by operation.",
    );
    for (operation, histogram) in app.soap.durations() {
        let mut cumulative = 0;
        let bounds = SOAP_BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_string()]);
        for (bound, count) in bounds.zip(histogram.buckets) {
            cumulative += count;
            let _ = writeln!(
                out,
                "wucache_soap_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "wucache_soap_request_duration_seconds_sum{{operation=\"{operation}\"}} {}\n\
             wucache_soap_request_duration_seconds_count{{operation=\"{operation}\"}} {}",
            histogram.sum, histogram.count
        );
    }
}

fn reporting(out: &mut String, app: &App) {
    let r = &app.reporting;
    gauge(
        out,
        "wucache_computers",
        "Computers recorded.",
        app.store.computer_count(),
    );
    counter(
        out,
        "wucache_computers_refused_total",
        "Contacts from new client ids not recorded because [reporting] max_computers computers are.",
        C::get(&r.computers_refused),
    );
    counter(
        out,
        "wucache_report_events_dropped_total",
        "Raw events not kept: from unrecorded clients, or beyond max_events_per_computer.",
        C::get(&r.events_dropped),
    );
    counter(
        out,
        "wucache_report_events_expired_total",
        "Raw events removed after [reporting] event_retention.",
        C::get(&r.events_expired),
    );
}

fn content(out: &mut String, app: &App) {
    let c = &app.counters;
    family(
        out,
        "wucache_content_requests_total",
        "counter",
        "Payload requests by outcome.",
    );
    for (result, value) in [
        ("hit", &c.hits),
        ("miss", &c.misses),
        ("not_found", &c.not_found),
        ("error", &c.errors),
    ] {
        let _ = writeln!(
            out,
            "wucache_content_requests_total{{result=\"{result}\"}} {}",
            C::get(value)
        );
    }
    family(
        out,
        "wucache_content_bytes_total",
        "counter",
        "Payload bytes sent to clients, by where they came from.",
    );
    let _ = writeln!(
        out,
        "wucache_content_bytes_total{{source=\"cache\"}} {}",
        C::get(&c.bytes_from_cache)
    );
    let _ = writeln!(
        out,
        "wucache_content_bytes_total{{source=\"upstream\"}} {}",
        C::get(&c.bytes_after_miss)
    );
    family(
        out,
        "wucache_upstream_bytes_total",
        "counter",
        "Bytes received from the upstream, by kind (content: payloads; metadata: Server Sync).",
    );
    let _ = writeln!(
        out,
        "wucache_upstream_bytes_total{{kind=\"content\"}} {}\nwucache_upstream_bytes_total{{kind=\"metadata\"}} {}",
        C::get(&c.upstream_bytes),
        app.sync_totals.totals().metadata_bytes
    );
    gauge(
        out,
        "wucache_cache_bytes",
        "Bytes of committed payloads.",
        C::get(&c.cache_bytes),
    );
    gauge(
        out,
        "wucache_cache_files",
        "Committed payloads.",
        C::get(&c.cache_files),
    );
    gauge(
        out,
        "wucache_content_transfers_in_flight",
        "Upstream payload transfers running.",
        C::get(&c.in_flight),
    );
    counter(
        out,
        "wucache_content_transfers_total",
        "Upstream payload transfers started.",
        C::get(&c.transfers_started),
    );
    counter(
        out,
        "wucache_cache_evictions_total",
        "Payloads evicted to stay within max_size.",
        C::get(&c.evictions),
    );
    counter(
        out,
        "wucache_digest_mismatches_total",
        "Payloads discarded for a wrong SHA-1 or SHA-256.",
        C::get(&c.digest_mismatches),
    );
}

fn catalog(out: &mut String, app: &App) {
    let snapshot = app.snapshot();
    family(
        out,
        "wucache_catalog_revisions",
        "gauge",
        "Served updates (newest revision each), by type.",
    );
    let mut by_type = std::collections::BTreeMap::new();
    for record in &snapshot.records {
        *by_type.entry(record.update_type.as_str()).or_insert(0u64) += 1;
    }
    for (kind, count) in by_type {
        let _ = writeln!(out, "wucache_catalog_revisions{{type=\"{kind}\"}} {count}");
    }
    if let Some(last) = app
        .store
        .meta(crate::store::MetaKey::LastSyncSuccess)
        .ok()
        .flatten()
    {
        if let Ok(time) = chrono::DateTime::parse_from_rfc3339(&last) {
            gauge(
                out,
                "wucache_sync_last_success_timestamp_seconds",
                "When the last sync succeeded.",
                time.timestamp() as u64,
            );
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}
