//! The test cases of docs/baselines.md §9, one test each (T35 one per sub-case), against the pure
//! engine, loader and compliance mapping. Where a case also concerns what a client is sent
//! through a scan or when (deadlines, gates), the test pins the engine's part and says what
//! the integration test of the offer side must check.

use super::compliance::{compliance_item, summarize, ClientState, ItemCompliance, PatchState};
use super::document::{
    Baseline, ComplianceLevel, ComplianceStatus, DeadlineMode, MultiRuleComplianceLevel, PatchId,
    SupersededHandling, WindowMode,
};
use super::error::{BaselineError, Problem, WarningKind};
use super::evaluate::{evaluate, Decision, Evaluation, Offer};
use super::facts::{Category, UpdateFacts};
use super::testdata::{at, b1, b2, b3, examples, now, update, Build};
use crate::model::{UpdateIdentity, UpdateRecord, UpdateType};
use serde_json::{json, Value};
use uuid::Uuid;

const REPORT_UNAPPROVED: bool = true;

fn security_update(product: &str, severity: &str, released: &str) -> UpdateFacts {
    update(released)
        .product(product)
        .classification("SecurityUpdates")
        .severity(severity)
}

fn assert_evaluation(
    evaluation: &Evaluation,
    decision: Decision,
    approval_date: Option<&str>,
    level: ComplianceLevel,
) {
    assert_eq!(evaluation.decision, decision, "{evaluation:?}");
    assert_eq!(evaluation.approval_date, approval_date.map(at), "{evaluation:?}");
    assert_eq!(evaluation.compliance_level, level, "{evaluation:?}");
}

fn state(update: &UpdateFacts, baseline: &Baseline, client: ClientState) -> Option<PatchState> {
    let evaluation = evaluate(update, baseline, now());
    compliance_item(update, &evaluation, client, baseline).map(|item| item.state)
}

#[test]
fn t01_approve_after_days_counts_from_release_date() {
    let kb = security_update("WindowsServer2022", "Critical", "2025-11-11T18:00:00Z").kb("KB5000100");
    let evaluation = evaluate(&kb, &b1(), now());
    assert_evaluation(
        &evaluation,
        Decision::Approved,
        Some("2025-11-18T18:00:00Z"),
        ComplianceLevel::Unspecified,
    );
    assert_eq!(evaluation.decision.offer(REPORT_UNAPPROVED), Offer::Install);
}

#[test]
fn t02_within_the_delay_is_pending_offered_detect_only_and_reported_as_available_security_update() {
    let kb = security_update("WindowsServer2022", "Critical", "2025-11-14T18:00:00Z").kb("KB5000100");
    let evaluation = evaluate(&kb, &b1(), now());
    assert_evaluation(
        &evaluation,
        Decision::PendingApproval,
        Some("2025-11-21T18:00:00Z"),
        ComplianceLevel::Unspecified,
    );
    assert_eq!(evaluation.decision.offer(REPORT_UNAPPROVED), Offer::DetectOnly);
    assert_eq!(
        state(&kb, &b1(), ClientState::NotInstalled),
        Some(PatchState::AvailableSecurityUpdate)
    );
}

#[test]
fn t03_exactly_the_delay_is_approved_boundary_inclusive() {
    let kb = security_update("WindowsServer2022", "Critical", "2025-11-13T12:00:00Z");
    let evaluation = evaluate(&kb, &b1(), now());
    assert_evaluation(
        &evaluation,
        Decision::Approved,
        Some("2025-11-20T12:00:00Z"),
        ComplianceLevel::Unspecified,
    );
    assert_eq!(evaluation.approval_date, Some(now()));
}

#[test]
fn t04_one_second_short_of_the_delay_is_pending() {
    let kb = security_update("WindowsServer2022", "Critical", "2025-11-13T12:00:01Z");
    let evaluation = evaluate(&kb, &b1(), now());
    assert_evaluation(
        &evaluation,
        Decision::PendingApproval,
        Some("2025-11-20T12:00:01Z"),
        ComplianceLevel::Unspecified,
    );
}

#[test]
fn t05_severity_outside_the_rule_is_not_approved_and_reports_without_breaking_compliance() {
    let kb = security_update("WindowsServer2022", "Moderate", "2025-10-01");
    let evaluation = evaluate(&kb, &b1(), now());
    assert_evaluation(
        &evaluation,
        Decision::NotApproved,
        None,
        ComplianceLevel::Unspecified,
    );
    assert_eq!(evaluation.decision.offer(REPORT_UNAPPROVED), Offer::DetectOnly);
    assert_eq!(
        state(&kb, &b1(), ClientState::NotInstalled),
        Some(PatchState::AvailableSecurityUpdate)
    );
    assert_eq!(
        state(&kb, &b1(), ClientState::Installed),
        Some(PatchState::InstalledOther)
    );
    let item = compliance_item(&kb, &evaluation, ClientState::NotInstalled, &b1()).unwrap();
    assert_eq!(b1().available_security_updates_compliance_status, None);
    let summary = summarize([&item]);
    assert_eq!(summary.status, ComplianceStatus::Compliant);
    assert_eq!(summary.available_security_update, 1);
}

