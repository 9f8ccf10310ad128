//! The upstream role: the MS-WSUSSS services a downstream server (a WSUS, or another
//! wucache) syncs from, on the client listeners as a WSUS serves them —
//! `ServerSyncWebService.asmx` and `DssAuthWebService.asmx`. Who may sync is
//! `[downstream]` (address ranges, an optional secret in the DSS account name); a refusal is
//! logged with the address and account. Revisions are listed from the served snapshot (so a
//! sync in progress here never shows half a batch), documents read from the store. Anchors
//! are `<next local id>,<time>`: local ids only grow, so "stored since the anchor" is one
//! comparison. Uses `app`, `snapshot`, `store`, `cookie`, `catalog`, `protocol`, `admission`.

use crate::app::App;
use crate::catalog::{downstream_revisions, DownstreamFilter};
use crate::cookie::{CookieError, DownstreamState, Purpose};
use crate::model::UpdateIdentity;
use crate::protocol::wsusss_serve::{
    self as sss, RevisionFilter, SyncErrorCode, SyncFault, SyncOperation, SyncRequest, UpdateDataItem,
};
use crate::snapshot::Snapshot;
use std::net::IpAddr;
use std::sync::Arc;

/// A downstream's access cookie lives four hours, as the recorded WSUS's did.
const ACCESS_SECONDS: i64 = 4 * 3600;
/// Its authorization cookie is exchanged for an access cookie at once.
const AUTHORIZATION_SECONDS: i64 = 3600;

/// What a handler needs besides the request.
pub(super) struct SyncContext<'a> {
    pub(super) app: &'a App,
    pub(super) snapshot: Arc<Snapshot>,
    pub(super) peer: IpAddr,
    /// The service URL, for `faultactor`.
    pub(super) actor: String,
    /// Base URL of this server's `/Content`, for files the catalog has no `MUUrl` for.
    pub(super) content_base: String,
    /// Unix seconds.
    pub(super) now: i64,
}

/// A MS-WSUSSS answer and what it answered.
pub(super) struct SyncAnswer {
    pub(super) xml: String,
    pub(super) is_fault: bool,
    pub(super) operation: Option<SyncOperation>,
}

impl SyncAnswer {
    /// The metrics name: `ServerSync.<Op>` / `DssAuth.<Op>`, or `ServerSync.unreadable`.
    pub(super) fn metric_name(&self) -> &'static str {
        match self.operation {
            None => "ServerSync.unreadable",
            Some(SyncOperation::GetAuthConfig) => "ServerSync.GetAuthConfig",
            Some(SyncOperation::GetAuthorizationCookie) => "DssAuth.GetAuthorizationCookie",
            Some(SyncOperation::GetCookie) => "ServerSync.GetCookie",
            Some(SyncOperation::GetConfigData) => "ServerSync.GetConfigData",
            Some(SyncOperation::GetRevisionIdList) => "ServerSync.GetRevisionIdList",
            Some(SyncOperation::GetUpdateData) => "ServerSync.GetUpdateData",
        }
    }
}

/// Answers one request posted to the DSS auth service (`dss_auth`) or the Server Sync one.
pub(super) fn answer(
    context: &SyncContext<'_>,
    body: &str,
    soap_action: Option<&str>,
    dss_auth: bool,
    stop: &dyn Fn() -> Option<&'static str>,
) -> SyncAnswer {
    let (operation, request) = match sss::parse_request(body, soap_action, dss_auth, stop) {
        Ok(parsed) => parsed,
        Err((operation, fault)) => {
            tracing::info!(peer = %context.peer, code = fault.code.as_str(), message = %fault.message, "unreadable request from a downstream server");
            return fault_answer(context, operation, &fault);
        }
    };
    // A catalog still loading (just after start-up) would list nothing and look rebuilt
    // (ServerChanged): the downstream is told to come back instead.
    if !context.app.is_ready() && operation != SyncOperation::GetAuthConfig {
        let fault = SyncFault::new(SyncErrorCode::ServerBusy, "");
        tracing::info!(peer = %context.peer, operation = operation.name(), "downstream server asked while the catalog loads: ServerBusy");
        return fault_answer(context, Some(operation), &fault);
    }
    match dispatch(context, request) {
        Ok(xml) => SyncAnswer {
            xml,
            is_fault: false,
            operation: Some(operation),
        },
        Err(fault) => {
            tracing::info!(peer = %context.peer, operation = operation.name(), code = fault.code.as_str(), message = %fault.message, "fault answered to a downstream server");
            fault_answer(context, Some(operation), &fault)
        }
    }
}

