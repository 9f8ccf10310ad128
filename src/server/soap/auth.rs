//! GetConfig, SimpleAuth GetAuthorizationCookie and GetCookie (docs/protocol.md §2.1–§2.3, §3).

use super::{open_cookie, seal_cookie, Context};
use crate::cookie::{
    AccessState, AuthorizationState, CookieError, Purpose, ACCESS_COOKIE_SECONDS,
    AUTHORIZATION_COOKIE_SECONDS,
};
use crate::protocol::wusp::{
    AuthorizationCookie, ClientFault, Config, Cookie, ErrorCode, GetAuthorizationCookieRequest,
    GetConfigRequest, GetCookieRequest,
};

/// `MaxExtendedUpdatesPerRequest`, as WSUS.
pub(super) const MAX_EXTENDED_UPDATES: usize = 50;

/// The configuration a real WSUS sends: these five properties, in this order.
pub(super) fn get_config(context: &Context<'_>, _request: &GetConfigRequest) -> Config {
    Config {
        last_change: context.snapshot.config_last_change.clone(),
        is_registration_required: true,
        plugin_id: "SimpleTargeting".into(),
        service_url: "SimpleAuthWebService/SimpleAuth.asmx".into(),
        properties: vec![
            (
                "MaxExtendedUpdatesPerRequest".into(),
                MAX_EXTENDED_UPDATES.to_string(),
            ),
            (
                "PackageServerShare".into(),
                format!("\\\\{}\\UpdateServicesPackages", host_name(context)),
            ),
            ("ProtocolVersion".into(), "3.2".into()),
            ("IsInventoryRequired".into(), "0".into()),
            ("ClientReportingLevel".into(), "2".into()),
        ],
    }
}

fn host_name(context: &Context<'_>) -> String {
    let base = context.content_base.split("://").nth(1).unwrap_or("wucache");
    base.split([':', '/']).next().unwrap_or("wucache").to_string()
}

/// Records the client and the target group it asked for; answers a sealed authorization
/// cookie.
pub(super) fn get_authorization_cookie(
    context: &Context<'_>,
    request: &GetAuthorizationCookieRequest,
) -> Result<AuthorizationCookie, ClientFault> {
    let client_id = request
        .client_id
        .as_deref()
        .filter(|id| valid_client_id(id))
        .ok_or_else(|| ClientFault::new(ErrorCode::InvalidParameters, "clientId"))?;
    let dns_name = request
        .dns_name
        .as_deref()
        .filter(|n| valid_dns_name(n))
        .ok_or_else(|| ClientFault::new(ErrorCode::InvalidParameters, "dnsName"))?;
    let target_groups = split_groups(request.target_group_name.as_deref());
    if target_groups.len() > MAX_TARGET_GROUPS || target_groups.iter().any(|g| g.len() > MAX_GROUP_NAME) {
        return Err(ClientFault::new(ErrorCode::InvalidParameters, "targetGroupName"));
    }
    let state = AuthorizationState {
        client_id: client_id.to_ascii_lowercase(),
        dns_name: dns_name.to_string(),
        target_groups: target_groups.clone(),
        expires_at: context.now + AUTHORIZATION_COOKIE_SECONDS,
    };
    super::report::note_authorization(context, &state.client_id, dns_name, &target_groups);
    let nonce: [u8; 12] = rand::random();
    Ok(AuthorizationCookie {
        plugin_id: "SimpleTargeting".into(),
        cookie_data: context.app.cookie_key.seal(Purpose::Authorization, &state, nonce),
    })
}

/// Most target groups one client may name (GPO `TargetGroup`, `;`-separated).
const MAX_TARGET_GROUPS: usize = 16;
/// Longest target group name (WSUS's computer group names are at most 256 characters).
const MAX_GROUP_NAME: usize = 256;

