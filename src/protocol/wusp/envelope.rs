//! The SOAP envelope of the three client-facing services (docs/protocol.md §1.3–§1.4): which
//! operation a request is, the envelope around an answer and the fault, each in the exact
//! shape a real WSUS uses. ClientWebService answers `s:`-prefixed without an XML
//! declaration; SimpleAuth and Reporting (ASMX) answer `soap:`-prefixed with one.
//! Pure; uses `protocol::{xml, soap}` and the message model.

use super::types::{ClientFault, ErrorCode, Operation, CLIENT_NS, REPORTING_NS, SIMPLE_AUTH_NS};
use crate::protocol::soap::{self, SOAP11_ENVELOPE_NS};
use crate::protocol::xml::{self, escape_text, Element};
use uuid::Uuid;

/// The web service that answers an operation: decides its namespace and envelope style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// ClientWebService (`/ClientWebService/client.asmx`): every operation but two.
    Client,
    /// SimpleAuthWebService: GetAuthorizationCookie.
    SimpleAuth,
    /// ReportingWebService: ReportEventBatch.
    Reporting,
}

impl Service {
    /// SimpleAuth and Reporting are ASMX services: `soap:` prefix, XML declaration, `<X />`.
    pub fn is_asmx(self) -> bool {
        !matches!(self, Service::Client)
    }
}

impl Operation {
    pub(crate) const ALL: [Operation; 12] = [
        Operation::GetConfig,
        Operation::GetAuthorizationCookie,
        Operation::GetCookie,
        Operation::RegisterComputer,
        Operation::StartCategoryScan,
        Operation::SyncUpdates,
        Operation::SyncPrinterCatalog,
        Operation::RefreshCache,
        Operation::GetExtendedUpdateInfo,
        Operation::GetExtendedUpdateInfo2,
        Operation::GetFileLocations,
        Operation::ReportEventBatch,
    ];

    /// The operation element's local name (and the last segment of its SOAPAction).
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetConfig => "GetConfig",
            Operation::GetAuthorizationCookie => "GetAuthorizationCookie",
            Operation::GetCookie => "GetCookie",
            Operation::RegisterComputer => "RegisterComputer",
            Operation::StartCategoryScan => "StartCategoryScan",
            Operation::SyncUpdates => "SyncUpdates",
            Operation::SyncPrinterCatalog => "SyncPrinterCatalog",
            Operation::RefreshCache => "RefreshCache",
            Operation::GetExtendedUpdateInfo => "GetExtendedUpdateInfo",
            Operation::GetExtendedUpdateInfo2 => "GetExtendedUpdateInfo2",
            Operation::GetFileLocations => "GetFileLocations",
            Operation::ReportEventBatch => "ReportEventBatch",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }

    pub(crate) fn service(self) -> Service {
        match self {
            Operation::GetAuthorizationCookie => Service::SimpleAuth,
            Operation::ReportEventBatch => Service::Reporting,
            _ => Service::Client,
        }
    }
}

/// The namespace of the operation's element and of everything inside it.
pub fn namespace(op: Operation) -> &'static str {
    match op.service() {
        Service::Client => CLIENT_NS,
        Service::SimpleAuth => SIMPLE_AUTH_NS,
        Service::Reporting => REPORTING_NS,
    }
}

/// The `SOAPAction` header value, quoted as Windows sends it and as WSUS echoes it in a
/// fault's `Method`: `"<namespace>/<Operation>"`.
pub fn soap_action(op: Operation) -> String {
    format!("\"{}\"", action_uri(op))
}

fn action_uri(op: Operation) -> String {
    format!("{}/{}", namespace(op), op.name())
}

/// Reads a request body: a SOAP 1.1 or 1.2 envelope with any prefixes (SOAP-encoded arrays
/// and `xsi:nil` of old clients included). The operation comes from the SOAPAction header
/// (quoted or not) and must agree with the body's first element; without a known action it
/// is the body element's name. Returns the operation and its element.
pub fn parse_request(body: &str, soap_action: Option<&str>) -> Result<(Operation, Element), ClientFault> {
    parse_request_until(body, soap_action, &|| None)
}

