use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::generator::FAMILIES;
use super::payload::{bytes as payload_bytes, digests as payload_digests};
use super::*;
use crate::facts::read_update;

fn options(seed: u64, updates: usize) -> SynthOptions {
    SynthOptions {
        seed,
        updates,
        max_file_size: 4096,
        ..SynthOptions::default()
    }
}

fn count(catalog: &SynthCatalog, kind: SynthKind) -> usize {
    catalog.docs.iter().filter(|d| d.kind == kind).count()
}

#[test]
fn same_seed_gives_identical_catalogs_and_other_seeds_differ() {
    let a = generate(&options(7, 120));
    let b = generate(&options(7, 120));
    let c = generate(&options(8, 120));
    assert_eq!(a, b);
    assert_ne!(a.docs.last().map(|d| &d.xml), c.docs.last().map(|d| &d.xml));
}

#[test]
fn update_count_is_exact_and_config_comes_first() {
    for updates in [0, 1, 10, 37, 250] {
        let catalog = generate(&options(3, updates));
        let software = count(&catalog, SynthKind::Software) + count(&catalog, SynthKind::Bundle);
        assert_eq!(software, updates, "updates={updates}");
        let first_update = catalog.docs.iter().position(|d| !d.kind.is_config());
        let last_config = catalog.docs.iter().rposition(|d| d.kind.is_config());
        if let (Some(first), Some(last)) = (first_update, last_config) {
            assert!(last < first, "config docs must precede updates");
        }
    }
}

#[test]
fn catalog_has_the_category_tree_and_detectoids() {
    let catalog = generate(&SynthOptions {
        products: 14,
        ..options(5, 10)
    });
    assert_eq!(count(&catalog, SynthKind::Company), 1);
    assert_eq!(catalog.docs[0].update_id, MICROSOFT);
    assert_eq!(count(&catalog, SynthKind::Product), 14);
    assert_eq!(count(&catalog, SynthKind::ProductFamily), FAMILIES.len());
    assert_eq!(count(&catalog, SynthKind::Classification), CLASSIFICATIONS.len());
    assert!(count(&catalog, SynthKind::Detectoid) >= 24);
    let products: HashSet<Uuid> = ids_of(&catalog, SynthKind::Product);
    assert!(products.contains(&DEFENDER_PRODUCT));
    for doc in catalog.docs.iter().filter(|d| d.kind == SynthKind::Detectoid) {
        assert!(doc.products.iter().all(|p| products.contains(p)));
    }
}

#[test]
fn catalog_has_every_realistic_feature() {
    let catalog = generate(&options(11, 600));
    let updates: Vec<&SynthDoc> = catalog.docs.iter().filter(|d| !d.kind.is_config()).collect();
    assert!(updates.iter().any(|d| d.expired));
    assert!(updates.iter().any(|d| !d.superseded.is_empty()));
    assert!(updates.iter().any(|d| d.msrc_severity.is_some()));
    assert!(updates.iter().any(|d| d.kb.is_some()));
    assert!(updates.iter().any(|d| d.xml.contains("<upd:SecurityBulletinID>")));
    assert!(updates
        .iter()
        .any(|d| d.title.contains('&') && d.xml.contains("&amp;")));
    let mut revisions: HashMap<Uuid, Vec<u32>> = HashMap::new();
    for doc in &updates {
        revisions.entry(doc.update_id).or_default().push(doc.revision);
    }
    assert!(revisions.values().any(|r| r.len() == 2 && r[0] < r[1]));
    assert!(revisions.values().all(|r| r.len() <= 2));
}

#[test]
fn bundles_name_members_that_exist_and_share_their_categories() {
    let catalog = generate(&options(13, 300));
    let by_id: HashMap<Uuid, &SynthDoc> = catalog.docs.iter().map(|d| (d.update_id, d)).collect();
    let bundles: Vec<&SynthDoc> = catalog
        .docs
        .iter()
        .filter(|d| d.kind == SynthKind::Bundle)
        .collect();
    assert!(!bundles.is_empty());
    for bundle in bundles {
        assert!(!bundle.bundled.is_empty() && bundle.files.is_empty());
        for member in &bundle.bundled {
            let member = by_id.get(member).expect("member present");
            assert_eq!(member.kind, SynthKind::Software);
            assert_eq!(member.products, bundle.products);
            assert_eq!(member.classifications, bundle.classifications);
            assert!(!member.files.is_empty());
        }
    }
}

#[test]
fn superseded_ids_point_at_earlier_updates() {
    let catalog = generate(&options(17, 400));
    let mut seen = HashSet::new();
    for doc in catalog.docs.iter().filter(|d| !d.kind.is_config()) {
        for old in &doc.superseded {
            assert!(seen.contains(old), "{old} superseded before it exists");
        }
        seen.insert(doc.update_id);
    }
}