#[test]
fn t06_critical_update_without_msrc_severity_is_unspecified_and_not_approved() {
    let kb = update("2025-10-01")
        .product("WindowsServer2022")
        .classification("CriticalUpdates");
    let evaluation = evaluate(&kb, &b1(), now());
    assert_eq!(evaluation.decision, Decision::NotApproved);
    assert_eq!(state(&kb, &b1(), ClientState::NotInstalled), None);
    assert_eq!(
        state(&kb, &b1(), ClientState::Installed),
        Some(PatchState::InstalledOther)
    );
}

fn office_update() -> UpdateFacts {
    update("2025-10-01T00:00:00Z")
        .family("Office")
        .product("Office 2016")
        .classification("SecurityUpdates")
        .severity("Critical")
}

#[test]
fn t07_rule_without_patch_set_covers_the_os_only() {
    assert_eq!(
        evaluate(&office_update(), &b1(), now()).decision,
        Decision::NotApproved
    );
}

#[test]
fn t08_application_rule_approves_office_at_low() {
    let evaluation = evaluate(&office_update(), &b3(), now());
    assert_evaluation(
        &evaluation,
        Decision::Approved,
        Some("2025-10-08T00:00:00Z"),
        ComplianceLevel::Low,
    );
    assert!(evaluation.reason.contains("rule 2"), "{}", evaluation.reason);
    // The deadline (2025-10-11T00:00:00Z: approval day in Berlin + 3 days at 02:00 CEST) is the
    // offer side's computation; here only B3's deadline settings are pinned.
    let deadline = b3().extensions.deadline;
    assert_eq!(deadline.mode, DeadlineMode::ApprovalPlusDays);
    assert_eq!((deadline.day_offset, deadline.minutes_after_midnight), (3, 120));
    assert_eq!(deadline.time_zone.as_deref(), Some("Europe/Berlin"));
}

#[test]
fn t09_zero_day_rule_approves_at_release_while_the_slower_rule_is_pending() {
    let kb = security_update("WindowsServer2019", "Critical", "2025-11-20T11:00:00Z");
    let evaluation = evaluate(&kb, &b2(), now());
    assert_evaluation(
        &evaluation,
        Decision::Approved,
        Some("2025-11-20T11:00:00Z"),
        ComplianceLevel::Critical,
    );
    assert!(evaluation.reason.contains("rule 1 "), "{}", evaluation.reason);
    // The deadline (next window: 2025-12-11T01:00:00Z) is the offer side's; B2 points at the window.
    assert_eq!(b2().extensions.deadline.mode, DeadlineMode::NextMaintenanceWindow);
    assert_eq!(b2().extensions.maintenance_windows, ["prod-patch-tuesday-plus-2"]);
}

#[test]
fn t10_two_approving_rules_give_the_highest_level_and_the_earliest_date() {
    let kb = security_update("WindowsServer2019", "Critical", "2025-11-01T00:00:00Z");
    let evaluation = evaluate(&kb, &b2(), now());
    assert_evaluation(
        &evaluation,
        Decision::Approved,
        Some("2025-11-01T00:00:00Z"),
        ComplianceLevel::Critical,
    );
    assert!(evaluation.reason.contains("rules 1, 2"), "{}", evaluation.reason);
    let mut reordered = b2();
    reordered.rules.reverse();
    assert_eq!(
        evaluate(&kb, &reordered, now()).compliance_level,
        ComplianceLevel::Critical
    );
    reordered.extensions.multi_rule_compliance_level = MultiRuleComplianceLevel::FirstMatchingRule;
    assert_eq!(
        evaluate(&kb, &reordered, now()).compliance_level,
        ComplianceLevel::High
    );
}

#[test]
fn t11_important_update_is_approved_by_the_fourteen_day_rule_only() {
    let kb = security_update("WindowsServer2022", "Important", "2025-11-01T00:00:00Z");
    let evaluation = evaluate(&kb, &b2(), now());
    assert_evaluation(
        &evaluation,
        Decision::Approved,
        Some("2025-11-15T00:00:00Z"),
        ComplianceLevel::High,
    );
}

#[test]
fn t12_pending_security_update_makes_the_node_non_compliant_at_the_pending_level() {
    let kb = security_update("WindowsServer2022", "Important", "2025-11-17T00:00:00Z");
    let evaluation = evaluate(&kb, &b2(), now());
    assert_evaluation(
        &evaluation,
        Decision::PendingApproval,
        Some("2025-12-01T00:00:00Z"),
        ComplianceLevel::High,
    );
    let item = compliance_item(&kb, &evaluation, ClientState::NotInstalled, &b2()).unwrap();
    assert_eq!(
        (item.state, item.severity),
        (PatchState::AvailableSecurityUpdate, ComplianceLevel::High)
    );
    assert_eq!(summarize([&item]).status, ComplianceStatus::NonCompliant);
}

