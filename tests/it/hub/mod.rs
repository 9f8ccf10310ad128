//! wucache as an upstream (MS-WSUSSS server): three processes' worth on loopback — the test
//! kit's fake Microsoft Update → a hub wucache → a spoke wucache syncing from the hub over
//! HTTP — and a simulated Windows client scanning and downloading from the spoke. What the
//! spoke must hold and offer comes from the synthetic catalog's ground truth; payload
//! transfers are counted where they arrive (the fake's per-file counters, the hub's metrics).

mod replay;

use crate::client::WindowsClient;
use crate::content::{get, upstream_with_payloads};
use crate::harness::{config, eventually};
use sha1::Digest as _;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;
use tempfile::TempDir;
use uuid::Uuid;
use wucache::config::Config;
use wucache::daemon::Daemon;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};
use wucache_testkit::synth::{SynthCatalog, SynthDoc};

/// A hub synced from `upstream_url` and serving, with `tune` applied to its config.
pub(crate) async fn start_hub(upstream_url: &str, tune: impl FnOnce(&mut Config)) -> (Daemon, TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut config = config(upstream_url, &data);
    config.server.max_connections_per_ip = 4096;
    tune(&mut config);
    {
        let store = Store::open(data.path()).unwrap();
        run_sync(&store, &config, &Quiet).await.expect("the hub syncs");
    }
    (crate::client::start(config).await, data)
}

/// A spoke's config: its upstream is the hub's client listener.
fn spoke_config(hub: &Daemon, data: &TempDir) -> Config {
    let mut config = config(&format!("http://{}", hub.client_addr), data);
    config.server.max_connections_per_ip = 4096;
    config
}

/// The newest revision of every update the catalog holds.
fn newest(catalog: &SynthCatalog) -> BTreeMap<Uuid, &SynthDoc> {
    let mut newest: BTreeMap<Uuid, &SynthDoc> = BTreeMap::new();
    for doc in &catalog.docs {
        let entry = newest.entry(doc.update_id).or_insert(doc);
        if doc.revision > entry.revision {
            *entry = doc;
        }
    }
    newest
}

fn stored(store: &Store) -> BTreeSet<(Uuid, u32)> {
    crate::harness::stored_identities(store).into_iter().collect()
}

