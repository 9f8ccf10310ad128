//! `wucache baseline preview --group NAME [--at] [--json]`: what a baseline file decides for
//! every update of the catalog (`baseline check` is in `check`).

use crate::app::load_baseline_file;
use crate::app::open_store;
use crate::approval::{catalog_facts, first_title};
use crate::approval::{evaluate, evaluation_epoch};
use crate::config::Config;
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

#[derive(Serialize)]
struct Row {
    update_id: String,
    kb: String,
    title: String,
    classification: String,
    severity: String,
    decision: &'static str,
    approval_date: Option<String>,
    compliance_level: &'static str,
    reason: String,
}

/// Decisions of the group's baseline for every top-level update, as of `at` (default now,
/// frozen to the evaluation epoch).
pub(super) fn preview(
    config: &Config,
    file: Option<&Path>,
    group: &str,
    at: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let path = file
        .map(Path::to_path_buf)
        .or_else(|| (!config.baselines.file.is_empty()).then(|| config.baselines.file.clone().into()));
    let Some(path) = path else {
        anyhow::bail!("no baseline file: set [baselines] file in the config or pass --file");
    };
    let loaded = load_baseline_file(&path)?;
    let set = loaded.value;
    let now = match at {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|e| anyhow::anyhow!("--at `{text}` is not an RFC 3339 time: {e}"))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let epoch = evaluation_epoch(now, set.evaluation.snapshot_interval_minutes);
    let assignment = set.for_target_group(Some(group));
    let records = match open_store(&config.storage.data_dir) {
        Ok(store) => store.latest_records()?,
        Err(crate::app::AppError::Locked { .. }) => super::runtime()?.block_on(served_records(config))?,
        Err(err) => return Err(err.into()),
    };
    let rows: Vec<Row> = catalog_facts(&records)
        .iter()
        .map(|facts| {
            let evaluation = evaluate(facts, assignment.baseline, epoch);
            Row {
                update_id: facts.update_id.to_string(),
                kb: facts.kb_number().unwrap_or_default(),
                title: facts.title.clone(),
                classification: first_title(&facts.classifications),
                severity: facts.msrc_severity.clone().unwrap_or_default(),
                decision: evaluation.decision.as_str(),
                approval_date: evaluation.approval_date.map(|d| d.to_rfc3339()),
                compliance_level: evaluation.compliance_level.as_str(),
                reason: evaluation.reason,
            }
        })
        .collect();
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        outln!(
            "group {group} -> baseline {} (evaluated at {})",
            assignment.baseline.id,
            epoch.to_rfc3339()
        );
        outln!(
            "{:<11} {:<18} {:<10} {:<20} {:<26} {:<14} TITLE / REASON",
            "KB",
            "CLASSIFICATION",
            "SEVERITY",
            "DECISION",
            "APPROVAL DATE",
            "LEVEL"
        );
        for row in &rows {
            outln!(
                "{:<11} {:<18} {:<10} {:<20} {:<26} {:<14} {} — {}",
                if row.kb.is_empty() { "-" } else { &row.kb },
                clip(&row.classification, 18),
                if row.severity.is_empty() {
                    "-"
                } else {
                    &row.severity
                },
                row.decision,
                row.approval_date.as_deref().unwrap_or("-"),
                row.compliance_level,
                row.title,
                row.reason
            );
        }
        outln!("{} updates", rows.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn clip(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// The records the running daemon serves, when it holds the store.
pub(super) async fn served_records(config: &Config) -> anyhow::Result<Vec<crate::model::UpdateRecord>> {
    let base = super::api::base_url(config, None);
    let items = super::api::get_all(config, &base, "/api/v1/updates?format=records").await?;
    Ok(serde_json::from_value(serde_json::Value::Array(items))?)
}
