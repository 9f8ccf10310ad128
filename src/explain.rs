//! Why a machine is or is not offered an update (`wucache explain`, `/api/v1/explain`): for
//! each update with a KB, the machine's requested TargetGroups, its patch group and baseline,
//! the engine's decision with the list or rules that made it, supersedence, what the served
//! scope sends the machine (Install, detect-only, nothing), the maintenance-window gate, and
//! what the machine last reported. Nothing is decided here: decisions are the served
//! snapshot's, offers its scopes', states the fleet's fold. Uses `approval`, `model`, `fleet`,
//! `snapshot`, `store`, `compliance`.

use crate::approval::{compliance_item_of, is_security, ClientState, DecidedBy, Evaluation, UpdateFacts};
use crate::compliance::{self, Machine};
use crate::fleet::{Decisions, MachineStatus};
use crate::model::DeploymentAction;
use crate::snapshot::Snapshot;
use crate::store::{Store, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an explanation cannot be given.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExplainError {
    /// No computer has this client id or DNS name.
    #[error("no computer with client id or name `{0}`")]
    UnknownComputer(String),
    /// No update of the catalog has this KB.
    #[error("no update with {0} in the catalog")]
    UnknownKb(String),
    /// The KB asked about is empty.
    #[error("`kb` must name a KB article, such as KB5001234")]
    EmptyKb,
    /// The computer could not be read.
    #[error("catalog store: {0}")]
    Store(#[from] StoreError),
}

/// The answer for one computer and one KB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Explanation {
    pub instance_id: String,
    pub computer_name: String,
    /// The GPO `TargetGroup` names the machine sent, as sent.
    pub requested_target_groups: Vec<String>,
    /// The registered patch group they select; `None`: none is registered, so the default
    /// baseline applies.
    pub patch_group: Option<String>,
    pub baseline_id: String,
    /// The KB asked about, as `KB<digits>`.
    #[serde(rename = "KB")]
    pub kb: String,
    /// The evaluation epoch of the served decisions (`None` without a baseline file).
    pub evaluated_at: Option<String>,
    /// When the machine last sent a report, as the computers list shows it.
    pub last_report: String,
    /// Every top-level update with the KB (several updates can share one).
    pub updates: Vec<UpdateExplanation>,
}

/// One update with the KB, on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateExplanation {
    pub update_id: Uuid,
    pub revision_number: u32,
    pub title: String,
    #[serde(rename = "KBId")]
    pub kb_id: Option<String>,
    /// `APPROVED`, `PENDING_APPROVAL`, `EXPLICIT_APPROVED`, `EXPLICIT_REJECTED`,
    /// `NOT_APPROVED`, `EXCLUDED_SUPERSEDED` or `EXCLUDED_EXPIRED`.
    pub decision: String,
    /// `RejectedPatches`, `ApprovedPatches`, `GlobalFilters`, `ApprovalRules`,
    /// `Supersedence`, `Expiry` or `NoBaselineFile`.
    pub decided_by: String,
    /// With `ApprovalRules`: the rules that approve it, will approve it, or (not approved)
    /// match it, numbered from 1 as in the reason.
    pub rules: Vec<usize>,
    /// With `RejectedPatches` / `ApprovedPatches`: the entry that names the update.
    pub list_entry: Option<String>,
    pub approval_date: Option<String>,
    pub compliance_level: String,
    pub reason: String,
    /// The baseline's `SupersededHandling`.
    pub superseded_handling: String,
    /// Updates of the catalog that supersede this one, with their decisions.
    pub superseded_by: Vec<Successor>,
    /// The MS-WUSP action the machine's scope sends (`Install`, `PreDeploymentCheck`, …);
    /// `None`: not sent.
    pub offered: Option<String>,
    /// The maintenance window that gates the Install; `None`: no window applies.
    pub window: Option<WindowGate>,
    /// `Deployment/Deadline` sent with the Install, if any.
    pub deadline: Option<String>,
    /// What the machine last reported for the update.
    pub reported: Reported,
}

/// An update superseding the one explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Successor {
    pub update_id: Uuid,
    #[serde(rename = "KBId")]
    pub kb_id: Option<String>,
    pub title: String,
    /// Its own decision under the same baseline.
    pub decision: Option<String>,
    /// The explained update's decision names this successor.
    pub decisive: bool,
}

/// The maintenance window a machine's Install waits for (docs/baselines.md §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WindowGate {
    pub name: String,
    /// `Informational`, `Gate` or `Deadline`.
    pub mode: String,
    /// The window is open now: a gated Install is offered.
    pub open: bool,
    /// When it next opens, while closed.
    pub next_start: Option<String>,
}

