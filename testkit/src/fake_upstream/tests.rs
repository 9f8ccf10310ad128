//! Loopback tests: a hyper client talks SOAP to a started fake.

use std::io::Read;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;
use uuid::Uuid;

use super::wire::{DSS_NS, SYNC_NS};
use super::*;
use crate::synth::{self, SynthOptions, DEFENDER_PRODUCT, MICROSOFT};
use crate::xml::Element;

const SYNC_PATH: &str = "/ServerSyncWebService/ServerSyncWebService.asmx";
const DSS_PATH: &str = "/DssAuthWebService/DssAuthWebService.asmx";
const DEFINITION_UPDATES: Uuid = Uuid::from_u128(0xe0789628_ce08_4437_be74_2495b842f43b);
const KB2267602: Uuid = Uuid::from_u128(0xa2fef9b0_7951_4c2c_a42b_9e351dd1c1fe);
const DELTA_266F: Uuid = Uuid::from_u128(0x266f6222_c89d_43f2_9f8a_69340271e677);
const HIDDEN_CCB7: Uuid = Uuid::from_u128(0xccb78947_6453_4ecc_9de8_bc0305c98f2d);
const WINDOWS: Uuid = Uuid::from_u128(0x6964aab4_c5b5_43bd_a17d_ffb4346a8e1d);

/// An HTTP answer: status, content type and body.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Body/<Op>Response/<Op>Result`.
    fn result(&self, op: &str) -> Element {
        assert_eq!(self.status, 200, "{}", self.text());
        let envelope = Element::parse(&self.text()).expect("well-formed response");
        envelope
            .find(&["Body", &format!("{op}Response"), &format!("{op}Result")])
            .cloned()
            .unwrap_or_else(|| panic!("no {op}Result in {}", self.text()))
    }

    /// `(faultcode, ErrorCode, Message)` of a fault.
    fn fault(&self) -> (String, String, String) {
        assert_eq!(self.status, 500, "{}", self.text());
        let envelope = Element::parse(&self.text()).expect("well-formed fault");
        let fault = envelope.find(&["Body", "Fault"]).expect("soap:Fault");
        let detail = |name: &str| {
            fault
                .find(&["detail", name])
                .map(|e| e.text.clone())
                .unwrap_or_default()
        };
        let code = fault
            .child("faultcode")
            .map(|c| c.text.clone())
            .unwrap_or_default();
        (code, detail("ErrorCode"), detail("Message"))
    }
}

/// Sends one request on a fresh connection.
async fn send(fake: &FakeUpstream, request: Request<Full<Bytes>>) -> Result<Answer, hyper::Error> {
    let stream = TcpStream::connect(fake.addr).await.expect("connect");
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

fn soap_request(fake: &FakeUpstream, path: &str, action: Option<&str>, xml: String) -> Request<Full<Bytes>> {
    let mut builder = Request::post(path)
        .header("host", fake.addr.to_string())
        .header("content-type", "text/xml; charset=utf-8");
    if let Some(action) = action {
        builder = builder.header("SOAPAction", action);
    }
    builder.body(Full::new(Bytes::from(xml))).expect("request")
}

fn envelope(op: &str, ns: &str, inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><{op} xmlns="{ns}">{inner}</{op}></soap:Body></soap:Envelope>"#
    )
}

/// Calls `op` with the quoted SOAPAction, as the recorded probe did.
async fn call(fake: &FakeUpstream, op: &str, inner: &str) -> Answer {
    try_call(fake, op, inner).await.expect("HTTP exchange")
}

async fn try_call(fake: &FakeUpstream, op: &str, inner: &str) -> Result<Answer, hyper::Error> {
    let (path, ns) = if op == "GetAuthorizationCookie" {
        (DSS_PATH, DSS_NS)
    } else {
        (SYNC_PATH, SYNC_NS)
    };
    let action = format!("\"{ns}/{op}\"");
    send(
        fake,
        soap_request(fake, path, Some(&action), envelope(op, ns, inner)),
    )
    .await
}

fn cookie_xml(encrypted: &str) -> String {
    format!("<cookie><Expiration>2030-01-01T00:00:00Z</Expiration><EncryptedData>{encrypted}</EncryptedData></cookie>")
}

