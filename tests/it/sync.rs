//! Catalog sync against a fake MS-WSUSSS upstream that is a real HTTP server on loopback.

use crate::harness::{self, config, fake_with, stored_identities, synthetic, synthetic_identities};
use tempfile::tempdir;
use uuid::Uuid;
use wucache::model::{hex, UpdateType};
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet, SyncSummary};
use wucache_testkit::fake_upstream::{real_docs, FakeUpstream};

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap()
}

const DEFENDER: &str = "8c3fcc84-7410-4a95-8b89-a166a0190486";
const DEFINITION_UPDATES: &str = "e0789628-ce08-4437-be74-2495b842f43b";

#[tokio::test]
async fn real_documents_sync_with_compressed_blobs_files_and_bundle_inheritance() {
    let upstream = FakeUpstream::start(real_docs()).await.unwrap();
    let data = tempdir().unwrap();
    let mut config = config(&upstream.url(), &data);
    config.sync.products = vec![DEFENDER.into()];
    config.sync.classifications = vec!["Definition Updates".into()];
    let store = Store::open(data.path()).unwrap();

    let summary = run_sync(&store, &config, &Quiet).await.unwrap();

    assert_eq!(store.counts().updates, 9, "{summary:?}");
    let company = store
        .latest(&uuid("56309036-4c77-4dd9-951a-99ee9c246a94"))
        .unwrap()
        .unwrap();
    assert_eq!(&*company.title, "Microsoft");
    assert_eq!(company.update_type, UpdateType::Category);
    // Served as a real LZX cabinet, stored as the decoded document.
    let bundle = store
        .latest(&uuid("a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe"))
        .unwrap()
        .unwrap();
    assert_eq!(bundle.kb.as_deref(), Some("2267602"));
    assert_eq!(bundle.products[..], [uuid(DEFENDER)]);
    assert_eq!(bundle.classifications[..], [uuid(DEFINITION_UPDATES)]);
    assert!(store
        .document(bundle.local_id)
        .unwrap()
        .unwrap()
        .contains("Security Intelligence Update"));
    // A bundle member names its product only in a plain clause: it inherits the bundle's.
    let member = store
        .latest(&uuid("266f6222-c89d-43f2-9f8a-69340271e677"))
        .unwrap()
        .unwrap();
    assert_eq!(member.products[..], [uuid(DEFENDER)]);
    assert_eq!(member.classifications[..], [uuid(DEFINITION_UPDATES)]);
    let file = &member.files[0];
    assert_eq!(hex(&file.sha1), "87f5bd0469585006aa5d3a77d1c662fd2895ddcd");
    assert!(file.sha256.is_some());
    assert!(
        file.url
            .ends_with("am_delta_87f5bd0469585006aa5d3a77d1c662fd2895ddcd.exe"),
        "{}",
        file.url
    );
}

#[tokio::test]
async fn full_sync_stores_every_revision_with_its_categories() {
    let catalog = synthetic(11, 300);
    let upstream = fake_with(&catalog).await;
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();

    let summary = run_sync(&store, &config(&upstream.url(), &data), &Quiet)
        .await
        .unwrap();

    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
    assert_eq!(summary.new_revisions, catalog.docs.len());
    for doc in &catalog.docs {
        let record = store
            .get_identity(&wucache::model::UpdateIdentity {
                update_id: doc.update_id,
                revision: doc.revision,
            })
            .unwrap()
            .unwrap();
        if !doc.kind.is_config() {
            let mut products = record.products.to_vec();
            products.sort();
            let mut expected = doc.products.clone();
            expected.sort();
            assert_eq!(products, expected, "products of {}", doc.title);
            assert_eq!(
                record.classifications.len(),
                doc.classifications.len(),
                "classifications of {}",
                doc.title
            );
        }
        assert_eq!(record.files.len(), doc.files.len());
        assert_eq!(record.is_expired(), doc.expired);
    }
}

#[tokio::test]
async fn second_sync_with_nothing_new_transfers_no_documents() {
    let catalog = synthetic(12, 120);
    let upstream = fake_with(&catalog).await;
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let config = config(&upstream.url(), &data);
    run_sync(&store, &config, &Quiet).await.unwrap();
    let before = upstream.stats().documents_returned;

    let again = run_sync(&store, &config, &Quiet).await.unwrap();

    assert_eq!(again.documents_fetched, 0);
    assert_eq!(again.new_revisions, 0);
    assert_eq!(upstream.stats().documents_returned, before);
}

