//! The validated baseline model: an AWS Patch Manager WINDOWS baseline (docs/baselines.md §1) plus the
//! proxy's `ProxyExtensions` (§8.2), and the loaded file around it (§8.3). Values here have
//! passed `validate`, so the engine never re-checks limits.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One patch baseline, ready for `evaluate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Proxy-local id: the TOML `id`, else the AWS `Name`. Patch groups and
    /// `default_baseline` refer to it.
    pub id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// Filters every update must pass before any rule looks at it (`PATCH_SET` unconstrained
    /// unless given).
    pub global_filters: Vec<PatchFilter>,
    /// Auto-approval rules, OR-ed, in document order.
    pub rules: Vec<PatchRule>,
    pub(crate) approved_patches: Vec<PatchId>,
    pub(crate) approved_patches_compliance_level: ComplianceLevel,
    pub(crate) rejected_patches: Vec<PatchId>,
    pub(crate) rejected_patches_action: RejectedPatchesAction,
    /// Status of applicable security updates that are not (yet) approved; absent = compliant.
    pub available_security_updates_compliance_status: Option<ComplianceStatus>,
    /// Groups registered to this baseline by the document itself (`PatchGroups`).
    pub patch_groups: Vec<String>,
    /// CloudFormation `DefaultBaseline: true`.
    pub default_baseline: bool,
    pub(crate) extensions: ProxyExtensions,
}

/// An approval rule: filters AND-ed, a delay or cut-off, and the level of a missing patch.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRule {
    pub(crate) filters: Vec<PatchFilter>,
    pub(crate) compliance_level: ComplianceLevel,
    pub(crate) approval: Approval,
}

/// When a rule approves a matching update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// `ApproveAfterDays`: this many whole days (86 400 s) after the release date.
    AfterDays(u32),
    /// `ApproveUntilDate`: at release, for updates released on or before this UTC day.
    UntilDate(NaiveDate),
}

/// One filter: the update matches when its property equals any value (`*` matches all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFilter {
    pub(crate) key: FilterKey,
    pub(crate) values: Vec<String>,
}

impl PatchFilter {
    pub(crate) fn new(key: FilterKey, values: &[&str]) -> PatchFilter {
        PatchFilter {
            key,
            values: values.iter().map(|value| value.to_string()).collect(),
        }
    }
}

/// The filter keys valid in a WINDOWS baseline (§2; `PATCH_ID` is a proxy extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FilterKey {
    /// `PATCH_SET`: `OS` or `APPLICATION`.
    PatchSet,
    /// `PRODUCT`: an AWS product name such as `WindowsServer2022`.
    Product,
    /// `PRODUCT_FAMILY`: `Windows` or an application family.
    ProductFamily,
    /// `CLASSIFICATION`: an AWS classification such as `SecurityUpdates`.
    Classification,
    /// `MSRC_SEVERITY`: `Critical`, `Important`, `Moderate`, `Low` or `Unspecified`.
    MsrcSeverity,
    /// `PATCH_ID`: `KB` + digits (a proxy extension in filters).
    PatchId,
}

impl FilterKey {
    pub(crate) const ALL: [FilterKey; 6] = [
        FilterKey::PatchSet,
        FilterKey::Product,
        FilterKey::ProductFamily,
        FilterKey::Classification,
        FilterKey::MsrcSeverity,
        FilterKey::PatchId,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FilterKey::PatchSet => "PATCH_SET",
            FilterKey::Product => "PRODUCT",
            FilterKey::ProductFamily => "PRODUCT_FAMILY",
            FilterKey::Classification => "CLASSIFICATION",
            FilterKey::MsrcSeverity => "MSRC_SEVERITY",
            FilterKey::PatchId => "PATCH_ID",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<FilterKey> {
        FilterKey::ALL.into_iter().find(|key| key.as_str() == text)
    }
}

impl std::fmt::Display for FilterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every `PatchFilterKey` of the AWS model; the ones missing from `FilterKey` are Linux/macOS.
pub(super) const AWS_FILTER_KEYS: &[&str] = &[
    "ARCH",
    "ADVISORY_ID",
    "BUGZILLA_ID",
    "PATCH_SET",
    "PRODUCT",
    "PRODUCT_FAMILY",
    "CLASSIFICATION",
    "CVE_ID",
    "EPOCH",
    "MSRC_SEVERITY",
    "NAME",
    "PATCH_ID",
    "SECTION",
    "PRIORITY",
    "REPOSITORY",
    "RELEASE",
    "SEVERITY",
    "SECURITY",
    "VERSION",
];

/// Patch Manager's compliance levels, ordered so that `max` is "Highest".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceLevel {
    /// `UNSPECIFIED`, the lowest and the default.
    #[default]
    Unspecified,
    /// `INFORMATIONAL`.
    Informational,
    /// `LOW`.
    Low,
    /// `MEDIUM`.
    Medium,
    /// `HIGH`.
    High,
    /// `CRITICAL`, the highest.
    Critical,
}

