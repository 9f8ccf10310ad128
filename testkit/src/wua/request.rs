//! Requests as Windows 11 25H2 (Windows Update Agent 1507.2601.30012.0, `Client-Protocol/2.90`)
//! sends them, written as text templates after the captured requests in `tests/fixtures/replay/`:
//! SOAP 1.1 with the `s:` prefix, the operation in its service's default namespace, no XML
//! declaration, no whitespace, and the elements Windows adds beyond the WSDL
//! (`AlsoPerformRegularSync`, `ProductsParameters`, `deviceAttributes`) where it adds them.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use uuid::Uuid;

use super::answers::{AuthorizationCookie, Cookie};
use super::reply::SOAP_NS;
use crate::xml::escape_text;

pub(crate) const CLIENT_NS: &str = "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService";
pub(crate) const SIMPLE_AUTH_NS: &str =
    "http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService";
pub(crate) const REPORTING_NS: &str = "http://www.microsoft.com/SoftwareDistribution";

pub(crate) const CLIENT_PATH: &str = "/ClientWebService/client.asmx";
pub(crate) const SIMPLE_AUTH_PATH: &str = "/SimpleAuthWebService/SimpleAuth.asmx";
pub(crate) const REPORTING_PATH: &str = "/ReportingWebService/ReportingWebService.asmx";

/// The protocol version Windows 11 25H2 announces.
pub const PROTOCOL_VERSION: &str = "2.90";

/// The captured client's `DeviceAttributes` (shortened: the hardware-specific entries left out).
pub const DEVICE_ATTRIBUTES: &str = "ActivationChannel=Retail;App=WU_OS;AppVer=1507.2601.30012.0;\
BranchReadinessLevel=CB;CurrentBranch=ge_release;DeviceFamily=Windows.Desktop;\
DL_OSVersion=10.0.26200.8037;FlightRing=Retail;InstallationType=Client;InstallLanguage=en-US;\
OSArchitecture=AMD64;OSSkuId=48;OSUILocale=en-US;OSVersion=10.0.26200.8037;ProductType=WinNT;\
TelemetryLevel=1;WuClientVer=1451.2601.23012.0;";

/// The captured client's `CallerAttributes` of a scheduled scan.
pub const CALLER_ATTRIBUTES: &str =
    "Interactive=0;SheddingAware=1;Id=MoUpdateOrchestrator;AADDeviceTokenState=WU:0x00248002;";

/// One SOAP call: where it goes, its `SOAPAction` header (quoted, as Windows sends it), its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) path: &'static str,
    /// The `SOAPAction` header, quoted as Windows sends it.
    pub action: String,
    /// The SOAP envelope.
    pub body: String,
}

/// The envelope around `<{operation} xmlns="{namespace}">{inner}</{operation}>`.
fn call(path: &'static str, namespace: &str, operation: &str, inner: &str) -> Request {
    Request {
        path,
        action: format!("\"{namespace}/{operation}\""),
        body: format!(
            "<s:Envelope xmlns:s=\"{SOAP_NS}\"><s:Body><{operation} xmlns=\"{namespace}\">{inner}</{operation}></s:Body></s:Envelope>"
        ),
    }
}

/// `<name>text</name>`, text escaped.
pub(crate) fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape_text(text))
}

/// An `ArrayOfInt`.
fn ints(name: &str, ids: &[i32]) -> String {
    let items: String = ids.iter().map(|id| format!("<int>{id}</int>")).collect();
    format!("<{name}>{items}</{name}>")
}

/// A `Cookie` under the given element name.
pub(crate) fn cookie_element(name: &str, cookie: &Cookie) -> String {
    let data = cookie
        .encrypted_data
        .as_deref()
        .map(|data| element("EncryptedData", data))
        .unwrap_or_default();
    format!(
        "<{name}>{}{data}</{name}>",
        element("Expiration", &cookie.expiration)
    )
}

fn optional_cookie(cookie: Option<&Cookie>) -> String {
    cookie.map(|c| cookie_element("cookie", c)).unwrap_or_default()
}

/// GetConfig.
pub fn get_config(protocol_version: &str) -> Request {
    let inner = element("protocolVersion", protocol_version);
    call(CLIENT_PATH, CLIENT_NS, "GetConfig", &inner)
}

