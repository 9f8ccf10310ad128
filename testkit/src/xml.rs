//! A small element tree over quick-xml that ignores namespace prefixes, and text escaping.
//!
//! The fake upstream reads SOAP requests with it and the tests read update documents with it.
//! Names are local names (`soap:Body` and `s:Body` are both `Body`), because real peers use
//! different prefixes for the same namespaces.

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

/// Deepest nesting accepted; deeper input is rejected rather than walked.
const MAX_DEPTH: usize = 256;

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// The text is not well-formed XML (quick-xml's message, or an unknown entity).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// No root element.
    #[error("document has no root element")]
    NoRoot,
    /// Nesting passes the depth limit.
    #[error("document nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
}

/// One element: its local name, attributes (local names, unescaped values, `xmlns` left out),
/// its own text (unescaped, concatenated) and its child elements in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name, prefix dropped.
    pub name: String,
    pub(crate) attrs: Vec<(String, String)>,
    /// Own text, unescaped and concatenated.
    pub text: String,
    /// Child elements, in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// Parses a whole document and returns its root element.
    pub fn parse(xml: &str) -> Result<Element, XmlError> {
        let mut reader = Reader::from_str(xml);
        let mut stack: Vec<Element> = Vec::new();
        loop {
            let event = reader.read_event().map_err(malformed)?;
            match event {
                Event::Start(start) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(XmlError::TooDeep);
                    }
                    stack.push(open(&start)?);
                }
                Event::Empty(start) => {
                    let element = open(&start)?;
                    if let Some(done) = attach(&mut stack, element) {
                        return Ok(done);
                    }
                }
                Event::End(_) => {
                    let element = stack.pop().ok_or(XmlError::NoRoot)?;
                    if let Some(done) = attach(&mut stack, element) {
                        return Ok(done);
                    }
                }
                Event::Text(text) => {
                    let text = text.xml10_content().map_err(malformed)?;
                    push_text(&mut stack, &text);
                }
                Event::CData(data) => {
                    let text = data.decode().map_err(malformed)?;
                    push_text(&mut stack, &text);
                }
                Event::GeneralRef(reference) => {
                    let text = resolve_reference(&reference)?;
                    push_text(&mut stack, &text);
                }
                Event::Eof => return Err(XmlError::NoRoot),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of local names through first matching children.
    pub fn find(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |element, name| element.child(name))
    }

    /// The value of the attribute with this local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The element's own text with surrounding whitespace removed.
    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }
}

fn malformed(error: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(error.to_string())
}

/// Builds an element (without children yet) from a start tag.
fn open(start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(malformed)?;
        let key = attr.key;
        if key.as_ref() == b"xmlns" || key.prefix().is_some_and(|p| p.as_ref() == b"xmlns") {
            continue;
        }
        let local = String::from_utf8_lossy(key.local_name().as_ref()).into_owned();
        let value = attr.unescape_value().map_err(malformed)?.into_owned();
        attrs.push((local, value));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

/// Adds a finished element to its parent, or returns it when it is the root.
fn attach(stack: &mut [Element], element: Element) -> Option<Element> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(element);
            None
        }
        None => Some(element),
    }
}

fn push_text(stack: &mut [Element], text: &str) {
    if let Some(current) = stack.last_mut() {
        current.text.push_str(text);
    }
}

/// Resolves `&amp;`-style and `&#NN;` references; unknown entities are malformed input.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, XmlError> {
    if let Some(ch) = reference.resolve_char_ref().map_err(malformed)? {
        return Ok(ch.to_string());
    }
    let name = reference.decode().map_err(malformed)?;
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or_else(|| XmlError::Malformed(format!("unknown entity &{name};")))
}

/// Appends `text` escaped for element content (`&`, `<`, `>`), as WSUS escapes `XmlUpdateBlob`.
pub fn escape_text_into(out: &mut String, text: &str) {
    escape_into(out, text, false);
}

/// Appends `value` escaped for a double-quoted attribute (`&`, `<`, `>`, `"`).
pub fn escape_attr_into(out: &mut String, value: &str) {
    escape_into(out, value, true);
}

fn escape_into(out: &mut String, text: &str, quote: bool) {
    let mut rest = text;
    while let Some(at) = rest.find(|c| matches!(c, '&' | '<' | '>') || (quote && c == '"')) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => "&quot;",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// `text` escaped for element content.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    escape_text_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ignores_prefixes_and_resolves_references() {
        let root = Element::parse(
            r#"<?xml version="1.0"?><s:Envelope xmlns:s="urn:x"><s:Body><Op xmlns="urn:y" a:k="v&amp;w" xmlns:a="urn:a"><t>1 &lt; 2 &#65;<![CDATA[<x>]]></t><e /></Op></s:Body></s:Envelope>"#,
        )
        .expect("well-formed");
        let op = root.find(&["Body", "Op"]).expect("op");
        assert_eq!(op.attr("k"), Some("v&w"));
        assert_eq!(op.attrs.len(), 1);
        assert_eq!(op.child("t").map(|t| t.text.as_str()), Some("1 < 2 A<x>"));
        assert!(op.child("e").is_some());
    }

    #[test]
    fn parse_rejects_malformed_and_empty_input() {
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("").is_err());
        assert!(Element::parse("<a>&bogus;</a>").is_err());
    }

    #[test]
    fn escaping_round_trips_through_parse() {
        let nasty = r#"Tools & "Utilities" <x64>"#;
        let mut doc = String::from("<a v=\"");
        escape_attr_into(&mut doc, nasty);
        doc.push_str("\">");
        escape_text_into(&mut doc, nasty);
        doc.push_str("</a>");
        let root = Element::parse(&doc).expect("well-formed");
        assert_eq!(root.attr("v"), Some(nasty));
        assert_eq!(root.text, nasty);
    }
}
