//! Reads an `upd:Update` document (docs/protocol.md §9) into the indexed fields the catalog keeps.
//! Pure: text in, `UpdateRecord` out (with `local_id` 0 and products/classifications left for
//! `catalog` to resolve, since they depend on what the categories are).

use super::xml::{self, Element, XmlError};
use crate::model::{
    CategoryType, FileRef, Prerequisite, PublicationState, UpdateIdentity, UpdateRecord, UpdateType,
};
use base64::Engine;
use uuid::Uuid;

/// Why an update document could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UpdateXmlError {
    /// The text is not XML the reader accepts, or lacks a required element.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The root is not `Update`; its local name.
    #[error("root element is `{0}`, not `Update`")]
    NotAnUpdate(String),
    /// An identity, type or file attribute that does not parse.
    #[error("bad {field}: `{value}`")]
    BadField {
        /// Its path, e.g. `File/@Size`.
        field: &'static str,
        /// Its text, or `<missing>`.
        value: String,
    },
}

/// The parts of an update document its record is read from (see `parse_update`): the
/// applicability rules, installer data and localized texts but the titles are checked and
/// read past, not built — they are most of a document's elements.
fn record_needs(parent: &str, name: &str, depth: usize) -> bool {
    match (depth, parent) {
        (1, _) => name != "ApplicabilityRules",
        (2, "HandlerSpecificData") => name == "CategoryInformation",
        (3, "LocalizedProperties") => matches!(name, "Language" | "Title"),
        _ => true,
    }
}

/// Parses one update document.
pub fn parse_update(text: &str) -> Result<UpdateRecord, UpdateXmlError> {
    record_from(xml::parse_pruned(text, &record_needs)?)
}

/// The record of an update document's tree.
fn record_from(root: Element) -> Result<UpdateRecord, UpdateXmlError> {
    if root.name != "Update" {
        return Err(UpdateXmlError::NotAnUpdate(root.name));
    }
    let identity = parse_identity(root.require("UpdateIdentity")?, true)?;
    let properties = root.require("Properties")?;
    let update_type = properties
        .attr("UpdateType")
        .and_then(UpdateType::parse)
        .ok_or_else(|| bad("Properties/@UpdateType", properties.attr("UpdateType")))?;
    let relationships = root.child("Relationships");
    Ok(UpdateRecord {
        identity,
        local_id: 0,
        update_type,
        category_type: category_type(&root, update_type),
        title: english_title(&root).into(),
        products: Vec::new().into(),
        classifications: Vec::new().into(),
        prerequisites: relationships
            .map(prerequisites)
            .transpose()?
            .unwrap_or_default()
            .into(),
        bundled: relationships.map(bundled).transpose()?.unwrap_or_default().into(),
        superseded: relationships
            .map(superseded)
            .transpose()?
            .unwrap_or_default()
            .into(),
        msrc_severity: non_empty(properties.attr("MsrcSeverity")).map(Into::into),
        kb: non_empty(properties.child_text("KBArticleID")).map(Into::into),
        security_bulletin: non_empty(properties.child_text("SecurityBulletinID")).map(Into::into),
        creation_date: properties.attr("CreationDate").unwrap_or_default().into(),
        publication_state: PublicationState::parse(properties.attr("PublicationState").unwrap_or_default()),
        files: root
            .child("Files")
            .map(files)
            .transpose()?
            .unwrap_or_default()
            .into(),
        eula_id: non_empty(properties.attr("EulaID")).map(Into::into),
    })
}

fn bad(field: &'static str, value: Option<&str>) -> UpdateXmlError {
    UpdateXmlError::BadField {
        field,
        value: value.unwrap_or("<missing>").to_string(),
    }
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

fn parse_guid(value: Option<&str>, field: &'static str) -> Result<Uuid, UpdateXmlError> {
    value
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .ok_or_else(|| bad(field, value))
}

/// `UpdateIdentity @UpdateID [@RevisionNumber]`; the revision is required for the document's
/// own identity and defaults to 0 in relationships that omit it.
fn parse_identity(el: &Element, need_revision: bool) -> Result<UpdateIdentity, UpdateXmlError> {
    let update_id = parse_guid(el.attr("UpdateID"), "UpdateIdentity/@UpdateID")?;
    let revision = match el.attr("RevisionNumber") {
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| bad("UpdateIdentity/@RevisionNumber", Some(text)))?,
        None if need_revision => return Err(bad("UpdateIdentity/@RevisionNumber", None)),
        None => 0,
    };
    Ok(UpdateIdentity { update_id, revision })
}

