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

use super::types::*;
use crate::model::UpdateIdentity;
use crate::protocol::xml::Element;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use std::fmt::{Display, Write};
use std::str::FromStr;
use uuid::Uuid;

type Parsed<T> = Result<T, ClientFault>;

// ---- Writing ---------------------------------------------------------------------------

/// Escapes element text as WSUS does: `&`, `<`, `>`; quotes stay literal. `\r` becomes
/// `&#xD;` so that it survives XML end-of-line normalisation.
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    let special = |b: &u8| matches!(b, b'&' | b'<' | b'>' | b'\r');
    let Some(first) = text.bytes().position(|b| special(&b)) else {
        return text.into();
    };
    // Copy runs between special bytes whole (Core fragments are mostly markup: a byte at a
    // time was a quarter of a SyncUpdates answer's cost). All specials are ASCII, so every
    // split falls on a character boundary.
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    out.push_str(&text[..first]);
    let mut start = first;
    for (i, byte) in text.bytes().enumerate().skip(first) {
        let entity = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#xD;",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.into()
}

/// Writes one element tree; an element whose body writes nothing is self-closed.
struct Writer {
    out: String,
    empty_tag: &'static str,
}

impl Writer {
    /// ClientWebService and the Windows client: `<X/>`.
    fn client() -> Writer {
        Writer {
            out: String::new(),
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
        self.element(name, |w| w.out.push_str(&escape_text(value)));
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
        .map(|array| {
            // The error path is built only on error: clients send thousands of ids a call.
            items(array, "int")
                .map(|(i, item)| {
                    item.text
                        .trim()
                        .parse()
                        .map_err(|_| invalid(format!("{path}[{i}]")))
                })
                .collect()
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
    items(array, "guid")
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

// ---- GetConfig -------------------------------------------------------------------------

pub fn parse_get_config_request(el: &Element) -> Parsed<GetConfigRequest> {
    expect_name(el, "GetConfig")?;
    Ok(GetConfigRequest {
        protocol_version: string(el, "protocolVersion"),
    })
}

pub fn build_get_config_request(req: &GetConfigRequest) -> String {
    Writer::client().root("GetConfig", CLIENT_NS, |w| {
        w.text("protocolVersion", &req.protocol_version)
    })
}

/// `Config` with the one `AuthPlugInInfo` WSUS sends (its `Parameter` empty).
pub fn build_get_config_response(config: &Config) -> String {
    Writer::client().root("GetConfigResponse", CLIENT_NS, |w| {
        w.element("GetConfigResult", |w| {
            w.text("LastChange", &config.last_change);
            w.value("IsRegistrationRequired", config.is_registration_required);
            w.element("AuthInfo", |w| {
                w.element("AuthPlugInInfo", |w| {
                    w.text("PlugInID", &config.plugin_id);
                    w.text("ServiceUrl", &config.service_url);
                    w.text("Parameter", "");
                })
            });
            w.nonempty("Properties", &config.properties, |w, (name, value)| {
                w.element("ConfigurationProperty", |w| {
                    w.text("Name", name);
                    w.text("Value", value);
                })
            });
        })
    })
}

/// Reads the first `AuthPlugInInfo`; `AllowedEventIds` is ignored.
pub fn parse_get_config_response(el: &Element) -> Parsed<Config> {
    expect_name(el, "GetConfigResponse")?;
    let path = "GetConfigResult";
    let result = required(el, path, path)?;
    let plugin = child(result, "AuthInfo").and_then(|a| child(a, "AuthPlugInInfo"));
    let properties = struct_array(result, "Properties", "ConfigurationProperty", path, |p, _| {
        Ok((string(p, "Name"), string(p, "Value")))
    })?;
    Ok(Config {
        last_change: req_string(result, "LastChange", path)?,
        is_registration_required: req_bool(result, "IsRegistrationRequired", path)?,
        plugin_id: plugin.map(|p| string(p, "PlugInID")).unwrap_or_default(),
        service_url: plugin.map(|p| string(p, "ServiceUrl")).unwrap_or_default(),
        properties,
    })
}

// ---- GetAuthorizationCookie (SimpleAuth) -----------------------------------------------

pub fn parse_get_authorization_cookie_request(el: &Element) -> Parsed<GetAuthorizationCookieRequest> {
    expect_name(el, "GetAuthorizationCookie")?;
    Ok(GetAuthorizationCookieRequest {
        client_id: opt_string(el, "clientId"),
        target_group_name: opt_string(el, "targetGroupName"),
        dns_name: opt_string(el, "dnsName"),
    })
}

pub fn build_get_authorization_cookie_request(req: &GetAuthorizationCookieRequest) -> String {
    Writer::client().root("GetAuthorizationCookie", SIMPLE_AUTH_NS, |w| {
        w.opt_text("clientId", req.client_id.as_deref());
        w.opt_text("targetGroupName", req.target_group_name.as_deref());
        w.opt_text("dnsName", req.dns_name.as_deref());
    })
}

fn write_authorization_cookie(w: &mut Writer, name: &str, cookie: &AuthorizationCookie) {
    w.element(name, |w| {
        w.text("PlugInId", &cookie.plugin_id);
        w.base64("CookieData", &cookie.cookie_data);
    });
}

fn read_authorization_cookie(el: &Element, path: &str) -> Parsed<AuthorizationCookie> {
    let data_path = join(path, "CookieData");
    Ok(AuthorizationCookie {
        plugin_id: string(el, "PlugInId"),
        cookie_data: child(el, "CookieData")
            .map(|d| base64(d, &data_path))
            .transpose()?
            .unwrap_or_default(),
    })
}

pub fn build_get_authorization_cookie_response(cookie: &AuthorizationCookie) -> String {
    Writer::asmx().root("GetAuthorizationCookieResponse", SIMPLE_AUTH_NS, |w| {
        write_authorization_cookie(w, "GetAuthorizationCookieResult", cookie)
    })
}

pub fn parse_get_authorization_cookie_response(el: &Element) -> Parsed<AuthorizationCookie> {
    expect_name(el, "GetAuthorizationCookieResponse")?;
    let path = "GetAuthorizationCookieResult";
    read_authorization_cookie(required(el, path, path)?, path)
}

// ---- GetCookie -------------------------------------------------------------------------

pub fn parse_get_cookie_request(el: &Element) -> Parsed<GetCookieRequest> {
    expect_name(el, "GetCookie")?;
    Ok(GetCookieRequest {
        auth_cookies: struct_array(
            el,
            "authCookies",
            "AuthorizationCookie",
            "",
            read_authorization_cookie,
        )?,
        old_cookie: opt_cookie(el, "oldCookie")?,
        last_change: opt_string(el, "lastChange"),
        current_time: opt_string(el, "currentTime"),
        protocol_version: opt_string(el, "protocolVersion"),
    })
}

pub fn build_get_cookie_request(req: &GetCookieRequest) -> String {
    Writer::client().root("GetCookie", CLIENT_NS, |w| {
        w.nonempty("authCookies", &req.auth_cookies, |w, c| {
            write_authorization_cookie(w, "AuthorizationCookie", c)
        });
        if let Some(old) = &req.old_cookie {
            write_cookie(w, "oldCookie", old);
        }
        w.opt_text("lastChange", req.last_change.as_deref());
        w.opt_text("currentTime", req.current_time.as_deref());
        w.opt_text("protocolVersion", req.protocol_version.as_deref());
    })
}

pub fn build_get_cookie_response(cookie: &Cookie) -> String {
    Writer::client().root("GetCookieResponse", CLIENT_NS, |w| {
        write_cookie(w, "GetCookieResult", cookie)
    })
}

pub fn parse_get_cookie_response(el: &Element) -> Parsed<Cookie> {
    expect_name(el, "GetCookieResponse")?;
    req_cookie(el, "GetCookieResult", "")
}

// ---- RegisterComputer ------------------------------------------------------------------

/// How a `ComputerInfo` field is checked: optional text, required text (`dateTime`), or a
/// required integer of the WSDL's width.
#[derive(Clone, Copy)]
enum Number {
    Text,
    Required,
    Int,
    Short,
    Byte,
}

impl Number {
    fn check(self, text: &str) -> bool {
        match self {
            Number::Text | Number::Required => true,
            Number::Int => text.parse::<i32>().is_ok(),
            Number::Short => text.parse::<i16>().is_ok(),
            Number::Byte => text.parse::<u8>().is_ok(),
        }
    }
}

/// One list of the `ComputerInfo` fields (model field, element, check), in WSDL order,
/// expanded into the element table and the two field views the reader and writer zip with it.
macro_rules! computer_fields {
    ($($field:ident: $name:literal $number:ident,)*) => {
        const COMPUTER_FIELDS: [(&str, Number); 26] = [$(($name, Number::$number)),*];

        fn computer_values(c: &ComputerInfo) -> [&String; 26] {
            [$(&c.$field),*]
        }

        fn computer_values_mut(c: &mut ComputerInfo) -> [&mut String; 26] {
            [$(&mut c.$field),*]
        }
    };
}

computer_fields! {
    dns_name: "DnsName" Text,
    os_major_version: "OSMajorVersion" Int,
    os_minor_version: "OSMinorVersion" Int,
    os_build_number: "OSBuildNumber" Int,
    os_service_pack_major_number: "OSServicePackMajorNumber" Short,
    os_service_pack_minor_number: "OSServicePackMinorNumber" Short,
    os_locale: "OSLocale" Text,
    computer_manufacturer: "ComputerManufacturer" Text,
    computer_model: "ComputerModel" Text,
    bios_version: "BiosVersion" Text,
    bios_name: "BiosName" Text,
    bios_release_date: "BiosReleaseDate" Required,
    processor_architecture: "ProcessorArchitecture" Text,
    suite_mask: "SuiteMask" Short,
    old_product_type: "OldProductType" Byte,
    new_product_type: "NewProductType" Int,
    system_metrics: "SystemMetrics" Int,
    client_version_major_number: "ClientVersionMajorNumber" Short,
    client_version_minor_number: "ClientVersionMinorNumber" Short,
    client_version_build_number: "ClientVersionBuildNumber" Short,
    client_version_qfe_number: "ClientVersionQfeNumber" Short,
    os_description: "OSDescription" Text,
    oem: "OEM" Text,
    device_type: "DeviceType" Text,
    firmware_version: "FirmwareVersion" Text,
    mobile_operator: "MobileOperator" Text,
}

fn read_computer(el: &Element, path: &str) -> Parsed<ComputerInfo> {
    let mut computer = ComputerInfo::default();
    let slots = computer_values_mut(&mut computer);
    for ((name, number), slot) in COMPUTER_FIELDS.into_iter().zip(slots) {
        *slot = match number {
            Number::Text => string(el, name),
            Number::Required => req_string(el, name, path)?,
            _ => req_string(el, name, path)?.trim().to_string(),
        };
        if !number.check(slot) {
            return Err(invalid(join(path, name)));
        }
    }
    Ok(computer)
}

pub fn parse_register_computer_request(el: &Element) -> Parsed<RegisterComputerRequest> {
    expect_name(el, "RegisterComputer")?;
    let path = "computerInfo";
    Ok(RegisterComputerRequest {
        cookie: opt_cookie(el, "cookie")?,
        computer: read_computer(required(el, path, path)?, path)?,
    })
}

/// Every `ComputerInfo` field, in WSDL order, as Windows 11 sends them.
pub fn build_register_computer_request(req: &RegisterComputerRequest) -> String {
    Writer::client().root("RegisterComputer", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.element("computerInfo", |w| {
            let values = computer_values(&req.computer);
            for ((name, _), value) in COMPUTER_FIELDS.iter().zip(values) {
                w.text(name, value);
            }
        });
    })
}

pub fn build_register_computer_response(_: &()) -> String {
    Writer::client().root("RegisterComputerResponse", CLIENT_NS, |_| {})
}

pub fn parse_register_computer_response(el: &Element) -> Parsed<()> {
    expect_name(el, "RegisterComputerResponse")
}

// ---- StartCategoryScan -----------------------------------------------------------------

pub fn parse_start_category_scan_request(el: &Element) -> Parsed<StartCategoryScanRequest> {
    expect_name(el, "StartCategoryScan")?;
    let requested = struct_array(
        el,
        "requestedCategories",
        "CategoryRelationship",
        "",
        |c, path| {
            Ok((
                req_scalar(c, "IndexOfAndGroup", path)?,
                req_scalar(c, "CategoryId", path)?,
            ))
        },
    )?;
    Ok(StartCategoryScanRequest {
        cookie: opt_cookie(el, "cookie")?,
        requested,
    })
}

/// The WSDL has no cookie here and Windows 11 sends none; one is written only when set.
pub fn build_start_category_scan_request(req: &StartCategoryScanRequest) -> String {
    Writer::client().root("StartCategoryScan", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("requestedCategories", &req.requested, |w, (index, id)| {
            w.element("CategoryRelationship", |w| {
                w.value("IndexOfAndGroup", index);
                w.value("CategoryId", id);
            })
        });
    })
}

/// Both lists sit directly under the response element (no `…Result` wrapper).
pub fn build_start_category_scan_response(resp: &StartCategoryScanResponse) -> String {
    Writer::client().root("StartCategoryScanResponse", CLIENT_NS, |w| {
        w.nonempty("preferredCategoryIds", &resp.preferred, guid_item);
        w.nonempty("requestedCategoryIdsInError", &resp.in_error, guid_item);
    })
}

pub fn parse_start_category_scan_response(el: &Element) -> Parsed<StartCategoryScanResponse> {
    expect_name(el, "StartCategoryScanResponse")?;
    Ok(StartCategoryScanResponse {
        preferred: guid_array(el, "preferredCategoryIds", "")?,
        in_error: guid_array(el, "requestedCategoryIdsInError", "")?,
    })
}

// ---- SyncUpdates -----------------------------------------------------------------------

fn read_sync_parameters(el: &Element, path: &str) -> Parsed<SyncUpdateParameters> {
    let filter_category_ids =
        struct_array(el, "FilterCategoryIds", "CategoryIdentifier", path, |c, path| {
            req_scalar(c, "Id", path)
        })?;
    Ok(SyncUpdateParameters {
        express_query: req_bool(el, "ExpressQuery", path)?,
        installed_non_leaf: int_array(el, "InstalledNonLeafUpdateIDs", path)?,
        other_cached: int_array(el, "OtherCachedUpdateIDs", path)?,
        system_spec_present: child(el, "SystemSpec").is_some(),
        cached_driver_ids: int_array(el, "CachedDriverIDs", path)?,
        skip_software_sync: req_bool(el, "SkipSoftwareSync", path)?,
        filter_category_ids,
        need_two_group_out_of_scope: opt_bool(el, "NeedTwoGroupOutOfScopeUpdates", path)?.unwrap_or(false),
        feature_score_matching_key: opt_string(el, "FeatureScoreMatchingKey"),
    })
}

/// Ignores what MS-WUSP does not define (`AlsoPerformRegularSync`, `ProductsParameters`,
/// `ComputerSpec`, the devices of `SystemSpec`).
pub fn parse_sync_updates_request(el: &Element) -> Parsed<SyncUpdatesRequest> {
    expect_name(el, "SyncUpdates")?;
    Ok(SyncUpdatesRequest {
        cookie: opt_cookie(el, "cookie")?,
        parameters: child(el, "parameters")
            .map(|p| read_sync_parameters(p, "parameters"))
            .transpose()?,
    })
}

/// In Windows 11's order. `SystemSpec` is written empty when present (devices are not
/// modelled); the non-MS-WUSP elements Windows adds are not written.
pub fn build_sync_updates_request(req: &SyncUpdatesRequest) -> String {
    Writer::client().root("SyncUpdates", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        if let Some(p) = &req.parameters {
            w.element("parameters", |w| write_sync_parameters(w, p));
        }
    })
}

fn write_sync_parameters(w: &mut Writer, p: &SyncUpdateParameters) {
    w.value("ExpressQuery", p.express_query);
    if let Some(ids) = &p.installed_non_leaf {
        w.array("InstalledNonLeafUpdateIDs", ids, int_item);
    }
    if let Some(ids) = &p.other_cached {
        w.array("OtherCachedUpdateIDs", ids, int_item);
    }
    if p.system_spec_present {
        w.text("SystemSpec", "");
    }
    if let Some(ids) = &p.cached_driver_ids {
        w.array("CachedDriverIDs", ids, int_item);
    }
    w.value("SkipSoftwareSync", p.skip_software_sync);
    w.nonempty("FilterCategoryIds", &p.filter_category_ids, |w, id| {
        w.element("CategoryIdentifier", |w| w.value("Id", id))
    });
    w.value("NeedTwoGroupOutOfScopeUpdates", p.need_two_group_out_of_scope);
    w.opt_text("FeatureScoreMatchingKey", p.feature_score_matching_key.as_deref());
}

fn write_deployment(w: &mut Writer, d: &Deployment) {
    w.element("Deployment", |w| {
        w.value("ID", d.id);
        w.text("Action", d.action.as_str());
        w.opt_text("Deadline", d.deadline.as_deref());
        w.value("IsAssigned", d.is_assigned);
        w.text("LastChangeTime", &d.last_change_time);
        w.opt_text("DownloadPriority", d.download_priority.as_deref());
        w.opt_text("AutoSelect", d.auto_select.as_deref());
        w.opt_text("AutoDownload", d.auto_download.as_deref());
        w.opt_text("SupersedenceBehavior", d.supersedence_behavior.as_deref());
    });
}

/// `HardwareIds`, `FlagBitmask` and `ClientBehaviors` are not modelled and ignored.
fn read_deployment(el: &Element, path: &str) -> Parsed<Deployment> {
    let action_path = join(path, "Action");
    let action = required(el, "Action", &action_path)?;
    Ok(Deployment {
        id: req_scalar(el, "ID", path)?,
        action: DeploymentAction::parse(action.text.trim()).ok_or_else(|| invalid(&action_path))?,
        deadline: opt_string(el, "Deadline"),
        is_assigned: req_bool(el, "IsAssigned", path)?,
        last_change_time: req_string(el, "LastChangeTime", path)?,
        download_priority: opt_string(el, "DownloadPriority"),
        auto_select: opt_string(el, "AutoSelect"),
        auto_download: opt_string(el, "AutoDownload"),
        supersedence_behavior: opt_string(el, "SupersedenceBehavior"),
    })
}

fn req_deployment(el: &Element, path: &str) -> Parsed<Deployment> {
    let path = join(path, "Deployment");
    read_deployment(required(el, "Deployment", &path)?, &path)
}

fn update_info_item(w: &mut Writer, u: &UpdateInfo) {
    w.element("UpdateInfo", |w| {
        w.value("ID", u.id);
        write_deployment(w, &u.deployment);
        w.value("IsLeaf", u.is_leaf);
        match u.xml.escaped() {
            Some(escaped) => w.element("Xml", |w| w.out.push_str(escaped)),
            None => w.text("Xml", &u.xml),
        }
    });
}

fn read_update_info(el: &Element, path: &str) -> Parsed<UpdateInfo> {
    Ok(UpdateInfo {
        id: req_scalar(el, "ID", path)?,
        deployment: req_deployment(el, path)?,
        is_leaf: req_bool(el, "IsLeaf", path)?,
        xml: string(el, "Xml").into(),
    })
}

fn write_sync_info(w: &mut Writer, result: &str, info: &SyncInfo) {
    w.element(result, |w| {
        w.nonempty("NewUpdates", &info.new_updates, update_info_item);
        w.nonempty("OutOfScopeRevisionIDs", &info.out_of_scope_revision_ids, int_item);
        w.nonempty("ChangedUpdates", &info.changed_updates, update_info_item);
        w.value("Truncated", info.truncated);
        write_cookie(w, "NewCookie", &info.new_cookie);
        if let Some(ids) = &info.deployed_out_of_scope_revision_ids {
            w.array("DeployedOutOfScopeRevisionIds", ids, int_item);
        }
        if let Some(not_needed) = info.driver_sync_not_needed {
            w.value("DriverSyncNotNeeded", not_needed);
        }
    });
}

fn read_sync_info(response: &Element, result: &str) -> Parsed<SyncInfo> {
    let el = required(response, result, result)?;
    Ok(SyncInfo {
        new_updates: struct_array(el, "NewUpdates", "UpdateInfo", result, read_update_info)?,
        out_of_scope_revision_ids: int_array(el, "OutOfScopeRevisionIDs", result)?.unwrap_or_default(),
        changed_updates: struct_array(el, "ChangedUpdates", "UpdateInfo", result, read_update_info)?,
        truncated: req_bool(el, "Truncated", result)?,
        new_cookie: req_cookie(el, "NewCookie", result)?,
        deployed_out_of_scope_revision_ids: int_array(el, "DeployedOutOfScopeRevisionIds", result)?,
        driver_sync_not_needed: opt_bool(el, "DriverSyncNotNeeded", result)?,
    })
}

pub fn build_sync_updates_response(info: &SyncInfo) -> String {
    Writer::client().root("SyncUpdatesResponse", CLIENT_NS, |w| {
        write_sync_info(w, "SyncUpdatesResult", info)
    })
}

pub fn parse_sync_updates_response(el: &Element) -> Parsed<SyncInfo> {
    expect_name(el, "SyncUpdatesResponse")?;
    read_sync_info(el, "SyncUpdatesResult")
}

// ---- SyncPrinterCatalog ----------------------------------------------------------------

pub fn parse_sync_printer_catalog_request(el: &Element) -> Parsed<SyncPrinterCatalogRequest> {
    expect_name(el, "SyncPrinterCatalog")?;
    Ok(SyncPrinterCatalogRequest {
        cookie: opt_cookie(el, "cookie")?,
        installed_non_leaf: int_array(el, "installedNonLeafUpdateIDs", "")?.unwrap_or_default(),
        printer_update_ids: int_array(el, "printerUpdateIDs", "")?.unwrap_or_default(),
    })
}

pub fn build_sync_printer_catalog_request(req: &SyncPrinterCatalogRequest) -> String {
    Writer::client().root("SyncPrinterCatalog", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("installedNonLeafUpdateIDs", &req.installed_non_leaf, int_item);
        w.nonempty("printerUpdateIDs", &req.printer_update_ids, int_item);
    })
}

pub fn build_sync_printer_catalog_response(info: &SyncInfo) -> String {
    Writer::client().root("SyncPrinterCatalogResponse", CLIENT_NS, |w| {
        write_sync_info(w, "SyncPrinterCatalogResult", info)
    })
}

pub fn parse_sync_printer_catalog_response(el: &Element) -> Parsed<SyncInfo> {
    expect_name(el, "SyncPrinterCatalogResponse")?;
    read_sync_info(el, "SyncPrinterCatalogResult")
}

// ---- RefreshCache ----------------------------------------------------------------------

pub fn parse_refresh_cache_request(el: &Element) -> Parsed<RefreshCacheRequest> {
    expect_name(el, "RefreshCache")?;
    Ok(RefreshCacheRequest {
        cookie: opt_cookie(el, "cookie")?,
        global_ids: struct_array(el, "globalIDs", "UpdateIdentity", "", read_identity)?,
    })
}

pub fn build_refresh_cache_request(req: &RefreshCacheRequest) -> String {
    Writer::client().root("RefreshCache", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("globalIDs", &req.global_ids, identity_item);
    })
}

