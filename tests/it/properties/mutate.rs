//! Structured mutations of real, valid XML: an element dropped, duplicated, swapped with its
//! next sibling, renamed, put in a wrong namespace, wrapped in deep nesting or given many
//! attributes; its text swapped for a hostile value; the document truncated, a bit flipped,
//! or a foreign snippet inserted. Elements are found by a small tag scanner (the fixtures are
//! plain XML: no `>` inside attribute values outside quotes), so a mutation can target any
//! element of any document without a serialiser.

use proptest::prelude::*;

/// Values that are wrong for most fields: huge, negative, non-numeric, empty, not a GUID,
/// not base64, entities, a text past the client limit.
pub(crate) fn hostile_value() -> impl Strategy<Value = String> {
    let fixed = [
        "",
        " ",
        "-1",
        "0",
        "2147483648",
        "-2147483649",
        "18446744073709551616",
        "99999999999999999999999999999999",
        "1e400",
        "NaN",
        "yes",
        "0x7fffffff",
        "00000000-0000-0000-0000-000000000000",
        "not-a-guid",
        "{6964aab4-c5b5-43bd-a17d-ffb4346a8e1d}",
        "====",
        "&amp;&lt;&gt;&quot;&apos;",
        "&#0;",
        "&#x110000;",
        "&bogus;",
        "<![CDATA[<x/>]]>",
        "\u{feff}\u{fffd}ä€𝄞",
        "9999-99-99T99:99:99Z",
        "2026-13-45T25:61:61.9999999999Z",
        "<!-- c -->",
    ];
    prop_oneof![
        6 => proptest::sample::select(fixed.to_vec()).prop_map(str::to_string),
        1 => Just("1".repeat(65_537)),
        1 => Just("A".repeat(3_000)),
        2 => "[^<&]{0,40}",
        1 => ".{0,20}",
    ]
}

/// Element names that mean something else here, or nothing.
fn other_name() -> impl Strategy<Value = String> {
    let fixed = [
        "Envelope",
        "Body",
        "Header",
        "Fault",
        "GetConfig",
        "GetCookie",
        "SyncUpdates",
        "SyncPrinterCatalog",
        "ReportEventBatch",
        "UpdateIdentity",
        "Properties",
        "x",
        "p:x",
        "xmlns",
        "1digit",
    ];
    prop_oneof![
        4 => proptest::sample::select(fixed.to_vec()).prop_map(str::to_string),
        1 => Just("N".repeat(1_000)),
        1 => "[A-Za-z_][A-Za-z0-9_.-]{0,12}",
    ]
}

/// Snippets from elsewhere: a DTD, undeclared entities, stray markup, control characters.
fn junk() -> impl Strategy<Value = String> {
    let fixed = [
        "<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>",
        "<!DOCTYPE x SYSTEM \"file:///etc/passwd\">",
        "&a;",
        "&#x1F;",
        "<![CDATA[",
        "]]>",
        "</s:Body>",
        "<s:Body>",
        "</Envelope>",
        "<?pi data?>",
        "<?xml version=\"1.0\"?>",
        "<!-- -->",
        "\0",
        "\u{fffe}",
        "<",
        ">",
        "&",
        "\"",
        "<a b=\"c\" b=\"d\"/>",
        "<x xmlns:p=\"urn:p\"><p:y/></x>",
        "<q:y/>",
        "<a>",
        "</a>",
    ];
    proptest::sample::select(fixed.to_vec()).prop_map(str::to_string)
}

/// One change to a document. A `usize` picks an element or a byte modulo their number, so any
/// value fits any document.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// The element is removed.
    Drop(usize),
    /// The element appears twice.
    Duplicate(usize),
    /// The element and the sibling right after it change places.
    SwapWithNext(usize),
    /// The element (start and end tag) gets another name.
    Rename(usize, String),
    /// A leaf element's text (or an empty element's) becomes this value.
    Retext(usize, String),
    /// The element's default namespace is replaced by a wrong one, or its name gets an
    /// undeclared prefix.
    WrongNamespace(usize, bool),
    /// The element is wrapped in this many levels of `<n>`.
    Nest(usize, usize),
    /// The element gets this many attributes, all named alike when the flag is set.
    Attributes(usize, usize, bool),
    /// The document ends at this byte.
    Truncate(usize),
    /// One bit of one byte flipped (the result read as UTF-8, lossily).
    FlipBit(usize, u8),
    /// A snippet inserted at this byte.
    Insert(usize, String),
}

/// One mutation of any kind, weighted towards the structural ones.
pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<usize>;
    prop_oneof![
        3 => index().prop_map(Mutation::Drop),
        2 => index().prop_map(Mutation::Duplicate),
        2 => index().prop_map(Mutation::SwapWithNext),
        2 => (index(), other_name()).prop_map(|(i, n)| Mutation::Rename(i, n)),
        5 => (index(), hostile_value()).prop_map(|(i, v)| Mutation::Retext(i, v)),
        2 => (index(), any::<bool>()).prop_map(|(i, p)| Mutation::WrongNamespace(i, p)),
        1 => (index(), prop_oneof![1usize..8, 30usize..40, 120usize..300])
            .prop_map(|(i, d)| Mutation::Nest(i, d)),
        1 => (index(), prop_oneof![1usize..8, 30usize..300], any::<bool>())
            .prop_map(|(i, n, same)| Mutation::Attributes(i, n, same)),
        2 => index().prop_map(Mutation::Truncate),
        2 => (index(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (index(), junk()).prop_map(|(i, j)| Mutation::Insert(i, j)),
    ]
}

/// One to four mutations, applied in order.
pub(crate) fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..=4)
}

