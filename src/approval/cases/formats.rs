//! The baseline documents AWS produces and their limits (docs/baselines.md §1.2, §8): a
//! `GetPatchBaseline` export, a `BaselineOverride` array, and every rejection of T35 with its
//! field path (T33–T35).

use super::base_document;
use crate::approval::document::{Baseline, ComplianceLevel, PatchId};
use crate::approval::error::{BaselineError, Problem, WarningKind};
use serde_json::{json, Value};

const GET_OUTPUT: &str = include_str!("../../../tests/fixtures/baselines/get-patch-baseline.json");
const OVERRIDE_ARRAY: &str = include_str!("../../../tests/fixtures/baselines/baseline-override.json");

#[test]
fn t33_get_patch_baseline_output_loads_registers_its_groups_and_lists_ignored_fields() {
    let text = format!(
        "[[baseline]]\nid = \"imported\"\naws_json = '''\n{GET_OUTPUT}'''\n\n[[patch_group]]\nname = \"Prod\"\nbaseline = \"imported\"\n"
    );
    let loaded = crate::approval::set::BaselineSet::from_toml(&text, &|_| Err("none".into())).unwrap();
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
fn load_with_id(text: &str, id: &str) -> crate::approval::error::Loaded<Baseline> {
    let toml = format!("[[baseline]]\nid = \"{id}\"\naws_json = '''\n{text}'''\n");
    let set = crate::approval::set::BaselineSet::from_toml(&toml, &|_| Err("none".into())).unwrap();
    crate::approval::error::Loaded {
        value: set.value.baseline(id).unwrap().clone(),
        warnings: set.warnings,
        ignored: set.ignored,
    }
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
