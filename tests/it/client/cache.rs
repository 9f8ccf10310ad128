//! The cache-side calls of a client that has scanned: RefreshCache, GetFileLocations and
//! StartCategoryScan answer as WSUS does, and an xpress-compressed answer decodes (with the test
//! kit's own decoder) to exactly the uncompressed one.

use super::agent::WindowsClient;
use super::serve_synthetic;
use super::truth::{everything_current, Truth};
use uuid::Uuid;
use wucache_testkit::synth::{hex, SynthKind};
use wucache_testkit::wua::{answers, request, Action, SyncParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_cache_file_locations_and_category_scan_answer_as_wsus() {
    let (daemon, catalog, _data) = serve_synthetic(66, 80).await;
    let truth = Truth::new(&catalog);
    let expected = truth.scope(everything_current(&truth));
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let result = client.scan().await;

    // RefreshCache: every cached identity that is deployed maps to its revision id, with its
    // deployment, except bundle members (WSUS leaves those out; the client re-fetches them).
    let identities: Vec<(Uuid, u32)> = result.seen.values().map(|s| (s.update_id, s.revision)).collect();
    let built = request::refresh_cache(client.cookie.as_ref(), &identities);
    let refreshed = answers::read_refresh_cache(&client.call(&built).await.unwrap()).unwrap();
    let members = expected.values().filter(|a| **a == Action::Bundle).count();
    assert!(members > 0);
    assert_eq!(refreshed.len(), identities.len() - members);
    for entry in &refreshed {
        let seen = &result.seen[&entry.revision_id];
        assert_eq!((seen.update_id, seen.revision), (entry.update_id, entry.revision));
        assert_eq!(entry.is_leaf, seen.is_leaf);
        let action = entry.deployment.as_ref().map(|d| d.action);
        assert_eq!(action, Some(expected[&entry.update_id]), "{}", entry.update_id);
    }

    // GetFileLocations: known digests get WSUS-style URLs, unknown ones are left out, a
    // digest that is not 20 bytes is InvalidParameters.
    let file = catalog.files().next().unwrap();
    let built = request::get_file_locations(client.cookie.as_ref(), &[file.sha1.to_vec(), vec![7; 20]]);
    let found = answers::read_file_locations(&client.call(&built).await.unwrap()).unwrap();
    assert_eq!(found.locations.len(), 1);
    assert_eq!(found.locations[0].digest, file.sha1);
    let upper = hex(&file.sha1).to_uppercase();
    let extension = file.name.rsplit('.').next().unwrap().to_lowercase();
    let tail = format!("/Content/{}/{upper}.{extension}", &upper[38..]);
    assert!(
        found.locations[0].url.ends_with(&tail),
        "{}",
        found.locations[0].url
    );
    assert!(found.new_cookie.is_some());
    let short = request::get_file_locations(client.cookie.as_ref(), &[vec![1; 19]]);
    assert_eq!(client.call(&short).await.unwrap_err(), "InvalidParameters");

    // StartCategoryScan: a product is preferred, an unknown category is in error.
    let product = catalog
        .docs
        .iter()
        .find(|d| d.kind == SynthKind::Product)
        .unwrap()
        .update_id;
    let unknown = Uuid::from_u128(42);
    let built = request::start_category_scan(&[(0, product), (1, unknown)]);
    let answer = answers::read_category_scan(&client.call(&built).await.unwrap()).unwrap();
    assert_eq!(answer.preferred, vec![product]);
    assert_eq!(answer.in_error, vec![unknown]);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpress_answers_decode_to_the_plain_answers() {
    let (daemon, _catalog, _data) = serve_synthetic(67, 300).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let result = client.scan().await;
    let leaves: Vec<i32> = result
        .seen
        .iter()
        .filter(|(_, s)| s.is_leaf)
        .map(|(id, _)| *id)
        .collect();
    let built = request::get_extended_update_info(
        client.cookie.as_ref(),
        &leaves[..leaves.len().min(50)],
        &["Extended", "LocalizedProperties"],
        &["en"],
    );

    let packed = client.exchange(&built, true).await;
    let plain = client.exchange(&built, false).await;

    assert!(packed.xpress && !plain.xpress);
    assert!(
        plain.body.len() > 65_535,
        "the answer spans several xpress blocks"
    );
    assert_eq!(packed.body, plain.body);
    let config = request::get_config(request::PROTOCOL_VERSION);
    let (packed, plain) = (
        client.exchange(&config, true).await,
        client.exchange(&config, false).await,
    );
    assert_eq!((packed.xpress, &packed.body), (true, &plain.body));
    daemon.stop().await;
}

/// The answer without its `NewCookie` element (the one part that differs between clients).
fn without_cookie(body: &str) -> String {
    let start = body.find("<NewCookie>").expect("a NewCookie");
    let end = body.find("</NewCookie>").expect("its end") + "</NewCookie>".len();
    format!("{}{}", &body[..start], &body[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_is_sent_the_kept_answers_with_a_cookie_of_its_own() {
    let (daemon, _catalog, _data) = serve_synthetic(68, 300).await;
    let mut first = WindowsClient::new(daemon.client_addr);
    first.handshake().await;
    let scanned = first.scan().await;
    let mut second = WindowsClient::new(daemon.client_addr);
    second.handshake().await;
    // The second client's first call is the first client's: its xpress answer is the kept one.
    let params = SyncParams {
        need_two_group_out_of_scope: true,
        ..SyncParams::default()
    };
    let call = request::sync_updates(second.cookie.as_ref(), &params);
    let kept = second.exchange(&call, true).await;
    let built = second.exchange(&call, false).await;
    assert!(kept.xpress && !built.xpress);
    assert_eq!(without_cookie(&kept.body), without_cookie(&built.body));
    let cookie = |body: &str| {
        let start = body.find("<EncryptedData>").unwrap();
        body[start..body[start..].find("</EncryptedData>").unwrap() + start].to_string()
    };
    assert_ne!(
        cookie(&kept.body),
        cookie(&built.body),
        "each answer seals its own cookie"
    );
    // The rest of its scan, on kept answers, ends with what the first client got.
    let rescanned = second.scan().await;
    let ids = |result: &super::agent::ScanResult| result.seen.keys().copied().collect::<Vec<i32>>();
    assert_eq!(ids(&rescanned), ids(&scanned));
    assert!(!rescanned.seen.is_empty());
    daemon.stop().await;
}
