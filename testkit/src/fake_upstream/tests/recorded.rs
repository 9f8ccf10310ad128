//! The nine real documents over loopback, and answers compared byte for byte with the
//! recorded Windows Server 2025 WSUS.

use super::*;

#[tokio::test]
async fn real_documents_round_trip_over_loopback() {
    let docs = real_docs();
    assert_eq!(docs.len(), 9);
    let fake = FakeUpstream::start(docs.clone()).await.expect("start");
    let cookie = login(&fake).await;

    let config = call(&fake, "GetConfigData", &cookie)
        .await
        .result("GetConfigData");
    let max = config
        .child("MaxNumberOfUpdatesPerRequest")
        .map(|m| m.text.as_str());
    assert_eq!(max, Some("100"));
    assert_eq!(
        config.child("ProtocolVersion").map(|m| m.text.as_str()),
        Some("1.20")
    );

    let (_, categories) = revisions(&fake, &cookie, "<GetConfig>true</GetConfig>").await;
    let expected_config = vec![
        (MICROSOFT, 101),
        (WINDOWS, 100),
        (Uuid::from_u128(0xdd78b8a1_0b20_45c1_add6_4da72e9364cf), 202),
    ];
    assert_eq!(sorted(categories), sorted(expected_config));

    let filter = format!(
        "<GetConfig>false</GetConfig>{}{}",
        id_list("Categories", &[(DEFENDER_PRODUCT, false)]),
        id_list("Classifications", &[(DEFINITION_UPDATES, false)])
    );
    let (_, updates) = revisions(&fake, &cookie, &filter).await;
    let ff36 = Uuid::from_u128(0xff36f0b5_dded_4780_8664_cd78af8b62c1);
    let hidden_1f9b = Uuid::from_u128(0x1f9bd9bb_7390_4aa3_bbdb_ded99fac2583);
    let previous_delta = Uuid::from_u128(0x7366a74a_ef29_44e1_b738_570b516aca1f);
    let expected = vec![
        (KB2267602, 200),
        (HIDDEN_CCB7, 200),
        (hidden_1f9b, 200),
        (DELTA_266F, 200),
        (previous_delta, 200),
        (ff36, 200),
    ];
    assert_eq!(sorted(updates), sorted(expected));

    let answer = call(
        &fake,
        "GetUpdateData",
        &update_ids_inner(
            &cookie,
            &[
                (KB2267602, 200),
                (DELTA_266F, 200),
                (HIDDEN_CCB7, 200),
                (WINDOWS, 100),
            ],
        ),
    )
    .await;
    let result = answer.result("GetUpdateData");
    let data: Vec<&Element> = result
        .child("updates")
        .expect("updates")
        .children_named("ServerSyncUpdateData")
        .collect();
    assert_eq!(data.len(), 4);
    for (item, (id, _)) in data
        .iter()
        .zip([(KB2267602, 0), (DELTA_266F, 0), (HIDDEN_CCB7, 0), (WINDOWS, 0)])
    {
        let served = blob_xml(item);
        let fixture = docs.iter().find(|d| d.update_id == id).expect("fixture");
        assert_eq!(served, fixture.xml, "{id}");
    }
    let real_cab = docs
        .iter()
        .find(|d| d.update_id == KB2267602)
        .and_then(|d| d.cab.clone())
        .expect("real cab");
    let served_cab = data[0]
        .child("XmlUpdateBlobCompressed")
        .expect("compressed")
        .text
        .clone();
    assert_eq!(
        served_cab,
        BASE64.encode(&real_cab),
        "the recorded CAB bytes are served as-is"
    );
    assert!(
        data[2].child("XmlUpdateBlob").is_some(),
        "small ccb78947 goes uncompressed, as recorded"
    );
    let order: Vec<&str> = data[1].children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(order, ["Id", "FileDigestList", "XmlUpdateBlobCompressed"]);

    let urls: Vec<&Element> = result
        .child("fileUrls")
        .expect("fileUrls")
        .children_named("ServerSyncUrlData")
        .collect();
    assert_eq!(urls.len(), 1);
    assert_eq!(
        urls[0].child("FileDigest").map(|d| d.text.as_str()),
        Some("h/W9BGlYUAaqXTp30cZi/SiV3c0=")
    );
    assert_eq!(
        urls[0].child("MUUrl").map(|d| d.text.as_str()),
        Some("http://download.windowsupdate.com/c/msdownload/update/software/defu/2026/10/am_delta_87f5bd0469585006aa5d3a77d1c662fd2895ddcd.exe")
    );
    assert!(urls[0].child("UssUrl").is_some());

    let stats = fake.stats();
    assert_eq!(stats.documents_returned, 4);
    assert_eq!(stats.call_count("GetCookie"), 1);
    assert_eq!(stats.call_count("GetRevisionIdList"), 2);
    fake.stop().await;
}

