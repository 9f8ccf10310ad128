//! Update documents (`protocol::update_xml`, the fragment derivations), the compressed blobs
//! that carry them (`protocol::blob`) and Xpress (`protocol::xpress`): arbitrary bytes and
//! mutated real documents, cabinets and streams never panic and are read or refused with a
//! message; what the catalog's reader takes from a mutated document agrees with the test
//! kit's independent reader.

use super::mutate::{apply_all, mutations};
use super::{bodies, cases, fixture_bytes, fixtures_ending};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use wucache::protocol::{blob, fragment, update_xml, xpress};

const CABINETS: [&str; 3] = [
    "upstream/56309036-r101.XmlUpdateBlobCompressed.cab",
    "upstream/266f6222-r200.XmlUpdateBlobCompressed.cab",
    "upstream/a2fef9b0-r200.XmlUpdateBlobCompressed.cab",
];

fn documents() -> Vec<String> {
    fixtures_ending("upstream", ".xml")
        .into_iter()
        .map(|(_, text)| text)
        .collect()
}

#[test]
fn real_documents_are_read_and_derived() {
    for text in documents() {
        update_xml::parse_update(&text).unwrap();
        fragment::core(&text).unwrap();
        fragment::extended(&text).unwrap();
        bodies::update_xml(text.as_bytes());
    }
}

#[test]
fn mutated_documents_are_read_or_refused_and_agree_with_an_independent_reader() {
    let documents = documents();
    let strategy = (0..documents.len(), mutations());
    let both_read = std::cell::Cell::new(0);
    TestRunner::new(cases(256))
        .run(&strategy, |(document, mutations)| {
            let text = apply_all(&documents[document], &mutations);
            bodies::update_xml(text.as_bytes());
            let ours = update_xml::parse_update(&text);
            let theirs = wucache_testkit::facts::read_update(&text);
            if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
                both_read.set(both_read.get() + 1);
                let bundled: Vec<(uuid::Uuid, u32)> = ours
                    .bundled
                    .iter()
                    .map(|id| (id.update_id, id.revision))
                    .collect();
                prop_assert_eq!(bundled, theirs.bundled);
                prop_assert_eq!(format!("{:?}", ours.update_type), theirs.update_type);
            }
            Ok(())
        })
        .unwrap();
    assert!(
        both_read.get() > 0,
        "no mutated document was read by both readers"
    );
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn arbitrary_bytes_are_not_update_documents(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        bodies::update_xml(&data);
        bodies::blob(&data);
    }

    #[test]
    fn arbitrary_xpress_streams_decode_within_the_limit_or_are_refused(
        data in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        bodies::xpress(&data);
    }
}

/// A byte-level change to binary input: truncation, a bit flip, a byte overwritten.
#[derive(Debug, Clone)]
enum ByteChange {
    Truncate(usize),
    Flip(usize, u8),
    Set(usize, u8),
}

fn byte_changes() -> impl Strategy<Value = Vec<ByteChange>> {
    let change = prop_oneof![
        any::<usize>().prop_map(ByteChange::Truncate),
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| ByteChange::Flip(at, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| ByteChange::Set(at, byte)),
    ];
    proptest::collection::vec(change, 1..4)
}

fn change_bytes(mut bytes: Vec<u8>, changes: &[ByteChange]) -> Vec<u8> {
    for change in changes {
        if bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match *change {
            ByteChange::Truncate(at) => bytes.truncate(at % len),
            ByteChange::Flip(at, bit) => bytes[at % len] ^= 1 << bit,
            ByteChange::Set(at, byte) => bytes[at % len] = byte,
        }
    }
    bytes
}

#[test]
fn damaged_real_cabinets_are_decoded_or_refused() {
    let cabinets: Vec<Vec<u8>> = CABINETS.iter().map(|path| fixture_bytes(path)).collect();
    TestRunner::new(cases(128))
        .run(&(0..cabinets.len(), byte_changes()), |(cabinet, changes)| {
            let damaged = change_bytes(cabinets[cabinet].clone(), &changes);
            bodies::blob(&damaged);
            if let Ok(text) = blob::decode_compressed(&damaged) {
                bodies::update_xml(text.as_bytes());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_smallest_real_cabinet_cut_short_anywhere_is_refused() {
    let cabinet = fixture_bytes(CABINETS[0]);
    assert!(blob::decode_compressed(&cabinet).is_ok());
    for end in 0..cabinet.len() {
        let err = blob::decode_compressed(&cabinet[..end]).expect_err(&format!("cut at byte {end} decoded"));
        bodies::assert_message(&err);
    }
}

#[test]
fn damaged_xpress_streams_of_real_answers_are_decoded_within_the_limit_or_refused() {
    let answers: Vec<Vec<u8>> = fixtures_ending("xpress", ".xml")
        .into_iter()
        .map(|(_, text)| xpress::compress(text.as_bytes()))
        .collect();
    TestRunner::new(cases(128))
        .run(&(0..answers.len(), byte_changes()), |(answer, changes)| {
            let damaged = change_bytes(answers[answer].clone(), &changes);
            bodies::xpress(&damaged);
            Ok(())
        })
        .unwrap();
}