/// GetAuthConfig → GetAuthorizationCookie → GetCookie; returns the `<cookie>` element XML.
async fn login(fake: &FakeUpstream) -> String {
    let config = call(fake, "GetAuthConfig", "").await.result("GetAuthConfig");
    let service = config
        .find(&["AuthInfo", "AuthPlugInInfo", "ServiceUrl"])
        .expect("ServiceUrl");
    assert_eq!(service.text, "DssAuthWebService/DssAuthWebService.asmx");
    let auth = call(
        fake,
        "GetAuthorizationCookie",
        "<accountName>probe.lab.invalid</accountName><accountGuid>6f1c2f6e-3f0b-4d3a-9b1e-0d2f6a1c5e12</accountGuid>",
    )
    .await
    .result("GetAuthorizationCookie");
    assert_eq!(
        auth.child("PlugInId").map(|p| p.text.as_str()),
        Some("DssTargeting")
    );
    let data = auth.child("CookieData").expect("CookieData").text.clone();
    let cookie = call(fake, "GetCookie", &get_cookie_inner(&data))
        .await
        .result("GetCookie");
    assert!(cookie.child("Expiration").is_some());
    cookie_xml(&cookie.child("EncryptedData").expect("EncryptedData").text)
}

fn get_cookie_inner(auth: &str) -> String {
    format!("<authCookies><AuthorizationCookie><PlugInId>DssTargeting</PlugInId><CookieData>{auth}</CookieData></AuthorizationCookie></authCookies><protocolVersion>1.20</protocolVersion>")
}

fn filter_inner(cookie: &str, filter: &str) -> String {
    format!("{cookie}<filter>{filter}</filter>")
}

fn id_list(name: &str, ids: &[(Uuid, bool)]) -> String {
    let entries: String = ids
        .iter()
        .map(|(id, delta)| format!("<IdAndDelta><Id>{id}</Id><Delta>{delta}</Delta></IdAndDelta>"))
        .collect();
    format!("<{name}>{entries}</{name}>")
}

/// `(anchor, revisions)` of a GetRevisionIdList answer.
async fn revisions(fake: &FakeUpstream, cookie: &str, filter: &str) -> (String, Vec<(Uuid, u32)>) {
    let result = call(fake, "GetRevisionIdList", &filter_inner(cookie, filter))
        .await
        .result("GetRevisionIdList");
    let anchor = result.child("Anchor").expect("Anchor").text.clone();
    let list = result
        .child("NewRevisions")
        .expect("NewRevisions")
        .children_named("UpdateIdentity")
        .map(|i| {
            let id = Uuid::parse_str(&i.child("UpdateID").expect("UpdateID").text).expect("guid");
            let revision = i.child("RevisionNumber").expect("rev").text.parse().expect("int");
            (id, revision)
        })
        .collect();
    (anchor, list)
}

fn update_ids_inner(cookie: &str, ids: &[(Uuid, u32)]) -> String {
    let identities: String = ids
        .iter()
        .map(|(id, rev)| format!("<UpdateIdentity><UpdateID>{id}</UpdateID><RevisionNumber>{rev}</RevisionNumber></UpdateIdentity>"))
        .collect();
    format!("{cookie}<updateIds>{identities}</updateIds>")
}

/// The XML of a `ServerSyncUpdateData`, decompressing a CAB blob.
fn blob_xml(data: &Element) -> String {
    if let Some(plain) = data.child("XmlUpdateBlob") {
        return plain.text.clone();
    }
    let cab = BASE64
        .decode(data.child("XmlUpdateBlobCompressed").expect("a blob").trimmed())
        .expect("base64");
    cab_xml(&cab)
}

fn cab_xml(cab: &[u8]) -> String {
    let mut cabinet = ::cab::Cabinet::new(std::io::Cursor::new(cab)).expect("a cabinet");
    let mut utf16 = Vec::new();
    cabinet
        .read_file("blob")
        .expect("member blob")
        .read_to_end(&mut utf16)
        .expect("decompress");
    let units: Vec<u16> = utf16
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).expect("UTF-16LE")
}

fn sorted(mut ids: Vec<(Uuid, u32)>) -> Vec<(Uuid, u32)> {
    ids.sort();
    ids
}

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

