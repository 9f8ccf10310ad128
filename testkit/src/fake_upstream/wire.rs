//! MS-WSUSSS wire format as the recorded WSUS speaks it: operations, envelopes, faults, and the
//! request fields the fake reads.
//!
//! Responses copy the recordings byte for byte in shape: XML declaration, `soap:` prefix,
//! `xsi`/`xsd` declared on the envelope, unprefixed children in the operation's namespace.
//! Requests are read prefix-agnostically through [`Element`].

use uuid::Uuid;

use crate::xml::{escape_text, Element};

/// Namespace (and SOAPAction prefix) of the server-sync service.
pub(super) const SYNC_NS: &str = "http://www.microsoft.com/SoftwareDistribution";
/// Namespace (and SOAPAction prefix) of the DSS authorization service.
pub(super) const DSS_NS: &str = "http://www.microsoft.com/SoftwareDistribution/Server/DssAuthWebService";

/// Which `.asmx` endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Service {
    ServerSync,
    DssAuth,
}

impl Service {
    /// The service behind a request path, matched case-insensitively as IIS does.
    pub(super) fn from_path(path: &str) -> Option<Service> {
        let path = path.to_ascii_lowercase();
        match path.as_str() {
            "/serversyncwebservice/serversyncwebservice.asmx" => Some(Service::ServerSync),
            "/dssauthwebservice/dssauthwebservice.asmx" => Some(Service::DssAuth),
            _ => None,
        }
    }
}

/// The operations the fake implements.
// The variants are the SOAP operation names, which all start with `Get`.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    GetAuthConfig,
    GetAuthorizationCookie,
    GetCookie,
    GetConfigData,
    GetRevisionIdList,
    GetUpdateData,
}

impl Op {
    pub(super) fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "GetAuthConfig" => Op::GetAuthConfig,
            "GetAuthorizationCookie" => Op::GetAuthorizationCookie,
            "GetCookie" => Op::GetCookie,
            "GetConfigData" => Op::GetConfigData,
            "GetRevisionIdList" => Op::GetRevisionIdList,
            "GetUpdateData" => Op::GetUpdateData,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Op::GetAuthConfig => "GetAuthConfig",
            Op::GetAuthorizationCookie => "GetAuthorizationCookie",
            Op::GetCookie => "GetCookie",
            Op::GetConfigData => "GetConfigData",
            Op::GetRevisionIdList => "GetRevisionIdList",
            Op::GetUpdateData => "GetUpdateData",
        }
    }

    pub(super) fn service(self) -> Service {
        match self {
            Op::GetAuthorizationCookie => Service::DssAuth,
            _ => Service::ServerSync,
        }
    }

    pub(super) fn namespace(self) -> &'static str {
        match self.service() {
            Service::DssAuth => DSS_NS,
            Service::ServerSync => SYNC_NS,
        }
    }

    /// The quoted SOAPAction, as WSUS echoes it in a fault's `Method`.
    pub(super) fn quoted_action(self) -> String {
        format!("\"{}/{}\"", self.namespace(), self.name())
    }
}

/// The operation a request names: the SOAPAction header's last path segment, else the local
/// name of the first element inside `Body`.
pub(super) fn operation_name(soap_action: Option<&str>, envelope: &Element) -> Option<String> {
    let from_header = soap_action
        .map(|a| a.trim().trim_matches('"'))
        .filter(|a| !a.is_empty())
        .and_then(|a| a.rsplit('/').next())
        .filter(|name| !name.is_empty());
    match from_header {
        Some(name) => Some(name.to_owned()),
        None => body_operation(envelope).map(|op| op.name.clone()),
    }
}

/// The first element inside `Envelope/Body`.
pub(super) fn body_operation(envelope: &Element) -> Option<&Element> {
    envelope.child("Body")?.children.first()
}

/// An application fault, serialised in the recorded shape (000017–000019).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fault {
    /// `soap:Server` rather than `soap:Client`.
    pub server: bool,
    /// The `detail/ErrorCode`; `None` for ASP.NET-level faults, which carry an empty detail.
    pub code: Option<&'static str>,
    pub message: String,
    pub faultstring: String,
}

impl Fault {
    /// A `soap:Client` fault with this `ErrorCode`.
    pub(super) fn client(code: &'static str, message: &str) -> Fault {
        Fault {
            server: false,
            code: Some(code),
            message: message.to_owned(),
            faultstring: "Fault occurred".to_owned(),
        }
    }

    /// A `soap:Server` fault with this `ErrorCode`.
    pub(super) fn server(code: &'static str) -> Fault {
        Fault {
            server: true,
            ..Fault::client(code, "")
        }
    }

    pub(super) fn invalid_parameters(parameter: &str) -> Fault {
        Fault::client("InvalidParameters", parameter)
    }

    pub(super) fn invalid_cookie() -> Fault {
        Fault::client("InvalidCookie", "")
    }

    /// What ASP.NET answers to a body it cannot read: no `ErrorCode`.
    pub(super) fn unreadable() -> Fault {
        Fault {
            server: false,
            code: None,
            message: String::new(),
            faultstring: "Server was unable to read request.".to_owned(),
        }
    }

