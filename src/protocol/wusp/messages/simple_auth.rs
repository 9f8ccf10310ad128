//! SimpleAuth (`SimpleAuthWebService/SimpleAuth.asmx`): GetAuthorizationCookie, and the
//! `AuthorizationCookie` that GetCookie carries on to the ClientWebService. An ASMX
//! service, so empty elements self-close as `<X />`. Uses the shared writer and readers
//! of `messages`.

use super::*;

pub(crate) fn parse_get_authorization_cookie_request(el: &Element) -> Parsed<GetAuthorizationCookieRequest> {
    expect_name(el, "GetAuthorizationCookie")?;
    Ok(GetAuthorizationCookieRequest {
        client_id: opt_string(el, "clientId"),
        target_group_name: opt_string(el, "targetGroupName"),
        dns_name: opt_string(el, "dnsName"),
    })
}

/// Client side: writes a `GetAuthorizationCookie` request (SimpleAuth).
pub fn build_get_authorization_cookie_request(req: &GetAuthorizationCookieRequest) -> String {
    Writer::client().root("GetAuthorizationCookie", SIMPLE_AUTH_NS, |w| {
        w.opt_text("clientId", req.client_id.as_deref());
        w.opt_text("targetGroupName", req.target_group_name.as_deref());
        w.opt_text("dnsName", req.dns_name.as_deref());
    })
}

pub(super) fn write_authorization_cookie(w: &mut Writer, name: &str, cookie: &AuthorizationCookie) {
    w.element(name, |w| {
        w.text("PlugInId", &cookie.plugin_id);
        w.base64("CookieData", &cookie.cookie_data);
    });
}

pub(super) fn read_authorization_cookie(el: &Element, path: &str) -> Parsed<AuthorizationCookie> {
    let data_path = join(path, "CookieData");
    Ok(AuthorizationCookie {
        plugin_id: string(el, "PlugInId"),
        cookie_data: child(el, "CookieData")
            .map(|d| base64(d, &data_path))
            .transpose()?
            .unwrap_or_default(),
    })
}

pub(crate) fn build_get_authorization_cookie_response(cookie: &AuthorizationCookie) -> String {
    Writer::asmx().root("GetAuthorizationCookieResponse", SIMPLE_AUTH_NS, |w| {
        write_authorization_cookie(w, "GetAuthorizationCookieResult", cookie)
    })
}

/// Client side: reads a `GetAuthorizationCookieResponse`.
pub fn parse_get_authorization_cookie_response(el: &Element) -> Parsed<AuthorizationCookie> {
    expect_name(el, "GetAuthorizationCookieResponse")?;
    let path = "GetAuthorizationCookieResult";
    read_authorization_cookie(required(el, path, path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wusp::messages::test_fixtures::*;

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
    fn real_get_authorization_cookie_response_round_trips() {
        let cookie = parse_get_authorization_cookie_response(&response_element(SCAN_AUTH.1)).unwrap();
        assert_eq!(cookie.plugin_id, "SimpleTargeting");
        assert_eq!(cookie.cookie_data, vec![0u8; 496]);
        assert_eq!(
            build_get_authorization_cookie_response(&cookie),
            operation_xml(SCAN_AUTH.1, "GetAuthorizationCookieResponse")
        );
    }
}
