//! Reading baseline documents into their raw serde shape (docs/baselines.md §8.1): every JSON form AWS
//! emits for WINDOWS — `CreatePatchBaseline`/`UpdatePatchBaseline` input, `GetPatchBaseline`
//! output, a `BaselineOverride` object or array, a CloudFormation `AWS::SSM::PatchBaseline`
//! resource — and the TOML file of §8.3. Unknown keys become warnings, AWS fields the proxy
//! does not use are listed as ignored, type errors name their field path. Limits and
//! vocabulary are `validate`'s job.

use super::document::{
    ComplianceLevel, ComplianceStatus, MultiRuleComplianceLevel, RejectedPatchesAction, SupersededHandling,
    WindowMode,
};
use super::error::{join, BaselineError, Problem, Warning, WarningKind};
use super::keys;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// AWS baseline fields accepted and ignored on Windows (read-only, Linux-only or request
/// plumbing, §8.1).
pub(super) const IGNORED_BASELINE_FIELDS: &[&str] = &[
    "BaselineId",
    "CreatedDate",
    "ModifiedDate",
    "ClientToken",
    "Tags",
    "Replace",
    "Sources",
    "ApprovedPatchesEnableNonSecurity",
    "ResponseMetadata",
];

/// AWS maintenance-window fields the proxy stores nowhere.
pub(super) const IGNORED_WINDOW_FIELDS: &[&str] =
    &["Description", "StartDate", "EndDate", "Tags", "ClientToken"];

/// CloudFormation resource attributes beside `Type` and `Properties`.
const CLOUDFORMATION_ATTRIBUTES: &[&str] = &[
    "DependsOn",
    "Metadata",
    "Condition",
    "DeletionPolicy",
    "UpdateReplacePolicy",
];

const CLOUDFORMATION_TYPE: &str = "AWS::SSM::PatchBaseline";