fn fault_answer(
    context: &SyncContext<'_>,
    operation: Option<SyncOperation>,
    fault: &SyncFault,
) -> SyncAnswer {
    SyncAnswer {
        xml: sss::fault(operation, fault, uuid::Uuid::new_v4(), &context.actor),
        is_fault: true,
        operation,
    }
}

fn dispatch(context: &SyncContext<'_>, request: SyncRequest) -> Result<String, SyncFault> {
    match request {
        SyncRequest::AuthConfig => Ok(sss::auth_config_response(&context.snapshot.config_last_change)),
        SyncRequest::Authorization(request) => authorization_cookie(context, &request),
        SyncRequest::Cookie(request) => access_cookie(context, &request),
        SyncRequest::ConfigData(cookie) => {
            open_access(context, &cookie.data)?;
            Ok(config_data(context))
        }
        SyncRequest::RevisionIdList(cookie, filter) => {
            open_access(context, &cookie.data)?;
            revision_id_list(context, &filter)
        }
        SyncRequest::UpdateData(cookie, ids) => {
            open_access(context, &cookie.data)?;
            update_data(context, &ids)
        }
    }
}

/// DssAuth GetAuthorizationCookie: the address and account are checked against
/// `[downstream]`; a refusal is `InvalidParameters` naming `accountName` (the DSS stops
/// rather than retrying) and a warning here saying who and why.
fn authorization_cookie(
    context: &SyncContext<'_>,
    request: &sss::AuthorizationRequest,
) -> Result<String, SyncFault> {
    if let Err(refusal) = context
        .app
        .admission
        .downstream
        .authorize(context.peer, &request.account_name)
    {
        tracing::warn!(peer = %context.peer, account = %request.account_name, guid = %request.account_guid, reason = %refusal, "downstream server refused");
        return Err(SyncFault::new(SyncErrorCode::InvalidParameters, "accountName"));
    }
    tracing::info!(peer = %context.peer, account = %request.account_name, guid = %request.account_guid, "downstream server authorized");
    let state = DownstreamState {
        catalog_id: context.snapshot.catalog_id,
        account_name: request.account_name.clone(),
        account_guid: request.account_guid,
        expires_at: context.now + AUTHORIZATION_SECONDS,
        protocol_version: String::new(),
    };
    let sealed = context
        .app
        .cookie_key
        .seal(Purpose::DssAuthorization, &state, rand::random());
    Ok(sss::authorization_cookie_response(&sealed))
}

/// GetCookie: the authorization cookie must be ours and current.
fn access_cookie(context: &SyncContext<'_>, request: &sss::CookieRequest) -> Result<String, SyncFault> {
    let refused = || SyncFault::new(SyncErrorCode::InvalidAuthorizationCookie, "");
    let authorized: DownstreamState = context
        .app
        .cookie_key
        .open(Purpose::DssAuthorization, &request.authorization)
        .map_err(|_| refused())?;
    if context.now >= authorized.expires_at {
        return Err(refused());
    }
    check_address(context)?;
    let state = DownstreamState {
        catalog_id: context.snapshot.catalog_id,
        expires_at: context.now + ACCESS_SECONDS,
        protocol_version: request.protocol_version.clone(),
        ..authorized
    };
    let sealed = context
        .app
        .cookie_key
        .seal(Purpose::DssAccess, &state, rand::random());
    Ok(sss::cookie_response(
        &crate::cookie::expiration_text(state.expires_at),
        &sealed,
    ))
}

/// The access cookie of a Server Sync call: ours (else `InvalidCookie`, and the DSS starts
/// again from authorization), of this catalog (else `ServerChanged`), not expired.
fn open_access(context: &SyncContext<'_>, sealed: &[u8]) -> Result<DownstreamState, SyncFault> {
    let state: DownstreamState = context
        .app
        .cookie_key
        .open(Purpose::DssAccess, sealed)
        .map_err(|_: CookieError| SyncFault::new(SyncErrorCode::InvalidCookie, ""))?;
    if state.catalog_id != context.snapshot.catalog_id {
        return Err(SyncFault::new(SyncErrorCode::ServerChanged, ""));
    }
    if context.now >= state.expires_at {
        return Err(SyncFault::new(SyncErrorCode::InvalidCookie, ""));
    }
    check_address(context)?;
    Ok(state)
}

