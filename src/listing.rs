//! The catalog as `wucache updates` and `GET /api/v1/updates` list it (fields from
//! docs/interfaces.md): one view per update's newest revision, with a patch group's baseline
//! decision when asked. The CLI reads the same shape from the API when the daemon holds the
//! store. Uses `model`, `approval`.

use crate::approval::{catalog_facts, evaluate, Baseline};
use crate::model::{hex, UpdateRecord};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Named {
    pub id: Uuid,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FileView {
    pub name: String,
    pub size: u64,
    sha1: String,
    sha256: Option<String>,
    pub url: String,
}

/// One line of the listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UpdateView {
    pub update_id: Uuid,
    pub revision: u32,
    pub local_revision_id: i32,
    #[serde(rename = "type")]
    pub update_type: String,
    pub category_type: Option<String>,
    pub title: String,
    pub kb: Option<String>,
    pub msrc_severity: Option<String>,
    pub security_bulletin: Option<String>,
    pub products: Vec<Named>,
    pub classifications: Vec<Named>,
    pub created: String,
    pub state: String,
    pub superseded: Vec<Uuid>,
    pub bundled: usize,
    pub files: Vec<FileView>,
    /// With `--group`: the baseline's decision (bundle members and categories have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DecisionView {
    pub baseline: String,
    pub decision: String,
    pub approval_date: Option<String>,
    pub compliance_level: String,
    pub reason: String,
}

/// The views of `records` (categories and detectoids only with `all`), each with its
/// decision under `baseline` at `at` when one is given (bundle members and categories have
/// none).
pub(crate) fn views(
    records: &[UpdateRecord],
    titles: &HashMap<Uuid, String>,
    all: bool,
    baseline: Option<(&Baseline, DateTime<Utc>)>,
) -> Vec<UpdateView> {
    let decisions = baseline
        .map(|(b, at)| decisions(records, b, at))
        .unwrap_or_default();
    records
        .iter()
        .filter(|r| all || !r.update_type.is_config())
        .map(|r| {
            let mut v = view(r, titles);
            v.decision = decisions.get(&r.identity.update_id).cloned();
            v
        })
        .collect()
}

/// The baseline's decision for every top-level update, by update id.
fn decisions(
    records: &[UpdateRecord],
    baseline: &Baseline,
    at: DateTime<Utc>,
) -> HashMap<Uuid, DecisionView> {
    catalog_facts(records)
        .iter()
        .map(|facts| {
            let evaluation = evaluate(facts, baseline, at);
            let view = DecisionView {
                baseline: baseline.id.clone(),
                decision: evaluation.decision.as_str().to_string(),
                approval_date: evaluation.approval_date.map(|d| d.to_rfc3339()),
                compliance_level: evaluation.compliance_level.as_str().to_string(),
                reason: evaluation.reason,
            };
            (facts.update_id, view)
        })
        .collect()
}

/// One record as listed; `titles` names products and classifications.
pub(crate) fn view(record: &UpdateRecord, titles: &HashMap<Uuid, String>) -> UpdateView {
    let named = |ids: &[Uuid]| {
        ids.iter()
            .map(|id| Named {
                id: *id,
                title: titles.get(id).cloned().unwrap_or_default(),
            })
            .collect()
    };
    UpdateView {
        update_id: record.identity.update_id,
        revision: record.identity.revision,
        local_revision_id: record.local_id,
        update_type: record.update_type.as_str().to_string(),
        category_type: record.category_type.map(|c| c.as_str().to_string()),
        title: record.title.to_string(),
        kb: record.kb.as_deref().map(String::from),
        msrc_severity: record.msrc_severity.as_deref().map(String::from),
        security_bulletin: record.security_bulletin.as_deref().map(String::from),
        products: named(&record.products),
        classifications: named(&record.classifications),
        created: record.creation_date.to_string(),
        state: record.publication_state.as_str().to_string(),
        superseded: record.superseded.to_vec(),
        bundled: record.bundled.len(),
        files: record.files.iter().map(file_view).collect(),
        decision: None,
    }
}

fn file_view(file: &crate::model::FileRef) -> FileView {
    FileView {
        name: file.name.to_string(),
        size: file.size,
        sha1: hex(&file.sha1),
        sha256: file.sha256.as_ref().map(|d| hex(d)),
        url: file.url.to_string(),
    }
}
