//! MS-WUSP metadata fragments (docs/protocol.md §5.1): what a client gets instead of the full
//! `upd:Update` document, derived from it as a real WSUS derives them — Core (SyncUpdates
//! `UpdateInfo/Xml`), Extended and LocalizedProperties (GetExtendedUpdateInfo) and Eula.
//! Fragments are not well-formed documents: several top-level elements, no namespaces.
//!
//! Pure: the document's text in, fragment text out. Uses only quick-xml.
//!
//! The rules, each pinned by a test against real WSUS output (`tests/fixtures/fragments/`)
//! unless marked *inferred* (no real output shows the case):
//! - Names: namespace declarations and prefixes are dropped; elements of the Base and MSI
//!   applicability-rule namespaces and of the WindowsDriver handler become `b.X`, `m.X`, `d.X`;
//!   a prefixed attribute keeps only its local name (`xsi:type` → `type`, value untouched).
//! - Serialisation: attributes in source order; an element without content is written
//!   `<X />`; GUIDs keep the case the document has. *Inferred*: text and values are
//!   re-escaped as .NET writes them; whitespace-only text, comments and processing
//!   instructions are dropped.
//! - Core: `UpdateIdentity`, `Properties` reduced to `UpdateType ExplicitlyDeployable
//!   AutoSelectOnWebSites OSUpgrade EulaID` (in that order, `false` booleans left out, no
//!   children), `Relationships`, `ApplicabilityRules`.
//! - Extended: `Properties` renamed `ExtendedProperties` minus the publishing attributes and
//!   `PerUser="false"`, then `Files`, then `HandlerSpecificData`.

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

const UPDATE_NS: &[u8] = b"http://schemas.microsoft.com/msus/2002/12/Update";
const BASE_RULES_NS: &[u8] = b"http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules";
const MSI_RULES_NS: &[u8] = b"http://schemas.microsoft.com/msus/2002/12/MsiApplicabilityRules";
const DRIVER_NS: &[u8] = b"http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/WindowsDriver";

/// Deepest nesting accepted; real applicability rules stay below 30.
const MAX_DEPTH: usize = 256;

/// The `Properties` attributes Core keeps, in the order WSUS writes them whatever the source
/// order (MS-WUSP 3.1.1.1 lists the same five; a2fef9b0 shows the reordering).
const CORE_PROPERTIES: [&str; 5] = [
    "UpdateType",
    "ExplicitlyDeployable",
    "AutoSelectOnWebSites",
    "OSUpgrade",
    "EulaID",
];

/// The `Properties` attributes Extended drops (MS-WUSP 3.1.1.1).
const EXTENDED_DROPPED: [&str; 11] = [
    "UpdateType",
    "ExplicitlyDeployable",
    "AutoSelectOnWebSites",
    "EulaID",
    "PublicationState",
    "PublisherID",
    "CreationDate",
    "IsPublic",
    "LegacyName",
    "DetectoidType",
    "OSUpgrade",
];

/// Boolean `Properties` attributes left out when they hold their default, `false`:
/// in Core `ExplicitlyDeployable` (dd78b8a1) and by analogy `AutoSelectOnWebSites`; in
/// Extended `PerUser` (dd78b8a1, not in the MS-WUSP list, so `PerUser="true"` is kept).
const CORE_DEFAULT_FALSE: [&str; 2] = ["ExplicitlyDeployable", "AutoSelectOnWebSites"];
const EXTENDED_DEFAULT_FALSE: [&str; 1] = ["PerUser"];

/// Why no fragment could be derived. All of these mean the upstream sent a bad document.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FragmentError {
    #[error("malformed update XML at byte {position}: {reason}")]
    Malformed { position: u64, reason: String },
    #[error("update XML with a DOCTYPE is refused")]
    Doctype,
    #[error("update XML uses the undeclared entity `&{0};`")]
    UndeclaredEntity(String),
    #[error("update XML nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("root element is `{0}`, not upd:Update")]
    NotAnUpdate(String),
    #[error("update XML has no `{0}` element")]
    Missing(&'static str),
}

/// The Core fragment, sent in SyncUpdates `UpdateInfo/Xml`.
pub fn core(update_xml: &str) -> Result<String, FragmentError> {
    let root = parse(update_xml)?;
    let mut out = String::new();
    write(&mut out, root.require("UpdateIdentity")?);
    write(&mut out, &core_properties(root.require("Properties")?));
    write_children(&mut out, &root, &["Relationships", "ApplicabilityRules"]);
    Ok(out)
}

/// The Extended fragment, sent by GetExtendedUpdateInfo for `Extended`.
pub fn extended(update_xml: &str) -> Result<String, FragmentError> {
    let root = parse(update_xml)?;
    let mut out = String::new();
    write(&mut out, &extended_properties(root.require("Properties")?));
    write_children(&mut out, &root, &["Files", "HandlerSpecificData"]);
    Ok(out)
}