/// `parse_request` with the reader's `stop` question (`xml::parse_until`).
pub fn parse_request_until(
    body: &str,
    soap_action: Option<&str>,
    stop: &dyn Fn() -> Option<&'static str>,
) -> Result<(Operation, Element), ClientFault> {
    let element = body_element(body, stop)?;
    let by_element = Operation::from_name(&element.name);
    let by_action = soap_action.and_then(operation_of_action);
    let op = match (by_action, by_element) {
        (Some(action), Some(body_op)) => reconcile(action, body_op)?,
        (None, Some(body_op)) => body_op,
        (_, None) => {
            let action = soap_action.map(unquote).unwrap_or_default();
            return Err(invalid(format!(
                "unknown operation `{}` (SOAPAction `{action}`)",
                element.name
            )));
        }
    };
    Ok((op, element))
}

/// Update ids one `MiscData` list of a reported event may name. Event 156 lists a machine's
/// needed (`U=`), installed (`V=`) and pending-reboot (`W=`) updates; one scan evaluates at
/// most 40,000 (the agent gives up after 200 SyncUpdates pages of 200), so this is room for
/// any machine, with the usual per-element limit still bounding everything else.
pub const MAX_LISTED_UPDATES: usize = 64_000;

/// The one place a client request may hold more than `Limits::CLIENT_REQUEST.text`: a
/// reported event's `MiscData` string, where the update lists are upper-case GUIDs joined
/// with `;` after the tag (docs/protocol.md §6.1), 37 bytes an id. The usual 64 KiB held 1,771
/// ids, and a machine missing more could never report.
pub const REPORTED_UPDATE_LIST: xml::LongText = xml::LongText {
    path: &[
        "ReportEventBatch",
        "eventBatch",
        "ReportingEvent",
        "ExtendedData",
        "MiscData",
        "string",
    ],
    text: "U=".len() + MAX_LISTED_UPDATES * "01234567-89AB-CDEF-0123-456789ABCDEF;".len(),
};

/// The first element inside `Envelope/Body`.
fn body_element(body: &str, stop: &dyn Fn() -> Option<&'static str>) -> Result<Element, ClientFault> {
    let limits = &xml::Limits::CLIENT_REQUEST;
    let root = xml::parse_request_with_long_text(body, limits, &REPORTED_UPDATE_LIST, stop)
        .map_err(|e| invalid(e.to_string()))?;
    if root.name != "Envelope" {
        return Err(invalid(format!(
            "not a SOAP envelope: root element `{}`",
            root.name
        )));
    }
    let body = root
        .children
        .into_iter()
        .find(|c| c.name == "Body")
        .ok_or_else(|| invalid("SOAP envelope has no Body"))?;
    body.children
        .into_iter()
        .next()
        .ok_or_else(|| invalid("SOAP Body is empty"))
}

/// The SOAPAction must name the body's operation; the one exception is SyncPrinterCatalog,
/// whose action MS-WUSP's prose gives as `…/SyncUpdates` while the WSDL says
/// `…/SyncPrinterCatalog` — both are accepted.
fn reconcile(action: Operation, body_op: Operation) -> Result<Operation, ClientFault> {
    match (action, body_op) {
        (a, b) if a == b => Ok(a),
        (Operation::SyncUpdates, Operation::SyncPrinterCatalog) => Ok(Operation::SyncPrinterCatalog),
        (a, b) => Err(invalid(format!(
            "SOAPAction names {} but the body holds {}",
            a.name(),
            b.name()
        ))),
    }
}

/// The operation a SOAPAction header names, if any (quoted or not, any letter case).
pub fn operation_of_action(header: &str) -> Option<Operation> {
    let action = unquote(header);
    Operation::ALL
        .into_iter()
        .find(|op| action_uri(*op).eq_ignore_ascii_case(action))
}