#[test]
fn t13_global_filters_exclude_other_products() {
    let kb = security_update("WindowsServer2016", "Critical", "2025-11-01");
    let evaluation = evaluate(&kb, &b2(), now());
    assert_eq!(evaluation.decision, Decision::NotApproved);
    assert!(
        evaluation.reason.contains("GlobalFilters"),
        "{}",
        evaluation.reason
    );
    assert_eq!(evaluation.decision.offer(REPORT_UNAPPROVED), Offer::DetectOnly);
}

#[test]
fn t14_explicit_approval_bypasses_global_filters_rules_and_delay() {
    let kb = update("2025-11-20T11:00:00Z")
        .kb("KB5000001")
        .product("WindowsServer2016")
        .classification("Updates")
        .severity("Unspecified");
    let evaluation = evaluate(&kb, &b2(), now());
    assert_eq!(evaluation.decision, Decision::ExplicitApproved);
    assert_eq!(evaluation.compliance_level, ComplianceLevel::High);
    assert_eq!(evaluation.decision.offer(REPORT_UNAPPROVED), Offer::Install);
}

#[test]
fn t15_bulletin_id_approves_every_update_of_the_bulletin() {
    for kb in ["KB4012212", "KB4012213"] {
        let facts = security_update("WindowsServer2012R2", "Critical", "2017-03-14")
            .kb(kb)
            .bulletin("MS17-010");
        let evaluation = evaluate(&facts, &b2(), now());
        assert_eq!(evaluation.decision, Decision::ExplicitApproved, "{kb}");
        assert_eq!(evaluation.compliance_level, ComplianceLevel::High, "{kb}");
    }
}

#[test]
fn t16_rejected_update_is_detect_only_and_installed_reports_rejected_under_block() {
    let kb = security_update("WindowsServer2019", "Critical", "2025-11-01").kb("KB5000002");
    let evaluation = evaluate(&kb, &b2(), now());
    assert_eq!(evaluation.decision, Decision::ExplicitRejected);
    assert_eq!(evaluation.decision.offer(REPORT_UNAPPROVED), Offer::DetectOnly);
    assert_eq!(evaluation.decision.offer(false), Offer::DetectOnly);
    let installed = compliance_item(&kb, &evaluation, ClientState::Installed, &b2()).unwrap();
    assert_eq!(installed.state, PatchState::InstalledRejected);
    assert_eq!(installed.compliance, ItemCompliance::NonCompliant);
    assert_eq!(installed.severity, ComplianceLevel::Unspecified);
    assert_eq!(
        compliance_item(&kb, &evaluation, ClientState::NotInstalled, &b2()),
        None
    );
}

#[test]
fn t17_approve_until_date_includes_the_whole_utc_day() {
    let kb = update("2025-11-10T23:59:59Z")
        .product("WindowsServer2022")
        .classification("Updates");
    let evaluation = evaluate(&kb, &b2(), now());
    assert_evaluation(
        &evaluation,
        Decision::Approved,
        Some("2025-11-10T23:59:59Z"),
        ComplianceLevel::Medium,
    );
}

#[test]
fn t18_released_after_the_until_date_is_never_approved_not_pending() {
    let kb = update("2025-11-11T00:00:00Z")
        .product("WindowsServer2022")
        .classification("Updates");
    for now in [now(), at("2030-01-01")] {
        let evaluation = evaluate(&kb, &b2(), now);
        assert_evaluation(
            &evaluation,
            Decision::NotApproved,
            None,
            ComplianceLevel::Unspecified,
        );
    }
}

#[test]
fn t19_listed_as_approved_and_rejected_is_rejected_and_installed_reports_other() {
    let kb = security_update("WindowsServer2019", "Critical", "2025-10-01").kb("KB5000010");
    let evaluation = evaluate(&kb, &b3(), now());
    assert_eq!(evaluation.decision, Decision::ExplicitRejected);
    assert_ne!(evaluation.decision.offer(REPORT_UNAPPROVED), Offer::Install);
    let installed = compliance_item(&kb, &evaluation, ClientState::Installed, &b3()).unwrap();
    assert_eq!(installed.state, PatchState::InstalledOther);
    assert_eq!(installed.compliance, ItemCompliance::Compliant);
    assert_eq!(
        compliance_item(&kb, &evaluation, ClientState::NotInstalled, &b3()),
        None
    );
}

#[test]
fn t20_a_new_revision_restarts_the_wait() {
    let revision = |number: u32, created: &str| {
        let identity = UpdateIdentity {
            update_id: Uuid::from_u128(20),
            revision: number,
        };
        let mut record = UpdateRecord::new(identity, UpdateType::Software);
        record.creation_date = created.into();
        let mut facts = UpdateFacts::from_record(&record, |_| None).unwrap();
        facts.products = vec![Category::named("WindowsServer2022")];
        facts.classifications = vec![Category::named("SecurityUpdates")];
        facts.msrc_severity = Some("Critical".into());
        facts.product_families = vec!["Windows".into()];
        facts
    };
    let first = evaluate(&revision(1, "2025-11-01T00:00:00.000Z"), &b1(), now());
    assert_eq!(first.decision, Decision::Approved);
    // The caller evaluates the latest revision (the catalog picks it); its date counts.
    let latest = evaluate(&revision(2, "2025-11-18T00:00:00.000Z"), &b1(), now());
    assert_evaluation(
        &latest,
        Decision::PendingApproval,
        Some("2025-11-25T00:00:00Z"),
        ComplianceLevel::Unspecified,
    );
}