/// The LocalizedProperties fragment for the first of `languages` the document has (e.g.
/// ["en-US", "en"] → match "en" by exact or primary-subtag match), falling back to "en", else
/// None.
pub fn localized(update_xml: &str, languages: &[&str]) -> Result<Option<String>, FragmentError> {
    let root = parse(update_xml)?;
    let all: Vec<&Element> = collection(&root, "LocalizedProperties").collect();
    let chosen = languages
        .iter()
        .chain(std::iter::once(&"en"))
        .find_map(|wanted| pick_language(&all, wanted));
    Ok(chosen.map(to_fragment))
}

/// The Eula fragments, one per `LocalizedPropertiesCollection/EulaFile`, in document order.
pub fn eulas(update_xml: &str) -> Result<Vec<String>, FragmentError> {
    let root = parse(update_xml)?;
    Ok(collection(&root, "EulaFile").map(to_fragment).collect())
}

fn core_properties(properties: &Element) -> Element {
    let attrs = CORE_PROPERTIES
        .iter()
        .filter_map(|name| properties.attrs.iter().find(|(key, _)| key == name))
        .filter(|(key, value)| !(CORE_DEFAULT_FALSE.contains(&key.as_str()) && is_false(value)))
        .cloned()
        .collect();
    Element::new("Properties", attrs, Vec::new())
}

fn extended_properties(properties: &Element) -> Element {
    let attrs = properties
        .attrs
        .iter()
        .filter(|(key, _)| !EXTENDED_DROPPED.contains(&key.as_str()))
        .filter(|(key, value)| !(EXTENDED_DEFAULT_FALSE.contains(&key.as_str()) && is_false(value)))
        .cloned()
        .collect();
    Element::new("ExtendedProperties", attrs, properties.children.clone())
}

/// The two lexical forms of `xs:boolean` false.
fn is_false(value: &str) -> bool {
    matches!(value.trim(), "false" | "0")
}

fn collection<'a>(root: &'a Element, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    root.child("LocalizedPropertiesCollection")
        .into_iter()
        .flat_map(move |c| c.children_named(name))
}

/// Exact match (ignoring case) first, then the primary subtag (`en-US` → `en`).
fn pick_language<'a>(all: &[&'a Element], wanted: &str) -> Option<&'a Element> {
    let primary = wanted.split('-').next().unwrap_or(wanted);
    [wanted, primary].into_iter().find_map(|lang| {
        all.iter()
            .copied()
            .find(|lp| lp.child_text("Language").eq_ignore_ascii_case(lang.trim()))
    })
}

fn write_children(out: &mut String, root: &Element, names: &[&str]) {
    for el in names.iter().filter_map(|name| root.child(name)) {
        write(out, el);
    }
}

fn to_fragment(el: &Element) -> String {
    let mut out = String::new();
    write(&mut out, el);
    out
}

// ---- The element tree ----------------------------------------------------------------

/// One element with its fragment name (`b.RegDword`, `Properties`) and unprefixed attributes.
#[derive(Debug, Clone)]
struct Element {
    name: String,
    in_update_ns: bool,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Element(Element),
    Text(String),
    CData(String),
}

impl Element {
    fn new(name: &str, attrs: Vec<(String, String)>, children: Vec<Node>) -> Self {
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

    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter_map(move |node| match node {
            Node::Element(el) if el.is(name) => Some(el),
            _ => None,
        })
    }

