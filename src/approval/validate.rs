//! Checks a raw baseline the way AWS validates `CreatePatchBaseline` (docs/baselines.md §1.2, T35) and
//! turns it into the typed model. Limits are errors naming the field path; values outside the
//! Windows vocabulary are warnings (they load and match nothing, as the AWS console's
//! "Obsolete or mismatched options"). Pure.

use super::document::{
    Approval, Baseline, Deadline, DeadlineMode, FilterKey, MaintenanceWindow, PatchFilter, PatchId,
    PatchRule, ProxyExtensions, AWS_FILTER_KEYS,
};
use super::error::{join, BaselineError, Loaded, Problem, Warning, WarningKind};
use super::parse::{
    Parsed, RawBaseline, RawDeadline, RawExtensions, RawFilter, RawFilterGroup, RawRule, RawWindow,
};
use super::vocabulary;
use chrono::NaiveDate;
use std::collections::BTreeMap;
use uuid::Uuid;

const MAX_RULES: usize = 10;
/// CloudFormation's limit; the API model's is `WARN_FILTERS`.
const MAX_FILTERS: usize = 5;
const WARN_FILTERS: usize = 4;
const MAX_VALUES: usize = 20;
const MAX_VALUE_LENGTH: usize = 64;
const MAX_PATCHES: usize = 50;
const MAX_PATCH_LENGTH: usize = 100;
const MAX_APPROVE_AFTER_DAYS: i64 = 360;
const NAME_PATTERN: &str = "^[a-zA-Z0-9_\\-.]{3,128}$";
const GROUP_PATTERN: &str = "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$";
const DATE_PATTERN: &str = "YYYY-MM-DD";

/// Operating systems of the AWS model; all but WINDOWS are refused by name.
const AWS_OPERATING_SYSTEMS: &[&str] = &[
    "WINDOWS",
    "AMAZON_LINUX",
    "AMAZON_LINUX_2",
    "AMAZON_LINUX_2022",
    "UBUNTU",
    "REDHAT_ENTERPRISE_LINUX",
    "SUSE",
    "CENTOS",
    "ORACLE_LINUX",
    "DEBIAN",
    "MACOS",
    "RASPBIAN",
    "ROCKY_LINUX",
    "ALMA_LINUX",
    "AMAZON_LINUX_2023",
];

/// Validates a parsed document into a baseline. `id` is the proxy-local id (TOML); without
/// it the id is the `Name`, which is then required.
pub(crate) fn baseline(
    parsed: Parsed<RawBaseline>,
    id: Option<&str>,
) -> Result<Loaded<Baseline>, BaselineError> {
    let mut warnings = Vec::new();
    let value = check_baseline(parsed.raw, id, &mut warnings)
        .map_err(|e| e.within(&parsed.prefix).with_unknown_keys(&parsed.warnings))?;
    let mut all = parsed.warnings;
    all.extend(warnings.into_iter().map(|warning| warning.within(&parsed.prefix)));
    Ok(Loaded {
        value,
        warnings: all,
        ignored: parsed.ignored,
    })
}

fn check_baseline(
    raw: RawBaseline,
    id: Option<&str>,
    warnings: &mut Vec<Warning>,
) -> Result<Baseline, BaselineError> {
    check_operating_system(raw.operating_system.as_deref())?;
    let name = check_name(raw.name, id)?;
    let global_filters = match raw.global_filters {
        Some(group) => check_filter_group(group, "GlobalFilters", warnings)?,
        None => Vec::new(),
    };
    Ok(Baseline {
        id: id.unwrap_or(&name).to_string(),
        description: check_description(raw.description)?,
        global_filters,
        rules: check_rules(raw.approval_rules.map(|rules| rules.patch_rules), warnings)?,
        approved_patches: check_patch_list(raw.approved_patches, "ApprovedPatches", warnings)?,
        approved_patches_compliance_level: raw.approved_patches_compliance_level.unwrap_or_default(),
        rejected_patches: check_patch_list(raw.rejected_patches, "RejectedPatches", warnings)?,
        rejected_patches_action: raw.rejected_patches_action.unwrap_or_default(),
        available_security_updates_compliance_status: raw.available_security_updates_compliance_status,
        patch_groups: check_patch_groups(raw.patch_groups)?,
        default_baseline: raw.default_baseline.unwrap_or(false),
        extensions: check_extensions(raw.proxy_extensions, warnings)?,
        name,
    })
}