fn category_type(root: &Element, update_type: UpdateType) -> Option<CategoryType> {
    if update_type != UpdateType::Category {
        return None;
    }
    let info = root.child("HandlerSpecificData")?.child("CategoryInformation")?;
    Some(CategoryType::parse(info.attr("CategoryType").unwrap_or_default()))
}

/// The English title, else the first one; empty when the document has none.
fn english_title(root: &Element) -> String {
    let Some(collection) = root.child("LocalizedPropertiesCollection") else {
        return String::new();
    };
    let mut all = collection.children_named("LocalizedProperties");
    let english = collection
        .children_named("LocalizedProperties")
        .find(|lp| lp.child_text("Language") == Some("en"));
    english
        .or_else(|| all.next())
        .and_then(|lp| lp.child_text("Title"))
        .unwrap_or_default()
        .to_string()
}

fn prerequisites(relationships: &Element) -> Result<Vec<Prerequisite>, UpdateXmlError> {
    let Some(list) = relationships.child("Prerequisites") else {
        return Ok(Vec::new());
    };
    let mut clauses = Vec::new();
    for clause in &list.children {
        match clause.name.as_str() {
            "UpdateIdentity" => {
                clauses.push(Prerequisite::Required(parse_identity(clause, false)?.update_id))
            }
            "AtLeastOne" => clauses.push(Prerequisite::AtLeastOne {
                ids: identities(clause)?.into_iter().map(|i| i.update_id).collect(),
                is_category: clause.attr("IsCategory") == Some("true"),
            }),
            _ => {}
        }
    }
    Ok(clauses)
}

fn identities(parent: &Element) -> Result<Vec<UpdateIdentity>, UpdateXmlError> {
    parent
        .children_named("UpdateIdentity")
        .map(|el| parse_identity(el, false))
        .collect()
}

fn bundled(relationships: &Element) -> Result<Vec<UpdateIdentity>, UpdateXmlError> {
    let Some(list) = relationships.child("BundledUpdates") else {
        return Ok(Vec::new());
    };
    let mut members = identities(list)?;
    for group in list.children_named("AtLeastOne") {
        members.extend(identities(group)?);
    }
    Ok(members)
}

fn superseded(relationships: &Element) -> Result<Vec<Uuid>, UpdateXmlError> {
    let Some(list) = relationships.child("SupersededUpdates") else {
        return Ok(Vec::new());
    };
    Ok(identities(list)?.into_iter().map(|i| i.update_id).collect())
}

fn files(list: &Element) -> Result<Vec<FileRef>, UpdateXmlError> {
    list.children_named("File").map(file).collect()
}

fn file(el: &Element) -> Result<FileRef, UpdateXmlError> {
    let sha1 = decode_digest::<20>(el.attr("Digest"), "File/@Digest")?;
    let sha256 = el
        .children_named("AdditionalDigest")
        .find(|d| d.attr("Algorithm") == Some("SHA256"))
        .map(|d| decode_digest::<32>(Some(d.text.trim()), "File/AdditionalDigest"))
        .transpose()?;
    let size = el.attr("Size").unwrap_or("0");
    Ok(FileRef {
        sha1,
        sha256,
        name: el.attr("FileName").unwrap_or_default().into(),
        size: size.trim().parse().map_err(|_| bad("File/@Size", Some(size)))?,
        url: Box::default(),
        modified: el.attr("Modified").unwrap_or_default().into(),
        patching_type: non_empty(el.attr("PatchingType")).map(Into::into),
    })
}