/// One update's state on the machine, folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Reported {
    /// WSUS `UpdateInstallationState`: `Unknown` until the machine reports.
    pub state: String,
    /// When the machine saw that state (its `TimeAtTarget`).
    pub at: Option<String>,
    /// The Patch Manager state the compliance report gives it, if any.
    pub patch_state: Option<String>,
    /// The HRESULT of the last failed install, while it stands.
    #[serde(rename = "FailureHResult")]
    pub failure_hresult: Option<String>,
}

/// Explains `kb` (with or without the `KB` prefix, any case) for the computer `computer`
/// (client id or DNS name) under the served `snapshot`.
pub(crate) fn explain(
    store: &Store,
    snapshot: &Snapshot,
    computer: &str,
    kb: &str,
) -> Result<Explanation, ExplainError> {
    let kb = kb_number(kb).ok_or(ExplainError::EmptyKb)?;
    let machine = compliance::find(store, snapshot, computer)?
        .ok_or_else(|| ExplainError::UnknownComputer(computer.to_string()))?;
    let decisions = snapshot
        .decisions(&machine.assignment.baseline_id)
        .ok_or_else(|| ExplainError::UnknownKb(kb.clone()))?;
    let updates: Vec<UpdateExplanation> = snapshot
        .catalog_facts()
        .iter()
        .filter(|facts| facts.kb_number().is_some_and(|k| k.eq_ignore_ascii_case(&kb)))
        .map(|facts| {
            update(
                snapshot,
                &machine,
                &decisions,
                facts,
                &decisions.evaluation(facts),
            )
        })
        .collect();
    if updates.is_empty() {
        return Err(ExplainError::UnknownKb(kb));
    }
    Ok(Explanation {
        instance_id: machine.record.client_id.clone(),
        computer_name: machine.record.dns_name.clone(),
        requested_target_groups: machine.record.requested_groups.clone(),
        patch_group: machine.assignment.group.clone(),
        baseline_id: machine.assignment.baseline_id.clone(),
        kb,
        evaluated_at: snapshot.evaluated_at().map(rfc3339),
        last_report: machine.record.last_report.clone(),
        updates,
    })
}

/// `KB<digits>` of what a user typed: `5001234`, `kb5001234`, ` KB5001234 `.
fn kb_number(text: &str) -> Option<String> {
    let text = text.trim();
    let digits = match text.get(..2) {
        Some(prefix) if prefix.eq_ignore_ascii_case("KB") => &text[2..],
        _ => text,
    };
    let digits = digits.trim();
    (!digits.is_empty()).then(|| format!("KB{}", digits.to_ascii_uppercase()))
}

fn update(
    snapshot: &Snapshot,
    machine: &Machine,
    decisions: &Decisions,
    facts: &UpdateFacts,
    evaluation: &Evaluation,
) -> UpdateExplanation {
    let (decided_by, rules, list_entry) = decided_by(evaluation.decided_by());
    let offered = offered(snapshot, machine, facts.update_id());
    let (window, deadline) = window_and_deadline(snapshot, machine, facts.update_id());
    UpdateExplanation {
        update_id: facts.update_id(),
        revision_number: facts.revision,
        title: facts.title.clone(),
        kb_id: facts.kb_number(),
        decision: evaluation.decision().to_string(),
        decided_by: decided_by.to_string(),
        rules,
        list_entry,
        approval_date: evaluation.approval_date.map(rfc3339),
        compliance_level: evaluation.compliance_level.to_string(),
        reason: override_reason(snapshot, machine, facts, evaluation.reason()),
        // The variant names are the baseline file's spelling.
        superseded_handling: format!("{:?}", decisions.baseline.extensions.superseded_handling),
        superseded_by: successors(decisions, facts, evaluation),
        offered: offered.map(|action| action.as_str().to_string()),
        window,
        deadline,
        reported: reported(&machine.status, decisions, facts, evaluation),
    }
}

/// The `DecidedBy` name, the rules and the list entry of the engine's basis.
/// The engine's reason, with the install override list named when the machine's patch group
/// lists the KB (the offer then installs whatever the rules decided, unless BLOCKed).
fn override_reason(snapshot: &Snapshot, machine: &Machine, facts: &UpdateFacts, reason: &str) -> String {
    let listed = facts
        .kb_number()
        .is_some_and(|kb| snapshot.install_override(&machine.record.requested_groups, &kb));
    if listed {
        format!("{reason}; listed in the patch group's install override list")
    } else {
        reason.to_string()
    }
}

fn decided_by(basis: &DecidedBy) -> (&'static str, Vec<usize>, Option<String>) {
    match basis {
        DecidedBy::Expiry => ("Expiry", Vec::new(), None),
        DecidedBy::RejectedPatches(entry) => ("RejectedPatches", Vec::new(), Some(entry.clone())),
        DecidedBy::ApprovedPatches(entry) => ("ApprovedPatches", Vec::new(), Some(entry.clone())),
        DecidedBy::GlobalFilters => ("GlobalFilters", Vec::new(), None),
        DecidedBy::Rules(rules) => ("ApprovalRules", rules.clone(), None),
        DecidedBy::Successor(_) => ("Supersedence", Vec::new(), None),
        DecidedBy::NoBaselineFile => ("NoBaselineFile", Vec::new(), None),
    }
}

