//! One handler per MS-WSUSSS operation: read the request element, answer the inner XML of
//! `<OpResult>` or a [`Fault`]. No sockets here; `server` puts the answer on the wire.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore;
use uuid::Uuid;

use super::catalog::{parse_anchor, Blob, Entry};
use super::faults::lock;
use super::wire::{self, Fault, Op};
use super::Shared;
use crate::xml::{escape_text, escape_text_into, Element};

/// Cookies handed out and still honoured.
#[derive(Debug, Default)]
pub(super) struct Cookies {
    /// `CookieData` values from GetAuthorizationCookie.
    authorization: HashSet<String>,
    /// `EncryptedData` values from GetCookie, with their expiry.
    access: HashMap<String, DateTime<Utc>>,
}

impl Cookies {
    /// Forgets every access cookie (authorization cookies stay valid).
    pub(super) fn forget_access(&mut self) {
        self.access.clear();
    }
}

/// `LastChange` of GetAuthConfig: fixed, so answers do not depend on the clock.
const AUTH_CONFIG_LAST_CHANGE: &str = "2026-01-01T00:00:00.000Z";

/// Languages announced by GetConfigData (the recorded list, shortened): id, short, long, enabled.
const LANGUAGES: [(u32, &str, &str, bool); 5] = [
    (0, "all", "all", false),
    (1031, "de", "German", false),
    (1033, "en", "English", true),
    (1036, "fr", "French", false),
    (1041, "ja", "Japanese", false),
];

/// Answers one operation with the inner XML of its `<OpResult>`.
pub(super) fn answer(shared: &Shared, op: Op, request: &Element) -> Result<String, Fault> {
    match op {
        Op::GetAuthConfig => Ok(get_auth_config()),
        Op::GetAuthorizationCookie => Ok(get_authorization_cookie(shared)),
        Op::GetCookie => get_cookie(shared, request),
        Op::GetConfigData => {
            require_cookie(shared, request)?;
            Ok(get_config_data(shared))
        }
        Op::GetRevisionIdList => {
            require_cookie(shared, request)?;
            get_revision_id_list(shared, request)
        }
        Op::GetUpdateData => {
            require_cookie(shared, request)?;
            get_update_data(shared, request)
        }
    }
}

fn get_auth_config() -> String {
    format!(
        "<LastChange>{AUTH_CONFIG_LAST_CHANGE}</LastChange><AuthInfo><AuthPlugInInfo><PlugInID>DssTargeting</PlugInID><ServiceUrl>DssAuthWebService/DssAuthWebService.asmx</ServiceUrl><Parameter /></AuthPlugInInfo></AuthInfo>"
    )
}

/// Any account is accepted, as on WSUS and Microsoft Update.
fn get_authorization_cookie(shared: &Shared) -> String {
    let data = random_base64(144);
    lock(&shared.cookies).authorization.insert(data.clone());
    format!("<PlugInId>DssTargeting</PlugInId><CookieData>{data}</CookieData>")
}

fn get_cookie(shared: &Shared, request: &Element) -> Result<String, Fault> {
    if let Some(version) = request.child("protocolVersion") {
        if version.trimmed().split('.').next() != Some("1") {
            return Err(Fault::client("IncompatibleProtocolVersion", ""));
        }
    }
    let auth = wire::authorization_cookie(request).unwrap_or_default();
    let mut cookies = lock(&shared.cookies);
    if !cookies.authorization.contains(auth) {
        return Err(Fault::client("InvalidAuthorizationCookie", ""));
    }
    let lifetime = chrono::Duration::from_std(shared.faults.cookie_lifetime())
        .unwrap_or_else(|_| chrono::Duration::hours(1));
    let expiration = Utc::now() + lifetime;
    let data = random_base64(96);
    cookies.access.insert(data.clone(), expiration);
    Ok(format!(
        "<Expiration>{}</Expiration><EncryptedData>{data}</EncryptedData>",
        expiration.to_rfc3339_opts(SecondsFormat::Millis, true)
    ))
}

