//! What the engine needs to know about an update, and how those facts read as Patch Manager
//! properties under one baseline (docs/baselines.md §2.3): KB and bulletin ids, products through the
//! alias table, classifications by GUID, MSRC severity, `PATCH_SET`, release date. Pure.

use super::document::ProxyExtensions;
use super::validate::alias_key;
use super::vocabulary;
use crate::model::{UpdateIdentity, UpdateRecord};
use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

/// A WSUS category an update belongs to: its GUID where known and its title (or, for tests
/// and hand-made facts, an AWS name such as `WindowsServer2022` or `SecurityUpdates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub(crate) id: Option<Uuid>,
    pub(crate) title: String,
}

impl Category {
    pub(crate) fn new(id: Uuid, title: &str) -> Category {
        Category {
            id: Some(id),
            title: title.to_string(),
        }
    }

    /// A category known by name only.
    pub fn named(title: &str) -> Category {
        Category {
            id: None,
            title: title.to_string(),
        }
    }
}

/// One update as the catalog knows it, with the catalog context the record alone lacks
/// (category titles, product families, which live updates supersede it).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateFacts {
    pub(crate) update_id: Uuid,
    pub(crate) revision: u32,
    pub(crate) title: String,
    /// `KBArticleID`, with or without the `KB` prefix.
    pub kb: Option<String>,
    /// `SecurityBulletinID`, e.g. `MS17-010`.
    pub bulletin: Option<String>,
    /// WSUS `Product` categories (or AWS `PRODUCT` names).
    pub products: Vec<Category>,
    /// Titles of the products' `ProductFamily` categories (`Windows`, `Office`, …); they decide
    /// `PATCH_SET`.
    pub product_families: Vec<String>,
    /// `UpdateClassification` categories, matched by GUID first (titles are localised).
    pub classifications: Vec<Category>,
    /// `MsrcSeverity`; absent reads as `Unspecified`.
    pub msrc_severity: Option<String>,
    /// `CreationDate` of the latest revision: Patch Manager's "released or last updated".
    pub release_date: DateTime<Utc>,
    /// `PublicationState = Expired`.
    pub expired: bool,
    /// Updates that supersede this one. Expired ones are ignored; their own `superseded_by`
    /// is never consulted (successors are judged without their supersedence), so callers
    /// may leave it empty.
    pub superseded_by: Vec<std::sync::Arc<UpdateFacts>>,
}

/// A catalog record that cannot be turned into facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    /// The record's `CreationDate` is not an RFC 3339 UTC time.
    #[error("update {update}: CreationDate {text:?} is not an RFC 3339 UTC time")]
    CreationDate {
        /// The revision.
        update: UpdateIdentity,
        /// The text as stored.
        text: String,
    },
}

impl UpdateFacts {
    /// Facts with only an id and a release date; the rest empty (not superseded, not expired).
    pub fn new(update_id: Uuid, release_date: DateTime<Utc>) -> UpdateFacts {
        UpdateFacts {
            update_id,
            revision: 0,
            title: String::new(),
            kb: None,
            bulletin: None,
            products: Vec::new(),
            product_families: Vec::new(),
            classifications: Vec::new(),
            msrc_severity: None,
            release_date,
            expired: false,
            superseded_by: Vec::new(),
        }
    }

    /// The facts a record carries; `title_of` names category GUIDs. Product families and
    /// `superseded_by` need the whole catalog and are left for the caller to fill. A record
    /// without a `CreationDate` is dated 1970-01-01, as Patch Manager dates such patches.
    pub fn from_record(
        record: &UpdateRecord,
        title_of: impl Fn(&Uuid) -> Option<String>,
    ) -> Result<UpdateFacts, FactsError> {
        let categories = |ids: &[Uuid]| -> Vec<Category> {
            let title = |id: &Uuid| title_of(id).unwrap_or_default();
            ids.iter().map(|id| Category::new(*id, &title(id))).collect()
        };
        let release_date =
            parse_release_date(&record.creation_date).ok_or_else(|| FactsError::CreationDate {
                update: record.identity,
                text: record.creation_date.to_string(),
            })?;
        Ok(UpdateFacts {
            revision: record.identity.revision,
            title: record.title.to_string(),
            kb: record.kb.as_deref().map(String::from),
            bulletin: record.security_bulletin.as_deref().map(String::from),
            products: categories(&record.products),
            classifications: categories(&record.classifications),
            msrc_severity: record.msrc_severity.as_deref().map(String::from),
            expired: record.is_expired(),
            ..UpdateFacts::new(record.identity.update_id, release_date)
        })
    }

