//! A small, hostile-input-safe element tree over quick-xml. Names are local names (prefixes
//! dropped: peers use `s:`, `soap:` or none), a DOCTYPE is refused (no entity expansion beyond
//! the five predefined ones), and every dimension is bounded by [`Limits`]: depth, elements,
//! attributes per element, text per element. The cost is linear in the input (duplicate
//! attributes are looked for only among an element's first `Limits::attributes`, not among
//! however many it has). Pure: bytes in, tree out.
//!
//! Also the crate's XML escaping, one function per style written on the wire: `escape` (all
//! five entities, for the MS-WSUSSS requests), `escape_text` / `push_escaped_text` (element
//! text as WSUS writes it) and `push_escaped_attribute` (attribute values as .NET writes
//! them).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// What one document may hold. A document past any bound is refused as soon as the bound is
/// crossed, before the rest is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting.
    pub depth: usize,
    /// Elements in the whole document.
    pub elements: usize,
    /// Attributes (namespace declarations included) on one element.
    pub attributes: usize,
    /// Bytes of text (resolved) in one element, attribute values included.
    pub text: usize,
}

impl Limits {
    /// Documents from the upstream (update XML, MS-WSUSSS answers): real update documents nest
    /// below 30 levels, a 100-update GetUpdateData answer has ~10^5 elements, and an EULA or
    /// a base64 blob can run to megabytes.
    pub const UPSTREAM: Limits = Limits {
        depth: 128,
        elements: 4_000_000,
        attributes: 256,
        text: 64 << 20,
    };

    /// Requests from Windows clients. Windows 11's nest 8 levels, put at most 5 attributes on an
    /// element, and send ids one element each: 100,000 elements is ten times the cached ids of a
    /// machine scanning a full WSUS catalog. No field a client sends is longer than a few
    /// hundred bytes but the update lists of a reported event's `MiscData`, which get a
    /// [`LongText`] of their own (`wusp::envelope::REPORTED_UPDATE_LIST`); 64 KiB bounds
    /// every other element.
    pub const CLIENT_REQUEST: Limits = Limits {
        depth: 32,
        elements: 100_000,
        attributes: 32,
        text: 64 << 10,
    };
}

/// An exception to [`Limits::text`] for the elements at the end of one path of local names:
/// they may hold up to `text` bytes. The path is checked only once an element's text passes
/// the usual limit, so elements elsewhere cost nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongText {
    /// Local names from an ancestor down to the element, e.g. `["MiscData", "string"]`.
    pub path: &'static [&'static str],
    /// Bytes of text (resolved) the element may hold.
    pub text: usize,
}

/// Why XML could not be read, or lacks what a message needs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum XmlError {
    /// quick-xml refused the text; the message says where and why.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// The document has a DOCTYPE (refused: no entity expansion).
    #[error("XML documents with a DOCTYPE are refused")]
    Doctype,
    /// Nesting passes the depth limit.
    #[error("XML nested deeper than {0} levels")]
    TooDeep(usize),
    /// More elements than the limit.
    #[error("XML has more than {0} elements")]
    TooLarge(usize),
    /// An element with more attributes than the limit; its name.
    #[error("XML element `{0}` has more than {1} attributes")]
    TooManyAttributes(String, usize),
    /// An attribute named twice on one element.
    #[error("XML element `{0}` repeats attribute `{1}`")]
    DuplicateAttribute(String, String),
    /// The reader was told to stop (its client went away, or its deadline passed).
    #[error("XML reading abandoned: {0}")]
    Abandoned(&'static str),
    /// An element whose text (or an attribute value) passes the limit; its name.
    #[error("XML element `{0}` has more than {1} bytes of text")]
    TextTooLong(String, usize),
    /// No root element.
    #[error("XML document has no root element")]
    Empty,
    /// A required element is absent; its path.
    #[error("missing element `{0}`")]
    Missing(String),
    /// An element whose text does not parse as its type.
    #[error("element `{element}` has a bad value `{value}`")]
    BadValue {
        /// The element's path.
        element: String,
        /// Its text.
        value: String,
    },
}

/// One element: local name, attributes by local name, children and concatenated text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    /// Local name, prefix dropped.
    pub name: String,
    pub(crate) attrs: Vec<(String, String)>,
    /// Child elements, in document order.
    pub children: Vec<Element>,
    /// Text content, entities resolved, concatenated across the element's text nodes.
    pub text: String,
    /// Its `<int>` children as numbers, when it had no other children and was read by
    /// [`parse_request_until`] (then `children` is empty).
    pub ints: Vec<i32>,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child with this name, or an error naming it.
    pub fn require(&self, name: &str) -> Result<&Element, XmlError> {
        self.child(name)
            .ok_or_else(|| XmlError::Missing(format!("{}/{}", self.name, name)))
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |el, name| el.child(name))
    }

    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Trimmed text of a child, if present.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// Depth-first search for the first descendant (or self) with this name.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// Parses a document from the upstream into its root element ([`Limits::UPSTREAM`]).