fn unquote(header: &str) -> &str {
    header.trim().trim_matches('"').trim()
}

fn invalid(message: impl Into<String>) -> ClientFault {
    ClientFault::new(ErrorCode::InvalidParameters, message)
}

const XSI_XSD: &str =
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#;

/// Wraps a serialised `<Op xmlns=…>` element as Windows 11 sends it, to every service:
/// `s:` prefix, no declaration, nothing on `s:Body`.
pub fn request(operation_xml: &str) -> String {
    format!("<s:Envelope xmlns:s=\"{SOAP11_ENVELOPE_NS}\"><s:Body>{operation_xml}</s:Body></s:Envelope>")
}

/// Wraps a serialised `<OpResponse xmlns=…>` element as the real service does:
/// ClientWebService puts `xsi`/`xsd` on `s:Body` and writes no declaration; the ASMX
/// services (SimpleAuth, Reporting) use `soap:`, a declaration and `xsi`/`xsd` on the envelope.
pub fn response(op: Operation, operation_xml: &str) -> String {
    if op.service().is_asmx() {
        return soap::envelope(operation_xml);
    }
    // Pushed rather than formatted: a page of updates is hundreds of KiB, copied once here.
    let mut out = String::with_capacity(operation_xml.len() + 256);
    for piece in [
        "<s:Envelope xmlns:s=\"",
        SOAP11_ENVELOPE_NS,
        "\"><s:Body ",
        XSI_XSD,
        ">",
        operation_xml,
        "</s:Body></s:Envelope>",
    ] {
        out.push_str(piece);
    }
    out
}

