//! The Core fragment a SyncUpdates answer carries in `UpdateInfo/Xml`: the update's identity, its
//! `Properties`, its `Relationships` and applicability rules, written as sibling elements without a
//! root (`<UpdateIdentity .../><Properties .../>...`). The identity read here is how a client learns
//! which update and revision a server revision id stands for.

use uuid::Uuid;

use super::schema::{expect_name, guid, invalid};
use super::WuaError;
use crate::xml::Element;

/// What a Core fragment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Core {
    /// `UpdateIdentity/@UpdateID`: the update the fragment describes.
    pub update_id: Uuid,
    /// `UpdateIdentity/@RevisionNumber`: its revision.
    pub revision: u32,
    /// `Properties/@UpdateType`: Software, Category, Detectoid, Driver.
    pub update_type: String,
    /// `Relationships/BundledUpdates` identities, looking through `AtLeastOne` groups.
    pub bundled: Vec<(Uuid, u32)>,
    /// Every identity named under `Relationships/Prerequisites`, clauses included.
    pub prerequisites: Vec<Uuid>,
    /// The fragment as a tree under a synthetic `Xml` root, for structural comparisons.
    pub tree: Element,
}

/// A fragment's sibling elements under a synthetic `Xml` root.
pub fn fragment_tree(xml: &str) -> Result<Element, WuaError> {
    Ok(Element::parse(&format!("<Xml>{xml}</Xml>"))?)
}

/// Reads a Core fragment; it must start with `UpdateIdentity` and `Properties`.
pub fn read_core(xml: &str) -> Result<Core, WuaError> {
    let tree = fragment_tree(xml)?;
    let (Some(identity), Some(properties)) = (tree.children.first(), tree.children.get(1)) else {
        return Err(WuaError::Missing("Xml/UpdateIdentity, Xml/Properties".into()));
    };
    expect_name(identity, "UpdateIdentity")?;
    expect_name(properties, "Properties")?;
    let (update_id, revision) = identity_of(identity, "Xml/UpdateIdentity")?;
    let revision = revision.ok_or_else(|| WuaError::Missing("Xml/UpdateIdentity/@RevisionNumber".into()))?;
    let update_type = properties
        .attr("UpdateType")
        .ok_or_else(|| WuaError::Missing("Xml/Properties/@UpdateType".into()))?
        .to_owned();
    let mut core = Core {
        update_id,
        revision,
        update_type,
        bundled: Vec::new(),
        prerequisites: Vec::new(),
        tree: Element::default(),
    };
    if let Some(relationships) = tree.child("Relationships") {
        read_relationships(relationships, &mut core)?;
    }
    core.tree = tree;
    Ok(core)
}

fn read_relationships(relationships: &Element, core: &mut Core) -> Result<(), WuaError> {
    if let Some(bundled) = relationships.child("BundledUpdates") {
        for identity in identities(bundled) {
            let path = "Xml/Relationships/BundledUpdates/UpdateIdentity";
            let (id, revision) = identity_of(identity, path)?;
            let revision = revision.ok_or_else(|| WuaError::Missing(format!("{path}/@RevisionNumber")))?;
            core.bundled.push((id, revision));
        }
    }
    if let Some(prerequisites) = relationships.child("Prerequisites") {
        for identity in identities(prerequisites) {
            let (id, _) = identity_of(identity, "Xml/Relationships/Prerequisites/UpdateIdentity")?;
            core.prerequisites.push(id);
        }
    }
    Ok(())
}

/// `UpdateIdentity` children, and those inside `AtLeastOne` groups, in document order.
fn identities(list: &Element) -> Vec<&Element> {
    list.children
        .iter()
        .flat_map(|child| match child.name.as_str() {
            "AtLeastOne" => child.children_named("UpdateIdentity").collect(),
            "UpdateIdentity" => vec![child],
            _ => Vec::new(),
        })
        .collect()
}

/// `@UpdateID` and, when present, `@RevisionNumber`.
fn identity_of(identity: &Element, path: &str) -> Result<(Uuid, Option<u32>), WuaError> {
    let id = identity
        .attr("UpdateID")
        .ok_or_else(|| WuaError::Missing(format!("{path}/@UpdateID")))?;
    let revision = identity
        .attr("RevisionNumber")
        .map(|r| r.parse().map_err(|_| invalid(path, r)))
        .transpose()?;
    Ok((guid(id, path)?, revision))
}