/// A metric's value summed over its label sets (0 when absent).
fn metric_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with(name) && l[name.len()..].starts_with(['{', ' '])
                || name.ends_with('}') && l.starts_with(name)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_mirrors_the_hub_and_its_clients_download_every_byte_once_through_both() {
    let (upstream, catalog) = upstream_with_payloads(1101, 120, 48 << 10).await;
    // The hub's own baseline approves nothing: what its downstream asks for is served anyway.
    let (hub, hub_data) = start_hub(&upstream.url(), |config| {
        let file = std::path::Path::new(&config.storage.data_dir).join("baselines.toml");
        std::fs::write(&file, crate::client::baseline_toml(&BTreeSet::new(), false)).unwrap();
        config.baselines.file = file.display().to_string();
    })
    .await;
    // Before it authorized as a downstream server, this address gets no unapproved payload.
    let file = catalog.files().next().unwrap();
    let reply = get(hub.client_addr, &crate::content::content_path(file), None).await;
    assert_eq!(reply.status, 404);
    let spoke_data = tempfile::tempdir().unwrap();
    let spoke_config = spoke_config(&hub, &spoke_data);
    {
        let store = Store::open(spoke_data.path()).unwrap();
        run_sync(&store, &spoke_config, &Quiet)
            .await
            .expect("the spoke syncs from the hub");
        // The spoke holds the newest revision of every update of the catalog (it asked for
        // every product and classification), nothing else.
        let expected: BTreeSet<(Uuid, u32)> = newest(&catalog)
            .values()
            .map(|d| (d.update_id, d.revision))
            .collect();
        assert_eq!(stored(&store), expected);
        // The hub holds more: every revision the fake listed.
        let hub_store_has_older = catalog.docs.len() > expected.len();
        assert!(hub_store_has_older, "the catalog has older revisions");
    }
    let spoke = crate::client::start(spoke_config).await;

    let mut client = WindowsClient::new(spoke.client_addr);
    client.handshake().await;
    let result = client.scan().await;
    let top_level: BTreeSet<Uuid> = {
        let members: HashSet<Uuid> = catalog.docs.iter().flat_map(|d| d.bundled.clone()).collect();
        let newest = newest(&catalog);
        let live: Vec<&&SynthDoc> = newest
            .values()
            .filter(|d| !d.expired && !members.contains(&d.update_id))
            .filter(|d| {
                matches!(
                    d.kind,
                    wucache_testkit::synth::SynthKind::Software | wucache_testkit::synth::SynthKind::Bundle
                )
            })
            .collect();
        // Without baselines, what an unexpired update supersedes is not offered.
        let superseded: HashSet<Uuid> = live.iter().flat_map(|d| d.superseded.clone()).collect();
        live.into_iter()
            .map(|d| d.update_id)
            .filter(|id| !superseded.contains(id))
            .collect()
    };
    assert_eq!(
        result.offered(),
        top_level,
        "the spoke offers what a hub without baselines would"
    );

    // Every file located by the spoke downloads from the spoke with the catalog's digests.
    let files: BTreeMap<Vec<u8>, &wucache_testkit::synth::SynthFile> =
        catalog.files().map(|f| (f.sha1.to_vec(), f)).collect();
    let mut downloaded = 0;
    for location in &result.file_locations {
        let file = files[&location.digest];
        let path = location.url.split_once(&spoke.client_addr.to_string()).unwrap().1;
        let reply = get(spoke.client_addr, path, None).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(sha1::Sha1::digest(&reply.body).as_slice(), file.sha1);
        assert_eq!(sha2::Sha256::digest(&reply.body).as_slice(), file.sha256);
        downloaded += 1;
    }
    assert!(downloaded > 10, "{downloaded} files");
    // Each crossed from the fake to the hub once, and from the hub to the spoke once.
    let stats = upstream.stats();
    for location in &result.file_locations {
        let hex = wucache_testkit::synth::hex(&location.digest);
        assert_eq!(stats.file(&hex).transfers, 1, "fake → hub transfers of {hex}");
    }
    let (_, hub_metrics) = crate::harness::http("GET", hub.admin_addr, "/metrics", None).await;
    let served = metric_sum(&hub_metrics, "wucache_content_requests_total{result=\"hit\"}")
        + metric_sum(&hub_metrics, "wucache_content_requests_total{result=\"miss\"}");
    assert_eq!(served, downloaded as f64, "hub → spoke transfers\n{hub_metrics}");
    assert!(
        hub_metrics.contains("operation=\"ServerSync.GetUpdateData\",outcome=\"ok\""),
        "the hub counts its downstream's calls"
    );
    spoke.stop().await;
    hub.stop().await;
    drop(hub_data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_asking_for_one_product_gets_that_product_and_every_category() {
    let catalog = crate::harness::synthetic(1102, 200);
    let upstream = crate::harness::fake_with(&catalog).await;
    let (hub, _hub_data) = start_hub(&upstream.url(), |_| {}).await;
    let product = newest(&catalog)
        .values()
        .flat_map(|d| d.products.clone())
        .next()
        .expect("a product");
    let spoke_data = tempfile::tempdir().unwrap();
    let mut spoke = spoke_config(&hub, &spoke_data);
    spoke.sync.products = vec![product.to_string()];
    let store = Store::open(spoke_data.path()).unwrap();
    run_sync(&store, &spoke, &Quiet).await.unwrap();

    let newest = newest(&catalog);
    let mut expected: BTreeSet<Uuid> = newest
        .values()
        .filter(|d| is_config(d) || d.products.contains(&product))
        .map(|d| d.update_id)
        .collect();
    // Members of the product's bundles come along.
    let members: Vec<Uuid> = expected
        .iter()
        .flat_map(|id| newest[id].bundled.clone())
        .collect();
    expected.extend(members);
    let held: BTreeSet<Uuid> = stored(&store).into_iter().map(|(id, _)| id).collect();
    assert_eq!(held, expected);
    hub.stop().await;
}

fn is_config(doc: &SynthDoc) -> bool {
    use wucache_testkit::synth::SynthKind;
    !matches!(doc.kind, SynthKind::Software | SynthKind::Bundle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_servers_outside_the_ranges_or_without_the_secret_are_refused() {
    let catalog = crate::harness::synthetic(1103, 30);
    let upstream = crate::harness::fake_with(&catalog).await;
    let secret = "k7f3q9k7f3q9k7f3";
    let (hub, _hub_data) = start_hub(&upstream.url(), |config| {
        config.downstream.secret = secret.into();
    })
    .await;
    let spoke_data = tempfile::tempdir().unwrap();
    let mut spoke = spoke_config(&hub, &spoke_data);
    let store = Store::open(spoke_data.path()).unwrap();

    let err = run_sync(&store, &spoke, &Quiet).await.unwrap_err().to_string();
    assert!(
        err.contains("InvalidParameters") && err.contains("accountName"),
        "{err}"
    );
    assert_eq!(store.counts().updates, 0);

    spoke.upstream.account_name = format!("spoke-1.{secret}.corp.example");
    run_sync(&store, &spoke, &Quiet)
        .await
        .expect("the secret opens the door");
    assert!(store.counts().updates > 0);
    hub.stop().await;

    let (hub, _hub_data) = start_hub(&upstream.url(), |config| {
        config.downstream.allow = vec!["10.0.0.0/8".into()];
    })
    .await;
    let other = tempfile::tempdir().unwrap();
    let store = Store::open(other.path()).unwrap();
    let err = run_sync(&store, &spoke_config(&hub, &other), &Quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("accountName"), "{err}");
    hub.stop().await;

    let (hub, _hub_data) = start_hub(&upstream.url(), |config| {
        config.downstream.enabled = false;
    })
    .await;
    let (status, _) = crate::harness::http(
        "POST",
        hub.client_addr,
        "/ServerSyncWebService/ServerSyncWebService.asmx",
        None,
    )
    .await;
    assert_eq!(status, 404, "switched off, the services are not there");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_sync_survives_a_hub_restart() {
    let catalog = crate::harness::synthetic(1104, 1_500);
    let upstream = crate::harness::fake_with(&catalog).await;
    let (hub, hub_data) = start_hub(&upstream.url(), |_| {}).await;
    let hub_addr = hub.client_addr;
    let spoke_data = tempfile::tempdir().unwrap();
    let mut spoke = spoke_config(&hub, &spoke_data);
    spoke.upstream.initial_backoff = Duration::from_millis(200);
    spoke.upstream.max_backoff = Duration::from_secs(2);
    spoke.upstream.max_attempts = 60;
    let store = Store::open(spoke_data.path()).unwrap();
    let syncing = {
        let store = store.clone();
        tokio::spawn(async move { run_sync(&store, &spoke, &Quiet).await })
    };
    // Once the spoke has stored its first updates, the hub goes away and comes back.
    let watched = store.clone();
    assert!(
        eventually(|| {
            let store = watched.clone();
            async move { store.counts().updates > 300 }
        })
        .await,
        "the spoke starts storing"
    );
    let mut hub_config = hub.app.config.clone();
    hub.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    hub_config.server.http_listen = hub_addr;
    let hub = crate::client::start(hub_config).await;

    let summary = syncing.await.unwrap().expect("the spoke's sync completes");
    let expected: BTreeSet<(Uuid, u32)> = newest(&catalog)
        .values()
        .map(|d| (d.update_id, d.revision))
        .collect();
    assert_eq!(stored(&store), expected, "{summary:?}");
    hub.stop().await;
    drop(hub_data);
}

/// KBs of `count` top-level, unexpired updates of the catalog (ground truth).
fn some_kbs(catalog: &SynthCatalog, skip: usize, count: usize) -> BTreeSet<String> {
    newest(catalog)
        .values()
        .filter(|d| !d.expired && !is_config(d))
        .filter_map(|d| d.kb.clone())
        .skip(skip)
        .take(count)
        .collect()
}

/// What a fresh client of `daemon` is offered, by KB.
async fn offered_kbs(daemon: &Daemon, catalog: &SynthCatalog) -> BTreeSet<String> {
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let offered = client.scan().await.offered();
    let newest = newest(catalog);
    offered
        .iter()
        .map(|id| newest[id].kb.clone().unwrap_or_else(|| format!("no KB: {id}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_follows_the_hubs_baselines_and_their_changes() {
    let catalog = crate::harness::synthetic(1105, 300);
    let upstream = crate::harness::fake_with(&catalog).await;
    let first = some_kbs(&catalog, 0, 4);
    let (hub, hub_data) = start_hub(&upstream.url(), |config| {
        let file = config.storage.data_dir.join("baselines.toml");
        std::fs::write(&file, crate::client::baseline_toml(&first, false)).unwrap();
        config.baselines.file = file.display().to_string();
    })
    .await;
    let spoke_data = tempfile::tempdir().unwrap();
    let mut spoke_config = spoke_config(&hub, &spoke_data);
    spoke_config.upstream.replica = true;
    // Its own baseline file would approve everything; a replica ignores it.
    spoke_config.baselines.file = "/nonexistent/approve-all.toml".into();
    {
        let store = Store::open(spoke_data.path()).unwrap();
        run_sync(&store, &spoke_config, &Quiet).await.unwrap();
    }
    // Until the hub's baselines are adopted, a replica offers nothing.
    let spoke = crate::client::start(spoke_config.clone()).await;
    assert!(offered_kbs(&spoke, &catalog).await.is_empty());
    spoke.stop().await;
    assert!(wucache::app::adopt_replica_baselines(&spoke_config).unwrap());
    let spoke = crate::client::start(spoke_config).await;
    let offered = offered_kbs(&spoke, &catalog).await;
    // Superseded updates among the four may not be offered; what is offered is theirs, and
    // the same as on the hub.
    assert!(
        !offered.is_empty() && offered.is_subset(&first),
        "{offered:?} ⊄ {first:?}"
    );
    assert_eq!(offered, offered_kbs(&hub, &catalog).await);

    // The hub's file changes; the replica's next sync brings the change.
    let second = some_kbs(&catalog, 10, 4);
    let file = hub_data.path().join("baselines.toml");
    crate::client::reload(&hub, &file, &crate::client::baseline_toml(&second, false)).await;
    let token = spoke.app.admin_token();
    let (status, _) = crate::harness::http("POST", spoke.admin_addr, "/api/v1/sync", Some(&token)).await;
    assert!(status == 200 || status == 202, "{status}");
    let app = spoke.app.clone();
    let identity = |app: &wucache::app::App| app.baselines().map(|b| std::sync::Arc::as_ptr(&b) as usize);
    let previous = identity(&app);
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { identity(&app) != previous && !app.sync.is_running() }
        })
        .await,
        "the replica adopts the changed baselines"
    );
    let offered = offered_kbs(&spoke, &catalog).await;
    assert!(
        !offered.is_empty() && offered.is_subset(&second),
        "{offered:?} ⊄ {second:?}"
    );
    assert_eq!(offered, offered_kbs(&hub, &catalog).await);
    spoke.stop().await;
    hub.stop().await;
}
