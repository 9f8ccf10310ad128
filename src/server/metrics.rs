//! `/metrics`: the daemon's numbers in the Prometheus text format (0.0.4), under the names in
//! docs/interfaces.md, encoded by the `prometheus-client` crate. The SOAP families are that
//! crate's own metrics; everything else is kept elsewhere (atomics that persist across
//! restarts, the store, the catalog snapshot) and read once per scrape into [`Readings`], a
//! `Collector`. Reads `App`; writes nothing.

use crate::app::App;
use crate::bytecache::CacheStats;
use crate::stats::{ContentCounters as C, PersistedContent, SyncTotals};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;

/// The `Content-Type` of what [`render`] returns.
pub(super) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Renders every metric as Prometheus text.
pub(super) fn render(app: &App) -> String {
    let mut registry = Registry::default();
    registry.register(
        "wucache_soap_requests",
        // The registry adds the full stop.
        "SOAP requests answered, by operation and outcome (ok, fault)",
        app.soap.requests.clone(),
    );
    registry.register(
        "wucache_soap_request_duration_seconds",
        "Time from a SOAP request's body to its answer (Xpress included), by operation",
        app.soap.durations.clone(),
    );
    registry.register_collector(Box::new(Readings::of(app)));
    let mut out = String::new();
    // Writing to a String cannot fail; an encoder error would be a bug in a label.
    if let Err(error) = prometheus_text::encode(&mut out, &registry) {
        tracing::error!(%error, "encoding /metrics failed");
    }
    out
}

/// Every number `/metrics` shows besides the SOAP families, read at one moment.
#[derive(Debug, Default)]
struct Readings {
    content: PersistedContent,
    in_flight: u64,
    queued: u64,
    cache_bytes: u64,
    cache_files: u64,
    /// Served updates by type, sorted by type.
    catalog: Vec<(String, u64)>,
    last_sync_success: Option<i64>,
    computers: u64,
    computers_refused: u64,
    computers_rate_limited: u64,
    events_dropped: u64,
    events_expired: u64,
    sync: SyncTotals,
    /// Open connections and connections refused at accept, client and admin listeners.
    connections_open: [u64; 2],
    connections_refused: [u64; 2],
    /// SOAP requests answered 503: no body memory or worker came free in time.
    soap_busy: u64,
    /// The caches of derived answer bytes: fragments, Xpress frames, whole answers.
    answer_caches: [(&'static str, CacheStats); 3],
}

impl Readings {
    fn of(app: &App) -> Self {
        let c = &app.counters;
        let r = &app.reporting;
        Readings {
            content: c.persisted(),
            in_flight: C::get(&c.in_flight),
            queued: C::get(&c.transfers_queued),
            cache_bytes: C::get(&c.cache_bytes),
            cache_files: C::get(&c.cache_files),
            catalog: catalog_by_type(app),
            last_sync_success: last_sync_success(app),
            computers: app.store.computer_count(),
            computers_refused: C::get(&r.computers_refused),
            computers_rate_limited: C::get(&r.computers_rate_limited),
            events_dropped: C::get(&r.events_dropped),
            events_expired: C::get(&r.events_expired),
            sync: app.sync_totals.totals(),
            connections_open: [
                u64::from(app.admission.clients.open()),
                u64::from(app.admission.admin.open()),
            ],
            connections_refused: [
                C::get(&app.admission.clients.refused),
                C::get(&app.admission.admin.refused),
            ],
            soap_busy: C::get(&app.admission.busy_refusals),
            answer_caches: {
                let (frames, answers) = super::xpress::cache_stats();
                [
                    ("fragments", app.fragments.stats()),
                    ("xpress_frames", frames),
                    ("answers", answers),
                ]
            },
        }
    }
}

fn catalog_by_type(app: &App) -> Vec<(String, u64)> {
    let snapshot = app.snapshot();
    let mut by_type = std::collections::BTreeMap::new();
    for record in &snapshot.records {
        *by_type.entry(record.update_type.as_str()).or_insert(0u64) += 1;
    }
    by_type
        .into_iter()
        .map(|(kind, count)| (kind.to_string(), count))
        .collect()
}

fn last_sync_success(app: &App) -> Option<i64> {
    let last = app
        .store
        .meta(crate::store::MetaKey::LastSyncSuccess)
        .ok()
        .flatten()?;
    let time = chrono::DateTime::parse_from_rfc3339(&last).ok()?;
    Some(time.timestamp())
}

impl Collector for Readings {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        self.content(&mut encoder)?;
        self.catalog(&mut encoder)?;
        self.reporting(&mut encoder)?;
        self.admission(&mut encoder)?;
        self.answer_caches(&mut encoder)?;
        self.sync(&mut encoder)
    }
}

impl Readings {
    fn content(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let c = &self.content;
        labelled(
            e,
            "wucache_content_requests",
            "Payload requests by outcome.",
            MetricType::Counter,
            "result",
            [
                ("hit", c.hits),
                ("miss", c.misses),
                ("not_found", c.not_found),
                ("error", c.errors),
                ("busy", c.busy),
            ],
        )?;
        labelled(
            e,
            "wucache_content_bytes",
            "Payload bytes sent to clients, by where they came from.",
            MetricType::Counter,
            "source",
            [("cache", c.bytes_from_cache), ("upstream", c.bytes_after_miss)],
        )?;
        labelled(
            e,
            "wucache_upstream_bytes",
            "Bytes received from the upstream, by kind (content: payloads; metadata: Server Sync).",
            MetricType::Counter,
            "kind",
            [
                ("content", c.upstream_bytes),
                ("metadata", self.sync.metadata_bytes),
            ],
        )?;
        gauge(
            e,
            "wucache_cache_bytes",
            "Bytes of committed payloads.",
            self.cache_bytes,
        )?;
        gauge(e, "wucache_cache_files", "Committed payloads.", self.cache_files)?;
        gauge(
            e,
            "wucache_content_transfers_in_flight",
            "Upstream payload transfers running.",
            self.in_flight,
        )?;
        gauge(
            e,
            "wucache_content_transfers_queued",
            "Upstream payload transfers waiting for a slot.",
            self.queued,
        )?;
        counter(
            e,
            "wucache_content_transfers",
            "Upstream payload transfers started.",
            c.transfers_started,
        )?;
        counter(
            e,
            "wucache_content_transfers_abandoned",
            "Payload transfers cancelled: every client went away.",
            c.transfers_abandoned,
        )?;
        counter(
            e,
            "wucache_cache_evictions",
            "Payloads evicted to stay within max_size.",
            c.evictions,
        )?;
        counter(
            e,
            "wucache_digest_mismatches",
            "Payloads discarded for a wrong SHA-1 or SHA-256.",
            c.digest_mismatches,
        )
    }