/// `InvalidCookie` unless the request carries a known, unexpired access cookie.
fn require_cookie(shared: &Shared, request: &Element) -> Result<(), Fault> {
    let presented = wire::access_cookie(request).ok_or_else(Fault::invalid_cookie)?;
    let mut cookies = lock(&shared.cookies);
    match cookies.access.get(presented) {
        Some(expiry) if *expiry > Utc::now() => Ok(()),
        Some(_) => {
            cookies.access.remove(presented);
            Err(Fault::invalid_cookie())
        }
        None => Err(Fault::invalid_cookie()),
    }
}

/// The recorded shape of 000005 with the configured limits.
fn get_config_data(shared: &Shared) -> String {
    let max = shared.faults.max_updates_per_request();
    let catalog_only = shared.faults.catalog_only_sync();
    let anchor = lock(&shared.catalog).anchor();
    let mut out = format!(
        "<CatalogOnlySync>{catalog_only}</CatalogOnlySync><LazySync>true</LazySync><ServerHostsPsfFiles>false</ServerHostsPsfFiles><MaxNumberOfComputerIdsInRequest>0</MaxNumberOfComputerIdsInRequest><MaxNumberOfDriverSetsPerRequest>0</MaxNumberOfDriverSetsPerRequest><MaxNumberOfPnpHardwareIdsInRequest>0</MaxNumberOfPnpHardwareIdsInRequest><MaxNumberOfUpdatesPerRequest>{max}</MaxNumberOfUpdatesPerRequest><NewConfigAnchor>{anchor}</NewConfigAnchor><ProtocolVersion>1.20</ProtocolVersion><LanguageUpdateList>"
    );
    for (id, short, long, enabled) in LANGUAGES {
        out.push_str(&format!(
            "<ServerSyncLanguageData><LanguageID>{id}</LanguageID><ShortLanguage>{short}</ShortLanguage><LongLanguage>{long}</LongLanguage><Enabled>{enabled}</Enabled></ServerSyncLanguageData>"
        ));
    }
    out.push_str(&format!(
        "</LanguageUpdateList><MaxUpdatesPerRequestInGetUpdateDecryptionData>{max}</MaxUpdatesPerRequestInGetUpdateDecryptionData>"
    ));
    out
}

fn get_revision_id_list(shared: &Shared, request: &Element) -> Result<String, Fault> {
    let filter = wire::filter(request)?;
    let since = match &filter.anchor {
        Some(anchor) => Some(parse_anchor(anchor).ok_or_else(|| Fault::invalid_parameters("filter"))?),
        None => None,
    };
    let catalog = lock(&shared.catalog);
    let revisions = if filter.get_config {
        catalog.config_revisions(since)
    } else {
        catalog.update_revisions(&filter, since)
    };
    let mut out = format!("<Anchor>{}</Anchor>", catalog.anchor());
    drop(catalog);
    if revisions.is_empty() {
        out.push_str("<NewRevisions />");
        return Ok(out);
    }
    out.reserve(revisions.len() * 120);
    out.push_str("<NewRevisions>");
    for (id, revision) in revisions {
        out.push_str(&format!(
            "<UpdateIdentity><UpdateID>{id}</UpdateID><RevisionNumber>{revision}</RevisionNumber></UpdateIdentity>"
        ));
    }
    out.push_str("</NewRevisions>");
    Ok(out)
}

