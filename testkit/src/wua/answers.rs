//! Readers of the answers other than SyncUpdates: GetConfig, GetAuthorizationCookie, GetCookie,
//! RegisterComputer, StartCategoryScan, RefreshCache, GetExtendedUpdateInfo, GetFileLocations and
//! ReportEventBatch, each checked against its WSDL sequence. Base64 fields a client only echoes back
//! (cookie data) stay text; file digests are decoded.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use uuid::Uuid;

use super::schema::{
    array, check_sequence, expect_name, guid, guid_array, int_array, invalid, join, required, required_bool,
    required_number, required_text, text_of, Occurs,
};
use super::sync::{read_deployment, Deployment};
use super::WuaError;
use crate::xml::Element;

/// A `Cookie`: the clear-text expiry and the server's opaque data (base64 text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookie {
    /// `Expiration`: the clear-text expiry (xs:dateTime), verbatim.
    pub expiration: String,
    /// `EncryptedData`, base64 text as sent; `None` when absent.
    pub encrypted_data: Option<String>,
}

/// An `AuthorizationCookie` from SimpleAuth (its data base64 text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationCookie {
    /// `PlugInId`, e.g. `SimpleTargeting`.
    pub plug_in_id: String,
    /// `CookieData`, base64 text as sent.
    pub cookie_data: String,
}

/// `Config` (GetConfigResult).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `LastChange`: the config stamp GetCookie echoes.
    pub last_change: String,
    pub(crate) is_registration_required: bool,
    pub(crate) auth_plug_ins: Vec<AuthPlugIn>,
    pub(crate) allowed_event_ids: Vec<i32>,
    /// `ConfigurationProperty` name/value pairs, in order.
    pub properties: Vec<(String, String)>,
}

impl Config {
    /// The value of a configuration property.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One `AuthPlugInInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthPlugIn {
    pub(crate) plug_in_id: Option<String>,
    pub(crate) service_url: Option<String>,
    pub(crate) parameter: Option<String>,
}

/// `ExtendedUpdateInfo`: fragments per revision id, file locations, revisions out of scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtendedInfo {
    /// `Updates`: one entry per fragment.
    pub updates: Vec<UpdateData>,
    /// `FileLocations`: one per distinct file, when `Extended` was asked.
    pub file_locations: Vec<FileLocation>,
    /// `OutOfScopeRevisionIDs`: requested revisions not deployed to this client.
    pub out_of_scope: Vec<i32>,
}

/// One `Update` of an `ExtendedUpdateInfo` (an `UpdateData`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateData {
    pub(crate) id: i32,
    /// `Xml`: the fragment text, unescaped.
    pub xml: String,
}

/// One `FileLocation`: the file's SHA-1 and where to download it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileLocation {
    /// `FileDigest`: the 20-byte SHA-1, decoded from base64.
    pub digest: Vec<u8>,
    /// `Url`: where to download the file.
    pub url: String,
}

/// `GetFileLocationsResults`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileLocations {
    /// `FileLocations`: the locations the server gave, in its order.
    pub locations: Vec<FileLocation>,
    /// `NewCookie`, when the server sent one.
    pub new_cookie: Option<Cookie>,
}

/// One `RefreshCacheResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshResult {
    /// `RevisionID`: the server's revision id for the identity.
    pub revision_id: i32,
    /// `GlobalID/UpdateID`: the update the client asked about.
    pub update_id: Uuid,
    /// `GlobalID/RevisionNumber`: the revision the revision id stands for.
    pub revision: u32,
    /// `IsLeaf`: no other revision names this one as a prerequisite.
    pub is_leaf: bool,
    /// `Deployment`, when sent.
    pub deployment: Option<Deployment>,
}

/// `StartCategoryScanResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryScan {
    /// `preferredCategoryIds`: the categories the scan starts from.
    pub preferred: Vec<Uuid>,
    /// `requestedCategoryIdsInError`: requested categories the server does not know.
    pub in_error: Vec<Uuid>,
}

/// Checks `response` is `<{operation}Response>` holding one `<{operation}Result>`, and returns it.
fn result_of<'a>(response: &'a Element, operation: &str) -> Result<&'a Element, WuaError> {
    let response_name = format!("{operation}Response");
    let result_name = format!("{operation}Result");
    expect_name(response, &response_name)?;
    check_sequence(response, &response_name, &[(result_name.as_str(), Occurs::One)])?;
    required(response, &result_name, &response_name)
}

