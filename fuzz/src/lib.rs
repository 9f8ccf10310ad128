//! The bodies of wucache's fuzz targets, as plain functions over arbitrary bytes. Each feeds
//! one parser and asserts what must hold whatever the input; a panic is a finding. The
//! binaries in `fuzz_targets/` call them under libFuzzer (nightly, `cargo fuzz`); the property
//! tests in `tests/it/properties/` include this file and call the same functions on stable, so
//! the bodies compile and run with every `cargo test`.
//!
//! What "must hold" is what a caller relies on: an error carries a message, a tree the XML
//! reader returns is within the limits it was given, a byte range lies inside the file, a
//! config that loads validates, a request the SOAP reader accepts names the operation it is.

use wucache::config::Config;
use wucache::content::range::{if_range_matches, parse_range, RangeRequest, MAX_RANGES};
use wucache::protocol::wusp::{envelope, messages, ClientFault, Operation};
use wucache::protocol::xml::{self, Element, Limits};
use wucache::protocol::{blob, fragment, soap, update_xml, wsusss, xpress};

/// Limits small enough that short fuzz inputs cross every one of them.
pub const SMALL_LIMITS: Limits = Limits {
    depth: 4,
    elements: 16,
    attributes: 3,
    text: 32,
};

/// Largest output the Xpress target lets a stream decode to.
pub const XPRESS_OUTPUT_LIMIT: usize = 1 << 20;

/// Every client operation, in a fixed order (a fuzz byte picks one by index).
pub const OPERATIONS: [Operation; 12] = [
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

/// The XML reader, under the client-request limits and under [`SMALL_LIMITS`]: a document is
/// refused with a message, or read into a tree within every limit.
pub fn xml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for limits in [Limits::CLIENT_REQUEST, SMALL_LIMITS] {
        match xml::parse_with(text, &limits) {
            Ok(root) => assert_within(&root, &limits),
            Err(err) => assert_message(&err),
        }
    }
}

/// Panics unless `root` is within `limits`: depth, element count, text per element.
pub fn assert_within(root: &Element, limits: &Limits) {
    let mut elements = 0;
    let mut stack = vec![(root, 1)];
    while let Some((element, depth)) = stack.pop() {
        elements += 1;
        assert!(depth <= limits.depth, "`{}` at depth {depth}", element.name);
        assert!(
            element.text.len() <= limits.text,
            "`{}` holds {} bytes of text",
            element.name,
            element.text.len()
        );
        stack.extend(element.children.iter().map(|child| (child, depth + 1)));
    }
    assert!(elements <= limits.elements, "{elements} elements");
}

/// A client SOAP request: the first byte picks the SOAPAction (one of [`OPERATIONS`], none,
/// or a wrong one), the rest is the body.
pub fn soap_request(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    let action = match OPERATIONS.get(usize::from(selector) % 16) {
        Some(op) => Some(envelope::soap_action(*op)),
        None if selector % 2 == 0 => None,
        None => Some("\"urn:not-an-operation\"".to_string()),
    };
    soap_request_with(body, action.as_deref());
}

/// [`soap_request`] with the body and SOAPAction apart: a request read is the operation its
/// element names (the action's, or SyncPrinterCatalog under the SyncUpdates action, which
/// MS-WUSP allows), and each public request parser answers it or names the fault.
pub fn soap_request_with(body: &str, action: Option<&str>) -> Option<Operation> {
    let (op, element) = match envelope::parse_request(body, action) {
        Ok(read) => read,
        Err(fault) => {
            assert_fault_message(&fault, None);
            return None;
        }
    };
    assert_eq!(element.name, op.name());
    if let Some(named) = action.and_then(operation_of_action) {
        let printer_exception = named == Operation::SyncUpdates && op == Operation::SyncPrinterCatalog;
        assert!(named == op || printer_exception, "{named:?} read as {op:?}");
    }
    let parsed = match op {
        Operation::SyncUpdates => messages::parse_sync_updates_request(&element).map(drop),
        Operation::GetExtendedUpdateInfo => {
            messages::parse_get_extended_update_info_request(&element).map(drop)
        }
        _ => Ok(()),
    };
    if let Err(fault) = parsed {
        assert_fault_message(&fault, Some(op));
    }
    Some(op)
}

fn operation_of_action(action: &str) -> Option<Operation> {
    let action = action.trim().trim_matches('"');
    OPERATIONS.into_iter().find(|op| {
        envelope::soap_action(*op)
            .trim_matches('"')
            .eq_ignore_ascii_case(action)
    })
}

/// Panics unless `fault`, as the client receives it, is an `InvalidParameters` fault whose
/// `Message` says something (the fields of `ClientFault` are the crate's own, so it is read
/// back off the wire).
pub fn assert_fault_message(fault: &ClientFault, op: Option<Operation>) {
    let wire = envelope::fault(op, fault, uuid::Uuid::nil(), None);
    match soap::parse_response(&wire) {
        Err(soap::SoapError::Fault(read)) => {
            assert_eq!(read.error_code.as_deref(), Some("InvalidParameters"), "{wire}");
            assert!(read.to_string().contains(", message `"), "no message: {wire}");
        }
        other => panic!("a fault envelope reads as {other:?}: {wire}"),
    }
}

