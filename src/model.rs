//! Plain data the rest of the crate speaks: update identities, the indexed view of an update
//! revision, files and digests (and the "did you mean" comparison of names). No I/O and no
//! dependencies on other modules.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One revision of one update, as the upstream names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UpdateIdentity {
    /// `UpdateID`: the update, across all its revisions.
    pub update_id: Uuid,
    /// `RevisionNumber`: the revision of that update.
    pub revision: u32,
}

impl std::fmt::Display for UpdateIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.update_id, self.revision)
    }
}

/// `Properties/@UpdateType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UpdateType {
    /// An installable software update (or a bundle of them).
    Software,
    /// A driver.
    Driver,
    /// A category: company, product family, product or classification.
    Category,
    /// A detectoid: only an `IsInstalled` rule other updates can require.
    Detectoid,
}

impl UpdateType {
    pub(crate) fn parse(text: &str) -> Option<UpdateType> {
        match text {
            "Software" => Some(UpdateType::Software),
            "Driver" => Some(UpdateType::Driver),
            "Category" => Some(UpdateType::Category),
            "Detectoid" => Some(UpdateType::Detectoid),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UpdateType::Software => "Software",
            UpdateType::Driver => "Driver",
            UpdateType::Category => "Category",
            UpdateType::Detectoid => "Detectoid",
        }
    }

    /// Categories, classifications and detectoids come from the `GetConfig=true` phase.
    pub fn is_config(self) -> bool {
        matches!(self, UpdateType::Category | UpdateType::Detectoid)
    }
}

/// `cat:CategoryInformation/@CategoryType` of a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CategoryType {
    /// A company, the root of a category chain (e.g. Microsoft).
    Company,
    /// A product family (e.g. Windows).
    ProductFamily,
    /// A product (e.g. Windows 11).
    Product,
    /// A classification (e.g. Security Updates).
    UpdateClassification,
    /// Any other category type.
    Other,
}

impl CategoryType {
    pub(crate) fn parse(text: &str) -> CategoryType {
        match text {
            "Company" => CategoryType::Company,
            "ProductFamily" => CategoryType::ProductFamily,
            "Product" => CategoryType::Product,
            "UpdateClassification" => CategoryType::UpdateClassification,
            _ => CategoryType::Other,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CategoryType::Company => "Company",
            CategoryType::ProductFamily => "ProductFamily",
            CategoryType::Product => "Product",
            CategoryType::UpdateClassification => "UpdateClassification",
            CategoryType::Other => "Other",
        }
    }
}

/// `Properties/@PublicationState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PublicationState {
    /// Published: offered normally (also when the attribute is absent).
    Published,
    /// Expired: withdrawn by Microsoft; never offered.
    Expired,
    /// Any other state.
    Other,
}

impl PublicationState {
    pub(crate) fn parse(text: &str) -> PublicationState {
        match text {
            "Published" | "" => PublicationState::Published,
            "Expired" => PublicationState::Expired,
            _ => PublicationState::Other,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PublicationState::Published => "Published",
            PublicationState::Expired => "Expired",
            PublicationState::Other => "Other",
        }
    }
}

/// One prerequisite clause: every listed id (`Required`) or at least one (`AtLeastOne`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prerequisite {
    /// A bare `UpdateIdentity`: this update must be installed.
    Required(Uuid),
    /// An `AtLeastOne` clause: one of these updates must be.
    AtLeastOne {
        /// The alternatives.
        ids: Vec<Uuid>,
        /// `IsCategory="true"`: the clause names the update's products or classifications.
        is_category: bool,
    },
}

/// A payload file named by an update document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// The SHA-1 digest (`File/@Digest`); the cache's key.
    pub sha1: [u8; 20],
    /// The SHA-256 digest (`AdditionalDigest Algorithm="SHA256"`), when the document has one.
    pub sha256: Option<[u8; 32]>,
    pub(crate) name: Box<str>,
    pub(crate) size: u64,
    /// Where the upstream says the bytes live (`MUUrl`); empty until the upstream names it.
    pub url: Box<str>,
    pub(crate) modified: Box<str>,
    pub(crate) patching_type: Option<Box<str>>,
}