/// Reads a `Cookie` element (`GetCookieResult`, `NewCookie`).
pub fn read_cookie(cookie: &Element, path: &str) -> Result<Cookie, WuaError> {
    check_sequence(
        cookie,
        path,
        &[("Expiration", Occurs::One), ("EncryptedData", Occurs::Optional)],
    )?;
    Ok(Cookie {
        expiration: required_text(cookie, "Expiration", path)?,
        encrypted_data: text_of(cookie, "EncryptedData"),
    })
}

/// Reads `GetConfigResponse`.
pub fn read_config(response: &Element) -> Result<Config, WuaError> {
    let result = result_of(response, "GetConfig")?;
    let path = "GetConfigResult";
    check_sequence(
        result,
        path,
        &[
            ("LastChange", Occurs::One),
            ("IsRegistrationRequired", Occurs::One),
            ("AuthInfo", Occurs::Optional),
            ("AllowedEventIds", Occurs::Optional),
            ("Properties", Occurs::Optional),
        ],
    )?;
    let auth_plug_ins = array(result, "AuthInfo", "AuthPlugInInfo", path)?
        .into_iter()
        .map(|info| read_plug_in(info, &join(path, "AuthInfo/AuthPlugInInfo")))
        .collect::<Result<_, _>>()?;
    let properties = array(result, "Properties", "ConfigurationProperty", path)?
        .into_iter()
        .map(|property| read_property(property, &join(path, "Properties/ConfigurationProperty")))
        .collect::<Result<_, _>>()?;
    Ok(Config {
        last_change: required_text(result, "LastChange", path)?,
        is_registration_required: required_bool(result, "IsRegistrationRequired", path)?,
        auth_plug_ins,
        allowed_event_ids: int_array(result, "AllowedEventIds", path)?,
        properties,
    })
}

fn read_plug_in(info: &Element, path: &str) -> Result<AuthPlugIn, WuaError> {
    check_sequence(
        info,
        path,
        &[
            ("PlugInID", Occurs::Optional),
            ("ServiceUrl", Occurs::Optional),
            ("Parameter", Occurs::Optional),
        ],
    )?;
    Ok(AuthPlugIn {
        plug_in_id: text_of(info, "PlugInID"),
        service_url: text_of(info, "ServiceUrl"),
        parameter: text_of(info, "Parameter"),
    })
}

fn read_property(property: &Element, path: &str) -> Result<(String, String), WuaError> {
    check_sequence(
        property,
        path,
        &[("Name", Occurs::Optional), ("Value", Occurs::Optional)],
    )?;
    Ok((
        text_of(property, "Name").unwrap_or_default(),
        text_of(property, "Value").unwrap_or_default(),
    ))
}

/// Reads `GetAuthorizationCookieResponse` (SimpleAuth).
pub fn read_authorization_cookie(response: &Element) -> Result<AuthorizationCookie, WuaError> {
    let result = result_of(response, "GetAuthorizationCookie")?;
    let path = "GetAuthorizationCookieResult";
    check_sequence(
        result,
        path,
        &[("PlugInId", Occurs::Optional), ("CookieData", Occurs::Optional)],
    )?;
    Ok(AuthorizationCookie {
        plug_in_id: required_text(result, "PlugInId", path)?,
        cookie_data: required_text(result, "CookieData", path)?,
    })
}

/// Reads `GetCookieResponse`.
pub fn read_get_cookie(response: &Element) -> Result<Cookie, WuaError> {
    read_cookie(result_of(response, "GetCookie")?, "GetCookieResult")
}

/// Reads `RegisterComputerResponse`, which is empty.
pub fn read_register_computer(response: &Element) -> Result<(), WuaError> {
    expect_name(response, "RegisterComputerResponse")?;
    check_sequence(response, "RegisterComputerResponse", &[])
}

/// Reads `StartCategoryScanResponse`.
pub fn read_category_scan(response: &Element) -> Result<CategoryScan, WuaError> {
    let path = "StartCategoryScanResponse";
    expect_name(response, path)?;
    check_sequence(
        response,
        path,
        &[
            ("preferredCategoryIds", Occurs::Optional),
            ("requestedCategoryIdsInError", Occurs::Optional),
        ],
    )?;
    Ok(CategoryScan {
        preferred: guid_array(response, "preferredCategoryIds", path)?,
        in_error: guid_array(response, "requestedCategoryIdsInError", path)?,
    })
}

/// Reads `RefreshCacheResponse`: the `RefreshCacheResult` array of `RefreshCacheResult` items.
pub fn read_refresh_cache(response: &Element) -> Result<Vec<RefreshResult>, WuaError> {
    let path = "RefreshCacheResponse";
    expect_name(response, path)?;
    check_sequence(response, path, &[("RefreshCacheResult", Occurs::Optional)])?;
    array(response, "RefreshCacheResult", "RefreshCacheResult", path)?
        .into_iter()
        .map(|item| read_refresh_result(item, "RefreshCacheResult/RefreshCacheResult"))
        .collect()
}

