//! Replay of the real Windows 11 client: every captured request of its first (category-
//! filtered) scan and of its later flow is sent to a wucache holding the matching real
//! catalog — cookies, config stamp and revision ids substituted — and each answer is held
//! against what the real WSUS answered: GetConfig and RegisterComputer value for value with
//! namespaces and attributes (only LastChange and the host masked), elsewhere the same element
//! skeleton in the same order, and where nothing but ids and cookies can differ, the same bytes.

use crate::canonical::{canonical, unmasked};
use crate::harness::{config, eventually};
use std::collections::HashMap;
use tempfile::TempDir;
use uuid::Uuid;
use wucache::daemon::Daemon;
use wucache::protocol::xml::{self, Element};
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};
use wucache_testkit::fake_upstream::{real_docs, FakeUpstream};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/replay/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// WSUS revision id → UpdateID, read off the captured responses (the Core fragments of the
/// category scan) and, for the flow, matched by file digest and title to the documents.
const WSUS_IDS: [(i32, &str); 9] = [
    (108226, "56309036-4c77-4dd9-951a-99ee9c246a94"),
    (108231, "6964aab4-c5b5-43bd-a17d-ffb4346a8e1d"),
    (72571, "dd78b8a1-0b20-45c1-add6-4da72e9364cf"),
    (197762, "266f6222-c89d-43f2-9f8a-69340271e677"),
    (192576, "7366a74a-ef29-44e1-b738-570b516aca1f"),
    (200373, "ff36f0b5-dded-4780-8664-cd78af8b62c1"),
    (200712, "ccb78947-6453-4ecc-9de8-bc0305c98f2d"),
    (200724, "1f9bd9bb-7390-4aa3-bbdb-ded99fac2583"),
    (200996, "a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe"),
];

struct Replay {
    daemon: Daemon,
    _data: TempDir,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    /// WSUS id → our id, and back.
    ours: HashMap<i32, i32>,
    theirs: HashMap<i32, i32>,
    cookie: String,
    auth_cookie: String,
    last_change: String,
}

impl Replay {
    async fn start() -> Replay {
        let upstream = FakeUpstream::start(real_docs()).await.unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut config = config(&upstream.url(), &data);
        config.sync.products = vec![
            "8c3fcc84-7410-4a95-8b89-a166a0190486".into(),
            "dd78b8a1-0b20-45c1-add6-4da72e9364cf".into(),
        ];
        {
            let store = Store::open(data.path()).unwrap();
            run_sync(&store, &config, &Quiet).await.unwrap();
        }
        let daemon = Daemon::start(config).await.unwrap();
        let app = daemon.app.clone();
        assert!(
            eventually(|| {
                let app = app.clone();
                async move { app.is_ready() }
            })
            .await
        );
        let snapshot = daemon.app.snapshot();
        let mut ours = HashMap::new();
        let mut theirs = HashMap::new();
        for (wsus, update) in WSUS_IDS {
            let node = snapshot
                .graph
                .by_update_id(&Uuid::parse_str(update).unwrap())
                .unwrap_or_else(|| {
                    panic!("{update} not in the catalog ({} updates)", snapshot.records.len())
                });
            let local = snapshot.graph.node(node).local_id;
            ours.insert(wsus, local);
            theirs.insert(local, wsus);
        }
        Replay {
            daemon,
            _data: data,
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
            ours,
            theirs,
            cookie: String::new(),
            auth_cookie: String::new(),
            last_change: String::new(),
        }
    }

