//! Compliance as Patch Manager reports it, from the engine's decision and what a WSUS client
//! said about the update (docs/baselines.md §5): the per-update patch state (§5.3 mapping) and the
//! per-node summary (`InstancePatchState` counters, `AWS:ComplianceSummary`). Pure.

use super::document::{Baseline, ComplianceLevel, ComplianceStatus, RejectedPatchesAction};
use super::evaluate::{Decision, Evaluation, Verdict};
use super::facts::{PatchProperties, UpdateFacts};

/// WSUS `UpdateInstallationState` of one update on one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// 0: no status yet.
    Unknown,
    /// 1: the update does not apply to the machine.
    NotApplicable,
    /// 2: needed, not installed.
    NotInstalled,
    /// 3: downloaded, not installed.
    Downloaded,
    /// 4: installed.
    Installed,
    /// 5: the last installation failed.
    Failed,
    /// 6: installed, waiting for a reboot.
    InstalledPendingReboot,
}

impl ClientState {
    /// From the WSUS numeric value (0–6).
    pub fn from_code(code: u8) -> Option<ClientState> {
        const STATES: [ClientState; 7] = [
            ClientState::Unknown,
            ClientState::NotApplicable,
            ClientState::NotInstalled,
            ClientState::Downloaded,
            ClientState::Installed,
            ClientState::Failed,
            ClientState::InstalledPendingReboot,
        ];
        STATES.get(usize::from(code)).copied()
    }

    /// The WSUS name (`NotInstalled`, `InstalledPendingReboot`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ClientState::Unknown => "Unknown",
            ClientState::NotApplicable => "NotApplicable",
            ClientState::NotInstalled => "NotInstalled",
            ClientState::Downloaded => "Downloaded",
            ClientState::Installed => "Installed",
            ClientState::Failed => "Failed",
            ClientState::InstalledPendingReboot => "InstalledPendingReboot",
        }
    }

    fn is_installed(self) -> bool {
        matches!(self, ClientState::Installed | ClientState::InstalledPendingReboot)
    }
}

/// Patch Manager's `PatchComplianceDataState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchState {
    /// `INSTALLED`: approved and installed.
    Installed,
    /// `INSTALLED_OTHER`: installed, not approved (or rejected with ALLOW_AS_DEPENDENCY).
    InstalledOther,
    /// `INSTALLED_PENDING_REBOOT`: installed, waiting for a reboot.
    InstalledPendingReboot,
    /// `INSTALLED_REJECTED`: installed, rejected with BLOCK.
    InstalledRejected,
    /// `MISSING`: approved, applicable, not installed.
    Missing,
    /// `NOT_APPLICABLE`: approved but not applicable.
    NotApplicable,
    /// `FAILED`: approved, installation failed.
    Failed,
    /// `AVAILABLE_SECURITY_UPDATE`: an applicable security update not approved (yet).
    AvailableSecurityUpdate,
}

impl PatchState {
    const NAMES: [(PatchState, &'static str, &'static str); 8] = [
        (PatchState::Installed, "INSTALLED", "Installed"),
        (PatchState::InstalledOther, "INSTALLED_OTHER", "InstalledOther"),
        (
            PatchState::InstalledPendingReboot,
            "INSTALLED_PENDING_REBOOT",
            "InstalledPendingReboot",
        ),
        (
            PatchState::InstalledRejected,
            "INSTALLED_REJECTED",
            "InstalledRejected",
        ),
        (PatchState::Missing, "MISSING", "Missing"),
        (PatchState::NotApplicable, "NOT_APPLICABLE", "NotApplicable"),
        (PatchState::Failed, "FAILED", "Failed"),
        (
            PatchState::AvailableSecurityUpdate,
            "AVAILABLE_SECURITY_UPDATE",
            "AvailableSecurityUpdate",
        ),
    ];

    /// Reads the model's upper snake case or the CamelCase the live service returns.
    pub fn parse(text: &str) -> Option<PatchState> {
        PatchState::NAMES
            .iter()
            .find(|(_, model, live)| *model == text || *live == text)
            .map(|(state, _, _)| *state)
    }

