//! The ClientWebService handshake a client goes through before it scans: GetConfig,
//! GetCookie and RegisterComputer (with the `ComputerInfo` field table). Uses the shared
//! writer and readers of `messages` and SimpleAuth's `AuthorizationCookie` (`simple_auth`).

use super::simple_auth::{read_authorization_cookie, write_authorization_cookie};
use super::*;

// ---- GetConfig -------------------------------------------------------------------------

pub(crate) fn parse_get_config_request(el: &Element) -> Parsed<GetConfigRequest> {
    expect_name(el, "GetConfig")?;
    Ok(GetConfigRequest {
        protocol_version: string(el, "protocolVersion"),
    })
}

/// Client side: writes a `GetConfig` request.
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

// ---- GetCookie -------------------------------------------------------------------------

pub(crate) fn parse_get_cookie_request(el: &Element) -> Parsed<GetCookieRequest> {
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

/// Client side: writes a `GetCookie` request.
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

pub(crate) fn build_get_cookie_response(cookie: &Cookie) -> String {
    Writer::client().root("GetCookieResponse", CLIENT_NS, |w| {
        write_cookie(w, "GetCookieResult", cookie)
    })
}

/// Client side: reads a `GetCookieResponse`.
pub fn parse_get_cookie_response(el: &Element) -> Parsed<Cookie> {
    expect_name(el, "GetCookieResponse")?;
    req_cookie(el, "GetCookieResult", "")
}

// ---- RegisterComputer ------------------------------------------------------------------

/// How a `ComputerInfo` field is checked: optional text, required text (`dateTime`), or a
/// required integer of the WSDL's width.
#[derive(Clone, Copy)]
pub(super) enum Number {
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
        pub(super) const COMPUTER_FIELDS: [(&str, Number); 26] = [$(($name, Number::$number)),*];

        fn computer_values(c: &ComputerInfo) -> [&String; 26] {
            [$(&c.$field),*]
        }

        pub(super) fn computer_values_mut(c: &mut ComputerInfo) -> [&mut String; 26] {
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

pub(crate) fn parse_register_computer_request(el: &Element) -> Parsed<RegisterComputerRequest> {
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

pub(crate) fn build_register_computer_response(_: &()) -> String {
    Writer::client().root("RegisterComputerResponse", CLIENT_NS, |_| {})
}

/// Client side: checks a `RegisterComputerResponse` (an empty element).
pub fn parse_register_computer_response(el: &Element) -> Parsed<()> {
    expect_name(el, "RegisterComputerResponse")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wusp::messages::test_fixtures::*;

    #[test]
    fn native_get_config_request() {
        let req = parse_get_config_request(&request_element(SCAN_GET_CONFIG.0)).unwrap();
        assert_eq!(req.protocol_version, "2.90");
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
}