impl ComplianceLevel {
    /// All levels, lowest first.
    pub const ALL: [ComplianceLevel; 6] = [
        ComplianceLevel::Unspecified,
        ComplianceLevel::Informational,
        ComplianceLevel::Low,
        ComplianceLevel::Medium,
        ComplianceLevel::High,
        ComplianceLevel::Critical,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ComplianceLevel::Unspecified => "UNSPECIFIED",
            ComplianceLevel::Informational => "INFORMATIONAL",
            ComplianceLevel::Low => "LOW",
            ComplianceLevel::Medium => "MEDIUM",
            ComplianceLevel::High => "HIGH",
            ComplianceLevel::Critical => "CRITICAL",
        }
    }
}

impl std::fmt::Display for ComplianceLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `RejectedPatchesAction`; on Windows it only changes how an installed rejected patch reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectedPatchesAction {
    /// `ALLOW_AS_DEPENDENCY` (default): an installed rejected patch reports `INSTALLED_OTHER`, compliant.
    #[default]
    AllowAsDependency,
    /// `BLOCK`: an installed rejected patch reports `INSTALLED_REJECTED`, non-compliant.
    Block,
}

/// `COMPLIANT` / `NON_COMPLIANT`: a node's status, and `AvailableSecurityUpdatesComplianceStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceStatus {
    /// `COMPLIANT`.
    Compliant,
    /// `NON_COMPLIANT`.
    NonCompliant,
}

/// An `ApprovedPatches` / `RejectedPatches` entry (§1.4), kept as the literal identifier it
/// is compared with: `KB<digits>` or a bulletin id, upper-cased. Bare digits become `KB<digits>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PatchId(String);

impl PatchId {
    /// Normalises an entry: upper case, bare digits prefixed with `KB`.
    pub fn new(entry: &str) -> PatchId {
        let upper = entry.to_ascii_uppercase();
        if !upper.is_empty() && upper.bytes().all(|b| b.is_ascii_digit()) {
            return PatchId(format!("KB{upper}"));
        }
        PatchId(upper)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Proxy-only settings (§8.2); deleting them leaves a document AWS accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyExtensions {
    pub(crate) superseded_handling: SupersededHandling,
    /// Explicitly approved superseded updates are still offered.
    pub explicit_approval_overrides_supersedence: bool,
    pub(crate) multi_rule_compliance_level: MultiRuleComplianceLevel,
    /// Classifications counted as security (AVAILABLE_SECURITY_UPDATE, SecurityNonCompliant).
    pub security_classifications: Vec<String>,
    /// WSUS product title or GUID (lower case) → AWS `PRODUCT`; consulted before the built-in table.
    pub product_aliases: BTreeMap<String, String>,
    pub(crate) deadline: Deadline,
    /// Names of `[[maintenance_window]]`s used by gate and deadline modes.
    pub maintenance_windows: Vec<String>,
}

impl Default for ProxyExtensions {
    fn default() -> Self {
        ProxyExtensions {
            superseded_handling: SupersededHandling::Exclude,
            explicit_approval_overrides_supersedence: true,
            multi_rule_compliance_level: MultiRuleComplianceLevel::Highest,
            security_classifications: vec!["SecurityUpdates".into()],
            product_aliases: BTreeMap::new(),
            deadline: Deadline::default(),
            maintenance_windows: Vec::new(),
        }
    }
}

/// What happens to an update some other live update supersedes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SupersededHandling {
    /// Never offered (what Patch Manager does).
    #[default]
    Exclude,
    /// Offered while approved and no successor is approved yet (closes the delay gap).
    OfferUntilSuccessorApproved,
    /// Supersedence ignored; the client's detection sorts it out (what WSUS does).
    Offer,
}

/// The level of an update several rules approve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MultiRuleComplianceLevel {
    /// The highest level of all approving rules (the default).
    #[default]
    Highest,
    /// The level of the first approving rule, in document order.
    FirstMatchingRule,
}