/// The result list is the `RefreshCacheResult` element itself, holding `RefreshCacheResult`
/// items.
pub fn build_refresh_cache_response(results: &[RefreshCacheResult]) -> String {
    Writer::client().root("RefreshCacheResponse", CLIENT_NS, |w| {
        w.nonempty("RefreshCacheResult", results, |w, r| {
            w.element("RefreshCacheResult", |w| {
                w.value("RevisionID", r.revision_id);
                write_identity(w, "GlobalID", &r.global_id);
                w.value("IsLeaf", r.is_leaf);
                write_deployment(w, &r.deployment);
            })
        });
    })
}

pub fn parse_refresh_cache_response(el: &Element) -> Parsed<Vec<RefreshCacheResult>> {
    expect_name(el, "RefreshCacheResponse")?;
    struct_array(el, "RefreshCacheResult", "RefreshCacheResult", "", |r, path| {
        Ok(RefreshCacheResult {
            revision_id: req_scalar(r, "RevisionID", path)?,
            global_id: req_identity(r, "GlobalID", path)?,
            is_leaf: req_bool(r, "IsLeaf", path)?,
            deployment: req_deployment(r, path)?,
        })
    })
}

// ---- GetExtendedUpdateInfo (and 2) -----------------------------------------------------

/// `GeoId`, `callerAttributes` and Windows 11's undeclared `deviceAttributes` are ignored.
pub fn parse_get_extended_update_info_request(el: &Element) -> Parsed<GetExtendedUpdateInfoRequest> {
    expect_name(el, "GetExtendedUpdateInfo")?;
    Ok(GetExtendedUpdateInfoRequest {
        cookie: opt_cookie(el, "cookie")?,
        revision_ids: int_array(el, "revisionIDs", "")?.unwrap_or_default(),
        info_types: string_array(el, "infoTypes", "XmlUpdateFragmentType"),
        locales: string_array(el, "locales", "string"),
    })
}