    /// The update's id.
    pub fn update_id(&self) -> Uuid {
        self.update_id
    }

    /// `KB<digits>`, Patch Manager's `KbNumber`.
    pub fn kb_number(&self) -> Option<String> {
        let kb = self.kb.as_deref()?.trim();
        let digits = strip_prefix_ignore_case(kb, "KB").unwrap_or(kb);
        (!digits.is_empty()).then(|| format!("KB{digits}"))
    }

    /// How reports and reasons name the update: its KB, else its id.
    pub fn label(&self) -> String {
        self.kb_number().unwrap_or_else(|| self.update_id.to_string())
    }

    /// How a message names this update beside `other` (its successor, say): by label, unless
    /// both labels are the same (every definition update carries KB2267602) — then by label
    /// and title, or by label and id when the titles are the same too.
    pub(crate) fn label_beside(&self, other: &UpdateFacts) -> String {
        let label = self.label();
        if label != other.label() {
            label
        } else if !self.title.is_empty() && self.title != other.title {
            format!("{label} {:?}", self.title)
        } else if label == self.update_id.to_string() {
            label
        } else {
            format!("{label} ({})", self.update_id)
        }
    }

    /// Superseding updates that are not expired.
    pub(crate) fn live_successors(&self) -> impl Iterator<Item = &UpdateFacts> {
        self.superseded_by
            .iter()
            .map(|successor| &**successor)
            .filter(|successor| !successor.expired)
    }
}

