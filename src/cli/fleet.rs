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
    if format == Format::Csv {
        let path = format!("/api/v1/compliance?{}", query.join("&"));
        out!("{}", api::get(config, &base, &path).await?);
        return Ok(ExitCode::SUCCESS);
    }
    let report = whole_compliance(config, &base, &query).await?;
    if format == Format::Json {
        outln!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
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
    let answer = match name {
        Some(name) => {
            let body = api::get(config, &base, &format!("/api/v1/computers/{}", encode(name))).await?;
            serde_json::from_str(&body)?
        }
        None => whole_compliance(config, &base, &[]).await?,
    };
    if json {
        outln!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    match name {
        Some(_) => print_computer(&answer),
        None => print_machines(&answer["InstancePatchStates"]),
    }
    Ok(ExitCode::SUCCESS)
}

/// `/api/v1/compliance` with every page of machines gathered into one `InstancePatchStates`.
async fn whole_compliance(config: &Config, base: &str, query: &[String]) -> anyhow::Result<Value> {
    let mut offset = 0u64;
    let mut whole: Option<Value> = None;
    loop {
        let mut page_query = query.to_vec();
        page_query.push(format!("offset={offset}"));
        page_query.push("limit=10000".to_string());
        let body = api::get(
            config,
            base,
            &format!("/api/v1/compliance?{}", page_query.join("&")),
        )
        .await?;
        let mut page: Value = serde_json::from_str(&body)?;
        let next = page["NextOffset"].as_u64();
        match whole.as_mut() {
            None => whole = Some(page),
            Some(whole) => {
                let more = page["InstancePatchStates"].as_array_mut().map(std::mem::take);
                if let (Some(list), Some(more)) = (whole["InstancePatchStates"].as_array_mut(), more) {
                    list.extend(more);
                }
            }
        }
        match next {
            Some(next) if next > offset => offset = next,
            _ => break,
        }
    }
    let mut whole = whole.unwrap_or_default();
    if let Some(object) = whole.as_object_mut() {
        object.remove("NextOffset");
    }
    Ok(whole)
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