    /// The first child of this name in the Update namespace.
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|node| match node {
            Node::Element(el) if el.is(name) => Some(el),
            _ => None,
        })
    }

    fn require(&self, name: &'static str) -> Result<&Element, FragmentError> {
        self.child(name).ok_or(FragmentError::Missing(name))
    }

    /// The trimmed text of a child, empty when absent.
    fn child_text(&self, name: &str) -> String {
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
fn write(out: &mut String, el: &Element) {
    out.push('<');
    out.push_str(&el.name);
    for (key, value) in &el.attrs {
        out.push(' ');
        out.push_str(key);
        out.push_str("=\"");
        escape_attribute(out, value);
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
        Node::Text(text) => escape_text(out, text),
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

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// Also escapes the whitespace characters a reader would otherwise normalise to spaces.
fn escape_attribute(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

// ---- Parsing -----------------------------------------------------------------------

/// Parses the document into its `upd:Update` root, refusing DTDs, undeclared entities and
/// prefixes, and anything that is not one well-formed element.
fn parse(text: &str) -> Result<Element, FragmentError> {
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
    match name.as_ref() {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(FragmentError::UndeclaredEntity(other.to_string())),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    // The nine real documents (tests/fixtures/upstream/PROVENANCE.md) ...
    const DOC_56309036: &str =
        include_str!("../../tests/fixtures/upstream/56309036-4c77-4dd9-951a-99ee9c246a94-r101.xml");
    const DOC_6964AAB4: &str =
        include_str!("../../tests/fixtures/upstream/6964aab4-c5b5-43bd-a17d-ffb4346a8e1d-r100.xml");
    const DOC_DD78B8A1: &str =
        include_str!("../../tests/fixtures/upstream/dd78b8a1-0b20-45c1-add6-4da72e9364cf-r202.xml");
    const DOC_1F9BD9BB: &str =
        include_str!("../../tests/fixtures/upstream/1f9bd9bb-7390-4aa3-bbdb-ded99fac2583-r200.xml");
    const DOC_266F6222: &str =
        include_str!("../../tests/fixtures/upstream/266f6222-c89d-43f2-9f8a-69340271e677-r200.xml");
    const DOC_7366A74A: &str =
        include_str!("../../tests/fixtures/upstream/7366a74a-ef29-44e1-b738-570b516aca1f-r200.xml");
    const DOC_A2FEF9B0: &str =
        include_str!("../../tests/fixtures/upstream/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.xml");
    const DOC_CCB78947: &str =
        include_str!("../../tests/fixtures/upstream/ccb78947-6453-4ecc-9de8-bc0305c98f2d-r200.xml");
    const DOC_FF36F0B5: &str =
        include_str!("../../tests/fixtures/upstream/ff36f0b5-dded-4780-8664-cd78af8b62c1-r200.xml");
    const ALL_DOCS: [&str; 9] = [
        DOC_56309036,
        DOC_6964AAB4,
        DOC_DD78B8A1,
        DOC_1F9BD9BB,
        DOC_266F6222,
        DOC_7366A74A,
        DOC_A2FEF9B0,
        DOC_CCB78947,
        DOC_FF36F0B5,
    ];

    // ... and what the same real WSUS served for them (tests/fixtures/fragments/PROVENANCE.md).
    const SYNC_56309036: &str =
        include_str!("../../tests/fixtures/fragments/native-scan-000006.response.xml");
    const SYNC_6964AAB4: &str =
        include_str!("../../tests/fixtures/fragments/native-scan-000007.response.xml");
    const SYNC_DD78B8A1: &str =
        include_str!("../../tests/fixtures/fragments/native-scan-000008.response.xml");
    const EXTENDED_CATEGORIES: &str =
        include_str!("../../tests/fixtures/fragments/native-scan-000010.response.xml");
    const EXTENDED_DEFENDER: &str =
        include_str!("../../tests/fixtures/fragments/native-flow-000015.response.xml");
    const REF_CORE_1F9BD9BB: &str =
        include_str!("../../tests/fixtures/fragments/1f9bd9bb-7390-4aa3-bbdb-ded99fac2583-r200.core.xml");
    const REF_CORE_266F6222: &str =
        include_str!("../../tests/fixtures/fragments/266f6222-c89d-43f2-9f8a-69340271e677-r200.core.xml");
    const REF_CORE_A2FEF9B0: &str =
        include_str!("../../tests/fixtures/fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.core.xml");
    const REF_CORE_DD78B8A1: &str =
        include_str!("../../tests/fixtures/fragments/dd78b8a1-0b20-45c1-add6-4da72e9364cf-r202.core.xml");
    const REF_EXTENDED_266F6222: &str =
        include_str!("../../tests/fixtures/fragments/266f6222-c89d-43f2-9f8a-69340271e677-r200.extended.xml");
    const REF_EXTENDED_A2FEF9B0: &str =
        include_str!("../../tests/fixtures/fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.extended.xml");
    const REF_EXTENDED_FF36F0B5: &str =
        include_str!("../../tests/fixtures/fragments/ff36f0b5-dded-4780-8664-cd78af8b62c1-r200.extended.xml");
    const REF_LOCALIZED_A2FEF9B0: &str = include_str!(
        "../../tests/fixtures/fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.localized-en.xml"
    );
    const CBS_DOTNET_EXTENDED: &str = include_str!("../../tests/fixtures/fragments/cbs-dotnet-extended.xml");
    const OSINSTALLER_CORE: &str = include_str!("../../tests/fixtures/fragments/osinstaller-core.xml");
    const OSINSTALLER_EXTENDED: &str =
        include_str!("../../tests/fixtures/fragments/osinstaller-extended.xml");

    /// The locales the real WUA sent in GetExtendedUpdateInfo (native-flow 000015 request).
    const CLIENT_LOCALES: [&str; 2] = ["en-US", "en"];

    const UPD: &str = "http://schemas.microsoft.com/msus/2002/12/Update";
    const BAR: &str = "http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules";
    const MAR: &str = "http://schemas.microsoft.com/msus/2002/12/MsiApplicabilityRules";
    const DRV: &str = "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/WindowsDriver";
    const LAR: &str = "http://schemas.microsoft.com/msus/2002/12/LogicalApplicabilityRules";
    const CMD: &str = "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation";
    const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

    /// Every `<Xml>` a response carries after `marker`, unescaped once (SOAP text → fragment).
    fn served_after(body: &str, marker: &str) -> Vec<String> {
        body.match_indices(marker)
            .map(|(at, _)| {
                let rest = &body[at + marker.len()..];
                let rest = &rest[rest.find("<Xml>").expect("an Xml element") + "<Xml>".len()..];
                let escaped = &rest[..rest.find("</Xml>").expect("an Xml end tag")];
                quick_xml::escape::unescape(escaped)
                    .expect("escaped text")
                    .into_owned()
            })
            .collect()
    }

    /// The one Core fragment of a SyncUpdates response with a single `UpdateInfo`.
    fn served_core(body: &str) -> String {
        let mut all = served_after(body, "<UpdateInfo>");
        assert_eq!(all.len(), 1, "one UpdateInfo");
        all.remove(0)
    }

    /// The GetExtendedUpdateInfo fragment of `revision_id` whose text starts with `root`.
    fn served_extended(body: &str, revision_id: u32, root: &str) -> String {
        let mut matching: Vec<String> = served_after(body, &format!("<Update><ID>{revision_id}</ID>"))
            .into_iter()
            .filter(|xml| xml.starts_with(root))
            .collect();
        assert_eq!(matching.len(), 1, "one {root} for revision {revision_id}");
        matching.remove(0)
    }

    fn doc(body: &str) -> String {
        format!("<upd:Update xmlns:upd=\"{UPD}\"><upd:UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\" />{body}</upd:Update>")
    }

    fn en(update_xml: &str) -> Option<String> {
        localized(update_xml, &CLIENT_LOCALES).unwrap()
    }

    // ---- Real WSUS output, byte for byte -----------------------------------------------

    /// SyncUpdates answers of the real scan (native-scan 000006..8, [hash]).
    #[test]
    fn core_equals_what_wsus_served_in_sync_updates() {
        assert_eq!(core(DOC_56309036).unwrap(), served_core(SYNC_56309036));
        assert_eq!(core(DOC_6964AAB4).unwrap(), served_core(SYNC_6964AAB4));
        assert_eq!(core(DOC_DD78B8A1).unwrap(), served_core(SYNC_DD78B8A1));
    }

    /// The wusp-reference Core files ([len], transcribed by the source; dd78b8a1's equals the
    /// [hash] SyncUpdates answer above).
    #[test]
    fn core_equals_the_wusp_reference() {
        assert_eq!(core(DOC_DD78B8A1).unwrap(), REF_CORE_DD78B8A1);
        assert_eq!(core(DOC_1F9BD9BB).unwrap(), REF_CORE_1F9BD9BB);
        assert_eq!(core(DOC_266F6222).unwrap(), REF_CORE_266F6222);
        assert_eq!(core(DOC_A2FEF9B0).unwrap(), REF_CORE_A2FEF9B0);
    }

    /// GetExtendedUpdateInfo for the three categories (native-scan 000010, [hash]): revision
    /// 108226 is 56309036, 108231 is 6964aab4, 72571 is dd78b8a1 (their SyncUpdates IDs).
    #[test]
    fn extended_and_localized_equal_what_wsus_served_for_categories() {
        for (doc, revision) in [
            (DOC_56309036, 108226),
            (DOC_6964AAB4, 108231),
            (DOC_DD78B8A1, 72571),
        ] {
            let served = served_extended(EXTENDED_CATEGORIES, revision, "<ExtendedProperties");
            assert_eq!(extended(doc).unwrap(), served, "revision {revision}");
            let served = served_extended(EXTENDED_CATEGORIES, revision, "<LocalizedProperties");
            assert_eq!(en(doc).unwrap(), served, "revision {revision}");
        }
    }

    /// GetExtendedUpdateInfo of the real WUA for the Defender revisions (native-flow 000015,
    /// [hash]). Revision → document by the file digest in Extended and the title in
    /// LocalizedProperties: 197762 266f6222, 192576 7366a74a, 200373 ff36f0b5, 200996 a2fef9b0,
    /// 200712 ccb78947 ("…MpSigStub…"), 200724 1f9bd9bb ("…Engine…").
    const DEFENDER_REVISIONS: [(&str, u32); 6] = [
        (DOC_266F6222, 197762),
        (DOC_7366A74A, 192576),
        (DOC_FF36F0B5, 200373),
        (DOC_A2FEF9B0, 200996),
        (DOC_CCB78947, 200712),
        (DOC_1F9BD9BB, 200724),
    ];

    #[test]
    fn extended_equals_what_wsus_served_in_get_extended_update_info() {
        for (doc, revision) in DEFENDER_REVISIONS {
            let served = served_extended(EXTENDED_DEFENDER, revision, "<ExtendedProperties");
            assert_eq!(extended(doc).unwrap(), served, "revision {revision}");
        }
    }

    /// Exact except a2fef9b0's `SupportUrl`: the capture's sanitizer replaced the `LinkId`
    /// query value of every localized `SupportUrl` by `REDACTED` (source README: "`LinkId=REDACTED`
    /// in the localized `SupportUrl`"; flow sanitize-manifest: `url_query_value: 6`, the six
    /// KB2267602 revisions). The document, decoded from the real CAB, has `LinkId=52661`; so
    /// only that value is put back before comparing, and the rest must be equal.
    #[test]
    fn localized_equals_what_wsus_served_in_get_extended_update_info() {
        for (doc, revision) in DEFENDER_REVISIONS {
            let served = served_extended(EXTENDED_DEFENDER, revision, "<LocalizedProperties");
            let served = served.replace("?LinkId=REDACTED<", "?LinkId=52661<");
            assert_eq!(en(doc).unwrap(), served, "revision {revision}");
        }
        let ours = en(DOC_A2FEF9B0).unwrap();
        assert_eq!(ours.matches("LinkId=52661").count(), 1, "the one redacted value");
    }

    /// The wusp-reference files ([len]) agree with the [hash] capture above, with the same
    /// `LinkId=REDACTED` in the localized one.
    #[test]
    fn extended_and_localized_equal_the_wusp_reference() {
        assert_eq!(extended(DOC_266F6222).unwrap(), REF_EXTENDED_266F6222);
        assert_eq!(extended(DOC_A2FEF9B0).unwrap(), REF_EXTENDED_A2FEF9B0);
        assert_eq!(extended(DOC_FF36F0B5).unwrap(), REF_EXTENDED_FF36F0B5);
        let reference = REF_LOCALIZED_A2FEF9B0.replace("?LinkId=REDACTED<", "?LinkId=52661<");
        assert_eq!(en(DOC_A2FEF9B0).unwrap(), reference);
    }

    /// Real fragments whose documents are not available (cbs-osinstaller, [len]): rebuild a
    /// document around each — every element in the Update namespace, `type` as `xsi:type`,
    /// plus the publishing attributes WSUS drops — and derive the fragment back. Pins source
    /// attribute order (`File` in reverse order), unknown attributes kept
    /// (`CompatibleProtocolVersion`, `PatchingTypePreferred`, `ProductName`), empty values,
    /// `Properties` children (`Language`) and an unprefixed `xsi:type` value.
    #[test]
    fn extended_reproduces_real_cbs_and_os_installer_fragments() {
        for fragment in [CBS_DOTNET_EXTENDED, OSINSTALLER_EXTENDED] {
            let dropped = "UpdateType=\"Software\" ExplicitlyDeployable=\"true\" AutoSelectOnWebSites=\"true\" \
                           IsPublic=\"true\" PublicationState=\"Published\" CreationDate=\"2025-09-08T17:31:31.000Z\" \
                           PublisherID=\"395392a0-19c0-48b7-a927-f7c15066d905\" LegacyName=\"x\" PerUser=\"false\"";
            let body = fragment
                .replacen("<ExtendedProperties ", &format!("<Properties {dropped} "), 1)
                .replacen("</ExtendedProperties>", "</Properties>", 1)
                .replacen("<HandlerSpecificData type=", "<HandlerSpecificData xsi:type=", 1);
            let document = format!(
                "<Update xmlns=\"{UPD}\" xmlns:xsi=\"{XSI}\"><UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\" />{body}</Update>"
            );
            assert_eq!(extended(&document).unwrap(), fragment);
        }
    }

    /// The same for the real OS-installer Core fragment (`ProductReleaseInstalled`,
    /// `DeviceAttribute`: rules outside the b./m./d. namespaces stay unprefixed).
    #[test]
    fn core_reproduces_the_real_os_installer_fragment() {
        let body = OSINSTALLER_CORE.replacen(
            "<Properties UpdateType=\"Software\" />",
            "<Properties DefaultPropertiesLanguage=\"en\" UpdateType=\"Software\" ExplicitlyDeployable=\"false\" \
             PublicationState=\"Published\"><InstallationBehavior RebootBehavior=\"CanRequestReboot\" /></Properties>",
            1,
        );
        let document = format!("<Update xmlns=\"{UPD}\">{body}</Update>");
        assert_eq!(core(&document).unwrap(), OSINSTALLER_CORE);
    }

    /// Deriving Core from a document made of a Core fragment gives the fragment back.
    #[test]
    fn core_of_a_core_fragment_is_itself() {
        for doc in ALL_DOCS {
            let fragment = core(doc).unwrap();
            let document = format!("<Update xmlns=\"{UPD}\">{fragment}</Update>");
            assert_eq!(core(&document).unwrap(), fragment);
        }
    }

    #[test]
    fn every_real_document_yields_every_fragment() {
        for doc in ALL_DOCS {
            assert!(core(doc).unwrap().starts_with("<UpdateIdentity UpdateID=\""));
            assert!(extended(doc).unwrap().starts_with("<ExtendedProperties"));
            assert!(en(doc)
                .unwrap()
                .starts_with("<LocalizedProperties><Language>en</Language>"));
            assert_eq!(
                eulas(doc).unwrap(),
                Vec::<String>::new(),
                "none of them has a EulaFile"
            );
        }
    }

    // ---- Rules ----------------------------------------------------------------------

    #[test]
    fn rule_elements_get_b_m_d_by_namespace_not_by_prefix() {
        let rules = format!(
            "<upd:ApplicabilityRules><upd:IsInstalled><l:And xmlns:l=\"{LAR}\"><bar:RegDword xmlns:bar=\"{BAR}\" Key=\"k\" />\
             <x:WindowsVersion xmlns:x=\"{BAR}\" /><MsiProductInstalled xmlns=\"{MAR}\" ProductCode=\"p\" />\
             <bar:NotBase xmlns:bar=\"urn:other\" /></l:And></upd:IsInstalled>\
             <upd:Metadata><drv:WindowsDriverMetaData xmlns:drv=\"{DRV}\" HardwareID=\"h\" /></upd:Metadata>\
             </upd:ApplicabilityRules><upd:Properties UpdateType=\"Driver\" />"
        );
        let fragment = core(&doc(&rules)).unwrap();
        assert_eq!(
            fragment,
            "<UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\" /><Properties UpdateType=\"Driver\" />\
             <ApplicabilityRules><IsInstalled><And><b.RegDword Key=\"k\" /><b.WindowsVersion />\
             <m.MsiProductInstalled ProductCode=\"p\" /><NotBase /></And></IsInstalled>\
             <Metadata><d.WindowsDriverMetaData HardwareID=\"h\" /></Metadata></ApplicabilityRules>"
        );
    }

    /// `xsi:type` loses its prefix whatever the prefix is; the value keeps its own.
    #[test]
    fn xsi_type_becomes_type_with_its_value_untouched() {
        let body = format!(
            "<upd:Properties UpdateType=\"Software\" /><upd:HandlerSpecificData i:type=\"cmd:CommandLineInstallation\" \
             xmlns:i=\"{XSI}\"><cmd:InstallCommand xmlns:cmd=\"{CMD}\" Program=\"a.exe\" /></upd:HandlerSpecificData>"
        );
        assert_eq!(
            extended(&doc(&body)).unwrap(),
            "<ExtendedProperties /><HandlerSpecificData type=\"cmd:CommandLineInstallation\">\
             <InstallCommand Program=\"a.exe\" /></HandlerSpecificData>"
        );
    }

    /// Core keeps five attributes in WSUS's order (not the source's) and no children.
    #[test]
    fn core_properties_keep_five_attributes_in_wsus_order() {
        let body = "<upd:Properties EulaID=\"E\" OSUpgrade=\"Upgrade\" AutoSelectOnWebSites=\"true\" \
                    DefaultPropertiesLanguage=\"en\" ExplicitlyDeployable=\"true\" UpdateType=\"Software\" \
                    MsrcSeverity=\"Critical\"><upd:KBArticleID>1</upd:KBArticleID></upd:Properties>";
        assert_eq!(
            core(&doc(body)).unwrap(),
            "<UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\" /><Properties UpdateType=\"Software\" \
             ExplicitlyDeployable=\"true\" AutoSelectOnWebSites=\"true\" OSUpgrade=\"Upgrade\" EulaID=\"E\" />"
        );
    }

    /// `ExplicitlyDeployable="false"` is left out (dd78b8a1); `AutoSelectOnWebSites` by analogy.
    #[test]
    fn core_leaves_out_false_booleans() {
        let body = "<upd:Properties UpdateType=\"Software\" ExplicitlyDeployable=\"false\" AutoSelectOnWebSites=\"0\" />";
        let fragment = core(&doc(body)).unwrap();
        assert!(
            fragment.ends_with("<Properties UpdateType=\"Software\" />"),
            "{fragment}"
        );
    }

    /// The MS-WUSP list and `PerUser="false"` go; everything else stays in source order,
    /// default-looking values such as `MinDownloadSize="0"` included.
    #[test]
    fn extended_drops_publishing_attributes_and_default_per_user() {
        let all_dropped: String = EXTENDED_DROPPED
            .iter()
            .map(|name| format!(" {name}=\"v\""))
            .collect();
        let body = format!(
            "<upd:Properties DefaultPropertiesLanguage=\"en\"{all_dropped} PerUser=\"false\" MinDownloadSize=\"0\" \
             MsrcSeverity=\"Critical\" IsBeta=\"false\"><upd:InstallationBehavior Impact=\"Minor\" /></upd:Properties>"
        );
        assert_eq!(
            extended(&doc(&body)).unwrap(),
            "<ExtendedProperties DefaultPropertiesLanguage=\"en\" MinDownloadSize=\"0\" MsrcSeverity=\"Critical\" \
             IsBeta=\"false\"><InstallationBehavior Impact=\"Minor\" /></ExtendedProperties>"
        );
        let per_user = doc("<upd:Properties PerUser=\"true\" />");
        assert_eq!(
            extended(&per_user).unwrap(),
            "<ExtendedProperties PerUser=\"true\" />"
        );
    }

    /// Only `Properties` loses default values: `ProhibitsSubcategories="false"` (real, 56309036)
    /// and `IsCategory="false"` stay.
    #[test]
    fn false_values_elsewhere_are_kept() {
        assert!(extended(DOC_56309036)
            .unwrap()
            .contains("ProhibitsSubcategories=\"false\""));
        let body = "<upd:Properties UpdateType=\"Software\" /><upd:Relationships><upd:Prerequisites>\
                    <upd:AtLeastOne IsCategory=\"false\"><upd:UpdateIdentity UpdateID=\"y\" /></upd:AtLeastOne>\
                    </upd:Prerequisites></upd:Relationships>";
        assert!(core(&doc(body))
            .unwrap()
            .contains("<AtLeastOne IsCategory=\"false\">"));
    }

    /// 6964aab4 has an upper-case own id and a lower-case prerequisite; WSUS served both so.
    #[test]
    fn guid_case_is_kept_as_the_document_writes_it() {
        let fragment = core(DOC_6964AAB4).unwrap();
        assert!(fragment.starts_with("<UpdateIdentity UpdateID=\"6964AAB4-C5B5-43BD-A17D-FFB4346A8E1D\""));
        assert!(fragment.contains("<UpdateIdentity UpdateID=\"56309036-4c77-4dd9-951a-99ee9c246a94\" />"));
    }

    /// `<X></X>` in the source is written `<X />` (real: 1f9bd9bb's empty `Properties`).
    #[test]
    fn empty_elements_are_self_closing_with_a_space() {
        assert_eq!(
            extended(DOC_1F9BD9BB).unwrap(),
            "<ExtendedProperties DefaultPropertiesLanguage=\"en\" />"
        );
        let body = "<upd:Properties UpdateType=\"Software\">\n  <upd:InstallationBehavior>\n  </upd:InstallationBehavior>\n</upd:Properties>";
        assert_eq!(
            extended(&doc(body)).unwrap(),
            "<ExtendedProperties><InstallationBehavior /></ExtendedProperties>"
        );
    }

    #[test]
    fn text_and_values_are_re_escaped() {
        let body = "<upd:Properties UpdateType=\"Software\" /><upd:LocalizedPropertiesCollection><upd:LocalizedProperties>\
                    <upd:Language>en</upd:Language><upd:Title>a &amp; b &lt; c &gt; d \"q\" &apos;s&apos; &#x41;</upd:Title>\
                    <upd:Description><![CDATA[<b>raw</b>]]></upd:Description>\
                    <upd:MoreInfoUrl Note='x&quot;y&apos;z&lt;&amp;&#xA;tab\tline\nend'>u</upd:MoreInfoUrl>\
                    <!-- a comment --><?pi data?></upd:LocalizedProperties></upd:LocalizedPropertiesCollection>";
        assert_eq!(
            en(&doc(body)).unwrap(),
            "<LocalizedProperties><Language>en</Language><Title>a &amp; b &lt; c &gt; d \"q\" 's' A</Title>\
             <Description><![CDATA[<b>raw</b>]]></Description>\
             <MoreInfoUrl Note=\"x&quot;y'z&lt;&amp;&#xA;tab line end\">u</MoreInfoUrl></LocalizedProperties>"
        );
    }

    #[test]
    fn localized_picks_the_first_requested_language_the_document_has() {
        let entry = |lang: &str| {
            format!("<upd:LocalizedProperties><upd:Language>{lang}</upd:Language><upd:Title>{lang}</upd:Title></upd:LocalizedProperties>")
        };
        let langs: String = ["de", "en", "pt-br", "pt"].iter().map(|l| entry(l)).collect();
        let document = doc(&format!(
            "<upd:Properties UpdateType=\"Software\" /><upd:LocalizedPropertiesCollection>{langs}</upd:LocalizedPropertiesCollection>"
        ));
        let title = |wanted: &[&str]| {
            localized(&document, wanted)
                .unwrap()
                .map(|f| f[f.find("<Title>").unwrap() + 7..f.find("</Title>").unwrap()].to_string())
        };
        assert_eq!(title(&["de-DE", "en"]).as_deref(), Some("de"), "primary subtag");
        assert_eq!(
            title(&["pt-BR"]).as_deref(),
            Some("pt-br"),
            "exact, ignoring case, before the subtag"
        );
        assert_eq!(
            title(&["fr-FR", "pt"]).as_deref(),
            Some("pt"),
            "the first one the document has"
        );
        assert_eq!(title(&["fr"]).as_deref(), Some("en"), "falls back to en");
        assert_eq!(title(&[]).as_deref(), Some("en"));
        let without_en = doc(&format!(
            "<upd:Properties UpdateType=\"Software\" /><upd:LocalizedPropertiesCollection>{}</upd:LocalizedPropertiesCollection>",
            entry("de")
        ));
        assert_eq!(localized(&without_en, &["fr"]).unwrap(), None);
        assert_eq!(localized(&doc("<upd:Properties />"), &["en"]).unwrap(), None);
    }

    #[test]
    fn eulas_are_every_eula_file_in_order() {
        let body = "<upd:Properties UpdateType=\"Software\" /><upd:LocalizedPropertiesCollection>\
                    <upd:LocalizedProperties><upd:Language>en</upd:Language></upd:LocalizedProperties>\
                    <upd:EulaFile Language=\"en\"><upd:File FileName=\"eula.txt\" /></upd:EulaFile>\
                    <upd:EulaFile Language=\"de\" GeoId=\"DEU\"><upd:File FileName=\"eula-de.txt\" /></upd:EulaFile>\
                    </upd:LocalizedPropertiesCollection>";
        assert_eq!(
            eulas(&doc(body)).unwrap(),
            vec![
                "<EulaFile Language=\"en\"><File FileName=\"eula.txt\" /></EulaFile>".to_string(),
                "<EulaFile Language=\"de\" GeoId=\"DEU\"><File FileName=\"eula-de.txt\" /></EulaFile>"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn a_bom_and_declaration_before_the_root_are_accepted() {
        let document = format!("\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n{DOC_DD78B8A1}\r\n");
        assert_eq!(core(&document).unwrap(), REF_CORE_DD78B8A1);
    }

    // ---- Hostile and malformed input ------------------------------------------------

    #[test]
    fn doctype_is_refused() {
        let bomb = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]>{}",
            doc("<upd:Properties />")
        );
        assert_eq!(core(&bomb), Err(FragmentError::Doctype));
    }

    #[test]
    fn undeclared_entities_are_refused() {
        let in_text = doc(
            "<upd:Properties UpdateType=\"Software\"><upd:KBArticleID>&a;</upd:KBArticleID></upd:Properties>",
        );
        assert_eq!(
            extended(&in_text),
            Err(FragmentError::UndeclaredEntity("a".into()))
        );
        let in_value = doc("<upd:Properties UpdateType=\"&b;\" />");
        assert_eq!(core(&in_value), Err(FragmentError::UndeclaredEntity("b".into())));
    }

    #[test]
    fn the_root_must_be_upd_update() {
        assert_eq!(
            core("<Update />"),
            Err(FragmentError::NotAnUpdate("Update".into()))
        );
        let other = format!("<upd:Envelope xmlns:upd=\"{UPD}\" />");
        assert_eq!(
            core(&other),
            Err(FragmentError::NotAnUpdate("upd:Envelope".into()))
        );
    }

    #[test]
    fn core_and_extended_need_identity_and_properties() {
        let bare = format!("<upd:Update xmlns:upd=\"{UPD}\" />");
        assert_eq!(core(&bare), Err(FragmentError::Missing("UpdateIdentity")));
        assert_eq!(extended(&bare), Err(FragmentError::Missing("Properties")));
        assert_eq!(core(&doc("")), Err(FragmentError::Missing("Properties")));
        assert_eq!(eulas(&bare), Ok(Vec::new()));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "<upd:And>".repeat(MAX_DEPTH) + &"</upd:And>".repeat(MAX_DEPTH);
        assert_eq!(core(&doc(&deep)), Err(FragmentError::TooDeep));
    }

    #[test]
    fn malformed_documents_are_errors() {
        let cases = [
            String::new(),
            "   ".to_string(),
            "not xml".to_string(),
            doc("<upd:Properties>").replace("</upd:Update>", ""),
            doc("<upd:Properties></upd:Files>"),
            doc("<upd:Properties />") + "<upd:Update />",
            doc("<upd:Properties />") + "trailing",
            doc("<upd:Properties UpdateType=\"a\" UpdateType=\"b\" />"),
            doc("<upd:Properties UpdateType=unquoted />"),
            doc("<upd:Properties>&#0;</upd:Properties>"),
            doc("<upd:Properties>a & b</upd:Properties>"),
            doc("<upd:Properties><u:X /></upd:Properties>"),
            doc("<upd:Properties u:type=\"t\" />"),
        ];
        for case in cases {
            for result in [core(&case), extended(&case), eulas(&case).map(|v| v.concat())] {
                assert!(
                    matches!(
                        result,
                        Err(FragmentError::Malformed { .. } | FragmentError::NotAnUpdate(_))
                    ),
                    "{case:?} gave {result:?}"
                );
            }
        }
    }

    /// Every truncation of a real document is an error, never a panic or a fragment.
    #[test]
    fn truncated_documents_are_errors() {
        let cuts = (0..DOC_DD78B8A1.len()).filter(|&n| DOC_DD78B8A1.is_char_boundary(n));
        for cut in cuts {
            let text = &DOC_DD78B8A1[..cut];
            assert!(core(text).is_err(), "cut at {cut}");
            assert!(extended(text).is_err(), "cut at {cut}");
            assert!(localized(text, &CLIENT_LOCALES).is_err(), "cut at {cut}");
            assert!(eulas(text).is_err(), "cut at {cut}");
        }
    }
}
