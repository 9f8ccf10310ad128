//! The captured MS-WUSP traffic the message tests check against (`tests/fixtures/wusp/`),
//! and the helpers that cut an operation out of a captured body. Test-only.

use super::*;
use crate::protocol::soap;
use crate::protocol::wusp::envelope;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../tests/fixtures/wusp/", $name))
    };
}

pub(super) const SCAN_GET_CONFIG: (&str, &str) = (
    fixture!("native-scan-000001.get-config.request.xml"),
    fixture!("native-scan-000001.get-config.response.xml"),
);
pub(super) const SCAN_AUTH: (&str, &str) = (
    fixture!("native-scan-000002.get-authorization-cookie.request.xml"),
    fixture!("native-scan-000002.get-authorization-cookie.response.xml"),
);
pub(super) const SCAN_GET_COOKIE: (&str, &str) = (
    fixture!("native-scan-000003.get-cookie.request.xml"),
    fixture!("native-scan-000003.get-cookie.response.xml"),
);
pub(super) const SCAN_REGISTER: (&str, &str) = (
    fixture!("native-scan-000004.register-computer.request.xml"),
    fixture!("native-scan-000004.register-computer.response.xml"),
);
pub(super) const SCAN_CATEGORY: (&str, &str) = (
    fixture!("native-scan-000005.start-category-scan.request.xml"),
    fixture!("native-scan-000005.start-category-scan.response.xml"),
);
pub(super) const SCAN_SYNC: [(&str, &str); 3] = [
    (
        fixture!("native-scan-000006.sync-updates.request.xml"),
        fixture!("native-scan-000006.sync-updates.response.xml"),
    ),
    (
        fixture!("native-scan-000007.sync-updates.request.xml"),
        fixture!("native-scan-000007.sync-updates.response.xml"),
    ),
    (
        fixture!("native-scan-000008.sync-updates.request.xml"),
        fixture!("native-scan-000008.sync-updates.response.xml"),
    ),
];
pub(super) const SCAN_DRIVER_SYNC_RESPONSE: &str =
    fixture!("native-scan-000009.sync-updates-driver.response.xml");
pub(super) const FLOW_SYNC_RESPONSE: &str = fixture!("native-flow-000001.sync-updates.response.xml");
pub(super) const SCAN_EXTENDED: (&str, &str) = (
    fixture!("native-scan-000010.get-extended-update-info.request.xml"),
    fixture!("native-scan-000010.get-extended-update-info.response.xml"),
);
pub(super) const FLOW_EXTENDED: (&str, &str) = (
    fixture!("native-flow-000015.get-extended-update-info.request.xml"),
    fixture!("native-flow-000015.get-extended-update-info.response.xml"),
);
pub(super) const FLOW_REPORT: (&str, &str) = (
    fixture!("native-flow-000016.report-event-batch.request.xml"),
    fixture!("native-flow-000016.report-event-batch.response.xml"),
);
pub(super) const FLOW_REPORT_FAILURE: &str = fixture!("native-flow-000018.report-event-batch.request.xml");
pub(super) const CBS_FILE_LOCATIONS_RESPONSE: &str = fixture!("cbs-get-file-locations.response.xml");
pub(super) const SPEC_REGISTER: &str = fixture!("spec-08.register-computer.request.xml");
pub(super) const SPEC_REFRESH_CACHE: &str = fixture!("spec-09.refresh-cache.request.xml");
pub(super) const SPEC_FILE_LOCATIONS: &str = fixture!("spec-10.get-file-locations.request.xml");

pub(super) const OOBE_ZDP: Uuid = uuid::uuid!("dd78b8a1-0b20-45c1-add6-4da72e9364cf");

/// The operation element of a request body.
pub(super) fn request_element(body: &str) -> Element {
    envelope::parse_request(body, None).expect("request parses").1
}

pub(super) fn response_element(body: &str) -> Element {
    soap::parse_response(body).expect("response parses")
}

/// The `<name …>…</name>` (or self-closed `<name …/>`) substring of a captured body.
pub(super) fn operation_xml<'a>(body: &'a str, name: &str) -> &'a str {
    let start = body.find(&format!("<{name} ")).expect("operation element");
    let close = format!("</{name}>");
    let end = match body[start..].find(&close) {
        Some(i) => start + i + close.len(),
        None => start + body[start..].find("/>").expect("self-closed") + 2,
    };
    &body[start..end]
}

/// Removes every `<name>…</name>` / `<name/>` (not nested in itself) from serialised XML.
pub(super) fn without(xml: &str, name: &str) -> String {
    let mut out = xml.to_string();
    while let Some(start) = out
        .find(&format!("<{name}>"))
        .or_else(|| out.find(&format!("<{name}/>")))
    {
        let empty = format!("<{name}/>");
        let end = if out[start..].starts_with(&empty) {
            start + empty.len()
        } else {
            let close = format!("</{name}>");
            start + out[start..].find(&close).expect("closed") + close.len()
        };
        out.replace_range(start..end, "");
    }
    out
}

pub(super) fn fault_message<T: std::fmt::Debug>(result: Parsed<T>) -> String {
    let fault = result.expect_err("a fault");
    assert_eq!(fault.code, ErrorCode::InvalidParameters);
    fault.message
}