fn read_refresh_result(item: &Element, path: &str) -> Result<RefreshResult, WuaError> {
    check_sequence(
        item,
        path,
        &[
            ("RevisionID", Occurs::One),
            ("GlobalID", Occurs::Optional),
            ("IsLeaf", Occurs::One),
            ("Deployment", Occurs::Optional),
        ],
    )?;
    let global = required(item, "GlobalID", path)?;
    let global_path = join(path, "GlobalID");
    check_sequence(
        global,
        &global_path,
        &[("UpdateID", Occurs::One), ("RevisionNumber", Occurs::One)],
    )?;
    Ok(RefreshResult {
        revision_id: required_number(item, "RevisionID", path)?,
        update_id: guid(&required_text(global, "UpdateID", &global_path)?, &global_path)?,
        revision: required_number(global, "RevisionNumber", &global_path)?,
        is_leaf: required_bool(item, "IsLeaf", path)?,
        deployment: item
            .child("Deployment")
            .map(|d| read_deployment(d, &join(path, "Deployment")))
            .transpose()?,
    })
}

/// Reads `GetExtendedUpdateInfoResponse`.
pub fn read_extended_info(response: &Element) -> Result<ExtendedInfo, WuaError> {
    let result = result_of(response, "GetExtendedUpdateInfo")?;
    let path = "GetExtendedUpdateInfoResult";
    check_sequence(
        result,
        path,
        &[
            ("Updates", Occurs::Optional),
            ("FileLocations", Occurs::Optional),
            ("OutOfScopeRevisionIDs", Occurs::Optional),
        ],
    )?;
    let updates = array(result, "Updates", "Update", path)?
        .into_iter()
        .map(|update| read_update_data(update, "GetExtendedUpdateInfoResult/Updates/Update"))
        .collect::<Result<_, _>>()?;
    Ok(ExtendedInfo {
        updates,
        file_locations: file_locations(result, path)?,
        out_of_scope: int_array(result, "OutOfScopeRevisionIDs", path)?,
    })
}

fn read_update_data(update: &Element, path: &str) -> Result<UpdateData, WuaError> {
    check_sequence(update, path, &[("ID", Occurs::One), ("Xml", Occurs::Optional)])?;
    Ok(UpdateData {
        id: required_number(update, "ID", path)?,
        xml: update.child("Xml").map(|x| x.text.clone()).unwrap_or_default(),
    })
}

/// The `FileLocations` array of an answer.
fn file_locations(result: &Element, path: &str) -> Result<Vec<FileLocation>, WuaError> {
    let item_path = join(path, "FileLocations/FileLocation");
    array(result, "FileLocations", "FileLocation", path)?
        .into_iter()
        .map(|location| read_file_location(location, &item_path))
        .collect()
}

fn read_file_location(location: &Element, path: &str) -> Result<FileLocation, WuaError> {
    check_sequence(
        location,
        path,
        &[
            ("FileDigest", Occurs::Optional),
            ("Url", Occurs::Optional),
            ("PiecesHashUrl", Occurs::Optional),
            ("BlockMapUrl", Occurs::Optional),
            ("DecryptionInformation", Occurs::Optional),
            ("FileDigestAlgorithm", Occurs::Optional),
            ("EncryptedFileDigest", Occurs::Optional),
            ("EncryptedFileDigestAlgorithm", Occurs::Optional),
        ],
    )?;
    let digest = required_text(location, "FileDigest", path)?;
    Ok(FileLocation {
        digest: BASE64
            .decode(&digest)
            .map_err(|_| invalid(&join(path, "FileDigest"), &digest))?,
        url: required_text(location, "Url", path)?,
    })
}

/// Reads `GetFileLocationsResponse`.
pub fn read_file_locations(response: &Element) -> Result<FileLocations, WuaError> {
    let result = result_of(response, "GetFileLocations")?;
    let path = "GetFileLocationsResult";
    check_sequence(
        result,
        path,
        &[
            ("FileLocations", Occurs::Optional),
            ("NewCookie", Occurs::Optional),
        ],
    )?;
    Ok(FileLocations {
        locations: file_locations(result, path)?,
        new_cookie: result
            .child("NewCookie")
            .map(|c| read_cookie(c, &join(path, "NewCookie")))
            .transpose()?,
    })
}

/// Reads `ReportEventBatchResponse`: whether the server took the batch.
pub fn read_report_event_batch(response: &Element) -> Result<bool, WuaError> {
    let result = result_of(response, "ReportEventBatch")?;
    super::schema::boolean(result, "ReportEventBatchResult")
}
