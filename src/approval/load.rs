//! Entry points from text: one AWS JSON baseline (any §8.1 form) or the proxy's TOML file
//! (§8.3). Files named by `aws_json_file` are read through the caller's reader, so loading
//! stays pure and testable.

use super::document::{Baseline, EvaluationSettings, MaintenanceWindow};
use super::error::{BaselineError, Loaded, Problem, Warning};
use super::parse;
use super::set::{BaselineSet, GroupRegistration};
use super::validate;
use serde_json::{Map, Value};

const SCHEMA_VERSION: i64 = 1;

impl Baseline {
    /// A baseline from AWS JSON: `CreatePatchBaseline` input, `GetPatchBaseline` output, a
    /// `BaselineOverride` object or array (its WINDOWS element), or a CloudFormation
    /// `AWS::SSM::PatchBaseline` resource, optionally with `ProxyExtensions`. Its id is its
    /// `Name`.
    pub fn from_json(text: &str) -> Result<Loaded<Baseline>, BaselineError> {
        let parsed = parse::aws_document(parse::json_value(text)?, None)?;
        validate::baseline(parsed, None)
    }
}

impl BaselineSet {
    /// The TOML baseline file. `read_file` returns the text of an `aws_json_file` path (or a
    /// message saying why it cannot).
    pub fn from_toml(
        text: &str,
        read_file: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Loaded<BaselineSet>, BaselineError> {
        let raw = parse::toml_file(text)?;
        check_schema_version(raw.schema_version)?;
        let mut warnings = Vec::new();
        let mut ignored = Vec::new();
        let mut baselines = Vec::new();
        for (index, table) in raw.baseline.into_iter().enumerate() {
            let loaded = toml_baseline(table, index, read_file)?;
            warnings.extend(loaded.warnings);
            ignored.extend(loaded.ignored);
            baselines.push(loaded.value);
        }
        let windows = toml_windows(raw.maintenance_window, &mut warnings, &mut ignored)?;
        let registrations = raw
            .patch_group
            .into_iter()
            .enumerate()
            .map(|(index, group)| {
                let install_overrides = match &group.install_override_list {
                    None => Vec::new(),
                    Some(path) => read_override_list(path, read_file).map_err(|message| {
                        BaselineError::invalid(
                            format!("patch_group[{index}].install_override_list"),
                            Problem::OverrideList { message },
                        )
                    })?,
                };
                Ok(GroupRegistration {
                    name: group.name,
                    baseline: group.baseline,
                    install_overrides,
                })
            })
            .collect::<Result<Vec<_>, BaselineError>>()?;
        let evaluation = EvaluationSettings {
            snapshot_interval_minutes: raw.evaluation.snapshot_interval_minutes.unwrap_or(60),
            report_unapproved: raw.evaluation.report_unapproved.unwrap_or_default(),
        };
        let (set, set_warnings) = BaselineSet::new(
            baselines,
            registrations,
            raw.default_baseline,
            windows,
            evaluation,
        )?;
        warnings.extend(set_warnings);
        Ok(Loaded {
            value: set,
            warnings,
            ignored,
        })
    }
}

/// Reads an install override list: Patch Manager's YAML (`patches:` then `- id: 'KB…'`
/// entries; other keys such as `title` ignored) or one KB a line; `#` starts a comment. KBs
/// come back as `KB` and digits.
fn read_override_list(
    path: &str,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Vec<String>, String> {
    let text = read_file(path)?;
    let mut kbs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let line = line.trim_start_matches('-').trim();
        if line.is_empty() || line == "patches:" {
            continue;
        }
        let value = match line.split_once(':') {
            Some((key, value)) if key.trim() == "id" => value.trim(),
            Some(_) => continue,
            None => line,
        };
        let value = value.trim_matches(|c| c == '\'' || c == '"').trim();
        let digits = value
            .strip_prefix("KB")
            .or_else(|| value.strip_prefix("kb"))
            .unwrap_or(value);
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("{path}:{}: {value:?} is not a KB number", number + 1));
        }
        kbs.push(format!("KB{digits}"));
    }
    if kbs.is_empty() {
        return Err(format!("{path}: no KB listed"));
    }
    Ok(kbs)
}