impl FileRef {
    /// The extension of its WSUS content path: the file name's, lower-cased, else `cab`.
    pub fn content_extension(&self) -> String {
        content_extension(&self.name)
    }
}

/// The extension of a payload's WSUS content path for its file name: lower-cased, else `cab`.
pub fn content_extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "cab".into())
}

/// The indexed view of one stored revision: everything the catalog answers without reading
/// the full XML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRecord {
    /// `UpdateID` and `RevisionNumber` of the revision.
    pub identity: UpdateIdentity,
    /// Server-local revision id: int32, persistent, never reused.
    pub local_id: i32,
    /// `Properties/@UpdateType`: software, driver, category or detectoid.
    pub update_type: UpdateType,
    pub(crate) category_type: Option<CategoryType>,
    /// The English title, else the first one; empty when the document has none.
    pub title: Box<str>,
    /// Product categories, from `IsCategory` prerequisite clauses (or inherited from a bundle).
    pub products: Box<[Uuid]>,
    /// Classification categories, from the same clauses.
    pub classifications: Box<[Uuid]>,
    pub(crate) prerequisites: Box<[Prerequisite]>,
    /// Bundled members, with the revision the bundle names.
    pub bundled: Box<[UpdateIdentity]>,
    pub(crate) superseded: Box<[Uuid]>,
    pub(crate) msrc_severity: Option<Box<str>>,
    /// `KBArticleID` as written (digits, without `KB`).
    pub kb: Option<Box<str>>,
    pub(crate) security_bulletin: Option<Box<str>>,
    pub(crate) creation_date: Box<str>,
    pub(crate) publication_state: PublicationState,
    /// The payload files (`Files/File`).
    pub files: Box<[FileRef]>,
    pub(crate) eula_id: Option<Box<str>>,
}

impl UpdateRecord {
    /// A record with only its identity and type set, everything else empty.
    pub fn new(identity: UpdateIdentity, update_type: UpdateType) -> UpdateRecord {
        UpdateRecord {
            identity,
            local_id: 0,
            update_type,
            category_type: None,
            title: Box::default(),
            products: Box::default(),
            classifications: Box::default(),
            prerequisites: Box::default(),
            bundled: Box::default(),
            superseded: Box::default(),
            msrc_severity: None,
            kb: None,
            security_bulletin: None,
            creation_date: Box::default(),
            publication_state: PublicationState::Published,
            files: Box::default(),
            eula_id: None,
        }
    }

    /// `PublicationState` is `Expired`.
    pub fn is_expired(&self) -> bool {
        self.publication_state == PublicationState::Expired
    }

    /// Category ids named by `AtLeastOne` clauses, `IsCategory` ones first.
    pub fn category_clause_ids(&self, is_category: bool) -> impl Iterator<Item = Uuid> + '_ {
        self.prerequisites
            .iter()
            .flat_map(move |clause| match clause {
                Prerequisite::AtLeastOne { ids, is_category: c } if *c == is_category => ids.as_slice(),
                _ => &[],
            })
            .copied()
    }
}

/// The `limit` candidates closest to `name`, closest first, at least `min_similarity` alike
/// (0–1): compared without case, spaces or punctuation, so `Windows Server 2022` sits next to
/// `WindowsServer2022` and `approveafterday` next to `ApproveAfterDays`. For "did you mean".
pub(crate) fn closest_names<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    limit: usize,
    min_similarity: f64,
) -> Vec<String> {
    let plain = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = plain(name);
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|candidate| {
            (
                strsim::normalized_levenshtein(&wanted, &plain(candidate)),
                candidate,
            )
        })
        .filter(|(score, _)| *score >= min_similarity)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut names: Vec<String> = Vec::new();
    for (_, candidate) in scored {
        if names.len() == limit {
            break;
        }
        if !names.iter().any(|known| known == candidate) {
            names.push(candidate.to_string());
        }
    }
    names
}

/// Lower-case hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    hex_with(bytes, b"0123456789abcdef")
}

/// Upper-case hex of a byte string: how WSUS spells a digest in content URLs and ETags, and
/// how the cache names payload files and reports digests.
pub(crate) fn upper_hex(bytes: &[u8]) -> String {
    hex_with(bytes, b"0123456789ABCDEF")
}

