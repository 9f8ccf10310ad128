//! Compliance (docs/baselines.md §5): client states to patch states, a node's summary, and
//! the spellings of imported states (T30–T32, T38).

use super::{security_update, state};
use crate::approval::compliance::{compliance_item, summarize, ClientState, PatchState};
use crate::approval::document::{Baseline, ComplianceLevel, ComplianceStatus};
use crate::approval::evaluate::{evaluate, Decision};
use crate::approval::facts::UpdateFacts;
use crate::approval::testdata::{b1, b2, now, update, Build};

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

fn node_summary(baseline: &Baseline) -> crate::approval::compliance::PatchSummary {
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
