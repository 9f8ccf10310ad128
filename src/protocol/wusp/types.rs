//! The MS-WUSP message model: one request and one response type per operation, as plain
//! data. Parsing and serialising live in `messages`; the wire envelope in `envelope`.
//! Field names follow the WSDL; comments say what a real Windows 11 client sends.

pub use crate::model::DeploymentAction;
use crate::model::UpdateIdentity;
use uuid::Uuid;

/// Namespaces of the three client-facing services.
pub const CLIENT_NS: &str = "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService";
pub(crate) const SIMPLE_AUTH_NS: &str =
    "http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService";
pub(crate) const REPORTING_NS: &str = "http://www.microsoft.com/SoftwareDistribution";

/// Every operation wucache answers on the client side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GetConfig`: the server's configuration and the auth plug-in to use.
    GetConfig,
    /// `GetAuthorizationCookie` (SimpleAuth): the authorization cookie for a client id.
    GetAuthorizationCookie,
    /// `GetCookie`: trades an authorization cookie for an access cookie.
    GetCookie,
    /// `RegisterComputer`: the client's `ComputerInfo`; required before SyncUpdates.
    RegisterComputer,
    /// `StartCategoryScan`: picks the categories a filtered scan starts from.
    StartCategoryScan,
    /// `SyncUpdates`: one page of the staged scan (docs/protocol.md §4).
    SyncUpdates,
    /// `SyncPrinterCatalog`: the printer-driver scan of the Add Printer wizard.
    SyncPrinterCatalog,
    /// `RefreshCache`: re-maps cached update identities to revision ids.
    RefreshCache,
    /// `GetExtendedUpdateInfo`: fragments and file locations by revision id.
    GetExtendedUpdateInfo,
    /// `GetExtendedUpdateInfo2`: the same by update identity.
    GetExtendedUpdateInfo2,
    /// `GetFileLocations`: download URLs for file digests.
    GetFileLocations,
    /// `ReportEventBatch` (Reporting service): the client's events.
    ReportEventBatch,
}

/// The client access cookie as it travels (`Cookie`): clear-text expiry plus opaque data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cookie {
    /// `Expiration`, verbatim text (xs:dateTime).
    pub expiration: String,
    /// `EncryptedData`, decoded from base64; `None` when the element is absent (Win11's
    /// first GetCookie sends an `oldCookie` with only `Expiration`).
    pub encrypted_data: Option<Vec<u8>>,
}

/// `AuthorizationCookie` from SimpleAuth.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorizationCookie {
    pub(crate) plugin_id: String,
    /// `CookieData`: the opaque sealed authorization state.
    pub cookie_data: Vec<u8>,
}

// ---- GetConfig -------------------------------------------------------------------------

/// `GetConfig` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetConfigRequest {
    /// `protocolVersion`: the client protocol version, e.g. `2.90`.
    pub protocol_version: String,
}

/// `Config`. Real WSUS sends exactly the five properties, in this order (docs/protocol.md §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `LastChange`: the configuration stamp (xs:dateTime) GetCookie must echo.
    pub last_change: String,
    pub(crate) is_registration_required: bool,
    pub(crate) plugin_id: String,
    /// Relative, as WSUS sends it: `SimpleAuthWebService/SimpleAuth.asmx`.
    pub service_url: String,
    pub(crate) properties: Vec<(String, String)>,
}

// ---- GetAuthorizationCookie (SimpleAuth) -----------------------------------------------

/// `GetAuthorizationCookie` request (SimpleAuth).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetAuthorizationCookieRequest {
    /// `clientId`: the client's `SusClientId`.
    pub client_id: Option<String>,
    /// `targetGroupName`: the GPO `TargetGroup`, several names joined by `;`.
    pub target_group_name: Option<String>,
    /// `dnsName`: the client's fully qualified DNS name.
    pub dns_name: Option<String>,
}

// ---- GetCookie -------------------------------------------------------------------------

