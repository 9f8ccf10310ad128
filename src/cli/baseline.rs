//! `wucache baseline preview --group NAME [--at] [--json]`: what a baseline file decides for
//! every update of the catalog (`baseline check` is in `check`).

use crate::app::load_baseline_file;
use crate::app::open_store;
use crate::approval::{catalog_facts, first_title, BaselineSet};
use crate::approval::{evaluate, evaluation_epoch};
use crate::config::Config;
use crate::snapshot::DEFAULT_GROUP;
use chrono::{DateTime, Utc};
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
    /// What the group's machines are sent now: `Install`, `DetectOnly` or `NotSent`.
    offer: String,
    /// The install deadline sent with `Install`.
    deadline: Option<String>,
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
        Some(text) => parse_at(text)?,
        None => chrono::Utc::now(),
    };
    let epoch = evaluation_epoch(now, set.evaluation.snapshot_interval_minutes);
    let assignment = set.for_target_group(Some(group));
    if assignment.group.is_none() && !group.trim().eq_ignore_ascii_case(DEFAULT_GROUP) {
        anyhow::bail!("{}", unknown_group(group, &set, &path));
    }
    let records = match open_store(&config.storage.data_dir) {
        Ok(store) => store.latest_records()?,
        Err(crate::app::AppError::Locked { .. }) => super::runtime()?.block_on(served_records(config))?,
        Err(err) => return Err(err.into()),
    };
    let policy_group = assignment.group.filter(|g| set.has_group_policy(g));
    let policy = crate::approval::PolicyOffers::new(&set, assignment.baseline, policy_group, now);
    let expired: std::collections::HashSet<uuid::Uuid> = records
        .iter()
        .filter(|r| r.is_expired())
        .map(|r| r.identity.update_id)
        .collect();
    let rows: Vec<Row> = catalog_facts(&records)
        .iter()
        .map(|facts| {
            let evaluation = evaluate(facts, assignment.baseline, epoch);
            let kb = facts.kb_number();
            let (offer, deadline) =
                policy.offer(&evaluation, kb.as_deref(), expired.contains(&facts.update_id));
            Row {
                offer: format!("{offer:?}"),
                deadline: deadline.map(|d| d.to_rfc3339()),
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
        outln!("{}", gate_line(&policy.gate(), now));
        outln!(
            "{:<11} {:<18} {:<10} {:<20} {:<26} {:<14} {:<11} {:<26} TITLE / REASON",
            "KB",
            "CLASSIFICATION",
            "SEVERITY",
            "DECISION",
            "APPROVAL DATE",
            "LEVEL",
            "OFFER",
            "DEADLINE"
        );
        for row in &rows {
            outln!(
                "{:<11} {:<18} {:<10} {:<20} {:<26} {:<14} {:<11} {:<26} {} — {}",
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
                row.offer,
                row.deadline.as_deref().unwrap_or("-"),
                row.title,
                row.reason
            );
        }
        outln!("{} updates", rows.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// The maintenance-window gate as a line of the preview.
fn gate_line(gate: &crate::approval::GateState, at: DateTime<Utc>) -> String {
    use crate::approval::GateState;
    match gate {
        GateState::Ungated => "maintenance windows: no Gate window; installs are offered at any time".into(),
        GateState::Open { window } => format!(
            "maintenance windows: Gate window {window} is open at {}; approved updates are offered for install",
            at.to_rfc3339()
        ),
        GateState::Closed { opens } => format!(
            "maintenance windows: gate closed at {}; approved updates are sent detect-only until {}",
            at.to_rfc3339(),
            opens.map_or("no further window".into(), |t| t.to_rfc3339())
        ),
    }
}

/// `--at`: an RFC 3339 time, or a plain date meaning 00:00 UTC that day.
fn parse_at(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(time.with_timezone(&Utc));
    }
    match chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        Ok(date) => Ok(date.and_time(chrono::NaiveTime::MIN).and_utc()),
        Err(_) => anyhow::bail!(
            "--at `{text}` is neither an RFC 3339 time (2025-11-20T09:00:00Z) nor a date (2025-11-20)"
        ),
    }
}

/// The error for a `--group` no patch group registers: it names the registered ones.
fn unknown_group(group: &str, set: &BaselineSet, file: &Path) -> String {
    let registered: Vec<&str> = set.groups().iter().map(|(name, _)| name).collect();
    let choices = if registered.is_empty() {
        format!("{} registers no patch group", file.display())
    } else {
        format!("registered groups: {}", registered.join(", "))
    };
    format!(
        "no patch group `{group}` in {}; {choices} (or `{DEFAULT_GROUP}` for the default baseline {})",
        file.display(),
        set.default_baseline().id
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_takes_an_rfc3339_time_or_a_plain_date_at_midnight_utc() {
        let midnight = parse_at("2025-11-20").unwrap();
        assert_eq!(midnight.to_rfc3339(), "2025-11-20T00:00:00+00:00");
        let time = parse_at("2025-11-20T09:30:00+02:00").unwrap();
        assert_eq!(time.to_rfc3339(), "2025-11-20T07:30:00+00:00");
        let wrong = parse_at("20/11/2025").unwrap_err().to_string();
        assert!(wrong.contains("20/11/2025"), "{wrong}");
    }
}
