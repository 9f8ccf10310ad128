//! The nine real update documents a Windows Server 2025 WSUS served over MS-WSUSSS, and the three
//! real `XmlUpdateBlobCompressed` cabinets, from `tests/fixtures/upstream/` (see PROVENANCE.md).

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use uuid::Uuid;

use super::UpstreamDoc;
use crate::facts::{read_update, UpdateFacts};
use crate::synth::{hex, is_classification};

/// A fixture document with its real CAB (if recorded) and the download folder of its file.
struct Fixture {
    xml: &'static str,
    cab: Option<&'static [u8]>,
    /// `MUUrl` pieces for its file: folder `<class>/<yyyy>/<mm>` and lower-case name stem.
    url: Option<(&'static str, &'static str)>,
    /// For a bundle member: the bundle whose products and classifications it is filed under.
    member_of: Option<Uuid>,
}

/// KB2267602, the Defender definition bundle.
const KB2267602: Uuid = Uuid::from_u128(0xa2fef9b0_7951_4c2c_a42b_9e351dd1c1fe);
/// The hidden Defender engine bundle.
const ENGINE_BUNDLE: Uuid = Uuid::from_u128(0x1f9bd9bb_7390_4aa3_bbdb_ded99fac2583);

const FIXTURES: [Fixture; 9] = [
    Fixture {
        xml: include_str!("../../../tests/fixtures/upstream/56309036-4c77-4dd9-951a-99ee9c246a94-r101.xml"),
        cab: Some(include_bytes!(
            "../../../tests/fixtures/upstream/56309036-r101.XmlUpdateBlobCompressed.cab"
        )),
        url: None,
        member_of: None,
    },
    Fixture {
        xml: include_str!("../../../tests/fixtures/upstream/6964aab4-c5b5-43bd-a17d-ffb4346a8e1d-r100.xml"),
        cab: None,
        url: None,
        member_of: None,
    },
    Fixture {
        xml: include_str!("../../../tests/fixtures/upstream/dd78b8a1-0b20-45c1-add6-4da72e9364cf-r202.xml"),
        cab: None,
        url: None,
        member_of: None,
    },
    Fixture {
        xml: include_str!("../../../tests/fixtures/upstream/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.xml"),
        cab: Some(include_bytes!(
            "../../../tests/fixtures/upstream/a2fef9b0-r200.XmlUpdateBlobCompressed.cab"
        )),
        url: None,
        member_of: None,
    },
    Fixture {
        xml: include_str!("../../../tests/fixtures/upstream/ccb78947-6453-4ecc-9de8-bc0305c98f2d-r200.xml"),
        cab: None,
        url: None,
        member_of: None,
    },
    Fixture {
        xml: include_str!("../../../tests/fixtures/upstream/1f9bd9bb-7390-4aa3-bbdb-ded99fac2583-r200.xml"),
        cab: None,
        url: None,
        member_of: None,
    },
    Fixture {
        xml: include_str!("../../../tests/fixtures/upstream/266f6222-c89d-43f2-9f8a-69340271e677-r200.xml"),
        cab: Some(include_bytes!(
            "../../../tests/fixtures/upstream/266f6222-r200.XmlUpdateBlobCompressed.cab"
        )),
        url: Some(("defu/2026/10", "am_delta")),
        member_of: Some(KB2267602),
    },
    Fixture {
        xml: include_str!("../../../tests/fixtures/upstream/7366a74a-ef29-44e1-b738-570b516aca1f-r200.xml"),
        cab: None,
        url: Some(("defu/2026/10", "am_delta")),
        // The previous delta: a member of an earlier KB2267602 revision, which the real WSUS
        // still listed; it is filed like its successor 266f6222.
        member_of: Some(KB2267602),
    },
    Fixture {
        xml: include_str!("../../../tests/fixtures/upstream/ff36f0b5-dded-4780-8664-cd78af8b62c1-r200.xml"),
        cab: None,
        url: Some(("defu/2026/08", "am_engine")),
        member_of: Some(ENGINE_BUNDLE),
    },
];

/// Windows compresses a blob whose UTF-16 form exceeds this many bytes (MS-WSUSSS <36>).
pub(super) const COMPRESS_ABOVE_UTF16_BYTES: usize = 5120;

/// The nine real documents, ready to serve. The three with recorded CABs are served with those
/// exact bytes; the others are compressed (MSZIP) when Windows would compress them. Bundle
/// members carry their bundle's products and classifications, so a Defender + Definition
/// Updates filter lists all six software documents.
pub fn real_docs() -> Vec<UpstreamDoc> {
    let parsed: Vec<(Option<Uuid>, UpstreamDoc)> = FIXTURES
        .iter()
        .filter_map(|fixture| real_doc(fixture).map(|doc| (fixture.member_of, doc)))
        .collect();
    let filing: HashMap<Uuid, (Vec<Uuid>, Vec<Uuid>)> = parsed
        .iter()
        .map(|(_, doc)| (doc.update_id, (doc.products.clone(), doc.classifications.clone())))
        .collect();
    parsed
        .into_iter()
        .map(|(member_of, mut doc)| {
            if let Some((products, classifications)) = member_of.and_then(|b| filing.get(&b)) {
                doc.products.clone_from(products);
                doc.classifications.clone_from(classifications);
            }
            doc
        })
        .collect()
}

fn real_doc(fixture: &Fixture) -> Option<UpstreamDoc> {
    let facts = match read_update(fixture.xml) {
        Ok(facts) => facts,
        Err(error) => {
            tracing::error!(%error, "fixture document unreadable");
            return None;
        }
    };
    let (products, classifications) = categories(&facts);
    Some(UpstreamDoc {
        update_id: facts.update_id,
        revision: facts.revision,
        xml: fixture.xml.to_owned(),
        cab: fixture.cab.map(<[u8]>::to_vec),
        compress: needs_compression(fixture.xml),
        file_urls: file_urls(&facts, fixture.url),
        products,
        classifications,
        is_config: matches!(facts.update_type.as_str(), "Category" | "Detectoid"),
        bundled: facts.bundled.iter().map(|(id, _)| *id).collect(),
    })
}

/// Whether Windows would send `xml` as `XmlUpdateBlobCompressed`.
pub(super) fn needs_compression(xml: &str) -> bool {
    xml.encode_utf16().count() * 2 > COMPRESS_ABOVE_UTF16_BYTES
}

/// Products and classifications from the `IsCategory` clauses, or (hidden bundles and bundle
/// members) from the plain `AtLeastOne` clauses.
fn categories(facts: &UpdateFacts) -> (Vec<Uuid>, Vec<Uuid>) {
    if facts.update_type != "Software" {
        return (Vec::new(), Vec::new());
    }
    let named = if facts.category_clauses.is_empty() {
        &facts.plain_clauses
    } else {
        &facts.category_clauses
    };
    named.iter().partition(|id| !is_classification(id))
}

/// 266f6222's URL is the recorded one (exchange 000014); the other two follow the same form.
fn file_urls(facts: &UpdateFacts, url: Option<(&str, &str)>) -> Vec<(String, String)> {
    let Some((folder, stem)) = url else {
        return Vec::new();
    };
    facts
        .files
        .iter()
        .filter_map(|file| {
            let sha1 = BASE64.decode(&file.sha1).ok()?;
            let url = format!(
                "http://download.windowsupdate.com/c/msdownload/update/software/{folder}/{stem}_{}.exe",
                hex(&sha1)
            );
            Some((file.sha1.clone(), url))
        })
        .collect()
}