    /// Posts a captured request body (after substitution) with the operation's SOAPAction.
    async fn post(&self, path: &str, action: &str, body: String) -> (u16, String) {
        let request = hyper::Request::post(format!("http://{}{path}", self.daemon.client_addr))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"{action}\""))
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let response = self.http.request(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn client(&self, operation: &str, body: String) -> String {
        let action =
            format!("http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/{operation}");
        let (status, response) = self.post("/ClientWebService/client.asmx", &action, body).await;
        assert_eq!(status, 200, "{operation}: {response}");
        response
    }

    /// Replays the captured GetConfig, GetAuthorizationCookie, GetCookie and RegisterComputer,
    /// keeping our config stamp and cookies for the requests that follow; returns the four
    /// answers.
    async fn handshake(&mut self) -> [String; 4] {
        let config = self.client("GetConfig", fixture("scan-000001.request.xml")).await;
        self.last_change = text_of(&config, "LastChange");
        let (status, auth) = self
            .post(
                "/SimpleAuthWebService/SimpleAuth.asmx",
                SIMPLE_AUTH_ACTION,
                fixture("scan-000002.request.xml"),
            )
            .await;
        assert_eq!(status, 200, "{auth}");
        self.auth_cookie = text_of(&auth, "CookieData");
        let cookie = self
            .client("GetCookie", self.substitute(&fixture("scan-000003.request.xml")))
            .await;
        self.cookie = text_of(&cookie, "EncryptedData");
        let register = self
            .client(
                "RegisterComputer",
                self.substitute(&fixture("scan-000004.request.xml")),
            )
            .await;
        [config, auth, cookie, register]
    }

    /// Puts our cookie, auth cookie, config stamp and revision ids into a captured request.
    fn substitute(&self, request: &str) -> String {
        let mut text = replace_element(request, "EncryptedData", &self.cookie);
        text = replace_element(&text, "CookieData", &self.auth_cookie);
        text = replace_element(&text, "lastChange", &self.last_change);
        map_ints(&text, &self.ours)
    }

    /// Puts the real WSUS's ids back into our answer and blanks what must differ
    /// (cookies, deployment ids, the content host).
    fn normalise(&self, response: &str) -> String {
        let text = map_ints(response, &self.theirs);
        normalise_volatile(&text)
    }
}

const SIMPLE_AUTH_ACTION: &str =
    "http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService/GetAuthorizationCookie";

/// The text of the first element with this name.
fn text_of(document: &str, name: &str) -> String {
    xml::parse(document).unwrap().find(name).unwrap().text.clone()
}

/// Replaces the text of every `<name>…</name>`.
fn replace_element(text: &str, name: &str, value: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = start + open.len();
        let Some(end) = rest[after..].find(&close) else {
            break;
        };
        out.push_str(&rest[..after]);
        out.push_str(value);
        rest = &rest[after + end..];
    }
    out.push_str(rest);
    out
}

/// Maps `<int>N</int>` and `<ID>N</ID>` through `map` (ids not in it stay).
fn map_ints(text: &str, map: &HashMap<i32, i32>) -> String {
    let mut out = text.to_string();
    for tag in ["int", "ID"] {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(start) = rest.find(&open) {
            let after = start + open.len();
            let end = rest[after..].find(&close).map(|e| after + e).unwrap_or(after);
            result.push_str(&rest[..after]);
            let value = &rest[after..end];
            match value.parse::<i32>().ok().and_then(|v| map.get(&v)) {
                Some(mapped) => result.push_str(&mapped.to_string()),
                None => result.push_str(value),
            }
            rest = &rest[end..];
        }
        result.push_str(rest);
        out = result;
    }
    out
}

fn normalise_volatile(text: &str) -> String {
    let mut out = replace_element(text, "EncryptedData", "~");
    out = replace_element(&out, "Expiration", "~");
    out = replace_element(&out, "LastChange", "~");
    out = replace_element(&out, "CookieData", "~");
    out = replace_element(&out, "Url", "~");
    // The date a deployment last changed: the capture's day versus today.
    out = replace_element(&out, "LastChangeTime", "~");
    // Deployment ids are ours to choose: blank the first <ID> inside each <Deployment>.
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(start) = rest.find("<Deployment><ID>") {
        let after = start + "<Deployment><ID>".len();
        let end = rest[after..].find("</ID>").map(|e| after + e).unwrap_or(after);
        result.push_str(&rest[..after]);
        result.push('~');
        rest = &rest[end..];
    }
    result.push_str(rest);
    result
}

/// The element tree's shape: names in order, runs of same-named siblings collapsed.
fn skeleton(element: &Element) -> String {
    let mut out = element.name.clone();
    let mut previous: Option<&str> = None;
    let children: Vec<String> = element
        .children
        .iter()
        .filter(|child| {
            let repeat = previous == Some(child.name.as_str());
            previous = Some(child.name.as_str());
            !repeat
        })
        .map(skeleton)
        .collect();
    if !children.is_empty() {
        out.push('(');
        out.push_str(&children.join(","));
        out.push(')');
    }
    out
}

