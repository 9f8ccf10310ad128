//! Full scans without baselines: the client is sent exactly the catalog's scope, each update with
//! the deployment the ground truth gives it, the newest revision, the right `IsLeaf`, in pages of
//! at most 200, xpress-compressed; its leaves' files get WSUS-style locations; its report is
//! taken. A second scan with the same cookie finds nothing new.

use super::agent::{WindowsClient, PAGE_SIZE};
use super::serve_synthetic;
use super::truth::{assert_actions, everything_current, Truth};
use base64::Engine as _;
use std::collections::{BTreeMap, BTreeSet};
use wucache_testkit::synth::SynthKind;
use wucache_testkit::wua::Action;
use wucache_testkit::xml::Element;

/// Base64 SHA-256 digests named by `AdditionalDigest Algorithm="SHA256"` in Extended fragments.
fn sha256_digests(fragments: &[wucache_testkit::wua::UpdateData]) -> BTreeSet<String> {
    fn walk(element: &Element, out: &mut BTreeSet<String>) {
        if element.name == "AdditionalDigest" && element.attr("Algorithm") == Some("SHA256") {
            out.insert(element.trimmed().to_owned());
        }
        element.children.iter().for_each(|child| walk(child, out));
    }
    let mut out = BTreeSet::new();
    for fragment in fragments {
        let tree = Element::parse(&format!("<x>{}</x>", fragment.xml)).expect("fragment parses");
        walk(&tree, &mut out);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_scan_is_offered_exactly_the_approved_updates() {
    let (daemon, catalog, _data) = serve_synthetic(60, 2_000).await;
    let truth = Truth::new(&catalog);
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;

    let result = client.scan().await;

    // Every update sent, with the action the ground truth gives it, and nothing else.
    let expected = truth.scope(everything_current(&truth));
    let actions = result.actions();
    assert_eq!(actions.len(), result.seen.len(), "one revision per update");
    assert_actions(&actions, &expected);
    let approved = truth.current();
    assert!(
        truth.superseded().iter().any(|id| truth.newest.contains_key(id)),
        "the catalog has superseded updates, which are never sent"
    );
    assert_eq!(result.offered(), approved);
    let count = |action| expected.values().filter(|a| **a == action).count();
    assert!(
        count(Action::Bundle) > 0 && count(Action::Evaluate) > 0,
        "the catalog has members and categories"
    );
    assert!(expected
        .keys()
        .any(|id| truth.newest[id].kind == SynthKind::Detectoid));

    // The newest revision, the type and members the document states, IsLeaf from the catalog.
    let twice = catalog.docs.len() - truth.newest.len();
    assert!(twice > 0, "the generator makes updates with several revisions");
    for seen in result.seen.values() {
        let doc = truth.newest[&seen.update_id];
        assert_eq!(
            seen.revision, doc.revision,
            "revision delivered for {}",
            seen.update_id
        );
        assert_eq!(
            seen.is_leaf,
            truth.is_leaf(&seen.update_id),
            "IsLeaf of {}",
            seen.update_id
        );
        assert_eq!(seen.bundled, doc.bundled, "BundledUpdates of {}", seen.update_id);
        let software = matches!(doc.kind, SynthKind::Software | SynthKind::Bundle);
        assert_eq!(
            seen.update_type == "Software",
            software,
            "UpdateType of {}",
            seen.update_id
        );
    }

    // Staged delivery in pages of 200, every answer xpress-compressed as the client asked.
    assert!(result.pages.len() >= 3, "staged delivery takes several rounds");
    assert!(
        result.pages.iter().any(|p| p.truncated),
        "a round of more than 200 is cut"
    );
    assert!(result.pages.len() >= result.seen.len().div_ceil(PAGE_SIZE));
    assert_eq!(result.xpress_pages, result.pages.len());

    // Every file of every leaf sent has a WSUS-style location, and its SHA-256 is in Extended.
    let files: BTreeMap<[u8; 20], [u8; 32]> = expected
        .keys()
        .flat_map(|id| &truth.newest[id].files)
        .map(|f| (f.sha1, f.sha256))
        .collect();
    let located: BTreeSet<Vec<u8>> = result.file_locations.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(located, files.keys().map(|d| d.to_vec()).collect());
    let prefix = format!("http://{}/Content/", daemon.client_addr);
    assert!(result.file_locations.iter().all(|l| l.url.starts_with(&prefix)));
    let sha256 = sha256_digests(&result.extended);
    let engine = base64::engine::general_purpose::STANDARD;
    assert!(files
        .values()
        .all(|digest| sha256.contains(&engine.encode(digest))));

    assert_eq!(client.report(&[]).await, Ok(true));
    let token = daemon.app.admin_token();
    let (status, computers) =
        crate::harness::http("GET", daemon.admin_addr, "/api/v1/computers", Some(&token)).await;
    assert_eq!(status, 200);
    assert!(computers.contains(&client.client_id), "{computers}");
    assert!(
        computers.contains("\"registered\":true") && computers.contains("\"events_received\":2"),
        "{computers}"
    );
    // The inventory the machine registered with (the fleet's cached rows leave it out).
    assert!(
        computers.contains("\"computer_model\":\"Standard PC (Q35 + ICH9, 2009)\"")
            && computers.contains("\"os_build_number\":\"26200\""),
        "{computers}"
    );

    // /metrics counts the scan's requests by operation: one SyncUpdates per page the client
    // read, plus the driver pass; the duration histogram counts the same requests.
    let (_, metrics) = crate::harness::http("GET", daemon.admin_addr, "/metrics", None).await;
    let value = |line: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line} in\n{metrics}"))
    };
    let sync_calls = result.pages.len() as u64 + 1;
    let requests = "wucache_soap_requests_total{operation=\"SyncUpdates\",outcome=\"ok\"} ";
    assert_eq!(value(requests), sync_calls);
    assert_eq!(
        value("wucache_soap_request_duration_seconds_count{operation=\"SyncUpdates\"} "),
        sync_calls
    );
    assert_eq!(
        value("wucache_soap_request_duration_seconds_bucket{operation=\"SyncUpdates\",le=\"+Inf\"} "),
        sync_calls
    );
    assert_eq!(
        value("wucache_soap_requests_total{operation=\"RegisterComputer\",outcome=\"ok\"} "),
        1
    );
    assert_eq!(
        value("wucache_soap_requests_total{operation=\"ReportEventBatch\",outcome=\"ok\"} "),
        1
    );
    assert_every_documented_metric_is_scraped(&metrics);
    daemon.stop().await;
}

