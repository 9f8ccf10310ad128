//! The payload cache end to end: a fake upstream serving payloads (with injectable faults),
//! wucache in front of it, clients downloading through `/Content/...`.

use crate::harness::{config, eventually, http};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use tempfile::TempDir;
use wucache::config::Config;
use wucache::daemon::Daemon;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};
use wucache_testkit::synth::{self, SynthCatalog, SynthFile, SynthOptions};

/// A fake upstream whose MUUrls point at itself, serving the catalog's payloads.
pub async fn upstream_with_payloads(
    seed: u64,
    updates: usize,
    max_file_size: u64,
) -> (FakeUpstream, SynthCatalog) {
    let upstream = FakeUpstream::start(Vec::new()).await.unwrap();
    let options = SynthOptions {
        seed,
        updates,
        max_file_size,
        content_base_url: upstream.url(),
        ..SynthOptions::default()
    };
    let catalog = synth::generate(&options);
    upstream.publish(catalog.docs.iter().map(UpstreamDoc::from_synth).collect());
    upstream.serve_files(catalog.files());
    (upstream, catalog)
}

/// Syncs into a fresh data dir and starts the daemon; waits for the cache to open.
pub async fn serve(upstream: &FakeUpstream, tune: impl FnOnce(&mut Config)) -> (Daemon, TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut config = config(&upstream.url(), &data);
    config.content.attempts = 4;
    tune(&mut config);
    {
        let store = Store::open(data.path()).unwrap();
        run_sync(&store, &config, &Quiet).await.unwrap();
    }
    let daemon = Daemon::start(config).await.unwrap();
    let app = daemon.app.clone();
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { app.content.get().is_some() }
        })
        .await
    );
    (daemon, data)
}

/// Files of approved updates (all non-expired top-level updates and their members).
fn approved_files(daemon: &Daemon, catalog: &SynthCatalog) -> Vec<SynthFile> {
    let snapshot = daemon.app.snapshot();
    catalog
        .files()
        .filter(|f| snapshot.payload(&f.sha1).is_some_and(|(_, ok)| ok))
        .cloned()
        .collect()
}

pub fn content_path(file: &SynthFile) -> String {
    let hex = wucache::model::hex(&file.sha1).to_uppercase();
    let ext = file.name.rsplit('.').next().unwrap().to_lowercase();
    format!("/Content/{}/{hex}.{ext}", &hex[38..])
}

