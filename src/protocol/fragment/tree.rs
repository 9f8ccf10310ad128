//! The fragments' element tree: the stored `upd:Update` document parsed (refusing DTDs,
//! undeclared entities and prefixes, bounded depth) into elements named as fragments name
//! them (`b.X`, `m.X`, `d.X`), and written back as WSUS writes them. Private to `fragment`;
//! uses quick-xml, and `protocol::xml` for escaping and the predefined entities.

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

use super::FragmentError;
use crate::protocol::xml::{predefined_entity, push_escaped_attribute, push_escaped_text};

const UPDATE_NS: &[u8] = b"http://schemas.microsoft.com/msus/2002/12/Update";
const BASE_RULES_NS: &[u8] = b"http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules";
const MSI_RULES_NS: &[u8] = b"http://schemas.microsoft.com/msus/2002/12/MsiApplicabilityRules";
const DRIVER_NS: &[u8] = b"http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/WindowsDriver";

/// Deepest nesting accepted; real applicability rules stay below 30.
pub(super) const MAX_DEPTH: usize = 256;

// ---- The element tree ----------------------------------------------------------------

/// One element with its fragment name (`b.RegDword`, `Properties`) and unprefixed attributes.
#[derive(Debug, Clone)]
pub(super) struct Element {
    name: String,
    in_update_ns: bool,
    pub(super) attrs: Vec<(String, String)>,
    pub(super) children: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Element(Element),
    Text(String),
    CData(String),
}

impl Element {
    pub(super) fn new(name: &str, attrs: Vec<(String, String)>, children: Vec<Node>) -> Self {
        Element {
            name: name.to_string(),
            in_update_ns: true,
            attrs,
            children,
        }
    }

    /// Whether this is the Update-namespace element `name`.
    fn is(&self, name: &str) -> bool {
        self.in_update_ns && self.name == name
    }

