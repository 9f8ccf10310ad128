//! The cache against the real WSUS fragments of `tests/fixtures/fragments/` (the documents
//! stored through the store's own batch path), and its byte bound and eviction.

use super::*;
use crate::protocol::update_xml::parse_update;

const DOC_A2FEF9B0: &str =
    include_str!("../../tests/fixtures/upstream/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.xml");
const DOC_266F6222: &str =
    include_str!("../../tests/fixtures/upstream/266f6222-c89d-43f2-9f8a-69340271e677-r200.xml");
const REF_CORE_A2FEF9B0: &str =
    include_str!("../../tests/fixtures/fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.core.xml");
const REF_EXTENDED_A2FEF9B0: &str =
    include_str!("../../tests/fixtures/fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.extended.xml");
const REF_LOCALIZED_A2FEF9B0: &str =
    include_str!("../../tests/fixtures/fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.localized-en.xml");
const REF_CORE_266F6222: &str =
    include_str!("../../tests/fixtures/fragments/266f6222-c89d-43f2-9f8a-69340271e677-r200.core.xml");

/// A store holding the two documents; their local ids.
fn store() -> (tempfile::TempDir, Store, [i32; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let items: Vec<_> = [DOC_A2FEF9B0, DOC_266F6222]
        .iter()
        .map(|doc| (parse_update(doc).unwrap(), doc.to_string()))
        .collect();
    let ids = store.put_batch(&items).unwrap();
    (dir, store, [ids[0], ids[1]])
}

fn text(fragments: &Fragments) -> Vec<String> {
    fragments.iter().map(|f| f.text().into_owned()).collect()
}

#[test]
fn fragments_are_what_wsus_sends_held_escaped_and_derived_once() {
    let (_dir, store, [bundle, member]) = store();
    let cache = FragmentCache::new(1 << 20);
    let locales = vec!["en-US".to_string(), "en".to_string()];
    let kinds = [
        Kind::Extended,
        Kind::of_info_type("LocalizedProperties", &locales).unwrap(),
        Kind::Eula,
    ];
    let got = cache.fragments(&store, bundle, &kinds).unwrap();
    assert_eq!(text(&got[0]), [REF_EXTENDED_A2FEF9B0.trim()]);
    // The capture redacted one link id the document keeps.
    let localized = REF_LOCALIZED_A2FEF9B0.replace("?LinkId=REDACTED<", "?LinkId=52661<");
    assert_eq!(text(&got[1]), [localized.trim()]);
    assert!(got[2].is_empty(), "no EULA");
    let escaped = got[0][0].escaped().expect("held escaped");
    assert!(escaped.contains("&lt;") && !escaped.contains('<'));
    assert_eq!(cache.stats().entries, 3, "three kinds from one parse");

    assert_eq!(
        cache.core(&store, bundle).unwrap().text(),
        REF_CORE_A2FEF9B0.trim()
    );
    assert_eq!(
        cache.core(&store, member).unwrap().text(),
        REF_CORE_266F6222.trim()
    );
    let again = cache.fragments(&store, bundle, &kinds).unwrap();
    assert_eq!(again, got, "served from the cache as derived");
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits, stats.entries), (5, 3, 5));
    let held = stats.bytes - 5 * ENTRY_OVERHEAD - "en-US,en".len();
    let derived: usize = [
        cache.core(&store, bundle).unwrap().len(),
        cache.core(&store, member).unwrap().len(),
    ]
    .into_iter()
    .chain(got.iter().flat_map(|f| f.iter()).map(XmlText::len))
    .sum();
    assert!(held * 2 < derived, "held compressed: {held} bytes for {derived}");
    assert!(Kind::of_info_type("Unknown", &locales).is_none());
    assert!(cache
        .core(&store, 999)
        .unwrap_err()
        .contains("no stored document"));
}

#[test]
fn the_cache_stays_within_its_bytes_and_keeps_what_is_read() {
    let (_dir, store, [bundle, member]) = store();
    let core_size = |id| ENTRY_OVERHEAD + cache_len(&store, id);
    // Room for the two Core fragments, not for the bundle's Extended fragment too.
    let budget = core_size(bundle) + core_size(member) + 16;
    let cache = FragmentCache::new(budget);
    cache.core(&store, bundle).unwrap();
    cache.core(&store, member).unwrap();
    cache.core(&store, bundle).unwrap(); // read again: kept at the next eviction
    cache.fragments(&store, bundle, &[Kind::Extended]).unwrap();
    let stats = cache.stats();
    assert!(stats.bytes <= budget, "{stats:?}");
    assert!(
        cache.entries.contains(&(bundle, Kind::Core)),
        "the entry read again stays"
    );
    assert!(
        !cache.entries.contains(&(member, Kind::Core)),
        "the other one went"
    );

    // Nothing larger than the whole budget is kept, and nothing breaks.
    let tiny = FragmentCache::new(ENTRY_OVERHEAD);
    assert!(tiny.core(&store, bundle).is_ok());
    assert_eq!(tiny.stats().entries, 0);
}

#[test]
fn warming_derives_core_fragments_up_to_its_share_and_stops_when_told() {
    let (_dir, store, [bundle, member]) = store();
    let cache = FragmentCache::new(1 << 20);
    assert_eq!(cache.warm(&store, [bundle, member, 999], || true), 2);
    assert_eq!(cache.warm(&store, [bundle, member], || true), 0, "already there");
    assert_eq!(cache.stats().entries, 2);
    let stopped = FragmentCache::new(1 << 20);
    assert_eq!(stopped.warm(&store, [bundle, member], || false), 0);
    let full = FragmentCache::new(ENTRY_OVERHEAD + cache_len(&store, bundle));
    assert_eq!(
        full.warm(&store, [bundle, member], || true),
        1,
        "stops at its share"
    );
}

#[test]
fn a_request_cannot_make_language_keys_of_any_size() {
    let mut locales: Vec<String> = (0..1_000).map(|i| format!("x{i}")).collect();
    locales.insert(0, "en-".repeat(10_000));
    let Some(Kind::Localized(key)) = Kind::of_info_type("LocalizedProperties", &locales) else {
        panic!("a LocalizedProperties kind");
    };
    assert!(key.len() <= MAX_LOCALES * (MAX_LOCALE_LEN + 1), "{}", key.len());
    assert!(key.starts_with("en-en-"));
    assert_eq!(key.split(',').count(), MAX_LOCALES);
}

/// What the Core fragment of `local_id` costs the cache beyond the entry overhead.
fn cache_len(store: &Store, local_id: i32) -> usize {
    let core = FragmentCache::new(1 << 20).core(store, local_id).unwrap();
    Packed::of(&[core]).len()
}