fn check_operating_system(os: Option<&str>) -> Result<(), BaselineError> {
    match os {
        None | Some("WINDOWS") => Ok(()),
        Some(os) if AWS_OPERATING_SYSTEMS.contains(&os) => Err(BaselineError::invalid(
            "OperatingSystem",
            Problem::NotWindows { os: os.to_string() },
        )),
        Some(os) => Err(unknown_value("OperatingSystem", os, AWS_OPERATING_SYSTEMS)),
    }
}

/// `Name`, or the proxy id when a TOML baseline (or a `BaselineOverride`) has none.
fn check_name(name: Option<String>, id: Option<&str>) -> Result<String, BaselineError> {
    let name = match (name, id) {
        (Some(name), _) => name,
        (None, Some(id)) => return Ok(id.to_string()),
        (None, None) => return Err(BaselineError::invalid("Name", Problem::Required)),
    };
    check_name_pattern(&name, "Name")?;
    Ok(name)
}

/// A baseline or window name, or a proxy baseline id: `^[a-zA-Z0-9_\-.]{3,128}$`.
pub(crate) fn check_name_pattern(name: &str, path: &str) -> Result<(), BaselineError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let length = name.chars().count();
    if (3..=128).contains(&length) && name.chars().all(allowed) {
        return Ok(());
    }
    let problem = Problem::Pattern {
        value: name.to_string(),
        pattern: NAME_PATTERN,
    };
    Err(BaselineError::invalid(path, problem))
}

fn check_description(description: Option<String>) -> Result<Option<String>, BaselineError> {
    if let Some(text) = &description {
        check_length("Description", text, 1, 1024)?;
    }
    Ok(description)
}

