//! Client SOAP requests, read (`envelope::parse_request`, the public message parsers) and
//! answered whole (`server::soap::handle`, in-process on an empty catalog with a live cookie
//! from an in-process handshake). Captured Windows 11 requests, mutated; arbitrary bodies and
//! actions; well-formed operations holding the wrong things. Every answer is a SOAP envelope
//! that reads back as the response to the operation the SOAPAction named, or as a fault with
//! a WSUS error code (and, for `InvalidParameters`, a message naming the problem).

use super::mutate::{apply_all, hostile_value, mutations};
use super::{bodies, cases, fixture, fixtures_ending};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use std::sync::Arc;
use wucache::app::App;
use wucache::config::Config;
use wucache::protocol::soap::{parse_response, SoapError};
use wucache::protocol::wusp::{envelope, Operation};
use wucache::server::soap::{handle, Context};

/// The codes a client can get (MS-WUSP `ErrorCode`).
const ERROR_CODES: [&str; 11] = [
    "InvalidCookie",
    "ServerChanged",
    "ConfigChanged",
    "CookieExpired",
    "RegistrationRequired",
    "RegistrationNotRequired",
    "InvalidAuthorizationCookie",
    "InvalidParameters",
    "InternalServerError",
    "ServerBusy",
    "FileLocationChanged",
];

/// A wucache app on an empty store, and the cookies of one client that did the handshake.
struct Server {
    app: Arc<App>,
    _data: tempfile::TempDir,
    last_change: String,
    auth_cookie: String,
    cookie: String,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.storage.data_dir = data.path().to_path_buf();
        let app = App::open(config).unwrap();
        app.load_catalog().unwrap();
        let mut server = Server {
            app,
            _data: data,
            last_change: String::new(),
            auth_cookie: String::new(),
            cookie: String::new(),
        };
        server.handshake();
        server
    }

    /// GetConfig, GetAuthorizationCookie, GetCookie and RegisterComputer as captured, with
    /// this server's config stamp and cookies put in.
    fn handshake(&mut self) {
        let config = self.expect_answer("native-scan-000001.get-config.request.xml");
        self.last_change = text_of(&config, "LastChange");
        let auth = self.expect_answer("native-scan-000002.get-authorization-cookie.request.xml");
        self.auth_cookie = text_of(&auth, "CookieData");
        let cookie = self.expect_answer("native-scan-000003.get-cookie.request.xml");
        self.cookie = text_of(&cookie, "EncryptedData");
        self.expect_answer("native-scan-000004.register-computer.request.xml");
    }

    fn expect_answer(&self, name: &str) -> String {
        let request = self.live(&fixture(&format!("wusp/{name}")));
        let op = operation_of(&request);
        let (answer, is_fault) = self.answer(&request, Some(&envelope::soap_action(op)));
        assert!(!is_fault, "{name}: {answer}");
        answer
    }

    /// A captured request with this server's cookies and config stamp.
    fn live(&self, request: &str) -> String {
        let text = replace_text(request, "EncryptedData", &self.cookie);
        let text = replace_text(&text, "CookieData", &self.auth_cookie);
        replace_text(&text, "lastChange", &self.last_change)
    }

    fn answer(&self, body: &str, action: Option<&str>) -> (String, bool) {
        let context = Context {
            app: &self.app,
            snapshot: self.app.snapshot(),
            content_base: "http://wucache.test".into(),
            now: chrono::Utc::now().timestamp(),
            peer: Some([127, 0, 0, 1].into()),
            xpress: false,
        };
        handle(&context, body, action)
    }
}

/// The operation of a valid request body.
fn operation_of(body: &str) -> Operation {
    envelope::parse_request(body, None).expect("a valid request").0
}

/// The trimmed text of the first element named `name` in an answer.
fn text_of(answer: &str, name: &str) -> String {
    let root = wucache::protocol::xml::parse(answer).unwrap();
    root.find(name)
        .unwrap_or_else(|| panic!("no {name} in {answer}"))
        .text
        .trim()
        .to_string()
}