#[tokio::test]
async fn batch_limit_is_announced_and_enforced() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    fake.faults().set_max_updates_per_request(2);
    let cookie = login(&fake).await;
    let config = call(&fake, "GetConfigData", &cookie)
        .await
        .result("GetConfigData");
    assert_eq!(
        config
            .child("MaxNumberOfUpdatesPerRequest")
            .map(|m| m.text.as_str()),
        Some("2")
    );
    let ids = [(KB2267602, 200), (DELTA_266F, 200), (HIDDEN_CCB7, 200)];
    let answer = call(&fake, "GetUpdateData", &update_ids_inner(&cookie, &ids)).await;
    assert_eq!(
        answer.fault(),
        (
            "soap:Client".into(),
            "InvalidParameters".into(),
            "updateIds".into()
        )
    );
    assert!(answer.content_type.starts_with("text/xml"));
    assert!(answer
        .text()
        .contains(r#"<Method>"http://www.microsoft.com/SoftwareDistribution/GetUpdateData"</Method>"#));
    let stats = fake.stats();
    assert_eq!(stats.max_ids_per_get_update_data, 3);
    assert_eq!(stats.fault_count("InvalidParameters"), 1);
    assert_eq!(stats.documents_returned, 0);
}

#[tokio::test]
async fn unknown_or_bad_ids_fault_the_whole_call() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let cookie = login(&fake).await;
    let wrong_revision = [(KB2267602, 200), (DELTA_266F, 199)];
    let answer = call(
        &fake,
        "GetUpdateData",
        &update_ids_inner(&cookie, &wrong_revision),
    )
    .await;
    assert_eq!(
        answer.fault(),
        ("soap:Server".into(), "InternalServerError".into(), String::new())
    );
    fake.faults().set_bad_ids([HIDDEN_CCB7]);
    let answer = call(
        &fake,
        "GetUpdateData",
        &update_ids_inner(&cookie, &[(HIDDEN_CCB7, 200)]),
    )
    .await;
    assert_eq!(answer.fault().1, "InternalServerError");
    fake.faults().set_bad_ids([]);
    call(
        &fake,
        "GetUpdateData",
        &update_ids_inner(&cookie, &[(HIDDEN_CCB7, 200)]),
    )
    .await
    .result("GetUpdateData");
}

#[tokio::test]
async fn cookies_are_checked() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let bogus = call(&fake, "GetConfigData", &cookie_xml("AAAA")).await;
    assert_eq!(
        bogus.fault(),
        ("soap:Client".into(), "InvalidCookie".into(), String::new())
    );
    let no_auth = call(&fake, "GetCookie", &get_cookie_inner("AAAA")).await;
    assert_eq!(no_auth.fault().1, "InvalidAuthorizationCookie");

    let cookie = login(&fake).await;
    fake.faults().invalidate_cookies_after(1);
    call(&fake, "GetConfigData", &cookie)
        .await
        .result("GetConfigData");
    let forgotten = call(&fake, "GetConfigData", &cookie).await;
    assert_eq!(forgotten.fault().1, "InvalidCookie");
    let fresh = login(&fake).await;
    call(&fake, "GetConfigData", &fresh).await.result("GetConfigData");

    fake.faults().set_cookie_lifetime(Duration::ZERO);
    let expired = login(&fake).await;
    assert_eq!(
        call(&fake, "GetConfigData", &expired).await.fault().1,
        "InvalidCookie"
    );
    assert_eq!(fake.stats().fault_count("InvalidCookie"), 3);
}