pub fn build_get_extended_update_info_request(req: &GetExtendedUpdateInfoRequest) -> String {
    Writer::client().root("GetExtendedUpdateInfo", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("revisionIDs", &req.revision_ids, int_item);
        w.nonempty("infoTypes", &req.info_types, |w, s| {
            w.text("XmlUpdateFragmentType", s)
        });
        w.nonempty("locales", &req.locales, |w, s| w.text("string", s));
    })
}

pub fn parse_get_extended_update_info2_request(el: &Element) -> Parsed<GetExtendedUpdateInfo2Request> {
    expect_name(el, "GetExtendedUpdateInfo2")?;
    Ok(GetExtendedUpdateInfo2Request {
        cookie: opt_cookie(el, "cookie")?,
        update_ids: struct_array(el, "updateIDs", "UpdateIdentity", "", read_identity)?,
        info_types: string_array(el, "infoTypes", "XmlUpdateFragmentType"),
        locales: string_array(el, "locales", "string"),
    })
}

pub fn build_get_extended_update_info2_request(req: &GetExtendedUpdateInfo2Request) -> String {
    Writer::client().root("GetExtendedUpdateInfo2", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("updateIDs", &req.update_ids, identity_item);
        w.nonempty("infoTypes", &req.info_types, |w, s| {
            w.text("XmlUpdateFragmentType", s)
        });
        w.nonempty("locales", &req.locales, |w, s| w.text("string", s));
    })
}

fn file_location_item(w: &mut Writer, f: &FileLocation) {
    w.element("FileLocation", |w| {
        w.base64("FileDigest", &f.file_digest);
        w.text("Url", &f.url);
    });
}

/// `PiecesHashUrl`, `BlockMapUrl` and the decryption fields of GetExtendedUpdateInfo2's
/// `FileLocation` are ignored.
fn read_file_location(el: &Element, path: &str) -> Parsed<FileLocation> {
    let digest_path = join(path, "FileDigest");
    Ok(FileLocation {
        file_digest: child(el, "FileDigest")
            .map(|d| base64(d, &digest_path))
            .transpose()?
            .unwrap_or_default(),
        url: string(el, "Url"),
    })
}

fn write_updates_and_locations(w: &mut Writer, info: &ExtendedUpdateInfo) {
    w.nonempty("Updates", &info.updates, |w, (id, xml)| {
        w.element("Update", |w| {
            w.value("ID", id);
            w.text("Xml", xml);
        })
    });
    w.nonempty("FileLocations", &info.file_locations, file_location_item);
}

fn read_extended_update_info(response: &Element, result: &str) -> Parsed<ExtendedUpdateInfo> {
    let el = required(response, result, result)?;
    Ok(ExtendedUpdateInfo {
        updates: struct_array(el, "Updates", "Update", result, |u, path| {
            Ok((req_scalar(u, "ID", path)?, string(u, "Xml")))
        })?,
        file_locations: struct_array(el, "FileLocations", "FileLocation", result, read_file_location)?,
        out_of_scope_revision_ids: int_array(el, "OutOfScopeRevisionIDs", result)?.unwrap_or_default(),
    })
}

pub fn build_get_extended_update_info_response(info: &ExtendedUpdateInfo) -> String {
    Writer::client().root("GetExtendedUpdateInfoResponse", CLIENT_NS, |w| {
        w.element("GetExtendedUpdateInfoResult", |w| {
            write_updates_and_locations(w, info);
            w.nonempty("OutOfScopeRevisionIDs", &info.out_of_scope_revision_ids, int_item);
        })
    })
}

pub fn parse_get_extended_update_info_response(el: &Element) -> Parsed<ExtendedUpdateInfo> {
    expect_name(el, "GetExtendedUpdateInfoResponse")?;
    read_extended_update_info(el, "GetExtendedUpdateInfoResult")
}

/// `ExtendedUpdateInfo2` has no `OutOfScopeRevisionIDs` in the WSDL, so
/// `info.out_of_scope_revision_ids` is not sent; the decryption lists are never filled.
pub fn build_get_extended_update_info2_response(info: &ExtendedUpdateInfo) -> String {
    Writer::client().root("GetExtendedUpdateInfo2Response", CLIENT_NS, |w| {
        w.element("GetExtendedUpdateInfo2Result", |w| {
            write_updates_and_locations(w, info)
        })
    })
}

pub fn parse_get_extended_update_info2_response(el: &Element) -> Parsed<ExtendedUpdateInfo> {
    expect_name(el, "GetExtendedUpdateInfo2Response")?;
    read_extended_update_info(el, "GetExtendedUpdateInfo2Result")
}

// ---- GetFileLocations ------------------------------------------------------------------

pub fn parse_get_file_locations_request(el: &Element) -> Parsed<GetFileLocationsRequest> {
    expect_name(el, "GetFileLocations")?;
    let file_digests = match child(el, "fileDigests") {
        None => Vec::new(),
        Some(array) => items(array, "base64Binary")
            .map(|(i, d)| base64(d, &format!("fileDigests[{i}]")))
            .collect::<Parsed<_>>()?,
    };
    Ok(GetFileLocationsRequest {
        cookie: opt_cookie(el, "cookie")?,
        file_digests,
    })
}

pub fn build_get_file_locations_request(req: &GetFileLocationsRequest) -> String {
    Writer::client().root("GetFileLocations", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("fileDigests", &req.file_digests, |w, d| {
            w.base64("base64Binary", d)
        });
    })
}

pub fn build_get_file_locations_response(resp: &GetFileLocationsResponse) -> String {
    Writer::client().root("GetFileLocationsResponse", CLIENT_NS, |w| {
        w.element("GetFileLocationsResult", |w| {
            w.nonempty("FileLocations", &resp.file_locations, file_location_item);
            write_cookie(w, "NewCookie", &resp.new_cookie);
        })
    })
}

pub fn parse_get_file_locations_response(el: &Element) -> Parsed<GetFileLocationsResponse> {
    expect_name(el, "GetFileLocationsResponse")?;
    let path = "GetFileLocationsResult";
    let result = required(el, path, path)?;
    Ok(GetFileLocationsResponse {
        file_locations: struct_array(result, "FileLocations", "FileLocation", path, read_file_location)?,
        new_cookie: req_cookie(result, "NewCookie", path)?,
    })
}

// ---- ReportEventBatch (Reporting service) ----------------------------------------------

const OS_VERSION_PARTS: [&str; 6] = [
    "Major",
    "Minor",
    "Build",
    "Revision",
    "ServicePackMajor",
    "ServicePackMinor",
];

fn read_event(el: &Element, path: &str) -> Parsed<ReportingEvent> {
    let basic_path = join(path, "BasicData");
    let basic = required(el, "BasicData", &basic_path)?;
    let short = |name: &str| -> Parsed<i32> { Ok(i32::from(req_scalar::<i16>(basic, name, &basic_path)?)) };
    let mut event = ReportingEvent {
        target_sid: child(basic, "TargetID")
            .map(|t| string(t, "Sid"))
            .unwrap_or_default(),
        sequence_number: req_scalar(basic, "SequenceNumber", &basic_path)?,
        time_at_target: req_string(basic, "TimeAtTarget", &basic_path)?,
        event_instance_id: req_scalar(basic, "EventInstanceID", &basic_path)?,
        namespace_id: req_scalar(basic, "NamespaceID", &basic_path)?,
        event_id: short("EventID")?,
        source_id: short("SourceID")?,
        update_id: child(basic, "UpdateID")
            .map(|u| read_identity(u, &join(&basic_path, "UpdateID")))
            .transpose()?
            .unwrap_or_default(),
        win32_hresult: req_scalar(basic, "Win32HResult", &basic_path)?,
        app_name: string(basic, "AppName"),
        ..ReportingEvent::default()
    };
    if let Some(extended) = child(el, "ExtendedData") {
        read_extended_data(extended, &join(path, "ExtendedData"), &mut event)?;
    }
    Ok(event)
}