/// `GetCookie` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetCookieRequest {
    /// `authCookies`: the authorization cookies (exactly one is accepted).
    pub auth_cookies: Vec<AuthorizationCookie>,
    /// `oldCookie`: the previous access cookie, if the client has one.
    pub old_cookie: Option<Cookie>,
    /// `lastChange`: the `Config.LastChange` the client saw (xs:dateTime).
    pub last_change: Option<String>,
    /// `currentTime`: the client's clock (xs:dateTime).
    pub current_time: Option<String>,
    /// `protocolVersion`: the client protocol version, shaped `x.y`.
    pub protocol_version: Option<String>,
}

// ---- RegisterComputer ------------------------------------------------------------------

/// `RegisterComputer` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterComputerRequest {
    /// `cookie`: the access cookie.
    pub cookie: Option<Cookie>,
    /// `computerInfo`: what the machine says about itself.
    pub computer: ComputerInfo,
}

/// `ComputerInfo`, every field kept as text (informational; stored for the inventory).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ComputerInfo {
    /// `DnsName`: the machine's fully qualified DNS name.
    pub dns_name: String,
    /// `OSMajorVersion`, e.g. `10`.
    pub os_major_version: String,
    /// `OSMinorVersion`, e.g. `0`.
    pub os_minor_version: String,
    /// `OSBuildNumber`, e.g. `26200`.
    pub os_build_number: String,
    /// `OSServicePackMajorNumber`: the service pack, major part (0 on current Windows).
    pub os_service_pack_major_number: String,
    /// `OSServicePackMinorNumber`: the service pack, minor part.
    pub os_service_pack_minor_number: String,
    /// `OSLocale`: the OS language, e.g. `en-US`.
    pub os_locale: String,
    /// `ComputerManufacturer`: the hardware vendor.
    pub computer_manufacturer: String,
    /// `ComputerModel`: the hardware model.
    pub computer_model: String,
    /// `BiosVersion`: the BIOS version string.
    pub bios_version: String,
    /// `BiosName`: the BIOS name.
    pub bios_name: String,
    /// `BiosReleaseDate` (xs:dateTime; the only required field).
    pub bios_release_date: String,
    /// `ProcessorArchitecture`, e.g. `AMD64`.
    pub processor_architecture: String,
    /// `SuiteMask`: the OS suite flags (`VER_SUITE_*`).
    pub suite_mask: String,
    /// `OldProductType`: the OS product type (`VER_NT_*`: workstation, domain controller, server).
    pub old_product_type: String,
    /// `NewProductType`: the OS edition number `GetProductInfo` returns.
    pub new_product_type: String,
    /// `SystemMetrics`: a `GetSystemMetrics` value the client reports.
    pub system_metrics: String,
    /// `ClientVersionMajorNumber`: Windows Update Agent version, first part.
    pub client_version_major_number: String,
    /// `ClientVersionMinorNumber`: Windows Update Agent version, second part.
    pub client_version_minor_number: String,
    /// `ClientVersionBuildNumber`: Windows Update Agent version, third part.
    pub client_version_build_number: String,
    /// `ClientVersionQfeNumber`: Windows Update Agent version, fourth part.
    pub client_version_qfe_number: String,
    /// `OSDescription`: the OS name as text.
    pub os_description: String,
    /// `OEM`: the OEM name.
    pub oem: String,
    /// `DeviceType`: the device form, as the client names it.
    pub device_type: String,
    /// `FirmwareVersion`: the firmware version.
    pub firmware_version: String,
    /// `MobileOperator`: the mobile operator; empty on PCs.
    pub mobile_operator: String,
}

// ---- StartCategoryScan -----------------------------------------------------------------

/// `StartCategoryScan` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartCategoryScanRequest {
    /// Win11 sends no cookie here.
    pub cookie: Option<Cookie>,
    /// `(IndexOfAndGroup, CategoryId)`.
    pub requested: Vec<(i32, Uuid)>,
}

/// `StartCategoryScan` response (docs/protocol.md §2.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartCategoryScanResponse {
    pub(crate) preferred: Vec<Uuid>,
    pub(crate) in_error: Vec<Uuid>,
}