/// What may differ in a GetConfig answer: the catalog's LastChange, and the host a URL or UNC
/// path names (ours is the address the client used, the capture's was redacted).
fn config_mask(element: &str, text: &str) -> String {
    if element == "LastChange" {
        return "~".into();
    }
    mask_host(text)
}

/// `\\host\share…` → `\\~\share…`, `scheme://host:port/path` → `scheme://~/path`.
fn mask_host(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("\\\\") {
        let path = rest.find('\\').map_or("", |at| &rest[at..]);
        return format!("\\\\~{path}");
    }
    if let Some((scheme, rest)) = text.split_once("://") {
        let path = rest.find('/').map_or("", |at| &rest[at..]);
        return format!("{scheme}://~{path}");
    }
    text.to_string()
}

#[test]
fn the_get_config_comparison_masks_only_last_change_and_the_host() {
    let real = fixture("scan-000001.response.xml");
    let expected = canonical(&real, config_mask);
    let moved = real
        .replace("2026-10-04T13:17:07.59Z", "2030-01-01T00:00:00Z")
        .replace("\\\\REDACTED2\\", "\\\\wsus.example.org\\");
    assert_ne!(moved, real);
    assert_eq!(canonical(&moved, config_mask), expected);
    for (from, to) in [
        ("<Value>3.2</Value>", "<Value>3.1</Value>"),
        ("<Value>2</Value>", "<Value>1</Value>"),
        ("<Value>50</Value>", "<Value>100</Value>"),
        ("<IsRegistrationRequired>true<", "<IsRegistrationRequired>false<"),
        ("\\UpdateServicesPackages", "\\Packages"),
        ("<Parameter/>", "<Parameter>x</Parameter>"),
        ("ClientWebService\">", "ClientWebService/\">"),
        ("<GetConfigResult>", "<GetConfigResult xsi:nil=\"false\">"),
    ] {
        assert!(real.contains(from), "{from}");
        let changed = real.replacen(from, to, 1);
        assert_ne!(canonical(&changed, config_mask), expected, "{from} -> {to}");
    }
}

fn body_skeleton(text: &str) -> String {
    skeleton(&xml::parse(text).unwrap())
}

