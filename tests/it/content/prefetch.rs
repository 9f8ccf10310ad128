//! Prefetch driven over the admin API: it downloads exactly the approved payloads, no more than
//! `prefetch_concurrency` at once (and that many when there is enough work) nor more than
//! `max_transfers`, and within `prefetch_rate` for all transfers together.

use super::{committed_on_disk, serve, upper_hex, upstream_with_payloads};
use crate::harness::http;
use crate::oracle::{approved_files, unapproved_files};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use wucache::daemon::Daemon;
use wucache_testkit::synth::hex;

/// Asks for a prefetch run over `POST /api/v1/prefetch`.
async fn request_prefetch(daemon: &Daemon) {
    let token = daemon.app.admin_token();
    let token = Some(token.as_str());
    let (status, body) = http("POST", daemon.admin_addr, "/api/v1/prefetch", token).await;
    assert_eq!(status, 202, "{body}");
}

/// Polls `GET /api/v1/prefetch` (every 10 ms, up to `limit`) until a run has finished that
/// is not `previous`; returns its summary.
pub(super) async fn finished_run(
    daemon: &Daemon,
    previous: &serde_json::Value,
    limit: Duration,
) -> serde_json::Value {
    let token = daemon.app.admin_token();
    let token = Some(token.as_str());
    let started = Instant::now();
    while started.elapsed() < limit {
        let (status, body) = http("GET", daemon.admin_addr, "/api/v1/prefetch", token).await;
        assert_eq!(status, 200, "{body}");
        let state: serde_json::Value = serde_json::from_str(&body).unwrap();
        if !state["last"].is_null() && state["last"] != *previous && state["running"] == false {
            return state["last"].clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no prefetch run finished within {limit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_downloads_exactly_the_approved_payloads_and_then_finds_them_cached() {
    let (upstream, catalog) = upstream_with_payloads(77, 40, 20_000).await;
    let (approved, unapproved) = (approved_files(&catalog), unapproved_files(&catalog));
    let (daemon, data) = serve(&upstream, |_| {}).await;

    request_prefetch(&daemon).await;
    let summary = finished_run(&daemon, &serde_json::Value::Null, Duration::from_secs(20)).await;

    assert_eq!(summary["files"], approved.len(), "{summary}");
    assert_eq!(summary["downloaded"], approved.len(), "{summary}");
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    let bytes: u64 = approved.iter().map(|f| f.size).sum();
    assert_eq!(summary["downloaded_bytes"], bytes, "{summary}");
    let expected: BTreeSet<String> = approved.iter().map(upper_hex).collect();
    assert_eq!(committed_on_disk(&data.path().join("content")), expected);
    let stats = upstream.stats();
    for file in &approved {
        assert_eq!(stats.file(&hex(&file.sha1)).transfers, 1, "{}", file.name);
    }
    for file in &unapproved {
        assert_eq!(stats.file(&hex(&file.sha1)).requests, 0, "{}", file.name);
    }

    // A second run finds everything cached and asks the upstream for nothing.
    request_prefetch(&daemon).await;
    let again = finished_run(&daemon, &summary, Duration::from_secs(20)).await;
    assert_eq!(again["already_cached"], approved.len(), "{again}");
    assert_eq!(again["downloaded"], 0, "{again}");
    assert_eq!(upstream.stats().content_requests, stats.content_requests);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_runs_at_most_and_at_peak_exactly_its_concurrency() {
    let (upstream, catalog) = upstream_with_payloads(84, 30, 20_000).await;
    let approved = approved_files(&catalog);
    const CONCURRENCY: usize = 3;
    assert!(
        approved.len() >= 3 * CONCURRENCY,
        "enough work: {}",
        approved.len()
    );
    // Every transfer lasts at least 150 ms at the upstream, so transfers started together
    // overlap there.
    upstream.faults().content_delay(Duration::from_millis(150));
    let (daemon, _data) = serve(&upstream, |c| c.content.prefetch_concurrency = CONCURRENCY as u32).await;

    request_prefetch(&daemon).await;
    let summary = finished_run(&daemon, &serde_json::Value::Null, Duration::from_secs(30)).await;

    assert_eq!(summary["downloaded"], approved.len(), "{summary}");
    let stats = upstream.stats();
    assert_eq!(
        stats.content_peak_active, CONCURRENCY,
        "peak concurrent transfers"
    );
    assert_eq!(stats.content_active, 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_stays_within_its_rate_for_all_transfers_together() {
    let (upstream, catalog) = upstream_with_payloads(85, 24, 1_000_000).await;
    let approved = approved_files(&catalog);
    let bytes: u64 = approved.iter().map(|f| f.size).sum();
    // A cap that needs three seconds for the lot; four transfers at a time, so a cap applied
    // per transfer would let it through in well under two.
    let rate = bytes / 3;
    assert!(rate >= 200_000, "enough bytes to measure: {bytes}");
    let (daemon, _data) = serve(&upstream, |c| {
        c.content.prefetch_rate = rate;
        c.content.prefetch_concurrency = 4;
    })
    .await;

    let started = Instant::now();
    request_prefetch(&daemon).await;
    let summary = finished_run(&daemon, &serde_json::Value::Null, Duration::from_secs(60)).await;
    let elapsed = started.elapsed();

    assert_eq!(summary["downloaded_bytes"], bytes, "{summary}");
    assert_eq!(upstream.stats().content_bytes, bytes);
    // The limiter starts empty and never holds more than a second's worth, so in `elapsed`
    // at most `rate * (elapsed + 1 s)` bytes can have passed.
    let allowed = rate as f64 * (elapsed.as_secs_f64() + 1.0);
    assert!(
        bytes as f64 <= allowed,
        "{bytes} bytes in {elapsed:?} at a cap of {rate} B/s"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_transfers_take_slots_of_max_transfers_and_wait_however_long_the_queue() {
    let (upstream, catalog) = upstream_with_payloads(92, 30, 20_000).await;
    let approved = approved_files(&catalog);
    assert!(approved.len() >= 8, "enough work: {}", approved.len());
    // Transfers started together overlap at the upstream.
    upstream.faults().content_delay(Duration::from_millis(150));
    let (daemon, _data) = serve(&upstream, |c| {
        c.content.prefetch_concurrency = 4;
        c.content.max_transfers = 2;
        // A client's miss would be refused as soon as a transfer waits; prefetch never is.
        c.content.max_queued = 0;
    })
    .await;

    request_prefetch(&daemon).await;
    let summary = finished_run(&daemon, &serde_json::Value::Null, Duration::from_secs(30)).await;

    assert_eq!(summary["downloaded"], approved.len(), "{summary}");
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    assert_eq!(upstream.stats().content_peak_active, 2, "within max_transfers");
    daemon.stop().await;
}