/// `text` with `mutations` applied in order.
pub(crate) fn apply_all(text: &str, mutations: &[Mutation]) -> String {
    mutations
        .iter()
        .fold(text.to_string(), |text, mutation| apply(&text, mutation))
}

/// `text` with one mutation applied; a mutation with no target (no elements, no next sibling)
/// leaves it as it is.
pub(crate) fn apply(text: &str, mutation: &Mutation) -> String {
    let spans = spans(text);
    let pick = |index: &usize| (!spans.is_empty()).then(|| &spans[index % spans.len()]);
    let at = |index: &usize| floor_boundary(text, index % (text.len() + 1));
    match mutation {
        Mutation::Drop(i) => match pick(i) {
            Some(s) => splice(text, s.start..s.end, ""),
            None => text.to_string(),
        },
        Mutation::Duplicate(i) => match pick(i) {
            Some(s) => splice(text, s.end..s.end, &text[s.start..s.end]),
            None => text.to_string(),
        },
        Mutation::SwapWithNext(i) => match pick(i).and_then(|s| Some((s, next_sibling(&spans, s)?))) {
            Some((a, b)) => format!(
                "{}{}{}{}",
                &text[..a.start],
                &text[b.start..b.end],
                &text[a.start..a.end],
                &text[b.end..]
            ),
            None => text.to_string(),
        },
        Mutation::Rename(i, name) => match pick(i) {
            Some(s) => rename(text, s, name),
            None => text.to_string(),
        },
        Mutation::Retext(i, value) => match pick(i) {
            Some(s) => retext(text, s, value),
            None => text.to_string(),
        },
        Mutation::WrongNamespace(i, prefix) => match pick(i) {
            Some(s) if *prefix => rename(text, s, &format!("zz:{}", s.local_name(text))),
            Some(s) => wrong_default_namespace(text, s),
            None => text.to_string(),
        },
        Mutation::Nest(i, depth) => match pick(i) {
            Some(s) => format!(
                "{}{}{}{}{}",
                &text[..s.start],
                "<n>".repeat(*depth),
                &text[s.start..s.end],
                "</n>".repeat(*depth),
                &text[s.end..]
            ),
            None => text.to_string(),
        },
        Mutation::Attributes(i, count, same) => match pick(i) {
            Some(s) => {
                let attributes: String = (0..*count)
                    .map(|n| match same {
                        true => " dup=\"v\"".to_string(),
                        false => format!(" a{n}=\"{n}\""),
                    })
                    .collect();
                splice(text, s.name_end..s.name_end, &attributes)
            }
            None => text.to_string(),
        },
        Mutation::Truncate(i) => text[..at(i)].to_string(),
        Mutation::FlipBit(i, bit) => {
            let mut bytes = text.as_bytes().to_vec();
            if !bytes.is_empty() {
                let at = i % bytes.len();
                bytes[at] ^= 1 << bit;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Mutation::Insert(i, snippet) => splice(text, at(i)..at(i), snippet),
    }
}

/// Where one element sits in its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// The `<` of its start tag.
    pub(crate) start: usize,
    /// Just past the `>` of its end tag (or of its empty-element tag).
    pub(crate) end: usize,
    /// Just past its qualified name in the start tag.
    pub(crate) name_end: usize,
    /// Just past the `>` of its start tag.
    pub(crate) open_end: usize,
    /// The `<` of its end tag; `None` for `<x/>`.
    pub(crate) close_start: Option<usize>,
}

impl Span {
    fn qualified_name<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start + 1..self.name_end]
    }

    fn local_name<'a>(&self, text: &'a str) -> &'a str {
        let name = self.qualified_name(text);
        name.rsplit(':').next().unwrap_or(name)
    }

    /// Its content, when it is a leaf (no child elements).
    fn leaf_content(&self, text: &str) -> Option<std::ops::Range<usize>> {
        let close = self.close_start?;
        (!text[self.open_end..close].contains('<')).then_some(self.open_end..close)
    }
}