pub fn parse(text: &str) -> Result<Element, XmlError> {
    parse_with(text, &Limits::UPSTREAM)
}

/// Parses a whole document into its root element, refusing it past `limits`.
pub fn parse_with(text: &str, limits: &Limits) -> Result<Element, XmlError> {
    parse_until(text, limits, &|| None)
}

/// Events read between two calls of `stop`.
const STOP_CHECK_EVERY: usize = 1024;

/// `parse_with`, asking `stop` every `STOP_CHECK_EVERY` events whether to give up: it answers
/// why (the client went away, a deadline passed) to abandon the document.
pub fn parse_until(
    text: &str,
    limits: &Limits,
    stop: &dyn Fn() -> Option<&'static str>,
) -> Result<Element, XmlError> {
    Parser::new(limits, false, None).run(text, stop)
}

/// `parse_until` for client requests: an element whose children are all plain `<int>`
/// elements (no attributes, a 32-bit integer as text) keeps them as numbers (`Element::ints`)
/// instead of one element each — a SyncUpdates call re-sends every id the client has cached,
/// tens of thousands. Anything else among the children turns them back into elements, in
/// order, so readers see the same document either way. Limits count every `<int>` as an
/// element.
pub fn parse_request_until(
    text: &str,
    limits: &Limits,
    stop: &dyn Fn() -> Option<&'static str>,
) -> Result<Element, XmlError> {
    Parser::new(limits, true, None).run(text, stop)
}

/// Decides whether an element enters the tree: its parent's local name, its own and its depth
/// (the root is at 0). What it turns away is still read whole and checked — well-formed, no
/// DOCTYPE, entities resolvable, elements and depth counted against the limits, attributes as
/// `open` checks them — but builds nothing; its text, kept nowhere, is not held to
/// `Limits::text`.
pub type Keep = dyn Fn(&str, &str, usize) -> bool;

/// `parse`, building only the elements `keep` takes (and none below one it turns away): a
/// reader that needs a few parts of a big document does not pay for the rest.
pub fn parse_pruned(text: &str, keep: &Keep) -> Result<Element, XmlError> {
    let mut parser = Parser::new(&Limits::UPSTREAM, false, None);
    parser.keep = Some(keep);
    parser.run(text, &|| None)
}

/// `parse_request_until`, letting the elements at the end of `long.path` hold up to
/// `long.text` bytes of text (every other element stays within `limits.text`).
pub fn parse_request_with_long_text(
    text: &str,
    limits: &Limits,
    long: &LongText,
    stop: &dyn Fn() -> Option<&'static str>,
) -> Result<Element, XmlError> {
    Parser::new(limits, true, Some(long)).run(text, stop)
}

/// An open element, or an `<int>` child read as text only, to become a number.
enum Frame {
    /// The element, and whether its children so far are all kept as numbers.
    Element(Element, bool),
    /// The text of a plain `<int>`.
    Int(String),
}

struct Parser<'l> {
    limits: &'l Limits,
    long_text: Option<&'l LongText>,
    compact_ints: bool,
    stack: Vec<Frame>,
    elements: usize,
    /// One text buffer reused by every `<int>` read as a number.
    spare: String,
    /// The last `close` kept a number.
    kept_number: bool,
    /// Which elements enter the tree (`None`: all).
    keep: Option<&'l Keep>,
    /// Open elements being read past, not built (inside one `keep` turned away).
    skipping: usize,
}