// ---- SyncUpdates -----------------------------------------------------------------------

/// `SyncUpdates` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncUpdatesRequest {
    /// `cookie`: the access cookie.
    pub cookie: Option<Cookie>,
    /// `parameters`; `None` when absent, which is InvalidParameters.
    pub parameters: Option<SyncUpdateParameters>,
}

/// `SyncUpdates` `parameters` (docs/protocol.md §2.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncUpdateParameters {
    /// `ExpressQuery`: always false; ignored.
    pub express_query: bool,
    /// `None` when the element is omitted (the first call of a scan omits all three).
    pub installed_non_leaf: Option<Vec<i32>>,
    /// `OtherCachedUpdateIDs`: every other cached non-driver revision; satisfies no prerequisite.
    pub other_cached: Option<Vec<i32>>,
    /// True when `SystemSpec` is present (driver pass).
    pub system_spec_present: bool,
    /// `CachedDriverIDs`: the cached drivers (driver pass).
    pub cached_driver_ids: Option<Vec<i32>>,
    /// `SkipSoftwareSync`: true for the driver pass.
    pub skip_software_sync: bool,
    /// `FilterCategoryIds`: the categories of a filtered scan, from StartCategoryScan.
    pub filter_category_ids: Vec<Uuid>,
    /// `NeedTwoGroupOutOfScopeUpdates`: asks for `DeployedOutOfScopeRevisionIds`.
    pub need_two_group_out_of_scope: bool,
    /// `FeatureScoreMatchingKey`: driver ranking key (driver pass).
    pub feature_score_matching_key: Option<String>,
}

/// `Deployment`, in WSDL order. WSUS sends ID, Action, IsAssigned, LastChangeTime,
/// AutoSelect, AutoDownload, SupersedenceBehavior on every UpdateInfo.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deployment {
    pub(crate) id: i32,
    /// `Action`: what the client is to do with the revision.
    pub action: DeploymentAction,
    pub(crate) deadline: Option<String>,
    pub(crate) is_assigned: bool,
    /// Date only, e.g. `2026-10-04`.
    pub last_change_time: String,
    pub(crate) download_priority: Option<String>,
    /// `AutoSelect`, `AutoDownload`, `SupersedenceBehavior`: "0" when sent (client >= 1.8).
    pub auto_select: Option<String>,
    pub(crate) auto_download: Option<String>,
    pub(crate) supersedence_behavior: Option<String>,
}

/// `UpdateInfo`: a revision id, its deployment, whether it is a leaf, and its Core fragment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateInfo {
    /// `ID`: the revision id.
    pub id: i32,
    pub(crate) deployment: Deployment,
    /// `IsLeaf`: nothing in the catalog names this revision as a prerequisite.
    pub is_leaf: bool,
    /// The Core fragment.
    pub xml: XmlText,
}

/// A fragment carried as element text: either the text itself (what a reader parsed, or a
/// message built by hand) or its escaped form prepared once and kept ready to write (what the
/// server's fragment cache holds: a Core fragment is sent to every client, and escaping it per
/// answer was a fifth of a scan's server time). Equality and `text` look at the text.
#[derive(Debug, Clone, Default)]
pub struct XmlText {
    value: std::sync::Arc<str>,
    /// `value` is already escaped for element content.
    escaped: bool,
}

impl XmlText {
    pub(crate) fn new(text: impl Into<std::sync::Arc<str>>) -> XmlText {
        XmlText {
            value: text.into(),
            escaped: false,
        }
    }

    /// A fragment already escaped for element content (`protocol::xml::escape_text`).
    pub fn from_escaped(escaped: std::sync::Arc<str>) -> XmlText {
        XmlText {
            value: escaped,
            escaped: true,
        }
    }

    /// The escaped form, when that is what is held.
    pub(crate) fn escaped(&self) -> Option<&str> {
        self.escaped.then_some(&*self.value)
    }

