//! MS-WUSP messages on the wire: for every operation the server side parses the request and
//! builds the response, and the client side (our simulated Windows client) builds the request
//! and parses the response. Element names, order and namespaces are those of the real
//! WSUS / Windows 11 traffic (docs/protocol.md §2, fixtures in `tests/fixtures/wusp/`); where the
//! traffic is silent, the published WSDL.
//!
//! Conventions, as the real server writes them: children unprefixed in the operation's
//! namespace; arrays as repeated children; an empty `Vec` is sent as no element at all
//! (WSUS sends null, not `<X/>`, for an empty NewUpdates, FileLocations, error list …),
//! an `Option<Vec>` that is `Some(empty)` as `<X/>`; text escapes only `&`, `<`, `>` (and
//! `\r`, which XML would otherwise normalise away); ClientWebService self-closes as `<X/>`,
//! the ASMX services (SimpleAuth, Reporting) as `<X />`.
//!
//! Parsing checks structure only: a required element missing, or a value that is not an
//! int / boolean / GUID / base64 of its type, is a `ClientFault` InvalidParameters whose
//! message is the parameter path (`parameters.InstalledNonLeafUpdateIDs[3]`), as WSUS
//! names it. Unknown elements are ignored; `xsi:nil` counts as absent. Pure; uses only
//! the message model, `protocol::xml` and `model`.
//!
//! One file per SOAP service: `simple_auth` (GetAuthorizationCookie), `handshake` (the
//! ClientWebService handshake: GetConfig, GetCookie, RegisterComputer), `scan`
//! (StartCategoryScan, SyncUpdates, SyncPrinterCatalog, RefreshCache), `update_info`
//! (GetExtendedUpdateInfo and 2, GetFileLocations) and `reporting` (ReportEventBatch). This
//! file holds what they share: the element writer (escaping with `protocol::xml`) and the
//! readers that name a faulty parameter; every operation's functions are re-exported here.

use super::types::*;
use crate::model::UpdateIdentity;
use crate::protocol::xml::{push_escaped_text, Element};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use std::fmt::{Display, Write};
use std::str::FromStr;
use uuid::Uuid;

type Parsed<T> = Result<T, ClientFault>;

mod handshake;
mod reporting;
mod scan;
mod simple_auth;
mod update_info;

pub use handshake::*;
pub use reporting::*;
pub use scan::*;
pub use simple_auth::*;
pub use update_info::*;

#[cfg(test)]
mod test_fixtures;
#[cfg(test)]
mod test_generator;
#[cfg(test)]
mod tests;

// ---- Writing ---------------------------------------------------------------------------

/// Writes one element tree; an element whose body writes nothing is self-closed.
struct Writer {
    out: String,
    empty_tag: &'static str,
}

impl Writer {
    /// ClientWebService and the Windows client: `<X/>`.
    fn client() -> Writer {
        Writer::client_sized(0)
    }

    /// `client`, with room for `capacity` bytes (a big answer then grows without copies).
    fn client_sized(capacity: usize) -> Writer {
        Writer {
            out: String::with_capacity(capacity),
            empty_tag: "/>",
        }
    }

    /// The ASMX services (SimpleAuth, Reporting): `<X />`.
    fn asmx() -> Writer {
        Writer {
            out: String::new(),
            empty_tag: " />",
        }
    }

    fn root(mut self, name: &str, namespace: &str, body: impl FnOnce(&mut Writer)) -> String {
        let _ = write!(self.out, "<{name} xmlns=\"{namespace}\"");
        self.finish(name, body);
        self.out
    }

    fn element(&mut self, name: &str, body: impl FnOnce(&mut Writer)) {
        self.out.push('<');
        self.out.push_str(name);
        self.finish(name, body);
    }

    fn finish(&mut self, name: &str, body: impl FnOnce(&mut Writer)) {
        let open = self.out.len();
        self.out.push('>');
        body(self);
        if self.out.len() == open + 1 {
            self.out.truncate(open);
            self.out.push_str(self.empty_tag);
        } else {
            let _ = write!(self.out, "</{name}>");
        }
    }

    fn text(&mut self, name: &str, value: &str) {
        self.element(name, |w| push_escaped_text(&mut w.out, value));
    }

