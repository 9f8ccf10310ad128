//! Serving payloads: a miss is fetched once and verified, concurrent clients share one transfer,
//! corrupt or cut transfers never reach a client, and exactly the approved payloads are served.

use super::{assert_partial, content_path, get, largest_approved, metric, serve, upstream_with_payloads};
use crate::harness::{eventually, http};
use crate::oracle::{approved_files, unapproved_files};
use std::sync::atomic::Ordering;
use wucache::daemon::Daemon;
use wucache_testkit::synth::{self, hex};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_fetched_once_verified_and_then_served_from_the_cache() {
    let (upstream, catalog) = upstream_with_payloads(70, 40, 200_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = largest_approved(&catalog);

    let whole = get(daemon.client_addr, &content_path(&file), None).await;
    assert_eq!(whole.status, 200, "{:?}", whole.headers);
    assert_eq!(whole.header("content-length"), file.size.to_string());
    assert!(whole.body == synth::payload(&file));
    let part = get(daemon.client_addr, &content_path(&file), Some("bytes=10-19")).await;
    assert_partial(&part, "bytes=10-19", &file);

    assert_eq!(
        upstream.stats().file(&hex(&file.sha1)).transfers,
        1,
        "the second request is a hit"
    );
    let counters = &daemon.app.counters;
    assert_eq!(counters.misses.load(Ordering::Relaxed), 1);
    assert_eq!(counters.hits.load(Ordering::Relaxed), 1);
    assert_eq!(counters.upstream_bytes.load(Ordering::Relaxed), file.size);
    let (status, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(&metrics, "wucache_content_requests_total{result=\"hit\"}"),
        Some(1),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "wucache_upstream_bytes_total{kind=\"content\"}"),
        Some(file.size),
        "{metrics}"
    );
    assert!(
        metrics.contains("wucache_catalog_revisions{type=\"Software\"}"),
        "{metrics}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_on_one_missing_file_make_one_upstream_transfer() {
    let (upstream, catalog) = upstream_with_payloads(71, 30, 400_000).await;
    upstream.faults().content_rate(2_000_000);
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = largest_approved(&catalog);
    assert!(
        file.size > 65_536 * 2,
        "ranges end inside the file and at its end"
    );

    let mut clients = tokio::task::JoinSet::new();
    for i in 0..50u64 {
        let (addr, path) = (daemon.client_addr, content_path(&file));
        let size = file.size;
        clients.spawn(async move {
            // Half ask for the whole file, half for a Delivery-Optimization-style range; the
            // last ranges run past the end of the file.
            let start = (i * (size / 50)).min(size - 1);
            let range = (i % 2 == 1).then(|| format!("bytes={start}-{}", start + 65_535));
            (get(addr, &path, range.as_deref()).await, range)
        });
    }
    while let Some(result) = clients.join_next().await {
        let (reply, range) = result.unwrap();
        match range {
            None => assert!((reply.status, &reply.body) == (200, &synth::payload(&file))),
            Some(range) => assert_partial(&reply, &range, &file),
        }
    }

    assert_eq!(upstream.stats().file(&hex(&file.sha1)).transfers, 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_upstream_byte_is_never_committed_or_served() {
    let (upstream, catalog) = upstream_with_payloads(72, 20, 100_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = largest_approved(&catalog);
    upstream.faults().content_flip_byte(file.sha1, file.size / 2);

    let reply = get(daemon.client_addr, &content_path(&file), None).await;

    assert_eq!(reply.status, 502);
    assert!(reply.body.len() < 100, "no payload bytes are sent");
    let cache = daemon.app.content.get().unwrap();
    assert!(cache.committed(&file.sha1).is_none());
    assert_eq!(daemon.app.counters.digest_mismatches.load(Ordering::Relaxed), 1);
    // Once the upstream is healthy the next request fetches it again, correctly.
    upstream.faults().content_clear();
    let reply = get(daemon.client_addr, &content_path(&file), None).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body == synth::payload(&file));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_transfer_resumes_with_a_range_and_5xx_is_retried() {
    let (upstream, catalog) = upstream_with_payloads(73, 20, 300_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = largest_approved(&catalog);
    assert!(file.size > 1_000, "a file worth cutting");
    upstream.faults().content_status(1, 503);
    upstream.faults().content_reset_after(1, file.size / 2);

    let reply = get(daemon.client_addr, &content_path(&file), None).await;

    assert_eq!(reply.status, 200);
    assert!(reply.body == synth::payload(&file));
    let ranges = upstream.stats().file(&hex(&file.sha1)).ranges;
    assert!(
        ranges
            .iter()
            .flatten()
            .any(|r| r.starts_with("bytes=") && r != "bytes=0-"),
        "resumed with a Range: {ranges:?}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_unapproved_and_malformed_paths_are_404() {
    let (upstream, catalog) = upstream_with_payloads(74, 20, 10_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = approved_files(&catalog).into_iter().next().unwrap();
    let good = content_path(&file);
    let hex = hex(&file.sha1).to_uppercase();
    let attempts = [
        "/Content/00/0000000000000000000000000000000000000000.exe".to_string(),
        format!("/Content/{}/{hex}", &hex[38..]),
        format!("/Content/11/{hex}.exe"),
        format!("/Content/{}/../../data/admin.token", &hex[38..]),
        "/Content/%2e%2e/%2e%2e/etc/passwd".to_string(),
        "/Content/..%2f..%2fetc/passwd".to_string(),
        format!("/Content/{}/{hex}.exe/..", &hex[38..]),
    ];
    for path in &attempts {
        assert_eq!(http("GET", daemon.client_addr, path, None).await.0, 404, "{path}");
    }
    // Any letter case works for a good path.
    assert_eq!(
        get(daemon.client_addr, &good.to_lowercase(), None).await.status,
        200
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_the_approved_payloads_are_served_and_the_others_only_when_configured() {
    let (upstream, catalog) = upstream_with_payloads(75, 40, 10_000).await;
    let (approved, unapproved) = (approved_files(&catalog), unapproved_files(&catalog));
    assert!(approved.len() >= 5 && unapproved.len() >= 5, "both kinds occur");
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    for file in &approved {
        let reply = get(daemon.client_addr, &content_path(file), None).await;
        assert!(
            (reply.status, &reply.body) == (200, &synth::payload(file)),
            "{}",
            file.name
        );
    }
    for file in &unapproved {
        let status = get(daemon.client_addr, &content_path(file), None).await.status;
        assert_eq!(status, 404, "{} is not approved", file.name);
        assert_eq!(
            upstream.stats().file(&hex(&file.sha1)).requests,
            0,
            "never fetched"
        );
    }
    daemon.stop().await;

    let (open, _data) = serve(&upstream, |c| c.content.serve_unapproved = true).await;
    for file in &unapproved {
        let reply = get(open.client_addr, &content_path(file), None).await;
        assert!(
            (reply.status, &reply.body) == (200, &synth::payload(file)),
            "{}",
            file.name
        );
    }
    open.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_serve_while_downloading_a_range_is_answered_before_the_file_completes() {
    let (upstream, catalog) = upstream_with_payloads(78, 20, 2_000_000).await;
    let (daemon, _data) = serve(&upstream, |c| c.content.serve_while_downloading = true).await;
    let file = largest_approved(&catalog);
    assert!(file.size > 200_000, "a file worth streaming");
    upstream.faults().content_rate(file.size / 2);

    let reply = get(daemon.client_addr, &content_path(&file), Some("bytes=0-65535")).await;

    assert_partial(&reply, "bytes=0-65535", &file);
    assert_eq!(
        daemon.app.counters.in_flight.load(Ordering::Relaxed),
        1,
        "answered while the transfer still runs"
    );
    upstream.faults().content_clear();
    let reply = get(daemon.client_addr, &content_path(&file), None).await;
    assert!((reply.status, &reply.body) == (200, &synth::payload(&file)));
    assert_eq!(upstream.stats().file(&hex(&file.sha1)).transfers, 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_no_approved_update_uses_are_removed_after_the_grace_period() {
    let (upstream, catalog) = upstream_with_payloads(79, 40, 10_000).await;
    let (daemon, _data) = serve(&upstream, |c| {
        c.content.serve_unapproved = true;
        c.content.unreferenced_grace = std::time::Duration::ZERO;
    })
    .await;
    let unapproved = unapproved_files(&catalog).into_iter().next().unwrap();
    let approved = approved_files(&catalog).into_iter().next().unwrap();
    for file in [&unapproved, &approved] {
        assert_eq!(
            get(daemon.client_addr, &content_path(file), None).await.status,
            200
        );
    }
    let cache = daemon.app.content.get().unwrap();
    assert!(cache.committed(&unapproved.sha1).is_some());

    wucache::worker::remove_unreferenced(&daemon.app, cache);

    assert!(
        cache.committed(&unapproved.sha1).is_none(),
        "unreferenced past the grace period"
    );
    assert!(
        cache.committed(&approved.sha1).is_some(),
        "approved payloads stay"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_keeps_partial_downloads_for_the_next_start() {
    let (upstream, catalog) = upstream_with_payloads(81, 20, 3_000_000).await;
    let (daemon, data) = serve(&upstream, |_| {}).await;
    let file = largest_approved(&catalog);
    let hex = hex(&file.sha1);
    upstream.faults().content_rate(file.size / 2);
    let (addr, path) = (daemon.client_addr, content_path(&file));
    let download = tokio::spawn(async move { get(addr, &path, None).await });
    let stats = &upstream;
    assert!(eventually(|| async { stats.stats().file(&hex).bytes > file.size / 4 }).await);

    let config = daemon.app.config.clone();
    daemon.stop().await;
    let _ = download.await;

    let partial = data
        .path()
        .join("content/tmp")
        .join(format!("{}.partial", hex.to_uppercase()));
    assert!(
        std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) > 0,
        "the partial survives a graceful stop"
    );
    upstream.faults().content_clear();
    let restarted = Daemon::start(config).await.unwrap();
    let app = restarted.app.clone();
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { app.content.get().is_some() }
        })
        .await
    );
    let reply = get(restarted.client_addr, &content_path(&file), None).await;
    assert!((reply.status, &reply.body) == (200, &synth::payload(&file)));
    let ranges = upstream.stats().file(&hex).ranges;
    assert!(
        ranges.iter().flatten().any(|r| r != "bytes=0-"),
        "resumed: {ranges:?}"
    );
    restarted.stop().await;
}

/// A kill -9 between a transfer's last write and its rename leaves a partial as long as the
/// file. The next start keeps it; asking the upstream for the bytes after its end would be
/// answered 416 every time, so the file could never be served. It is verified and committed
/// as it is, with no upstream request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_that_is_already_whole_is_committed_without_a_download() {
    let (upstream, catalog) = upstream_with_payloads(93, 20, 200_000).await;
    let (daemon, data) = serve(&upstream, |_| {}).await;
    let config = daemon.app.config.clone();
    daemon.stop().await;
    let file = largest_approved(&catalog);
    let partial = data
        .path()
        .join("content/tmp")
        .join(format!("{}.partial", hex(&file.sha1).to_uppercase()));
    std::fs::write(&partial, synth::payload(&file)).unwrap();

    let restarted = Daemon::start(config).await.unwrap();
    let app = restarted.app.clone();
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { app.content.get().is_some() }
        })
        .await
    );
    let reply = get(restarted.client_addr, &content_path(&file), None).await;

    assert_eq!(reply.status, 200);
    assert!(reply.body == synth::payload(&file), "the verified bytes");
    assert_eq!(upstream.stats().file(&hex(&file.sha1)).requests, 0);
    assert!(!partial.exists(), "the partial became the committed file");
    restarted.stop().await;
}
