//! A namespace-aware canonical form of a SOAP answer, to compare ours with a captured one value
//! for value: every element as `{namespace}local`, its namespace declarations and attributes
//! (sorted, namespaces resolved, values unescaped), its text, in document order. Attribute
//! order, quoting, escaping and `<a/>` versus `<a></a>` do not show; a changed value,
//! namespace, declaration (prefix and URI) or attribute does.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{PrefixDeclaration, ResolveResult};
use quick_xml::NsReader;

/// Rewrites the text of an element (by local name) before it is compared.
pub(crate) type Mask = fn(element: &str, text: &str) -> String;

/// Compares text as it is.
pub(crate) fn unmasked(_: &str, text: &str) -> String {
    text.to_string()
}

/// The canonical lines of `xml`, texts passed through `mask`.
pub(crate) fn canonical(xml: &str, mask: Mask) -> String {
    let mut reader = NsReader::from_str(xml);
    let mut out = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        let (namespace, event) = reader.read_resolved_event().unwrap();
        let namespace = uri(&namespace);
        match event {
            Event::Start(start) => {
                flush_text(&mut out, &mut text, open.last(), mask);
                open.push(local(&start));
                out.push(start_line(&reader, &namespace, &start));
            }
            Event::Empty(start) => {
                flush_text(&mut out, &mut text, open.last(), mask);
                out.push(start_line(&reader, &namespace, &start));
                out.push(format!("</{{{namespace}}}{}>", local(&start)));
            }
            Event::End(end) => {
                flush_text(&mut out, &mut text, open.last(), mask);
                let name = open.pop().unwrap();
                let local = String::from_utf8_lossy(end.local_name().as_ref()).into_owned();
                assert_eq!(local, name);
                out.push(format!("</{{{namespace}}}{local}>"));
            }
            Event::Text(piece) => text.push_str(&piece.decode().unwrap()),
            Event::CData(piece) => text.push_str(&piece.decode().unwrap()),
            Event::GeneralRef(reference) => text.push_str(&entity(&reference.decode().unwrap())),
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    out.join("\n")
}

fn uri(namespace: &ResolveResult<'_>) -> String {
    match namespace {
        ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(prefix) => panic!("undeclared prefix {}", String::from_utf8_lossy(prefix)),
    }
}

fn local(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

/// `<{ns}local xmlns:p=uri … {ns}attr="value" …>`, declarations and attributes sorted.
fn start_line(reader: &NsReader<&[u8]>, namespace: &str, start: &BytesStart<'_>) -> String {
    let mut declarations = Vec::new();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.unwrap();
        let value = attribute.unescape_value().unwrap().into_owned();
        match attribute.key.as_namespace_binding() {
            Some(PrefixDeclaration::Default) => declarations.push(format!("xmlns={value}")),
            Some(PrefixDeclaration::Named(prefix)) => {
                declarations.push(format!("xmlns:{}={value}", String::from_utf8_lossy(prefix)))
            }
            None => {
                let (ns, name) = reader.resolve_attribute(attribute.key);
                let name = String::from_utf8_lossy(name.as_ref()).into_owned();
                attributes.push(format!("{{{}}}{name}=\"{value}\"", uri(&ns)));
            }
        }
    }
    declarations.sort();
    attributes.sort();
    let mut line = format!("<{{{namespace}}}{}", local(start));
    for item in declarations.iter().chain(&attributes) {
        line.push(' ');
        line.push_str(item);
    }
    line.push('>');
    line
}

fn flush_text(out: &mut Vec<String>, text: &mut String, element: Option<&String>, mask: Mask) {
    if !text.is_empty() {
        out.push(format!(
            "text: {}",
            mask(element.map_or("", String::as_str), text)
        ));
        text.clear();
    }
}

/// The five predefined entities and character references.
fn entity(name: &str) -> String {
    match name {
        "lt" => "<".into(),
        "gt" => ">".into(),
        "amp" => "&".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        _ => {
            let code = match name.strip_prefix("#x") {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => name.trim_start_matches('#').parse(),
            };
            char::from_u32(code.unwrap()).unwrap().to_string()
        }
    }
}

#[test]
fn spelling_differences_vanish_and_value_differences_show() {
    let a = r#"<p:a xmlns:p="urn:x" xmlns:q="urn:y" q:k="1" j='2'><b>t&amp;u</b><c/></p:a>"#;
    let b = r#"<p:a xmlns:q="urn:y" xmlns:p="urn:x" j="2" q:k="1"><b>t&#38;u</b><c></c></p:a>"#;
    let a = canonical(a, unmasked);
    assert_eq!(a, canonical(b, unmasked));
    for changed in [
        r#"<p:a xmlns:p="urn:x" xmlns:q="urn:y" q:k="1" j='3'><b>t&amp;u</b><c/></p:a>"#,
        r#"<p:a xmlns:p="urn:x" xmlns:q="urn:z" q:k="1" j='2'><b>t&amp;u</b><c/></p:a>"#,
        r#"<p:a xmlns:p="urn:x" xmlns:r="urn:y" r:k="1" j='2'><b>t&amp;u</b><c/></p:a>"#,
        r#"<p:a xmlns:p="urn:x" xmlns:q="urn:y" q:k="1" j='2'><b>t&amp;v</b><c/></p:a>"#,
        r#"<p:a xmlns:p="urn:x" xmlns:q="urn:y" q:k="1" j='2'><b xmlns="urn:x">t&amp;u</b><c/></p:a>"#,
        r#"<p:a xmlns:p="urn:x" xmlns:q="urn:y" q:k="1" j='2'><b>t&amp;u</b><c i="0"/></p:a>"#,
        r#"<p:a xmlns:p="urn:x" xmlns:q="urn:y" q:k="1" j='2'><b>t&amp;u</b><p:c/></p:a>"#,
    ] {
        assert_ne!(canonical(changed, unmasked), a, "{changed}");
    }
}