    /// A fragment as element text: copied when it is held escaped, escaped otherwise.
    fn xml_text(&mut self, name: &str, value: &XmlText) {
        match value.escaped() {
            Some(escaped) => self.element(name, |w| w.out.push_str(escaped)),
            None => self.text(name, &value.text()),
        }
    }

    fn opt_text(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.text(name, value);
        }
    }

    /// Numbers, booleans and GUIDs: nothing to escape.
    fn value(&mut self, name: &str, value: impl Display) {
        self.element(name, |w| {
            let _ = write!(w.out, "{value}");
        });
    }

    fn base64(&mut self, name: &str, bytes: &[u8]) {
        self.element(name, |w| w.out.push_str(&STANDARD.encode(bytes)));
    }

    /// An array: `<name><item/>…</name>`, `<name/>` when empty.
    fn array<T>(&mut self, name: &str, items: &[T], each: impl Fn(&mut Writer, &T)) {
        self.element(name, |w| items.iter().for_each(|item| each(w, item)));
    }

    /// An array WSUS sends as null (no element) when it has nothing in it.
    fn nonempty<T>(&mut self, name: &str, items: &[T], each: impl Fn(&mut Writer, &T)) {
        if !items.is_empty() {
            self.array(name, items, each);
        }
    }
}

fn int_item(w: &mut Writer, value: &i32) {
    w.value("int", value);
}

fn guid_item(w: &mut Writer, value: &Uuid) {
    w.value("guid", value);
}

fn write_cookie(w: &mut Writer, name: &str, cookie: &Cookie) {
    w.element(name, |w| {
        w.text("Expiration", &cookie.expiration);
        if let Some(data) = &cookie.encrypted_data {
            w.base64("EncryptedData", data);
        }
    });
}

/// A SyncUpdates answer's `NewCookie` element, byte for byte as the answer writes it: the
/// one part of a page of updates that differs from client to client.
pub fn new_cookie_element(cookie: &Cookie) -> String {
    let mut w = Writer::client();
    write_cookie(&mut w, "NewCookie", cookie);
    w.out
}

fn write_opt_cookie(w: &mut Writer, cookie: &Option<Cookie>) {
    if let Some(cookie) = cookie {
        write_cookie(w, "cookie", cookie);
    }
}

fn write_identity(w: &mut Writer, name: &str, identity: &UpdateIdentity) {
    w.element(name, |w| {
        w.value("UpdateID", identity.update_id);
        w.value("RevisionNumber", identity.revision);
    });
}

fn identity_item(w: &mut Writer, identity: &UpdateIdentity) {
    write_identity(w, "UpdateIdentity", identity);
}

// ---- Reading ---------------------------------------------------------------------------

fn invalid(path: impl Into<String>) -> ClientFault {
    ClientFault::new(ErrorCode::InvalidParameters, path)
}

/// `parent.name`, or `name` at the top.
fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn expect_name(el: &Element, name: &str) -> Parsed<()> {
    if el.name == name {
        Ok(())
    } else {
        Err(invalid(format!("expected element `{name}`, found `{}`", el.name)))
    }
}

fn is_nil(el: &Element) -> bool {
    matches!(el.attr("nil").map(str::trim), Some("true" | "1"))
}

/// A child that is present and not `xsi:nil`.
fn child<'a>(el: &'a Element, name: &str) -> Option<&'a Element> {
    el.child(name).filter(|c| !is_nil(c))
}

/// A required child; `path` is the child's own path.
fn required<'a>(el: &'a Element, name: &str, path: &str) -> Parsed<&'a Element> {
    child(el, name).ok_or_else(|| invalid(path))
}

/// Items of an array element, by item name (unknown siblings ignored).
fn items<'a>(array: &'a Element, item: &'a str) -> impl Iterator<Item = (usize, &'a Element)> + 'a {
    array.children_named(item).enumerate()
}

fn scalar<T: FromStr>(el: &Element, path: &str) -> Parsed<T> {
    el.text.trim().parse().map_err(|_| invalid(path))
}

fn req_scalar<T: FromStr>(el: &Element, name: &str, path: &str) -> Parsed<T> {
    let path = join(path, name);
    scalar(required(el, name, &path)?, &path)
}

/// `xs:boolean` (`true`/`false`/`1`/`0`, case-insensitive for .NET's `True`).
fn boolean(el: &Element, path: &str) -> Parsed<bool> {
    match el.text.trim() {
        "1" => Ok(true),
        "0" => Ok(false),
        t if t.eq_ignore_ascii_case("true") => Ok(true),
        t if t.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(path)),
    }
}

