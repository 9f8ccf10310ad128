//! Approval rules and their dates (docs/baselines.md §2–§3.2): delays and their inclusive
//! boundaries, severities, the `PATCH_SET` default, levels when several rules approve,
//! `GlobalFilters`, until-dates and revisions restarting the wait (T01–T13, T17, T18, T20).

use super::{assert_evaluation, security_update, state, REPORT_UNAPPROVED};
use crate::approval::compliance::{compliance_item, summarize, ClientState, PatchState};
use crate::approval::document::{ComplianceLevel, ComplianceStatus, DeadlineMode, MultiRuleComplianceLevel};
use crate::approval::evaluate::{evaluate, Decision, Offer};
use crate::approval::facts::{Category, UpdateFacts};
use crate::approval::testdata::{at, b1, b2, b3, now, update, Build};
use crate::model::{UpdateIdentity, UpdateRecord, UpdateType};
use uuid::Uuid;

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
    assert_eq!(evaluation.offer(REPORT_UNAPPROVED), Offer::Install);
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
    assert_eq!(evaluation.offer(REPORT_UNAPPROVED), Offer::DetectOnly);
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
    assert_eq!(evaluation.offer(REPORT_UNAPPROVED), Offer::DetectOnly);
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
    assert_eq!(evaluation.offer(REPORT_UNAPPROVED), Offer::DetectOnly);
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