#[tokio::test]
async fn delta_sync_fetches_only_what_the_upstream_published_since() {
    let catalog = synthetic(13, 150);
    let (first, later) = catalog.docs.split_at(catalog.docs.len() - 20);
    let upstream = FakeUpstream::start(first.iter().map(harness::upstream_doc).collect())
        .await
        .unwrap();
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let config = config(&upstream.url(), &data);
    run_sync(&store, &config, &Quiet).await.unwrap();

    upstream.publish(later.iter().map(harness::upstream_doc).collect());
    let delta = run_sync(&store, &config, &Quiet).await.unwrap();

    assert_eq!(delta.new_revisions, later.len());
    assert_eq!(delta.documents_fetched, later.len());
    assert!(
        delta.updates_listed <= later.len(),
        "anchored delta listed {} revisions",
        delta.updates_listed
    );
    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
}

#[tokio::test]
async fn batches_never_exceed_the_upstream_limit() {
    let catalog = synthetic(14, 100);
    let upstream = fake_with(&catalog).await;
    upstream.faults().set_max_updates_per_request(7);
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();

    run_sync(&store, &config(&upstream.url(), &data), &Quiet)
        .await
        .unwrap();

    assert!(upstream.stats().max_ids_per_get_update_data <= 7);
    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
}

#[tokio::test]
async fn one_unknown_id_is_isolated_and_skipped_not_fatal() {
    let catalog = synthetic(15, 100);
    let bad = catalog.docs.iter().rev().find(|d| !d.kind.is_config()).unwrap();
    let upstream = fake_with(&catalog).await;
    upstream.faults().add_bad_id(bad.update_id);
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();

    let summary = run_sync(&store, &config(&upstream.url(), &data), &Quiet)
        .await
        .unwrap();

    let mut expected = synthetic_identities(&catalog);
    expected.remove(&(bad.update_id, bad.revision));
    assert_eq!(stored_identities(&store), expected);
    assert_eq!(
        summary.skipped_ids,
        vec![format!("{}/{}", bad.update_id, bad.revision)]
    );

    // Once the upstream can serve it, the next sync picks it up.
    upstream.faults().clear_bad_ids();
    let next = run_sync(&store, &config(&upstream.url(), &data), &Quiet)
        .await
        .unwrap();
    assert_eq!(next.new_revisions, 1);
    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
}

#[tokio::test]
async fn invalid_cookie_mid_sync_reauthorizes_and_completes() {
    let catalog = synthetic(16, 200);
    let upstream = fake_with(&catalog).await;
    upstream.faults().set_max_updates_per_request(20);
    upstream.faults().invalidate_cookies_after(6);
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();

    run_sync(&store, &config(&upstream.url(), &data), &Quiet)
        .await
        .unwrap();

    let stats = upstream.stats();
    assert!(
        stats.faults.get("InvalidCookie").copied().unwrap_or(0) >= 1,
        "{stats:?}"
    );
    assert!(
        stats.calls.get("GetCookie").copied().unwrap_or(0) >= 2,
        "{stats:?}"
    );
    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
}

#[tokio::test]
async fn server_busy_5xx_and_resets_are_retried_with_backoff() {
    let catalog = synthetic(17, 60);
    let upstream = fake_with(&catalog).await;
    upstream.faults().server_busy(2);
    upstream.faults().http_500(2);
    upstream.faults().reset(2);
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    // Six failures in a row land on the first call: it needs a seventh attempt.
    let mut config = config(&upstream.url(), &data);
    config.upstream.max_attempts = 8;

    let summary = run_sync(&store, &config, &Quiet).await.unwrap();

    assert!(summary.retries >= 6, "{summary:?}");
    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
}

#[tokio::test]
async fn an_upstream_that_stays_down_fails_the_sync_with_a_clear_error() {
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let mut config = config("http://127.0.0.1:9", &data);
    config.upstream.max_attempts = 2;

    let err = run_sync(&store, &config, &Quiet).await.unwrap_err().to_string();

    assert!(
        err.contains("GetAuthConfig") && err.contains("127.0.0.1:9"),
        "{err}"
    );
    assert!(err.contains("2 attempts"), "{err}");
}