#[test]
fn real_cabinets_hold_the_fixture_documents() {
    for doc in real_docs() {
        if let Some(cab) = &doc.cab {
            assert_eq!(cab_xml(cab), doc.xml, "{}", doc.update_id);
        }
    }
}

#[test]
fn real_docs_carry_their_filter_data() {
    let docs = real_docs();
    let get = |id: Uuid| docs.iter().find(|d| d.update_id == id).expect("doc");
    assert_eq!(get(KB2267602).products, vec![DEFENDER_PRODUCT]);
    assert_eq!(get(KB2267602).classifications, vec![DEFINITION_UPDATES]);
    assert_eq!(get(HIDDEN_CCB7).classifications, vec![DEFINITION_UPDATES]);
    assert_eq!(
        get(DELTA_266F).classifications,
        vec![DEFINITION_UPDATES],
        "members are filed like their bundle"
    );
    assert!(get(KB2267602).bundled.contains(&DELTA_266F));
    assert_eq!(docs.iter().filter(|d| d.is_config).count(), 3);
    let with_files: Vec<&UpstreamDoc> = docs.iter().filter(|d| !d.file_urls.is_empty()).collect();
    assert_eq!(with_files.len(), 3);
    for doc in with_files {
        let digest = BASE64.decode(&doc.file_urls[0].0).expect("base64");
        assert!(doc.file_urls[0]
            .1
            .ends_with(&format!("_{}.exe", synth::hex(&digest))));
    }
}

/// Replaces the text of every `<tag>…</tag>` with `*`, to compare answers that differ only
/// in timestamps, anchors, hosts and fault ids.
fn blank(text: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = start + open.len();
        let Some(end) = rest[after..].find(&close) else {
            break;
        };
        out.push_str(&rest[..after]);
        out.push('*');
        rest = &rest[after + end..];
    }
    out.push_str(rest);
    out
}

const RECORDED_AUTH_CONFIG: &str =
    include_str!("../../../../tests/fixtures/upstream/exchanges/000001.response.xml");
const RECORDED_EMPTY_LIST: &str =
    include_str!("../../../../tests/fixtures/upstream/exchanges/000007.response.xml");
const RECORDED_INVALID_COOKIE: &str =
    include_str!("../../../../tests/fixtures/upstream/exchanges/000019.response.xml");
const RECORDED_UPDATE_DATA: [(u128, u32, &str); 4] = [
    (
        0xa2fef9b0_7951_4c2c_a42b_9e351dd1c1fe,
        200,
        include_str!("../../../../tests/fixtures/upstream/exchanges/000013.response.xml"),
    ),
    (
        0x266f6222_c89d_43f2_9f8a_69340271e677,
        200,
        include_str!("../../../../tests/fixtures/upstream/exchanges/000014.response.xml"),
    ),
    (
        0xccb78947_6453_4ecc_9de8_bc0305c98f2d,
        200,
        include_str!("../../../../tests/fixtures/upstream/exchanges/000015.response.xml"),
    ),
    (
        0x56309036_4c77_4dd9_951a_99ee9c246a94,
        101,
        include_str!("../../../../tests/fixtures/upstream/exchanges/000016.response.xml"),
    ),
];

#[tokio::test]
async fn answers_match_the_recorded_wsus_byte_for_byte() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let auth_config = call(&fake, "GetAuthConfig", "").await.text();
    assert_eq!(
        blank(&auth_config, "LastChange"),
        blank(RECORDED_AUTH_CONFIG, "LastChange")
    );

    let cookie = login(&fake).await;
    for (id, revision, recorded) in RECORDED_UPDATE_DATA {
        let ids = [(Uuid::from_u128(id), revision)];
        let answer = call(&fake, "GetUpdateData", &update_ids_inner(&cookie, &ids)).await;
        assert_eq!(answer.text(), recorded, "GetUpdateData {}", Uuid::from_u128(id));
    }

    let anchor = fake.anchor();
    let empty = call(
        &fake,
        "GetRevisionIdList",
        &filter_inner(
            &cookie,
            &format!("<GetConfig>true</GetConfig><Anchor>{anchor}</Anchor>"),
        ),
    )
    .await;
    assert_eq!(
        blank(&empty.text(), "Anchor"),
        blank(RECORDED_EMPTY_LIST, "Anchor")
    );

    let fault = call(
        &fake,
        "GetRevisionIdList",
        &filter_inner(&cookie_xml("AAAA"), "<GetConfig>true</GetConfig>"),
    )
    .await;
    let normalise = |text: &str| blank(&blank(text, "faultactor"), "ID");
    assert_eq!(normalise(&fault.text()), normalise(RECORDED_INVALID_COOKIE));
    assert!(fault.text().contains(&format!(
        "<faultactor>http://{}{SYNC_PATH}</faultactor>",
        fake.addr
    )));
}
