//! The XML reader (`protocol::xml`): arbitrary bytes, token soup and mutated real documents
//! never panic and give a tree within the limits or an error with a message (a real request
//! cut short at every byte is in `client_soap`, through the SOAP reader); floods of elements, attributes, text or depth past a
//! limit give that limit's own error, and at the limit parse; trees written out read back
//! as they were.

use super::mutate::{apply_all, mutations};
use super::{bodies, cases, fixtures_ending};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use wucache::protocol::xml::{parse, parse_with, Element, Limits, XmlError};

/// Pieces of XML, put together in any order.
fn token() -> impl Strategy<Value = String> {
    let fixed = [
        "<a>",
        "</a>",
        "<b>",
        "</b>",
        "<a/>",
        "<s:Envelope xmlns:s=\"urn:s\">",
        "</s:Envelope>",
        "<x k=\"v\">",
        "<x k='v' k='w'>",
        "</x>",
        "<x xmlns=\"urn:x\" xmlns:p=\"urn:p\">",
        "<p:y/>",
        "text",
        " ",
        "\n",
        "&amp;",
        "&lt;",
        "&#x41;",
        "&#65;",
        "&#0;",
        "&nope;",
        "&",
        "<![CDATA[c]]>",
        "<!-- c -->",
        "<?pi x?>",
        "<?xml version=\"1.0\"?>",
        "<!DOCTYPE a>",
        "<",
        ">",
        "\"",
        "]]>",
        "<a b=\"1\" c=\"&amp;\"/>",
        "<a b=\"&bad;\"/>",
        "<1a>",
        "</>",
        "<a\u{0}>",
    ];
    prop_oneof![
        8 => proptest::sample::select(fixed.to_vec()).prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

fn token_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(token(), 0..64).prop_map(|tokens| tokens.concat())
}

/// Every XML fixture: captured client requests, MS-WSUSSS answers, update documents.
fn xml_fixtures() -> Vec<String> {
    [
        ("wusp", ".request.xml"),
        ("wusp", ".response.xml"),
        ("wsusss", ".xml"),
        ("upstream", ".xml"),
    ]
    .into_iter()
    .flat_map(|(dir, suffix)| fixtures_ending(dir, suffix))
    .map(|(_, text)| text)
    .collect()
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bytes_are_read_within_limits_or_refused(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        bodies::xml(&data);
    }

    #[test]
    fn token_soup_is_read_within_limits_or_refused(text in token_soup()) {
        bodies::xml(text.as_bytes());
        if let Err(err) = parse(&text) {
            bodies::assert_message(&err);
        }
    }
}

#[test]
fn mutated_real_documents_are_read_within_limits_or_refused() {
    let documents = xml_fixtures();
    let strategy = (0..documents.len(), mutations());
    TestRunner::new(cases(256))
        .run(&strategy, |(document, mutations)| {
            let text = apply_all(&documents[document], &mutations);
            bodies::xml(text.as_bytes());
            match parse(&text) {
                Ok(root) => bodies::assert_within(&root, &Limits::UPSTREAM),
                Err(err) => bodies::assert_message(&err),
            }
            Ok(())
        })
        .unwrap();
}

/// Limits from tiny to the real client ones.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        3 => (1usize..40, 1usize..400, 1usize..40, 1usize..3000).prop_map(|(depth, elements, attributes, text)| Limits {
            depth,
            elements,
            attributes,
            text,
        }),
        1 => Just(Limits { elements: 500, ..Limits::CLIENT_REQUEST }),
    ]
}

/// How far past (or short of) a limit a flood goes.
fn around() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), Just(1), Just(-1), -20i64..20]
}