/// An update document (`upd:Update`): the catalog's reader and the four fragment derivations
/// each answer or say why not.
pub fn update_xml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(err) = update_xml::parse_update(text) {
        assert_message(&err);
    }
    for derived in [
        fragment::core(text).map(drop),
        fragment::extended(text).map(drop),
        fragment::localized(text, &["en-US", "de"]).map(drop),
        fragment::eulas(text).map(drop),
    ] {
        if let Err(err) = derived {
            assert_message(&err);
        }
    }
}

/// `XmlUpdateBlobCompressed` bytes: a cabinet decoded to text or refused with a message.
pub fn blob(data: &[u8]) {
    if let Err(err) = blob::decode_compressed(data) {
        assert_message(&err);
    }
    match blob::utf16le_to_string(data) {
        Ok(text) => assert!(text.encode_utf16().count() <= data.len() / 2),
        Err(err) => assert_message(&err),
    }
}

/// An Xpress stream: decoded within [`XPRESS_OUTPUT_LIMIT`] or refused with a message; and the
/// bytes themselves survive compression and decompression unchanged.
pub fn xpress(data: &[u8]) {
    match xpress::decompress(data, XPRESS_OUTPUT_LIMIT) {
        Ok(out) => assert!(out.len() <= XPRESS_OUTPUT_LIMIT),
        Err(err) => assert_message(&err),
    }
    if let Some((size, block)) = data.split_first_chunk::<2>() {
        let size = usize::from(u16::from_le_bytes(*size));
        match xpress::decompress_block(block, size) {
            Ok(out) => assert_eq!(out.len(), size),
            Err(err) => assert_message(&err),
        }
    }
    let packed = xpress::compress(data);
    assert_eq!(xpress::decompress(&packed, data.len()).as_deref(), Ok(data));
}

/// A MS-WSUSSS answer: the SOAP reader gives the operation element, a fault, or an error, and
/// GetAuthConfig's reader (the one public) answers or says what is missing.
pub fn wsusss_response(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match soap::parse_response(text) {
        Ok(element) => {
            if let Err(err) = wsusss::parse_auth_config(&element) {
                assert_message(&err);
            }
        }
        Err(err) => assert_message(&err),
    }
}

/// A `Range` header against a file size (the first eight bytes, little-endian; the rest is
/// the header): every range it grants lies in the file, ascending and apart, at most
/// [`MAX_RANGES`] of them and together no larger than the file.
pub fn range(data: &[u8]) {
    let (size, header) = match data.split_first_chunk::<8>() {
        Some((size, header)) => (u64::from_le_bytes(*size) >> (size[7] % 64), header),
        None => (data.len() as u64, data),
    };
    let header = String::from_utf8_lossy(header);
    check_range(&header, size);
    let middle = (0..=header.len() / 2).rev().find(|&i| header.is_char_boundary(i));
    let (etag, last_modified) = header.split_at(middle.unwrap_or(0));
    let _ = if_range_matches(&header, etag, last_modified);
    let tag = header.trim_matches([' ', '\t']);
    if tag.starts_with('"') {
        assert!(if_range_matches(&header, tag, ""), "an entity tag matches itself");
    }
}

/// Panics unless `parse_range(header, size)` is a consistent answer (see [`range`]); returns
/// it.
pub fn check_range(header: &str, size: u64) -> RangeRequest {
    let answer = parse_range(Some(header), size);
    match &answer {
        RangeRequest::Whole => {}
        RangeRequest::Unsatisfiable => {
            let unit = header
                .split_once('=')
                .map(|(unit, _)| unit.trim_matches([' ', '\t']));
            assert!(
                unit.is_some_and(|u| u.eq_ignore_ascii_case("bytes")),
                "416 for a header that is not a bytes range: {header:?}"
            );
        }
        RangeRequest::Single(range) => assert!(range.length() <= size, "{range:?} of {size}"),
        RangeRequest::Multi(ranges) => {
            assert!((2..=MAX_RANGES).contains(&ranges.len()), "{ranges:?}");
            assert!(ranges.windows(2).all(|pair| pair[0] < pair[1]), "{ranges:?}");
            let total: u128 = ranges.iter().map(|r| u128::from(r.length())).sum();
            assert!(total < u128::from(size), "{ranges:?} of {size}");
        }
    }
    answer
}

/// A `wucache.toml`: refused naming where it came from, or loaded into a config that
/// validates.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml(text, "fuzz.toml") {
        Ok(config) => assert!(config.validate("fuzz.toml").is_ok()),
        Err(err) => {
            assert_message(&err);
            assert!(err.to_string().starts_with("config fuzz.toml"), "{err}");
        }
    }
}

/// A baseline file (TOML) and an AWS JSON baseline: loaded, or refused with a message.
pub fn baselines(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let no_files = |path: &str| Err(format!("{path}: no files here"));
    if let Err(err) = wucache::approval::BaselineSet::from_toml(text, &no_files) {
        assert_message(&err);
    }
    if let Err(err) = wucache::approval::Baseline::from_json(text) {
        assert_message(&err);
    }
}

/// Panics unless an error says something.
pub fn assert_message(err: &dyn std::fmt::Display) {
    assert!(!err.to_string().trim().is_empty(), "an error without a message");
}
