//! What an export carries, decided as the server decides what it serves (pure):
//!
//! - `--group NAME`: the baseline the patch group resolves to (an unregistered group gets the
//!   default baseline, as its machines would); `--baseline ID`: that baseline. The documents
//!   are the baseline's planned scope — top-level updates offered for install or detect-only,
//!   members of bundles in scope, everything their prerequisites reach — plus every category,
//!   classification and detectoid (small, and a client needs them to evaluate
//!   prerequisites). Expired and excluded-superseded updates are left out exactly when the
//!   group is not sent them. The payloads are those of updates offered for install and of
//!   their bundles' members (what `prefetch` downloads for the baseline).
//! - `--all`: every update's newest revision; the payloads every baseline in use approves
//!   (the default one and the patch groups'), what `wucache prefetch` downloads.
//!
//! Without a baseline file every update that is not expired is approved (as `serve` does);
//! `--baseline` then has nothing to name and is refused. Uses `approval`, `plan` and the
//! payload selection of `snapshot`.

use super::manifest::ScopeInfo;
use super::BundleError;
use crate::approval::{Baseline, BaselineSet, CatalogOffers};
use crate::content::PayloadMeta;
use crate::model::{FileRef, UpdateRecord};
use crate::plan::{self, Graph};
use crate::snapshot::{approved_payloads, payload_meta, DEFAULT_GROUP};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::{HashMap, HashSet};

/// What the command line asked to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every update's newest revision.
    All,
    /// What this patch group is offered.
    Group(String),
    /// What this baseline offers.
    Baseline(String),
}

/// The revisions and payloads a bundle is to carry.
#[derive(Debug)]
pub struct Selection {
    /// Newest revisions: categories and detectoids first, then by local id (the order a
    /// sync stores them in).
    pub(crate) documents: Vec<UpdateRecord>,
    pub(crate) payloads: Vec<PayloadMeta>,
    pub(crate) info: ScopeInfo,
    /// Things the operator should know (an unregistered patch group).
    pub warnings: Vec<String>,
}

impl Selection {
    /// The payloads to carry (the export fetches those not cached first).
    pub fn payloads(&self) -> &[PayloadMeta] {
        &self.payloads
    }

    /// How many revisions the bundle carries before `--since` removes any.
    pub fn document_count(&self) -> usize {
        self.documents.len()
    }
}

/// A policy deciding offers: a baseline, or the no-baseline default.
type Policy<'a> = (String, Option<&'a Baseline>);