#[tokio::test]
async fn anchors_select_changes_and_delta_false_returns_everything() {
    let catalog = synth::generate(&SynthOptions {
        seed: 2,
        updates: 40,
        max_file_size: 512,
        ..SynthOptions::default()
    });
    let (first, later) = catalog.docs.split_at(catalog.docs.len() - 5);
    let fake = FakeUpstream::start(first.iter().map(UpstreamDoc::from_synth).collect())
        .await
        .expect("start");
    let cookie = login(&fake).await;
    let (config_anchor, config) = revisions(&fake, &cookie, "<GetConfig>true</GetConfig>").await;
    assert_eq!(
        config.len(),
        catalog.docs.iter().filter(|d| d.kind.is_config()).count()
    );
    let (anchor, all) = revisions(&fake, &cookie, "<GetConfig>false</GetConfig>").await;
    assert_eq!(all.len(), first.iter().filter(|d| !d.kind.is_config()).count());

    fake.publish(later.iter().map(UpstreamDoc::from_synth).collect());
    let since = format!("<GetConfig>false</GetConfig><Anchor>{anchor}</Anchor>");
    let (newer, changed) = revisions(&fake, &cookie, &since).await;
    let published: Vec<(Uuid, u32)> = later.iter().map(|d| (d.update_id, d.revision)).collect();
    assert_eq!(changed, published);
    assert_ne!(newer, anchor);
    let (_, none) = revisions(
        &fake,
        &cookie,
        &format!("<GetConfig>true</GetConfig><Anchor>{config_anchor}</Anchor>"),
    )
    .await;
    assert!(none.is_empty());

    let products: Vec<(Uuid, bool)> = catalog
        .docs
        .iter()
        .filter(|d| d.kind == synth::SynthKind::Product)
        .map(|d| (d.update_id, true))
        .collect();
    let classes: Vec<(Uuid, bool)> = synth::CLASSIFICATIONS.iter().map(|(id, _)| (*id, true)).collect();
    let lists = format!(
        "{}{}",
        id_list("Categories", &products),
        id_list("Classifications", &classes)
    );
    let (_, delta) = revisions(&fake, &cookie, &format!("{since}{lists}")).await;
    assert_eq!(delta, published);
    let everything: Vec<(Uuid, bool)> = classes.iter().map(|(id, _)| (*id, false)).collect();
    let lists = format!(
        "{}{}",
        id_list("Categories", &products),
        id_list("Classifications", &everything)
    );
    let (_, full) = revisions(&fake, &cookie, &format!("{since}{lists}")).await;
    assert_eq!(
        full.len(),
        catalog.docs.iter().filter(|d| !d.kind.is_config()).count()
    );
    let (_, one_list) = revisions(
        &fake,
        &cookie,
        &format!("<GetConfig>false</GetConfig>{}", id_list("Categories", &products)),
    )
    .await;
    assert!(one_list.is_empty());
}

#[tokio::test]
async fn filter_returns_members_of_matching_bundles() {
    let catalog = synth::generate(&SynthOptions {
        seed: 4,
        updates: 60,
        max_file_size: 512,
        ..SynthOptions::default()
    });
    let bundle = catalog
        .docs
        .iter()
        .find(|d| d.kind == synth::SynthKind::Bundle)
        .expect("a bundle");
    let mut docs: Vec<UpstreamDoc> = catalog.docs.iter().map(UpstreamDoc::from_synth).collect();
    for doc in docs.iter_mut().filter(|d| bundle.bundled.contains(&d.update_id)) {
        doc.products.clear();
        doc.classifications.clear();
    }
    let fake = FakeUpstream::start(docs).await.expect("start");
    let cookie = login(&fake).await;
    let filter = format!(
        "{}{}",
        id_list("Categories", &[(bundle.products[0], false)]),
        id_list("Classifications", &[(bundle.classifications[0], false)])
    );
    let (_, listed) = revisions(&fake, &cookie, &filter).await;
    for member in &bundle.bundled {
        assert!(
            listed.contains(&(*member, 200)),
            "member {member} listed with its bundle"
        );
    }
}

#[tokio::test]
async fn malformed_anchor_is_invalid_parameters_filter() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let cookie = login(&fake).await;
    let answer = call(
        &fake,
        "GetRevisionIdList",
        &filter_inner(&cookie, "<GetConfig>true</GetConfig><Anchor>yesterday</Anchor>"),
    )
    .await;
    assert_eq!(
        answer.fault(),
        ("soap:Client".into(), "InvalidParameters".into(), "filter".into())
    );
}

#[tokio::test]
async fn injected_failures_come_in_order_and_run_out() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    fake.faults().reset(1);
    assert!(
        try_call(&fake, "GetAuthConfig", "").await.is_err(),
        "connection dropped"
    );
    fake.faults().http_500(1);
    let bare = call(&fake, "GetAuthConfig", "").await;
    assert_eq!(bare.status, 500);
    assert!(bare.content_type.starts_with("text/html"));
    fake.faults().server_busy(1);
    assert_eq!(
        call(&fake, "GetAuthConfig", "").await.fault(),
        ("soap:Server".into(), "ServerBusy".into(), String::new())
    );
    call(&fake, "GetAuthConfig", "").await.result("GetAuthConfig");
    let stats = fake.stats();
    assert_eq!(
        (stats.resets, stats.http_errors, stats.fault_count("ServerBusy")),
        (1, 1, 1)
    );
    assert_eq!(stats.call_count("GetAuthConfig"), 4);
}

