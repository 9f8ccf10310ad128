//! `wucache compliance` and `wucache computers`: the fleet's Patch Manager compliance and one
//! computer's patches, read from the running daemon's admin API; tables on a terminal,
//! `--json` (or `--csv`) for scripts.

use super::api;
use crate::config::Config;
use serde_json::Value;
use std::process::ExitCode;

/// Output format of a fleet command.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Table,
    Json,
    Csv,
}

/// `wucache compliance [--group G]`.
pub(super) async fn compliance(
    config: &Config,
    url: Option<&str>,
    group: Option<&str>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let base = api::base_url(config, url);
    let mut query = Vec::new();
    if let Some(group) = group {
        query.push(format!("group={}", encode(group)));
    }
    if format == Format::Csv {
        query.push("format=csv".to_string());
    }
    let path = format!("/api/v1/compliance?{}", query.join("&"));
    let body = api::get(config, &base, path.trim_end_matches('?')).await?;
    if format != Format::Table {
        out!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let report: Value = serde_json::from_str(&body)?;
    print_machines(&report["InstancePatchStates"]);
    outln!();
    print_groups(&report["PatchGroupStates"]);
    Ok(ExitCode::SUCCESS)
}

/// `wucache computers [NAME]`: every computer's summary, or one computer's patches.
pub(super) async fn computers(
    config: &Config,
    url: Option<&str>,
    name: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let base = api::base_url(config, url);
    let path = match name {
        Some(name) => format!("/api/v1/computers/{}", encode(name)),
        None => "/api/v1/compliance".to_string(),
    };
    let body = api::get(config, &base, &path).await?;
    if json {
        outln!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let answer: Value = serde_json::from_str(&body)?;
    match name {
        Some(_) => print_computer(&answer),
        None => print_machines(&answer["InstancePatchStates"]),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_machines(states: &Value) {
    outln!(
        "{:<36}  {:<28}  {:<12}  {:<14}  {:>9}  {:>7}  {:>6}  {:>6}  {:>6}  LAST REPORT",
        "CLIENT ID",
        "COMPUTER",
        "GROUP",
        "STATUS",
        "INSTALLED",
        "MISSING",
        "FAILED",
        "REBOOT",
        "N/A"
    );
    for state in states.as_array().into_iter().flatten() {
        outln!(
            "{:<36}  {:<28}  {:<12}  {:<14}  {:>9}  {:>7}  {:>6}  {:>6}  {:>6}  {}",
            text(&state["InstanceId"]),
            text(&state["ComputerName"]),
            text(&state["PatchGroup"]),
            text(&state["ComplianceStatus"]),
            text(&state["InstalledCount"]),
            text(&state["MissingCount"]),
            text(&state["FailedCount"]),
            text(&state["InstalledPendingRebootCount"]),
            text(&state["NotApplicableCount"]),
            text(&state["LastReport"]),
        );
    }
}

fn print_groups(groups: &Value) {
    outln!(
        "{:<16}  {:<20}  {:>9}  {:>9}  {:>13}  {:>12}  {:>7}  {:>6}",
        "PATCH GROUP",
        "BASELINE",
        "MACHINES",
        "COMPLIANT",
        "NON-COMPLIANT",
        "NOT REPORTED",
        "MISSING",
        "FAILED"
    );
    for group in groups.as_array().into_iter().flatten() {
        outln!(
            "{:<16}  {:<20}  {:>9}  {:>9}  {:>13}  {:>12}  {:>7}  {:>6}",
            text(&group["PatchGroup"]),
            text(&group["BaselineId"]),
            text(&group["Instances"]),
            text(&group["Compliant"]),
            text(&group["NonCompliant"]),
            text(&group["NotReported"]),
            text(&group["InstancesWithMissingPatches"]),
            text(&group["InstancesWithFailedPatches"]),
        );
    }
}

fn print_computer(answer: &Value) {
    let state = &answer["InstancePatchState"];
    outln!("computer     {}", text(&state["ComputerName"]));
    outln!("client id    {}", text(&state["InstanceId"]));
    outln!(
        "patch group  {} (baseline {})",
        text(&state["PatchGroup"]),
        text(&state["BaselineId"])
    );
    outln!(
        "status       {} (severity {})",
        text(&state["ComplianceStatus"]),
        text(&state["OverallSeverity"])
    );
    outln!("last report  {}", text(&state["LastReport"]));
    outln!();
    outln!("{:<24}  {:<11}  {:<12}  TITLE", "STATE", "KB", "FAILURE");
    for patch in answer["Patches"].as_array().into_iter().flatten() {
        outln!(
            "{:<24}  {:<11}  {:<12}  {}",
            text(&patch["State"]),
            text(&patch["KBId"]),
            text(&patch["FailureHResult"]),
            text(&patch["Title"]),
        );
    }
}

/// A JSON value as table text (`-` for null).
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