/// `ExtendedData` is optional in the WSDL; when present its typed fields are required.
fn read_extended_data(el: &Element, path: &str, event: &mut ReportingEvent) -> Parsed<()> {
    let version_path = join(path, "OSVersion");
    let version = required(el, "OSVersion", &version_path)?;
    let parts = OS_VERSION_PARTS
        .iter()
        .map(|part| req_scalar::<i32>(version, part, &version_path).map(|n| n.to_string()))
        .collect::<Parsed<Vec<_>>>()?;
    event.replacement_strings = string_array(el, "ReplacementStrings", "string");
    event.misc_data = string_array(el, "MiscData", "string");
    event.computer_brand = string(el, "ComputerBrand");
    event.computer_model = string(el, "ComputerModel");
    event.bios_revision = string(el, "BiosRevision");
    event.processor_architecture = req_string(el, "ProcessorArchitecture", path)?;
    event.os_version = parts.join(".");
    event.os_locale_id = req_scalar(el, "OSLocaleID", path)?;
    event.device_id = string(el, "DeviceID");
    Ok(())
}

pub fn parse_report_event_batch_request(el: &Element) -> Parsed<ReportEventBatchRequest> {
    expect_name(el, "ReportEventBatch")?;
    Ok(ReportEventBatchRequest {
        cookie: opt_cookie(el, "cookie")?,
        client_time: opt_string(el, "clientTime"),
        events: struct_array(el, "eventBatch", "ReportingEvent", "", read_event)?,
    })
}

/// As Windows 11 writes an event: `AppName`, `ReplacementStrings`, `MiscData` and
/// `DeviceID` left out when empty, `PrivateData` empty. An `os_version` part that is
/// missing or not a number is sent as 0.
fn write_event(w: &mut Writer, e: &ReportingEvent) {
    w.element("ReportingEvent", |w| {
        w.element("BasicData", |w| {
            w.element("TargetID", |w| w.text("Sid", &e.target_sid));
            w.value("SequenceNumber", e.sequence_number);
            w.text("TimeAtTarget", &e.time_at_target);
            w.value("EventInstanceID", e.event_instance_id);
            w.value("NamespaceID", e.namespace_id);
            w.value("EventID", e.event_id);
            w.value("SourceID", e.source_id);
            write_identity(w, "UpdateID", &e.update_id);
            w.value("Win32HResult", e.win32_hresult);
            if !e.app_name.is_empty() {
                w.text("AppName", &e.app_name);
            }
        });
        w.element("ExtendedData", |w| {
            w.nonempty("ReplacementStrings", &e.replacement_strings, |w, s| {
                w.text("string", s)
            });
            w.nonempty("MiscData", &e.misc_data, |w, s| w.text("string", s));
            w.text("ComputerBrand", &e.computer_brand);
            w.text("ComputerModel", &e.computer_model);
            w.text("BiosRevision", &e.bios_revision);
            w.text("ProcessorArchitecture", &e.processor_architecture);
            w.element("OSVersion", |w| {
                let mut parts = e.os_version.split('.');
                for name in OS_VERSION_PARTS {
                    let n: i32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    w.value(name, n);
                }
            });
            w.value("OSLocaleID", e.os_locale_id);
            if !e.device_id.is_empty() {
                w.text("DeviceID", &e.device_id);
            }
        });
        w.text("PrivateData", "");
    });
}

pub fn build_report_event_batch_request(req: &ReportEventBatchRequest) -> String {
    Writer::client().root("ReportEventBatch", REPORTING_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.opt_text("clientTime", req.client_time.as_deref());
        w.nonempty("eventBatch", &req.events, write_event);
    })
}

pub fn build_report_event_batch_response(received: &bool) -> String {
    Writer::asmx().root("ReportEventBatchResponse", REPORTING_NS, |w| {
        w.value("ReportEventBatchResult", received)
    })
}