#[test]
fn documents_are_well_formed_and_say_what_synth_doc_says() {
    let catalog = generate(&options(19, 300));
    for doc in &catalog.docs {
        let facts = read_update(&doc.xml).unwrap_or_else(|e| panic!("{}: {e}", doc.update_id));
        assert_eq!(facts.update_id, doc.update_id);
        assert_eq!(facts.revision, doc.revision);
        assert_eq!(facts.title.as_deref(), Some(doc.title.as_str()));
        assert_eq!(facts.publication_state == "Expired", doc.expired);
        assert_eq!(facts.msrc_severity, doc.msrc_severity);
        assert_eq!(facts.kb, doc.kb);
        assert_eq!(facts.superseded, doc.superseded);
        let bundled: Vec<Uuid> = facts.bundled.iter().map(|(id, _)| *id).collect();
        assert_eq!(bundled, doc.bundled);
        check_type(doc, &facts);
        check_files(doc, &facts.files);
    }
}

fn check_type(doc: &SynthDoc, facts: &crate::facts::UpdateFacts) {
    let (update_type, category_type) = match doc.kind {
        SynthKind::Company => ("Category", Some("Company")),
        SynthKind::ProductFamily => ("Category", Some("ProductFamily")),
        SynthKind::Product => ("Category", Some("Product")),
        SynthKind::Classification => ("Category", Some("UpdateClassification")),
        SynthKind::Detectoid => ("Detectoid", None),
        SynthKind::Software | SynthKind::Bundle => ("Software", None),
    };
    assert_eq!(facts.update_type, update_type);
    assert_eq!(facts.category_type.as_deref(), category_type);
    if doc.kind.is_config() {
        return;
    }
    if facts.category_clauses.is_empty() {
        assert_eq!(
            doc.kind,
            SynthKind::Software,
            "only members lack IsCategory clauses"
        );
        assert_eq!(
            facts.plain_clauses, doc.products,
            "a member names its product plainly"
        );
        return;
    }
    let named = &facts.category_clauses;
    let classifications: Vec<Uuid> = named.iter().copied().filter(is_classification).collect();
    let products: Vec<Uuid> = named
        .iter()
        .copied()
        .filter(|id| !is_classification(id))
        .collect();
    assert_eq!(classifications, doc.classifications);
    assert_eq!(products, doc.products);
}

fn check_files(doc: &SynthDoc, files: &[crate::facts::FileFacts]) {
    assert_eq!(files.len(), doc.files.len());
    for (facts, file) in files.iter().zip(&doc.files) {
        let bytes = payload(file);
        assert_eq!(bytes.len() as u64, file.size);
        assert!(file.size <= 4096);
        let sha1: [u8; 20] = Sha1::digest(&bytes).into();
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(sha1, file.sha1);
        assert_eq!(sha256, file.sha256);
        assert_eq!(facts.sha1, BASE64.encode(sha1));
        assert_eq!(facts.sha256.as_deref(), Some(BASE64.encode(sha256).as_str()));
        assert_eq!(facts.name, file.name);
        assert_eq!(facts.size, file.size);
        assert!(file.mu_url.starts_with("http://download.windowsupdate.com/"));
        assert!(file.mu_url.contains(&hex(&sha1)));
    }
}

#[test]
fn content_base_url_is_used_for_mu_urls() {
    let catalog = generate(&SynthOptions {
        content_base_url: "http://127.0.0.1:9/".to_owned(),
        ..options(23, 20)
    });
    let file = catalog.files().next().expect("some file");
    assert!(
        file.mu_url.starts_with("http://127.0.0.1:9/c/") || file.mu_url.starts_with("http://127.0.0.1:9/d/")
    );
}

#[test]
fn category_documents_chain_to_their_parents() {
    let catalog = generate(&options(29, 0));
    let families = ids_of(&catalog, SynthKind::ProductFamily);
    for doc in &catalog.docs {
        let facts = read_update(&doc.xml).expect("well-formed");
        match doc.kind {
            SynthKind::ProductFamily => assert_eq!(facts.category_clauses, vec![MICROSOFT]),
            SynthKind::Product => {
                assert_eq!(facts.category_clauses.len(), 1);
                assert!(families.contains(&facts.category_clauses[0]));
            }
            SynthKind::Detectoid => assert_eq!(facts.prerequisites, doc.products),
            _ => {}
        }
    }
}

fn ids_of(catalog: &SynthCatalog, kind: SynthKind) -> HashSet<Uuid> {
    catalog
        .docs
        .iter()
        .filter(|d| d.kind == kind)
        .map(|d| d.update_id)
        .collect()
}

#[test]
fn streamed_digests_match_the_payload_across_chunk_boundaries() {
    for size in [0, 1, 7, 8, 16 * 1024, 16 * 1024 + 3, 40_003] {
        let bytes = payload_bytes(42, size);
        assert_eq!(bytes.len() as u64, size);
        let (sha1, sha256) = payload_digests(42, size);
        assert_eq!(sha1, <[u8; 20]>::from(Sha1::digest(&bytes)), "size {size}");
        assert_eq!(sha256, <[u8; 32]>::from(Sha256::digest(&bytes)), "size {size}");
    }
    assert_ne!(payload_bytes(1, 64), payload_bytes(2, 64));
}