    /// The model enum spelling.
    pub fn as_str(self) -> &'static str {
        PatchState::NAMES
            .iter()
            .find(|(state, _, _)| *state == self)
            .map_or("", |(_, model, _)| model)
    }
}

/// Whether an item counts for or against the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemCompliance {
    /// Counts for the node.
    Compliant,
    /// Counts against the node.
    NonCompliant,
    /// `NOT_APPLICABLE`: counted in neither.
    NotApplicable,
}

/// One compliance item: an update's state on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComplianceItem {
    pub(crate) state: PatchState,
    /// The baseline compliance level (rule or `ApprovedPatchesComplianceLevel`).
    pub severity: ComplianceLevel,
    pub(crate) compliance: ItemCompliance,
    /// The update's classification is one of the baseline's `SecurityClassifications`.
    pub security: bool,
}

/// The §5.3 mapping; `None` where Patch Manager records no state.
pub fn compliance_item(
    update: &UpdateFacts,
    evaluation: &Evaluation,
    client: ClientState,
    baseline: &Baseline,
) -> Option<ComplianceItem> {
    compliance_item_of(
        is_security(update, baseline),
        evaluation.verdict(),
        client,
        baseline,
    )
}

/// `compliance_item` for an update whose security standing under `baseline` is already
/// known (`is_security`): a fleet evaluates it once per update, not once per machine.
pub fn compliance_item_of(
    security: bool,
    evaluation: Verdict,
    client: ClientState,
    baseline: &Baseline,
) -> Option<ComplianceItem> {
    let item = |state, severity, compliance| ComplianceItem {
        state,
        severity,
        compliance,
        security,
    };
    let unspecified = ComplianceLevel::Unspecified;
    match evaluation.decision {
        Decision::Approved | Decision::ExplicitApproved => approved_state(client)
            .map(|(state, compliance)| item(state, evaluation.compliance_level, compliance)),
        Decision::ExplicitRejected if client.is_installed() => Some(match baseline.rejected_patches_action {
            RejectedPatchesAction::Block => item(
                PatchState::InstalledRejected,
                unspecified,
                ItemCompliance::NonCompliant,
            ),
            RejectedPatchesAction::AllowAsDependency => {
                item(PatchState::InstalledOther, unspecified, ItemCompliance::Compliant)
            }
        }),
        Decision::PendingApproval | Decision::NotApproved if client.is_installed() => Some(item(
            PatchState::InstalledOther,
            unspecified,
            ItemCompliance::Compliant,
        )),
        Decision::PendingApproval | Decision::NotApproved if security && needs_install(client) => Some(item(
            PatchState::AvailableSecurityUpdate,
            evaluation.compliance_level,
            available_security_compliance(baseline),
        )),
        _ => None,
    }
}

fn approved_state(client: ClientState) -> Option<(PatchState, ItemCompliance)> {
    let state = match client {
        ClientState::Installed => return Some((PatchState::Installed, ItemCompliance::Compliant)),
        ClientState::NotApplicable => {
            return Some((PatchState::NotApplicable, ItemCompliance::NotApplicable))
        }
        ClientState::Unknown => return None,
        ClientState::InstalledPendingReboot => PatchState::InstalledPendingReboot,
        ClientState::NotInstalled | ClientState::Downloaded => PatchState::Missing,
        ClientState::Failed => PatchState::Failed,
    };
    Some((state, ItemCompliance::NonCompliant))
}

fn needs_install(client: ClientState) -> bool {
    matches!(
        client,
        ClientState::NotInstalled | ClientState::Downloaded | ClientState::Failed
    )
}

/// `AvailableSecurityUpdatesComplianceStatus`; absent counts as compliant (§5.3).
fn available_security_compliance(baseline: &Baseline) -> ItemCompliance {
    match baseline.available_security_updates_compliance_status {
        Some(ComplianceStatus::NonCompliant) => ItemCompliance::NonCompliant,
        Some(ComplianceStatus::Compliant) | None => ItemCompliance::Compliant,
    }
}