/// A baseline as written, before limits and vocabulary are checked.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawBaseline {
    pub name: Option<String>,
    pub operating_system: Option<String>,
    pub description: Option<String>,
    pub global_filters: Option<RawFilterGroup>,
    pub approval_rules: Option<RawApprovalRules>,
    pub approved_patches: Option<Vec<String>>,
    pub approved_patches_compliance_level: Option<ComplianceLevel>,
    pub rejected_patches: Option<Vec<String>>,
    pub rejected_patches_action: Option<RejectedPatchesAction>,
    pub available_security_updates_compliance_status: Option<ComplianceStatus>,
    pub patch_groups: Option<Vec<String>>,
    pub default_baseline: Option<bool>,
    pub proxy_extensions: Option<RawExtensions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawFilterGroup {
    pub patch_filters: Option<Vec<RawFilter>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawFilter {
    pub key: Option<String>,
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawApprovalRules {
    pub patch_rules: Option<Vec<RawRule>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawRule {
    pub patch_filter_group: Option<RawFilterGroup>,
    pub compliance_level: Option<ComplianceLevel>,
    pub approve_after_days: Option<i64>,
    pub approve_until_date: Option<String>,
}

/// `ProxyExtensions` is the proxy's own vocabulary, so a typo in it is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct RawExtensions {
    pub superseded_handling: Option<SupersededHandling>,
    pub explicit_approval_overrides_supersedence: Option<bool>,
    pub multi_rule_compliance_level: Option<MultiRuleComplianceLevel>,
    pub security_classifications: Option<Vec<String>>,
    pub product_aliases: Option<BTreeMap<String, String>>,
    pub deadline: Option<RawDeadline>,
    pub maintenance_windows: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct RawDeadline {
    pub mode: Option<super::document::DeadlineMode>,
    pub day_offset: Option<i64>,
    pub minutes_after_midnight: Option<i64>,
    pub time_zone: Option<String>,
}

/// A `[[maintenance_window]]` with `CreateMaintenanceWindow` field names.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawWindow {
    pub name: Option<String>,
    pub schedule: Option<String>,
    pub schedule_timezone: Option<String>,
    pub schedule_offset: Option<i64>,
    pub duration: Option<i64>,
    pub cutoff: Option<i64>,
    pub allow_unassociated_targets: Option<bool>,
    pub proxy_extensions: Option<RawWindowExtensions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct RawWindowExtensions {
    pub mode: Option<WindowMode>,
    pub patch_groups: Option<Vec<String>>,
}

/// The TOML file around the baselines; all of it is proxy vocabulary, so unknown keys fail.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub schema_version: Option<i64>,
    pub default_baseline: Option<String>,
    #[serde(default)]
    pub evaluation: RawEvaluation,
    #[serde(default)]
    pub patch_group: Vec<RawPatchGroup>,
    #[serde(default)]
    pub baseline: Vec<Map<String, Value>>,
    #[serde(default)]
    pub maintenance_window: Vec<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvaluation {
    pub snapshot_interval_minutes: Option<u32>,
    pub report_unapproved: Option<super::document::ReportUnapproved>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPatchGroup {
    pub name: String,
    pub baseline: String,
    /// Patch Manager's `InstallOverrideList`: a file of KBs this group installs whatever
    /// the baseline's rules say (path relative to the baseline file).
    #[serde(default)]
    pub install_override_list: Option<String>,
}

/// A raw value with the field-path prefix its document sits under and what reading it noticed.
#[derive(Debug)]
pub(crate) struct Parsed<T> {
    pub raw: T,
    pub prefix: String,
    pub warnings: Vec<Warning>,
    pub ignored: Vec<String>,
}

/// Parses JSON text into a value, keeping serde_json's line and column.
pub(crate) fn json_value(text: &str) -> Result<Value, BaselineError> {
    serde_json::from_str(text).map_err(|error| BaselineError::Json {
        path: String::new(),
        message: error.to_string(),
    })
}

/// Parses the TOML file's outer structure.
pub(crate) fn toml_file(text: &str) -> Result<RawFile, BaselineError> {
    toml::from_str(text).map_err(|error| BaselineError::Toml {
        message: error.to_string(),
    })
}

/// Finds the WINDOWS baseline object in any AWS JSON form and reads it, with `extensions`
/// (from the TOML table around it) as its `ProxyExtensions`.
pub(crate) fn aws_document(
    value: Value,
    extensions: Option<Value>,
) -> Result<Parsed<RawBaseline>, BaselineError> {
    let Located {
        mut object,
        prefix,
        mut warnings,
    } = windows_object(value)?;
    if let Some(extensions) = extensions {
        if object.contains_key("ProxyExtensions") {
            return Err(BaselineError::invalid(
                join(&prefix, "ProxyExtensions"),
                Problem::ExtensionsTwice,
            ));
        }
        object.insert("ProxyExtensions".into(), extensions);
    }
    let parsed = raw_baseline(object).map_err(|error| error.within(&prefix))?;
    warnings.extend(parsed.warnings.into_iter().map(|warning| warning.within(&prefix)));
    Ok(Parsed {
        raw: parsed.raw,
        ignored: parsed.ignored.iter().map(|path| join(&prefix, path)).collect(),
        warnings,
        prefix,
    })
}

/// Reads one baseline object (AWS keys, possibly with `ProxyExtensions`).
pub(crate) fn raw_baseline(object: Map<String, Value>) -> Result<Parsed<RawBaseline>, BaselineError> {
    let (raw, unused) = deserialize_tracked::<RawBaseline>(Value::Object(object))?;
    let (ignored, warnings) = sort_unused(unused, is_ignored_baseline_field, keys::baseline_suggestion);
    Ok(Parsed {
        raw,
        prefix: String::new(),
        warnings,
        ignored,
    })
}

/// Reads one `[[maintenance_window]]` table.
pub(crate) fn raw_window(object: Map<String, Value>) -> Result<Parsed<RawWindow>, BaselineError> {
    let (raw, unused) = deserialize_tracked::<RawWindow>(Value::Object(object))?;
    let (ignored, warnings) = sort_unused(
        unused,
        |path| IGNORED_WINDOW_FIELDS.contains(&path),
        keys::window_suggestion,
    );
    Ok(Parsed {
        raw,
        prefix: String::new(),
        warnings,
        ignored,
    })
}

/// The WINDOWS baseline object of an AWS JSON value, where it sits (`[1]`, `Properties`), and
/// what finding it noticed (skipped elements, unknown resource keys).
struct Located {
    object: Map<String, Value>,
    prefix: String,
    warnings: Vec<Warning>,
}

impl Located {
    fn new(object: Map<String, Value>, prefix: &str, warnings: Vec<Warning>) -> Located {
        Located {
            object,
            prefix: prefix.to_string(),
            warnings,
        }
    }
}

/// The WINDOWS baseline object inside an AWS JSON value, with the path prefix to it.
fn windows_object(value: Value) -> Result<Located, BaselineError> {
    match value {
        Value::Array(items) => override_array_element(items),
        Value::Object(map) if is_cloudformation(&map) => cloudformation_properties(map),
        Value::Object(map) => Ok(Located::new(map, "", Vec::new())),
        other => Err(BaselineError::invalid(
            "",
            Problem::Shape {
                found: json_kind(&other),
            },
        )),
    }
}

/// The single WINDOWS element of a `BaselineOverride` array; other OSs are skipped.
fn override_array_element(items: Vec<Value>) -> Result<Located, BaselineError> {
    let mut warnings = Vec::new();
    let mut found: Option<(usize, Map<String, Value>)> = None;
    for (index, item) in items.into_iter().enumerate() {
        let Value::Object(map) = item else {
            let found = json_kind(&item);
            return Err(BaselineError::invalid(
                format!("[{index}]"),
                Problem::Shape { found },
            ));
        };
        let os = map
            .get("OperatingSystem")
            .and_then(Value::as_str)
            .unwrap_or("WINDOWS");
        if os != "WINDOWS" {
            let kind = WarningKind::SkippedElement {
                index,
                os: os.to_string(),
            };
            warnings.push(Warning::new(format!("[{index}]"), kind));
            continue;
        }
        if let Some((first, _)) = &found {
            let problem = Problem::SeveralWindowsElements {
                first: *first,
                second: index,
            };
            return Err(BaselineError::invalid("", problem));
        }
        found = Some((index, map));
    }
    let (index, map) = found.ok_or_else(|| BaselineError::invalid("", Problem::NoWindowsElement))?;
    Ok(Located::new(map, &format!("[{index}]"), warnings))
}

fn is_cloudformation(map: &Map<String, Value>) -> bool {
    map.get("Type").and_then(Value::as_str) == Some(CLOUDFORMATION_TYPE)
}

/// `Properties` of a CloudFormation resource; unexpected resource keys are warnings.
fn cloudformation_properties(mut map: Map<String, Value>) -> Result<Located, BaselineError> {
    let warnings = map
        .keys()
        .filter(|key| !matches!(key.as_str(), "Type" | "Properties"))
        .filter(|key| !CLOUDFORMATION_ATTRIBUTES.contains(&key.as_str()))
        .map(|key| Warning::new(key.clone(), WarningKind::UnknownField { suggestion: None }))
        .collect();
    match map.remove("Properties") {
        Some(Value::Object(properties)) => Ok(Located::new(properties, "Properties", warnings)),
        Some(other) => Err(BaselineError::Type {
            path: "Properties".into(),
            message: format!("expected an object, found {}", json_kind(&other)),
        }),
        None => Err(BaselineError::invalid("Properties", Problem::Required)),
    }
}

/// Deserializes `value`, returning the paths of keys nothing consumed; a type error names
/// the field path.
pub(crate) fn deserialize_tracked<T: DeserializeOwned>(
    value: Value,
) -> Result<(T, Vec<String>), BaselineError> {
    let mut unused = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(value, &mut track);
    let result = serde_ignored::deserialize(deserializer, |path| unused.push(ignored_path(&path)));
    match result {
        Ok(raw) => Ok((raw, unused)),
        Err(error) => Err(BaselineError::Type {
            path: error_path(track.path()),
            message: error.to_string(),
        }),
    }
}

fn error_path(path: serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." {
        String::new()
    } else {
        text
    }
}

/// `A.B[0].C`, the same form `serde_path_to_error` prints.
fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => join(&ignored_path(parent), key),
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

/// Splits unused paths into (ignored AWS fields, unknown-field warnings with the known key
/// `suggest` finds closest).
fn sort_unused(
    unused: Vec<String>,
    is_ignored: impl Fn(&str) -> bool,
    suggest: impl Fn(&str) -> Option<String>,
) -> (Vec<String>, Vec<Warning>) {
    let (ignored, unknown): (Vec<String>, Vec<String>) = unused.into_iter().partition(|p| is_ignored(p));
    let warnings = unknown
        .into_iter()
        .map(|path| {
            let suggestion = suggest(&path);
            Warning::new(path, WarningKind::UnknownField { suggestion })
        })
        .collect();
    (ignored, warnings)
}

fn is_ignored_baseline_field(path: &str) -> bool {
    if IGNORED_BASELINE_FIELDS.contains(&path) {
        return true;
    }
    path.strip_prefix("ApprovalRules.PatchRules[")
        .and_then(|rest| rest.split_once("]."))
        .is_some_and(|(index, field)| index.parse::<usize>().is_ok() && field == "EnableNonSecurity")
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_warn_and_aws_read_only_keys_are_listed_as_ignored() {
        let value = json!({
            "Name": "x-baseline", "BaselineId": "pb-0123456789abcdef0", "Colour": "blue",
            "ApprovalRules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": []},
                "ApproveAfterDays": 1, "EnableNonSecurity": false, "Extra": 1}]}
        });
        let parsed = aws_document(value, None).unwrap();
        let mut ignored = parsed.ignored;
        ignored.sort();
        assert_eq!(
            ignored,
            ["ApprovalRules.PatchRules[0].EnableNonSecurity", "BaselineId"]
        );
        let mut paths: Vec<&str> = parsed.warnings.iter().map(|w| w.path.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["ApprovalRules.PatchRules[0].Extra", "Colour"]);
    }

    #[test]
    fn type_errors_name_the_field_path() {
        let value = json!({"ApprovalRules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": [
            {"Key": "PRODUCT", "Values": ["*"]}, {"Key": "CLASSIFICATION", "Values": [7]}]}}]}});
        let error = aws_document(value, None).unwrap_err();
        assert_eq!(
            error.path(),
            Some("ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[1].Values[0]")
        );
    }

    #[test]
    fn enum_values_are_case_sensitive_and_the_error_names_the_field() {
        let value = json!({"ApprovalRules": {"PatchRules": [{"ComplianceLevel": "high"}]}});
        let error = aws_document(value, None).unwrap_err();
        assert_eq!(error.path(), Some("ApprovalRules.PatchRules[0].ComplianceLevel"));
        assert!(error.to_string().contains("HIGH"), "{error}");
    }

    #[test]
    fn cloudformation_errors_are_prefixed_with_properties() {
        let value = json!({"Type": "AWS::SSM::PatchBaseline", "Properties": {"ApprovedPatches": "KB1"}});
        let error = aws_document(value, None).unwrap_err();
        assert_eq!(error.path(), Some("Properties.ApprovedPatches"));
    }

    #[test]
    fn a_scalar_is_not_a_baseline() {
        let error = aws_document(json!("WINDOWS"), None).unwrap_err();
        assert!(matches!(
            error,
            BaselineError::Invalid {
                problem: Problem::Shape { .. },
                ..
            }
        ));
    }

    #[test]
    fn an_override_array_with_two_windows_elements_is_refused() {
        let value = json!([{"OperatingSystem": "WINDOWS"}, {"OperatingSystem": "WINDOWS"}]);
        let error = aws_document(value, None).unwrap_err();
        let expected = Problem::SeveralWindowsElements { first: 0, second: 1 };
        assert!(matches!(error, BaselineError::Invalid { problem, .. } if problem == expected));
    }

    #[test]
    fn proxy_extension_typos_are_errors() {
        let value = json!({"ProxyExtensions": {"SupersededHandlin": "Exclude"}});
        let error = aws_document(value, None).unwrap_err();
        assert!(error.to_string().contains("SupersededHandlin"), "{error}");
    }
}
