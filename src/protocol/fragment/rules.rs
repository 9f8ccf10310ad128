//! The derivation rules: which parts of an `upd:Update` document make the Core, Extended,
//! LocalizedProperties and Eula fragments, and which `Properties` attributes each keeps
//! (the list in `fragment`'s doc). Works on the element tree of `tree`.

use super::tree::{parse, write, Element};
use super::FragmentError;

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

/// A stored document parsed once, from which any of its fragments can be written: a cache
/// that misses several kinds of one revision pays for one parse.
pub struct Document {
    root: Element,
}

impl Document {
    /// Parses the `upd:Update` document.
    pub fn parse(update_xml: &str) -> Result<Document, FragmentError> {
        Ok(Document {
            root: parse(update_xml)?,
        })
    }

    /// The Core fragment, sent in SyncUpdates `UpdateInfo/Xml`.
    pub fn core(&self) -> Result<String, FragmentError> {
        let root = &self.root;
        let mut out = String::new();
        write(&mut out, root.require("UpdateIdentity")?);
        write(&mut out, &core_properties(root.require("Properties")?));
        write_children(&mut out, root, &["Relationships", "ApplicabilityRules"]);
        Ok(out)
    }

    /// The Extended fragment, sent by GetExtendedUpdateInfo for `Extended`.
    pub fn extended(&self) -> Result<String, FragmentError> {
        let root = &self.root;
        let mut out = String::new();
        write(&mut out, &extended_properties(root.require("Properties")?));
        write_children(&mut out, root, &["Files", "HandlerSpecificData"]);
        Ok(out)
    }

    /// The LocalizedProperties fragment for the first of `languages` the document has (e.g.
    /// ["en-US", "en"] → match "en" by exact or primary-subtag match), falling back to "en",
    /// else None.
    pub fn localized(&self, languages: &[&str]) -> Option<String> {
        let all: Vec<&Element> = collection(&self.root, "LocalizedProperties").collect();
        languages
            .iter()
            .chain(std::iter::once(&"en"))
            .find_map(|wanted| pick_language(&all, wanted))
            .map(to_fragment)
    }

    /// The Eula fragments, one per `LocalizedPropertiesCollection/EulaFile`, in document order.
    pub fn eulas(&self) -> Vec<String> {
        collection(&self.root, "EulaFile").map(to_fragment).collect()
    }
}

/// The Core fragment, sent in SyncUpdates `UpdateInfo/Xml`.
pub fn core(update_xml: &str) -> Result<String, FragmentError> {
    Document::parse(update_xml)?.core()
}

/// The Extended fragment, sent by GetExtendedUpdateInfo for `Extended`.
pub fn extended(update_xml: &str) -> Result<String, FragmentError> {
    Document::parse(update_xml)?.extended()
}

/// The LocalizedProperties fragment for the first of `languages` the document has, falling
/// back to "en", else None (`Document::localized`).
pub fn localized(update_xml: &str, languages: &[&str]) -> Result<Option<String>, FragmentError> {
    Ok(Document::parse(update_xml)?.localized(languages))
}

/// The Eula fragments, one per `LocalizedPropertiesCollection/EulaFile`, in document order.
pub fn eulas(update_xml: &str) -> Result<Vec<String>, FragmentError> {
    Ok(Document::parse(update_xml)?.eulas())
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

#[cfg(test)]
mod tests;
