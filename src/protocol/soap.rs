//! SOAP framing shared by every service: writing a 1.1 envelope, reading a response body
//! (1.1 or 1.2, any prefixes) and its fault, if it is one (docs/protocol.md §1.3–§1.4, §8.3).

use super::xml::{self, Element, XmlError};

pub(crate) const SOAP11_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// A SOAP fault as WSUS sends it: the client keys only on `ErrorCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultcode` (1.1) or `Code/Value` (1.2), e.g. `soap:Client`.
    pub code: String,
    pub(crate) reason: String,
    /// `detail/ErrorCode`, e.g. `InvalidCookie`; absent in non-WSUS faults.
    pub error_code: Option<String>,
    pub(crate) message: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self.error_code.as_deref().unwrap_or("no ErrorCode");
        write!(f, "SOAP fault {code} ({}: {})", self.code, self.reason)?;
        if !self.message.is_empty() {
            write!(f, ", message `{}`", self.message)?;
        }
        Ok(())
    }
}

/// Why a SOAP response yields no operation element.
#[derive(Debug, thiserror::Error)]
pub enum SoapError {
    /// The text is not XML the reader accepts.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The root is not `Envelope`; its local name.
    #[error("not a SOAP envelope (root `{0}`)")]
    NotEnvelope(String),
    /// No `Body`, or a `Body` without children.
    #[error("SOAP body is empty")]
    EmptyBody,
    /// The body is a fault.
    #[error("{0}")]
    Fault(Fault),
}

/// Wraps an operation element (already serialised) in a SOAP 1.1 envelope.
pub fn envelope(operation: &str) -> String {
    let mut out = String::with_capacity(operation.len() + 320);
    for piece in [
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"",
        SOAP11_ENVELOPE_NS,
        "\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body>",
        operation,
        "</soap:Body></soap:Envelope>",
    ] {
        out.push_str(piece);
    }
    out
}

/// Parses a response and returns the first element of its body, or the fault it carries.
pub fn parse_response(text: &str) -> Result<Element, SoapError> {
    let root = xml::parse(text)?;
    if root.name != "Envelope" {
        return Err(SoapError::NotEnvelope(root.name));
    }
    let mut body = root
        .children
        .into_iter()
        .find(|c| c.name == "Body")
        .ok_or(SoapError::EmptyBody)?;
    if body.children.is_empty() {
        return Err(SoapError::EmptyBody);
    }
    let first = body.children.swap_remove(0);
    if first.name == "Fault" {
        return Err(SoapError::Fault(read_fault(&first)));
    }
    Ok(first)
}

/// Reads a 1.1 (`faultcode`/`faultstring`/`detail`) or 1.2 (`Code`/`Reason`/`Detail`) fault.
pub fn read_fault(fault: &Element) -> Fault {
    let code = fault
        .child_text("faultcode")
        .or_else(|| fault.path(&["Code", "Value"]).map(|v| v.text.trim()))
        .unwrap_or_default();
    let reason = fault
        .child_text("faultstring")
        .or_else(|| fault.path(&["Reason", "Text"]).map(|v| v.text.trim()))
        .unwrap_or_default();
    let detail = fault.child("detail").or_else(|| fault.child("Detail"));
    let error_code = detail
        .and_then(|d| d.find("ErrorCode"))
        .map(|e| e.text.trim().to_string())
        .filter(|c| !c.is_empty());
    let message = detail
        .and_then(|d| d.find("Message"))
        .map(|e| e.text.trim().to_string())
        .unwrap_or_default();
    Fault {
        code: code.to_string(),
        reason: reason.to_string(),
        error_code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_INVALID_COOKIE: &str =
        include_str!("../../tests/fixtures/wsusss/000019.fault-invalid-cookie.xml");

    #[test]
    fn real_wsus_fault_is_read() {
        let err = parse_response(REAL_INVALID_COOKIE).unwrap_err();
        let SoapError::Fault(fault) = err else {
            panic!("{err}")
        };
        assert_eq!(fault.error_code.as_deref(), Some("InvalidCookie"));
        assert_eq!(fault.code, "soap:Client");
        assert_eq!(fault.reason, "Fault occurred");
    }

    #[test]
    fn soap12_fault_is_read() {
        let text = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text>Fault occurred</env:Text></env:Reason><env:Detail><Detail><ErrorCode>ServerBusy</ErrorCode><Message/></Detail></env:Detail></env:Fault></env:Body></env:Envelope>"#;
        let SoapError::Fault(fault) = parse_response(text).unwrap_err() else {
            panic!()
        };
        assert_eq!(fault.error_code.as_deref(), Some("ServerBusy"));
        assert_eq!(fault.code, "env:Receiver");
    }

    #[test]
    fn body_element_is_returned() {
        let text = envelope("<Ping xmlns=\"x\"><a>1</a></Ping>");
        let el = parse_response(&text).unwrap();
        assert_eq!(el.name, "Ping");
        assert_eq!(el.child_text("a"), Some("1"));
    }

    #[test]
    fn non_envelopes_are_rejected() {
        assert!(matches!(
            parse_response("<html/>"),
            Err(SoapError::NotEnvelope(_))
        ));
        assert!(matches!(parse_response(&envelope("")), Err(SoapError::EmptyBody)));
    }
}