fn check_schema_version(version: Option<i64>) -> Result<(), BaselineError> {
    match version {
        None | Some(SCHEMA_VERSION) => Ok(()),
        Some(found) => Err(BaselineError::invalid(
            "schema_version",
            Problem::SchemaVersion { found },
        )),
    }
}

/// One `[[baseline]]`: `id`, then native AWS keys or `aws_json`/`aws_json_file`, plus
/// optional `ProxyExtensions`. Paths in errors and warnings start `baseline[<id>]`.
fn toml_baseline(
    mut table: Map<String, Value>,
    index: usize,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Loaded<Baseline>, BaselineError> {
    let id = take_string(&mut table, "id").map_err(|error| error.within(&format!("baseline[{index}]")))?;
    let id = id.ok_or_else(|| BaselineError::invalid(format!("baseline[{index}].id"), Problem::Required))?;
    validate::check_name_pattern(&id, &format!("baseline[{index}].id"))?;
    let prefix = format!("baseline[{id}]");
    let loaded = toml_baseline_document(table, &id, read_file).map_err(|error| error.within(&prefix))?;
    Ok(Loaded {
        warnings: loaded.warnings.into_iter().map(|w| w.within(&prefix)).collect(),
        ignored: loaded
            .ignored
            .iter()
            .map(|path| super::error::join(&prefix, path))
            .collect(),
        value: loaded.value,
    })
}

fn toml_baseline_document(
    mut table: Map<String, Value>,
    id: &str,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Loaded<Baseline>, BaselineError> {
    let Some((key, text)) = json_source(&mut table, read_file)? else {
        return validate::baseline(parse::raw_baseline(table)?, Some(id));
    };
    let extensions = table.remove("ProxyExtensions");
    if let Some(native) = table.keys().next() {
        let problem = Problem::NativeAndJson { key: native.clone() };
        return Err(BaselineError::invalid(native.clone(), problem));
    }
    let value = parse::json_value(&text).map_err(|error| error.within(key))?;
    let parsed = parse::aws_document(value, extensions).map_err(|error| error.within(key))?;
    let loaded = validate::baseline(parsed, Some(id)).map_err(|error| error.within(key))?;
    Ok(Loaded {
        warnings: loaded.warnings.into_iter().map(|w| w.within(key)).collect(),
        ignored: loaded
            .ignored
            .iter()
            .map(|path| super::error::join(key, path))
            .collect(),
        value: loaded.value,
    })
}

/// The pasted AWS JSON of a table, if it has one: (`aws_json` | `aws_json_file`, text).
fn json_source(
    table: &mut Map<String, Value>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Option<(&'static str, String)>, BaselineError> {
    let inline = take_string(table, "aws_json")?;
    let file = take_string(table, "aws_json_file")?;
    match (inline, file) {
        (Some(_), Some(_)) => Err(BaselineError::invalid("aws_json_file", Problem::TwoJsonSources)),
        (Some(text), None) => Ok(Some(("aws_json", text))),
        (None, Some(file)) => {
            let text = read_file(&file).map_err(|message| BaselineError::File {
                path: "aws_json_file".into(),
                file,
                message,
            })?;
            Ok(Some(("aws_json_file", text)))
        }
        (None, None) => Ok(None),
    }
}

fn take_string(table: &mut Map<String, Value>, key: &str) -> Result<Option<String>, BaselineError> {
    match table.remove(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(BaselineError::Type {
            path: key.to_string(),
            message: format!("expected a string, found {other}"),
        }),
    }
}

fn toml_windows(
    tables: Vec<Map<String, Value>>,
    warnings: &mut Vec<Warning>,
    ignored: &mut Vec<String>,
) -> Result<Vec<MaintenanceWindow>, BaselineError> {
    let mut windows = Vec::with_capacity(tables.len());
    for (index, table) in tables.into_iter().enumerate() {
        let prefix = format!("maintenance_window[{index}]");
        let parsed = parse::raw_window(table).map_err(|error| error.within(&prefix))?;
        let window = validate::window(parsed.raw)
            .map_err(|error| error.with_unknown_keys(&parsed.warnings).within(&prefix))?;
        warnings.extend(parsed.warnings.into_iter().map(|w| w.within(&prefix)));
        ignored.extend(
            parsed
                .ignored
                .iter()
                .map(|path| super::error::join(&prefix, path)),
        );
        windows.push(window);
    }
    Ok(windows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::document::{
        Approval, ComplianceLevel, ComplianceStatus, PatchId, RejectedPatchesAction, SupersededHandling,
        WindowMode,
    };
    use crate::approval::error::WarningKind;
    use crate::approval::testdata::{examples, B3_JSON, EXAMPLES};
    use chrono::NaiveDate;

    const CREATE_INPUT: &str = include_str!("../../tests/fixtures/baselines/create-patch-baseline.json");
    const UPDATE_INPUT: &str = include_str!("../../tests/fixtures/baselines/update-patch-baseline.json");
    const CLOUDFORMATION: &str = include_str!("../../tests/fixtures/baselines/cloudformation-resource.json");

    fn no_files(_: &str) -> Result<String, String> {
        Err("no files in this test".into())
    }

    fn load_toml(text: &str) -> Result<Loaded<BaselineSet>, BaselineError> {
        BaselineSet::from_toml(text, &no_files)
    }

    fn sorted(mut paths: Vec<String>) -> Vec<String> {
        paths.sort();
        paths
    }

    #[test]
    fn the_example_file_loads_its_baselines_groups_default_and_window_without_warnings() {
        let loaded = load_toml(EXAMPLES).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let set = loaded.value;
        let ids: Vec<&str> = set.baselines().iter().map(|b| b.id.as_str()).collect();
        assert_eq!(&ids[..3], ["aws-default", "prod-servers", "os-and-apps"]);
        assert_eq!(set.default_baseline().id, "aws-default");
        let groups: Vec<(&str, &str)> = set.groups().iter().collect();
        assert_eq!(groups, [("Pilot", "os-and-apps"), ("Prod", "prod-servers")]);
        assert_eq!(
            (
                set.evaluation.snapshot_interval_minutes,
                set.evaluation.report_unapproved
            ),
            (60, crate::approval::ReportUnapproved::Security)
        );
        let window = &set.maintenance_windows[0];
        assert_eq!(window.name, "prod-patch-tuesday-plus-2");
        assert_eq!(
            (window.duration, window.cutoff, window.mode),
            (4, 1, WindowMode::Deadline)
        );
        assert!(loaded
            .ignored
            .contains(&"baseline[prod-servers].aws_json.BaselineId".to_string()));
    }

    #[test]
    fn example_b2_keeps_its_rules_lists_and_extensions() {
        let set = examples();
        let b2 = set.baseline("prod-servers").unwrap();
        let approvals: Vec<(Approval, ComplianceLevel)> = b2
            .rules
            .iter()
            .map(|rule| (rule.approval, rule.compliance_level))
            .collect();
        let until = NaiveDate::from_ymd_opt(2025, 11, 10).unwrap();
        assert_eq!(
            approvals,
            [
                (Approval::AfterDays(0), ComplianceLevel::Critical),
                (Approval::AfterDays(14), ComplianceLevel::High),
                (Approval::UntilDate(until), ComplianceLevel::Medium),
            ]
        );
        assert_eq!(
            b2.global_filters[0].values,
            ["WindowsServer2019", "WindowsServer2022"]
        );
        assert_eq!(
            b2.approved_patches,
            [PatchId::new("KB5000001"), PatchId::new("MS17-010")]
        );
        assert_eq!(b2.approved_patches_compliance_level, ComplianceLevel::High);
        assert_eq!(b2.rejected_patches_action, RejectedPatchesAction::Block);
        assert_eq!(
            b2.available_security_updates_compliance_status,
            Some(ComplianceStatus::NonCompliant)
        );
        assert_eq!(b2.patch_groups, ["Prod"]);
        assert_eq!(
            b2.extensions.superseded_handling,
            SupersededHandling::OfferUntilSuccessorApproved
        );
        let b1 = set.baseline("aws-default").unwrap();
        assert_eq!(b1.rules.len(), 1);
        assert_eq!(b1.extensions.superseded_handling, SupersededHandling::Exclude);
    }

    #[test]
    fn b3_in_json_is_the_same_baseline_as_in_toml() {
        let from_json = Baseline::from_json(B3_JSON).unwrap();
        assert!(from_json.warnings.is_empty(), "{:?}", from_json.warnings);
        let mut json = from_json.value;
        assert_eq!(json.id, "pilot-os-and-apps");
        json.id = "os-and-apps".into();
        assert_eq!(&json, examples().baseline("os-and-apps").unwrap());
    }

    #[test]
    fn create_patch_baseline_input_loads_and_lists_request_fields_as_ignored() {
        let loaded = Baseline::from_json(CREATE_INPUT).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.value.id, "my-windows-baseline");
        assert_eq!(
            loaded.value.approved_patches,
            [PatchId::new("KB2032276"), PatchId::new("MS10-048")]
        );
        assert_eq!(
            sorted(loaded.ignored),
            [
                "ApprovalRules.PatchRules[0].EnableNonSecurity",
                "ApprovedPatchesEnableNonSecurity",
                "ClientToken",
                "Sources",
                "Tags"
            ]
        );
    }

    #[test]
    fn update_patch_baseline_input_loads_with_replace_ignored() {
        let loaded = Baseline::from_json(UPDATE_INPUT).unwrap();
        assert_eq!(sorted(loaded.ignored), ["BaselineId", "Replace"]);
        let until = NaiveDate::from_ymd_opt(2025, 11, 10).unwrap();
        assert_eq!(loaded.value.rules[0].approval, Approval::UntilDate(until));
        assert_eq!(loaded.value.rejected_patches_action, RejectedPatchesAction::Block);
    }

    #[test]
    fn a_baseline_override_object_needs_an_id_as_it_has_no_name() {
        let object = r#"{"OperatingSystem": "WINDOWS", "ApprovalRules": {"PatchRules": [
            {"PatchFilterGroup": {"PatchFilters": []}, "ApproveAfterDays": 3}]}}"#;
        let error = Baseline::from_json(object).unwrap_err();
        assert_eq!(error.path(), Some("Name"));
        let text = format!("[[baseline]]\nid = \"override\"\naws_json = '''{object}'''\n");
        let set = load_toml(&text).unwrap().value;
        assert_eq!(set.baseline("override").unwrap().name, "override");
    }

    #[test]
    fn a_cloudformation_resource_loads_its_properties_groups_and_default_flag() {
        let loaded = Baseline::from_json(CLOUDFORMATION).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.ignored, ["Properties.Tags"]);
        assert_eq!(loaded.value.patch_groups, ["Web", "Batch"]);
        assert!(loaded.value.default_baseline);
        let text = "[[baseline]]\nid = \"cfn\"\naws_json_file = \"cfn.json\"\n";
        let read = |path: &str| match path {
            "cfn.json" => Ok(CLOUDFORMATION.to_string()),
            other => Err(format!("unexpected {other}")),
        };
        let set = BaselineSet::from_toml(text, &read).unwrap().value;
        assert_eq!(set.default_baseline().id, "cfn");
        assert_eq!(set.for_target_group(Some("batch")).baseline.id, "cfn");
    }

    #[test]
    fn an_unreadable_aws_json_file_names_the_baseline_and_the_file() {
        let text = "[[baseline]]\nid = \"gone\"\naws_json_file = \"gone.json\"\n";
        let error = load_toml(text).unwrap_err();
        assert_eq!(error.path(), Some("baseline[gone].aws_json_file"));
        assert!(error.to_string().contains("gone.json"), "{error}");
    }

    #[test]
    fn native_keys_beside_aws_json_are_refused() {
        let text = "[[baseline]]\nid = \"mixed\"\nName = \"mixed\"\naws_json = '{}'\n";
        let error = load_toml(text).unwrap_err();
        assert_eq!(error.path(), Some("baseline[mixed].Name"));
        assert!(matches!(
            error,
            BaselineError::Invalid {
                problem: Problem::NativeAndJson { .. },
                ..
            }
        ));
    }

    #[test]
    fn aws_json_and_aws_json_file_together_are_refused() {
        let text = "[[baseline]]\nid = \"twice\"\naws_json = '{}'\naws_json_file = \"x.json\"\n";
        let error = load_toml(text).unwrap_err();
        assert!(matches!(
            error,
            BaselineError::Invalid {
                problem: Problem::TwoJsonSources,
                ..
            }
        ));
    }

    #[test]
    fn proxy_extensions_in_toml_and_in_the_json_are_refused() {
        let json = r#"{"Name": "both", "ProxyExtensions": {"SupersededHandling": "Offer"}}"#;
        let text = format!(
            "[[baseline]]\nid = \"both\"\naws_json = '{json}'\n[baseline.ProxyExtensions]\nSupersededHandling = \"Exclude\"\n"
        );
        let error = load_toml(&text).unwrap_err();
        assert_eq!(error.path(), Some("baseline[both].aws_json.ProxyExtensions"));
    }

    #[test]
    fn error_paths_in_the_toml_file_start_with_the_baseline_id() {
        let native = EXAMPLES.replacen("ApproveAfterDays = 7", "ApproveAfterDays = 400", 1);
        let error = load_toml(&native).unwrap_err();
        assert_eq!(
            error.path(),
            Some("baseline[aws-default].ApprovalRules.PatchRules[0].ApproveAfterDays")
        );
        let pasted = EXAMPLES.replace("\"ApproveAfterDays\": 14", "\"ApproveAfterDays\": 400");
        let error = load_toml(&pasted).unwrap_err();
        assert_eq!(
            error.path(),
            Some("baseline[prod-servers].aws_json.ApprovalRules.PatchRules[1].ApproveAfterDays")
        );
        let broken = EXAMPLES.replace("\"ApproveAfterDays\": 14,", "\"ApproveAfterDays\": 14");
        let error = load_toml(&broken).unwrap_err();
        assert!(matches!(error, BaselineError::Json { .. }), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("baseline[prod-servers].aws_json: not valid JSON"),
            "{error}"
        );
    }

    #[test]
    fn unknown_keys_in_the_proxy_file_are_errors() {
        let error = load_toml("defualt_baseline = \"aws-default\"\n").unwrap_err();
        assert!(error.to_string().contains("defualt_baseline"), "{error}");
        let error = load_toml("[evaluation]\nsnapshot_interval = 5\n").unwrap_err();
        assert!(error.to_string().contains("snapshot_interval"), "{error}");
    }

    #[test]
    fn an_unsupported_schema_version_is_refused() {
        let error = load_toml("schema_version = 2\n").unwrap_err();
        assert_eq!(
            error,
            BaselineError::invalid("schema_version", Problem::SchemaVersion { found: 2 })
        );
    }

    #[test]
    fn a_patch_group_for_an_unknown_baseline_is_refused() {
        let error = load_toml("[[patch_group]]\nname = \"Prod\"\nbaseline = \"nope\"\n").unwrap_err();
        assert_eq!(error.path(), Some("patch_group[0].baseline"));
    }

    #[test]
    fn a_group_registered_by_the_file_and_by_another_baselines_patch_groups_is_refused() {
        let text = EXAMPLES.replace("\"PatchGroups\": [\"Prod\"]", "\"PatchGroups\": [\"pilot\"]");
        let error = load_toml(&text).unwrap_err();
        assert_eq!(error.path(), Some("baseline[prod-servers].PatchGroups[0]"));
        assert!(matches!(
            error,
            BaselineError::Invalid {
                problem: Problem::GroupTwice { .. },
                ..
            }
        ));
    }

    #[test]
    fn a_baseline_naming_an_unknown_maintenance_window_is_refused() {
        let text = EXAMPLES.replace(
            "MaintenanceWindows = [\"prod-patch-tuesday-plus-2\"]",
            "MaintenanceWindows = [\"x-window\"]",
        );
        let error = load_toml(&text).unwrap_err();
        assert_eq!(
            error.path(),
            Some("baseline[prod-servers].ProxyExtensions.MaintenanceWindows[0]")
        );
    }

    #[test]
    fn without_a_default_the_aws_default_baseline_serves_unassigned_clients() {
        let set = load_toml("").unwrap().value;
        assert_eq!(
            set.for_target_group(Some("Anything")).baseline.id,
            "AWS-DefaultPatchBaseline"
        );
        let error = load_toml("[[baseline]]\nid = \"AWS-DefaultPatchBaseline\"\n").unwrap_err();
        assert!(matches!(
            error,
            BaselineError::Invalid {
                problem: Problem::ReservedId { .. },
                ..
            }
        ));
    }

    #[test]
    fn two_baselines_with_one_id_are_refused() {
        let text = "[[baseline]]\nid = \"same\"\n[[baseline]]\nid = \"same\"\n";
        let error = load_toml(text).unwrap_err();
        assert_eq!(
            error,
            BaselineError::invalid("baseline[same].id", Problem::DuplicateId { id: "same".into() })
        );
    }

    #[test]
    fn window_groups_that_no_baseline_serves_are_warnings() {
        let text = EXAMPLES.replace("PatchGroups = [\"Prod\"]", "PatchGroups = [\"Prod\", \"Nobody\"]");
        let loaded = load_toml(&text).unwrap();
        let kinds: Vec<&WarningKind> = loaded.warnings.iter().map(|w| &w.kind).collect();
        assert_eq!(
            kinds,
            [&WarningKind::UnregisteredGroup {
                group: "Nobody".into()
            }]
        );
    }

    #[test]
    fn json_syntax_errors_keep_line_and_column() {
        let error = Baseline::from_json("{\n  \"Name\": \"x\",\n}").unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
    }

    #[test]
    fn install_override_lists_read_patch_manager_yaml_or_plain_lines() {
        let yaml = "patches:\n    -\n        id: 'KB4480477'\n        title: 'A title: with a colon'\n    -   id: \"kb4480473\"\n";
        let read = |text: &'static str| move |_: &str| -> Result<String, String> { Ok(text.to_string()) };
        assert_eq!(
            read_override_list("o.yaml", &read(yaml)).unwrap(),
            ["KB4480477", "KB4480473"]
        );
        let plain = "# ring 1\nKB5000001\n5000002\n";
        assert_eq!(
            read_override_list("o.txt", &read(plain)).unwrap(),
            ["KB5000001", "KB5000002"]
        );
        let bad = read_override_list("o.txt", &read("KB5000001\nMS17-010\n")).unwrap_err();
        assert!(bad.contains("o.txt:2") && bad.contains("MS17-010"), "{bad}");
        assert!(read_override_list("o.txt", &read("# nothing\n"))
            .unwrap_err()
            .contains("no KB"));
        let text = "[[patch_group]]\nname = \"Ring1\"\nbaseline = \"AWS-DefaultPatchBaseline\"\ninstall_override_list = \"missing.yaml\"\n";
        let error = BaselineSet::from_toml(text, &no_files).unwrap_err();
        assert_eq!(error.path(), Some("patch_group[0].install_override_list"));
    }
}
