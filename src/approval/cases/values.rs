//! Filter values against an update's properties (docs/baselines.md §2): `*`, several
//! products, WSUS product titles, values in the wrong case (T25–T28).

use super::{base_document, security_update};
use crate::approval::document::{Baseline, ComplianceLevel};
use crate::approval::error::WarningKind;
use crate::approval::evaluate::{evaluate, Decision};
use crate::approval::facts::Category;
use crate::approval::testdata::{b2, b3, now, update, Build};
use serde_json::json;
use uuid::Uuid;

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