/// Two digits a byte, high nibble first, from `digits`.
fn hex_with(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(digits[usize::from(byte >> 4)]));
        out.push(char::from(digits[usize::from(byte & 0x0f)]));
    }
    out
}

/// The classification GUIDs Microsoft publishes (docs/protocol.md §9), by title.
pub const CLASSIFICATIONS: &[(&str, &str)] = &[
    ("Applications", "5c9376ab-8ce6-464a-b136-22113dd69801"),
    ("Connectors", "434de588-ed14-48f5-8eed-a15e09a991f6"),
    ("Critical Updates", "e6cf1350-c01b-414d-a61f-263d14d133b4"),
    ("Definition Updates", "e0789628-ce08-4437-be74-2495b842f43b"),
    ("Developer Kits", "e140075d-8433-45c3-ad87-e72345b36078"),
    ("Drivers", "ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0"),
    ("Feature Packs", "b54e7d24-7add-428f-8b75-90a396fa584f"),
    ("Guidance", "9511d615-35b2-47bb-927f-f73d8e9260bb"),
    ("Security Updates", "0fa1201d-4330-4fa8-8ae9-b877473b6441"),
    ("Service Packs", "68c5b0a3-d1a6-4553-ae49-01d3a7827828"),
    ("Tools", "b4832bd8-e735-4761-8daf-37f882276dab"),
    ("Update Rollups", "28bc880e-0592-4cbf-8f95-c79b17911d5f"),
    ("Updates", "cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83"),
    ("Upgrades", "3689bdc8-b205-4af4-8d4a-a63924c5e9d5"),
];

/// The GUID of a classification named by its title (case-insensitive).
pub fn classification_by_title(title: &str) -> Option<Uuid> {
    CLASSIFICATIONS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(title))
        .and_then(|(_, id)| Uuid::parse_str(id).ok())
}

/// True for one of the classification GUIDs Microsoft publishes.
pub fn is_known_classification(id: &Uuid) -> bool {
    CLASSIFICATIONS
        .iter()
        .any(|(_, text)| Uuid::parse_str(text).is_ok_and(|known| known == *id))
}

/// What a client is told to do with an update (MS-WUSP `Deployment/Action`); planning
/// decides it, the wire format only spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeploymentAction {
    /// Install the update, on the client's schedule.
    Install,
    /// Offer it without installing it automatically.
    OptionalInstall,
    /// Remove it.
    Uninstall,
    /// Evaluate and report it, never offer it (detect-only).
    PreDeploymentCheck,
    /// Block it: sent as `PreDeploymentCheck` or not at all.
    Block,
    /// Only a dependency: evaluated, not reported.
    #[default]
    Evaluate,
    /// A member of a deployed bundle.
    Bundle,
}

impl DeploymentAction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeploymentAction::Install => "Install",
            DeploymentAction::OptionalInstall => "OptionalInstall",
            DeploymentAction::Uninstall => "Uninstall",
            DeploymentAction::PreDeploymentCheck => "PreDeploymentCheck",
            DeploymentAction::Block => "Block",
            DeploymentAction::Evaluate => "Evaluate",
            DeploymentAction::Bundle => "Bundle",
        }
    }

    /// Every action, in the WSDL's order.
    pub(crate) const ALL: [DeploymentAction; 7] = [
        DeploymentAction::Install,
        DeploymentAction::OptionalInstall,
        DeploymentAction::Uninstall,
        DeploymentAction::PreDeploymentCheck,
        DeploymentAction::Block,
        DeploymentAction::Evaluate,
        DeploymentAction::Bundle,
    ];

    pub(crate) fn parse(text: &str) -> Option<DeploymentAction> {
        DeploymentAction::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_titles_resolve_case_insensitively() {
        let id = classification_by_title("security updates").unwrap();
        assert_eq!(id.to_string(), "0fa1201d-4330-4fa8-8ae9-b877473b6441");
        assert!(classification_by_title("Nope").is_none());
    }

    #[test]
    fn hex_is_lower_case_two_digits() {
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
    }
}