/// SimpleAuth GetAuthorizationCookie; `targetGroupName` is sent when client-side targeting is on.
pub fn get_authorization_cookie(client_id: &str, target_group: Option<&str>, dns_name: &str) -> Request {
    let group = target_group
        .map(|group| element("targetGroupName", group))
        .unwrap_or_default();
    let inner = format!(
        "{}{group}{}",
        element("clientId", client_id),
        element("dnsName", dns_name)
    );
    call(SIMPLE_AUTH_PATH, SIMPLE_AUTH_NS, "GetAuthorizationCookie", &inner)
}

/// GetCookie. On its first call Windows sends an `oldCookie` holding only an expiry.
pub fn get_cookie(
    auth: &AuthorizationCookie,
    old_cookie: Option<&Cookie>,
    last_change: &str,
    current_time: &str,
    protocol_version: &str,
) -> Request {
    let auth = format!(
        "<authCookies><AuthorizationCookie>{}{}</AuthorizationCookie></authCookies>",
        element("PlugInId", &auth.plug_in_id),
        element("CookieData", &auth.cookie_data)
    );
    let old = old_cookie
        .map(|c| cookie_element("oldCookie", c))
        .unwrap_or_default();
    let inner = format!(
        "{auth}{old}{}{}{}",
        element("lastChange", last_change),
        element("currentTime", current_time),
        element("protocolVersion", protocol_version)
    );
    call(CLIENT_PATH, CLIENT_NS, "GetCookie", &inner)
}

/// What RegisterComputer says about the machine (`ComputerInfo`, WSDL order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub(crate) dns_name: String,
    /// The other `ComputerInfo` fields, name and value, in WSDL order.
    pub fields: Vec<(&'static str, &'static str)>,
}

impl Machine {
    /// The captured Windows 11 25H2 virtual machine, under another DNS name.
    pub fn windows11(dns_name: &str) -> Machine {
        let fields = vec![
            ("OSMajorVersion", "10"),
            ("OSMinorVersion", "0"),
            ("OSBuildNumber", "26200"),
            ("OSServicePackMajorNumber", "0"),
            ("OSServicePackMinorNumber", "0"),
            ("OSLocale", "en-US"),
            ("ComputerManufacturer", "QEMU"),
            ("ComputerModel", "Standard PC (Q35 + ICH9, 2009)"),
            ("BiosVersion", "unknown"),
            ("BiosName", "unknown"),
            ("BiosReleaseDate", "2022-02-02T00:00:00Z"),
            ("ProcessorArchitecture", "AMD64"),
            ("SuiteMask", "256"),
            ("OldProductType", "1"),
            ("NewProductType", "48"),
            ("SystemMetrics", "0"),
            ("ClientVersionMajorNumber", "1507"),
            ("ClientVersionMinorNumber", "2601"),
            ("ClientVersionBuildNumber", "30012"),
            ("ClientVersionQfeNumber", "0"),
            ("OSDescription", "Windows 10 Pro"),
            ("OEM", "QEMU"),
            ("DeviceType", "Standard PC (Q35 + ICH9, 2009)"),
            ("FirmwareVersion", "unknown"),
            ("MobileOperator", "Not Present"),
        ];
        Machine {
            dns_name: dns_name.to_owned(),
            fields,
        }
    }
}

/// RegisterComputer.
pub fn register_computer(cookie: &Cookie, machine: &Machine) -> Request {
    let fields: String = machine
        .fields
        .iter()
        .map(|(name, value)| element(name, value))
        .collect();
    let inner = format!(
        "{}<computerInfo>{}{fields}</computerInfo>",
        cookie_element("cookie", cookie),
        element("DnsName", &machine.dns_name)
    );
    call(CLIENT_PATH, CLIENT_NS, "RegisterComputer", &inner)
}

/// StartCategoryScan: (index of and-group, category id) pairs.
pub fn start_category_scan(categories: &[(i32, Uuid)]) -> Request {
    let items: String = categories
        .iter()
        .map(|(group, id)| {
            format!(
                "<CategoryRelationship><IndexOfAndGroup>{group}</IndexOfAndGroup><CategoryId>{id}</CategoryId></CategoryRelationship>"
            )
        })
        .collect();
    let inner = format!("<requestedCategories>{items}</requestedCategories>");
    call(CLIENT_PATH, CLIENT_NS, "StartCategoryScan", &inner)
}

/// The parameters of one SyncUpdates call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncParams {
    /// `InstalledNonLeafUpdateIDs`; Windows leaves it out on its first call.
    pub installed_non_leaf: Option<Vec<i32>>,
    /// `OtherCachedUpdateIDs`; left out on the first call.
    pub other_cached: Option<Vec<i32>>,
    /// The driver pass: `SystemSpec` is sent (empty: no devices are modelled).
    pub system_spec: bool,
    /// `SkipSoftwareSync`: true for the driver pass.
    pub skip_software_sync: bool,
    /// `FilterCategoryIds` of a category-filtered scan.
    pub filter_categories: Vec<Uuid>,
    /// `NeedTwoGroupOutOfScopeUpdates` (Windows 11 sends true).
    pub need_two_group_out_of_scope: bool,
}