fn check_rules(
    rules: Option<Option<Vec<RawRule>>>,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<PatchRule>, BaselineError> {
    let rules = match rules {
        None => return Ok(Vec::new()),
        Some(None) => {
            return Err(BaselineError::invalid(
                "ApprovalRules.PatchRules",
                Problem::Required,
            ))
        }
        Some(Some(rules)) => rules,
    };
    check_count("ApprovalRules.PatchRules", rules.len(), MAX_RULES)?;
    rules
        .into_iter()
        .enumerate()
        .map(|(index, rule)| check_rule(rule, &format!("ApprovalRules.PatchRules[{index}]"), warnings))
        .collect()
}

fn check_rule(rule: RawRule, path: &str, warnings: &mut Vec<Warning>) -> Result<PatchRule, BaselineError> {
    let group_path = join(path, "PatchFilterGroup");
    let group = rule
        .patch_filter_group
        .ok_or_else(|| BaselineError::invalid(&group_path, Problem::Required))?;
    let approval = match (rule.approve_after_days, rule.approve_until_date) {
        (Some(_), Some(_)) => return Err(BaselineError::invalid(path, Problem::BothApprovals)),
        (None, None) => return Err(BaselineError::invalid(path, Problem::NoApproval)),
        (Some(days), None) => Approval::AfterDays(check_days(days, &join(path, "ApproveAfterDays"))?),
        (None, Some(date)) => Approval::UntilDate(check_date(&date, &join(path, "ApproveUntilDate"))?),
    };
    Ok(PatchRule {
        filters: check_filter_group(group, &group_path, warnings)?,
        compliance_level: rule.compliance_level.unwrap_or_default(),
        approval,
    })
}

fn check_days(days: i64, path: &str) -> Result<u32, BaselineError> {
    let problem = Problem::OutOfRange {
        value: days,
        min: 0,
        max: MAX_APPROVE_AFTER_DAYS,
    };
    u32::try_from(days)
        .ok()
        .filter(|_| days <= MAX_APPROVE_AFTER_DAYS)
        .ok_or_else(|| BaselineError::invalid(path, problem))
}

/// `YYYY-MM-DD` exactly (AWS: 1–10 characters of that form) and a real calendar day.
fn check_date(text: &str, path: &str) -> Result<NaiveDate, BaselineError> {
    let shaped = text.len() == DATE_PATTERN.len()
        && text.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    let date = shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten();
    date.ok_or_else(|| {
        BaselineError::invalid(
            path,
            Problem::Date {
                value: text.to_string(),
            },
        )
    })
}

fn check_filter_group(
    group: RawFilterGroup,
    path: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<PatchFilter>, BaselineError> {
    let path = join(path, "PatchFilters");
    let filters = group
        .patch_filters
        .ok_or_else(|| BaselineError::invalid(&path, Problem::Required))?;
    check_count(&path, filters.len(), MAX_FILTERS)?;
    if filters.len() > WARN_FILTERS {
        warnings.push(Warning::new(
            &path,
            WarningKind::FiveFilters { count: filters.len() },
        ));
    }
    let checked = filters
        .into_iter()
        .enumerate()
        .map(|(index, filter)| check_filter(filter, &format!("{path}[{index}]"), warnings))
        .collect::<Result<Vec<_>, _>>()?;
    warn_duplicate_keys(&checked, &path, warnings);
    Ok(checked)
}

fn check_filter(
    filter: RawFilter,
    path: &str,
    warnings: &mut Vec<Warning>,
) -> Result<PatchFilter, BaselineError> {
    let key_path = join(path, "Key");
    let text = filter
        .key
        .ok_or_else(|| BaselineError::invalid(&key_path, Problem::Required))?;
    let key = check_key(&text, &key_path)?;
    let values_path = join(path, "Values");
    let values = filter
        .values
        .ok_or_else(|| BaselineError::invalid(&values_path, Problem::Required))?;
    if values.is_empty() {
        let problem = Problem::TooFew { count: 0, min: 1 };
        return Err(BaselineError::invalid(&values_path, problem));
    }
    check_count(&values_path, values.len(), MAX_VALUES)?;
    for (index, value) in values.iter().enumerate() {
        let value_path = format!("{values_path}[{index}]");
        check_length(&value_path, value, 1, MAX_VALUE_LENGTH)?;
        if let Some(kind) = value_warning(key, value) {
            warnings.push(Warning::new(value_path, kind));
        }
    }
    Ok(PatchFilter { key, values })
}

fn check_key(text: &str, path: &str) -> Result<FilterKey, BaselineError> {
    if let Some(key) = FilterKey::parse(text) {
        return Ok(key);
    }
    if AWS_FILTER_KEYS.contains(&text) {
        return Err(BaselineError::invalid(
            path,
            Problem::NotWindowsKey {
                key: text.to_string(),
            },
        ));
    }
    Err(unknown_value(path, text, AWS_FILTER_KEYS))
}

fn warn_duplicate_keys(filters: &[PatchFilter], path: &str, warnings: &mut Vec<Warning>) {
    for (index, filter) in filters.iter().enumerate() {
        if filters[..index].iter().any(|earlier| earlier.key == filter.key) {
            let kind = WarningKind::DuplicateFilterKey {
                key: filter.key.to_string(),
            };
            warnings.push(Warning::new(format!("{path}[{index}].Key"), kind));
        }
    }
}

/// Why a filter value would match nothing, if it looks like a mistake (§2.1, T28). Product
/// and family names of Microsoft applications are an open set and are not checked.
pub(super) fn value_warning(key: FilterKey, value: &str) -> Option<WarningKind> {
    let unknown = || WarningKind::UnknownValue {
        key: key.to_string(),
        value: value.to_string(),
    };
    if value == "*" {
        return None;
    }
    match key {
        FilterKey::PatchSet => (!vocabulary::PATCH_SETS.contains(&value)).then(unknown),
        FilterKey::Classification => (!vocabulary::is_classification(value)).then(unknown),
        FilterKey::MsrcSeverity => (!vocabulary::MSRC_SEVERITIES.contains(&value)).then(unknown),
        FilterKey::Product => product_warning(value).or_else(|| miscased_os_product(value).then(unknown)),
        FilterKey::ProductFamily => {
            let miscased =
                value != vocabulary::WINDOWS_FAMILY && value.eq_ignore_ascii_case(vocabulary::WINDOWS_FAMILY);
            miscased.then(unknown)
        }
        FilterKey::PatchId => (!is_kb_id(value)).then(unknown),
    }
}

fn product_warning(value: &str) -> Option<WarningKind> {
    if vocabulary::is_os_product(value) {
        return None;
    }
    vocabulary::builtin_product_alias(None, value).map(|aws| WarningKind::WsusProductTitle {
        value: value.to_string(),
        aws: aws.to_string(),
    })
}

fn miscased_os_product(value: &str) -> bool {
    !vocabulary::is_os_product(value)
        && vocabulary::OS_PRODUCTS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(value))
}

/// `KB` followed by digits (exactly as AWS's `KbNumber`).
fn is_kb_id(value: &str) -> bool {
    value
        .strip_prefix("KB")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

fn check_patch_list(
    entries: Option<Vec<String>>,
    path: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<PatchId>, BaselineError> {
    let entries = entries.unwrap_or_default();
    check_count(path, entries.len(), MAX_PATCHES)?;
    let mut ids = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let entry_path = format!("{path}[{index}]");
        check_length(&entry_path, entry, 1, MAX_PATCH_LENGTH)?;
        if let Some(kind) = patch_id_warning(entry) {
            warnings.push(Warning::new(entry_path, kind));
        }
        ids.push(PatchId::new(entry));
    }
    Ok(ids)
}

/// §1.4: KB ids and MS bulletin ids are expected; anything else is kept literally.
fn patch_id_warning(entry: &str) -> Option<WarningKind> {
    let entry_owned = || entry.to_string();
    if entry.contains('*') {
        return Some(WarningKind::WildcardPatchId { entry: entry_owned() });
    }
    if entry.bytes().all(|b| b.is_ascii_digit()) {
        return Some(WarningKind::BareKbDigits { entry: entry_owned() });
    }
    let upper = entry.to_ascii_uppercase();
    if is_kb_id(&upper) || is_bulletin_id(&upper) {
        return None;
    }
    Some(WarningKind::UnrecognisedPatchId { entry: entry_owned() })
}

/// `MSyy-nnn`.
fn is_bulletin_id(upper: &str) -> bool {
    let bytes = upper.as_bytes();
    bytes.len() == 8
        && upper.starts_with("MS")
        && bytes[4] == b'-'
        && [2, 3, 5, 6, 7].iter().all(|&i| bytes[i].is_ascii_digit())
}

fn check_patch_groups(groups: Option<Vec<String>>) -> Result<Vec<String>, BaselineError> {
    let groups = groups.unwrap_or_default();
    for (index, group) in groups.iter().enumerate() {
        check_group_name(group, &format!("PatchGroups[{index}]"))?;
    }
    Ok(groups)
}

/// A patch-group name as AWS allows it: 1–256 letters, separators, digits and `_.:/=+-@`.
pub(crate) fn check_group_name(name: &str, path: &str) -> Result<(), BaselineError> {
    check_length(path, name, 1, 256)?;
    let separator = |c: char| c == ' ' || (c.is_whitespace() && !c.is_control());
    let allowed = |c: char| c.is_alphabetic() || c.is_numeric() || separator(c) || "_.:/=+-@".contains(c);
    if name.chars().all(allowed) {
        return Ok(());
    }
    let problem = Problem::Pattern {
        value: name.to_string(),
        pattern: GROUP_PATTERN,
    };
    Err(BaselineError::invalid(path, problem))
}

fn check_extensions(
    raw: Option<RawExtensions>,
    warnings: &mut Vec<Warning>,
) -> Result<ProxyExtensions, BaselineError> {
    let defaults = ProxyExtensions::default();
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let maintenance_windows = raw.maintenance_windows.unwrap_or_default();
    let deadline = check_deadline(raw.deadline, !maintenance_windows.is_empty())?;
    let security_classifications = raw
        .security_classifications
        .unwrap_or(defaults.security_classifications);
    warn_security_classifications(&security_classifications, warnings);
    Ok(ProxyExtensions {
        superseded_handling: raw.superseded_handling.unwrap_or(defaults.superseded_handling),
        explicit_approval_overrides_supersedence: raw
            .explicit_approval_overrides_supersedence
            .unwrap_or(defaults.explicit_approval_overrides_supersedence),
        multi_rule_compliance_level: raw
            .multi_rule_compliance_level
            .unwrap_or(defaults.multi_rule_compliance_level),
        security_classifications,
        product_aliases: check_product_aliases(raw.product_aliases.unwrap_or_default())?,
        deadline,
        maintenance_windows,
    })
}

fn warn_security_classifications(values: &[String], warnings: &mut Vec<Warning>) {
    for (index, value) in values.iter().enumerate() {
        if !vocabulary::is_classification(value) {
            let kind = WarningKind::UnknownValue {
                key: "CLASSIFICATION".into(),
                value: value.clone(),
            };
            let path = format!("ProxyExtensions.SecurityClassifications[{index}]");
            warnings.push(Warning::new(path, kind));
        }
    }
}

/// Keys become lower case (GUIDs hyphenated) so lookups ignore case.
fn check_product_aliases(
    aliases: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, BaselineError> {
    let mut normalised = BTreeMap::new();
    for (key, value) in aliases {
        let path = format!("ProxyExtensions.ProductAliases.{key}");
        check_length(&path, &key, 1, 256)?;
        check_length(&path, &value, 1, MAX_VALUE_LENGTH)?;
        normalised.insert(alias_key(&key), value);
    }
    Ok(normalised)
}

/// The lookup key of a product title or GUID in `ProductAliases`.
pub(crate) fn alias_key(text: &str) -> String {
    match Uuid::parse_str(text) {
        Ok(id) => id.hyphenated().to_string(),
        Err(_) => text.to_lowercase(),
    }
}

fn check_deadline(raw: Option<RawDeadline>, has_windows: bool) -> Result<Deadline, BaselineError> {
    let Some(raw) = raw else {
        return Ok(Deadline::default());
    };
    let mode = raw.mode.unwrap_or_default();
    if mode == DeadlineMode::NextMaintenanceWindow && !has_windows {
        let path = "ProxyExtensions.Deadline.Mode";
        return Err(BaselineError::invalid(path, Problem::DeadlineWithoutWindow));
    }
    if let Some(zone) = &raw.time_zone {
        check_length("ProxyExtensions.Deadline.TimeZone", zone, 1, 64)?;
    }
    Ok(Deadline {
        mode,
        day_offset: check_range(raw.day_offset, "ProxyExtensions.Deadline.DayOffset", 0, 365)?,
        minutes_after_midnight: check_range(
            raw.minutes_after_midnight,
            "ProxyExtensions.Deadline.MinutesAfterMidnight",
            0,
            1439,
        )?,
        time_zone: raw.time_zone,
    })
}

/// Validates a `[[maintenance_window]]` (`CreateMaintenanceWindow` limits, §6.1).
pub(crate) fn window(raw: RawWindow) -> Result<MaintenanceWindow, BaselineError> {
    let name = raw
        .name
        .ok_or_else(|| BaselineError::invalid("Name", Problem::Required))?;
    check_name_pattern(&name, "Name")?;
    let schedule = raw
        .schedule
        .ok_or_else(|| BaselineError::invalid("Schedule", Problem::Required))?;
    check_length("Schedule", &schedule, 1, 256)?;
    let required =
        |value: Option<i64>, path: &str| value.ok_or_else(|| BaselineError::invalid(path, Problem::Required));
    let extensions = raw.proxy_extensions.unwrap_or_default();
    let patch_groups = extensions.patch_groups.unwrap_or_default();
    for (index, group) in patch_groups.iter().enumerate() {
        check_group_name(group, &format!("ProxyExtensions.PatchGroups[{index}]"))?;
    }
    let window = MaintenanceWindow {
        name,
        schedule,
        schedule_timezone: raw.schedule_timezone,
        schedule_offset: raw
            .schedule_offset
            .map(|offset| check_range(Some(offset), "ScheduleOffset", 1, 6))
            .transpose()?,
        duration: check_range(Some(required(raw.duration, "Duration")?), "Duration", 1, 24)?,
        cutoff: check_range(Some(required(raw.cutoff, "Cutoff")?), "Cutoff", 0, 23)?,
        allow_unassociated_targets: raw
            .allow_unassociated_targets
            .ok_or_else(|| BaselineError::invalid("AllowUnassociatedTargets", Problem::Required))?,
        mode: extensions.mode.unwrap_or_default(),
        patch_groups,
    };
    // The schedule and zone must read now, not at the first offer.
    if let Err(message) = super::windows::CompiledWindow::compile(&window) {
        let path = if message.starts_with("ScheduleTimezone") {
            "ScheduleTimezone"
        } else if message.starts_with("ScheduleOffset") {
            "ScheduleOffset"
        } else {
            "Schedule"
        };
        return Err(BaselineError::invalid(path, Problem::Schedule { message }));
    }
    Ok(window)
}

/// An optional integer within `min..=max` (absent = `min`), converted to the field's type.
fn check_range<T: TryFrom<i64> + Default>(
    value: Option<i64>,
    path: &str,
    min: i64,
    max: i64,
) -> Result<T, BaselineError> {
    let Some(value) = value else {
        return Ok(T::default());
    };
    let converted = (min..=max)
        .contains(&value)
        .then(|| T::try_from(value).ok())
        .flatten();
    converted.ok_or_else(|| BaselineError::invalid(path, Problem::OutOfRange { value, min, max }))
}

fn check_count(path: &str, count: usize, max: usize) -> Result<(), BaselineError> {
    if count > max {
        return Err(BaselineError::invalid(path, Problem::TooMany { count, max }));
    }
    Ok(())
}

fn check_length(path: &str, text: &str, min: usize, max: usize) -> Result<(), BaselineError> {
    let length = text.chars().count();
    if !(min..=max).contains(&length) {
        return Err(BaselineError::invalid(path, Problem::Length { length, min, max }));
    }
    Ok(())
}

fn unknown_value(path: &str, value: &str, expected: &[&str]) -> BaselineError {
    let problem = Problem::UnknownValue {
        value: value.to_string(),
        expected: expected.join(", "),
    };
    BaselineError::invalid(path, problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::parse;
    use serde_json::json;

    fn warnings_of(filters: serde_json::Value, approved: serde_json::Value) -> Vec<Warning> {
        let document = json!({
            "Name": "warnings",
            "ApprovalRules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": filters}, "ApproveAfterDays": 1}]},
            "ApprovedPatches": approved,
        });
        let parsed = parse::aws_document(document, None).unwrap();
        baseline(parsed, None).unwrap().warnings
    }

    #[test]
    fn wsus_product_titles_and_miscased_names_warn_but_application_titles_do_not() {
        let filters = json!([{"Key": "PRODUCT", "Values": ["Windows Server 2019", "windowsserver2022", "Office 2016"]}]);
        let warnings = warnings_of(filters, json!([]));
        let kinds: Vec<&WarningKind> = warnings.iter().map(|w| &w.kind).collect();
        assert_eq!(
            kinds,
            [
                &WarningKind::WsusProductTitle {
                    value: "Windows Server 2019".into(),
                    aws: "WindowsServer2019".into()
                },
                &WarningKind::UnknownValue {
                    key: "PRODUCT".into(),
                    value: "windowsserver2022".into()
                },
            ]
        );
        assert_eq!(
            warnings[1].path,
            "ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0].Values[1]"
        );
    }

    #[test]
    fn patch_id_filters_and_unusual_list_entries_warn() {
        let filters =
            json!([{"Key": "PATCH_ID", "Values": ["5000001"]}, {"Key": "PATCH_ID", "Values": ["KB1"]}]);
        let warnings = warnings_of(filters, json!(["ADV180002", "ms17-010"]));
        let kinds: Vec<&WarningKind> = warnings.iter().map(|w| &w.kind).collect();
        assert_eq!(
            kinds,
            [
                &WarningKind::UnknownValue {
                    key: "PATCH_ID".into(),
                    value: "5000001".into()
                },
                &WarningKind::DuplicateFilterKey {
                    key: "PATCH_ID".into()
                },
                &WarningKind::UnrecognisedPatchId {
                    entry: "ADV180002".into()
                },
            ]
        );
        assert_eq!(warnings[2].path, "ApprovedPatches[0]");
    }

    #[test]
    fn unknown_filter_keys_are_errors_naming_the_key() {
        let document =
            json!({"Name": "keys", "GlobalFilters": {"PatchFilters": [{"Key": "COLOUR", "Values": ["x"]}]}});
        let error = baseline(parse::aws_document(document, None).unwrap(), None).unwrap_err();
        assert_eq!(error.path(), Some("GlobalFilters.PatchFilters[0].Key"));
    }

    #[test]
    fn patch_group_names_follow_the_aws_pattern() {
        assert!(check_group_name("Prod web/2 = blue@eu:1+x", "g").is_ok());
        assert!(check_group_name("Produktion-Ü", "g").is_ok());
        assert!(check_group_name("a;b", "g").is_err());
        assert!(check_group_name("", "g").is_err());
        assert!(check_group_name("tab\there", "g").is_err());
    }

    #[test]
    fn deadline_next_window_needs_a_window_and_limits_apply() {
        let document =
            json!({"Name": "deadline", "ProxyExtensions": {"Deadline": {"Mode": "NextMaintenanceWindow"}}});
        let error = baseline(parse::aws_document(document, None).unwrap(), None).unwrap_err();
        assert_eq!(
            error,
            BaselineError::invalid("ProxyExtensions.Deadline.Mode", Problem::DeadlineWithoutWindow)
        );
        let document = json!({"Name": "deadline", "ProxyExtensions": {"Deadline": {"Mode": "ApprovalPlusDays", "MinutesAfterMidnight": 1440}}});
        let error = baseline(parse::aws_document(document, None).unwrap(), None).unwrap_err();
        assert_eq!(
            error.path(),
            Some("ProxyExtensions.Deadline.MinutesAfterMidnight")
        );
    }
}