/// Every element of a well-formed document, in start-tag order; stops at the first thing it
/// cannot read (a document mutated earlier may be cut short).
pub(crate) fn spans(text: &str) -> Vec<Span> {
    let mut done = Vec::new();
    let mut open: Vec<(usize, usize, usize)> = Vec::new();
    let mut at = 0;
    while let Some(offset) = text[at..].find('<') {
        let start = at + offset;
        let rest = &text[start..];
        let skip_to = |end: &str| rest.find(end).map(|e| start + e + end.len());
        let next = if rest.starts_with("<?") {
            skip_to("?>")
        } else if rest.starts_with("<!--") {
            skip_to("-->")
        } else if rest.starts_with("<![CDATA[") {
            skip_to("]]>")
        } else if rest.starts_with("<!") {
            skip_to(">")
        } else if rest.starts_with("</") {
            let end = skip_to(">");
            if let (Some(end), Some((open_start, name_end, open_end))) = (end, open.pop()) {
                done.push(Span {
                    start: open_start,
                    end,
                    name_end,
                    open_end,
                    close_start: Some(start),
                });
            }
            end
        } else {
            start_tag(text, start).map(|(name_end, open_end, empty)| {
                if empty {
                    done.push(Span {
                        start,
                        end: open_end,
                        name_end,
                        open_end,
                        close_start: None,
                    });
                } else {
                    open.push((start, name_end, open_end));
                }
                open_end
            })
        };
        match next {
            Some(next) => at = next,
            None => break,
        }
    }
    done.sort_by_key(|span| span.start);
    done
}

/// The end of the name, the end of the tag, and whether it is `<x/>`, of the start tag at
/// `start`.
fn start_tag(text: &str, start: usize) -> Option<(usize, usize, bool)> {
    let bytes = text.as_bytes();
    let name_end = start
        + 1
        + text[start + 1..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(text.len() - start - 1);
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(name_end) {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some((name_end, i + 1, bytes[i - 1] == b'/')),
            (None, _) => {}
        }
    }
    None
}

fn next_sibling<'a>(spans: &'a [Span], span: &Span) -> Option<&'a Span> {
    spans.iter().find(|other| other.start == span.end)
}

fn rename(text: &str, span: &Span, name: &str) -> String {
    let mut out = text.to_string();
    if let Some(close) = span.close_start {
        out.replace_range(close + 2..span.end - 1, name);
    }
    out.replace_range(span.start + 1..span.name_end, name);
    out
}

fn retext(text: &str, span: &Span, value: &str) -> String {
    match (span.close_start, span.leaf_content(text)) {
        (None, _) => {
            let name = span.qualified_name(text);
            let open = &text[span.start..span.open_end - 2];
            splice(text, span.start..span.end, &format!("{open}>{value}</{name}>"))
        }
        (Some(_), Some(content)) => splice(text, content, value),
        (Some(_), None) => text.to_string(),
    }
}

fn wrong_default_namespace(text: &str, span: &Span) -> String {
    let tag = &text[span.start..span.open_end];
    match tag.find("xmlns=\"") {
        Some(at) => {
            let value_start = span.start + at + "xmlns=\"".len();
            let value_end = value_start + text[value_start..].find('"').unwrap_or(0);
            splice(text, value_start..value_end, "urn:wrong")
        }
        None => splice(text, span.name_end..span.name_end, " xmlns=\"urn:wrong\""),
    }
}

fn splice(text: &str, range: std::ops::Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..range.start]);
    out.push_str(with);
    out.push_str(&text[range.end..]);
    out
}

/// The largest character boundary at or before `at`.
pub(crate) fn floor_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

#[test]
fn the_scanner_finds_every_element_of_a_captured_request() {
    let text = super::fixture("wusp/native-scan-000003.get-cookie.request.xml");
    let spans = spans(&text);
    let names: Vec<&str> = spans.iter().map(|s| s.local_name(&text)).collect();
    assert_eq!(
        names,
        [
            "Envelope",
            "Body",
            "GetCookie",
            "authCookies",
            "AuthorizationCookie",
            "PlugInId",
            "CookieData",
            "oldCookie",
            "Expiration",
            "lastChange",
            "currentTime",
            "protocolVersion"
        ]
    );
    let get_cookie = spans[2];
    assert!(text[get_cookie.start..get_cookie.end].starts_with("<GetCookie xmlns="));
    assert!(text[get_cookie.start..get_cookie.end].ends_with("</GetCookie>"));
}

#[test]
fn mutations_change_what_they_say() {
    let text = "<a><b>1</b><c/></a>";
    let b = 1;
    assert_eq!(apply(text, &Mutation::Drop(b)), "<a><c/></a>");
    assert_eq!(
        apply(text, &Mutation::Duplicate(b)),
        "<a><b>1</b><b>1</b><c/></a>"
    );
    assert_eq!(apply(text, &Mutation::SwapWithNext(b)), "<a><c/><b>1</b></a>");
    assert_eq!(
        apply(text, &Mutation::Rename(b, "z".into())),
        "<a><z>1</z><c/></a>"
    );
    assert_eq!(
        apply(text, &Mutation::Retext(2, "-1".into())),
        "<a><b>1</b><c>-1</c></a>"
    );
    assert_eq!(
        apply(text, &Mutation::WrongNamespace(b, true)),
        "<a><zz:b>1</zz:b><c/></a>"
    );
    assert_eq!(
        apply(text, &Mutation::Attributes(b, 2, false)),
        "<a><b a0=\"0\" a1=\"1\">1</b><c/></a>"
    );
    assert_eq!(
        apply(text, &Mutation::Nest(b, 2)),
        "<a><n><n><b>1</b></n></n><c/></a>"
    );
}