/// An address taken out of `[downstream] allow` since it authorized: its cookie no longer
/// works, and authorizing again is refused.
fn check_address(context: &SyncContext<'_>) -> Result<(), SyncFault> {
    context
        .app
        .admission
        .downstream
        .admits_address(context.peer)
        .map_err(|refusal| {
            tracing::warn!(peer = %context.peer, reason = %refusal, "downstream server refused");
            SyncFault::new(SyncErrorCode::InvalidCookie, "")
        })
}

/// GetConfigData: this server's limits; the languages `[sync] languages` mirrors are enabled.
fn config_data(context: &SyncContext<'_>) -> String {
    let languages = &context.app.config.sync.languages;
    let every = languages.is_empty() || languages.iter().any(|l| l.eq_ignore_ascii_case("all"));
    let enabled = |short: &str| every || languages.iter().any(|l| l.eq_ignore_ascii_case(short));
    sss::config_data_response(&anchor(context), &enabled)
}

/// The anchor for "everything served now": the next local id and the time.
fn anchor(context: &SyncContext<'_>) -> String {
    let next = context
        .snapshot
        .records
        .iter()
        .map(|r| r.local_id)
        .max()
        .map_or(1, |id| id.saturating_add(1));
    let time = chrono::DateTime::from_timestamp(context.now, 0).unwrap_or_default();
    format!("{next},{}", time.format("%Y-%m-%d %H:%M:%S%.3f"))
}

/// The local id an anchor this server issued records; anything else is `InvalidParameters`
/// naming `filter`, as WSUS answers a malformed anchor.
fn anchor_local_id(anchor: &str) -> Result<i32, SyncFault> {
    anchor
        .split_once(',')
        .and_then(|(counter, _)| counter.trim().parse::<i32>().ok())
        .filter(|id| *id >= 0)
        .ok_or_else(|| SyncFault::new(SyncErrorCode::InvalidParameters, "filter"))
}

fn revision_id_list(context: &SyncContext<'_>, filter: &RevisionFilter) -> Result<String, SyncFault> {
    let since = filter.anchor.as_deref().map(anchor_local_id).transpose()?;
    let selection = DownstreamFilter {
        get_config: filter.get_config,
        products: &filter.products,
        classifications: &filter.classifications,
        language_resend: filter.languages.iter().any(|(_, delta)| !delta),
    };
    let revisions = downstream_revisions(&context.snapshot.records, &selection, since);
    tracing::info!(peer = %context.peer, get_config = filter.get_config, since, listed = revisions.len(), "revisions listed for a downstream server");
    Ok(sss::revision_id_list_response(&anchor(context), &revisions))
}

/// GetUpdateData: every asked revision's document and files; one revision this server does
/// not hold faults the whole call with `InternalServerError`, as WSUS does.
fn update_data(context: &SyncContext<'_>, ids: &[UpdateIdentity]) -> Result<String, SyncFault> {
    let store = &context.app.store;
    let mut documents = Vec::with_capacity(ids.len());
    for id in ids {
        let record = store
            .get_identity(id)
            .map_err(|e| internal("reading a revision", e))?
            .ok_or_else(|| {
                tracing::info!(peer = %context.peer, update = %id.update_id, revision = id.revision, "a downstream server asked for a revision not held here");
                SyncFault::new(SyncErrorCode::InternalServerError, "")
            })?;
        let document = store
            .document(record.local_id)
            .map_err(|e| internal("reading a document", e))?
            .ok_or_else(|| internal("reading a document", "absent"))?;
        documents.push((record, document));
    }
    let mut file_urls: Vec<([u8; 20], String)> = Vec::new();
    let items: Vec<UpdateDataItem<'_>> = documents
        .iter()
        .map(|(record, document)| {
            for file in &record.files {
                if !file_urls.iter().any(|(sha1, _)| *sha1 == file.sha1) {
                    file_urls.push((file.sha1, file_url(context, file)));
                }
            }
            UpdateDataItem {
                identity: record.identity,
                document,
                file_digests: record.files.iter().map(|f| f.sha1).collect(),
            }
        })
        .collect();
    Ok(sss::update_data_response(&items, &file_urls))
}