/// `CreationDate` text → UTC time; empty → the Unix epoch.
fn parse_release_date(text: &str) -> Option<DateTime<Utc>> {
    if text.trim().is_empty() {
        return Some(DateTime::UNIX_EPOCH);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// An update's Patch Manager properties under one baseline's aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchProperties {
    pub(crate) patch_set: &'static str,
    pub(crate) products: Vec<String>,
    pub(crate) product_families: Vec<String>,
    pub(crate) classifications: Vec<String>,
    pub(crate) msrc_severity: String,
    pub(crate) kb_number: Option<String>,
}

impl PatchProperties {
    /// Reads `update` with `extensions.product_aliases` ahead of the built-in alias table.
    pub fn of(update: &UpdateFacts, extensions: &ProxyExtensions) -> PatchProperties {
        let products: Vec<String> = update
            .products
            .iter()
            .map(|product| aws_product(product, extensions))
            .collect();
        let is_os = update
            .product_families
            .iter()
            .any(|family| family.eq_ignore_ascii_case(vocabulary::WINDOWS_FAMILY))
            || products.iter().any(|product| vocabulary::is_os_product(product));
        let severity = update.msrc_severity.as_deref().filter(|s| !s.trim().is_empty());
        PatchProperties {
            patch_set: if is_os { "OS" } else { "APPLICATION" },
            products,
            product_families: update.product_families.clone(),
            classifications: update.classifications.iter().map(aws_classification).collect(),
            msrc_severity: severity.unwrap_or(vocabulary::UNSPECIFIED_SEVERITY).to_string(),
            kb_number: update.kb_number(),
        }
    }
}

/// Configured alias (by GUID, then title), built-in alias, else the title unchanged
/// (application products keep their catalogue title).
fn aws_product(product: &Category, extensions: &ProxyExtensions) -> String {
    let aliases = &extensions.product_aliases;
    let configured = product
        .id
        .and_then(|id| aliases.get(&alias_key(&id.to_string())))
        .or_else(|| aliases.get(&alias_key(&product.title)));
    match configured {
        Some(aws) => aws.clone(),
        None => vocabulary::builtin_product_alias(product.id.as_ref(), &product.title)
            .map_or_else(|| product.title.clone(), str::to_string),
    }
}

/// The AWS `CLASSIFICATION` value by GUID, else by title, else the title unchanged.
fn aws_classification(classification: &Category) -> String {
    let known = classification
        .id
        .as_ref()
        .and_then(vocabulary::classification_by_id)
        .or_else(|| vocabulary::classification_by_name(&classification.title));
    known.map_or_else(|| classification.title.clone(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PublicationState, UpdateType};

    fn record() -> UpdateRecord {
        let identity = UpdateIdentity {
            update_id: Uuid::from_u128(1),
            revision: 3,
        };
        let mut record = UpdateRecord::new(identity, UpdateType::Software);
        record.kb = Some("5034441".into());
        record.creation_date = "2025-11-18T00:00:00.123Z".into();
        record.products = vec![Uuid::from_u128(0x71718f13_7324_4b0f_8f9e_2ca9dc978e53)].into();
        record.classifications = vec![Uuid::from_u128(0x0fa1201d_4330_4fa8_8ae9_b877473b6441)].into();
        record
    }

    #[test]
    fn a_record_reads_as_aws_properties_through_guids() {
        let facts = UpdateFacts::from_record(&record(), |_| None).unwrap();
        let properties = PatchProperties::of(&facts, &ProxyExtensions::default());
        assert_eq!(properties.products, ["WindowsServer2022"]);
        assert_eq!(properties.classifications, ["SecurityUpdates"]);
        assert_eq!(properties.patch_set, "OS");
        assert_eq!(properties.msrc_severity, "Unspecified");
        assert_eq!(properties.kb_number.as_deref(), Some("KB5034441"));
        assert_eq!(facts.release_date.to_rfc3339(), "2025-11-18T00:00:00.123+00:00");
    }

    #[test]
    fn a_record_without_creation_date_is_dated_1970_and_a_garbled_one_is_an_error() {
        let mut record = record();
        record.creation_date = Box::default();
        let facts = UpdateFacts::from_record(&record, |_| None).unwrap();
        assert_eq!(facts.release_date, DateTime::UNIX_EPOCH);
        record.creation_date = "Nov 18".into();
        assert!(UpdateFacts::from_record(&record, |_| None).is_err());
    }

    #[test]
    fn expired_records_are_expired_facts() {
        let mut record = record();
        record.publication_state = PublicationState::Expired;
        assert!(UpdateFacts::from_record(&record, |_| None).unwrap().expired);
    }

    #[test]
    fn configured_aliases_win_over_the_built_in_table_by_guid_or_title() {
        let mut extensions = ProxyExtensions::default();
        extensions.product_aliases.insert(
            alias_key("71718F13-7324-4B0F-8F9E-2CA9DC978E53"),
            "Custom2022".into(),
        );
        extensions
            .product_aliases
            .insert(alias_key("Windows Server 2019"), "Custom2019".into());
        let guid = Uuid::from_u128(0x71718f13_7324_4b0f_8f9e_2ca9dc978e53);
        assert_eq!(aws_product(&Category::new(guid, ""), &extensions), "Custom2022");
        assert_eq!(
            aws_product(&Category::named("windows server 2019"), &extensions),
            "Custom2019"
        );
        assert_eq!(
            aws_product(&Category::named("Office 2016"), &extensions),
            "Office 2016"
        );
    }

    #[test]
    fn application_products_are_the_application_patch_set() {
        let mut facts = UpdateFacts::new(Uuid::nil(), DateTime::UNIX_EPOCH);
        facts.products = vec![Category::named("Office 2016")];
        facts.product_families = vec!["Office".into()];
        assert_eq!(
            PatchProperties::of(&facts, &ProxyExtensions::default()).patch_set,
            "APPLICATION"
        );
        facts.product_families = vec!["Windows".into()];
        assert_eq!(
            PatchProperties::of(&facts, &ProxyExtensions::default()).patch_set,
            "OS"
        );
    }
}