/// `ClientIdString`: 1–255 characters of a–z, 0–9 and hyphen (any case).
fn valid_client_id(id: &str) -> bool {
    (1..=255).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_dns_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// `TargetGroup` policy values may list several groups separated by semicolons.
fn split_groups(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

/// Exchanges the authorization cookie for an access cookie valid one hour, carrying state
/// over from a valid old cookie.
pub(super) fn get_cookie(context: &Context<'_>, request: &GetCookieRequest) -> Result<Cookie, ClientFault> {
    let [auth] = request.auth_cookies.as_slice() else {
        return Err(ClientFault::new(
            ErrorCode::InvalidAuthorizationCookie,
            "authCookies",
        ));
    };
    let authorization: AuthorizationState = context
        .app
        .cookie_key
        .open(Purpose::Authorization, &auth.cookie_data)
        .map_err(|_| ClientFault::new(ErrorCode::InvalidAuthorizationCookie, "authCookies"))?;
    if authorization.expires_at <= context.now {
        return Err(ClientFault::new(
            ErrorCode::InvalidAuthorizationCookie,
            "authCookies",
        ));
    }
    if let Some(version) = &request.protocol_version {
        if !valid_version(version) {
            return Err(ClientFault::new(ErrorCode::InvalidParameters, "protocolVersion"));
        }
    }
    let watermark = old_watermark(context, request.old_cookie.as_ref(), &authorization.client_id)?;
    if let Some(last_change) = &request.last_change {
        if !same_instant(last_change, &context.snapshot.config_last_change) {
            return Err(ClientFault::new(ErrorCode::ConfigChanged, ""));
        }
    }
    let state = AccessState {
        catalog_id: context.snapshot.catalog_id,
        client_id: authorization.client_id,
        dns_name: authorization.dns_name,
        target_groups: authorization.target_groups,
        issued_at: context.now,
        expires_at: context.now + ACCESS_COOKIE_SECONDS,
        protocol_version: request.protocol_version.clone().unwrap_or_default(),
        config_last_change: context.snapshot.config_last_change.clone(),
        watermark,
    };
    Ok(seal_cookie(context, &state))
}

/// The watermark of a valid old cookie of the same client; an old cookie with no data
/// (Win11's first call) starts at zero; a foreign one is refused.
fn old_watermark(context: &Context<'_>, old: Option<&Cookie>, client_id: &str) -> Result<i64, ClientFault> {
    let Some(sealed) = old.and_then(|c| c.encrypted_data.as_deref()) else {
        return Ok(0);
    };
    match context
        .app
        .cookie_key
        .open_access(sealed, context.snapshot.catalog_id, context.now)
    {
        Ok(state) if state.client_id == client_id => Ok(state.watermark),
        Ok(_) | Err(CookieError::Expired) => Ok(0),
        Err(CookieError::Invalid) => Err(ClientFault::new(ErrorCode::InvalidCookie, "oldCookie")),
        Err(CookieError::ServerChanged) => Err(ClientFault::new(ErrorCode::ServerChanged, "oldCookie")),
    }
}

/// `"x.y"` with numeric parts.
fn valid_version(version: &str) -> bool {
    let mut parts = version.split('.');
    let numeric = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    numeric(parts.next()) && numeric(parts.next()) && parts.next().is_none()
}

/// Compares two xs:dateTime texts as instants (clients may reformat fractions).
fn same_instant(a: &str, b: &str) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Checks an access cookie and returns its state (used by every cookie-bearing operation).
pub(super) fn require_cookie(
    context: &Context<'_>,
    cookie: Option<&Cookie>,
) -> Result<AccessState, ClientFault> {
    let state = open_cookie(context, cookie)?;
    if !same_instant(&state.config_last_change, &context.snapshot.config_last_change) {
        return Err(ClientFault::new(ErrorCode::ConfigChanged, ""));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_versions_and_groups() {
        assert!(valid_client_id("e1da06a3-5601-43c9-bac3-52d5db701494"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id("a b"));
        assert!(valid_version("2.90") && valid_version("1.8"));
        assert!(!valid_version("2") && !valid_version("2.x") && !valid_version("1.2.3"));
        assert_eq!(split_groups(Some("Ring1; Servers;;")), vec!["Ring1", "Servers"]);
        assert!(same_instant(
            "2026-10-04T13:17:07.59Z",
            "2026-10-04T13:17:07.5900000Z"
        ));
    }
}
