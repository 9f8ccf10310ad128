//! The scenarios: a synthetic catalog size and, for (c), a baseline file approving about
//! 2,000 top-level updates. The approval is one date, chosen from the synthetic catalog's own
//! facts (the ground truth): Patch Manager's `ApproveUntilDate` rules (one for the OS patch
//! set, one for applications) approve every update released up to that day, and the defaults
//! do the rest — superseded updates excluded, the others sent detect-only
//! (`report_unapproved`). `ApprovedPatches` cannot list 2,000 KBs (AWS caps it at 50).

use std::collections::{HashMap, HashSet};
use uuid::Uuid;
use wucache_testkit::synth::{SynthCatalog, SynthDoc, SynthKind};

/// One scenario.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) what: &'static str,
    /// Software update documents generated.
    pub(crate) updates: usize,
    /// Top-level updates the baseline file approves; `None`: no baseline file (all approved).
    pub(crate) approved: Option<usize>,
    /// First arrival rate of the step search, sessions per second.
    pub(crate) start_rate: f64,
    /// Seconds of arrivals per step (long enough for a few sessions at the rates searched).
    pub(crate) step_seconds: f64,
}

/// The scenarios by name: `a`, `b`, `c`, `d`, and `quick` (a small catalog for a smoke run).
pub(crate) fn by_name(name: &str) -> Option<Scenario> {
    let scenario = match name {
        "a" => Scenario {
            name: "a",
            what: "3,000 updates, no baseline file (everything approved)",
            updates: 3_000,
            approved: None,
            start_rate: 1.0,
            step_seconds: 15.0,
        },
        "b" => Scenario {
            name: "b",
            what: "~50k revisions (49,950 updates), no baseline file (everything approved)",
            updates: 49_950,
            approved: None,
            start_rate: 0.05,
            step_seconds: 60.0,
        },
        "c" => Scenario {
            name: "c",
            what:
                "~50k revisions, baseline approving ~2,000 top-level updates, the rest default (detect-only)",
            updates: 49_950,
            approved: Some(2_000),
            start_rate: 0.2,
            step_seconds: 30.0,
        },
        "d" => Scenario {
            name: "d",
            what: "~108k revisions (107,950 updates), no baseline file: memory after one client's full scan",
            updates: 107_950,
            approved: None,
            start_rate: 0.05,
            step_seconds: 60.0,
        },
        "quick" => Scenario {
            name: "quick",
            what: "smoke run: 400 updates, baseline approving ~100",
            updates: 400,
            approved: Some(100),
            start_rate: 2.0,
            step_seconds: 3.0,
        },
        _ => return None,
    };
    Some(scenario)
}

/// The baseline file of a scenario that has one, and the day it approves up to.
pub(crate) fn baseline(catalog: &SynthCatalog, approved: usize) -> (String, String) {
    let day = until_day(catalog, approved);
    let text = format!(
        r#"# Load generator: every update released up to {day} approved (about {approved} top-level
# updates of the synthetic catalog, seed 2026); everything else left to the defaults.
schema_version = 1
default_baseline = "loadgen"

[[baseline]]
id = "loadgen"
Name = "loadgen-until-{day}"
OperatingSystem = "WINDOWS"

[[baseline.ApprovalRules.PatchRules]]
ApproveUntilDate = "{day}"
PatchFilterGroup = {{ PatchFilters = [{{ Key = "PATCH_SET", Values = ["OS"] }}] }}

[[baseline.ApprovalRules.PatchRules]]
ApproveUntilDate = "{day}"
PatchFilterGroup = {{ PatchFilters = [
  {{ Key = "PATCH_SET", Values = ["APPLICATION"] }},
  {{ Key = "PRODUCT", Values = ["*"] }},
] }}
"#
    );
    (text, day)
}

/// The release day (UTC) of the `approved`-th top-level update that the defaults would offer
/// at all: newest revision, not expired, not superseded by a non-expired update.
fn until_day(catalog: &SynthCatalog, approved: usize) -> String {
    let members: HashSet<Uuid> = catalog
        .docs
        .iter()
        .flat_map(|d| d.bundled.iter().copied())
        .collect();
    let superseded: HashSet<Uuid> = catalog
        .docs
        .iter()
        .filter(|d| !d.expired)
        .flat_map(|d| d.superseded.iter().copied())
        .collect();
    let mut newest: HashMap<Uuid, &SynthDoc> = HashMap::new();
    for doc in &catalog.docs {
        let top =
            matches!(doc.kind, SynthKind::Software | SynthKind::Bundle) && !members.contains(&doc.update_id);
        let known = newest.entry(doc.update_id).or_insert(doc);
        if top && known.revision < doc.revision {
            *known = doc;
        }
        if !top {
            newest.remove(&doc.update_id);
        }
    }
    let mut days: Vec<String> = newest
        .values()
        .filter(|d| !d.expired && !superseded.contains(&d.update_id))
        .filter_map(|d| creation_day(&d.xml))
        .collect();
    days.sort_unstable();
    days.get(approved.saturating_sub(1).min(days.len().saturating_sub(1)))
        .cloned()
        .unwrap_or_else(|| "2018-01-01".into())
}

/// `YYYY-MM-DD` of the document's `CreationDate`.
fn creation_day(xml: &str) -> Option<String> {
    let start = xml.find("CreationDate=\"")? + "CreationDate=\"".len();
    xml.get(start..start + 10).map(str::to_owned)
}