impl<'l> Parser<'l> {
    fn new(limits: &'l Limits, compact_ints: bool, long_text: Option<&'l LongText>) -> Parser<'l> {
        Parser {
            limits,
            long_text,
            compact_ints,
            stack: Vec::new(),
            elements: 0,
            spare: String::new(),
            kept_number: false,
            keep: None,
            skipping: 0,
        }
    }

    fn run(mut self, text: &str, stop: &dyn Fn() -> Option<&'static str>) -> Result<Element, XmlError> {
        let mut reader = Reader::from_str(text);
        reader.config_mut().trim_text(false);
        let mut events = 0usize;
        loop {
            events += 1;
            if events % STOP_CHECK_EVERY == 0 {
                if let Some(why) = stop() {
                    return Err(XmlError::Abandoned(why));
                }
            }
            let event = reader
                .read_event()
                .map_err(|e| XmlError::Malformed(format!("at byte {}: {e}", reader.buffer_position())))?;
            if self.skipping > 0 || self.turns_away(&event) {
                self.skip(&event)?;
                continue;
            }
            let closed = match event {
                Event::Start(start) => {
                    self.open(&start)?;
                    None
                }
                Event::Empty(start) => {
                    self.open(&start)?;
                    self.close()?
                }
                Event::End(_) => {
                    let closed = self.close()?;
                    if self.kept_number {
                        self.skip_plain_ints(reader.get_mut())?;
                    }
                    closed
                }
                Event::Text(text) => {
                    let decoded = text.decode().map_err(|e| XmlError::Malformed(e.to_string()))?;
                    self.text(&decoded)?;
                    None
                }
                Event::GeneralRef(reference) => {
                    let resolved = resolve_reference(&reference)?;
                    self.text(resolved.encode_utf8(&mut [0; 4]))?;
                    None
                }
                Event::CData(data) => {
                    self.text(&String::from_utf8_lossy(&data))?;
                    None
                }
                Event::DocType(_) => return Err(XmlError::Doctype),
                Event::Eof => {
                    return Err(if self.stack.is_empty() {
                        XmlError::Empty
                    } else {
                        XmlError::Malformed("document ends inside an element".into())
                    })
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => None,
            };
            if let Some(root) = closed {
                return finish(&mut reader, root);
            }
        }
    }

    /// Whether `event` opens an element `keep` turns away.
    fn turns_away(&self, event: &Event<'_>) -> bool {
        let (Some(keep), Event::Start(start) | Event::Empty(start)) = (self.keep, event) else {
            return false;
        };
        let Some(Frame::Element(parent, _)) = self.stack.last() else {
            return false;
        };
        let name = std::str::from_utf8(start.local_name().into_inner()).unwrap_or_default();
        !keep(&parent.name, name, self.stack.len())
    }

    /// Reads one event inside (or opening) an element turned away: counted against the
    /// limits and checked as `open` and `text` would, nothing kept.
    fn skip(&mut self, event: &Event<'_>) -> Result<(), XmlError> {
        match event {
            Event::Start(start) | Event::Empty(start) => {
                self.elements = count_element(self.elements, self.stack.len() + self.skipping, self.limits)?;
                check_attributes(start, self.limits)?;
                if matches!(event, Event::Start(_)) {
                    self.skipping += 1;
                }
            }
            Event::End(_) => self.skipping -= 1,
            Event::Text(text) => {
                text.decode().map_err(|e| XmlError::Malformed(e.to_string()))?;
            }
            Event::GeneralRef(reference) => {
                resolve_reference(reference)?;
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Eof => return Err(XmlError::Malformed("document ends inside an element".into())),
            Event::CData(_) | Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
        Ok(())
    }

    fn open(&mut self, start: &BytesStart<'_>) -> Result<(), XmlError> {
        self.elements = count_element(self.elements, self.stack.len(), self.limits)?;
        let plain_int = self.compact_ints
            && start.local_name().as_ref() == b"int"
            && start.attributes().next().is_none()
            && matches!(self.stack.last(), Some(Frame::Element(_, true)));
        if plain_int {
            let mut text = std::mem::take(&mut self.spare);
            text.clear();
            self.stack.push(Frame::Int(text));
            return Ok(());
        }
        // An element inside an `<int>`: that one is an element after all.
        if let Some(Frame::Int(_)) = self.stack.last() {
            if let Some(Frame::Int(text)) = self.stack.pop() {
                self.materialize_parent_ints();
                self.stack.push(Frame::Element(int_element(text), false));
            }
        }
        self.stack.push(Frame::Element(open(start, self.limits)?, true));
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), XmlError> {
        let limit = self.text_limit(text.len());
        match self.stack.last_mut() {
            Some(Frame::Element(top, _)) => append_text(top, text, limit),
            Some(Frame::Int(buffer)) => {
                if buffer.len() + text.len() > self.limits.text {
                    return Err(XmlError::TextTooLong("int".into(), self.limits.text));
                }
                buffer.push_str(text);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The text the open element may hold: `limits.text`, or the long-text allowance once
    /// `more` bytes would take it past that and the open elements end with the allowed path.
    fn text_limit(&self, more: usize) -> usize {
        let usual = self.limits.text;
        let Some(long) = self.long_text else {
            return usual;
        };
        let held = match self.stack.last() {
            Some(Frame::Element(top, _)) => top.text.len(),
            _ => return usual,
        };
        if held + more <= usual || self.stack.len() < long.path.len() {
            return usual;
        }
        let open = &self.stack[self.stack.len() - long.path.len()..];
        let on_path = open
            .iter()
            .zip(long.path)
            .all(|(frame, name)| matches!(frame, Frame::Element(element, _) if element.name == *name));
        if on_path {
            long.text.max(usual)
        } else {
            usual
        }
    }

    /// Right after a number was kept: reads the plain `<int>N</int>` elements that follow
    /// (whitespace between them going to the array's text, as events would put it) straight
    /// from the input, past quick-xml, which then goes on after the last one — a request's
    /// cached ids cost a scan of their bytes instead of three events each. Stops at anything
    /// else (an attribute, an entity, a comment, a number out of range) and leaves it to the
    /// events. The reader's byte offsets in later error messages then lag by what was read here.
    fn skip_plain_ints(&mut self, input: &mut &[u8]) -> Result<(), XmlError> {
        self.kept_number = false;
        let Some(Frame::Element(parent, true)) = self.stack.last_mut() else {
            return Ok(());
        };
        let rest: &[u8] = input;
        let mut at = 0;
        loop {
            let space = rest[at..].iter().take_while(|b| b.is_ascii_whitespace()).count();
            let Some((value, length)) = plain_int(&rest[at + space..]) else {
                break;
            };
            if self.elements >= self.limits.elements {
                break;
            }
            self.elements += 1;
            if space > 0 {
                let blank = std::str::from_utf8(&rest[at..at + space]).unwrap_or_default();
                append_text(parent, blank, self.limits.text)?;
            }
            parent.ints.push(value);
            at += space + length;
        }
        *input = &rest[at..];
        Ok(())
    }

    /// Closes the open element; returns it when it was the root.
    fn close(&mut self) -> Result<Option<Element>, XmlError> {
        let frame = self
            .stack
            .pop()
            .ok_or_else(|| XmlError::Malformed("stray end tag".into()))?;
        let element = match frame {
            Frame::Int(text) => match (self.stack.last_mut(), text.trim().parse::<i32>()) {
                (Some(Frame::Element(parent, true)), Ok(value)) => {
                    parent.ints.push(value);
                    self.spare = text;
                    self.kept_number = true;
                    return Ok(None);
                }
                _ => int_element(text),
            },
            Frame::Element(element, _) => element,
        };
        self.materialize_parent_ints();
        match self.stack.last_mut() {
            Some(Frame::Element(parent, _)) => {
                parent.children.push(element);
                Ok(None)
            }
            Some(Frame::Int(_)) => Err(XmlError::Malformed("element inside a number".into())),
            None => Ok(Some(element)),
        }
    }

    /// The open element gets a child that is not a plain number: the numbers it kept become
    /// `<int>` elements again, in order, and it keeps no more.
    fn materialize_parent_ints(&mut self) {
        if let Some(Frame::Element(parent, compact)) = self.stack.last_mut() {
            if *compact {
                *compact = false;
                let ints = std::mem::take(&mut parent.ints);
                let mut children = ints
                    .iter()
                    .map(|v| int_element(v.to_string()))
                    .collect::<Vec<_>>();
                children.append(&mut parent.children);
                parent.children = children;
            }
        }
    }
}

/// `<int>N</int>` at the start of `bytes`, N an optional minus and one to ten digits that fit
/// an i32: the number and the bytes it takes.
fn plain_int(bytes: &[u8]) -> Option<(i32, usize)> {
    let inner = bytes.strip_prefix(b"<int>")?;
    let negative = inner.first() == Some(&b'-');
    let start = usize::from(negative);
    // Digits accumulated as they are scanned (no UTF-8 check or `parse` per number): at most
    // 11 are read, so the i64 cannot overflow, and more than 10 is refused.
    let mut value: i64 = 0;
    let mut end = start;
    while let Some(digit) = inner.get(end).filter(|b| b.is_ascii_digit() && end - start <= 10) {
        value = value * 10 + i64::from(digit - b'0');
        end += 1;
    }
    let digits = end - start;
    if digits == 0 || digits > 10 || !inner[end..].starts_with(b"</int>") {
        return None;
    }
    let value = i32::try_from(if negative { -value } else { value }).ok()?;
    Some((value, 5 + end + 6))
}

fn int_element(text: String) -> Element {
    Element {
        name: "int".into(),
        text,
        ..Element::default()
    }
}

/// The five predefined entities and character references; anything else is refused (no
/// DTD means no other entity can be defined).
fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlError> {
    if reference.is_char_ref() {
        return reference
            .resolve_char_ref()
            .ok()
            .flatten()
            .ok_or_else(|| XmlError::Malformed("bad character reference".into()));
    }
    let name = reference
        .decode()
        .map_err(|e| XmlError::Malformed(e.to_string()))?;
    predefined_entity(&name).ok_or_else(|| XmlError::Malformed(format!("undeclared entity `&{name};`")))
}

/// The character one of XML's five predefined entities (`lt`, `gt`, `amp`, `apos`, `quot`)
/// stands for.
pub(crate) fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

/// Counts one more element inside `open` open ones, refusing it past the element or the depth
/// limit (an empty element `<x/>` is a level as much as `<x></x>` is).
fn count_element(count: usize, open: usize, limits: &Limits) -> Result<usize, XmlError> {
    if count >= limits.elements {
        return Err(XmlError::TooLarge(limits.elements));
    }
    if open >= limits.depth {
        return Err(XmlError::TooDeep(limits.depth));
    }
    Ok(count + 1)
}

fn append_text(element: &mut Element, text: &str, limit: usize) -> Result<(), XmlError> {
    if element.text.len() + text.len() > limit {
        return Err(XmlError::TextTooLong(element.name.clone(), limit));
    }
    element.text.push_str(text);
    Ok(())
}

/// After the root closes only whitespace, comments and PIs may follow.
fn finish(reader: &mut Reader<&[u8]>, root: Element) -> Result<Element, XmlError> {
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return Ok(root),
            Ok(Event::Text(t)) if t.iter().all(u8::is_ascii_whitespace) => {}
            Ok(Event::Comment(_) | Event::PI(_)) => {}
            Ok(_) => return Err(XmlError::Malformed("content after the root element".into())),
            Err(e) => return Err(XmlError::Malformed(e.to_string())),
        }
    }
}

/// An element's attributes but namespace declarations, each handed to `each` after the
/// checks every reader makes: the count bound, syntax, no attribute named twice, the value
/// within `limits.text`. quick-xml's own duplicate check compares each attribute with every
/// earlier one, however many there are (100,000 attributes took 15 s); here the count is
/// bounded first, so comparing with the earlier ones is bounded too, and an element without
/// attributes allocates nothing.
fn each_attribute<'a>(
    start: &'a BytesStart<'_>,
    limits: &Limits,
    mut each: impl FnMut(quick_xml::events::attributes::Attribute<'a>) -> Result<(), XmlError>,
) -> Result<(), XmlError> {
    let name = || String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut seen: Vec<&[u8]> = Vec::new();
    for (index, attr) in start.attributes().with_checks(false).enumerate() {
        if index >= limits.attributes {
            return Err(XmlError::TooManyAttributes(name(), limits.attributes));
        }
        let attr = attr.map_err(|e| XmlError::Malformed(e.to_string()))?;
        let key = attr.key.into_inner();
        if seen.contains(&key) {
            return Err(XmlError::DuplicateAttribute(
                name(),
                String::from_utf8_lossy(key).into_owned(),
            ));
        }
        seen.push(key);
        if key.starts_with(b"xmlns") {
            continue;
        }
        if attr.value.len() > limits.text {
            return Err(XmlError::TextTooLong(name(), limits.text));
        }
        each(attr)?;
    }
    Ok(())
}

/// The checks `open` makes of an element's attributes (`each_attribute`, entities resolvable),
/// keeping none of them.
fn check_attributes(start: &BytesStart<'_>, limits: &Limits) -> Result<(), XmlError> {
    each_attribute(start, limits, |attr| {
        if attr.value.contains(&b'&') {
            attr.unescape_value()
                .map_err(|e| XmlError::Malformed(e.to_string()))?;
        }
        Ok(())
    })
}

fn open(start: &BytesStart<'_>, limits: &Limits) -> Result<Element, XmlError> {
    let mut attrs = Vec::new();
    each_attribute(start, limits, |attr| {
        let value = attr
            .unescape_value()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        attrs.push((
            String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned(),
            value.into_owned(),
        ));
        Ok(())
    })?;
    Ok(Element {
        name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
        attrs,
        ..Element::default()
    })
}

// ---- Escaping --------------------------------------------------------------------------

/// Escapes text for element content and attribute values: all five predefined entities,
/// quotes included.
pub(crate) fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

/// Escapes element text as WSUS does: `&`, `<`, `>`; quotes stay literal. `\r` becomes
/// `&#xD;` so that it survives XML end-of-line normalisation.
pub(crate) fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    let special = |b: &u8| matches!(b, b'&' | b'<' | b'>' | b'\r');
    let Some(first) = text.bytes().position(|b| special(&b)) else {
        return text.into();
    };
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    out.push_str(&text[..first]);
    push_escaped_text(&mut out, &text[first..]);
    out.into()
}

/// The inverse of [`escape_text`] for what it writes (`&amp;`, `&lt;`, `&gt;`, `&#xD;`).
pub(crate) fn unescape_text(escaped: &str) -> std::borrow::Cow<'_, str> {
    if !escaped.contains('&') {
        return escaped.into();
    }
    escaped
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#xD;", "\r")
        .replace("&amp;", "&")
        .into()
}

/// Appends `text` escaped as [`escape_text`] escapes it.
pub(crate) fn push_escaped_text(out: &mut String, text: &str) {
    // Copy runs between special bytes whole (Core fragments are mostly markup: a byte at a
    // time was a quarter of a SyncUpdates answer's cost). All specials are ASCII, so every
    // split falls on a character boundary.
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let entity = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#xD;",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// Appends an attribute value (to be written in double quotes) escaped as .NET writes it:
/// `&`, `<`, `>`, `"`, and also the whitespace characters a reader would otherwise
/// normalise to spaces.
pub(crate) fn push_escaped_attribute(out: &mut String, value: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A request as `parse_request_until` reads it, with every kept number turned back into
    /// an `<int>` element (numbers go first: they are kept only while nothing else came).
    fn requested(text: &str, limits: &Limits) -> Result<Element, XmlError> {
        fn expand(mut element: Element) -> Element {
            let ints = std::mem::take(&mut element.ints);
            let mut children: Vec<Element> = ints
                .into_iter()
                .map(|v| Element {
                    name: "int".into(),
                    text: v.to_string(),
                    ..Element::default()
                })
                .collect();
            children.extend(element.children.drain(..).map(expand));
            element.children = children;
            element
        }
        parse_request_until(text, limits, &|| None).map(expand)
    }

    #[test]
    fn requests_keep_plain_int_arrays_as_numbers_and_read_the_same_otherwise() {
        let ids: String = (0..500).map(|i| format!("<int>{}</int>\n", i * 7 - 3)).collect();
        let text = format!("<E><p><Ids>{ids}</Ids><n>x</n><Other></Other></p></E>");
        let parsed = parse_request_until(&text, &Limits::CLIENT_REQUEST, &|| None).unwrap();
        let array = parsed.path(&["p", "Ids"]).unwrap();
        assert!(array.children.is_empty());
        assert_eq!(array.ints, (0..500).map(|i| i * 7 - 3).collect::<Vec<i32>>());
        assert_eq!(
            requested(&text, &Limits::CLIENT_REQUEST)
                .unwrap()
                .path(&["p", "Ids"])
                .unwrap()
                .children
                .len(),
            500
        );
        for odd in [
            "<a><int>1</int><x/><int>2</int></a>",
            "<a><int>1</int><int>abc</int><int>3</int></a>",
            "<a><int>1</int><int> 2 </int><int><y>3</y></int><int>4</int></a>",
            "<a><int>1</int><int a=\"b\">2</int></a>",
            "<a><int>1</int><int/><int>99999999999</int></a>",
            "<a><int>&#49;2</int><int><![CDATA[7]]></int>text</a>",
            "<a><x><int>5</int></x><int>6</int></a>",
        ] {
            let generic = parse_with(odd, &Limits::CLIENT_REQUEST).unwrap();
            let numbers = parse_request_until(odd, &Limits::CLIENT_REQUEST, &|| None).unwrap();
            let same = requested(odd, &Limits::CLIENT_REQUEST).unwrap();
            // Whitespace around a kept number is not kept: compare trimmed texts.
            let trim = |e: &Element| format!("{e:?}").replace(" 2 ", "2");
            assert_eq!(trim(&same), trim(&generic), "{odd}");
            assert!(
                numbers.children.iter().all(|c| c.name != "int") || numbers.ints.is_empty(),
                "{odd}"
            );
        }
    }

    #[test]
    fn ints_read_past_the_events_are_the_ints_the_events_read() {
        // Runs of plain ids broken by everything the fast path leaves to the events.
        let breaks = [
            "<!-- c -->",
            "<int>&#51;</int>",
            "<int><![CDATA[4]]></int>",
            "<int>0007</int>",
            "<int>-2147483648</int>",
            "<int>+5</int>",
            "<int >6</int>",
            "<int>7</int >",
            "\r\n\t ",
            "<?pi x?>",
        ];
        let mut body = String::new();
        for (i, interruption) in breaks.iter().cycle().take(60).enumerate() {
            for id in 0..(i % 7) {
                body.push_str(&format!(
                    "<int>{}</int>{}",
                    i * 100 + id,
                    if id % 2 == 0 { "" } else { " " }
                ));
            }
            body.push_str(interruption);
        }
        // Kept as numbers to the end; then turned back at an element, or at a number too big.
        let endings = ["", "<x/>", "<int>2147483648</int><int>1</int>"];
        for text in endings.map(|end| format!("<a><ids>{body}{end}</ids></a>")) {
            let generic = parse_with(&text, &Limits::CLIENT_REQUEST).unwrap();
            let generic_ids = generic.path(&["ids"]).unwrap();
            let fast = requested(&text, &Limits::CLIENT_REQUEST).unwrap();
            let fast_ids = fast.path(&["ids"]).unwrap();
            assert!(fast_ids.children.len() > 100);
            // "0007" and "+5" are read as the numbers they are.
            let values = |e: &Element| -> Vec<(String, String)> {
                let value = |t: &str| t.trim().parse::<i32>().map_or(t.to_string(), |v| v.to_string());
                e.children
                    .iter()
                    .map(|c| (c.name.clone(), value(&c.text)))
                    .collect()
            };
            assert_eq!(values(fast_ids), values(generic_ids));
            assert_eq!(fast_ids.text, generic_ids.text, "whitespace between the ids kept");
        }
    }

    #[test]
    fn kept_numbers_count_against_the_limits() {
        let ids: String = (0..100).map(|i| format!("<int>{i}</int>")).collect();
        let text = format!("<a>{ids}</a>");
        let limits = Limits {
            elements: 50,
            ..Limits::CLIENT_REQUEST
        };
        assert_eq!(
            parse_request_until(&text, &limits, &|| None),
            Err(XmlError::TooLarge(50))
        );
        let long = format!("<a><int>{}1</int></a>", " ".repeat(100));
        let limits = Limits {
            text: 50,
            ..Limits::CLIENT_REQUEST
        };
        assert!(matches!(
            parse_request_until(&long, &limits, &|| None),
            Err(XmlError::TextTooLong(..))
        ));
        assert!(parse_request_until("<a><int>1</int></b>", &Limits::CLIENT_REQUEST, &|| None).is_err());
        assert!(parse_request_until("<a><int>1</a>", &Limits::CLIENT_REQUEST, &|| None).is_err());
    }

    #[test]
    fn prefixes_are_dropped_and_text_unescaped() {
        let root = parse(r#"<?xml version="1.0"?><s:Envelope xmlns:s="x"><s:Body><A k="1&amp;2">a&lt;b</A><B/></s:Body></s:Envelope>"#).unwrap();
        assert_eq!(root.name, "Envelope");
        let a = root.path(&["Body", "A"]).unwrap();
        assert_eq!(a.text, "a<b");
        assert_eq!(a.attr("k"), Some("1&2"));
        assert!(root.path(&["Body", "B"]).is_some());
    }

    #[test]
    fn doctype_is_refused() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#;
        assert_eq!(parse(bomb), Err(XmlError::Doctype));
    }

    #[test]
    fn undeclared_entities_are_errors() {
        assert!(parse("<x>&foo;</x>").is_err());
    }

    #[test]
    fn depth_is_bounded() {
        let depth = Limits::UPSTREAM.depth;
        let deep = "<a>".repeat(depth + 1) + &"</a>".repeat(depth + 1);
        assert_eq!(parse(&deep), Err(XmlError::TooDeep(depth)));
        let client = Limits::CLIENT_REQUEST;
        let deep = "<a>".repeat(client.depth + 1) + &"</a>".repeat(client.depth + 1);
        assert_eq!(parse_with(&deep, &client), Err(XmlError::TooDeep(client.depth)));
    }

    #[test]
    fn an_empty_element_one_level_too_deep_is_refused_too() {
        // Found by the property tests: `<x/>` was not held to the depth limit, so a tree could
        // be one level deeper than `Limits::depth` says.
        let client = Limits::CLIENT_REQUEST;
        let open = "<a>".repeat(client.depth);
        let close = "</a>".repeat(client.depth);
        assert_eq!(
            parse_with(&format!("{open}<b/>{close}"), &client),
            Err(XmlError::TooDeep(client.depth))
        );
        let at_limit = "<a>".repeat(client.depth - 1) + "<b/>" + &"</a>".repeat(client.depth - 1);
        assert!(parse_with(&at_limit, &client).is_ok());
    }

    #[test]
    fn elements_are_counted_across_the_document() {
        let limits = Limits::CLIENT_REQUEST;
        let at_limit = format!("<r>{}</r>", "<a/>".repeat(limits.elements - 1));
        assert!(parse_with(&at_limit, &limits).is_ok());
        let over = format!("<r>{}</r>", "<a/>".repeat(limits.elements));
        assert_eq!(
            parse_with(&over, &limits),
            Err(XmlError::TooLarge(limits.elements))
        );
    }

    #[test]
    fn attributes_are_bounded_and_duplicates_refused() {
        let limits = Limits::CLIENT_REQUEST;
        let attrs = |n: usize| (0..n).map(|i| format!(" a{i}=\"{i}\"")).collect::<String>();
        let at_limit = format!("<r{}/>", attrs(limits.attributes));
        assert_eq!(parse_with(&at_limit, &limits).unwrap().attr("a31"), Some("31"));
        // 100,000 attributes: refused at the 33rd, not compared pairwise.
        let flood = format!("<r{}/>", attrs(100_000));
        assert_eq!(
            parse_with(&flood, &limits),
            Err(XmlError::TooManyAttributes("r".into(), limits.attributes))
        );
        assert_eq!(
            parse(r#"<r a="1" b="2" a="3"/>"#),
            Err(XmlError::DuplicateAttribute("r".into(), "a".into()))
        );
        // Upstream documents may carry more, still without the pairwise check.
        let many = format!("<r{}/>", attrs(Limits::UPSTREAM.attributes));
        assert!(parse(&many).is_ok());
    }

    #[test]
    fn a_reader_told_to_stop_abandons_the_document() {
        let document = format!("<r>{}</r>", "<a/>".repeat(5000));
        let limits = Limits::CLIENT_REQUEST;
        assert_eq!(
            parse_until(&document, &limits, &|| Some("client gone")),
            Err(XmlError::Abandoned("client gone"))
        );
        let asked = std::cell::Cell::new(0);
        let counting = || {
            asked.set(asked.get() + 1);
            None
        };
        assert!(parse_until(&document, &limits, &counting).is_ok());
        assert!(asked.get() >= 4, "asked every {STOP_CHECK_EVERY} events");
        // Small documents finish before the first check.
        assert!(parse_until("<r/>", &limits, &|| Some("never asked")).is_ok());
    }

    #[test]
    fn text_is_bounded_per_element_however_it_is_split() {
        let limits = Limits::CLIENT_REQUEST;
        let fits = format!("<r>{}</r>", "x".repeat(limits.text));
        assert!(parse_with(&fits, &limits).is_ok());
        for over in [
            format!("<r>{}</r>", "x".repeat(limits.text + 1)),
            format!("<r>{}&amp;</r>", "x".repeat(limits.text)),
            format!("<r>{}<![CDATA[yy]]></r>", "x".repeat(limits.text - 1)),
            format!(
                "<r>{}<!-- c -->{}</r>",
                "x".repeat(limits.text / 2),
                "y".repeat(limits.text / 2 + 1)
            ),
        ] {
            assert_eq!(
                parse_with(&over, &limits),
                Err(XmlError::TextTooLong("r".into(), limits.text))
            );
        }
        let long_attribute = format!("<r k=\"{}\"/>", "v".repeat(limits.text + 1));
        assert_eq!(
            parse_with(&long_attribute, &limits),
            Err(XmlError::TextTooLong("r".into(), limits.text))
        );
    }

    #[test]
    fn long_text_is_allowed_only_at_the_end_of_its_path_and_only_up_to_its_bound() {
        let limits = Limits {
            text: 10,
            ..Limits::CLIENT_REQUEST
        };
        let long = LongText {
            path: &["List", "item"],
            text: 30,
        };
        let read = |document: &str| parse_request_with_long_text(document, &limits, &long, &|| None);
        let item = |text: &str| format!("<r><List><item>{text}</item></List></r>");
        let fits = read(&item(&"x".repeat(30))).unwrap();
        assert_eq!(fits.path(&["List", "item"]).unwrap().text.len(), 30);
        let split = format!("{}&amp;{}", "x".repeat(9), "y".repeat(20));
        assert_eq!(
            read(&item(&split))
                .unwrap()
                .path(&["List", "item"])
                .unwrap()
                .text
                .len(),
            30
        );
        for over in [item(&"x".repeat(31)), item(&format!("{split}z"))] {
            assert_eq!(read(&over), Err(XmlError::TextTooLong("item".into(), 30)));
        }
        // Elsewhere the usual limit holds: another parent, the parent itself, a child of item.
        let eleven = "x".repeat(11);
        for (document, name) in [
            (format!("<r><Other><item>{eleven}</item></Other></r>"), "item"),
            (format!("<r><List>{eleven}</List></r>"), "List"),
            (item(&format!("<sub>{eleven}</sub>")), "sub"),
            (format!("<item>{eleven}</item>"), "item"),
        ] {
            assert_eq!(read(&document), Err(XmlError::TextTooLong(name.into(), 10)));
        }
        // Attributes are not element text.
        let attribute = format!("<r><List><item k=\"{eleven}\"/></List></r>");
        assert_eq!(read(&attribute), Err(XmlError::TextTooLong("item".into(), 10)));
        // Without the allowance the path is nothing special.
        assert_eq!(
            parse_request_until(&item(&eleven), &limits, &|| None),
            Err(XmlError::TextTooLong("item".into(), 10))
        );
    }

    #[test]
    fn plain_numbers_are_read_within_i32_and_ten_digits() {
        let read = |text: &str| plain_int(text.as_bytes());
        assert_eq!(read("<int>2147483647</int>"), Some((i32::MAX, 21)));
        assert_eq!(read("<int>-2147483648</int>x"), Some((i32::MIN, 22)));
        assert_eq!(read("<int>0000000012</int>"), Some((12, 21)));
        assert_eq!(read("<int>-0</int>"), Some((0, 13)));
        for refused in [
            "<int>2147483648</int>",
            "<int>-2147483649</int>",
            "<int>00000000012</int>",
            "<int></int>",
            "<int>-</int>",
            "<int>12</in>",
            "<int>1 </int>",
            "<int> 1</int>",
        ] {
            assert_eq!(read(refused), None, "{refused}");
        }
    }

    #[test]
    fn truncated_documents_are_errors() {
        assert!(parse("<a><b></b>").is_err());
        assert_eq!(parse("  "), Err(XmlError::Empty));
        assert!(parse("<a/><b/>").is_err());
    }

    #[test]
    fn text_escaping_matches_wsus() {
        assert_eq!(
            escape_text(r#"<a b="c">&'</a>"#),
            r#"&lt;a b="c"&gt;&amp;'&lt;/a&gt;"#
        );
        assert_eq!(escape_text("a\r\nb"), "a&#xD;\nb");
        assert!(matches!(escape_text("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