fn superseded_pair() -> (UpdateFacts, UpdateFacts) {
    let successor = security_update("WindowsServer2022", "Critical", "2025-11-18T00:00:00Z").kb("KB5000300");
    let superseded = security_update("WindowsServer2022", "Critical", "2025-10-20")
        .kb("KB5000200")
        .superseded_by(successor.clone());
    (superseded, successor)
}

#[test]
fn t21_exclude_drops_the_superseded_update_while_its_successor_waits() {
    let (a, b) = superseded_pair();
    let evaluation_a = evaluate(&a, &b1(), now());
    assert_eq!(evaluation_a.decision, Decision::ExcludedSuperseded);
    assert_eq!(evaluation_a.decision.offer(REPORT_UNAPPROVED), Offer::NotSent);
    let evaluation_b = evaluate(&b, &b1(), now());
    assert_evaluation(
        &evaluation_b,
        Decision::PendingApproval,
        Some("2025-11-25T00:00:00Z"),
        ComplianceLevel::Unspecified,
    );
    assert_eq!(
        state(&b, &b1(), ClientState::NotInstalled),
        Some(PatchState::AvailableSecurityUpdate)
    );
    let offers = [evaluation_a.decision, evaluation_b.decision].map(|d| d.offer(REPORT_UNAPPROVED));
    assert!(
        !offers.contains(&Offer::Install),
        "the documented gap: nothing to install"
    );
}

#[test]
fn t22_offer_until_successor_approved_closes_the_gap() {
    let (a, b) = superseded_pair();
    let mut baseline = b1();
    baseline.extensions.superseded_handling = SupersededHandling::OfferUntilSuccessorApproved;
    assert_eq!(
        evaluate(&a, &baseline, now()).decision.offer(REPORT_UNAPPROVED),
        Offer::Install
    );
    assert_eq!(evaluate(&b, &baseline, now()).decision, Decision::PendingApproval);
    let later = at("2025-11-25T00:00:00Z");
    assert_eq!(
        evaluate(&b, &baseline, later).decision.offer(REPORT_UNAPPROVED),
        Offer::Install
    );
    assert_eq!(
        evaluate(&a, &baseline, later).decision,
        Decision::ExcludedSuperseded
    );
}

#[test]
fn t23_explicit_approval_overrides_supersedence_by_default() {
    let (a, _) = superseded_pair();
    let mut baseline = b1();
    baseline.approved_patches = vec![PatchId::new("KB5000200")];
    assert!(baseline.extensions.explicit_approval_overrides_supersedence);
    let evaluation = evaluate(&a, &baseline, now());
    assert_eq!(evaluation.decision, Decision::ExplicitApproved);
    assert_eq!(evaluation.decision.offer(REPORT_UNAPPROVED), Offer::Install);
    baseline.extensions.explicit_approval_overrides_supersedence = false;
    assert_eq!(
        evaluate(&a, &baseline, now()).decision,
        Decision::ExcludedSuperseded
    );
}

#[test]
fn t24_expired_updates_are_excluded_even_when_a_rule_matches() {
    let kb = security_update("WindowsServer2022", "Critical", "2025-10-01").expired();
    let evaluation = evaluate(&kb, &b1(), now());
    assert_eq!(evaluation.decision, Decision::ExcludedExpired);
    assert_eq!(evaluation.decision.offer(REPORT_UNAPPROVED), Offer::NotSent);
}

#[test]
fn t25_star_matches_an_absent_severity_of_an_application_update() {
    let kb = update("2025-10-01")
        .family("Exchange Server")
        .product("Exchange Server 2019")
        .classification("Tools");
    let evaluation = evaluate(&kb, &b3(), now());
    assert_eq!(evaluation.decision, Decision::Approved);
    assert_eq!(evaluation.compliance_level, ComplianceLevel::Low);
}

#[test]
fn t26_an_update_in_several_products_passes_when_any_product_matches() {
    let kb = security_update("Windows10", "Critical", "2025-11-01").product("WindowsServer2019");
    let evaluation = evaluate(&kb, &b2(), now());
    assert_eq!(evaluation.decision, Decision::Approved);
    assert_eq!(evaluation.compliance_level, ComplianceLevel::Critical);
}

#[test]
fn t27_wsus_server_21h2_product_is_windows_server_2022() {
    let guid = Uuid::parse_str("71718f13-7324-4b0f-8f9e-2ca9dc978e53").unwrap();
    let mut kb = update("2025-11-01")
        .classification("SecurityUpdates")
        .severity("Critical");
    kb.products = vec![Category::new(guid, "Microsoft Server operating system-21H2")];
    kb.product_families.clear();
    let evaluation = evaluate(&kb, &b2(), now());
    assert_eq!(evaluation.decision, Decision::Approved);
    assert_eq!(evaluation.compliance_level, ComplianceLevel::Critical);
}