    /// The text (unescaped when the escaped form is what is held).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        if self.escaped {
            crate::protocol::xml::unescape_text(&self.value)
        } else {
            std::borrow::Cow::Borrowed(&self.value)
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

impl std::fmt::Display for XmlText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl PartialEq for XmlText {
    fn eq(&self, other: &XmlText) -> bool {
        self.text() == other.text()
    }
}

impl PartialEq<str> for XmlText {
    fn eq(&self, other: &str) -> bool {
        self.text() == other
    }
}

impl Eq for XmlText {}

impl From<String> for XmlText {
    fn from(text: String) -> XmlText {
        XmlText::new(text)
    }
}

impl From<&str> for XmlText {
    fn from(text: &str) -> XmlText {
        XmlText::new(text)
    }
}

/// `SyncInfo` (SyncUpdates and SyncPrinterCatalog).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncInfo {
    /// `NewUpdates`: this page's revisions, in plan order.
    pub new_updates: Vec<UpdateInfo>,
    /// `OutOfScopeRevisionIDs`: cached revision ids the client is to forget.
    pub out_of_scope_revision_ids: Vec<i32>,
    /// `ChangedUpdates`: cached revisions whose deployment changed since the cookie's watermark.
    pub changed_updates: Vec<UpdateInfo>,
    /// `Truncated`: more NewUpdates remain.
    pub truncated: bool,
    /// `NewCookie`: the cookie for the next call.
    pub new_cookie: Cookie,
    /// Sent only when the client asked (`NeedTwoGroupOutOfScopeUpdates`).
    pub deployed_out_of_scope_revision_ids: Option<Vec<i32>>,
    /// `"true"` / `"false"`; sent to clients >= 1.7.
    pub driver_sync_not_needed: Option<bool>,
}

// ---- SyncPrinterCatalog ----------------------------------------------------------------

/// `SyncPrinterCatalog` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncPrinterCatalogRequest {
    pub(crate) cookie: Option<Cookie>,
    pub(crate) installed_non_leaf: Vec<i32>,
    pub(crate) printer_update_ids: Vec<i32>,
}

// ---- RefreshCache ----------------------------------------------------------------------

/// `RefreshCache` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefreshCacheRequest {
    pub(crate) cookie: Option<Cookie>,
    pub(crate) global_ids: Vec<UpdateIdentity>,
}

/// One `RefreshCacheResult`: a deployed identity with its revision id and deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefreshCacheResult {
    pub(crate) revision_id: i32,
    pub(crate) global_id: UpdateIdentity,
    pub(crate) is_leaf: bool,
    pub(crate) deployment: Deployment,
}

// ---- GetExtendedUpdateInfo (and 2) -----------------------------------------------------

/// `GetExtendedUpdateInfo` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetExtendedUpdateInfoRequest {
    pub(crate) cookie: Option<Cookie>,
    pub(crate) revision_ids: Vec<i32>,
    /// `XmlUpdateFragmentType` strings: `Core`, `Extended`, `LocalizedProperties`, `Eula`, ...
    pub info_types: Vec<String>,
    pub(crate) locales: Vec<String>,
}

/// `GetExtendedUpdateInfo2` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetExtendedUpdateInfo2Request {
    pub(crate) cookie: Option<Cookie>,
    pub(crate) update_ids: Vec<UpdateIdentity>,
    pub(crate) info_types: Vec<String>,
    pub(crate) locales: Vec<String>,
}

/// `ExtendedUpdateInfo` (also the answer to GetExtendedUpdateInfo2, which has more optional
/// file-location fields that wucache never fills).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtendedUpdateInfo {
    /// `(revision id, fragment xml)`, one entry per fragment.
    pub updates: Vec<(i32, XmlText)>,
    pub(crate) file_locations: Vec<FileLocation>,
    pub(crate) out_of_scope_revision_ids: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FileLocation {
    /// The 20-byte SHA-1.
    pub file_digest: Vec<u8>,
    pub url: String,
}

// ---- GetFileLocations ------------------------------------------------------------------

