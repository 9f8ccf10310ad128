//! `wucache updates`: the catalog as a table or JSON (fields from docs/interfaces.md).

use crate::app::open_store;
use crate::config::Config;
use crate::model::{hex, UpdateRecord};
use serde::Serialize;
use std::collections::HashMap;
use std::process::ExitCode;
use uuid::Uuid;

#[derive(Serialize)]
struct Named {
    id: Uuid,
    title: String,
}

#[derive(Serialize)]
struct FileView {
    name: String,
    size: u64,
    sha1: String,
    sha256: Option<String>,
    url: String,
}

/// One line of the listing.
#[derive(Serialize)]
struct UpdateView {
    update_id: Uuid,
    revision: u32,
    local_revision_id: i32,
    #[serde(rename = "type")]
    update_type: &'static str,
    category_type: Option<&'static str>,
    title: String,
    kb: Option<String>,
    msrc_severity: Option<String>,
    security_bulletin: Option<String>,
    products: Vec<Named>,
    classifications: Vec<Named>,
    created: String,
    state: &'static str,
    superseded: Vec<Uuid>,
    bundled: usize,
    files: Vec<FileView>,
    /// With `--group`: the baseline's decision (bundle members and categories have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<DecisionView>,
}

#[derive(Serialize, Clone)]
struct DecisionView {
    baseline: String,
    decision: &'static str,
    approval_date: Option<String>,
    compliance_level: &'static str,
    reason: String,
}

/// The decisions of the group's baseline, by update id, at the current evaluation epoch.
fn decisions(
    config: &Config,
    records: &[UpdateRecord],
    group: &str,
) -> anyhow::Result<HashMap<Uuid, DecisionView>> {
    if config.baselines.file.is_empty() {
        anyhow::bail!("--group needs a baseline file: set [baselines] file in the config");
    }
    let set = crate::app::load_baseline_file(std::path::Path::new(&config.baselines.file))?.value;
    let epoch =
        crate::approval::evaluation_epoch(chrono::Utc::now(), set.evaluation.snapshot_interval_minutes);
    let baseline = set.for_target_group(Some(group)).baseline;
    Ok(crate::approval::catalog_facts(records)
        .iter()
        .map(|facts| {
            let evaluation = crate::approval::evaluate(facts, baseline, epoch);
            let view = DecisionView {
                baseline: baseline.id.clone(),
                decision: evaluation.decision.as_str(),
                approval_date: evaluation.approval_date.map(|d| d.to_rfc3339()),
                compliance_level: evaluation.compliance_level.as_str(),
                reason: evaluation.reason,
            };
            (facts.update_id, view)
        })
        .collect())
}

pub(super) fn print(config: &Config, json: bool, all: bool, group: Option<&str>) -> anyhow::Result<ExitCode> {
    let store = open_store(&config.storage.data_dir)?;
    let records = store.latest_records()?;
    let decisions = match group {
        Some(group) => decisions(config, &records, group)?,
        None => HashMap::new(),
    };
    let titles: HashMap<Uuid, String> = store
        .categories()?
        .into_iter()
        .map(|(id, _, title)| (id, title))
        .collect();
    let views: Vec<UpdateView> = records
        .iter()
        .filter(|r| all || !r.update_type.is_config())
        .map(|r| {
            let mut v = view(r, &titles);
            v.decision = decisions.get(&r.identity.update_id).cloned();
            v
        })
        .collect();
    if json {
        outln!("{}", serde_json::to_string_pretty(&views)?);
    } else {
        print_table(&views);
    }
    Ok(ExitCode::SUCCESS)
}

fn view(record: &UpdateRecord, titles: &HashMap<Uuid, String>) -> UpdateView {
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
        update_type: record.update_type.as_str(),
        category_type: record.category_type.map(|c| c.as_str()),
        title: record.title.clone(),
        kb: record.kb.clone(),
        msrc_severity: record.msrc_severity.clone(),
        security_bulletin: record.security_bulletin.clone(),
        products: named(&record.products),
        classifications: named(&record.classifications),
        created: record.creation_date.clone(),
        state: record.publication_state.as_str(),
        superseded: record.superseded.clone(),
        bundled: record.bundled.len(),
        files: record.files.iter().map(file_view).collect(),
        decision: None,
    }
}

fn file_view(file: &crate::model::FileRef) -> FileView {
    FileView {
        name: file.name.clone(),
        size: file.size,
        sha1: hex(&file.sha1),
        sha256: file.sha256.as_ref().map(|d| hex(d)),
        url: file.url.clone(),
    }
}

fn print_table(views: &[UpdateView]) {
    outln!(
        "{:<36}  {:>5}  {:>7}  {:<9}  {:<9}  {:<9}  {:<10}  {:>5}  {:<22}  {:<24}  TITLE",
        "UPDATE ID",
        "REV",
        "LOCAL",
        "TYPE",
        "KB",
        "SEVERITY",
        "CREATED",
        "FILES",
        "CLASSIFICATION",
        "PRODUCT"
    );
    for v in views {
        let first = |list: &[Named]| {
            let mut text = list
                .first()
                .map(|n| {
                    if n.title.is_empty() {
                        n.id.to_string()
                    } else {
                        n.title.clone()
                    }
                })
                .unwrap_or_else(|| "-".into());
            if list.len() > 1 {
                text.push_str(&format!(" +{}", list.len() - 1));
            }
            clip(&text, 24)
        };
        let state = if v.state == "Expired" { " [expired]" } else { "" };
        let state = match &v.decision {
            Some(d) => format!("{state} [{}]", d.decision),
            None => state.to_string(),
        };
        outln!(
            "{:<36}  {:>5}  {:>7}  {:<9}  {:<9}  {:<9}  {:<10}  {:>5}  {:<22}  {:<24}  {}{}",
            v.update_id,
            v.revision,
            v.local_revision_id,
            v.update_type,
            v.kb.as_deref().unwrap_or("-"),
            v.msrc_severity.as_deref().unwrap_or("-"),
            v.created.get(..10).unwrap_or("-"),
            v.files.len(),
            clip(&first(&v.classifications), 22),
            first(&v.products),
            v.title,
            state
        );
    }
    outln!("{} updates", views.len());
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}