#[test]
fn t28_wrong_case_value_loads_with_a_warning_and_matches_nothing() {
    let mut document = base_document();
    document["ApprovalRules"]["PatchRules"][0]["PatchFilterGroup"]["PatchFilters"][0] =
        json!({"Key": "CLASSIFICATION", "Values": ["securityupdates"]});
    let loaded = Baseline::from_json(&document.to_string()).unwrap();
    let warning = &loaded.warnings[0];
    assert_eq!(
        warning.path,
        "ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0].Values[0]"
    );
    assert!(matches!(&warning.kind, WarningKind::UnknownValue { key, .. } if key == "CLASSIFICATION"));
    assert!(
        warning.to_string().contains("unknown CLASSIFICATION value"),
        "{warning}"
    );
    let kb = security_update("WindowsServer2022", "Critical", "2025-10-01");
    assert_eq!(
        evaluate(&kb, &loaded.value, now()).decision,
        Decision::NotApproved
    );
}

#[test]
fn t29_target_groups_pick_baselines_case_insensitively_first_registered_wins() {
    let set = examples();
    let baseline_for = |target: Option<&str>| set.for_target_group(target).baseline.id.clone();
    assert_eq!(baseline_for(Some("Web;Prod")), "prod-servers");
    assert_eq!(baseline_for(Some("prod")), "prod-servers");
    assert_eq!(baseline_for(Some("Pilot")), "os-and-apps");
    assert_eq!(baseline_for(Some("QA")), "aws-default");
    // TargetGroupEnabled=0 or no TargetGroup: the protocol side passes None.
    assert_eq!(baseline_for(None), "aws-default");
    assert_eq!(set.for_target_group(Some("prod")).group, Some("Prod"));
}

#[test]
fn t30_client_states_of_an_approved_update_map_to_patch_states() {
    let kb = security_update("WindowsServer2022", "Critical", "2025-10-01");
    let cases = [
        (ClientState::Installed, Some(PatchState::Installed)),
        (
            ClientState::InstalledPendingReboot,
            Some(PatchState::InstalledPendingReboot),
        ),
        (ClientState::Downloaded, Some(PatchState::Missing)),
        (ClientState::NotInstalled, Some(PatchState::Missing)),
        (ClientState::Failed, Some(PatchState::Failed)),
        (ClientState::NotApplicable, Some(PatchState::NotApplicable)),
        (ClientState::Unknown, None),
    ];
    assert_eq!(evaluate(&kb, &b1(), now()).decision, Decision::Approved);
    for (client, expected) in cases {
        assert_eq!(state(&kb, &b1(), client), expected, "{client:?}");
    }
}

/// The eight updates of T31 on one B2 node, with their client states.
fn t31_node() -> Vec<(UpdateFacts, ClientState)> {
    let updates_class = |released: &str| {
        update(released)
            .product("WindowsServer2022")
            .classification("Updates")
    };
    vec![
        (
            security_update("WindowsServer2019", "Critical", "2025-11-01"),
            ClientState::NotInstalled,
        ),
        (
            security_update("WindowsServer2019", "Important", "2025-11-01"),
            ClientState::InstalledPendingReboot,
        ),
        (updates_class("2025-11-01"), ClientState::Installed),
        (
            security_update("WindowsServer2019", "Critical", "2025-11-01").kb("KB5000002"),
            ClientState::Installed,
        ),
        (updates_class("2025-11-12"), ClientState::Installed),
        (
            security_update("WindowsServer2022", "Important", "2025-11-17"),
            ClientState::NotInstalled,
        ),
        (updates_class("2025-11-02"), ClientState::Failed),
        (
            update("2025-11-01")
                .product("WindowsServer2019")
                .classification("UpdateRollups"),
            ClientState::NotApplicable,
        ),
    ]
}

fn node_summary(baseline: &Baseline) -> super::compliance::PatchSummary {
    let items: Vec<_> = t31_node()
        .iter()
        .filter_map(|(facts, client)| {
            let evaluation = evaluate(facts, baseline, now());
            compliance_item(facts, &evaluation, *client, baseline)
        })
        .collect();
    assert_eq!(items.len(), 8);
    summarize(&items)
}