/// `GetFileLocations` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetFileLocationsRequest {
    pub(crate) cookie: Option<Cookie>,
    pub(crate) file_digests: Vec<Vec<u8>>,
}

/// `GetFileLocations` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetFileLocationsResponse {
    pub(crate) file_locations: Vec<FileLocation>,
    pub(crate) new_cookie: Cookie,
}

// ---- ReportEventBatch (Reporting service) ----------------------------------------------

/// `ReportEventBatch` request (Reporting service).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportEventBatchRequest {
    pub(crate) cookie: Option<Cookie>,
    pub(crate) client_time: Option<String>,
    pub(crate) events: Vec<ReportingEvent>,
}

/// One `ReportingEvent`, flattened to what the server keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ReportingEvent {
    pub(crate) target_sid: String,
    pub(crate) sequence_number: i64,
    pub(crate) time_at_target: String,
    pub(crate) event_instance_id: Uuid,
    pub(crate) namespace_id: i32,
    pub(crate) event_id: i32,
    pub(crate) source_id: i32,
    pub(crate) update_id: UpdateIdentity,
    pub(crate) win32_hresult: i32,
    pub(crate) app_name: String,
    pub(crate) replacement_strings: Vec<String>,
    /// `MiscData` entries verbatim (`Tag=Value`).
    pub misc_data: Vec<String>,
    pub(crate) computer_brand: String,
    pub(crate) computer_model: String,
    pub(crate) bios_revision: String,
    pub(crate) processor_architecture: String,
    /// `Major.Minor.Build.Revision.SPMajor.SPMinor`.
    pub os_version: String,
    pub(crate) os_locale_id: i32,
    pub(crate) device_id: String,
}

// ---- Faults ----------------------------------------------------------------------------

/// The `ErrorCode`s a client keys on (docs/protocol.md §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The cookie does not authenticate (another server, a new key, altered bytes).
    InvalidCookie,
    /// The revision-id space was rebuilt (`catalog_id` differs).
    ServerChanged,
    /// The config stamp differs from `Config.LastChange`.
    ConfigChanged,
    /// The cookie's sealed expiry has passed.
    CookieExpired,
    /// SyncUpdates came before RegisterComputer.
    RegistrationRequired,
    /// Registering when not required (never sent: registration is always required).
    RegistrationNotRequired,
    /// A bad, expired or not exactly one authorization cookie.
    InvalidAuthorizationCookie,
    /// Malformed or oversized input; `Message` names the parameter path.
    InvalidParameters,
    /// A server failure; the client retries later.
    InternalServerError,
    /// Overload; the client retries later (not sent yet).
    ServerBusy,
    /// Cached URLs are stale (never sent: URLs never move).
    FileLocationChanged,
}

impl ErrorCode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidCookie => "InvalidCookie",
            ErrorCode::ServerChanged => "ServerChanged",
            ErrorCode::ConfigChanged => "ConfigChanged",
            ErrorCode::CookieExpired => "CookieExpired",
            ErrorCode::RegistrationRequired => "RegistrationRequired",
            ErrorCode::RegistrationNotRequired => "RegistrationNotRequired",
            ErrorCode::InvalidAuthorizationCookie => "InvalidAuthorizationCookie",
            ErrorCode::InvalidParameters => "InvalidParameters",
            ErrorCode::InternalServerError => "InternalServerError",
            ErrorCode::ServerBusy => "ServerBusy",
            ErrorCode::FileLocationChanged => "FileLocationChanged",
        }
    }

    /// `s:Server` for server-side trouble, `s:Client` otherwise (as WSUS does).
    pub fn is_server_side(self) -> bool {
        matches!(self, ErrorCode::InternalServerError | ErrorCode::ServerBusy)
    }
}

/// A fault to send: the code, the `Message` (names the bad parameter for InvalidParameters),
/// and the operation's SOAPAction for `Method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFault {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl ClientFault {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> ClientFault {
        ClientFault {
            code,
            message: message.into(),
        }
    }
}
