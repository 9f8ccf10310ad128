//! The approval engine (docs/baselines.md §3.2, normative): one update, one baseline, one frozen
//! `now` → a decision with its approval date, compliance level and a reason a person can read.
//! Pure; `now` comes from `evaluation_epoch` so that every client in an epoch gets the same
//! answer (§3.4).

use super::document::{
    Approval, Baseline, ComplianceLevel, FilterKey, MultiRuleComplianceLevel, PatchFilter, PatchId,
    PatchRule, ReportUnapproved, SupersededHandling,
};
use super::facts::{PatchProperties, UpdateFacts};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use uuid::Uuid;

/// What an update is under a baseline: the AWS `DeploymentStatus` values plus the proxy's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// An approval rule's delay or cut-off has passed.
    Approved,
    /// A rule matches but its delay has not passed yet.
    PendingApproval,
    /// Listed in `ApprovedPatches` (and not in `RejectedPatches`).
    ExplicitApproved,
    /// Listed in `RejectedPatches`.
    ExplicitRejected,
    /// No rule will ever approve it.
    NotApproved,
    /// A live update supersedes it and the baseline's `SupersededHandling` drops it.
    ExcludedSuperseded,
    /// Microsoft expired it.
    ExcludedExpired,
}

impl Decision {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "APPROVED",
            Decision::PendingApproval => "PENDING_APPROVAL",
            Decision::ExplicitApproved => "EXPLICIT_APPROVED",
            Decision::ExplicitRejected => "EXPLICIT_REJECTED",
            Decision::NotApproved => "NOT_APPROVED",
            Decision::ExcludedSuperseded => "EXCLUDED_SUPERSEDED",
            Decision::ExcludedExpired => "EXCLUDED_EXPIRED",
        }
    }

    /// Approved by a rule or explicitly: the update is offered for install.
    pub fn is_approved(self) -> bool {
        matches!(self, Decision::Approved | Decision::ExplicitApproved)
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a client is sent for an update (MS-WUSP `Deployment/Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Offer {
    /// `Install`, assigned.
    Install,
    /// `PreDeploymentCheck`: the client detects and reports, never installs.
    DetectOnly,
    /// Not sent at all (excluded, expired, or unapproved when those are not reported).
    NotSent,
}

/// The decision without a baseline file: every update the catalog mirrors is approved (the
/// catalog holds only the configured products × classifications) but for expired updates and
/// those a live update supersedes, which are never sent.
pub fn evaluate_without_baselines(update: &UpdateFacts) -> Evaluation {
    let (decision, decided_by, reason) = if update.expired {
        (
            Decision::ExcludedExpired,
            DecidedBy::Expiry,
            "expired (no baseline file)".to_string(),
        )
    } else if let Some(successor) = update.live_successors().next() {
        (
            Decision::ExcludedSuperseded,
            DecidedBy::Successor(successor.update_id),
            format!(
                "superseded by {} (no baseline file)",
                successor.label_beside(update)
            ),
        )
    } else {
        (
            Decision::Approved,
            DecidedBy::NoBaselineFile,
            "mirrored (no baseline file: everything current is approved)".to_string(),
        )
    };
    Evaluation::new(decision, decided_by, reason)
}

/// What in the baseline (or in the update itself) made the decision, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecidedBy {
    /// Microsoft expired the update.
    Expiry,
    /// This entry of `RejectedPatches` names it.
    RejectedPatches(String),
    /// This entry of `ApprovedPatches` names it.
    ApprovedPatches(String),
    /// `GlobalFilters` leave it out.
    GlobalFilters,
    /// Approval rules, numbered from 1 as in the reason: those that approve it (`Approved`),
    /// will approve it (`PendingApproval`), or match it without ever approving it
    /// (`NotApproved`; empty when no rule matches).
    Rules(Vec<usize>),
    /// This live successor supersedes it (under the baseline's `SupersededHandling`).
    Successor(Uuid),
    /// No baseline file: every mirrored update is approved.
    NoBaselineFile,
}

/// The engine's answer for one update (the model of `DescribeEffectivePatchesForPatchBaseline`'s
/// `PatchStatus`, plus a reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub(crate) decision: Decision,
    pub(crate) decided_by: DecidedBy,
    /// When the update is (or, for `PendingApproval`, will be) approved.
    pub approval_date: Option<DateTime<Utc>>,
    /// The level a missing patch is reported at; for `PendingApproval` the pending rules' level.
    pub compliance_level: ComplianceLevel,
    pub(crate) reason: String,
    /// The update's classification is one of the baseline's `SecurityClassifications`.
    pub(crate) security: bool,
    /// A live update supersedes it.
    pub(crate) superseded: bool,
}

impl Evaluation {
    fn new(decision: Decision, decided_by: DecidedBy, reason: String) -> Evaluation {
        Evaluation {
            decision,
            decided_by,
            approval_date: None,
            compliance_level: ComplianceLevel::Unspecified,
            reason,
            security: false,
            superseded: false,
        }
    }

    /// How the update is sent to a WSUS client (§3.2 table): approved → `Install`; rejected →
    /// detect-only (for `INSTALLED_REJECTED`); pending or not approved → detect-only as
    /// `report` says (by default only security updates no live update supersedes); excluded →
    /// not sent.
    pub fn offer(&self, report: ReportUnapproved) -> Offer {
        let reported = match report {
            ReportUnapproved::All => true,
            ReportUnapproved::Security => self.security && !self.superseded,
            ReportUnapproved::None => false,
        };
        match self.decision {
            Decision::Approved | Decision::ExplicitApproved => Offer::Install,
            Decision::ExplicitRejected => Offer::DetectOnly,
            Decision::PendingApproval | Decision::NotApproved if reported => Offer::DetectOnly,
            Decision::PendingApproval | Decision::NotApproved => Offer::NotSent,
            Decision::ExcludedSuperseded | Decision::ExcludedExpired => Offer::NotSent,
        }
    }

    /// The decision.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The list, filter, rules or successor that decided.
    pub fn decided_by(&self) -> &DecidedBy {
        &self.decided_by
    }

    /// Why, in a sentence a person can read.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// What compliance counts of this evaluation.
    pub fn verdict(&self) -> Verdict {
        Verdict {
            decision: self.decision,
            compliance_level: self.compliance_level,
        }
    }
}

/// The part of an `Evaluation` compliance counts (two bytes): a fleet keeps one per update
/// and baseline, and works the whole evaluation out again only when a person asks why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// The level a missing patch is reported at.
    pub compliance_level: ComplianceLevel,
}

/// Decides `update` under `baseline` at `now` (§3.2 steps 0–8).
pub fn evaluate(update: &UpdateFacts, baseline: &Baseline, now: DateTime<Utc>) -> Evaluation {
    let own = evaluate_ignoring_supersedence(update, baseline, now);
    let mut evaluation = apply_supersedence(own, update, baseline, now);
    evaluation.security = super::compliance::is_security(update, baseline);
    evaluation.superseded = update.live_successors().next().is_some();
    evaluation
}

/// The start of the evaluation epoch `now` falls in: `now` rounded down to a multiple of
/// `snapshot_interval_minutes` since the Unix epoch, so decisions change only at epoch
/// boundaries and the epoch can stand for a `SnapshotId`. An interval of 0 freezes nothing.
pub fn evaluation_epoch(now: DateTime<Utc>, snapshot_interval_minutes: u32) -> DateTime<Utc> {
    if snapshot_interval_minutes == 0 {
        return now;
    }
    let interval = i64::from(snapshot_interval_minutes) * 60;
    let start = now.timestamp().div_euclid(interval) * interval;
    DateTime::from_timestamp(start, 0).unwrap_or(now)
}

/// Steps 0–3 and 5–7: expiry, explicit lists, global filters, rules.
fn evaluate_ignoring_supersedence(
    update: &UpdateFacts,
    baseline: &Baseline,
    now: DateTime<Utc>,
) -> Evaluation {
    if update.expired {
        let reason = "expired by Microsoft".into();
        return Evaluation::new(Decision::ExcludedExpired, DecidedBy::Expiry, reason);
    }
    if let Some(entry) = listed_in(&baseline.rejected_patches, update) {
        let reason = format!("listed in RejectedPatches as {}", entry.as_str());
        let by = DecidedBy::RejectedPatches(entry.as_str().to_string());
        return Evaluation::new(Decision::ExplicitRejected, by, reason);
    }
    if let Some(entry) = listed_in(&baseline.approved_patches, update) {
        return Evaluation {
            decision: Decision::ExplicitApproved,
            decided_by: DecidedBy::ApprovedPatches(entry.as_str().to_string()),
            approval_date: Some(update.release_date),
            compliance_level: baseline.approved_patches_compliance_level,
            reason: format!("listed in ApprovedPatches as {}", entry.as_str()),
            security: false,
            superseded: false,
        };
    }
    let properties = PatchProperties::of(update, &baseline.extensions);
    if !filters_match(&baseline.global_filters, &properties) {
        let reason = "excluded by GlobalFilters".into();
        return Evaluation::new(Decision::NotApproved, DecidedBy::GlobalFilters, reason);
    }
    evaluate_rules(update.release_date, baseline, &properties, now)
}

/// The first entry of an explicit list naming the update by KB or bulletin id (§1.4).
fn listed_in<'a>(entries: &'a [PatchId], update: &UpdateFacts) -> Option<&'a PatchId> {
    let kb = update.kb_number();
    let matches = |entry: &&PatchId| {
        let id = entry.as_str();
        kb.as_deref().is_some_and(|kb| kb.eq_ignore_ascii_case(id))
            || update
                .bulletin
                .as_deref()
                .is_some_and(|b| b.trim().eq_ignore_ascii_case(id))
    };
    entries.iter().find(matches)
}

/// A matching rule and when it approves the update (`None`: never).
struct Candidate {
    rule: usize,
    at: Option<DateTime<Utc>>,
    level: ComplianceLevel,
}

/// Steps 6–7.
fn evaluate_rules(
    release: DateTime<Utc>,
    baseline: &Baseline,
    properties: &PatchProperties,
    now: DateTime<Utc>,
) -> Evaluation {
    let candidates: Vec<Candidate> = baseline
        .rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| rule_matches(rule, properties))
        .map(|(index, rule)| Candidate {
            rule: index,
            at: approval_time(rule.approval, release),
            level: rule.compliance_level,
        })
        .collect();
    let mode = baseline.extensions.multi_rule_compliance_level;
    let approved: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.at.is_some_and(|at| at <= now))
        .collect();
    if !approved.is_empty() {
        return decided(Decision::Approved, &approved, mode);
    }
    let pending: Vec<&Candidate> = candidates.iter().filter(|c| c.at.is_some()).collect();
    if !pending.is_empty() {
        return decided(Decision::PendingApproval, &pending, mode);
    }
    let matching = DecidedBy::Rules(candidates.iter().map(|c| c.rule + 1).collect());
    Evaluation::new(
        Decision::NotApproved,
        matching,
        not_approved_reason(&candidates, baseline),
    )
}

/// `Approved` or `PendingApproval` by `candidates` (all with a time, in rule order): the
/// earliest time, and the level `mode` picks.
fn decided(decision: Decision, candidates: &[&Candidate], mode: MultiRuleComplianceLevel) -> Evaluation {
    let approval_date = candidates.iter().filter_map(|c| c.at).min();
    let compliance_level = match mode {
        MultiRuleComplianceLevel::Highest => candidates.iter().map(|c| c.level).max(),
        MultiRuleComplianceLevel::FirstMatchingRule => candidates.first().map(|c| c.level),
    };
    let numbers: Vec<usize> = candidates.iter().map(|c| c.rule + 1).collect();
    let rules: Vec<String> = numbers.iter().map(usize::to_string).collect();
    let rules = format!(
        "{} {}",
        if rules.len() == 1 { "rule" } else { "rules" },
        rules.join(", ")
    );
    let date = approval_date.map_or_else(String::new, timestamp);
    let reason = match decision {
        Decision::Approved => format!("approved by {rules} since {date}"),
        _ => format!("{rules} will approve it at {date}"),
    };
    Evaluation {
        decision,
        decided_by: DecidedBy::Rules(numbers),
        approval_date,
        compliance_level: compliance_level.unwrap_or_default(),
        reason,
        security: false,
        superseded: false,
    }
}

fn not_approved_reason(candidates: &[Candidate], baseline: &Baseline) -> String {
    let Some(first) = candidates.first() else {
        return "no approval rule matches".into();
    };
    match baseline.rules[first.rule].approval {
        Approval::UntilDate(date) => format!(
            "rule {} matches but the update was released after its ApproveUntilDate {date}",
            first.rule + 1
        ),
        Approval::AfterDays(_) => "no approval rule approves it".into(),
    }
}

/// When `approval` approves an update released at `release`: after the delay (whole days of
/// 86 400 s, boundary inclusive), or at release if released on or before the cut-off UTC day.
fn approval_time(approval: Approval, release: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match approval {
        Approval::AfterDays(days) => release.checked_add_signed(Duration::days(i64::from(days))),
        Approval::UntilDate(date) => {
            let next_day = date.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
            (release < next_day).then_some(release)
        }
    }
}

/// A rule's filters all match, and a rule without `PATCH_SET` covers the OS patch set only.
fn rule_matches(rule: &PatchRule, properties: &PatchProperties) -> bool {
    let names_patch_set = rule
        .filters
        .iter()
        .any(|filter| filter.key == FilterKey::PatchSet);
    (names_patch_set || properties.patch_set == "OS") && filters_match(&rule.filters, properties)
}

/// Every filter matches (an empty group matches everything).
pub(super) fn filters_match(filters: &[PatchFilter], properties: &PatchProperties) -> bool {
    filters.iter().all(|filter| filter_matches(filter, properties))
}

/// Any property value equals any filter value, exactly; `*` matches anything, even absence.
fn filter_matches(filter: &PatchFilter, properties: &PatchProperties) -> bool {
    if filter.values.iter().any(|value| value == "*") {
        return true;
    }
    let single = |value: &str| filter.values.iter().any(|wanted| wanted == value);
    let any = |values: &[String]| values.iter().any(|value| single(value));
    match filter.key {
        FilterKey::PatchSet => single(properties.patch_set),
        FilterKey::Product => any(&properties.products),
        FilterKey::ProductFamily => any(&properties.product_families),
        FilterKey::Classification => any(&properties.classifications),
        FilterKey::MsrcSeverity => single(&properties.msrc_severity),
        FilterKey::PatchId => properties.kb_number.as_deref().is_some_and(single),
    }
}

/// Steps 4 and 8: what a live successor does to the update's own decision.
fn apply_supersedence(
    own: Evaluation,
    update: &UpdateFacts,
    baseline: &Baseline,
    now: DateTime<Utc>,
) -> Evaluation {
    let extensions = &baseline.extensions;
    let overridden =
        own.decision == Decision::ExplicitApproved && extensions.explicit_approval_overrides_supersedence;
    let exempt = matches!(
        own.decision,
        Decision::ExcludedExpired | Decision::ExplicitRejected
    );
    let Some(first) = update.live_successors().next() else {
        return own;
    };
    if overridden || exempt {
        return own;
    }
    match extensions.superseded_handling {
        SupersededHandling::Offer => own,
        SupersededHandling::Exclude => {
            superseded(first, format!("superseded by {}", first.label_beside(update)))
        }
        SupersededHandling::OfferUntilSuccessorApproved if own.decision.is_approved() => {
            match approved_successor(update, baseline, now) {
                Some(successor) => superseded(
                    successor,
                    format!(
                        "superseded by {}, which is approved",
                        successor.label_beside(update)
                    ),
                ),
                None => own,
            }
        }
        SupersededHandling::OfferUntilSuccessorApproved => own,
    }
}

/// The first live successor approved (by rule or explicitly) under the same baseline.
fn approved_successor<'a>(
    update: &'a UpdateFacts,
    baseline: &Baseline,
    now: DateTime<Utc>,
) -> Option<&'a UpdateFacts> {
    update.live_successors().find(|successor| {
        evaluate_ignoring_supersedence(successor, baseline, now)
            .decision
            .is_approved()
    })
}

fn superseded(successor: &UpdateFacts, reason: String) -> Evaluation {
    let by = DecidedBy::Successor(successor.update_id);
    Evaluation::new(Decision::ExcludedSuperseded, by, reason)
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn evaluation_epochs_start_on_interval_boundaries() {
        let now = at("2025-11-20T12:34:56Z");
        assert_eq!(evaluation_epoch(now, 60), at("2025-11-20T12:00:00Z"));
        assert_eq!(evaluation_epoch(now, 15), at("2025-11-20T12:30:00Z"));
        assert_eq!(evaluation_epoch(now, 0), now);
        let before = at("2025-11-20T12:59:59Z");
        assert_eq!(evaluation_epoch(before, 60), evaluation_epoch(now, 60));
        assert_eq!(
            evaluation_epoch(at("1969-12-31T23:30:00Z"), 60),
            at("1969-12-31T23:00:00Z")
        );
    }

    #[test]
    fn an_until_date_covers_the_whole_utc_day_to_the_last_fraction_of_a_second() {
        let date = chrono::NaiveDate::from_ymd_opt(2025, 11, 10).unwrap();
        let late = at("2025-11-10T23:59:59.999Z");
        assert_eq!(approval_time(Approval::UntilDate(date), late), Some(late));
        assert_eq!(
            approval_time(Approval::UntilDate(date), at("2025-11-11T00:00:00Z")),
            None
        );
    }

    #[test]
    fn a_successor_with_the_same_kb_is_named_by_its_title() {
        let definition = |id: u128, version: &str| UpdateFacts {
            kb: Some("2267602".into()),
            title: format!("Security Intelligence Update - KB2267602 (Version {version})"),
            ..UpdateFacts::new(Uuid::from_u128(id), at("2025-11-01T00:00:00Z"))
        };
        let old = UpdateFacts {
            superseded_by: vec![std::sync::Arc::new(definition(2, "1.401.200.0"))],
            ..definition(1, "1.401.100.0")
        };
        assert_eq!(
            evaluate_without_baselines(&old).reason(),
            "superseded by KB2267602 \"Security Intelligence Update - KB2267602 (Version 1.401.200.0)\" (no baseline file)"
        );
    }

    fn decided(decision: Decision, security: bool, superseded: bool) -> Evaluation {
        Evaluation {
            security,
            superseded,
            ..Evaluation::new(decision, DecidedBy::Rules(Vec::new()), String::new())
        }
    }

    #[test]
    fn offers_follow_the_decision_table() {
        use ReportUnapproved::{All, None, Security};
        let offer = |decision, report| decided(decision, false, false).offer(report);
        assert_eq!(offer(Decision::Approved, None), Offer::Install);
        assert_eq!(offer(Decision::ExplicitApproved, None), Offer::Install);
        assert_eq!(offer(Decision::ExplicitRejected, None), Offer::DetectOnly);
        assert_eq!(offer(Decision::PendingApproval, All), Offer::DetectOnly);
        assert_eq!(offer(Decision::NotApproved, None), Offer::NotSent);
        assert_eq!(offer(Decision::ExcludedSuperseded, All), Offer::NotSent);
        assert_eq!(offer(Decision::ExcludedExpired, All), Offer::NotSent);
        // The default sends unapproved updates detect-only only when compliance reads them:
        // security classifications that no live update supersedes.
        assert_eq!(offer(Decision::NotApproved, Security), Offer::NotSent);
        let security = decided(Decision::NotApproved, true, false);
        assert_eq!(security.offer(Security), Offer::DetectOnly);
        assert_eq!(security.offer(None), Offer::NotSent);
        let superseded = decided(Decision::PendingApproval, true, true);
        assert_eq!(superseded.offer(Security), Offer::NotSent);
        assert_eq!(superseded.offer(All), Offer::DetectOnly);
        let rejected = decided(Decision::ExplicitRejected, false, true);
        assert_eq!(rejected.offer(Security), Offer::DetectOnly);
    }
}
