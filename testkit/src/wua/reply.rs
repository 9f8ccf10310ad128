//! The SOAP 1.1 envelope around every answer: the one element in `Body` is either the operation's
//! response or a `Fault`, whose `detail/ErrorCode` (InvalidCookie, ConfigChanged, ...) is what a
//! Windows client acts on.

use super::schema::{check_sequence, expect_name, required, required_text, text_of, Occurs};
use super::WuaError;
use crate::xml::Element;

/// The SOAP 1.1 envelope namespace Windows sends and expects back.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// What a call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The response element, e.g. `SyncUpdatesResponse`.
    Answer(Element),
    /// A SOAP fault.
    Fault(Fault),
}

/// A SOAP 1.1 fault as WSUS sends it:
/// `faultcode`, `faultstring`, `detail/{ErrorCode, Message, ID, Method}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fault {
    pub(crate) fault_code: String,
    pub(crate) fault_string: String,
    /// `detail/ErrorCode`, e.g. `InvalidCookie`; `None` when the fault has none.
    pub error_code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) method: Option<String>,
}

impl Reply {
    /// The response element, or the fault's `ErrorCode` (empty when it has none).
    pub fn into_answer(self) -> Result<Element, String> {
        match self {
            Reply::Answer(element) => Ok(element),
            Reply::Fault(fault) => Err(fault.error_code.unwrap_or_default()),
        }
    }
}

/// Reads an answer's envelope. The namespace is checked on the text, because the element tree
/// keeps local names only.
pub fn read_reply(xml: &str) -> Result<Reply, WuaError> {
    if !xml.contains(SOAP_NS) {
        return Err(WuaError::Envelope("no SOAP 1.1 namespace".into()));
    }
    let root = Element::parse(xml)?;
    expect_name(&root, "Envelope")?;
    check_sequence(
        &root,
        "Envelope",
        &[("Header", Occurs::Optional), ("Body", Occurs::One)],
    )?;
    let body = required(&root, "Body", "Envelope")?;
    let [content] = body.children.as_slice() else {
        return Err(WuaError::Envelope(format!(
            "Body holds {} elements, not one",
            body.children.len()
        )));
    };
    if content.name == "Fault" {
        return read_fault(content).map(Reply::Fault);
    }
    Ok(Reply::Answer(content.clone()))
}

/// Reads a SOAP 1.1 `Fault` (MS-WUSP §2.2.2.4 detail).
fn read_fault(fault: &Element) -> Result<Fault, WuaError> {
    let path = "Fault";
    check_sequence(
        fault,
        path,
        &[
            ("faultcode", Occurs::One),
            ("faultstring", Occurs::One),
            ("faultactor", Occurs::Optional),
            ("detail", Occurs::Optional),
        ],
    )?;
    let mut read = Fault {
        fault_code: required_text(fault, "faultcode", path)?,
        fault_string: required_text(fault, "faultstring", path)?,
        ..Fault::default()
    };
    if let Some(detail) = fault.child("detail") {
        check_sequence(
            detail,
            "Fault/detail",
            &[
                ("ErrorCode", Occurs::Optional),
                ("Message", Occurs::Optional),
                ("ID", Occurs::Optional),
                ("Method", Occurs::Optional),
            ],
        )?;
        read.error_code = text_of(detail, "ErrorCode");
        read.message = text_of(detail, "Message");
        read.id = text_of(detail, "ID");
        read.method = text_of(detail, "Method");
    }
    Ok(read)
}