#[tokio::test]
async fn an_unreadable_document_is_skipped_and_reported() {
    let catalog = synthetic(18, 50);
    let garbage = catalog.docs.iter().find(|d| !d.kind.is_config()).unwrap();
    let upstream = fake_with(&catalog).await;
    upstream.faults().add_garbage_blob_id(garbage.update_id);
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();

    let summary = run_sync(&store, &config(&upstream.url(), &data), &Quiet)
        .await
        .unwrap();

    assert_eq!(
        summary.unreadable,
        vec![format!("{}/{}", garbage.update_id, garbage.revision)]
    );
    assert_eq!(stored_identities(&store).len(), catalog.docs.len() - 1);
}

#[tokio::test]
async fn only_the_configured_products_and_classifications_are_mirrored() {
    let catalog = synthetic(19, 300);
    let upstream = fake_with(&catalog).await;
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let product = catalog
        .docs
        .iter()
        .find(|d| !d.kind.is_config() && !d.products.is_empty())
        .unwrap()
        .products[0];
    let mut config = config(&upstream.url(), &data);
    config.sync.products = vec![product.to_string()];
    config.sync.classifications = vec!["Security Updates".into()];

    run_sync(&store, &config, &Quiet).await.unwrap();

    let security = uuid("0fa1201d-4330-4fa8-8ae9-b877473b6441");
    let wanted: Vec<_> = catalog
        .docs
        .iter()
        .filter(|d| {
            !d.kind.is_config() && d.products.contains(&product) && d.classifications.contains(&security)
        })
        .collect();
    assert!(
        !wanted.is_empty(),
        "the generator should produce security updates of every product"
    );
    let stored = stored_identities(&store);
    for doc in &wanted {
        assert!(
            stored.contains(&(doc.update_id, doc.revision)),
            "missing {}",
            doc.title
        );
    }
    for record in store
        .latest_records()
        .unwrap()
        .iter()
        .filter(|r| !r.update_type.is_config())
    {
        assert!(
            record.products.contains(&product) && record.classifications.contains(&security),
            "{} is outside the filter",
            record.title
        );
    }
}

/// `[sync]` takes the names a baseline uses: a product family stands for every product in
/// it, an AWS classification value for its classification; an unknown name fails the sync
/// naming the closest known names.
#[tokio::test]
async fn a_product_family_and_an_aws_classification_select_what_they_name() {
    let catalog = synthetic(19, 300);
    let upstream = fake_with(&catalog).await;
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let mut config = config(&upstream.url(), &data);
    config.sync.products = vec!["Windows".into()];
    config.sync.classifications = vec!["SecurityUpdates".into()];

    run_sync(&store, &config, &Quiet).await.unwrap();

    // The testkit's own reading of the category tree: products whose parent is the family.
    let windows: std::collections::HashSet<Uuid> = catalog
        .docs
        .iter()
        .filter(|d| d.kind == wucache_testkit::synth::SynthKind::Product)
        .filter(|d| {
            let facts = wucache_testkit::facts::read_update(&d.xml).unwrap();
            facts.category_clauses == [wucache_testkit::synth::WINDOWS_FAMILY]
        })
        .map(|d| d.update_id)
        .collect();
    let security = uuid("0fa1201d-4330-4fa8-8ae9-b877473b6441");
    let wanted: std::collections::HashSet<(Uuid, u32)> = catalog
        .docs
        .iter()
        .filter(|d| !d.kind.is_config() && d.classifications.contains(&security))
        .filter(|d| d.products.iter().any(|p| windows.contains(p)))
        .map(|d| (d.update_id, d.revision))
        .collect();
    assert!(windows.len() > 1 && !wanted.is_empty(), "{windows:?}");
    let stored: std::collections::HashSet<(Uuid, u32)> = store
        .all_revisions()
        .map(Result::unwrap)
        .filter(|r| !r.update_type.is_config())
        .map(|r| (r.identity.update_id, r.identity.revision))
        .collect();
    assert_eq!(stored, wanted);

    config.sync.products = vec!["WindowsServer2022".into()];
    let err = run_sync(&store, &config, &Quiet).await.unwrap_err().to_string();
    assert!(
        err.contains("`WindowsServer2022` is neither a GUID nor the name of a known product; did you mean `Windows Server 2022`"),
        "the synthetic catalog titles it as no real WSUS does: {err}"
    );
}