fn req_bool(el: &Element, name: &str, path: &str) -> Parsed<bool> {
    let path = join(path, name);
    boolean(required(el, name, &path)?, &path)
}

fn opt_bool(el: &Element, name: &str, path: &str) -> Parsed<Option<bool>> {
    child(el, name).map(|c| boolean(c, &join(path, name))).transpose()
}

/// Decoding is as lenient as .NET: whitespace anywhere, padding optional, stray bits allowed.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn base64(el: &Element, path: &str) -> Parsed<Vec<u8>> {
    let compact: String = el.text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT_BASE64.decode(compact).map_err(|_| invalid(path))
}

/// Text kept verbatim (strings are not trimmed; only typed scalars are).
fn string(el: &Element, name: &str) -> String {
    child(el, name).map(|c| c.text.clone()).unwrap_or_default()
}

fn opt_string(el: &Element, name: &str) -> Option<String> {
    child(el, name).map(|c| c.text.clone())
}

fn req_string(el: &Element, name: &str, path: &str) -> Parsed<String> {
    Ok(required(el, name, &join(path, name))?.text.clone())
}

/// An `ArrayOfInt`: `None` when absent or nil.
fn int_array(el: &Element, name: &str, path: &str) -> Parsed<Option<Vec<i32>>> {
    let path = join(path, name);
    child(el, name)
        .map(|array| match array.children.is_empty() {
            true => Ok(array.ints.clone()),
            false => scalar_items(array, "int", &path),
        })
        .transpose()
}

fn string_array(el: &Element, name: &str, item: &str) -> Vec<String> {
    child(el, name)
        .map(|array| items(array, item).map(|(_, s)| s.text.clone()).collect())
        .unwrap_or_default()
}

fn guid_array(el: &Element, name: &str, path: &str) -> Parsed<Vec<Uuid>> {
    let path = join(path, name);
    let Some(array) = child(el, name) else {
        return Ok(Vec::new());
    };
    scalar_items(array, "guid", &path)
}

/// The typed scalars of an array's `item` elements; `path` is the array's own path.
fn scalar_items<T: FromStr>(array: &Element, item: &str, path: &str) -> Parsed<Vec<T>> {
    // The error path is built only on error: clients send thousands of ids a call.
    items(array, item)
        .map(|(i, item)| {
            item.text
                .trim()
                .parse()
                .map_err(|_| invalid(format!("{path}[{i}]")))
        })
        .collect()
}

/// An array of structures: `read(item, item_path)` for each item.
fn struct_array<T>(
    el: &Element,
    name: &str,
    item: &str,
    path: &str,
    read: impl Fn(&Element, &str) -> Parsed<T>,
) -> Parsed<Vec<T>> {
    let path = join(path, name);
    let Some(array) = child(el, name) else {
        return Ok(Vec::new());
    };
    items(array, item)
        .map(|(i, item)| read(item, &format!("{path}[{i}]")))
        .collect()
}

fn read_cookie(el: &Element, path: &str) -> Parsed<Cookie> {
    let data_path = join(path, "EncryptedData");
    Ok(Cookie {
        expiration: req_string(el, "Expiration", path)?,
        encrypted_data: child(el, "EncryptedData")
            .map(|d| base64(d, &data_path))
            .transpose()?,
    })
}

fn opt_cookie(el: &Element, name: &str) -> Parsed<Option<Cookie>> {
    child(el, name).map(|c| read_cookie(c, name)).transpose()
}

fn req_cookie(el: &Element, name: &str, path: &str) -> Parsed<Cookie> {
    let path = join(path, name);
    read_cookie(required(el, name, &path)?, &path)
}

fn read_identity(el: &Element, path: &str) -> Parsed<UpdateIdentity> {
    let revision: i32 = req_scalar(el, "RevisionNumber", path)?;
    Ok(UpdateIdentity {
        update_id: req_scalar(el, "UpdateID", path)?,
        revision: u32::try_from(revision).map_err(|_| invalid(join(path, "RevisionNumber")))?,
    })
}

fn req_identity(el: &Element, name: &str, path: &str) -> Parsed<UpdateIdentity> {
    let path = join(path, name);
    read_identity(required(el, name, &path)?, &path)
}