pub fn parse_report_event_batch_response(el: &Element) -> Parsed<bool> {
    expect_name(el, "ReportEventBatchResponse")?;
    req_bool(el, "ReportEventBatchResult", "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::soap;
    use crate::protocol::wusp::envelope;
    use crate::protocol::xml;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/wusp/", $name))
        };
    }

    const SCAN_GET_CONFIG: (&str, &str) = (
        fixture!("native-scan-000001.get-config.request.xml"),
        fixture!("native-scan-000001.get-config.response.xml"),
    );
    const SCAN_AUTH: (&str, &str) = (
        fixture!("native-scan-000002.get-authorization-cookie.request.xml"),
        fixture!("native-scan-000002.get-authorization-cookie.response.xml"),
    );
    const SCAN_GET_COOKIE: (&str, &str) = (
        fixture!("native-scan-000003.get-cookie.request.xml"),
        fixture!("native-scan-000003.get-cookie.response.xml"),
    );
    const SCAN_REGISTER: (&str, &str) = (
        fixture!("native-scan-000004.register-computer.request.xml"),
        fixture!("native-scan-000004.register-computer.response.xml"),
    );
    const SCAN_CATEGORY: (&str, &str) = (
        fixture!("native-scan-000005.start-category-scan.request.xml"),
        fixture!("native-scan-000005.start-category-scan.response.xml"),
    );
    const SCAN_SYNC: [(&str, &str); 3] = [
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
    const SCAN_DRIVER_SYNC_RESPONSE: &str = fixture!("native-scan-000009.sync-updates-driver.response.xml");
    const FLOW_SYNC_RESPONSE: &str = fixture!("native-flow-000001.sync-updates.response.xml");
    const SCAN_EXTENDED: (&str, &str) = (
        fixture!("native-scan-000010.get-extended-update-info.request.xml"),
        fixture!("native-scan-000010.get-extended-update-info.response.xml"),
    );
    const FLOW_EXTENDED: (&str, &str) = (
        fixture!("native-flow-000015.get-extended-update-info.request.xml"),
        fixture!("native-flow-000015.get-extended-update-info.response.xml"),
    );
    const FLOW_REPORT: (&str, &str) = (
        fixture!("native-flow-000016.report-event-batch.request.xml"),
        fixture!("native-flow-000016.report-event-batch.response.xml"),
    );
    const FLOW_REPORT_FAILURE: &str = fixture!("native-flow-000018.report-event-batch.request.xml");
    const CBS_FILE_LOCATIONS_RESPONSE: &str = fixture!("cbs-get-file-locations.response.xml");
    const SPEC_REGISTER: &str = fixture!("spec-08.register-computer.request.xml");
    const SPEC_REFRESH_CACHE: &str = fixture!("spec-09.refresh-cache.request.xml");
    const SPEC_FILE_LOCATIONS: &str = fixture!("spec-10.get-file-locations.request.xml");

    const OOBE_ZDP: Uuid = uuid::uuid!("dd78b8a1-0b20-45c1-add6-4da72e9364cf");

    /// The operation element of a request body.
    fn request_element(body: &str) -> Element {
        envelope::parse_request(body, None).expect("request parses").1
    }

    fn response_element(body: &str) -> Element {
        soap::parse_response(body).expect("response parses")
    }

    /// The `<name …>…</name>` (or self-closed `<name …/>`) substring of a captured body.
    fn operation_xml<'a>(body: &'a str, name: &str) -> &'a str {
        let start = body.find(&format!("<{name} ")).expect("operation element");
        let close = format!("</{name}>");
        let end = match body[start..].find(&close) {
            Some(i) => start + i + close.len(),
            None => start + body[start..].find("/>").expect("self-closed") + 2,
        };
        &body[start..end]
    }

    /// Removes every `<name>…</name>` / `<name/>` (not nested in itself) from serialised XML.
    fn without(xml: &str, name: &str) -> String {
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

    fn fault_message<T: std::fmt::Debug>(result: Parsed<T>) -> String {
        let fault = result.expect_err("a fault");
        assert_eq!(fault.code, ErrorCode::InvalidParameters);
        fault.message
    }

    // ---- Real requests parse, and say what the capture says --------------------------

    #[test]
    fn native_get_config_request() {
        let req = parse_get_config_request(&request_element(SCAN_GET_CONFIG.0)).unwrap();
        assert_eq!(req.protocol_version, "2.90");
    }

    #[test]
    fn native_get_authorization_cookie_request_has_no_target_group() {
        let req = parse_get_authorization_cookie_request(&request_element(SCAN_AUTH.0)).unwrap();
        assert_eq!(
            req.client_id.as_deref(),
            Some("e1da06a3-5601-43c9-bac3-52d5db701494")
        );
        assert_eq!(req.target_group_name, None);
        assert_eq!(req.dns_name.as_deref(), Some("REDACTED3"));
    }

    #[test]
    fn native_get_cookie_request_has_an_old_cookie_without_data() {
        let req = parse_get_cookie_request(&request_element(SCAN_GET_COOKIE.0)).unwrap();
        assert_eq!(req.auth_cookies.len(), 1);
        assert_eq!(req.auth_cookies[0].plugin_id, "SimpleTargeting");
        assert_eq!(req.auth_cookies[0].cookie_data, vec![0u8; 496]);
        let old = req.old_cookie.expect("oldCookie");
        assert_eq!(old.expiration, "2026-10-04T15:03:36Z");
        assert_eq!(old.encrypted_data, None);
        assert_eq!(req.last_change.as_deref(), Some("2026-10-04T13:17:07.59Z"));
        assert_eq!(req.current_time.as_deref(), Some("2026-10-04T15:03:36Z"));
        assert_eq!(req.protocol_version.as_deref(), Some("2.90"));
    }

    #[test]
    fn native_register_computer_request() {
        let req = parse_register_computer_request(&request_element(SCAN_REGISTER.0)).unwrap();
        let cookie = req.cookie.expect("cookie");
        assert_eq!(cookie.expiration, "2026-10-04T16:03:35.9967236Z");
        assert_eq!(cookie.encrypted_data, Some(vec![0u8; 224]));
        let c = req.computer;
        assert_eq!(c.dns_name, "REDACTED3");
        assert_eq!(
            (
                c.os_major_version.as_str(),
                c.os_minor_version.as_str(),
                c.os_build_number.as_str()
            ),
            ("10", "0", "26200")
        );
        assert_eq!(c.computer_model, "Standard PC (Q35 + ICH9, 2009)");
        assert_eq!(c.bios_release_date, "2022-02-02T00:00:00Z");
        assert_eq!(c.processor_architecture, "AMD64");
        assert_eq!(c.new_product_type, "48");
        assert_eq!(c.client_version_major_number, "1507");
        assert_eq!(c.os_description, "Windows 10 Pro");
        assert_eq!(c.mobile_operator, "Not Present");
    }

    #[test]
    fn native_start_category_scan_request_has_no_cookie() {
        let req = parse_start_category_scan_request(&request_element(SCAN_CATEGORY.0)).unwrap();
        assert_eq!(req.cookie, None);
        assert_eq!(req.requested, vec![(0, OOBE_ZDP)]);
    }

    #[test]
    fn native_first_sync_updates_request_omits_the_id_arrays() {
        let req = parse_sync_updates_request(&request_element(SCAN_SYNC[0].0)).unwrap();
        assert!(req.cookie.is_some());
        let p = req.parameters.expect("parameters");
        assert_eq!(
            p,
            SyncUpdateParameters {
                express_query: false,
                installed_non_leaf: None,
                other_cached: None,
                system_spec_present: false,
                cached_driver_ids: None,
                skip_software_sync: false,
                filter_category_ids: vec![OOBE_ZDP],
                need_two_group_out_of_scope: true,
                feature_score_matching_key: None,
            }
        );
    }

    #[test]
    fn native_later_sync_updates_requests_list_installed_non_leaf_ids() {
        let installed = |body| {
            let req = parse_sync_updates_request(&request_element(body)).unwrap();
            let p = req.parameters.unwrap();
            assert_eq!(p.other_cached, None);
            p.installed_non_leaf
        };
        assert_eq!(installed(SCAN_SYNC[1].0), Some(vec![108226]));
        assert_eq!(installed(SCAN_SYNC[2].0), Some(vec![108226, 108231]));
    }

    #[test]
    fn native_get_extended_update_info_requests() {
        let req = parse_get_extended_update_info_request(&request_element(SCAN_EXTENDED.0)).unwrap();
        assert_eq!(req.revision_ids, vec![72571, 108226, 108231]);
        assert_eq!(req.info_types, vec!["Extended", "LocalizedProperties"]);
        assert_eq!(req.locales, vec!["en-US", "en"]);
        let req = parse_get_extended_update_info_request(&request_element(FLOW_EXTENDED.0)).unwrap();
        assert_eq!(req.revision_ids.len(), 18);
        assert_eq!(req.revision_ids.first(), Some(&191472));
        assert_eq!(req.revision_ids.last(), Some(&200996));
        assert_eq!(req.info_types, vec!["Extended", "LocalizedProperties"]);
    }

    #[test]
    fn native_report_event_batch_request() {
        let req = parse_report_event_batch_request(&request_element(FLOW_REPORT.0)).unwrap();
        assert!(req.cookie.is_some());
        assert_eq!(req.client_time.as_deref(), Some("2026-10-04T15:20:47.397Z"));
        assert_eq!(req.events.len(), 4);
        let first = &req.events[0];
        assert_eq!(first.target_sid, "e1da06a3-5601-43c9-bac3-52d5db701494");
        assert_eq!(first.time_at_target, "2026-10-04T15:20:47.397Z");
        assert_eq!(
            first.event_instance_id,
            uuid::uuid!("fab199c1-6123-44f2-b01c-a5a92201b011")
        );
        assert_eq!(
            (first.namespace_id, first.event_id, first.source_id),
            (1, 147, 101)
        );
        assert_eq!(
            first.update_id,
            UpdateIdentity {
                update_id: Uuid::nil(),
                revision: 0
            }
        );
        assert_eq!(first.app_name, "OOBE ZDP");
        assert_eq!(first.replacement_strings, vec!["0"]);
        assert_eq!(first.misc_data.len(), 29);
        assert_eq!(first.misc_data[0], "B=3");
        assert_eq!(first.processor_architecture, "Amd64Compatible");
        assert_eq!(first.os_version, "10.0.26200.65792.0.0");
        assert_eq!(first.os_locale_id, 1033);
        assert_eq!(first.device_id, "");
        assert_eq!(req.events[1].win32_hresult, -2145123272);
        let last = &req.events[3];
        assert_eq!(last.app_name, "", "the fourth event has no AppName");
        assert!(last
            .misc_data
            .contains(&"AppName=<<PROCESS>>: powershell.exe".to_string()));
    }

    #[test]
    fn native_install_failure_report() {
        let req = parse_report_event_batch_request(&request_element(FLOW_REPORT_FAILURE)).unwrap();
        assert_eq!(req.events.len(), 2);
        let [bundle_member, bundle] = &req.events[..] else {
            panic!()
        };
        assert_eq!(bundle_member.event_id, 182);
        assert!(bundle_member.replacement_strings.is_empty());
        assert_eq!(
            bundle_member.update_id,
            UpdateIdentity {
                update_id: uuid::uuid!("0daf8592-9e3f-4a8a-9141-d83fafebd09f"),
                revision: 200
            }
        );
        assert_eq!(bundle.win32_hresult, -2145099769);
        assert_eq!(bundle.replacement_strings.len(), 2);
        assert!(bundle.replacement_strings[1].contains("KB2267602"));
    }

    #[test]
    fn spec_example_requests_with_soap_encoded_arrays_parse() {
        let req = parse_register_computer_request(&request_element(SPEC_REGISTER)).unwrap();
        assert_eq!(req.computer.processor_architecture, "x86");
        assert_eq!(
            req.computer.mobile_operator, "",
            "the 2006 client had no MobileOperator"
        );

        let req = parse_refresh_cache_request(&request_element(SPEC_REFRESH_CACHE)).unwrap();
        assert_eq!(req.global_ids.len(), 7);
        assert_eq!(
            req.global_ids[0],
            UpdateIdentity {
                update_id: uuid::uuid!("0a4c6c73-8887-4d7f-9cbe-d08fa8fa9d1e"),
                revision: 50
            }
        );
        assert!(
            req.cookie.unwrap().encrypted_data.is_some(),
            "base64 with a space decodes"
        );

        let req = parse_get_file_locations_request(&request_element(SPEC_FILE_LOCATIONS)).unwrap();
        assert_eq!(req.file_digests, vec![vec![0u8; 20]]);
    }

    #[test]
    fn xsi_nil_counts_as_absent() {
        let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soap:Body>
<SyncUpdates xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService">
<cookie>
<Expiration>2006-05-23T04:06:32.9843746Z</Expiration>
<EncryptedData xsi:nil="1" />
</cookie>
<parameters>
<ExpressQuery>false</ExpressQuery>
<InstalledNonLeafUpdateIDs xsi:nil="1" />
<OtherCachedUpdateIDs soapenc:arrayType="xsd:int[2]" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/">
<int>109</int>
<int> 110 </int>
</OtherCachedUpdateIDs>
<SystemSpec xsi:nil="true" />
<CachedDriverIDs xsi:nil="1" />
<SkipSoftwareSync>false</SkipSoftwareSync>
</parameters>
</SyncUpdates>
</soap:Body>
</soap:Envelope>"#;
        let req = parse_sync_updates_request(&request_element(body)).unwrap();
        assert_eq!(req.cookie.unwrap().encrypted_data, None);
        let p = req.parameters.unwrap();
        assert_eq!(p.installed_non_leaf, None);
        assert_eq!(p.other_cached, Some(vec![109, 110]));
        assert!(!p.system_spec_present);
        assert_eq!(p.cached_driver_ids, None);
        assert!(!p.need_two_group_out_of_scope);
    }

    // ---- Real requests re-serialise as Windows wrote them ----------------------------

    #[test]
    fn rebuilt_native_requests_are_byte_identical() {
        let cases = [
            (
                SCAN_GET_CONFIG.0,
                "GetConfig",
                build_get_config_request(
                    &parse_get_config_request(&request_element(SCAN_GET_CONFIG.0)).unwrap(),
                ),
            ),
            (
                SCAN_AUTH.0,
                "GetAuthorizationCookie",
                build_get_authorization_cookie_request(
                    &parse_get_authorization_cookie_request(&request_element(SCAN_AUTH.0)).unwrap(),
                ),
            ),
            (
                SCAN_GET_COOKIE.0,
                "GetCookie",
                build_get_cookie_request(
                    &parse_get_cookie_request(&request_element(SCAN_GET_COOKIE.0)).unwrap(),
                ),
            ),
            (
                SCAN_REGISTER.0,
                "RegisterComputer",
                build_register_computer_request(
                    &parse_register_computer_request(&request_element(SCAN_REGISTER.0)).unwrap(),
                ),
            ),
            (
                SCAN_CATEGORY.0,
                "StartCategoryScan",
                build_start_category_scan_request(
                    &parse_start_category_scan_request(&request_element(SCAN_CATEGORY.0)).unwrap(),
                ),
            ),
            (
                FLOW_REPORT.0,
                "ReportEventBatch",
                build_report_event_batch_request(
                    &parse_report_event_batch_request(&request_element(FLOW_REPORT.0)).unwrap(),
                ),
            ),
            (
                FLOW_REPORT_FAILURE,
                "ReportEventBatch",
                build_report_event_batch_request(
                    &parse_report_event_batch_request(&request_element(FLOW_REPORT_FAILURE)).unwrap(),
                ),
            ),
        ];
        for (body, name, rebuilt) in cases {
            assert_eq!(rebuilt, operation_xml(body, name), "{name}");
            assert_eq!(envelope::request(&rebuilt), body, "{name} envelope");
        }
    }

    /// Windows adds elements MS-WUSP does not define (and the model does not keep):
    /// without them, the rebuilt request is the captured one byte for byte.
    #[test]
    fn rebuilt_native_requests_match_without_unmodelled_elements() {
        for (body, _) in SCAN_SYNC {
            let rebuilt =
                build_sync_updates_request(&parse_sync_updates_request(&request_element(body)).unwrap());
            let mut real = operation_xml(body, "SyncUpdates").to_string();
            for extra in ["AlsoPerformRegularSync", "ComputerSpec", "ProductsParameters"] {
                real = without(&real, extra);
            }
            assert_eq!(rebuilt, real);
        }
        for (body, _) in [SCAN_EXTENDED, FLOW_EXTENDED] {
            let rebuilt = build_get_extended_update_info_request(
                &parse_get_extended_update_info_request(&request_element(body)).unwrap(),
            );
            let mut real = operation_xml(body, "GetExtendedUpdateInfo").to_string();
            for extra in ["deviceAttributes", "GeoId", "callerAttributes"] {
                real = without(&real, extra);
            }
            assert_eq!(rebuilt, real);
        }
    }

    // ---- Real responses parse and re-serialise byte for byte -------------------------

    #[test]
    fn real_get_config_response_round_trips() {
        let config = parse_get_config_response(&response_element(SCAN_GET_CONFIG.1)).unwrap();
        assert_eq!(config.last_change, "2026-10-04T13:17:07.59Z");
        assert!(config.is_registration_required);
        assert_eq!(config.plugin_id, "SimpleTargeting");
        assert_eq!(config.service_url, "SimpleAuthWebService/SimpleAuth.asmx");
        assert_eq!(config.properties.len(), 5);
        assert_eq!(config.properties[1].1, r"\\REDACTED2\UpdateServicesPackages");
        assert_eq!(config.properties[2], ("ProtocolVersion".into(), "3.2".into()));
        assert_eq!(
            build_get_config_response(&config),
            operation_xml(SCAN_GET_CONFIG.1, "GetConfigResponse")
        );
    }

    #[test]
    fn real_get_authorization_cookie_response_round_trips() {
        let cookie = parse_get_authorization_cookie_response(&response_element(SCAN_AUTH.1)).unwrap();
        assert_eq!(cookie.plugin_id, "SimpleTargeting");
        assert_eq!(cookie.cookie_data, vec![0u8; 496]);
        assert_eq!(
            build_get_authorization_cookie_response(&cookie),
            operation_xml(SCAN_AUTH.1, "GetAuthorizationCookieResponse")
        );
    }

    #[test]
    fn real_get_cookie_response_round_trips() {
        let cookie = parse_get_cookie_response(&response_element(SCAN_GET_COOKIE.1)).unwrap();
        assert_eq!(cookie.expiration, "2026-10-04T16:03:35.9967236Z");
        assert_eq!(cookie.encrypted_data, Some(vec![0u8; 224]));
        assert_eq!(
            build_get_cookie_response(&cookie),
            operation_xml(SCAN_GET_COOKIE.1, "GetCookieResponse")
        );
    }

    #[test]
    fn real_register_computer_response_round_trips() {
        parse_register_computer_response(&response_element(SCAN_REGISTER.1)).unwrap();
        assert_eq!(
            build_register_computer_response(&()),
            operation_xml(SCAN_REGISTER.1, "RegisterComputerResponse")
        );
    }

    #[test]
    fn real_start_category_scan_response_round_trips() {
        let resp = parse_start_category_scan_response(&response_element(SCAN_CATEGORY.1)).unwrap();
        assert_eq!(
            resp,
            StartCategoryScanResponse {
                preferred: vec![OOBE_ZDP],
                in_error: vec![]
            }
        );
        assert_eq!(
            build_start_category_scan_response(&resp),
            operation_xml(SCAN_CATEGORY.1, "StartCategoryScanResponse")
        );
    }

    #[test]
    fn real_sync_updates_responses_round_trip() {
        let bodies = [
            SCAN_SYNC[0].1,
            SCAN_SYNC[1].1,
            SCAN_SYNC[2].1,
            SCAN_DRIVER_SYNC_RESPONSE,
            FLOW_SYNC_RESPONSE,
        ];
        for body in bodies {
            let info = parse_sync_updates_response(&response_element(body)).unwrap();
            assert_eq!(
                build_sync_updates_response(&info),
                operation_xml(body, "SyncUpdatesResponse")
            );
        }
    }

    #[test]
    fn real_sync_updates_responses_say_what_the_capture_says() {
        let info = parse_sync_updates_response(&response_element(SCAN_SYNC[2].1)).unwrap();
        assert_eq!(info.new_updates.len(), 1);
        let update = &info.new_updates[0];
        assert_eq!((update.id, update.is_leaf), (72571, true));
        assert_eq!(
            update.deployment,
            Deployment {
                id: 4650,
                action: DeploymentAction::Evaluate,
                deadline: None,
                is_assigned: true,
                last_change_time: "2026-10-04".into(),
                download_priority: None,
                auto_select: Some("0".into()),
                auto_download: Some("0".into()),
                supersedence_behavior: Some("0".into()),
            }
        );
        assert!(update.xml.starts_with(
            r#"<UpdateIdentity UpdateID="dd78b8a1-0b20-45c1-add6-4da72e9364cf" RevisionNumber="202" />"#
        ));
        assert!(!info.truncated);
        assert_eq!(info.deployed_out_of_scope_revision_ids, None);
        assert_eq!(info.driver_sync_not_needed, Some(true));

        let driver = parse_sync_updates_response(&response_element(SCAN_DRIVER_SYNC_RESPONSE)).unwrap();
        assert!(driver.new_updates.is_empty() && driver.changed_updates.is_empty());

        let flow = parse_sync_updates_response(&response_element(FLOW_SYNC_RESPONSE)).unwrap();
        assert_eq!(flow.new_updates.len(), 6);
        assert!(flow
            .new_updates
            .iter()
            .all(|u| u.xml.contains(r#"<Properties UpdateType="Detectoid" />"#)));
        assert_eq!(flow.driver_sync_not_needed, Some(false));
    }

    #[test]
    fn real_get_extended_update_info_responses_round_trip() {
        for body in [SCAN_EXTENDED.1, FLOW_EXTENDED.1] {
            let info = parse_get_extended_update_info_response(&response_element(body)).unwrap();
            assert_eq!(
                build_get_extended_update_info_response(&info),
                operation_xml(body, "GetExtendedUpdateInfoResponse")
            );
        }
        let scan = parse_get_extended_update_info_response(&response_element(SCAN_EXTENDED.1)).unwrap();
        assert_eq!(scan.updates.len(), 6);
        assert!(scan.file_locations.is_empty() && scan.out_of_scope_revision_ids.is_empty());
        let flow = parse_get_extended_update_info_response(&response_element(FLOW_EXTENDED.1)).unwrap();
        assert_eq!(flow.file_locations.len(), 9);
        let first = &flow.file_locations[0];
        assert_eq!(first.file_digest.len(), 20);
        assert_eq!(
            first.url,
            "http://192.0.2.1:8530/Content/49/A379D5526FB3A7A0423DA1CD7FC3182A8D448449.exe"
        );
    }

    /// The source redacted both cookie fields to `REDACTED`; that happens to be valid
    /// base64 (six bytes), so the capture still round-trips.
    #[test]
    fn real_get_file_locations_response_round_trips() {
        let resp = parse_get_file_locations_response(&response_element(CBS_FILE_LOCATIONS_RESPONSE)).unwrap();
        assert_eq!(resp.file_locations.len(), 1);
        assert_eq!(resp.file_locations[0].file_digest.len(), 20);
        assert!(resp.file_locations[0]
            .url
            .ends_with("/Content/A2/86542C97261C46D5B379A43EC895F97EAF409BA2.cab"));
        assert_eq!(
            build_get_file_locations_response(&resp),
            operation_xml(CBS_FILE_LOCATIONS_RESPONSE, "GetFileLocationsResponse")
        );
    }

    #[test]
    fn real_report_event_batch_response_round_trips() {
        assert!(parse_report_event_batch_response(&response_element(FLOW_REPORT.1)).unwrap());
        assert_eq!(
            build_report_event_batch_response(&true),
            operation_xml(FLOW_REPORT.1, "ReportEventBatchResponse")
        );
    }

    #[test]
    fn empty_elements_follow_each_services_style() {
        assert_eq!(
            build_register_computer_response(&()),
            format!("<RegisterComputerResponse xmlns=\"{CLIENT_NS}\"/>")
        );
        let cookie = AuthorizationCookie {
            plugin_id: String::new(),
            cookie_data: vec![],
        };
        assert_eq!(
            build_get_authorization_cookie_response(&cookie),
            format!("<GetAuthorizationCookieResponse xmlns=\"{SIMPLE_AUTH_NS}\"><GetAuthorizationCookieResult><PlugInId /><CookieData /></GetAuthorizationCookieResult></GetAuthorizationCookieResponse>")
        );
    }

    #[test]
    fn empty_lists_are_omitted_but_requested_empty_lists_are_sent() {
        let info = SyncInfo {
            deployed_out_of_scope_revision_ids: Some(vec![]),
            ..SyncInfo::default()
        };
        let xml = build_sync_updates_response(&info);
        assert!(!xml.contains("NewUpdates") && !xml.contains("OutOfScopeRevisionIDs>"));
        assert!(xml.contains("<DeployedOutOfScopeRevisionIds/>"), "{xml}");
        assert!(!xml.contains("DriverSyncNotNeeded"));
    }

    #[test]
    fn omitted_and_empty_id_arrays_stay_apart() {
        let parameters = SyncUpdateParameters {
            installed_non_leaf: Some(vec![]),
            other_cached: None,
            cached_driver_ids: Some(vec![5]),
            ..SyncUpdateParameters::default()
        };
        let req = SyncUpdatesRequest {
            cookie: None,
            parameters: Some(parameters),
        };
        let xml = build_sync_updates_request(&req);
        assert!(xml.contains("<InstalledNonLeafUpdateIDs/>"), "{xml}");
        assert!(!xml.contains("OtherCachedUpdateIDs"), "{xml}");
        assert!(
            xml.contains("<CachedDriverIDs><int>5</int></CachedDriverIDs>"),
            "{xml}"
        );
        assert_eq!(
            parse_sync_updates_request(&xml::parse(&xml).unwrap()).unwrap(),
            req
        );
    }

    #[test]
    fn text_escaping_matches_wsus() {
        assert_eq!(
            escape_text(r#"<a b="c">&'</a>"#),
            r#"&lt;a b="c"&gt;&amp;'&lt;/a&gt;"#
        );
        assert_eq!(escape_text("a\r\nb"), "a&#xD;\nb");
        assert!(matches!(escape_text("plain"), std::borrow::Cow::Borrowed(_)));
    }

    // ---- Round-trip properties -------------------------------------------------------

    /// A small deterministic generator of message values.
    struct Gen(StdRng);

    const STRINGS: [&str; 10] = [
        "",
        "plain",
        r#"<&>"'"#,
        "é日本語🦀",
        "  leading and trailing  ",
        "line\r\nbreak\ttab",
        "]]>",
        "&amp; literally",
        "<UpdateIdentity UpdateID=\"x\" />",
        "\u{a0}\u{2028}",
    ];

    impl Gen {
        fn new(seed: u64) -> Gen {
            Gen(StdRng::seed_from_u64(seed))
        }

        fn bool(&mut self) -> bool {
            self.0.gen()
        }

        fn int(&mut self) -> i32 {
            match self.0.gen_range(0..4) {
                0 => [0, -1, i32::MIN, i32::MAX][self.0.gen_range(0..4)],
                _ => self.0.gen(),
            }
        }

        fn short(&mut self) -> i16 {
            self.0.gen()
        }

        fn revision(&mut self) -> u32 {
            self.0.gen_range(0..=i32::MAX as u32)
        }

        fn uuid(&mut self) -> Uuid {
            Uuid::from_bytes(self.0.gen())
        }

        /// Empty a quarter of the time; otherwise up to 47 bytes.
        fn bytes(&mut self) -> Vec<u8> {
            let len = if self.0.gen_range(0..4) == 0 {
                0
            } else {
                self.0.gen_range(1..48)
            };
            (0..len).map(|_| self.0.gen()).collect()
        }

        fn string(&mut self) -> String {
            let first = STRINGS[self.0.gen_range(0..STRINGS.len())];
            let second = STRINGS[self.0.gen_range(0..STRINGS.len())];
            format!("{first}{second}")
        }

        fn opt<T>(&mut self, f: impl FnOnce(&mut Gen) -> T) -> Option<T> {
            self.bool().then(|| f(self))
        }

        fn vec<T>(&mut self, f: impl Fn(&mut Gen) -> T) -> Vec<T> {
            let len = self.0.gen_range(0..4);
            (0..len).map(|_| f(self)).collect()
        }

        fn cookie(&mut self) -> Cookie {
            Cookie {
                expiration: self.string(),
                encrypted_data: self.opt(Gen::bytes),
            }
        }

        fn auth_cookie(&mut self) -> AuthorizationCookie {
            AuthorizationCookie {
                plugin_id: self.string(),
                cookie_data: self.bytes(),
            }
        }

        fn identity(&mut self) -> UpdateIdentity {
            UpdateIdentity {
                update_id: self.uuid(),
                revision: self.revision(),
            }
        }

        fn deployment(&mut self) -> Deployment {
            let actions = [
                DeploymentAction::Install,
                DeploymentAction::OptionalInstall,
                DeploymentAction::Uninstall,
                DeploymentAction::PreDeploymentCheck,
                DeploymentAction::Block,
                DeploymentAction::Evaluate,
                DeploymentAction::Bundle,
            ];
            Deployment {
                id: self.int(),
                action: actions[self.0.gen_range(0..actions.len())],
                deadline: self.opt(Gen::string),
                is_assigned: self.bool(),
                last_change_time: self.string(),
                download_priority: self.opt(Gen::string),
                auto_select: self.opt(Gen::string),
                auto_download: self.opt(Gen::string),
                supersedence_behavior: self.opt(Gen::string),
            }
        }

        fn update_info(&mut self) -> UpdateInfo {
            UpdateInfo {
                id: self.int(),
                deployment: self.deployment(),
                is_leaf: self.bool(),
                xml: self.string().into(),
            }
        }

        fn sync_info(&mut self) -> SyncInfo {
            SyncInfo {
                new_updates: self.vec(Gen::update_info),
                out_of_scope_revision_ids: self.vec(Gen::int),
                changed_updates: self.vec(Gen::update_info),
                truncated: self.bool(),
                new_cookie: self.cookie(),
                deployed_out_of_scope_revision_ids: self.opt(|g| g.vec(Gen::int)),
                driver_sync_not_needed: self.opt(Gen::bool),
            }
        }

        fn file_location(&mut self) -> FileLocation {
            FileLocation {
                file_digest: self.bytes(),
                url: self.string(),
            }
        }

        fn extended_update_info(&mut self) -> ExtendedUpdateInfo {
            ExtendedUpdateInfo {
                updates: self.vec(|g| (g.int(), g.string())),
                file_locations: self.vec(Gen::file_location),
                out_of_scope_revision_ids: self.vec(Gen::int),
            }
        }

        fn computer(&mut self) -> ComputerInfo {
            let mut c = ComputerInfo::default();
            for (field, (_, number)) in computer_values_mut(&mut c).into_iter().zip(COMPUTER_FIELDS) {
                *field = match number {
                    Number::Text | Number::Required => self.string(),
                    Number::Int => self.int().to_string(),
                    Number::Short => self.short().to_string(),
                    Number::Byte => self.0.gen::<u8>().to_string(),
                };
            }
            c
        }

        fn event(&mut self) -> ReportingEvent {
            ReportingEvent {
                target_sid: self.string(),
                sequence_number: self.0.gen(),
                time_at_target: self.string(),
                event_instance_id: self.uuid(),
                namespace_id: self.int(),
                event_id: self.short().into(),
                source_id: self.short().into(),
                update_id: self.identity(),
                win32_hresult: self.int(),
                app_name: self.string(),
                replacement_strings: self.vec(Gen::string),
                misc_data: self.vec(Gen::string),
                computer_brand: self.string(),
                computer_model: self.string(),
                bios_revision: self.string(),
                processor_architecture: self.string(),
                os_version: (0..6)
                    .map(|_| self.int().to_string())
                    .collect::<Vec<_>>()
                    .join("."),
                os_locale_id: self.int(),
                device_id: self.string(),
            }
        }
    }

    /// `parse(build(x)) == x` for `CASES` generated values, also through the SOAP envelope.
    fn round_trip<T: PartialEq + std::fmt::Debug>(
        generate: impl Fn(&mut Gen) -> T,
        build: impl Fn(&T) -> String,
        parse: impl Fn(&Element) -> Parsed<T>,
        wrap: impl Fn(&str) -> String,
    ) {
        const CASES: u64 = 48;
        for seed in 0..CASES {
            let value = generate(&mut Gen::new(seed));
            let xml = build(&value);
            let element = xml::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
            assert_eq!(
                parse(&element).unwrap_or_else(|f| panic!("{f:?}: {xml}")),
                value,
                "{xml}"
            );
            let wrapped = soap::parse_response(&wrap(&xml)).expect("envelope");
            assert_eq!(parse(&wrapped).expect("wrapped"), value);
        }
    }

    fn request_round_trip<T: PartialEq + std::fmt::Debug>(
        generate: impl Fn(&mut Gen) -> T,
        build: impl Fn(&T) -> String,
        parse: impl Fn(&Element) -> Parsed<T>,
    ) {
        round_trip(generate, build, parse, envelope::request);
    }

    fn response_round_trip<T: PartialEq + std::fmt::Debug>(
        op: Operation,
        generate: impl Fn(&mut Gen) -> T,
        build: impl Fn(&T) -> String,
        parse: impl Fn(&Element) -> Parsed<T>,
    ) {
        round_trip(generate, build, parse, |xml| envelope::response(op, xml));
    }

    #[test]
    fn request_round_trips() {
        request_round_trip(
            |g| GetConfigRequest {
                protocol_version: g.string(),
            },
            build_get_config_request,
            parse_get_config_request,
        );
        request_round_trip(
            |g| GetAuthorizationCookieRequest {
                client_id: g.opt(Gen::string),
                target_group_name: g.opt(Gen::string),
                dns_name: g.opt(Gen::string),
            },
            build_get_authorization_cookie_request,
            parse_get_authorization_cookie_request,
        );
        request_round_trip(
            |g| GetCookieRequest {
                auth_cookies: g.vec(Gen::auth_cookie),
                old_cookie: g.opt(Gen::cookie),
                last_change: g.opt(Gen::string),
                current_time: g.opt(Gen::string),
                protocol_version: g.opt(Gen::string),
            },
            build_get_cookie_request,
            parse_get_cookie_request,
        );
        request_round_trip(
            |g| RegisterComputerRequest {
                cookie: g.opt(Gen::cookie),
                computer: g.computer(),
            },
            build_register_computer_request,
            parse_register_computer_request,
        );
        request_round_trip(
            |g| StartCategoryScanRequest {
                cookie: g.opt(Gen::cookie),
                requested: g.vec(|g| (g.int(), g.uuid())),
            },
            build_start_category_scan_request,
            parse_start_category_scan_request,
        );
        request_round_trip(
            |g| SyncUpdatesRequest {
                cookie: g.opt(Gen::cookie),
                parameters: g.opt(|g| SyncUpdateParameters {
                    express_query: g.bool(),
                    installed_non_leaf: g.opt(|g| g.vec(Gen::int)),
                    other_cached: g.opt(|g| g.vec(Gen::int)),
                    system_spec_present: g.bool(),
                    cached_driver_ids: g.opt(|g| g.vec(Gen::int)),
                    skip_software_sync: g.bool(),
                    filter_category_ids: g.vec(Gen::uuid),
                    need_two_group_out_of_scope: g.bool(),
                    feature_score_matching_key: g.opt(Gen::string),
                }),
            },
            build_sync_updates_request,
            parse_sync_updates_request,
        );
        request_round_trip(
            |g| SyncPrinterCatalogRequest {
                cookie: g.opt(Gen::cookie),
                installed_non_leaf: g.vec(Gen::int),
                printer_update_ids: g.vec(Gen::int),
            },
            build_sync_printer_catalog_request,
            parse_sync_printer_catalog_request,
        );
        request_round_trip(
            |g| RefreshCacheRequest {
                cookie: g.opt(Gen::cookie),
                global_ids: g.vec(Gen::identity),
            },
            build_refresh_cache_request,
            parse_refresh_cache_request,
        );
        request_round_trip(
            |g| GetExtendedUpdateInfoRequest {
                cookie: g.opt(Gen::cookie),
                revision_ids: g.vec(Gen::int),
                info_types: g.vec(Gen::string),
                locales: g.vec(Gen::string),
            },
            build_get_extended_update_info_request,
            parse_get_extended_update_info_request,
        );
        request_round_trip(
            |g| GetExtendedUpdateInfo2Request {
                cookie: g.opt(Gen::cookie),
                update_ids: g.vec(Gen::identity),
                info_types: g.vec(Gen::string),
                locales: g.vec(Gen::string),
            },
            build_get_extended_update_info2_request,
            parse_get_extended_update_info2_request,
        );
        request_round_trip(
            |g| GetFileLocationsRequest {
                cookie: g.opt(Gen::cookie),
                file_digests: g.vec(Gen::bytes),
            },
            build_get_file_locations_request,
            parse_get_file_locations_request,
        );
        request_round_trip(
            |g| ReportEventBatchRequest {
                cookie: g.opt(Gen::cookie),
                client_time: g.opt(Gen::string),
                events: g.vec(Gen::event),
            },
            build_report_event_batch_request,
            parse_report_event_batch_request,
        );
    }

    #[test]
    fn response_round_trips() {
        response_round_trip(
            Operation::GetConfig,
            |g| Config {
                last_change: g.string(),
                is_registration_required: g.bool(),
                plugin_id: g.string(),
                service_url: g.string(),
                properties: g.vec(|g| (g.string(), g.string())),
            },
            build_get_config_response,
            parse_get_config_response,
        );
        response_round_trip(
            Operation::GetAuthorizationCookie,
            Gen::auth_cookie,
            build_get_authorization_cookie_response,
            parse_get_authorization_cookie_response,
        );
        response_round_trip(
            Operation::GetCookie,
            Gen::cookie,
            build_get_cookie_response,
            parse_get_cookie_response,
        );
        response_round_trip(
            Operation::RegisterComputer,
            |_| (),
            build_register_computer_response,
            parse_register_computer_response,
        );
        response_round_trip(
            Operation::StartCategoryScan,
            |g| StartCategoryScanResponse {
                preferred: g.vec(Gen::uuid),
                in_error: g.vec(Gen::uuid),
            },
            build_start_category_scan_response,
            parse_start_category_scan_response,
        );
        response_round_trip(
            Operation::SyncUpdates,
            Gen::sync_info,
            build_sync_updates_response,
            parse_sync_updates_response,
        );
        response_round_trip(
            Operation::SyncPrinterCatalog,
            Gen::sync_info,
            build_sync_printer_catalog_response,
            parse_sync_printer_catalog_response,
        );
        response_round_trip(
            Operation::RefreshCache,
            |g| {
                g.vec(|g| RefreshCacheResult {
                    revision_id: g.int(),
                    global_id: g.identity(),
                    is_leaf: g.bool(),
                    deployment: g.deployment(),
                })
            },
            |results| build_refresh_cache_response(results),
            parse_refresh_cache_response,
        );
        response_round_trip(
            Operation::GetExtendedUpdateInfo,
            Gen::extended_update_info,
            build_get_extended_update_info_response,
            parse_get_extended_update_info_response,
        );
        response_round_trip(
            Operation::GetExtendedUpdateInfo2,
            |g| ExtendedUpdateInfo {
                out_of_scope_revision_ids: vec![],
                ..g.extended_update_info()
            },
            build_get_extended_update_info2_response,
            parse_get_extended_update_info2_response,
        );
        response_round_trip(
            Operation::GetFileLocations,
            |g| GetFileLocationsResponse {
                file_locations: g.vec(Gen::file_location),
                new_cookie: g.cookie(),
            },
            build_get_file_locations_response,
            parse_get_file_locations_response,
        );
        response_round_trip(
            Operation::ReportEventBatch,
            Gen::bool,
            build_report_event_batch_response,
            parse_report_event_batch_response,
        );
    }

    #[test]
    fn generated_values_cover_the_interesting_shapes() {
        let infos: Vec<SyncInfo> = (0..48).map(|s| Gen::new(s).sync_info()).collect();
        assert!(infos.iter().any(|i| i.new_updates.is_empty()));
        assert!(infos.iter().any(|i| i.new_updates.len() > 1));
        assert!(infos
            .iter()
            .any(|i| i.deployed_out_of_scope_revision_ids == Some(vec![])));
        assert!(infos
            .iter()
            .any(|i| i.deployed_out_of_scope_revision_ids.is_none()));
        assert!(infos.iter().any(|i| i.new_cookie.encrypted_data == Some(vec![])));
        let xml: String = infos.iter().map(build_sync_updates_response).collect();
        for needle in ["&lt;&amp;&gt;\"'", "🦀", "&#xD;\n", "]]&gt;", "&amp;amp;"] {
            assert!(xml.contains(needle), "{needle}");
        }
    }

    /// GetExtendedUpdateInfo2's result type has no `OutOfScopeRevisionIDs`.
    #[test]
    fn extended_update_info2_does_not_send_out_of_scope_ids() {
        let info = ExtendedUpdateInfo {
            out_of_scope_revision_ids: vec![7],
            ..ExtendedUpdateInfo::default()
        };
        let xml = build_get_extended_update_info2_response(&info);
        assert_eq!(
            xml,
            format!("<GetExtendedUpdateInfo2Response xmlns=\"{CLIENT_NS}\"><GetExtendedUpdateInfo2Result/></GetExtendedUpdateInfo2Response>")
        );
    }

    // ---- Hostile and malformed input -------------------------------------------------

    fn sync_request_with(parameters: &str) -> Element {
        let xml = format!(
            "<SyncUpdates xmlns=\"{CLIENT_NS}\"><cookie><Expiration>x</Expiration></cookie><parameters>{parameters}</parameters></SyncUpdates>"
        );
        xml::parse(&xml).unwrap()
    }

    #[test]
    fn huge_ints_are_invalid_parameters_naming_the_field() {
        let el = sync_request_with(
            "<ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs><int>1</int><int>99999999999999999999</int></InstalledNonLeafUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync>",
        );
        assert_eq!(
            fault_message(parse_sync_updates_request(&el)),
            "parameters.InstalledNonLeafUpdateIDs[1]"
        );
        let el = sync_request_with(
            "<ExpressQuery>false</ExpressQuery><OtherCachedUpdateIDs><int>2147483648</int></OtherCachedUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync>",
        );
        assert_eq!(
            fault_message(parse_sync_updates_request(&el)),
            "parameters.OtherCachedUpdateIDs[0]"
        );
    }

    #[test]
    fn missing_required_elements_are_named() {
        let el = sync_request_with("<SkipSoftwareSync>false</SkipSoftwareSync>");
        assert_eq!(
            fault_message(parse_sync_updates_request(&el)),
            "parameters.ExpressQuery"
        );
        let el =
            sync_request_with("<ExpressQuery>maybe</ExpressQuery><SkipSoftwareSync>false</SkipSoftwareSync>");
        assert_eq!(
            fault_message(parse_sync_updates_request(&el)),
            "parameters.ExpressQuery"
        );
        let el =
            xml::parse("<SyncUpdates><cookie><EncryptedData>AAAA</EncryptedData></cookie></SyncUpdates>")
                .unwrap();
        assert_eq!(
            fault_message(parse_sync_updates_request(&el)),
            "cookie.Expiration"
        );
        let el =
            xml::parse("<RegisterComputer><cookie><Expiration>x</Expiration></cookie></RegisterComputer>")
                .unwrap();
        assert_eq!(
            fault_message(parse_register_computer_request(&el)),
            "computerInfo"
        );
    }

    #[test]
    fn wrong_base64_is_invalid_parameters_naming_the_field() {
        let el = xml::parse(
            "<GetCookie><oldCookie><Expiration>x</Expiration><EncryptedData>not base64!</EncryptedData></oldCookie></GetCookie>",
        )
        .unwrap();
        assert_eq!(
            fault_message(parse_get_cookie_request(&el)),
            "oldCookie.EncryptedData"
        );
        let el = xml::parse("<GetFileLocations><fileDigests><base64Binary>AAAA</base64Binary><base64Binary>A</base64Binary></fileDigests></GetFileLocations>").unwrap();
        assert_eq!(
            fault_message(parse_get_file_locations_request(&el)),
            "fileDigests[1]"
        );
        let el = xml::parse("<GetCookie><authCookies><AuthorizationCookie><CookieData>%%%%</CookieData></AuthorizationCookie></authCookies></GetCookie>").unwrap();
        assert_eq!(
            fault_message(parse_get_cookie_request(&el)),
            "authCookies[0].CookieData"
        );
    }

    #[test]
    fn bad_guids_and_numbers_are_named() {
        let el = xml::parse("<StartCategoryScan><requestedCategories><CategoryRelationship><IndexOfAndGroup>0</IndexOfAndGroup><CategoryId>not-a-guid</CategoryId></CategoryRelationship></requestedCategories></StartCategoryScan>").unwrap();
        assert_eq!(
            fault_message(parse_start_category_scan_request(&el)),
            "requestedCategories[0].CategoryId"
        );
        let el = xml::parse("<RefreshCache><globalIDs><UpdateIdentity><UpdateID>0a4c6c73-8887-4d7f-9cbe-d08fa8fa9d1e</UpdateID><RevisionNumber>-1</RevisionNumber></UpdateIdentity></globalIDs></RefreshCache>").unwrap();
        assert_eq!(
            fault_message(parse_refresh_cache_request(&el)),
            "globalIDs[0].RevisionNumber"
        );
        let register = SCAN_REGISTER
            .0
            .replace("<SuiteMask>256</SuiteMask>", "<SuiteMask>65536</SuiteMask>");
        assert_eq!(
            fault_message(parse_register_computer_request(&request_element(&register))),
            "computerInfo.SuiteMask"
        );
        let report = FLOW_REPORT
            .0
            .replacen("<EventID>147</EventID>", "<EventID>40000</EventID>", 1);
        assert_eq!(
            fault_message(parse_report_event_batch_request(&request_element(&report))),
            "eventBatch[0].BasicData.EventID"
        );
        let sync = SCAN_SYNC[2]
            .1
            .replace("<Action>Evaluate</Action>", "<Action>Explode</Action>");
        assert_eq!(
            fault_message(parse_sync_updates_response(&response_element(&sync))),
            "SyncUpdatesResult.NewUpdates[0].Deployment.Action"
        );
    }

    #[test]
    fn a_wrong_operation_element_is_refused() {
        let message = fault_message(parse_get_cookie_request(&request_element(SCAN_GET_CONFIG.0)));
        assert!(message.contains("GetCookie"), "{message}");
        assert!(parse_get_cookie_response(&response_element(SCAN_GET_CONFIG.1)).is_err());
    }

    /// Parses any request element with its operation's parser.
    fn parse_any_request(op: Operation, el: &Element) -> Result<(), ClientFault> {
        match op {
            Operation::GetConfig => parse_get_config_request(el).map(drop),
            Operation::GetAuthorizationCookie => parse_get_authorization_cookie_request(el).map(drop),
            Operation::GetCookie => parse_get_cookie_request(el).map(drop),
            Operation::RegisterComputer => parse_register_computer_request(el).map(drop),
            Operation::StartCategoryScan => parse_start_category_scan_request(el).map(drop),
            Operation::SyncUpdates => parse_sync_updates_request(el).map(drop),
            Operation::SyncPrinterCatalog => parse_sync_printer_catalog_request(el).map(drop),
            Operation::RefreshCache => parse_refresh_cache_request(el).map(drop),
            Operation::GetExtendedUpdateInfo => parse_get_extended_update_info_request(el).map(drop),
            Operation::GetExtendedUpdateInfo2 => parse_get_extended_update_info2_request(el).map(drop),
            Operation::GetFileLocations => parse_get_file_locations_request(el).map(drop),
            Operation::ReportEventBatch => parse_report_event_batch_request(el).map(drop),
        }
    }

    /// Random byte damage to every real request: a fault or a value, never a panic.
    #[test]
    fn damaged_requests_never_panic() {
        let bodies = [
            SCAN_GET_CONFIG.0,
            SCAN_AUTH.0,
            SCAN_GET_COOKIE.0,
            SCAN_REGISTER.0,
            SCAN_CATEGORY.0,
            SCAN_SYNC[2].0,
            SCAN_EXTENDED.0,
            FLOW_REPORT.0,
            SPEC_REFRESH_CACHE,
            SPEC_FILE_LOCATIONS,
        ];
        let mut rng = StdRng::seed_from_u64(7);
        let noise = b"<>&;/=\"' 0123456789-xAZ\x00\xff";
        for body in bodies {
            for _ in 0..100 {
                let mut bytes = body.as_bytes().to_vec();
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] = noise[rng.gen_range(0..noise.len())];
                }
                let text = String::from_utf8_lossy(&bytes);
                if let Ok((op, el)) = envelope::parse_request(&text, None) {
                    let _ = parse_any_request(op, &el);
                }
            }
        }
    }
}