#[test]
fn t31_node_summary_counts_states_security_and_severities() {
    let decisions: Vec<Decision> = t31_node()
        .iter()
        .map(|(u, _)| evaluate(u, &b2(), now()).decision)
        .collect();
    use Decision::*;
    assert_eq!(
        decisions,
        [
            Approved,
            Approved,
            Approved,
            ExplicitRejected,
            NotApproved,
            PendingApproval,
            Approved,
            Approved
        ]
    );
    let summary = node_summary(&b2());
    let counts = [
        summary.installed,
        summary.installed_other,
        summary.installed_pending_reboot,
        summary.installed_rejected,
        summary.missing,
        summary.failed,
        summary.not_applicable,
        summary.unreported_not_applicable,
        summary.available_security_update,
    ];
    assert_eq!(counts, [1, 1, 1, 1, 1, 1, 1, 0, 1]);
    assert_eq!(
        (
            summary.critical_non_compliant,
            summary.security_non_compliant,
            summary.other_non_compliant
        ),
        (1, 4, 1)
    );
    assert_eq!(summary.status, ComplianceStatus::NonCompliant);
    assert_eq!(summary.overall_severity, ComplianceLevel::Critical);
    let non_compliant = |level| summary.non_compliant.get(level);
    assert_eq!(
        [
            ComplianceLevel::Critical,
            ComplianceLevel::High,
            ComplianceLevel::Medium,
            ComplianceLevel::Unspecified
        ]
        .map(non_compliant),
        [1, 2, 1, 1]
    );
    assert_eq!(summary.compliant.get(ComplianceLevel::Medium), 1);
    assert_eq!(summary.compliant.get(ComplianceLevel::Unspecified), 1);
    assert_eq!(summary.compliant.get(ComplianceLevel::High), 0);
}

#[test]
fn t32_compliant_available_security_updates_move_from_non_compliant_to_compliant() {
    let mut baseline = b2();
    baseline.available_security_updates_compliance_status = Some(ComplianceStatus::Compliant);
    let summary = node_summary(&baseline);
    assert_eq!(summary.available_security_update, 1);
    assert_eq!(summary.security_non_compliant, 3);
    assert_eq!(summary.non_compliant.get(ComplianceLevel::High), 1);
    assert_eq!(summary.compliant.get(ComplianceLevel::High), 1);
    assert_eq!(summary.status, ComplianceStatus::NonCompliant);
    assert_eq!(summary.overall_severity, ComplianceLevel::Critical);
}

const GET_OUTPUT: &str = include_str!("../../tests/fixtures/baselines/get-patch-baseline.json");
const OVERRIDE_ARRAY: &str = include_str!("../../tests/fixtures/baselines/baseline-override.json");

#[test]
fn t33_get_patch_baseline_output_loads_registers_its_groups_and_lists_ignored_fields() {
    let text = format!(
        "[[baseline]]\nid = \"imported\"\naws_json = '''\n{GET_OUTPUT}'''\n\n[[patch_group]]\nname = \"Prod\"\nbaseline = \"imported\"\n"
    );
    let loaded = super::set::BaselineSet::from_toml(&text, &|_| Err("none".into())).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let set = loaded.value;
    assert_eq!(set.for_target_group(Some("QA")).baseline.id, "imported");
    assert_eq!(set.for_target_group(Some("dev")).baseline.id, "imported");
    let mut expected = [
        "ApprovalRules.PatchRules[0].EnableNonSecurity",
        "ApprovedPatchesEnableNonSecurity",
        "BaselineId",
        "CreatedDate",
        "ModifiedDate",
        "Sources",
    ]
    .map(|path| format!("baseline[imported].aws_json.{path}"));
    let mut ignored = loaded.ignored;
    ignored.sort();
    expected.sort();
    assert_eq!(ignored, expected);
}

#[test]
fn t34_baseline_override_array_loads_only_the_windows_element() {
    let loaded = load_with_id(OVERRIDE_ARRAY, "override");
    assert_eq!(loaded.value.rules[0].compliance_level, ComplianceLevel::Critical);
    assert_eq!(loaded.value.rejected_patches, [PatchId::new("KB5000002")]);
    let skipped = WarningKind::SkippedElement {
        index: 0,
        os: "AMAZON_LINUX_2".into(),
    };
    assert_eq!(
        loaded.warnings.iter().map(|w| &w.kind).collect::<Vec<_>>(),
        [&skipped]
    );
}

/// A `BaselineOverride` has no `Name`, so it is loaded the way an admin would: as a TOML
/// `aws_json` with an id.
fn load_with_id(text: &str, id: &str) -> super::error::Loaded<Baseline> {
    let toml = format!("[[baseline]]\nid = \"{id}\"\naws_json = '''\n{text}'''\n");
    let set = super::set::BaselineSet::from_toml(&toml, &|_| Err("none".into())).unwrap();
    super::error::Loaded {
        value: set.value.baseline(id).unwrap().clone(),
        warnings: set.warnings,
        ignored: set.ignored,
    }
}

/// A valid baseline: one rule with three filters, ready to be broken by T35.
fn base_document() -> Value {
    json!({
        "Name": "t35-baseline",
        "OperatingSystem": "WINDOWS",
        "ApprovalRules": {"PatchRules": [{
            "PatchFilterGroup": {"PatchFilters": [
                {"Key": "CLASSIFICATION", "Values": ["SecurityUpdates"]},
                {"Key": "MSRC_SEVERITY", "Values": ["Critical"]},
                {"Key": "PRODUCT", "Values": ["*"]}]},
            "ApproveAfterDays": 7, "ComplianceLevel": "HIGH"}]}
    })
}

fn rule_of(document: &mut Value) -> &mut Value {
    &mut document["ApprovalRules"]["PatchRules"][0]
}

fn filters_of(document: &mut Value) -> &mut Vec<Value> {
    rule_of(document)["PatchFilterGroup"]["PatchFilters"]
        .as_array_mut()
        .unwrap()
}