/// The install deadline sent with an `Install` offer (computed by the offer side, not here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deadline {
    pub(crate) mode: DeadlineMode,
    /// Days after the approval day (`ApprovalPlusDays`), 0–365.
    pub day_offset: u16,
    /// Local time of day of the deadline, 0–1439.
    pub minutes_after_midnight: u16,
    /// IANA zone the day and time are counted in; absent = UTC.
    pub time_zone: Option<String>,
}

/// `ProxyExtensions.Deadline.Mode`: how an install deadline is computed (docs/baselines.md §6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeadlineMode {
    /// No deadline (the default).
    #[default]
    None,
    /// The approval day plus `day_offset` days, at `minutes_after_midnight` in `time_zone`.
    ApprovalPlusDays,
    /// The start of the next of the baseline's maintenance windows.
    NextMaintenanceWindow,
}

/// A `[[maintenance_window]]`: `CreateMaintenanceWindow` fields plus how the proxy uses it.
/// Stored for the offer side; schedules are not interpreted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub(crate) name: String,
    pub(crate) schedule: String,
    pub(crate) schedule_timezone: Option<String>,
    pub(crate) schedule_offset: Option<u8>,
    /// Hours, 1–24.
    pub duration: u8,
    /// Hours before the end when no new work starts, 0–23.
    pub cutoff: u8,
    pub(crate) allow_unassociated_targets: bool,
    pub(crate) mode: WindowMode,
    /// Patch groups the window applies to.
    pub patch_groups: Vec<String>,
}

/// `ProxyExtensions.Mode` of a maintenance window (docs/baselines.md §6.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowMode {
    /// Kept for reports only (the default).
    #[default]
    Informational,
    /// Outside the window, a newly approved update is offered detect-only until it opens.
    Gate,
    /// `Deployment/Deadline` is the next window start.
    Deadline,
}

/// `[evaluation]`: how often decisions are recomputed and which unapproved updates are sent
/// detect-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvaluationSettings {
    pub(crate) snapshot_interval_minutes: u32,
    pub(crate) report_unapproved: ReportUnapproved,
}

impl Default for EvaluationSettings {
    fn default() -> Self {
        EvaluationSettings {
            snapshot_interval_minutes: 60,
            report_unapproved: ReportUnapproved::default(),
        }
    }
}

/// `[evaluation] report_unapproved`: which updates a baseline does not approve are still sent
/// detect-only (`PreDeploymentCheck`), so that machines report whether they need them. Every
/// update sent costs every new client a share of a SyncUpdates round trip (the Windows Update
/// agent abandons a scan after 200 of them), so by default only what compliance reads is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportUnapproved {
    /// `"security"` (the default): unapproved updates of the baseline's
    /// `SecurityClassifications` that no live update supersedes — what
    /// `AVAILABLE_SECURITY_UPDATE` counts. Rejected updates are always sent (for
    /// `INSTALLED_REJECTED`).
    #[default]
    Security,
    /// `"all"` or `true`: every unapproved update, superseded or not, as WSUS does (large
    /// scopes; `INSTALLED_OTHER` for every classification).
    All,
    /// `"none"` or `false`: only rejected updates besides the approved ones.
    None,
}

impl ReportUnapproved {
    /// The setting's name as the baseline file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportUnapproved::Security => "security",
            ReportUnapproved::All => "all",
            ReportUnapproved::None => "none",
        }
    }
}

impl<'de> Deserialize<'de> for ReportUnapproved {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Name(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Flag(true) => Ok(ReportUnapproved::All),
            Raw::Flag(false) => Ok(ReportUnapproved::None),
            Raw::Name(name) => match name.as_str() {
                "security" => Ok(ReportUnapproved::Security),
                "all" => Ok(ReportUnapproved::All),
                "none" => Ok(ReportUnapproved::None),
                other => Err(serde::de::Error::custom(format!(
                    "unknown value {other:?}: expected \"security\", \"all\", \"none\", true or false"
                ))),
            },
        }
    }
}