/// SyncUpdates, in the order of the captured requests.
pub fn sync_updates(cookie: Option<&Cookie>, params: &SyncParams) -> Request {
    let mut p = String::from("<ExpressQuery>false</ExpressQuery>");
    if let Some(ids) = &params.installed_non_leaf {
        p.push_str(&ints("InstalledNonLeafUpdateIDs", ids));
    }
    if let Some(ids) = &params.other_cached {
        p.push_str(&ints("OtherCachedUpdateIDs", ids));
    }
    if params.system_spec {
        p.push_str("<SystemSpec/>");
    }
    p.push_str(&element(
        "SkipSoftwareSync",
        &params.skip_software_sync.to_string(),
    ));
    if !params.filter_categories.is_empty() {
        let ids: String = params
            .filter_categories
            .iter()
            .map(|id| format!("<CategoryIdentifier><Id>{id}</Id></CategoryIdentifier>"))
            .collect();
        p.push_str(&format!("<FilterCategoryIds>{ids}</FilterCategoryIds>"));
    }
    p.push_str(&element(
        "NeedTwoGroupOutOfScopeUpdates",
        &params.need_two_group_out_of_scope.to_string(),
    ));
    p.push_str("<AlsoPerformRegularSync>false</AlsoPerformRegularSync><ComputerSpec/>");
    p.push_str(&format!(
        "<ProductsParameters><SyncCurrentVersionOnly>false</SyncCurrentVersionOnly>{}{}<Products/></ProductsParameters>",
        element("DeviceAttributes", DEVICE_ATTRIBUTES),
        element("CallerAttributes", CALLER_ATTRIBUTES)
    ));
    let inner = format!("{}<parameters>{p}</parameters>", optional_cookie(cookie));
    call(CLIENT_PATH, CLIENT_NS, "SyncUpdates", &inner)
}

/// RefreshCache: the (update id, revision) pairs a client has cached.
pub fn refresh_cache(cookie: Option<&Cookie>, identities: &[(Uuid, u32)]) -> Request {
    let items: String = identities
        .iter()
        .map(|(id, revision)| {
            format!("<UpdateIdentity><UpdateID>{id}</UpdateID><RevisionNumber>{revision}</RevisionNumber></UpdateIdentity>")
        })
        .collect();
    let inner = format!("{}<globalIDs>{items}</globalIDs>", optional_cookie(cookie));
    call(CLIENT_PATH, CLIENT_NS, "RefreshCache", &inner)
}

/// GetExtendedUpdateInfo, with the device and caller attributes and `GeoId` Windows adds.
pub fn get_extended_update_info(
    cookie: Option<&Cookie>,
    revision_ids: &[i32],
    fragment_types: &[&str],
    locales: &[&str],
) -> Request {
    let types: String = fragment_types
        .iter()
        .map(|t| element("XmlUpdateFragmentType", t))
        .collect();
    let locales: String = locales.iter().map(|l| element("string", l)).collect();
    let inner = format!(
        "{}{}<infoTypes>{types}</infoTypes><locales>{locales}</locales>{}<GeoId>USA</GeoId>{}",
        optional_cookie(cookie),
        ints("revisionIDs", revision_ids),
        element("deviceAttributes", DEVICE_ATTRIBUTES),
        element("callerAttributes", CALLER_ATTRIBUTES)
    );
    call(CLIENT_PATH, CLIENT_NS, "GetExtendedUpdateInfo", &inner)
}

/// GetFileLocations: SHA-1 digests whose download URLs the client wants.
pub fn get_file_locations(cookie: Option<&Cookie>, digests: &[Vec<u8>]) -> Request {
    let items: String = digests
        .iter()
        .map(|d| element("base64Binary", &BASE64.encode(d)))
        .collect();
    let inner = format!("{}<fileDigests>{items}</fileDigests>", optional_cookie(cookie));
    call(CLIENT_PATH, CLIENT_NS, "GetFileLocations", &inner)
}

/// A call to the reporting web service (its requests are built in `report`).
pub(crate) fn reporting_call(operation: &str, inner: &str) -> Request {
    call(REPORTING_PATH, REPORTING_NS, operation, inner)
}