    fn catalog(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        labelled(
            e,
            "wucache_catalog_revisions",
            "Served updates (newest revision each), by type.",
            MetricType::Gauge,
            "type",
            self.catalog.iter().map(|(kind, count)| (kind.as_str(), *count)),
        )?;
        if let Some(seconds) = self.last_sync_success {
            let metric = ConstGauge::new(seconds);
            metric.encode(e.encode_descriptor(
                "wucache_sync_last_success_timestamp_seconds",
                "When the last sync succeeded.",
                None,
                metric.metric_type(),
            )?)?;
        }
        Ok(())
    }

    fn reporting(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        gauge(e, "wucache_computers", "Computers recorded.", self.computers)?;
        counter(
            e,
            "wucache_computers_refused",
            "Contacts from new client ids not recorded because [reporting] max_computers computers are.",
            self.computers_refused,
        )?;
        counter(
            e,
            "wucache_computers_rate_limited",
            "Contacts from new client ids not recorded because their address was over [reporting] new_computers_per_minute_per_ip.",
            self.computers_rate_limited,
        )?;
        counter(
            e,
            "wucache_report_events_dropped",
            "Raw events not kept: from unrecorded clients, or beyond max_events_per_computer.",
            self.events_dropped,
        )?;
        counter(
            e,
            "wucache_report_events_expired",
            "Raw events removed after [reporting] event_retention.",
            self.events_expired,
        )
    }

    fn admission(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let by_listener = |values: [u64; 2]| [("client", values[0]), ("admin", values[1])];
        labelled(
            e,
            "wucache_connections_open",
            "Connections open, by listener.",
            MetricType::Gauge,
            "listener",
            by_listener(self.connections_open),
        )?;
        labelled(
            e,
            "wucache_connections_refused",
            "Connections closed at accept because a [server] connection limit was reached, by listener.",
            MetricType::Counter,
            "listener",
            by_listener(self.connections_refused),
        )?;
        counter(
            e,
            "wucache_soap_busy_refusals",
            "SOAP requests answered 503 because no body memory or worker came free in time.",
            self.soap_busy,
        )
    }