/// A SOAP 1.1 fault as WSUS sends it (docs/protocol.md §1.4): `faultcode` Client or Server,
/// `faultstring` `Fault occurred`, an optional `faultactor` (the service URL; the real
/// ClientWebService sends none), and `detail` with unqualified `ErrorCode`, `Message`, `ID`
/// and `Method` (the quoted SOAPAction; left out when the operation is unknown). Unknown
/// operations get the ClientWebService shape.
pub fn fault(op: Option<Operation>, fault: &ClientFault, fault_id: Uuid, actor: Option<&str>) -> String {
    let asmx = op.is_some_and(|op| op.service().is_asmx());
    let prefix = if asmx { "soap" } else { "s" };
    let side = if fault.code.is_server_side() {
        "Server"
    } else {
        "Client"
    };
    let actor = actor
        .map(|a| format!("<faultactor>{}</faultactor>", escape_text(a)))
        .unwrap_or_default();
    let method = op
        .map(|op| format!("<Method>{}</Method>", escape_text(&soap_action(op))))
        .unwrap_or_default();
    let inner = format!(
        "<{prefix}:Fault><faultcode>{prefix}:{side}</faultcode><faultstring>Fault occurred</faultstring>{actor}<detail><ErrorCode>{}</ErrorCode><Message>{}</Message><ID>{fault_id}</ID>{method}</detail></{prefix}:Fault>",
        fault.code.as_str(),
        escape_text(&fault.message),
    );
    if asmx {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"{SOAP11_ENVELOPE_NS}\" {XSI_XSD}><soap:Body>{inner}</soap:Body></soap:Envelope>"
        )
    } else {
        format!("<s:Envelope xmlns:s=\"{SOAP11_ENVELOPE_NS}\"><s:Body>{inner}</s:Body></s:Envelope>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::soap::SoapError;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/wusp/", $name))
        };
    }

    /// Every captured request with the SOAPAction Windows sent with it.
    const REQUESTS: [(Operation, &str); 11] = [
        (
            Operation::GetConfig,
            fixture!("native-scan-000001.get-config.request.xml"),
        ),
        (
            Operation::GetAuthorizationCookie,
            fixture!("native-scan-000002.get-authorization-cookie.request.xml"),
        ),
        (
            Operation::GetCookie,
            fixture!("native-scan-000003.get-cookie.request.xml"),
        ),
        (
            Operation::RegisterComputer,
            fixture!("native-scan-000004.register-computer.request.xml"),
        ),
        (
            Operation::StartCategoryScan,
            fixture!("native-scan-000005.start-category-scan.request.xml"),
        ),
        (
            Operation::SyncUpdates,
            fixture!("native-scan-000006.sync-updates.request.xml"),
        ),
        (
            Operation::GetExtendedUpdateInfo,
            fixture!("native-scan-000010.get-extended-update-info.request.xml"),
        ),
        (
            Operation::ReportEventBatch,
            fixture!("native-flow-000016.report-event-batch.request.xml"),
        ),
        (
            Operation::RegisterComputer,
            fixture!("spec-08.register-computer.request.xml"),
        ),
        (
            Operation::RefreshCache,
            fixture!("spec-09.refresh-cache.request.xml"),
        ),
        (
            Operation::GetFileLocations,
            fixture!("spec-10.get-file-locations.request.xml"),
        ),
    ];

    /// Every captured response and the operation it answers.
    const RESPONSES: [(Operation, &str); 12] = [
        (
            Operation::GetConfig,
            fixture!("native-scan-000001.get-config.response.xml"),
        ),
        (
            Operation::GetAuthorizationCookie,
            fixture!("native-scan-000002.get-authorization-cookie.response.xml"),
        ),
        (
            Operation::GetCookie,
            fixture!("native-scan-000003.get-cookie.response.xml"),
        ),
        (
            Operation::RegisterComputer,
            fixture!("native-scan-000004.register-computer.response.xml"),
        ),
        (
            Operation::StartCategoryScan,
            fixture!("native-scan-000005.start-category-scan.response.xml"),
        ),
        (
            Operation::SyncUpdates,
            fixture!("native-scan-000006.sync-updates.response.xml"),
        ),
        (
            Operation::SyncUpdates,
            fixture!("native-scan-000009.sync-updates-driver.response.xml"),
        ),
        (
            Operation::SyncUpdates,
            fixture!("native-flow-000001.sync-updates.response.xml"),
        ),
        (
            Operation::GetExtendedUpdateInfo,
            fixture!("native-scan-000010.get-extended-update-info.response.xml"),
        ),
        (
            Operation::GetExtendedUpdateInfo,
            fixture!("native-flow-000015.get-extended-update-info.response.xml"),
        ),
        (
            Operation::GetFileLocations,
            fixture!("cbs-get-file-locations.response.xml"),
        ),
        (
            Operation::ReportEventBatch,
            fixture!("native-flow-000016.report-event-batch.response.xml"),
        ),
    ];

    const REAL_FAULT: &str = fixture!("wsus-m0-000141.fault-invalid-parameters.xml");
    /// A real fault of the same server's ASMX ServerSync service (the MS-WSUSSS fixtures).
    const REAL_ASMX_FAULT: &str =
        include_str!("../../../tests/fixtures/wsusss/000018.fault-invalid-parameters.xml");

    fn message(result: Result<(Operation, Element), ClientFault>) -> String {
        let fault = result.expect_err("a fault");
        assert_eq!(fault.code, ErrorCode::InvalidParameters);
        fault.message
    }

    #[test]
    fn actions_and_namespaces_are_the_wsdl_ones() {
        assert_eq!(
            soap_action(Operation::GetConfig),
            "\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetConfig\""
        );
        assert_eq!(
            soap_action(Operation::GetAuthorizationCookie),
            "\"http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService/GetAuthorizationCookie\""
        );
        assert_eq!(
            soap_action(Operation::ReportEventBatch),
            "\"http://www.microsoft.com/SoftwareDistribution/ReportEventBatch\""
        );
        assert_eq!(
            soap_action(Operation::SyncPrinterCatalog),
            "\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/SyncPrinterCatalog\""
        );
        assert_eq!(namespace(Operation::GetExtendedUpdateInfo2), CLIENT_NS);
        assert_eq!(namespace(Operation::GetAuthorizationCookie), SIMPLE_AUTH_NS);
        assert_eq!(namespace(Operation::ReportEventBatch), REPORTING_NS);
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(op));
        }
    }

    #[test]
    fn captured_header_is_what_soap_action_gives() {
        let headers = fixture!("native-scan-000001.get-config.request.headers");
        let line = format!("SOAPAction: {}\r\n", soap_action(Operation::GetConfig));
        assert!(headers.contains(&line), "{headers}");
    }

    #[test]
    fn real_requests_dispatch_with_quoted_unquoted_or_no_action() {
        for (op, body) in REQUESTS {
            let quoted = soap_action(op);
            let unquoted = quoted.trim_matches('"').to_string();
            for action in [
                Some(quoted.as_str()),
                Some(unquoted.as_str()),
                Some(" \"\" "),
                None,
            ] {
                let (got, element) = parse_request(body, action).unwrap_or_else(|f| panic!("{op:?}: {f:?}"));
                assert_eq!(got, op);
                assert_eq!(element.name, op.name());
            }
        }
    }

    #[test]
    fn sync_printer_catalog_accepts_both_documented_actions() {
        let body = request(&format!("<SyncPrinterCatalog xmlns=\"{CLIENT_NS}\"/>"));
        let prose = format!("\"{CLIENT_NS}/SyncUpdates\"");
        for action in [prose, soap_action(Operation::SyncPrinterCatalog)] {
            assert_eq!(
                parse_request(&body, Some(&action)).unwrap().0,
                Operation::SyncPrinterCatalog
            );
        }
    }

    #[test]
    fn an_action_that_contradicts_the_body_is_refused() {
        let (_, body) = REQUESTS[0];
        let action = soap_action(Operation::GetCookie);
        let message = message(parse_request(body, Some(&action)));
        assert!(
            message.contains("GetCookie") && message.contains("GetConfig"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_action_falls_back_to_the_body() {
        let (_, body) = REQUESTS[0];
        let got = parse_request(body, Some("\"urn:something-else\"")).unwrap().0;
        assert_eq!(got, Operation::GetConfig);
    }

    #[test]
    fn unknown_operations_are_invalid_parameters() {
        let body = request(&format!("<ReportEventBatch2 xmlns=\"{REPORTING_NS}\"/>"));
        let action = "\"http://www.microsoft.com/SoftwareDistribution/ReportEventBatch2\"";
        let message = message(parse_request(&body, Some(action)));
        assert!(message.contains("ReportEventBatch2"), "{message}");
    }

    #[test]
    fn soap_12_envelopes_are_accepted() {
        let body = format!(
            "<?xml version=\"1.0\"?><env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Header/><env:Body><GetConfig xmlns=\"{CLIENT_NS}\"><protocolVersion>1.8</protocolVersion></GetConfig></env:Body></env:Envelope>"
        );
        let (op, element) = parse_request(&body, None).unwrap();
        assert_eq!(op, Operation::GetConfig);
        assert_eq!(element.child_text("protocolVersion"), Some("1.8"));
    }

    #[test]
    fn malformed_envelopes_say_what_is_wrong() {
        let (_, body) = REQUESTS[0];
        assert!(message(parse_request("<html><body/></html>", None)).contains("not a SOAP envelope"));
        assert!(message(parse_request("<s:Envelope xmlns:s=\"x\"/>", None)).contains("no Body"));
        assert!(message(parse_request(&request(""), None)).contains("Body is empty"));
        assert!(message(parse_request(&body[..body.len() - 5], None)).contains("malformed"));
        assert!(message(parse_request("", None)).contains("no root element"));
        let bomb = format!("<?xml version=\"1.0\"?><!DOCTYPE s:Envelope [<!ENTITY a \"aaaaaaaa\">]>{body}");
        assert!(message(parse_request(&bomb, None)).contains("DOCTYPE"));
        let entity = body.replace("2.90", "&a;");
        assert!(message(parse_request(&entity, None)).contains("undeclared entity"));
    }

    #[test]
    fn every_truncation_of_a_request_is_a_fault() {
        let (_, body) = REQUESTS[2];
        for end in (0..body.len()).filter(|&end| body.is_char_boundary(end)) {
            assert!(parse_request(&body[..end], None).is_err(), "accepted {end} bytes");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "<a>".repeat(200) + &"</a>".repeat(200);
        let body = request(&format!("<GetConfig xmlns=\"{CLIENT_NS}\">{deep}</GetConfig>"));
        assert!(message(parse_request(&body, None)).contains("deeper"));
    }

    /// A ReportEventBatch whose one event lists `ids` update ids under `U=` in `MiscData`, as
    /// Windows writes the list (upper case, `;` between).
    fn report_listing(ids: usize) -> String {
        let list: Vec<String> = (0..ids)
            .map(|n| Uuid::from_u128(0xA000_0000_0000_0000_0000_0000_0000_0000 + n as u128))
            .map(|id| id.to_string().to_uppercase())
            .collect();
        request(&format!(
            "<ReportEventBatch xmlns=\"{REPORTING_NS}\"><eventBatch><ReportingEvent><ExtendedData>\
             <MiscData><string>G=1507.2601.30012.0</string><string>U={}</string></MiscData>\
             </ExtendedData></ReportingEvent></eventBatch></ReportEventBatch>",
            list.join(";")
        ))
    }

    #[test]
    fn a_reported_list_of_64000_update_ids_is_read_and_one_more_is_refused() {
        let (op, element) = parse_request(&report_listing(64_000), None).unwrap();
        assert_eq!(op, Operation::ReportEventBatch);
        let misc = element
            .path(&["eventBatch", "ReportingEvent", "ExtendedData", "MiscData"])
            .unwrap();
        let list = &misc.children[1].text;
        assert_eq!(list.len(), 2 + 64_000 * 37 - 1);
        assert_eq!(list.split(';').count(), 64_000);
        let over = message(parse_request(&report_listing(64_001), None));
        assert_eq!(over, "XML element `string` has more than 2368002 bytes of text");
    }

    #[test]
    fn only_a_reported_events_misc_data_may_hold_the_long_list() {
        let long = "x".repeat((64 << 10) + 1);
        let misc = format!("<MiscData><string>{long}</string></MiscData>");
        let event = format!("<ReportingEvent><ExtendedData>{misc}</ExtendedData></ReportingEvent>");
        for operation in [
            format!("<GetConfig xmlns=\"{CLIENT_NS}\"><eventBatch>{event}</eventBatch></GetConfig>"),
            format!("<ReportEventBatch xmlns=\"{REPORTING_NS}\"><eventBatch>{misc}</eventBatch></ReportEventBatch>"),
            format!(
                "<ReportEventBatch xmlns=\"{REPORTING_NS}\"><eventBatch><ReportingEvent><ExtendedData>\
                 <ReplacementStrings><string>{long}</string></ReplacementStrings>\
                 </ExtendedData></ReportingEvent></eventBatch></ReportEventBatch>"
            ),
        ] {
            let message = message(parse_request(&request(&operation), None));
            assert_eq!(message, "XML element `string` has more than 65536 bytes of text");
        }
    }

    #[test]
    fn responses_are_wrapped_exactly_as_each_real_service_does() {
        for (op, body) in RESPONSES {
            let name = format!("{}Response", op.name());
            let start = body.find(&format!("<{name} ")).unwrap();
            let close = format!("</{name}>");
            let end = body
                .find(&close)
                .map_or_else(|| body.rfind("/>").unwrap() + 2, |i| i + close.len());
            assert_eq!(response(op, &body[start..end]), body, "{name}");
        }
    }

    #[test]
    fn fault_is_byte_identical_to_the_real_client_service_fault() {
        let fault_id = Uuid::parse_str("81418b4e-82c1-48d0-9504-da01db6148ae").unwrap();
        let invalid = ClientFault::new(
            ErrorCode::InvalidParameters,
            "parameters.InstalledNonLeafUpdateIDs",
        );
        assert_eq!(
            fault(Some(Operation::SyncUpdates), &invalid, fault_id, None),
            REAL_FAULT
        );
    }

    /// SimpleAuth and Reporting are ASMX services: their faults take the shape of the same
    /// server's real ASMX fault (here from ServerSync; only the `Method` differs).
    #[test]
    fn asmx_faults_have_the_real_asmx_shape() {
        let fault_id = Uuid::parse_str("94327110-fc7e-4c3c-878d-186ab273d9fd").unwrap();
        let actor = "http://127.0.0.1:8530/ServerSyncWebService/ServerSyncWebService.asmx";
        let invalid = ClientFault::new(ErrorCode::InvalidParameters, "filter");
        let ours = fault(Some(Operation::ReportEventBatch), &invalid, fault_id, Some(actor));
        let expected = REAL_ASMX_FAULT.replace("/GetRevisionIdList\"", "/ReportEventBatch\"");
        assert_eq!(ours, expected);
    }

    #[test]
    fn an_empty_message_and_an_unknown_operation() {
        let server = ClientFault::new(ErrorCode::InternalServerError, "");
        let body = fault(None, &server, Uuid::nil(), None);
        assert!(body.contains("<faultcode>s:Server</faultcode>"), "{body}");
        assert!(body.contains("<Message></Message>"), "{body}");
        assert!(!body.contains("<Method>"), "{body}");
        let escaped = ClientFault::new(ErrorCode::InvalidParameters, "a<b & \"c\"");
        let body = fault(Some(Operation::GetConfig), &escaped, Uuid::nil(), None);
        assert!(body.contains("<Message>a&lt;b &amp; \"c\"</Message>"), "{body}");
    }

    /// Checks one fault code end to end: the body `fault()` writes is read back by the
    /// SOAP layer as that fault, with the right faultcode and Method.
    fn check_fault(code: ErrorCode, op: Operation) {
        let fault_id = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        let body = fault(Some(op), &ClientFault::new(code, "why"), fault_id, None);
        let prefix = if op.service().is_asmx() { "soap" } else { "s" };
        let side = if code.is_server_side() { "Server" } else { "Client" };
        let Err(SoapError::Fault(read)) = soap::parse_response(&body) else {
            panic!("not read as a fault: {body}")
        };
        assert_eq!(read.error_code.as_deref(), Some(code.as_str()));
        assert_eq!(read.code, format!("{prefix}:{side}"));
        assert_eq!(read.reason, "Fault occurred");
        assert_eq!(read.message, "why");
        let detail = xml::parse(&body).unwrap();
        let detail = detail.path(&["Body", "Fault", "detail"]).unwrap();
        assert_eq!(detail.child_text("Method"), Some(soap_action(op).as_str()));
        assert_eq!(detail.child_text("ID"), Some(fault_id.to_string().as_str()));
    }

    macro_rules! fault_tests {
        ($($test:ident: $code:ident on $op:ident,)*) => {
            $(
                #[test]
                fn $test() {
                    check_fault(ErrorCode::$code, Operation::$op);
                }
            )*
        };
    }

    fault_tests! {
        fault_invalid_cookie: InvalidCookie on SyncUpdates,
        fault_server_changed: ServerChanged on GetCookie,
        fault_config_changed: ConfigChanged on GetCookie,
        fault_cookie_expired: CookieExpired on GetExtendedUpdateInfo,
        fault_registration_required: RegistrationRequired on SyncUpdates,
        fault_registration_not_required: RegistrationNotRequired on RegisterComputer,
        fault_invalid_authorization_cookie: InvalidAuthorizationCookie on GetCookie,
        fault_invalid_parameters: InvalidParameters on ReportEventBatch,
        fault_internal_server_error: InternalServerError on GetAuthorizationCookie,
        fault_server_busy: ServerBusy on SyncUpdates,
        fault_file_location_changed: FileLocationChanged on GetFileLocations,
    }
}