/// The envelope's opening up to the operation element: prefixes and declarations as sent.
fn envelope_head(text: &str) -> &str {
    let end = text.find("Response").unwrap_or(text.len());
    &text[..text[..end].rfind('<').unwrap_or(0)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_first_scan_gets_the_answers_the_real_wsus_gave() {
    let mut replay = Replay::start().await;

    let [config, auth, cookie, register] = replay.handshake().await;

    // GetConfig: every element, namespace, attribute and value as captured, but LastChange
    // and the host of the package share.
    let real = fixture("scan-000001.response.xml");
    assert_eq!(envelope_head(&config), envelope_head(&real));
    assert_eq!(canonical(&config, config_mask), canonical(&real, config_mask));
    // SimpleAuth GetAuthorizationCookie, GetCookie.
    let real = fixture("scan-000002.response.xml");
    assert_eq!(envelope_head(&auth), envelope_head(&real));
    assert_eq!(normalise_volatile(&auth), normalise_volatile(&real));
    assert_eq!(
        normalise_volatile(&cookie),
        normalise_volatile(&fixture("scan-000003.response.xml"))
    );
    // RegisterComputer: nothing may differ, namespaces and declarations included.
    let real = fixture("scan-000004.response.xml");
    assert_eq!(envelope_head(&register), envelope_head(&real));
    assert_eq!(canonical(&register, unmasked), canonical(&real, unmasked));
    // StartCategoryScan.
    let category = replay
        .client("StartCategoryScan", fixture("scan-000005.request.xml"))
        .await;
    assert_eq!(category, fixture("scan-000005.response.xml"), "same bytes");

    // Three SyncUpdates rounds: the category chain, one level per round, byte for byte but
    // for cookies and deployment ids.
    for n in ["000006", "000007", "000008"] {
        let answer = replay
            .client(
                "SyncUpdates",
                replay.substitute(&fixture(&format!("scan-{n}.request.xml"))),
            )
            .await;
        let real = fixture(&format!("scan-{n}.response.xml"));
        assert_eq!(
            replay.normalise(&answer),
            normalise_volatile(&real),
            "SyncUpdates {n}"
        );
        // The client carries on with the NewCookie, as Windows does.
        replay.cookie = xml::parse(&answer)
            .unwrap()
            .find("EncryptedData")
            .unwrap()
            .text
            .clone();
    }

    // The driver pass (its request was not captured; built as Win11 sends it).
    let driver = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><SyncUpdates xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\"><cookie><Expiration>x</Expiration><EncryptedData>{}</EncryptedData></cookie><parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs><int>{}</int></InstalledNonLeafUpdateIDs><SystemSpec><Device><HardwareIDs><string>PCI\\VEN_1234</string></HardwareIDs></Device></SystemSpec><SkipSoftwareSync>true</SkipSoftwareSync><NeedTwoGroupOutOfScopeUpdates>true</NeedTwoGroupOutOfScopeUpdates></parameters></SyncUpdates></s:Body></s:Envelope>",
        replay.cookie, replay.ours[&108226]
    );
    let answer = replay.client("SyncUpdates", driver).await;
    assert_eq!(
        replay.normalise(&answer),
        normalise_volatile(&fixture("scan-000009.response.xml"))
    );

    // GetExtendedUpdateInfo for the three categories: the same fragments, byte for byte.
    let extended = replay
        .client(
            "GetExtendedUpdateInfo",
            replay.substitute(&fixture("scan-000010.request.xml")),
        )
        .await;
    assert_eq!(
        replay.normalise(&extended),
        normalise_volatile(&fixture("scan-000010.response.xml"))
    );
    replay.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_flow_requests_get_the_real_answers() {
    let mut replay = Replay::start().await;
    replay.handshake().await;

    // GetExtendedUpdateInfo for the 18 captured ids: we hold six of them. Each fragment we
    // return equals the real one for that id; the other twelve are ours to call out of scope.
    let answer = replay
        .client(
            "GetExtendedUpdateInfo",
            replay.substitute(&fixture("flow-000015.request.xml")),
        )
        .await;
    let real = fixture("flow-000015.response.xml");
    let updates = |text: &str| -> Vec<(String, String)> {
        xml::parse(text)
            .unwrap()
            .find("Updates")
            .unwrap()
            .children
            .iter()
            .map(|u| {
                (
                    u.child_text("ID").unwrap().to_string(),
                    u.child("Xml").unwrap().text.clone(),
                )
            })
            .collect()
    };
    let ours = updates(&replay.normalise(&answer));
    let theirs = updates(&real);
    assert_eq!(ours.len(), 12, "Extended + LocalizedProperties for six revisions");
    let held: Vec<&String> = ours.iter().map(|(id, _)| id).collect();
    let expected: Vec<(String, String)> = theirs.into_iter().filter(|(id, _)| held.contains(&id)).collect();
    // The capture's sanitiser redacted one link query value (LinkId=52661) in KB2267602's
    // LocalizedProperties (not in its Extended fragment).
    let ours: Vec<(String, String)> = ours
        .into_iter()
        .map(|(id, xml)| match xml.starts_with("<LocalizedProperties>") {
            true => (id, xml.replace("LinkId=52661", "LinkId=REDACTED")),
            false => (id, xml),
        })
        .collect();
    // Extended fragments first, in request order, then LocalizedProperties — WSUS's order
    // inside the second group follows its database, not the request, so it is compared as
    // a set.
    assert_eq!(ours[..6], expected[..6], "Extended fragments, in order");
    let as_set = |list: &[(String, String)]| list.iter().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        as_set(&ours[6..]),
        as_set(&expected[6..]),
        "LocalizedProperties fragments"
    );
    let parsed = xml::parse(&answer).unwrap();
    let out_of_scope = parsed.find("OutOfScopeRevisionIDs").unwrap().children.len();
    assert_eq!(out_of_scope, 12);
    let real_skeleton = body_skeleton(&real);
    let our_skeleton = body_skeleton(&answer).replace(",OutOfScopeRevisionIDs(int)", "");
    assert_eq!(our_skeleton, real_skeleton);

    // ReportEventBatch, both captured batches, on the Reporting service.
    for n in ["000016", "000018"] {
        let (status, answer) = replay
            .post(
                "/ReportingWebService/ReportingWebService.asmx",
                "http://www.microsoft.com/SoftwareDistribution/ReportEventBatch",
                replay.substitute(&fixture(&format!("flow-{n}.request.xml"))),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer, fixture("flow-000016.response.xml"));
    }
    assert!(replay.daemon.app.store.event_count() > 0);
    replay.daemon.stop().await;
}