#[tokio::test]
async fn local_revision_ids_are_stable_across_restarts_and_resyncs() {
    let catalog = synthetic(20, 120);
    let (first, later) = catalog.docs.split_at(catalog.docs.len() - 10);
    let upstream = FakeUpstream::start(first.iter().map(harness::upstream_doc).collect())
        .await
        .unwrap();
    let data = tempdir().unwrap();
    let config = config(&upstream.url(), &data);
    let before: Vec<(Uuid, u32, i32)> = {
        let store = Store::open(data.path()).unwrap();
        run_sync(&store, &config, &Quiet).await.unwrap();
        store
            .all_revisions()
            .map(|r| r.unwrap())
            .map(|r| (r.identity.update_id, r.identity.revision, r.local_id))
            .collect()
    };

    let store = Store::open(data.path()).unwrap();
    upstream.publish(later.iter().map(harness::upstream_doc).collect());
    run_sync(&store, &config, &Quiet).await.unwrap();

    let highest_before = before.iter().map(|(_, _, id)| *id).max().unwrap();
    for (update_id, revision, local_id) in &before {
        let record = store
            .get_identity(&wucache::model::UpdateIdentity {
                update_id: *update_id,
                revision: *revision,
            })
            .unwrap()
            .unwrap();
        assert_eq!(record.local_id, *local_id);
    }
    let new_ids: Vec<i32> = store
        .all_revisions()
        .map(|r| r.unwrap().local_id)
        .filter(|id| *id > highest_before)
        .collect();
    assert_eq!(new_ids.len(), later.len());
}

/// Each sync's summary lists what it brought — new updates, later revisions, expirations,
/// with KB and title — and `/api/v1/syncs` keeps them newest first. Expectations come from
/// the synthetic catalog.
#[tokio::test]
async fn the_sync_history_says_what_each_run_brought() {
    use std::collections::HashSet;
    let catalog = synthetic(16, 150);
    let (first, later) = catalog.docs.split_at(catalog.docs.len() - 30);
    let upstream = FakeUpstream::start(first.iter().map(harness::upstream_doc).collect())
        .await
        .unwrap();
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let config = config(&upstream.url(), &data);
    run_sync(&store, &config, &Quiet).await.unwrap();
    upstream.publish(later.iter().map(harness::upstream_doc).collect());
    let second = run_sync(&store, &config, &Quiet).await.unwrap();

    let updates = |docs: &[wucache_testkit::synth::SynthDoc]| -> Vec<wucache_testkit::synth::SynthDoc> {
        docs.iter().filter(|d| !d.kind.is_config()).cloned().collect()
    };
    let mut seen: HashSet<_> = updates(first).iter().map(|d| d.update_id).collect();
    let (mut new, mut revised, mut expired) = (0, 0, 0);
    for doc in updates(later) {
        let known = !seen.insert(doc.update_id);
        match (doc.expired, known) {
            (true, _) => expired += 1,
            (false, true) => revised += 1,
            (false, false) => new += 1,
        }
    }
    assert!(
        new > 0 && revised > 0 && expired > 0,
        "the catalog's tail brings all three kinds: {new} new, {revised} revised, {expired} expired"
    );
    assert_eq!(
        (second.new_updates, second.revised_updates, second.expired_updates),
        (new, revised, expired)
    );
    assert_eq!(second.changes.len(), new + revised + expired);
    for change in &second.changes {
        let doc = later
            .iter()
            .find(|d| d.update_id == change.update_id && d.revision == change.revision)
            .expect("every change is a revision of this run");
        assert_eq!(change.title, doc.title);
        assert_eq!(
            change.kb.as_deref().map(|k| k.trim_start_matches("KB")),
            doc.kb.as_deref().map(|k| k.trim_start_matches("KB"))
        );
    }

    let history: Vec<SyncSummary> = store
        .syncs()
        .unwrap()
        .iter()
        .map(|json| serde_json::from_str(json).unwrap())
        .collect();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0], second, "newest first");
    assert_eq!(
        history[1].new_updates + history[1].revised_updates + history[1].expired_updates,
        updates(first).len()
    );
}