/// Whether the update's classification is one of the baseline's `SecurityClassifications`.
pub fn is_security(update: &UpdateFacts, baseline: &Baseline) -> bool {
    let properties = PatchProperties::of(update, &baseline.extensions);
    let security = &baseline.extensions.security_classifications;
    properties.classifications.iter().any(|c| security.contains(c))
}

/// Counts per compliance level, indexed like `ComplianceLevel::ALL`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelCounts([u32; 6]);

impl LevelCounts {
    /// Items at `level`.
    pub fn get(&self, level: ComplianceLevel) -> u32 {
        self.0[level_index(level)]
    }

    fn add(&mut self, level: ComplianceLevel) {
        self.0[level_index(level)] += 1;
    }
}

fn level_index(level: ComplianceLevel) -> usize {
    ComplianceLevel::ALL.iter().position(|l| *l == level).unwrap_or(0)
}

/// A node's patch summary (`InstancePatchState` counters and `AWS:ComplianceSummary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchSummary {
    pub(crate) installed: u32,
    pub(crate) installed_other: u32,
    pub(crate) installed_pending_reboot: u32,
    pub(crate) installed_rejected: u32,
    pub(crate) missing: u32,
    pub(crate) failed: u32,
    pub(crate) not_applicable: u32,
    /// Always 0: the proxy has no per-node inventory limit.
    pub unreported_not_applicable: u32,
    pub(crate) available_security_update: u32,
    pub(crate) critical_non_compliant: u32,
    pub(crate) security_non_compliant: u32,
    pub(crate) other_non_compliant: u32,
    pub(crate) status: ComplianceStatus,
    /// Highest level among non-compliant items; `UNSPECIFIED` when compliant.
    pub overall_severity: ComplianceLevel,
    pub(crate) compliant: LevelCounts,
    pub(crate) non_compliant: LevelCounts,
}

impl Default for PatchSummary {
    fn default() -> Self {
        PatchSummary {
            installed: 0,
            installed_other: 0,
            installed_pending_reboot: 0,
            installed_rejected: 0,
            missing: 0,
            failed: 0,
            not_applicable: 0,
            unreported_not_applicable: 0,
            available_security_update: 0,
            critical_non_compliant: 0,
            security_non_compliant: 0,
            other_non_compliant: 0,
            status: ComplianceStatus::Compliant,
            overall_severity: ComplianceLevel::Unspecified,
            compliant: LevelCounts::default(),
            non_compliant: LevelCounts::default(),
        }
    }
}

/// Sums a node's items (one scan overwrites the previous one, so these are all of them).
pub fn summarize<'a>(items: impl IntoIterator<Item = &'a ComplianceItem>) -> PatchSummary {
    let mut summary = PatchSummary::default();
    for item in items {
        summary.count_state(item.state);
        summary.count_compliance(item);
    }
    summary
}

impl PatchSummary {
    fn count_state(&mut self, state: PatchState) {
        let counter = match state {
            PatchState::Installed => &mut self.installed,
            PatchState::InstalledOther => &mut self.installed_other,
            PatchState::InstalledPendingReboot => &mut self.installed_pending_reboot,
            PatchState::InstalledRejected => &mut self.installed_rejected,
            PatchState::Missing => &mut self.missing,
            PatchState::NotApplicable => &mut self.not_applicable,
            PatchState::Failed => &mut self.failed,
            PatchState::AvailableSecurityUpdate => &mut self.available_security_update,
        };
        *counter += 1;
    }

    fn count_compliance(&mut self, item: &ComplianceItem) {
        match item.compliance {
            ItemCompliance::NotApplicable => {}
            ItemCompliance::Compliant => self.compliant.add(item.severity),
            ItemCompliance::NonCompliant => {
                self.non_compliant.add(item.severity);
                self.status = ComplianceStatus::NonCompliant;
                self.overall_severity = self.overall_severity.max(item.severity);
                self.critical_non_compliant += u32::from(item.severity == ComplianceLevel::Critical);
                if item.security {
                    self.security_non_compliant += 1;
                } else {
                    self.other_non_compliant += 1;
                }
            }
        }
    }
}