/// Every metric docs/interfaces.md lists is in the scrape with the type it gives, as an
/// independent Prometheus text reader (the `prometheus-parse` crate) sees it.
fn assert_every_documented_metric_is_scraped(metrics: &str) {
    use prometheus_parse::{Scrape, Value};
    let scrape = Scrape::parse(metrics.lines().map(|l| Ok(l.to_owned()))).expect("scrape parses");
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/interfaces.md"))
        .expect("docs/interfaces.md");
    let mut documented = 0;
    for row in docs.lines().filter(|l| l.starts_with("| `wucache_")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let kind = cells[1].trim();
        for name in cells[0].split('`').filter(|n| n.starts_with("wucache_")) {
            let name = name.split('{').next().unwrap();
            let found = scrape.samples.iter().find(|s| s.metric == name);
            let found = found.unwrap_or_else(|| panic!("{name} is documented, not scraped:\n{metrics}"));
            let scraped = match found.value {
                Value::Counter(_) => "counter",
                Value::Gauge(_) => "gauge",
                Value::Histogram(_) => "histogram",
                _ => "other",
            };
            assert_eq!(scraped, kind, "{name}");
            assert!(scrape.docs.contains_key(name), "{name} has no HELP");
            documented += 1;
        }
    }
    assert!(documented >= 20, "{documented} metrics read from the docs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_scan_with_the_same_cookie_finds_nothing_new() {
    let (daemon, _catalog, _data) = serve_synthetic(61, 60).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let first = client.scan().await;
    assert!(!first.offered().is_empty());

    let again = client.sync_updates(&first.cached_parameters()).await.unwrap();

    let ids: Vec<i32> = again.new_updates.iter().map(|u| u.id).collect();
    assert!(ids.is_empty(), "{ids:?}");
    assert!(again.changed_updates.is_empty());
    assert!(again.out_of_scope.is_empty());
    assert!(!again.truncated);
    daemon.stop().await;
}