fn with_offset(limit: usize, offset: i64) -> usize {
    (limit as i64 + offset).max(1) as usize
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn an_element_flood_is_refused_exactly_past_the_element_limit(
        limits in limits(),
        offset in around(),
        forms in proptest::collection::vec(0u8..3, 1..8),
    ) {
        let total = with_offset(limits.elements, offset);
        let children: String = (1..total)
            .map(|i| match forms[i % forms.len()] {
                0 => "<e/>".to_string(),
                1 => "<e></e>".to_string(),
                _ => format!("<e{i} k=\"v\">t</e{i}>"),
            })
            .collect();
        let document = format!("<root>{children}</root>");
        // Children are one level down, and `<eN>` ones hold one attribute and one byte of text.
        let result = parse_with(&document, &Limits { depth: limits.depth.max(2), ..limits });
        if total <= limits.elements {
            prop_assert_eq!(result.map(|root| root.children.len()), Ok(total - 1));
        } else {
            prop_assert_eq!(result, Err(XmlError::TooLarge(limits.elements)));
        }
    }

    #[test]
    fn an_attribute_flood_is_refused_exactly_past_the_attribute_limit(
        limits in limits(),
        offset in around(),
        namespaces in 0usize..4,
    ) {
        let total = with_offset(limits.attributes, offset);
        let attributes: String = (0..total)
            .map(|i| match i < namespaces {
                true => format!(" xmlns:n{i}=\"urn:{i}\""),
                false => format!(" a{i}=\"{i}\""),
            })
            .collect();
        let document = format!("<e{attributes}/>");
        let result = parse_with(&document, &Limits { text: 100, ..limits });
        if total <= limits.attributes {
            prop_assert!(result.is_ok(), "{:?}", result);
        } else {
            prop_assert_eq!(result, Err(XmlError::TooManyAttributes("e".into(), limits.attributes)));
        }
    }

    #[test]
    fn a_repeated_attribute_is_refused_wherever_it_is(
        count in 2usize..32,
        first in any::<usize>(),
        second in any::<usize>(),
    ) {
        let (first, second) = (first % count, second % count);
        prop_assume!(first != second);
        let attributes: String = (0..count)
            .map(|i| if i == second { format!(" a{first}=\"again\"") } else { format!(" a{i}=\"{i}\"") })
            .collect();
        let result = parse_with(&format!("<e{attributes}/>"), &Limits::CLIENT_REQUEST);
        prop_assert_eq!(result, Err(XmlError::DuplicateAttribute("e".into(), format!("a{first}"))));
    }

    #[test]
    fn text_past_the_limit_is_refused_however_it_is_split(
        limits in limits(),
        offset in around(),
        pieces in proptest::collection::vec(0u8..4, 1..6),
        in_attribute in any::<bool>(),
    ) {
        let total = with_offset(limits.text, offset);
        let document = if in_attribute {
            format!("<e k=\"{}\"/>", "v".repeat(total))
        } else {
            format!("<e>{}</e>", split_text(total, &pieces))
        };
        let result = parse_with(&document, &limits);
        if total <= limits.text {
            prop_assert!(result.is_ok(), "{:?}", result);
        } else {
            prop_assert_eq!(result, Err(XmlError::TextTooLong("e".into(), limits.text)));
        }
    }

    #[test]
    fn nesting_past_the_depth_limit_is_refused(limits in limits(), offset in around(), empty_leaf in any::<bool>()) {
        let depth = with_offset(limits.depth, offset);
        // The innermost level is an empty element or an element without content: both count.
        let leaf = if empty_leaf { "<leaf/>" } else { "<leaf></leaf>" };
        let document = format!("{}{leaf}{}", "<d>".repeat(depth - 1), "</d>".repeat(depth - 1));
        let result = parse_with(&document, &Limits { elements: 1_000, ..limits });
        if depth <= limits.depth {
            prop_assert!(result.is_ok(), "{:?}", result);
        } else {
            prop_assert_eq!(result, Err(XmlError::TooDeep(limits.depth)));
        }
    }
}

/// `total` bytes of resolved text as plain runs, entities, CDATA sections and comments.
fn split_text(total: usize, pieces: &[u8]) -> String {
    let mut out = String::new();
    let mut left = total;
    let mut kind = pieces.iter().cycle();
    while left > 0 {
        let run = (total / pieces.len()).clamp(1, left);
        match kind.next() {
            Some(0) => out.push_str(&"x".repeat(run)),
            Some(1) => {
                out.push_str(&"&amp;".repeat(run));
            }
            Some(2) => out.push_str(&format!("<![CDATA[{}]]>", "c".repeat(run))),
            _ => out.push_str(&format!("{}<!-- not text -->", "y".repeat(run))),
        }
        left -= run;
    }
    out
}

/// A tree of elements with names, text and children (no attributes: the reader keeps them
/// private).
fn tree() -> impl Strategy<Value = Element> {
    let leaf = (name(), text()).prop_map(|(name, text)| element(name, text, Vec::new()));
    leaf.prop_recursive(6, 48, 6, |inner| {
        (name(), text(), proptest::collection::vec(inner, 0..6))
            .prop_map(|(name, text, children)| element(name, text, children))
    })
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,10}"
}

/// Text with markup characters and non-ASCII, but no `\r` (XML normalises line ends).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[^\r\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,24}"
    ]
}

fn element(name: String, text: String, children: Vec<Element>) -> Element {
    let mut element = Element::default();
    element.name = name;
    element.text = text;
    element.children = children;
    element
}

/// Writes `element` with its text first, then its children, escaping `&`, `<` and `>`.
fn write(element: &Element, out: &mut String) {
    out.push('<');
    out.push_str(&element.name);
    out.push('>');
    for c in element.text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    for child in &element.children {
        write(child, out);
    }
    out.push_str("</");
    out.push_str(&element.name);
    out.push('>');
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn a_written_tree_reads_back_as_it_was(root in tree(), prefix in prop_oneof![Just(""), Just("<?xml version=\"1.0\"?>\n")]) {
        let mut document = prefix.to_string();
        write(&root, &mut document);
        prop_assert_eq!(parse(&document), Ok(root));
    }
}