/// Replaces the text of every `<name>…</name>` (unprefixed, as Windows writes them).
fn replace_text(text: &str, name: &str, value: &str) -> String {
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

/// Panics unless `answer` is the response to `op` (when known) or a fault with a WSUS code,
/// as `is_fault` says; returns the fault's code.
fn check_answer(op: Option<Operation>, answer: &str, is_fault: bool) -> Option<String> {
    match (parse_response(answer), is_fault) {
        (Err(SoapError::Fault(fault)), true) => {
            let code = fault.error_code.clone().expect("a fault with an ErrorCode");
            assert!(ERROR_CODES.contains(&code.as_str()), "{code}");
            if code == "InvalidParameters" {
                assert!(fault.to_string().contains(", message `"), "no message: {answer}");
            }
            Some(code)
        }
        (Ok(element), false) => {
            match op {
                // MS-WUSP gives SyncPrinterCatalog the SyncUpdates action (`envelope::reconcile`).
                Some(Operation::SyncUpdates) if element.name == "SyncPrinterCatalogResponse" => {}
                Some(op) => assert_eq!(element.name, format!("{}Response", op.name())),
                None => assert!(element.name.ends_with("Response"), "{answer}"),
            }
            None
        }
        (read, _) => panic!("is_fault {is_fault}, but the answer reads as {read:?}: {answer}"),
    }
}

/// Captured requests (with the server's cookies) and the operation each is.
fn live_requests(server: &Server) -> Vec<(String, Operation)> {
    fixtures_ending("wusp", ".request.xml")
        .into_iter()
        .map(|(_, text)| {
            let text = server.live(&text);
            let op = operation_of(&text);
            (text, op)
        })
        .collect()
}

#[test]
fn captured_requests_with_a_live_cookie_are_answered() {
    let server = Server::start();
    for (request, op) in live_requests(&server) {
        let (answer, is_fault) = server.answer(&request, Some(&envelope::soap_action(op)));
        check_answer(Some(op), &answer, is_fault);
        assert!(!is_fault, "{op:?}: {answer}");
    }
}

#[test]
fn mutated_captured_requests_get_their_response_or_a_fault_that_says_why() {
    let server = Server::start();
    let requests = live_requests(&server);
    let strategy = (0..requests.len(), mutations(), any::<bool>());
    let faults = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    TestRunner::new(cases(256))
        .run(&strategy, |(request, mutations, with_action)| {
            let (text, op) = &requests[request];
            let body = apply_all(text, &mutations);
            let action = envelope::soap_action(*op);
            let action = with_action.then_some(action.as_str());
            bodies::soap_request_with(&body, action);
            let (answer, is_fault) = server.answer(&body, action);
            let named = action.map(|_| *op);
            if let Some(code) = check_answer(named, &answer, is_fault) {
                *faults.borrow_mut().entry(code).or_default() += 1;
            }
            Ok(())
        })
        .unwrap();
    // The mutations reach past the XML reader: some requests are refused by the operation's
    // own reader or its handler, not only as unreadable.
    let faults = faults.into_inner();
    assert!(faults.contains_key("InvalidParameters"), "{faults:?}");
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bodies_and_actions_are_read_or_refused(
        data in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        bodies::soap_request(&data);
    }
}

#[test]
fn arbitrary_bodies_get_a_response_or_a_fault() {
    let server = Server::start();
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..1024),
        proptest::option::of(proptest::sample::select(bodies::OPERATIONS.to_vec())),
    );
    TestRunner::new(cases(128))
        .run(&strategy, |(data, op)| {
            let body = String::from_utf8_lossy(&data);
            let action = op.map(envelope::soap_action);
            let (answer, is_fault) = server.answer(&body, action.as_deref());
            check_answer(op, &answer, is_fault);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_captured_request_cut_short_anywhere_is_a_fault_naming_the_problem() {
    for (name, text) in fixtures_ending("wusp", ".request.xml") {
        let op = operation_of(&text);
        let action = envelope::soap_action(op);
        // Whitespace after the root element is not part of the document.
        let document_end = text.trim_end().len();
        for end in (0..document_end).filter(|&end| text.is_char_boundary(end)) {
            let read = bodies::soap_request_with(&text[..end], Some(&action));
            assert_eq!(read, None, "{name} cut at byte {end} was read");
        }
    }
}

/// Names real requests use, so that generated operations hold plausible parameters.
const PARAMETER_NAMES: [&str; 24] = [
    "cookie",
    "Expiration",
    "EncryptedData",
    "parameters",
    "InstalledNonLeafUpdateIDs",
    "OtherCachedUpdateIDs",
    "int",
    "revisionIDs",
    "infoTypes",
    "XmlUpdateFragmentType",
    "locales",
    "string",
    "updateIDs",
    "UpdateIdentity",
    "UpdateID",
    "RevisionNumber",
    "fileDigests",
    "base64Binary",
    "computerInfo",
    "eventBatch",
    "ReportingEvent",
    "clientId",
    "authCookies",
    "protocolVersion",
];

/// An element tree of real parameter names holding hostile values.
fn parameters() -> impl Strategy<Value = String> {
    let name = proptest::sample::select(PARAMETER_NAMES.to_vec());
    let leaf = (name.clone(), hostile_value()).prop_map(|(name, value)| {
        let value = value.replace('&', "&amp;").replace('<', "&lt;");
        format!("<{name}>{value}</{name}>")
    });
    leaf.prop_recursive(5, 64, 8, move |inner| {
        (name.clone(), proptest::collection::vec(inner, 0..8))
            .prop_map(|(name, children)| format!("<{name}>{}</{name}>", children.concat()))
    })
}

#[test]
fn well_formed_operations_holding_the_wrong_things_get_a_response_or_a_fault() {
    let server = Server::start();
    let strategy = (
        proptest::sample::select(bodies::OPERATIONS.to_vec()),
        proptest::collection::vec(parameters(), 0..6),
        any::<bool>(),
    );
    TestRunner::new(cases(128))
        .run(&strategy, |(op, parameters, with_cookie)| {
            let mut inner = parameters.concat();
            if with_cookie {
                let cookie = format!(
                    "<cookie><EncryptedData>{}</EncryptedData></cookie>",
                    server.cookie
                );
                inner.insert_str(0, &cookie);
            }
            let body = envelope::request(&format!(
                "<{0} xmlns=\"{1}\">{inner}</{0}>",
                op.name(),
                envelope::namespace(op)
            ));
            let action = envelope::soap_action(op);
            let read = bodies::soap_request_with(&body, Some(&action));
            assert!(read.is_none() || read == Some(op), "{read:?}");
            let (answer, is_fault) = server.answer(&body, Some(&action));
            check_answer(Some(op), &answer, is_fault);
            Ok(())
        })
        .unwrap();
}