    fn sync(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        counter(
            e,
            "wucache_sync_runs",
            "Metadata syncs run to the end.",
            self.sync.runs,
        )?;
        counter(
            e,
            "wucache_sync_failures",
            "Metadata syncs that failed.",
            self.sync.failures,
        )?;
        counter(
            e,
            "wucache_sync_revisions",
            "Update revisions stored by syncs.",
            self.sync.revisions,
        )
    }
}

/// A counter without labels; the encoder adds `_total` to `name`.
impl Readings {
    fn answer_caches(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let each =
            |pick: fn(&CacheStats) -> u64| self.answer_caches.iter().map(move |(name, s)| (*name, pick(s)));
        labelled(
            e,
            "wucache_answer_cache_hits",
            "Look-ups that found ready answer bytes, by cache (fragments, xpress_frames, answers).",
            MetricType::Counter,
            "cache",
            each(|s| s.hits),
        )?;
        labelled(
            e,
            "wucache_answer_cache_misses",
            "Look-ups that had to derive, compress or build the bytes, by cache.",
            MetricType::Counter,
            "cache",
            each(|s| s.misses),
        )?;
        labelled(
            e,
            "wucache_answer_cache_bytes",
            "Bytes held, as charged against each cache's budget.",
            MetricType::Gauge,
            "cache",
            each(|s| s.bytes as u64),
        )
    }
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A counter or gauge family with one label, `key`, one series per value.
fn labelled<'v>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    key: &'static str,
    series: impl IntoIterator<Item = (&'v str, u64)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, kind)?;
    for (value, number) in series {
        let labels = [(key, value)];
        let series = family.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(number).encode(series)?,
            _ => ConstGauge::new(number).encode(series)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SoapCounters;

    fn soap_text(soap: &SoapCounters) -> String {
        let mut registry = Registry::default();
        registry.register("wucache_soap_requests", "h", soap.requests.clone());
        registry.register(
            "wucache_soap_request_duration_seconds",
            "h",
            soap.durations.clone(),
        );
        let mut out = String::new();
        prometheus_text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn soap_durations_land_in_the_first_bucket_that_holds_them() {
        let soap = SoapCounters::default();
        for seconds in [0.0005, 0.001, 0.003, 0.7, 9.0] {
            soap.record("SyncUpdates", "ok", seconds);
        }
        soap.record("SyncUpdates", "fault", 0.002);
        let text = soap_text(&soap);
        let series = |line: &str| -> u64 {
            let found = text
                .lines()
                .find_map(|l| l.strip_prefix(line))
                .unwrap_or_else(|| panic!("no {line} in\n{text}"));
            found.trim().parse().unwrap()
        };
        let bucket = |le: &str| {
            series(&format!(
                "wucache_soap_request_duration_seconds_bucket{{operation=\"SyncUpdates\",le=\"{le}\"}} "
            ))
        };
        assert_eq!(bucket("0.001"), 2, "0.5 ms and exactly 1 ms");
        assert_eq!(bucket("0.0025"), 3, "and 2 ms");
        assert_eq!(bucket("0.005"), 4, "and 3 ms");
        assert_eq!(bucket("0.5"), 4);
        assert_eq!(bucket("1"), 5, "and 0.7 s");
        assert_eq!(bucket("5"), 5);
        assert_eq!(bucket("+Inf"), 6, "and 9 s: slower than every bound");
        assert_eq!(
            series("wucache_soap_request_duration_seconds_count{operation=\"SyncUpdates\"} "),
            6
        );
        let sum: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("wucache_soap_request_duration_seconds_sum{operation=\"SyncUpdates\"} ")
            })
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 9.7065).abs() < 1e-9, "{sum}");
        assert_eq!(
            series("wucache_soap_requests_total{operation=\"SyncUpdates\",outcome=\"ok\"} "),
            5
        );
        assert_eq!(
            series("wucache_soap_requests_total{operation=\"SyncUpdates\",outcome=\"fault\"} "),
            1
        );
        assert!(text.contains("# TYPE wucache_soap_requests_total counter\n"));
        assert!(text.contains("# TYPE wucache_soap_request_duration_seconds histogram\n"));
    }

    #[test]
    fn readings_use_the_documented_names_and_types() {
        let readings = Readings {
            content: PersistedContent {
                hits: 3,
                bytes_from_cache: 1_000,
                upstream_bytes: 700,
                ..Default::default()
            },
            catalog: vec![("Detectoid".into(), 2), ("Software".into(), 5)],
            last_sync_success: Some(1_800_000_000),
            computers: 4,
            sync: SyncTotals {
                revisions: 9,
                metadata_bytes: 55,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(readings));
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry).unwrap();
        for line in [
            "# TYPE wucache_content_requests_total counter",
            "wucache_content_requests_total{result=\"hit\"} 3",
            "wucache_content_requests_total{result=\"error\"} 0",
            "wucache_content_bytes_total{source=\"cache\"} 1000",
            "wucache_upstream_bytes_total{kind=\"content\"} 700",
            "wucache_upstream_bytes_total{kind=\"metadata\"} 55",
            "# TYPE wucache_cache_bytes gauge",
            "# TYPE wucache_catalog_revisions gauge",
            "wucache_catalog_revisions{type=\"Software\"} 5",
            "wucache_sync_last_success_timestamp_seconds 1800000000",
            "wucache_computers 4",
            "wucache_sync_revisions_total 9",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
        }
    }
}
