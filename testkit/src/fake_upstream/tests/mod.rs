//! Loopback tests: a hyper client talks SOAP to a started fake.
//!
//! One file per topic: `handshake` (authorization, cookies, dispatch), `revisions`
//! (GetRevisionIdList: anchors, deltas, filters), `update_data` (GetUpdateData: batch limit,
//! whole-call faults, the payloads it names), `faults` (injected failures) and `recorded` (the
//! real documents, and answers byte for byte as the recorded WSUS gave them). This file holds
//! what they share: the HTTP exchange, the SOAP calls and the readers of their answers.

mod faults;
mod handshake;
mod recorded;
mod revisions;
mod update_data;

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