/// GET with optional Range; returns (status, headers text, body bytes).
pub async fn get(addr: SocketAddr, path: &str, range: Option<&str>) -> (u16, String, Vec<u8>) {
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let mut request = hyper::Request::get(format!("http://{addr}{path}"));
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    let response = client
        .request(
            request
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = format!("{:?}", response.headers());
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_fetched_once_verified_and_then_served_from_the_cache() {
    let (upstream, catalog) = upstream_with_payloads(70, 40, 200_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = approved_files(&daemon, &catalog)
        .into_iter()
        .max_by_key(|f| f.size)
        .unwrap();

    let (status, headers, body) = get(daemon.client_addr, &content_path(&file), None).await;
    assert_eq!(status, 200, "{headers}");
    assert_eq!(body, synth::payload(&file));
    let (status, _, again) = get(daemon.client_addr, &content_path(&file), Some("bytes=10-19")).await;
    assert_eq!(status, 206);
    assert_eq!(again, synth::payload(&file)[10..20]);

    let hex = wucache::model::hex(&file.sha1);
    assert_eq!(
        upstream.stats().file(&hex).transfers,
        1,
        "the second request is a hit"
    );
    let counters = &daemon.app.counters;
    assert_eq!(counters.misses.load(Ordering::Relaxed), 1);
    assert_eq!(counters.hits.load(Ordering::Relaxed), 1);
    assert_eq!(counters.upstream_bytes.load(Ordering::Relaxed), file.size);
    let (status, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("wucache_content_requests_total{result=\"hit\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "wucache_upstream_bytes_total{{kind=\"content\"}} {}",
            file.size
        )),
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
    let file = approved_files(&daemon, &catalog)
        .into_iter()
        .max_by_key(|f| f.size)
        .unwrap();
    let expected = synth::payload(&file);

    let mut clients = tokio::task::JoinSet::new();
    for i in 0..50u64 {
        let (addr, path) = (daemon.client_addr, content_path(&file));
        let size = file.size;
        clients.spawn(async move {
            // Half ask for the whole file, half for a Delivery-Optimization-style range.
            let start = (i * 4093) % size;
            let range = (i % 2 == 1).then(|| format!("bytes={start}-{}", (start + 65_535).min(size - 1)));
            let (status, _, body) = get(addr, &path, range.as_deref()).await;
            (status, range.map(|_| start), body)
        });
    }
    while let Some(result) = clients.join_next().await {
        let (status, start, body) = result.unwrap();
        match start {
            None => assert_eq!((status, body.as_slice()), (200, expected.as_slice())),
            Some(start) => assert_eq!(
                (status, body.as_slice()),
                (206, &expected[start as usize..start as usize + body.len()])
            ),
        }
    }

    assert_eq!(
        upstream.stats().file(&wucache::model::hex(&file.sha1)).transfers,
        1
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_upstream_byte_is_never_committed_or_served() {
    let (upstream, catalog) = upstream_with_payloads(72, 20, 100_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = approved_files(&daemon, &catalog)
        .into_iter()
        .max_by_key(|f| f.size)
        .unwrap();
    upstream.faults().content_flip_byte(file.sha1, file.size / 2);

    let (status, _, body) = get(daemon.client_addr, &content_path(&file), None).await;

    assert_eq!(status, 502);
    assert!(body.len() < 100, "no payload bytes are sent");
    let cache = daemon.app.content.get().unwrap();
    assert!(cache.committed(&file.sha1).is_none());
    assert_eq!(daemon.app.counters.digest_mismatches.load(Ordering::Relaxed), 1);
    // Once the upstream is healthy the next request fetches it again, correctly.
    upstream.faults().content_clear();
    let (status, _, body) = get(daemon.client_addr, &content_path(&file), None).await;
    assert_eq!(status, 200);
    assert_eq!(body, synth::payload(&file));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_transfer_resumes_with_a_range_and_5xx_is_retried() {
    let (upstream, catalog) = upstream_with_payloads(73, 20, 300_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = approved_files(&daemon, &catalog)
        .into_iter()
        .max_by_key(|f| f.size)
        .unwrap();
    assert!(file.size > 1_000, "a file worth cutting");
    upstream.faults().content_status(1, 503);
    upstream.faults().content_reset_after(1, file.size / 2);

    let (status, _, body) = get(daemon.client_addr, &content_path(&file), None).await;

    assert_eq!(status, 200);
    assert_eq!(body, synth::payload(&file));
    let ranges = upstream.stats().file(&wucache::model::hex(&file.sha1)).ranges;
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
    let file = approved_files(&daemon, &catalog).into_iter().next().unwrap();
    let good = content_path(&file);
    let hex = wucache::model::hex(&file.sha1).to_uppercase();
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
    assert_eq!(get(daemon.client_addr, &good.to_lowercase(), None).await.0, 200);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_of_unapproved_updates_are_404_unless_configured() {
    let (upstream, catalog) = upstream_with_payloads(75, 40, 10_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    // Expired updates are excluded: their files belong to no approved update.
    let snapshot = daemon.app.snapshot();
    let Some(file) = catalog
        .files()
        .find(|f| snapshot.payload(&f.sha1).is_some_and(|(_, ok)| !ok))
        .cloned()
    else {
        daemon.stop().await;
        panic!("the generator should produce expired updates with files");
    };
    assert_eq!(get(daemon.client_addr, &content_path(&file), None).await.0, 404);
    daemon.stop().await;

    let (open, _data) = serve(&upstream, |c| c.content.serve_unapproved = true).await;
    assert_eq!(get(open.client_addr, &content_path(&file), None).await.0, 200);
    open.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_stays_within_max_size_by_evicting_the_least_recently_used() {
    let (upstream, catalog) = upstream_with_payloads(76, 40, 50_000).await;
    let probe = tempfile::tempdir().unwrap();
    let probe_config = config(&upstream.url(), &probe);
    let files: Vec<SynthFile> = {
        let store = Store::open(probe.path()).unwrap();
        run_sync(&store, &probe_config, &Quiet).await.unwrap();
        let snapshot = wucache::snapshot::Snapshot::build(&store, 0).unwrap();
        catalog
            .files()
            .filter(|f| snapshot.payload(&f.sha1).is_some_and(|(_, ok)| ok))
            .take(12)
            .cloned()
            .collect()
    };
    let max_size = files.iter().map(|f| f.size).sum::<u64>() / 3;
    let (daemon, _data) = serve(&upstream, |c| c.content.max_size = max_size).await;

    for file in &files {
        let (status, headers, body) = get(daemon.client_addr, &content_path(file), None).await;
        assert_eq!(status, 200, "{headers}");
        assert_eq!(body.len() as u64, file.size);
    }

    let counters = &daemon.app.counters;
    assert!(counters.cache_bytes.load(Ordering::Relaxed) <= max_size);
    assert!(counters.evictions.load(Ordering::Relaxed) > 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_downloads_every_approved_payload_within_the_rate_and_skips_cached_ones() {
    let (upstream, catalog) = upstream_with_payloads(77, 30, 20_000).await;
    let (daemon, _data) = serve(&upstream, |c| {
        c.content.mode = wucache::config::ContentMode::Prefetch
    })
    .await;
    let files = approved_files(&daemon, &catalog);
    let app = daemon.app.clone();
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { app.prefetch.last().is_some() }
        })
        .await
    );

    let summary = daemon.app.prefetch.last().unwrap();
    assert_eq!(summary.files, files.len());
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    let cache = daemon.app.content.get().unwrap();
    for file in &files {
        assert!(cache.committed(&file.sha1).is_some());
    }
    // A second run finds everything cached.
    daemon.app.prefetch.request();
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { app.prefetch.last().is_some_and(|s| s.already_cached == s.files) }
        })
        .await
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_serve_while_downloading_a_range_is_answered_before_the_file_completes() {
    let (upstream, catalog) = upstream_with_payloads(78, 20, 2_000_000).await;
    let (daemon, _data) = serve(&upstream, |c| c.content.serve_while_downloading = true).await;
    let file = approved_files(&daemon, &catalog)
        .into_iter()
        .max_by_key(|f| f.size)
        .unwrap();
    assert!(file.size > 200_000, "a file worth streaming");
    upstream.faults().content_rate(file.size / 2);

    let (status, _, body) = get(daemon.client_addr, &content_path(&file), Some("bytes=0-65535")).await;

    assert_eq!(status, 206);
    assert_eq!(body, synth::payload(&file)[..65_536]);
    assert_eq!(
        daemon.app.counters.in_flight.load(Ordering::Relaxed),
        1,
        "answered while the transfer still runs"
    );
    upstream.faults().content_clear();
    let (status, _, whole) = get(daemon.client_addr, &content_path(&file), None).await;
    assert_eq!(status, 200);
    assert_eq!(whole, synth::payload(&file));
    assert_eq!(
        upstream.stats().file(&wucache::model::hex(&file.sha1)).transfers,
        1
    );
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
    let snapshot = daemon.app.snapshot();
    let unapproved = catalog
        .files()
        .find(|f| snapshot.payload(&f.sha1).is_some_and(|(_, ok)| !ok))
        .cloned()
        .unwrap();
    let approved = approved_files(&daemon, &catalog).into_iter().next().unwrap();
    for file in [&unapproved, &approved] {
        assert_eq!(get(daemon.client_addr, &content_path(file), None).await.0, 200);
    }
    let cache = daemon.app.content.get().unwrap();
    assert!(cache.committed(&unapproved.sha1).is_some());

    wucache::app::remove_unreferenced(&daemon.app, cache);

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
    let file = approved_files(&daemon, &catalog)
        .into_iter()
        .max_by_key(|f| f.size)
        .unwrap();
    let hex = wucache::model::hex(&file.sha1);
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
    let (status, _, body) = get(restarted.client_addr, &content_path(&file), None).await;
    assert_eq!(status, 200);
    assert_eq!(body, synth::payload(&file));
    let ranges = upstream.stats().file(&hex).ranges;
    assert!(
        ranges.iter().flatten().any(|r| r != "bytes=0-"),
        "resumed: {ranges:?}"
    );
    restarted.stop().await;
}
