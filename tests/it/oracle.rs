//! Ground truth for approvals: which synthetic payloads an approved update uses, computed from
//! the synthetic catalog's own facts and the baseline file the test writes — never from
//! wucache's snapshot, store or API.
//!
//! The baseline ([`BASELINE_TOML`]) approves, the day they are released, the updates of
//! [`APPROVED_CLASSIFICATIONS`] in both patch sets, and excludes (the default
//! `SupersededHandling`) any update a live update supersedes. So a top-level update is
//! approved when it is not expired, its classification is one of those, and no unexpired
//! top-level update lists it in `SupersededUpdates`; a bundle's files are its members' files.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use uuid::Uuid;
use wucache_testkit::synth::{SynthCatalog, SynthDoc, SynthFile, SynthKind, CLASSIFICATIONS};

/// Classification titles (as in `synth::CLASSIFICATIONS`) the baseline approves.
pub(crate) const APPROVED_CLASSIFICATIONS: [&str; 4] = [
    "Security Updates",
    "Critical Updates",
    "Update Rollups",
    "Definition Updates",
];

/// The baseline file: one default baseline, one rule over both patch sets, no delay.
pub(crate) const BASELINE_TOML: &str = r#"schema_version = 1
default_baseline = "test-approvals"

[[baseline]]
id = "test-approvals"
Name = "test-approvals"
OperatingSystem = "WINDOWS"

[[baseline.ApprovalRules.PatchRules]]
ApproveAfterDays = 0
PatchFilterGroup = { PatchFilters = [
  { Key = "PATCH_SET", Values = ["OS", "APPLICATION"] },
  { Key = "CLASSIFICATION", Values = ["SecurityUpdates", "CriticalUpdates", "UpdateRollups", "DefinitionUpdates"] },
] }
"#;

/// Writes [`BASELINE_TOML`] into `dir` and returns its path, for `[baselines] file`.
pub(crate) fn write_baseline(dir: &Path) -> PathBuf {
    let path = dir.join("test-baselines.toml");
    std::fs::write(&path, BASELINE_TOML).unwrap();
    path
}

/// The files of approved updates, each once, in catalog order.
pub(crate) fn approved_files(catalog: &SynthCatalog) -> Vec<SynthFile> {
    let approved = approved_digests(catalog);
    unique_files(catalog, |file| approved.contains(&file.sha1))
}

/// The files no approved update uses, each once, in catalog order.
pub(crate) fn unapproved_files(catalog: &SynthCatalog) -> Vec<SynthFile> {
    let approved = approved_digests(catalog);
    unique_files(catalog, |file| !approved.contains(&file.sha1))
}

fn unique_files(catalog: &SynthCatalog, keep: impl Fn(&SynthFile) -> bool) -> Vec<SynthFile> {
    let mut seen = HashSet::new();
    catalog
        .files()
        .filter(|file| keep(file) && seen.insert(file.sha1))
        .cloned()
        .collect()
}

/// SHA-1s of the files approved updates use: standalone leaves' own, bundles' members'.
fn approved_digests(catalog: &SynthCatalog) -> HashSet<[u8; 20]> {
    let latest = latest_revisions(catalog);
    let top_level = top_level(&latest);
    let superseded: HashSet<Uuid> = top_level
        .iter()
        .filter(|doc| !doc.expired)
        .flat_map(|doc| doc.superseded.iter().copied())
        .collect();
    let approved_classes: Vec<Uuid> = CLASSIFICATIONS
        .iter()
        .filter(|(_, title)| APPROVED_CLASSIFICATIONS.contains(title))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(approved_classes.len(), APPROVED_CLASSIFICATIONS.len());
    top_level
        .iter()
        .filter(|doc| !doc.expired && !superseded.contains(&doc.update_id))
        .filter(|doc| doc.classifications.iter().any(|c| approved_classes.contains(c)))
        .flat_map(|doc| files_of(doc, &latest))
        .map(|file| file.sha1)
        .collect()
}

/// The newest revision of every update.
fn latest_revisions(catalog: &SynthCatalog) -> HashMap<Uuid, &SynthDoc> {
    let mut latest: HashMap<Uuid, &SynthDoc> = HashMap::new();
    for doc in &catalog.docs {
        let entry = latest.entry(doc.update_id).or_insert(doc);
        if doc.revision > entry.revision {
            *entry = doc;
        }
    }
    latest
}

/// Software updates and bundles no bundle contains.
fn top_level<'a>(latest: &HashMap<Uuid, &'a SynthDoc>) -> Vec<&'a SynthDoc> {
    let members: HashSet<Uuid> = latest.values().flat_map(|d| d.bundled.iter().copied()).collect();
    latest
        .values()
        .filter(|doc| matches!(doc.kind, SynthKind::Software | SynthKind::Bundle))
        .filter(|doc| !members.contains(&doc.update_id))
        .copied()
        .collect()
}

fn files_of<'a>(doc: &'a SynthDoc, latest: &HashMap<Uuid, &'a SynthDoc>) -> Vec<&'a SynthFile> {
    let members = doc.bundled.iter().filter_map(|id| latest.get(id));
    doc.files
        .iter()
        .chain(members.flat_map(|member| member.files.iter()))
        .collect()
}

#[test]
fn the_oracle_splits_a_catalog_into_approved_and_unapproved_files() {
    let catalog = crate::harness::synthetic(75, 120);
    let (approved, unapproved) = (approved_files(&catalog), unapproved_files(&catalog));
    let all: HashSet<[u8; 20]> = catalog.files().map(|f| f.sha1).collect();
    assert_eq!(approved.len() + unapproved.len(), all.len());
    // Every reason to leave an update out occurs in this catalog: expiry, classification,
    // supersedence; and bundles bring their members' files.
    let latest = latest_revisions(&catalog);
    let tops = top_level(&latest);
    let approved: HashSet<[u8; 20]> = approved.iter().map(|f| f.sha1).collect();
    let is_approved = |doc: &SynthDoc| files_of(doc, &latest).iter().any(|f| approved.contains(&f.sha1));
    let superseded: HashSet<Uuid> = tops
        .iter()
        .filter(|d| !d.expired)
        .flat_map(|d| d.superseded.iter().copied())
        .collect();
    let count = |f: &dyn Fn(&SynthDoc) -> bool| tops.iter().filter(|d| f(d)).count();
    assert!(count(&|d| d.expired && !is_approved(d)) > 0);
    assert!(count(&|d| superseded.contains(&d.update_id) && !is_approved(d)) > 0);
    assert!(count(&|d| !d.expired && !superseded.contains(&d.update_id) && !is_approved(d)) > 0);
    assert!(count(&|d| d.kind == SynthKind::Bundle && is_approved(d)) > 0);
    assert!(count(&|d| d.kind == SynthKind::Software && is_approved(d)) > 0);
}