#[tokio::test]
async fn garbage_blobs_are_unparseable_inside_a_valid_envelope() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let cookie = login(&fake).await;
    fake.faults().set_garbage_blob_ids([KB2267602]);
    let result = call(
        &fake,
        "GetUpdateData",
        &update_ids_inner(&cookie, &[(KB2267602, 200)]),
    )
    .await
    .result("GetUpdateData");
    let data = result.find(&["updates", "ServerSyncUpdateData"]).expect("data");
    let blob = data.child("XmlUpdateBlob").expect("plain garbage").text.clone();
    assert!(Element::parse(&blob).is_err());
}

#[tokio::test]
async fn dispatch_falls_back_to_the_body_and_paths_ignore_case() {
    let fake = FakeUpstream::start(real_docs()).await.expect("start");
    let xml = envelope("GetAuthConfig", SYNC_NS, "");
    let request = soap_request(
        &fake,
        "/serversyncwebservice/SERVERSYNCWEBSERVICE.asmx",
        None,
        xml,
    );
    let answer = send(&fake, request).await.expect("answer");
    answer.result("GetAuthConfig");
    let wrong_service = envelope("GetCookie", SYNC_NS, "");
    let request = soap_request(&fake, DSS_PATH, None, wrong_service);
    let answer = send(&fake, request).await.expect("answer");
    assert_eq!(answer.fault().1, "", "ASP.NET-level fault without ErrorCode");
}

#[tokio::test]
async fn synthetic_payloads_are_served_at_mu_url_and_content_paths() {
    let fake = FakeUpstream::start(Vec::new()).await.expect("start");
    let catalog = synth::generate(&SynthOptions {
        seed: 9,
        updates: 5,
        content_base_url: fake.url(),
        ..SynthOptions::default()
    });
    fake.publish(catalog.docs.iter().map(UpstreamDoc::from_synth).collect());
    fake.serve_files(catalog.files());
    let file = catalog.files().next().expect("a file");
    let path = file.mu_url.strip_prefix(&fake.url()).expect("served here");
    let get = |path: String, range: Option<&str>| {
        let mut builder = Request::get(path).header("host", fake.addr.to_string());
        if let Some(range) = range {
            builder = builder.header("range", range);
        }
        builder.body(Full::new(Bytes::new())).expect("request")
    };
    let whole = send(&fake, get(path.to_owned(), None)).await.expect("GET");
    assert_eq!(whole.status, 200);
    let digest: [u8; 20] = Sha1::digest(&whole.body).into();
    assert_eq!(digest, file.sha1);
    let ext = file.name.rsplit_once('.').map_or("", |(_, e)| e);
    let content_path = format!(
        "/Content/{:02X}/{}.{ext}",
        file.sha1[19],
        synth::hex(&file.sha1).to_uppercase()
    );
    let part = send(&fake, get(content_path, Some("bytes=0-9")))
        .await
        .expect("GET range");
    assert_eq!(part.status, 206);
    assert_eq!(part.body, whole.body[..10.min(whole.body.len())]);
    assert_eq!(
        send(&fake, get("/nothing".into(), None))
            .await
            .expect("GET")
            .status,
        404
    );
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
    include_str!("../../../tests/fixtures/upstream/exchanges/000001.response.xml");
const RECORDED_EMPTY_LIST: &str =
    include_str!("../../../tests/fixtures/upstream/exchanges/000007.response.xml");
const RECORDED_INVALID_COOKIE: &str =
    include_str!("../../../tests/fixtures/upstream/exchanges/000019.response.xml");
const RECORDED_UPDATE_DATA: [(u128, u32, &str); 4] = [
    (
        0xa2fef9b0_7951_4c2c_a42b_9e351dd1c1fe,
        200,
        include_str!("../../../tests/fixtures/upstream/exchanges/000013.response.xml"),
    ),
    (
        0x266f6222_c89d_43f2_9f8a_69340271e677,
        200,
        include_str!("../../../tests/fixtures/upstream/exchanges/000014.response.xml"),
    ),
    (
        0xccb78947_6453_4ecc_9de8_bc0305c98f2d,
        200,
        include_str!("../../../tests/fixtures/upstream/exchanges/000015.response.xml"),
    ),
    (
        0x56309036_4c77_4dd9_951a_99ee9c246a94,
        101,
        include_str!("../../../tests/fixtures/upstream/exchanges/000016.response.xml"),
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