fn get_update_data(shared: &Shared, request: &Element) -> Result<String, Fault> {
    let ids = wire::update_ids(request)?;
    {
        let mut stats = lock(&shared.stats);
        stats.max_ids_per_get_update_data = stats.max_ids_per_get_update_data.max(ids.len());
    }
    if ids.len() > shared.faults.max_updates_per_request() {
        return Err(Fault::invalid_parameters("updateIds"));
    }
    if ids.iter().any(|(id, _)| shared.faults.is_bad(id)) {
        return Err(Fault::server("InternalServerError"));
    }
    let catalog = lock(&shared.catalog);
    let entries = ids
        .iter()
        .map(|&(id, revision)| catalog.get(id, revision))
        .collect::<Option<Vec<&Entry>>>()
        .ok_or_else(|| Fault::server("InternalServerError"))?;
    let out = update_data(shared, &entries);
    drop(catalog);
    lock(&shared.stats).documents_returned += ids.len() as u64;
    Ok(out)
}

/// `updates` then `fileUrls`, in the order of recordings 000013–000016.
fn update_data(shared: &Shared, entries: &[&Entry]) -> String {
    let mut out = String::with_capacity(entries.iter().map(|e| e.doc.xml.len() + 300).sum());
    if entries.is_empty() {
        out.push_str("<updates />");
    } else {
        out.push_str("<updates>");
        for entry in entries {
            update(&mut out, entry, shared.faults.is_garbage(&entry.doc.update_id));
        }
        out.push_str("</updates>");
    }
    file_urls(&mut out, entries);
    out
}

fn update(out: &mut String, entry: &Entry, garbage: bool) {
    let doc = &entry.doc;
    out.push_str(&format!(
        "<ServerSyncUpdateData><Id><UpdateID>{}</UpdateID><RevisionNumber>{}</RevisionNumber></Id>",
        doc.update_id, doc.revision
    ));
    if !doc.file_urls.is_empty() {
        out.push_str("<FileDigestList>");
        for (digest, _) in &doc.file_urls {
            out.push_str(&format!("<base64Binary>{}</base64Binary>", escape_text(digest)));
        }
        out.push_str("</FileDigestList>");
    }
    match (&entry.blob, garbage) {
        (_, true) => {
            out.push_str("<XmlUpdateBlob>");
            escape_text_into(out, &garbage_blob(doc.update_id, doc.revision));
            out.push_str("</XmlUpdateBlob>");
        }
        (Blob::Plain, false) => {
            out.push_str("<XmlUpdateBlob>");
            escape_text_into(out, &doc.xml);
            out.push_str("</XmlUpdateBlob>");
        }
        (Blob::Compressed(cab), false) => {
            out.push_str("<XmlUpdateBlobCompressed>");
            out.push_str(cab);
            out.push_str("</XmlUpdateBlobCompressed>");
        }
    }
    out.push_str("</ServerSyncUpdateData>");
}

/// One `ServerSyncUrlData` per distinct digest; `<fileUrls />` when there are none.
fn file_urls(out: &mut String, entries: &[&Entry]) {
    let mut seen = HashSet::new();
    let urls: Vec<&(String, String)> = entries
        .iter()
        .flat_map(|e| e.doc.file_urls.iter())
        .filter(|(digest, _)| seen.insert(digest.as_str()))
        .collect();
    if urls.is_empty() {
        out.push_str("<fileUrls />");
        return;
    }
    out.push_str("<fileUrls>");
    for (digest, url) in urls {
        out.push_str(&format!(
            "<ServerSyncUrlData><FileDigest>{}</FileDigest><MUUrl>{}</MUUrl><UssUrl /></ServerSyncUrlData>",
            escape_text(digest),
            escape_text(url)
        ));
    }
    out.push_str("</fileUrls>");
}

/// A truncated document: starts like the real thing, never closes.
fn garbage_blob(id: Uuid, revision: u32) -> String {
    format!(
        "<upd:Update xmlns:upd=\"http://schemas.microsoft.com/msus/2002/12/Update\"><upd:UpdateIdentity UpdateID=\"{id}\" RevisionNumber=\"{revision}\" /><upd:Properties UpdateType=\"Soft"
    )
}

fn random_base64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    BASE64.encode(bytes)
}