/// Loads the broken document and checks the error names `path` and is `problem`.
fn assert_rejected(document: Value, path: &str, problem: Problem) {
    let error = Baseline::from_json(&document.to_string()).unwrap_err();
    assert_eq!(
        error,
        BaselineError::Invalid {
            path: path.into(),
            problem
        },
        "{error}"
    );
    assert!(error.to_string().starts_with(&format!("{path}: ")), "{error}");
}

#[test]
fn t35a_both_approve_after_days_and_until_date_is_rejected() {
    let mut document = base_document();
    rule_of(&mut document)["ApproveUntilDate"] = json!("2025-11-10");
    assert_rejected(document, "ApprovalRules.PatchRules[0]", Problem::BothApprovals);
}

#[test]
fn t35b_neither_approve_after_days_nor_until_date_is_rejected() {
    let mut document = base_document();
    rule_of(&mut document)
        .as_object_mut()
        .unwrap()
        .remove("ApproveAfterDays");
    assert_rejected(document, "ApprovalRules.PatchRules[0]", Problem::NoApproval);
}

#[test]
fn t35c_approve_after_days_361_is_rejected() {
    let mut document = base_document();
    rule_of(&mut document)["ApproveAfterDays"] = json!(361);
    let problem = Problem::OutOfRange {
        value: 361,
        min: 0,
        max: 360,
    };
    assert_rejected(document, "ApprovalRules.PatchRules[0].ApproveAfterDays", problem);
}

#[test]
fn t35d_negative_approve_after_days_is_rejected() {
    let mut document = base_document();
    rule_of(&mut document)["ApproveAfterDays"] = json!(-1);
    let problem = Problem::OutOfRange {
        value: -1,
        min: 0,
        max: 360,
    };
    assert_rejected(document, "ApprovalRules.PatchRules[0].ApproveAfterDays", problem);
}

#[test]
fn t35e_malformed_or_impossible_until_dates_are_rejected() {
    for date in ["2025-1-5", "2025-13-01", "2025-02-30"] {
        let mut document = base_document();
        let rule = rule_of(&mut document).as_object_mut().unwrap();
        rule.remove("ApproveAfterDays");
        rule.insert("ApproveUntilDate".into(), json!(date));
        let problem = Problem::Date { value: date.into() };
        assert_rejected(document, "ApprovalRules.PatchRules[0].ApproveUntilDate", problem);
    }
}

#[test]
fn t35f_eleven_rules_are_rejected() {
    let mut document = base_document();
    let rule = rule_of(&mut document).clone();
    document["ApprovalRules"]["PatchRules"] = Value::Array(vec![rule; 11]);
    assert_rejected(
        document,
        "ApprovalRules.PatchRules",
        Problem::TooMany { count: 11, max: 10 },
    );
}

#[test]
fn t35g_six_filters_in_a_group_are_rejected() {
    let mut document = base_document();
    let extra = [
        json!({"Key": "PATCH_SET", "Values": ["OS"]}),
        json!({"Key": "PRODUCT_FAMILY", "Values": ["Windows"]}),
        json!({"Key": "PATCH_ID", "Values": ["KB5000001"]}),
    ];
    filters_of(&mut document).extend(extra);
    let path = "ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters";
    assert_rejected(document, path, Problem::TooMany { count: 6, max: 5 });
}

#[test]
fn t35h_linux_filter_keys_are_rejected_in_a_windows_baseline() {
    for key in ["SEVERITY", "PRIORITY"] {
        let mut document = base_document();
        filters_of(&mut document)[1] = json!({"Key": key, "Values": ["Critical"]});
        let path = "ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[1].Key";
        assert_rejected(document, path, Problem::NotWindowsKey { key: key.into() });
    }
}

#[test]
fn t35i_twenty_one_values_in_one_filter_are_rejected() {
    let mut document = base_document();
    filters_of(&mut document)[2]["Values"] =
        json!((0..21).map(|n| format!("Office {n}")).collect::<Vec<_>>());
    let path = "ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[2].Values";
    assert_rejected(document, path, Problem::TooMany { count: 21, max: 20 });
}

#[test]
fn t35i_a_value_longer_than_64_characters_is_rejected_by_its_index() {
    let mut document = base_document();
    filters_of(&mut document)[1]["Values"] = json!(["Critical", "x".repeat(65)]);
    let path = "ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[1].Values[1]";
    assert_rejected(
        document,
        path,
        Problem::Length {
            length: 65,
            min: 1,
            max: 64,
        },
    );
}

#[test]
fn t35j_fifty_one_approved_patches_are_rejected() {
    let mut document = base_document();
    document["ApprovedPatches"] = json!((0..51).map(|n| format!("KB50000{n:02}")).collect::<Vec<_>>());
    assert_rejected(
        document,
        "ApprovedPatches",
        Problem::TooMany { count: 51, max: 50 },
    );
}

#[test]
fn t35k_a_two_character_name_is_rejected() {
    let mut document = base_document();
    document["Name"] = json!("ab");
    let problem = Problem::Pattern {
        value: "ab".into(),
        pattern: "^[a-zA-Z0-9_\\-.]{3,128}$",
    };
    assert_rejected(document, "Name", problem);
}

