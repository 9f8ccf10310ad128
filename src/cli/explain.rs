//! `wucache explain --computer NAME --kb KB [--json]`: why the running daemon offers a machine
//! an update or not, read from `/api/v1/explain`; one block per update with the KB.

use super::api;
use crate::config::Config;
use crate::explain::{Explanation, Reported, UpdateExplanation};
use std::process::ExitCode;

/// Asks the daemon and prints its answer; an unknown computer or KB fails with its message.
pub(super) async fn run(
    config: &Config,
    url: Option<&str>,
    computer: &str,
    kb: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let base = api::base_url(config, url);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("computer", computer)
        .append_pair("kb", kb)
        .finish();
    let body = api::get(config, &base, &format!("/api/v1/explain?{query}")).await?;
    if json {
        outln!("{}", body.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    print(&serde_json::from_str(&body)?);
    Ok(ExitCode::SUCCESS)
}

fn print(answer: &Explanation) {
    outln!("computer      {} ({})", answer.computer_name, answer.instance_id);
    outln!("asked for     {}", asked_for(&answer.requested_target_groups));
    match &answer.patch_group {
        Some(group) => outln!("patch group   {group} -> baseline {}", answer.baseline_id),
        None => outln!(
            "patch group   none registered -> default baseline {}",
            answer.baseline_id
        ),
    }
    if let Some(at) = &answer.evaluated_at {
        outln!("evaluated at  {at}");
    }
    outln!("last report   {}", or_never(&answer.last_report));
    for update in &answer.updates {
        outln!();
        print_update(update);
    }
}

fn print_update(update: &UpdateExplanation) {
    outln!("{}  {}", update.kb_id.as_deref().unwrap_or("-"), update.title);
    outln!(
        "  update        {} revision {}",
        update.update_id,
        update.revision_number
    );
    outln!("  decision      {} — {}", update.decision, update.reason);
    outln!("  decided by    {}", decided_by(update));
    outln!(
        "  approval      {}, compliance level {}",
        update.approval_date.as_deref().unwrap_or("no approval date"),
        update.compliance_level
    );
    outln!("  supersedence  {}", supersedence(update));
    outln!("  offered       {}", offered(update.offered.as_deref()));
    match &update.window {
        Some(window) => outln!(
            "  window        {} ({}), {}",
            window.name,
            window.mode,
            match (&window.open, &window.next_start) {
                (true, _) => "open now".to_string(),
                (false, Some(next)) => format!("closed until {next}"),
                (false, None) => "closed".to_string(),
            }
        ),
        None => outln!("  window        no maintenance window applies"),
    }
    outln!("  deadline      {}", update.deadline.as_deref().unwrap_or("none"));
    outln!("  reported      {}", reported(&update.reported));
}

fn asked_for(groups: &[String]) -> String {
    if groups.iter().all(|g| g.trim().is_empty()) {
        return "no TargetGroup (client-side targeting off)".to_string();
    }
    let quoted: Vec<String> = groups.iter().map(|g| format!("TargetGroup \"{g}\"")).collect();
    quoted.join(", ")
}

fn decided_by(update: &UpdateExplanation) -> String {
    match (update.decided_by.as_str(), &update.list_entry) {
        (list, Some(entry)) => format!("{list} entry {entry}"),
        ("ApprovalRules", _) if update.rules.is_empty() => "ApprovalRules: none matches".to_string(),
        ("ApprovalRules", _) => {
            let rules: Vec<String> = update.rules.iter().map(usize::to_string).collect();
            let noun = if rules.len() == 1 { "rule" } else { "rules" };
            format!("ApprovalRules: {noun} {}", rules.join(", "))
        }
        (other, None) => other.to_string(),
    }
}

fn supersedence(update: &UpdateExplanation) -> String {
    if update.superseded_by.is_empty() {
        return format!(
            "not superseded (SupersededHandling {})",
            update.superseded_handling
        );
    }
    let successors: Vec<String> = update
        .superseded_by
        .iter()
        .map(|s| {
            format!(
                "{} {} ({})",
                s.kb_id.as_deref().unwrap_or("-"),
                s.update_id,
                s.decision.as_deref().unwrap_or("not in the catalog")
            )
        })
        .collect();
    format!(
        "superseded by {} (SupersededHandling {})",
        successors.join(", "),
        update.superseded_handling
    )
}

fn offered(action: Option<&str>) -> String {
    match action {
        Some("Install") => "Install — offered for installation".to_string(),
        Some("PreDeploymentCheck") => {
            "PreDeploymentCheck — detect-only: the machine reports whether it needs it, never installs it"
                .to_string()
        }
        Some(other) => other.to_string(),
        None => "not sent to this machine".to_string(),
    }
}

fn reported(reported: &Reported) -> String {
    if reported.state == "Unknown" {
        return "Unknown (nothing reported yet)".to_string();
    }
    let mut text = reported.state.clone();
    if let Some(at) = &reported.at {
        text.push_str(&format!(" at {at}"));
    }
    if let Some(state) = &reported.patch_state {
        text.push_str(&format!(" (Patch Manager: {state})"));
    }
    if let Some(hresult) = &reported.failure_hresult {
        text.push_str(&format!(", install failed with {hresult}"));
    }
    text
}

fn or_never(text: &str) -> &str {
    if text.is_empty() {
        "never"
    } else {
        text
    }
}