/// Selects from `records` (the newest revision of every update) what `scope` carries, with
/// `set`'s decisions as of the evaluation epoch of `at`.
pub fn select(
    records: Vec<UpdateRecord>,
    scope: &Scope,
    set: Option<&BaselineSet>,
    at: DateTime<Utc>,
) -> Result<Selection, BundleError> {
    let mut warnings = Vec::new();
    let policies = policies(scope, set, &mut warnings)?;
    let offers = match set {
        Some(set) => CatalogOffers::new(&records, set, at),
        None => CatalogOffers::without_baselines(&records),
    };
    let graph = Graph::build(&records);
    let mut in_scope = vec![false; records.len()];
    let mut approved = Vec::new();
    let mut seen = HashSet::new();
    for (_, baseline) in &policies {
        let offer = |record: &UpdateRecord| match baseline {
            Some(baseline) => offers.offer(baseline, record),
            None => offers.offer_without_baselines(record),
        };
        let planned = plan::plan(&graph, |node| offer(&records[node as usize]));
        for entry in &planned {
            in_scope[entry.node as usize] = true;
        }
        let files = approved_payloads(&records, &graph, &planned);
        approved.extend(files.into_iter().filter(|sha1| seen.insert(*sha1)));
    }
    let info = ScopeInfo {
        kind: match scope {
            Scope::All => "all",
            Scope::Group(_) => "group",
            Scope::Baseline(_) => "baseline",
        }
        .to_string(),
        name: match scope {
            Scope::All => None,
            Scope::Group(name) | Scope::Baseline(name) => Some(name.clone()),
        },
        baselines: policies.into_iter().map(|(id, _)| id).collect(),
        evaluated_at: set
            .map_or(at, |_| offers.epoch())
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    let all = *scope == Scope::All;
    let mut documents: Vec<UpdateRecord> = records
        .into_iter()
        .zip(in_scope)
        .filter(|(record, in_scope)| all || *in_scope || record.update_type.is_config())
        .map(|(record, _)| record)
        .collect();
    documents.sort_by_key(|r| (!r.update_type.is_config(), r.local_id));
    let payloads = payload_metas(&documents, &approved);
    Ok(Selection {
        documents,
        payloads,
        info,
        warnings,
    })
}

/// The policies whose decisions a scope follows.
fn policies<'a>(
    scope: &Scope,
    set: Option<&'a BaselineSet>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Policy<'a>>, BundleError> {
    let Some(set) = set else {
        return match scope {
            Scope::Baseline(id) => Err(BundleError::Scope(format!(
                "--baseline {id}: no baseline file is configured ([baselines] file, or --file)"
            ))),
            _ => Ok(vec![(DEFAULT_GROUP.to_string(), None)]),
        };
    };
    let policy = |baseline: &'a Baseline| (baseline.id.clone(), Some(baseline));
    match scope {
        Scope::All => {
            let mut policies = vec![policy(set.default_baseline())];
            for (_, id) in set.groups().iter() {
                if let Some(baseline) = set.baseline(id) {
                    if !policies.iter().any(|(known, _)| known == id) {
                        policies.push(policy(baseline));
                    }
                }
            }
            Ok(policies)
        }
        Scope::Group(name) => {
            let assignment = set.for_target_group(Some(name));
            if assignment.group.is_none() {
                warnings.push(format!(
                    "patch group `{name}` is not registered in the baseline file: its machines get the default baseline `{}`, and so does this bundle",
                    assignment.baseline.id
                ));
            }
            Ok(vec![policy(assignment.baseline)])
        }
        Scope::Baseline(id) => match set.baseline(id) {
            Some(baseline) => Ok(vec![policy(baseline)]),
            None => Err(BundleError::Scope(format!(
                "--baseline {id}: the baseline file has no such baseline (it has: {})",
                set.baselines()
                    .iter()
                    .map(|b| b.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

/// The approved payloads' metadata, from the selected documents that name them.
fn payload_metas(documents: &[UpdateRecord], approved: &[[u8; 20]]) -> Vec<PayloadMeta> {
    let mut files: HashMap<[u8; 20], &FileRef> = HashMap::new();
    for file in documents.iter().flat_map(|r| &r.files) {
        files.entry(file.sha1).or_insert(file);
    }
    approved
        .iter()
        .filter_map(|sha1| files.get(sha1))
        .map(|file| payload_meta(file))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Prerequisite, UpdateIdentity, UpdateType};
    use uuid::Uuid;

    fn record(n: u128, kind: UpdateType, prerequisites: Vec<Prerequisite>) -> UpdateRecord {
        let identity = UpdateIdentity {
            update_id: Uuid::from_u128(n),
            revision: 1,
        };
        let mut record = UpdateRecord::new(identity, kind);
        record.local_id = n as i32;
        record.prerequisites = prerequisites.into();
        record.files = vec![FileRef {
            sha1: [n as u8; 20],
            sha256: None,
            name: format!("f{n}.cab").into(),
            size: 10,
            url: Box::default(),
            modified: Box::default(),
            patching_type: None,
        }]
        .into();
        record
    }

    #[test]
    fn without_baselines_a_group_carries_the_unexpired_updates_their_prerequisites_and_all_categories() {
        let mut expired = record(4, UpdateType::Software, vec![]);
        expired.publication_state = crate::model::PublicationState::Expired;
        let records = vec![
            record(1, UpdateType::Category, vec![]),
            record(2, UpdateType::Detectoid, vec![]),
            record(
                3,
                UpdateType::Software,
                vec![Prerequisite::Required(Uuid::from_u128(5))],
            ),
            expired,
            record(5, UpdateType::Detectoid, vec![]),
        ];
        let selection = select(records, &Scope::Group("ring".into()), None, Utc::now()).unwrap();
        let ids: Vec<i32> = selection.documents.iter().map(|r| r.local_id).collect();
        assert_eq!(ids, vec![1, 2, 5, 3]);
        let payloads: Vec<u8> = selection.payloads.iter().map(|p| p.sha1[0]).collect();
        assert_eq!(payloads, vec![3]);
        assert_eq!(selection.info.baselines, vec!["default".to_string()]);
    }

    #[test]
    fn all_carries_every_revision_and_a_baseline_needs_a_file() {
        let records = vec![record(1, UpdateType::Software, vec![])];
        let mut expired = record(2, UpdateType::Software, vec![]);
        expired.publication_state = crate::model::PublicationState::Expired;
        let mut all = records.clone();
        all.push(expired);
        let selection = select(all, &Scope::All, None, Utc::now()).unwrap();
        assert_eq!(selection.documents.len(), 2);
        assert_eq!(selection.payloads.len(), 1);
        let refused = select(records, &Scope::Baseline("b".into()), None, Utc::now()).unwrap_err();
        assert!(refused.to_string().contains("no baseline file"), "{refused}");
    }
}