    /// What ASP.NET answers to an operation this endpoint does not have: no `ErrorCode`.
    pub(super) fn unknown_action(action: &str) -> Fault {
        Fault {
            server: false,
            code: None,
            message: String::new(),
            faultstring: format!("Server did not recognize the value of HTTP Header SOAPAction: {action}."),
        }
    }

    /// The key this fault is counted under in `Stats::faults`.
    pub(super) fn stats_key(&self) -> &'static str {
        self.code.unwrap_or("NoErrorCode")
    }
}

const ENVELOPE_OPEN: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" "#,
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#,
    r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>"#
);
const ENVELOPE_CLOSE: &str = "</soap:Body></soap:Envelope>";

/// `<OpResponse xmlns=…><OpResult>{result}</OpResult></OpResponse>` in an envelope.
pub(super) fn response(op: Op, result: &str) -> String {
    let name = op.name();
    let mut out = String::with_capacity(ENVELOPE_OPEN.len() + result.len() + 200);
    out.push_str(ENVELOPE_OPEN);
    out.push_str(&format!(
        r#"<{name}Response xmlns="{}"><{name}Result>"#,
        op.namespace()
    ));
    out.push_str(result);
    out.push_str(&format!("</{name}Result></{name}Response>"));
    out.push_str(ENVELOPE_CLOSE);
    out
}

/// A fault envelope; `actor` is the request URL, `method` the quoted SOAPAction.
pub(super) fn fault(fault: &Fault, actor: &str, method: &str) -> String {
    let code = if fault.server {
        "soap:Server"
    } else {
        "soap:Client"
    };
    let detail = match fault.code {
        Some(error_code) => format!(
            "<detail><ErrorCode>{error_code}</ErrorCode><Message>{}</Message><ID>{}</ID><Method>{}</Method></detail>",
            escape_text(&fault.message),
            Uuid::new_v4(),
            escape_text(method),
        ),
        None => "<detail />".to_owned(),
    };
    format!(
        "{ENVELOPE_OPEN}<soap:Fault><faultcode>{code}</faultcode><faultstring>{}</faultstring><faultactor>{}</faultactor>{detail}</soap:Fault>{ENVELOPE_CLOSE}",
        escape_text(&fault.faultstring),
        escape_text(actor),
    )
}

/// `cookie/EncryptedData` of a server-sync request.
pub(super) fn access_cookie(op: &Element) -> Option<&str> {
    op.find(&["cookie", "EncryptedData"]).map(Element::trimmed)
}

/// `authCookies/AuthorizationCookie/CookieData` of a GetCookie request (the first one).
pub(super) fn authorization_cookie(op: &Element) -> Option<&str> {
    op.find(&["authCookies", "AuthorizationCookie", "CookieData"])
        .map(Element::trimmed)
}

/// A `GetRevisionIdList` filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Filter {
    pub get_config: bool,
    pub anchor: Option<String>,
    /// Products (`Categories/IdAndDelta`), each with its `Delta` flag.
    pub categories: Vec<(Uuid, bool)>,
    /// `Classifications/IdAndDelta`, each with its `Delta` flag.
    pub classifications: Vec<(Uuid, bool)>,
}

/// Reads `filter`; anything unreadable is `InvalidParameters` / `filter`, as WSUS answers.
pub(super) fn filter(op: &Element) -> Result<Filter, Fault> {
    let bad = || Fault::invalid_parameters("filter");
    let filter = op.child("filter").ok_or_else(bad)?;
    let get_config = match filter.child("GetConfig") {
        Some(value) => parse_bool(value.trimmed()).ok_or_else(bad)?,
        None => false,
    };
    let anchor = filter
        .child("Anchor")
        .map(|a| a.trimmed().to_owned())
        .filter(|a| !a.is_empty());
    Ok(Filter {
        get_config,
        anchor,
        categories: id_and_deltas(filter.child("Categories")).ok_or_else(bad)?,
        classifications: id_and_deltas(filter.child("Classifications")).ok_or_else(bad)?,
    })
}

fn id_and_deltas(list: Option<&Element>) -> Option<Vec<(Uuid, bool)>> {
    let Some(list) = list else {
        return Some(Vec::new());
    };
    list.children_named("IdAndDelta")
        .map(|entry| {
            let id = Uuid::parse_str(entry.child("Id")?.trimmed()).ok()?;
            let delta = match entry.child("Delta") {
                Some(delta) => parse_bool(delta.trimmed())?,
                None => false,
            };
            Some((id, delta))
        })
        .collect()
}

/// `updateIds/UpdateIdentity` of a GetUpdateData request.
pub(super) fn update_ids(op: &Element) -> Result<Vec<(Uuid, u32)>, Fault> {
    let bad = || Fault::invalid_parameters("updateIds");
    let list = op.child("updateIds").ok_or_else(bad)?;
    list.children_named("UpdateIdentity")
        .map(|identity| {
            let id = identity.child("UpdateID").ok_or_else(bad)?;
            let id = Uuid::parse_str(id.trimmed()).map_err(|_| bad())?;
            let revision = identity.child("RevisionNumber").ok_or_else(bad)?;
            let revision = revision.trimmed().parse().map_err(|_| bad())?;
            Ok((id, revision))
        })
        .collect()
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}