#[test]
fn t35l_a_linux_operating_system_is_rejected() {
    let mut document = base_document();
    document["OperatingSystem"] = json!("AMAZON_LINUX_2");
    assert_rejected(
        document,
        "OperatingSystem",
        Problem::NotWindows {
            os: "AMAZON_LINUX_2".into(),
        },
    );
}

#[test]
fn t35m_five_filters_load_with_a_warning() {
    let mut document = base_document();
    let extra = [
        json!({"Key": "PATCH_SET", "Values": ["OS"]}),
        json!({"Key": "PRODUCT_FAMILY", "Values": ["*"]}),
    ];
    filters_of(&mut document).extend(extra);
    let loaded = Baseline::from_json(&document.to_string()).unwrap();
    assert_eq!(loaded.value.rules[0].filters.len(), 5);
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].kind, WarningKind::FiveFilters { count: 5 });
    assert_eq!(
        loaded.warnings[0].path,
        "ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters"
    );
}

#[test]
fn t35n_an_omitted_operating_system_means_windows() {
    let mut document = base_document();
    document.as_object_mut().unwrap().remove("OperatingSystem");
    let loaded = Baseline::from_json(&document.to_string()).unwrap();
    assert!(loaded.warnings.is_empty());
    assert_eq!(loaded.value.name, "t35-baseline");
}

#[test]
fn t36_explicit_ids_match_case_insensitively_bare_digits_warn_and_wildcards_match_nothing() {
    let kb = update("2025-11-20")
        .product("WindowsServer2016")
        .classification("Updates")
        .kb("5000001");
    let cases: [(&str, Decision, Option<WarningKind>); 3] = [
        ("kb5000001", Decision::ExplicitApproved, None),
        (
            "5000001",
            Decision::ExplicitApproved,
            Some(WarningKind::BareKbDigits {
                entry: "5000001".into(),
            }),
        ),
        (
            "KB50000*",
            Decision::NotApproved,
            Some(WarningKind::WildcardPatchId {
                entry: "KB50000*".into(),
            }),
        ),
    ];
    for (entry, decision, warning) in cases {
        let mut document = b1_document();
        document["ApprovedPatches"] = json!([entry]);
        let loaded = Baseline::from_json(&document.to_string()).unwrap();
        let kinds: Vec<WarningKind> = loaded.warnings.into_iter().map(|w| w.kind).collect();
        assert_eq!(kinds, warning.into_iter().collect::<Vec<_>>(), "{entry}");
        assert_eq!(evaluate(&kb, &loaded.value, now()).decision, decision, "{entry}");
    }
}

/// B1 as a JSON document.
fn b1_document() -> Value {
    json!({
        "Name": "b1-json",
        "ApprovalRules": {"PatchRules": [{
            "PatchFilterGroup": {"PatchFilters": [
                {"Key": "PRODUCT", "Values": ["*"]},
                {"Key": "CLASSIFICATION", "Values": ["CriticalUpdates", "SecurityUpdates"]},
                {"Key": "MSRC_SEVERITY", "Values": ["Critical", "Important"]}]},
            "ApproveAfterDays": 7, "ComplianceLevel": "UNSPECIFIED"}]}
    })
}

#[test]
fn t37_gated_window_leaves_the_decision_approved() {
    // The gate itself (offered detect-only until the window opens at 2025-12-11T01:00:00Z,
    // Install after) is the offer side's; the engine's part is the unchanged decision, and
    // the window settings it will read.
    let kb = security_update("WindowsServer2019", "Critical", "2025-11-20T11:00:00Z");
    assert_eq!(evaluate(&kb, &b2(), now()).decision, Decision::Approved);
    let text = super::testdata::EXAMPLES.replace("Mode = \"Deadline\"", "Mode = \"Gate\"");
    let set = super::set::BaselineSet::from_toml(&text, &|_| Err("none".into()))
        .unwrap()
        .value;
    let window = &set.maintenance_windows[0];
    assert_eq!(window.mode, WindowMode::Gate);
    assert_eq!(window.patch_groups, ["Prod"]);
    assert_eq!(
        (window.schedule.as_str(), window.schedule_offset),
        ("cron(0 2 ? * TUE#2 *)", Some(2))
    );
}

#[test]
fn t38_imported_patch_states_accept_both_spellings() {
    let cases = [
        ("Installed", PatchState::Installed),
        ("InstalledOther", PatchState::InstalledOther),
        ("NotApplicable", PatchState::NotApplicable),
        ("Missing", PatchState::Missing),
        ("INSTALLED_OTHER", PatchState::InstalledOther),
        ("AVAILABLE_SECURITY_UPDATE", PatchState::AvailableSecurityUpdate),
    ];
    for (text, expected) in cases {
        assert_eq!(PatchState::parse(text), Some(expected), "{text}");
    }
    assert_eq!(PatchState::parse("installed"), None);
    assert_eq!(PatchState::InstalledOther.as_str(), "INSTALLED_OTHER");
}