/// Decodes a base64 digest of exactly `N` bytes.
pub fn decode_digest<const N: usize>(
    value: Option<&str>,
    field: &'static str,
) -> Result<[u8; N], UpdateXmlError> {
    let text = value.ok_or_else(|| bad(field, None))?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; N]>::try_from(bytes.as_slice()).ok())
        .ok_or_else(|| bad(field, Some(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFENDER_DELTA: &str =
        include_str!("../../tests/fixtures/upstream/266f6222-c89d-43f2-9f8a-69340271e677-r200.xml");
    const KB2267602: &str =
        include_str!("../../tests/fixtures/upstream/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.xml");
    const PRODUCT: &str =
        include_str!("../../tests/fixtures/upstream/dd78b8a1-0b20-45c1-add6-4da72e9364cf-r202.xml");

    #[test]
    fn real_leaf_with_file_and_sha256() {
        let record = parse_update(DEFENDER_DELTA).unwrap();
        assert_eq!(record.identity.revision, 200);
        assert_eq!(record.update_type, UpdateType::Software);
        assert_eq!(record.files.len(), 1);
        let file = &record.files[0];
        assert_eq!(
            crate::model::hex(&file.sha1),
            "87f5bd0469585006aa5d3a77d1c662fd2895ddcd"
        );
        assert_eq!(file.size, 11_606_440);
        assert_eq!(file.name, "AM_Delta.exe".into());
        assert!(file.sha256.is_some());
        assert!(record.title.starts_with("Full Deltas 1.459.547.0"));
        assert_eq!(record.prerequisites.len(), 4);
    }

    #[test]
    fn real_bundle_has_members_supersedence_kb_and_english_title() {
        let record = parse_update(KB2267602).unwrap();
        assert_eq!(record.kb.as_deref(), Some("2267602"));
        assert_eq!(record.superseded.len(), 10);
        assert!(!record.bundled.is_empty());
        assert!(record.bundled.iter().all(|m| m.revision == 200));
        assert!(record.title.starts_with("Security Intelligence Update"));
        let category_clauses: Vec<_> = record.category_clause_ids(true).collect();
        assert_eq!(category_clauses.len(), 2);
    }

    #[test]
    fn real_product_category() {
        let record = parse_update(PRODUCT).unwrap();
        assert_eq!(record.update_type, UpdateType::Category);
        assert_eq!(record.category_type, Some(CategoryType::Product));
        assert_eq!(record.title, "OOBE ZDP".into());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_update("<upd:Update><x/>").is_err());
        assert!(matches!(
            parse_update("<foo/>"),
            Err(UpdateXmlError::NotAnUpdate(_))
        ));
        let no_type = r#"<Update><UpdateIdentity UpdateID="56309036-4c77-4dd9-951a-99ee9c246a94" RevisionNumber="1"/><Properties/></Update>"#;
        assert!(matches!(
            parse_update(no_type),
            Err(UpdateXmlError::BadField { .. })
        ));
    }

    /// Every real document in the fixtures (and the synthetic kinds) reads to the same record
    /// whether the parts a record does not need are built or read past.
    #[test]
    fn pruned_reading_gives_the_full_trees_record() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream");
        let mut read = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let full = record_from(xml::parse(&text).unwrap()).unwrap();
            assert_eq!(parse_update(&text).unwrap(), full, "{}", path.display());
            read += 1;
        }
        assert!(read >= 6, "fixtures read: {read}");
    }

    /// What is read past is still checked: a bad entity, a DOCTYPE, an unclosed element or a
    /// repeated attribute inside the applicability rules refuse the document as before.
    #[test]
    fn pruned_parts_are_still_checked() {
        let with_rules = |rules: &str| {
            format!(
                r#"<Update><UpdateIdentity UpdateID="56309036-4c77-4dd9-951a-99ee9c246a94" RevisionNumber="1"/><Properties UpdateType="Software"/><ApplicabilityRules>{rules}</ApplicabilityRules></Update>"#
            )
        };
        assert!(parse_update(&with_rules("<IsInstalled><b:True/></IsInstalled>")).is_ok());
        for bad in [
            "<IsInstalled>&bogus;</IsInstalled>",
            "<IsInstalled><x></IsInstalled>",
            r#"<IsInstalled a="1" a="2"/>"#,
            r#"<IsInstalled a="&bogus;"/>"#,
        ] {
            assert!(parse_update(&with_rules(bad)).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(200) + &"</a>".repeat(200);
        assert!(matches!(
            parse_update(&with_rules(&deep)),
            Err(UpdateXmlError::Xml(XmlError::TooDeep(_)))
        ));
    }
}