    pub(super) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter_map(move |node| match node {
            Node::Element(el) if el.is(name) => Some(el),
            _ => None,
        })
    }

    /// The first child of this name in the Update namespace.
    pub(super) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|node| match node {
            Node::Element(el) if el.is(name) => Some(el),
            _ => None,
        })
    }

    pub(super) fn require(&self, name: &'static str) -> Result<&Element, FragmentError> {
        self.child(name).ok_or(FragmentError::Missing(name))
    }

    /// The trimmed text of a child, empty when absent.
    pub(super) fn child_text(&self, name: &str) -> String {
        let Some(child) = self.child(name) else {
            return String::new();
        };
        let text: String = child
            .children
            .iter()
            .filter_map(|node| match node {
                Node::Text(t) | Node::CData(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect();
        text.trim().to_string()
    }
}

// ---- Serialising -------------------------------------------------------------------

/// Writes an element as WSUS does: `<X a="v">…</X>`, or `<X a="v" />` when it has no content.
pub(super) fn write(out: &mut String, el: &Element) {
    out.push('<');
    out.push_str(&el.name);
    for (key, value) in &el.attrs {
        out.push(' ');
        out.push_str(key);
        out.push_str("=\"");
        push_escaped_attribute(out, value);
        out.push('"');
    }
    let mut content = el.children.iter().filter(|node| !is_blank(node)).peekable();
    if content.peek().is_none() {
        out.push_str(" />");
        return;
    }
    out.push('>');
    content.for_each(|node| write_node(out, node));
    out.push_str("</");
    out.push_str(&el.name);
    out.push('>');
}

fn write_node(out: &mut String, node: &Node) {
    match node {
        Node::Element(el) => write(out, el),
        Node::Text(text) => push_escaped_text(out, text),
        Node::CData(data) => {
            out.push_str("<![CDATA[");
            out.push_str(data);
            out.push_str("]]>");
        }
    }
}

/// Whitespace-only text is formatting, not content (as .NET drops it on load).
fn is_blank(node: &Node) -> bool {
    matches!(node, Node::Text(t) if t.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')))
}

// ---- Parsing -----------------------------------------------------------------------

/// Parses the document into its `upd:Update` root, refusing DTDs, undeclared entities and
/// prefixes, and anything that is not one well-formed element.
pub(super) fn parse(text: &str) -> Result<Element, FragmentError> {
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let (resolved, event) = match reader.read_resolved_event() {
            Ok(pair) => pair,
            Err(e) => return Err(malformed(reader.error_position(), e)),
        };
        let fragment_name = FragmentName::of(&resolved);
        if let Some(root) = step(&reader, &mut stack, fragment_name, event)? {
            return finish(&mut reader, root);
        }
    }
}

/// Applies one event to the open elements; returns the root once it closes.
fn step(
    reader: &NsReader<&[u8]>,
    stack: &mut Vec<Element>,
    fragment_name: FragmentName,
    event: Event<'_>,
) -> Result<Option<Element>, FragmentError> {
    let position = reader.buffer_position();
    match event {
        Event::Start(_) if stack.len() >= MAX_DEPTH => Err(FragmentError::TooDeep),
        Event::Start(start) => {
            stack.push(open(reader, &start, fragment_name, stack.is_empty())?);
            Ok(None)
        }
        Event::Empty(start) => {
            let el = open(reader, &start, fragment_name, stack.is_empty())?;
            Ok(attach(stack, el))
        }
        Event::End(_) => {
            let el = stack.pop().ok_or_else(|| malformed(position, "stray end tag"))?;
            Ok(attach(stack, el))
        }
        Event::Text(t) => {
            let text = t.xml10_content().map_err(|e| malformed(position, e))?;
            add_text(stack, &text, position).map(|()| None)
        }
        Event::GeneralRef(r) => {
            let c = resolve_reference(&r, position)?;
            add_text(stack, c.encode_utf8(&mut [0; 4]), position).map(|()| None)
        }
        Event::CData(d) => {
            let data = d.xml10_content().map_err(|e| malformed(position, e))?;
            let top = stack
                .last_mut()
                .ok_or_else(|| malformed(position, "CDATA outside the root"))?;
            top.children.push(Node::CData(data.into_owned()));
            Ok(None)
        }
        Event::DocType(_) => Err(FragmentError::Doctype),
        Event::Eof => Err(malformed(
            position,
            "document ends before its root element closes",
        )),
        Event::Decl(_) | Event::PI(_) | Event::Comment(_) => Ok(None),
    }
}

/// How an element's namespace shows in a fragment, decided while the resolver is borrowed.
enum FragmentName {
    Update,
    Prefixed(&'static str),
    Plain,
    Undeclared(String),
}

impl FragmentName {
    fn of(resolved: &ResolveResult<'_>) -> Self {
        match resolved {
            ResolveResult::Bound(ns) => match ns.as_ref() {
                UPDATE_NS => FragmentName::Update,
                BASE_RULES_NS => FragmentName::Prefixed("b."),
                MSI_RULES_NS => FragmentName::Prefixed("m."),
                DRIVER_NS => FragmentName::Prefixed("d."),
                _ => FragmentName::Plain,
            },
            ResolveResult::Unbound => FragmentName::Plain,
            ResolveResult::Unknown(prefix) => {
                FragmentName::Undeclared(String::from_utf8_lossy(prefix).into())
            }
        }
    }
}

fn open(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    fragment_name: FragmentName,
    is_root: bool,
) -> Result<Element, FragmentError> {
    let position = reader.buffer_position();
    let local_name = start.local_name();
    let local = utf8(local_name.as_ref(), position)?;
    let (name, in_update_ns) = match fragment_name {
        FragmentName::Update => (local.to_string(), true),
        FragmentName::Prefixed(prefix) => (format!("{prefix}{local}"), false),
        FragmentName::Plain => (local.to_string(), false),
        FragmentName::Undeclared(prefix) => {
            return Err(malformed(position, format!("undeclared prefix `{prefix}`")))
        }
    };
    if is_root && !(in_update_ns && name == "Update") {
        let qualified = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        return Err(FragmentError::NotAnUpdate(qualified));
    }
    let attrs = attributes(reader, start, position)?;
    Ok(Element {
        name,
        in_update_ns,
        attrs,
        children: Vec::new(),
    })
}

/// The attributes by local name, without namespace declarations.
fn attributes(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    position: u64,
) -> Result<Vec<(String, String)>, FragmentError> {
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| malformed(position, e))?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        check_prefix(reader, attr.key, position)?;
        let local_name = attr.key.local_name();
        let key = utf8(local_name.as_ref(), position)?.to_string();
        attrs.push((key, attribute_value(&attr.value, position)?));
    }
    Ok(attrs)
}

fn check_prefix(reader: &NsReader<&[u8]>, key: QName<'_>, position: u64) -> Result<(), FragmentError> {
    match reader.resolve_attribute(key).0 {
        ResolveResult::Unknown(prefix) => Err(malformed(
            position,
            format!("undeclared prefix `{}`", String::from_utf8_lossy(&prefix)),
        )),
        _ => Ok(()),
    }
}

/// Normalises literal whitespace to spaces (XML 1.0 §3.3.3), then resolves references.
fn attribute_value(raw: &[u8], position: u64) -> Result<String, FragmentError> {
    let raw = utf8(raw, position)?
        .replace("\r\n", " ")
        .replace(['\t', '\n', '\r'], " ");
    match quick_xml::escape::unescape(&raw) {
        Ok(value) => Ok(value.into_owned()),
        Err(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
            Err(FragmentError::UndeclaredEntity(name))
        }
        Err(e) => Err(malformed(position, e)),
    }
}

/// The five predefined entities and character references; no DTD means nothing else exists.
fn resolve_reference(reference: &BytesRef<'_>, position: u64) -> Result<char, FragmentError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(malformed(position, "bad character reference")),
        };
    }
    let name = reference.decode().map_err(|e| malformed(position, e))?;
    predefined_entity(&name).ok_or_else(|| FragmentError::UndeclaredEntity(name.to_string()))
}

/// Appends text to the open element, merging runs split by references; outside the root
/// only whitespace is allowed.
fn add_text(stack: &mut [Element], text: &str, position: u64) -> Result<(), FragmentError> {
    let Some(top) = stack.last_mut() else {
        return match text.trim().is_empty() {
            true => Ok(()),
            false => Err(malformed(position, "text outside the root element")),
        };
    };
    match top.children.last_mut() {
        Some(Node::Text(run)) => run.push_str(text),
        _ => top.children.push(Node::Text(text.to_string())),
    }
    Ok(())
}

/// Pushes a finished element into its parent; returns it when it was the root.
fn attach(stack: &mut [Element], el: Element) -> Option<Element> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(Node::Element(el));
            None
        }
        None => Some(el),
    }
}

/// After the root closes only whitespace, comments and processing instructions may follow.
fn finish(reader: &mut NsReader<&[u8]>, root: Element) -> Result<Element, FragmentError> {
    loop {
        let position = reader.buffer_position();
        match reader.read_event().map_err(|e| malformed(position, e))? {
            Event::Eof => return Ok(root),
            Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
            Event::Comment(_) | Event::PI(_) => {}
            _ => return Err(malformed(position, "content after the root element")),
        }
    }
}

fn utf8(bytes: &[u8], position: u64) -> Result<&str, FragmentError> {
    std::str::from_utf8(bytes).map_err(|e| malformed(position, e))
}

fn malformed(position: u64, reason: impl ToString) -> FragmentError {
    FragmentError::Malformed {
        position,
        reason: reason.to_string(),
    }
}
