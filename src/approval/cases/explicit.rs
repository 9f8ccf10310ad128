//! Explicit lists (docs/baselines.md §1.4): `ApprovedPatches` and `RejectedPatches` by KB or
//! bulletin id, rejection beating approval, how entries are spelled (T14–T16, T19, T36).

use super::{security_update, REPORT_UNAPPROVED};
use crate::approval::compliance::{compliance_item, ClientState, ItemCompliance, PatchState};
use crate::approval::document::{Baseline, ComplianceLevel};
use crate::approval::error::WarningKind;
use crate::approval::evaluate::{evaluate, Decision, Offer};
use crate::approval::testdata::{b2, b3, now, update, Build};
use serde_json::{json, Value};

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
    assert_eq!(evaluation.offer(REPORT_UNAPPROVED), Offer::Install);
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
    assert_eq!(evaluation.offer(REPORT_UNAPPROVED), Offer::DetectOnly);
    assert_eq!(
        evaluation.offer(crate::approval::ReportUnapproved::None),
        Offer::DetectOnly
    );
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
fn t19_listed_as_approved_and_rejected_is_rejected_and_installed_reports_other() {
    let kb = security_update("WindowsServer2019", "Critical", "2025-10-01").kb("KB5000010");
    let evaluation = evaluate(&kb, &b3(), now());
    assert_eq!(evaluation.decision, Decision::ExplicitRejected);
    assert_ne!(evaluation.offer(REPORT_UNAPPROVED), Offer::Install);
    let installed = compliance_item(&kb, &evaluation, ClientState::Installed, &b3()).unwrap();
    assert_eq!(installed.state, PatchState::InstalledOther);
    assert_eq!(installed.compliance, ItemCompliance::Compliant);
    assert_eq!(
        compliance_item(&kb, &evaluation, ClientState::NotInstalled, &b3()),
        None
    );
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