/// The update's successors, each with its own decision under the same baseline.
fn successors(decisions: &Decisions, facts: &UpdateFacts, evaluation: &Evaluation) -> Vec<Successor> {
    let decisive = match evaluation.decided_by() {
        DecidedBy::Successor(id) => Some(*id),
        _ => None,
    };
    facts
        .superseded_by
        .iter()
        .map(|successor| {
            let id = successor.update_id();
            let decision = decisions
                .updates
                .position(&id)
                .map(|i| decisions.verdict(i).decision.to_string());
            Successor {
                update_id: id,
                kb_id: successor.kb_number(),
                title: successor.title.clone(),
                decision,
                decisive: decisive == Some(id),
            }
        })
        .collect()
}

/// The action the machine's scope sends for the update (its TargetGroups pick the scope, as
/// at every SyncUpdates).
fn offered(snapshot: &Snapshot, machine: &Machine, update_id: Uuid) -> Option<DeploymentAction> {
    let node = snapshot.graph.by_update_id(&update_id)?;
    let scope = snapshot.scope_for(&machine.record.requested_groups);
    scope.get(node).map(|entry| entry.action)
}

/// The maintenance window gating the machine's Install, and the deadline sent with it.
fn window_and_deadline(
    snapshot: &Snapshot,
    machine: &Machine,
    update_id: Uuid,
) -> (Option<WindowGate>, Option<String>) {
    use crate::approval::GateState;
    let groups = &machine.record.requested_groups;
    let deadline = snapshot
        .graph
        .by_update_id(&update_id)
        .and_then(|node| snapshot.scope_for(groups).get(node))
        .and_then(|entry| Snapshot::deployment(entry).deadline);
    let gate = snapshot.gate_for(groups).and_then(|(state, names)| {
        let name = names.join(", ");
        match state {
            GateState::Ungated => None,
            GateState::Open { window } => Some(WindowGate {
                name: window,
                mode: "Gate".into(),
                open: true,
                next_start: None,
            }),
            GateState::Closed { opens } => Some(WindowGate {
                name,
                mode: "Gate".into(),
                open: false,
                next_start: opens.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            }),
        }
    });
    (gate, deadline)
}

/// The machine's state for the update, when it was seen, and the compliance state it makes.
fn reported(
    status: &MachineStatus,
    decisions: &Decisions,
    facts: &UpdateFacts,
    evaluation: &Evaluation,
) -> Reported {
    let id = facts.update_id();
    let state = status.state_of(&id);
    let failure = status.failed.get(&id);
    let at = match state {
        ClientState::Unknown => None,
        ClientState::Failed => failure.map(|f| f.at),
        ClientState::InstalledPendingReboot => status.pending_reboot.get(&id).copied(),
        _ => status.status_at,
    };
    let security = is_security(facts, &decisions.baseline);
    let item = compliance_item_of(security, evaluation.verdict(), state, &decisions.baseline);
    Reported {
        state: state.as_str().to_string(),
        at: at.and_then(DateTime::from_timestamp_millis).map(rfc3339),
        patch_state: item.map(|item| item.state.as_str().to_string()),
        failure_hresult: failure.map(|f| format!("{:#010x}", f.hresult)),
    }
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kb_is_read_with_or_without_its_prefix_in_any_case() {
        for text in ["5001234", "KB5001234", "kb5001234", " Kb5001234 "] {
            assert_eq!(kb_number(text).as_deref(), Some("KB5001234"), "{text:?}");
        }
        assert_eq!(kb_number("KB"), None);
        assert_eq!(kb_number("  "), None);
    }

    #[test]
    fn every_basis_names_its_list_or_rules() {
        let entry = "KB5001234".to_string();
        assert_eq!(
            decided_by(&DecidedBy::RejectedPatches(entry.clone())),
            ("RejectedPatches", vec![], Some(entry.clone()))
        );
        assert_eq!(
            decided_by(&DecidedBy::ApprovedPatches(entry.clone())),
            ("ApprovedPatches", vec![], Some(entry))
        );
        assert_eq!(
            decided_by(&DecidedBy::Rules(vec![1, 3])),
            ("ApprovalRules", vec![1, 3], None)
        );
        assert_eq!(decided_by(&DecidedBy::GlobalFilters).0, "GlobalFilters");
        assert_eq!(decided_by(&DecidedBy::Successor(Uuid::nil())).0, "Supersedence");
        assert_eq!(decided_by(&DecidedBy::Expiry).0, "Expiry");
    }
}