/// The file's `MUUrl` as the catalog has it (a WSUS passes Microsoft's on); this server's
/// content URL when the catalog has none (an imported bundle, say).
fn file_url(context: &SyncContext<'_>, file: &crate::model::FileRef) -> String {
    if !file.url.is_empty() {
        return file.url.to_string();
    }
    super::soap::content_url(&context.content_base, file)
}

fn internal(what: &str, cause: impl std::fmt::Display) -> SyncFault {
    tracing::error!(what, error = %cause, "downstream request failed on the server side");
    SyncFault::new(SyncErrorCode::InternalServerError, "")
}

/// Where replica downstream servers fetch this server's baselines.
pub(super) const REPLICA_BASELINES_PATH: &str = "/wucache/v1/replica/baselines";
/// Largest body of a replica baselines request (it is one access cookie).
const REPLICA_REQUEST_BYTES: usize = 16 << 10;

/// `POST /wucache/v1/replica/baselines` with a downstream's access cookie (its
/// `EncryptedData`, base64) as the body: the baseline file in force here, as JSON
/// `{"format": "toml" | "json" | "none", "text": …}` (`none`: no baseline file, every
/// mirrored update approved). 403 for a cookie or address that would be refused on the
/// Server Sync service, 404 when `[downstream] publish_baselines` is off.
pub(super) async fn replica_baselines(
    app: &App,
    request: hyper::Request<hyper::body::Incoming>,
    peer: IpAddr,
) -> hyper::Response<super::body::Body> {
    use super::body::text;
    use hyper::StatusCode;
    if !app.admission.downstream.enabled() || !app.config.downstream.publish_baselines {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != hyper::Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "POST the access cookie\n");
    }
    if !app.is_ready() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "catalog loading, retry later\n");
    }
    let body = http_body_util::Limited::new(request.into_body(), REPLICA_REQUEST_BYTES);
    let collected = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        http_body_util::BodyExt::collect(body),
    )
    .await;
    let Ok(Ok(collected)) = collected else {
        return text(
            StatusCode::BAD_REQUEST,
            "request body too large, broken or slow\n",
        );
    };
    let cookie = String::from_utf8_lossy(&collected.to_bytes()).trim().to_string();
    let context = SyncContext {
        app,
        snapshot: app.snapshot(),
        peer,
        actor: String::new(),
        content_base: String::new(),
        now: chrono::Utc::now().timestamp(),
    };
    let sealed = crate::protocol::wsusss::base64_decode(&cookie).unwrap_or_default();
    if let Err(fault) = open_access(&context, &sealed) {
        tracing::warn!(peer = %peer, code = fault.code.as_str(), "replica baselines refused");
        return text(StatusCode::FORBIDDEN, "not an authorized downstream server\n");
    }
    match published_baselines(app) {
        Ok(json) => {
            tracing::info!(peer = %peer, "baselines handed to a replica downstream server");
            let mut response = hyper::Response::new(super::body::full(json.into_bytes()));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(err) => {
            tracing::error!(error = %err, file = %app.config.baselines.file, "cannot read the baseline file for a replica");
            text(StatusCode::INTERNAL_SERVER_ERROR, "baseline file unreadable\n")
        }
    }
}

/// The baseline file as replicas get it.
fn published_baselines(app: &App) -> std::io::Result<String> {
    let file = &app.config.baselines.file;
    let (format, text) = if file.is_empty() {
        ("none", String::new())
    } else {
        let json = std::path::Path::new(file)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        (if json { "json" } else { "toml" }, std::fs::read_to_string(file)?)
    };
    Ok(serde_json::json!({ "format": format, "text": text }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_carry_the_next_local_id() {
        assert_eq!(anchor_local_id("42,2026-12-05 10:00:00.000"), Ok(42));
        assert_eq!(anchor_local_id("0,x"), Ok(0));
        for bad in ["", "42", "-1,x", "x,2026", "9438 2026-10-04"] {
            assert_eq!(anchor_local_id(bad).unwrap_err().message, "filter", "{bad}");
        }
    }
}
