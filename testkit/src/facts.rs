//! The few facts the testkit reads back from an `<upd:Update>` document.
//!
//! The fake upstream derives the filter data of the real fixture documents from them, and the
//! tests check that synthetic documents say what their `SynthDoc` says. This is deliberately
//! not the crate's metadata parser: it is a second, independent reading for tests.

use uuid::Uuid;

use super::xml::{Element, XmlError};

/// Why a document could not be read as an update.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// The text is not XML the reader accepts.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// A required element or attribute is absent; its path.
    #[error("not an update document: missing {0}")]
    Missing(&'static str),
    /// A value that does not parse; its path.
    #[error("bad value in {0}")]
    Invalid(&'static str),
}

/// What an update document says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateFacts {
    pub(crate) update_id: Uuid,
    pub(crate) revision: u32,
    /// `Properties/@UpdateType`: Software, Category, Detectoid, Driver.
    pub update_type: String,
    /// `CategoryInformation/@CategoryType` of categories and classifications.
    pub category_type: Option<String>,
    /// `Properties/@PublicationState`; `Published` when absent.
    pub publication_state: String,
    /// The English title.
    pub title: Option<String>,
    pub(crate) msrc_severity: Option<String>,
    pub(crate) kb: Option<String>,
    pub(crate) security_bulletin: Option<String>,
    /// Ids named in `Prerequisites/AtLeastOne IsCategory="true"` clauses.
    pub category_clauses: Vec<Uuid>,
    /// Ids named in `Prerequisites/AtLeastOne` clauses without `IsCategory`.
    pub plain_clauses: Vec<Uuid>,
    /// Plain `Prerequisites/UpdateIdentity` ids.
    pub prerequisites: Vec<Uuid>,
    pub(crate) superseded: Vec<Uuid>,
    /// `BundledUpdates` members with their revisions.
    pub bundled: Vec<(Uuid, u32)>,
    pub(crate) files: Vec<FileFacts>,
}

/// One `Files/File` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileFacts {
    /// Base64 SHA-1 (`@Digest`).
    pub sha1: String,
    /// Base64 SHA-256 (`AdditionalDigest Algorithm="SHA256"`), when present.
    pub sha256: Option<String>,
    pub(crate) name: String,
    pub(crate) size: u64,
}

/// Reads the facts of one update document.
pub fn read_update(xml: &str) -> Result<UpdateFacts, FactsError> {
    let root = Element::parse(xml)?;
    if root.name != "Update" {
        return Err(FactsError::Missing("Update"));
    }
    let identity = root
        .child("UpdateIdentity")
        .ok_or(FactsError::Missing("UpdateIdentity"))?;
    let properties = root
        .child("Properties")
        .ok_or(FactsError::Missing("Properties"))?;
    let mut facts = UpdateFacts {
        update_id: id_attr(identity)?,
        revision: parse_attr(identity, "RevisionNumber")?,
        update_type: properties.attr("UpdateType").unwrap_or("").to_owned(),
        publication_state: properties
            .attr("PublicationState")
            .unwrap_or("Published")
            .to_owned(),
        msrc_severity: properties.attr("MsrcSeverity").map(str::to_owned),
        kb: child_text(properties, "KBArticleID"),
        security_bulletin: child_text(properties, "SecurityBulletinID"),
        title: english_title(&root),
        category_type: root
            .find(&["HandlerSpecificData", "CategoryInformation"])
            .and_then(|info| info.attr("CategoryType"))
            .map(str::to_owned),
        ..UpdateFacts::default()
    };
    if let Some(relationships) = root.child("Relationships") {
        read_relationships(relationships, &mut facts)?;
    }
    if let Some(files) = root.child("Files") {
        facts.files = files
            .children_named("File")
            .map(read_file)
            .collect::<Result<_, _>>()?;
    }
    Ok(facts)
}

fn read_relationships(relationships: &Element, facts: &mut UpdateFacts) -> Result<(), FactsError> {
    if let Some(superseded) = relationships.child("SupersededUpdates") {
        facts.superseded = ids_of(superseded.children_named("UpdateIdentity"))?;
    }
    if let Some(prerequisites) = relationships.child("Prerequisites") {
        facts.prerequisites = ids_of(prerequisites.children_named("UpdateIdentity"))?;
        for clause in prerequisites.children_named("AtLeastOne") {
            let ids = ids_of(clause.children_named("UpdateIdentity"))?;
            if clause.attr("IsCategory") == Some("true") {
                facts.category_clauses.extend(ids);
            } else {
                facts.plain_clauses.extend(ids);
            }
        }
    }
    if let Some(bundled) = relationships.child("BundledUpdates") {
        for identity in bundled.children.iter().flat_map(group_members) {
            facts
                .bundled
                .push((id_attr(identity)?, parse_attr(identity, "RevisionNumber")?));
        }
    }
    Ok(())
}

/// A `BundledUpdates` child is either an `UpdateIdentity` or an `AtLeastOne` group of them.
fn group_members(child: &Element) -> Vec<&Element> {
    if child.name == "AtLeastOne" {
        child.children_named("UpdateIdentity").collect()
    } else {
        vec![child]
    }
}

fn read_file(file: &Element) -> Result<FileFacts, FactsError> {
    Ok(FileFacts {
        sha1: file
            .attr("Digest")
            .ok_or(FactsError::Missing("File/@Digest"))?
            .to_owned(),
        sha256: file
            .children_named("AdditionalDigest")
            .find(|d| d.attr("Algorithm") == Some("SHA256"))
            .map(|d| d.trimmed().to_owned()),
        name: file.attr("FileName").unwrap_or("").to_owned(),
        size: parse_attr(file, "Size")?,
    })
}

fn english_title(root: &Element) -> Option<String> {
    root.child("LocalizedPropertiesCollection")?
        .children_named("LocalizedProperties")
        .find(|p| p.child("Language").map(Element::trimmed) == Some("en"))
        .and_then(|p| p.child("Title"))
        .map(|t| t.text.clone())
}

fn child_text(element: &Element, name: &str) -> Option<String> {
    element.child(name).map(|c| c.trimmed().to_owned())
}

fn ids_of<'a>(identities: impl Iterator<Item = &'a Element>) -> Result<Vec<Uuid>, FactsError> {
    identities.map(id_attr).collect()
}

fn id_attr(identity: &Element) -> Result<Uuid, FactsError> {
    let raw = identity.attr("UpdateID").ok_or(FactsError::Missing("UpdateID"))?;
    Uuid::parse_str(raw).map_err(|_| FactsError::Invalid("UpdateID"))
}

fn parse_attr<T: std::str::FromStr>(element: &Element, name: &'static str) -> Result<T, FactsError> {
    element
        .attr(name)
        .ok_or(FactsError::Missing(name))?
        .parse()
        .map_err(|_| FactsError::Invalid(name))
}
