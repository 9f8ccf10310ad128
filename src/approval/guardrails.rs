//! Guardrails: what a loaded baseline file does that is probably not what its author meant.
//! Some need only the file (maintenance-window settings this build does not act on); the rest
//! look at the file against a synced catalog: filter values no update has, rules that cover OS
//! updates only beside application updates they would match, and supersedence gaps (an
//! approved update excluded for a successor the baseline does not approve yet, so nothing is
//! offered for that fix, docs/baselines.md §0.6). They are warnings like the loader's:
//! `baseline check --strict` fails on them and the daemon logs them. Predefined AWS baselines
//! are not checked. Pure: the catalog and `now` are arguments.

use super::document::{Baseline, DeadlineMode, FilterKey, PatchFilter, SupersededHandling};
use super::error::{Warning, WarningKind};
use super::evaluate::{evaluate, evaluation_epoch, filters_match, Decision};
use super::facts::{PatchProperties, UpdateFacts};
use super::predefined::is_predefined;
use super::set::BaselineSet;
use super::validate::value_warning;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// What a maintenance window does to offers, for the warnings about one that does nothing.
pub(crate) const WINDOW_EFFECTS: &str =
    "only Gate windows (installs offered inside the window, before its cutoff) and Deadline windows or a baseline Deadline (Deployment/Deadline) change offers";

/// How many updates a warning names as examples.
const EXAMPLES: usize = 5;

/// How many catalog values a "closest values" note lists, and how alike (0–1) they must be.
const CLOSEST: usize = 3;
const CLOSEST_SIMILARITY: f64 = 0.5;

/// What a guardrail found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Guardrail {
    /// A filter value that no live update of the synced catalog has.
    #[error("{key} value {value:?} matches no update of the synced catalog{}", closest_note(.closest))]
    NoMatch {
        /// The filter key.
        key: FilterKey,
        /// The value.
        value: String,
        /// The catalog's values of that key closest to it.
        closest: Vec<String>,
    },
    /// A rule without `PATCH_SET` (so OS only) whose other filters match application updates.
    #[error(
        "no PATCH_SET filter, so the rule covers OS updates only (as in Patch Manager), but {count} \
         application update(s) of the catalog match its other filters, e.g. {example}; add a rule \
         with PATCH_SET APPLICATION if they are meant"
    )]
    OsOnlyRule {
        /// Application updates its other filters match.
        count: usize,
        /// One of them.
        example: String,
    },
    /// Approved updates excluded as superseded by updates the baseline does not approve.
    #[error(
        "{count} update(s) this baseline approves are excluded as superseded by updates it does not \
         approve (yet), so nothing is offered for those fixes: {}; SupersededHandling \
         OfferUntilSuccessorApproved keeps them offered until a successor is approved \
         (docs/baselines.md §0.6)",
        .examples.join(", ")
    )]
    SupersedenceGap {
        /// Updates in the gap.
        count: usize,
        /// The first few, each with its successor and that successor's decision.
        examples: Vec<String>,
    },
    /// Maintenance-window settings, which this build does not act on.
    #[error("{} set, but it changes no offer: {}", .fields.join(", "), WINDOW_EFFECTS)]
    WindowSettings {
        /// The settings, with their values.
        fields: Vec<String>,
    },
    /// The catalog has no live updates to check against.
    #[error("the synced catalog has no updates yet (run `wucache sync`); catalog checks skipped")]
    EmptyCatalog,
}

fn closest_note(closest: &[String]) -> String {
    if closest.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = closest.iter().map(|value| format!("{value:?}")).collect();
    format!(" (closest there: {})", quoted.join(", "))
}

fn warning(path: impl Into<String>, guardrail: Guardrail) -> Warning {
    Warning::new(path, WarningKind::Guardrail(guardrail))
}

/// The loaded baselines of `set` (the predefined ones are AWS's, not the author's).
fn own_baselines(set: &BaselineSet) -> impl Iterator<Item = &Baseline> {
    set.baselines().iter().filter(|b| !is_predefined(&b.id))
}

/// Guardrails that need only the file: maintenance windows and the baseline settings that
/// refer to them, which this build keeps for reports only.
pub fn document_warnings(set: &BaselineSet) -> Vec<Warning> {
    let named: BTreeSet<&str> = own_baselines(set)
        .flat_map(|b| b.extensions.maintenance_windows.iter().map(String::as_str))
        .collect();
    set.maintenance_windows
        .iter()
        .filter_map(|window| {
            let mut fields = Vec::new();
            if window.mode == super::document::WindowMode::Informational
                && !uses_window_deadline(set, &window.name)
            {
                fields.push("ProxyExtensions.Mode Informational".to_string());
            }
            let reaches_group = window.patch_groups.iter().any(|g| set.groups().is_registered(g));
            if !named.contains(window.name.as_str()) && !reaches_group {
                fields.push(format!(
                    "a window no baseline names in MaintenanceWindows and whose PatchGroups {:?} name no registered group",
                    window.patch_groups
                ));
            }
            (!fields.is_empty())
                .then(|| warning(format!("maintenance_window[{}]", window.name), Guardrail::WindowSettings { fields }))
        })
        .collect()
}

/// Whether a baseline's `Deadline = NextMaintenanceWindow` takes its deadline from `window`.
fn uses_window_deadline(set: &BaselineSet, window: &str) -> bool {
    own_baselines(set).any(|b| {
        b.extensions.deadline.mode == DeadlineMode::NextMaintenanceWindow
            && b.extensions.maintenance_windows.iter().any(|w| w == window)
    })
}

/// Guardrails against a synced catalog (every top-level update's facts, as
/// `catalog_facts` gives them), evaluated at the evaluation epoch of `now`.
pub fn catalog_warnings(set: &BaselineSet, catalog: &[UpdateFacts], now: DateTime<Utc>) -> Vec<Warning> {
    let live: Vec<&UpdateFacts> = catalog.iter().filter(|u| !u.expired).collect();
    if live.is_empty() {
        return vec![warning("", Guardrail::EmptyCatalog)];
    }
    let epoch = evaluation_epoch(now, set.evaluation.snapshot_interval_minutes);
    let mut warnings = Vec::new();
    for baseline in own_baselines(set) {
        let properties: Vec<(&UpdateFacts, PatchProperties)> = live
            .iter()
            .map(|update| (*update, PatchProperties::of(update, &baseline.extensions)))
            .collect();
        warnings.extend(unmatched_values(baseline, &properties));
        warnings.extend(os_only_rules(baseline, &properties));
        warnings.extend(supersedence_gap(baseline, &live, epoch));
    }
    warnings
}

/// Filter values (global and per rule) that no live update has. Values the loader already
/// warned about (outside the Windows vocabulary) are not repeated.
fn unmatched_values(baseline: &Baseline, catalog: &[(&UpdateFacts, PatchProperties)]) -> Vec<Warning> {
    let present = present_values(catalog);
    let prefix = format!("baseline[{}]", baseline.id);
    let groups = std::iter::once((format!("{prefix}.GlobalFilters"), &baseline.global_filters)).chain(
        baseline.rules.iter().enumerate().map(|(index, rule)| {
            let path = format!("{prefix}.ApprovalRules.PatchRules[{index}].PatchFilterGroup");
            (path, &rule.filters)
        }),
    );
    let mut warnings = Vec::new();
    for (group_path, filters) in groups {
        for (index, filter) in filters.iter().enumerate() {
            let path = format!("{group_path}.PatchFilters[{index}].Values");
            warnings.extend(unmatched_in_filter(filter, &present, &path));
        }
    }
    warnings
}

fn unmatched_in_filter(
    filter: &PatchFilter,
    present: &BTreeMap<FilterKey, BTreeSet<&str>>,
    path: &str,
) -> Vec<Warning> {
    let empty = BTreeSet::new();
    let values = present.get(&filter.key).unwrap_or(&empty);
    filter
        .values
        .iter()
        .enumerate()
        .filter(|(_, value)| *value != "*" && value_warning(filter.key, value).is_none())
        .filter(|(_, value)| !values.contains(value.as_str()))
        .map(|(index, value)| {
            let closest = match filter.key {
                FilterKey::Product | FilterKey::ProductFamily => {
                    crate::model::closest_names(value, values.iter().copied(), CLOSEST, CLOSEST_SIMILARITY)
                }
                _ => Vec::new(),
            };
            let guardrail = Guardrail::NoMatch {
                key: filter.key,
                value: value.clone(),
                closest,
            };
            warning(format!("{path}[{index}]"), guardrail)
        })
        .collect()
}

/// Every value each filter key takes in the catalog.
fn present_values<'a>(
    catalog: &'a [(&UpdateFacts, PatchProperties)],
) -> BTreeMap<FilterKey, BTreeSet<&'a str>> {
    let mut present: BTreeMap<FilterKey, BTreeSet<&str>> = BTreeMap::new();
    for (_, properties) in catalog {
        let mut add = |key: FilterKey, value: &'a str| {
            present.entry(key).or_default().insert(value);
        };
        add(FilterKey::PatchSet, properties.patch_set);
        add(FilterKey::MsrcSeverity, &properties.msrc_severity);
        properties
            .products
            .iter()
            .for_each(|p| add(FilterKey::Product, p));
        properties
            .product_families
            .iter()
            .for_each(|f| add(FilterKey::ProductFamily, f));
        properties
            .classifications
            .iter()
            .for_each(|c| add(FilterKey::Classification, c));
        if let Some(kb) = &properties.kb_number {
            add(FilterKey::PatchId, kb);
        }
    }
    present
}

/// Rules without `PATCH_SET` whose other filters (and the global ones) match application
/// updates, unless another rule of the baseline takes applications in explicitly.
fn os_only_rules(baseline: &Baseline, catalog: &[(&UpdateFacts, PatchProperties)]) -> Vec<Warning> {
    let names_applications = |filters: &[PatchFilter]| {
        filters
            .iter()
            .any(|f| f.key == FilterKey::PatchSet && f.values.iter().any(|v| v == "APPLICATION" || v == "*"))
    };
    if baseline
        .rules
        .iter()
        .any(|rule| names_applications(&rule.filters))
    {
        return Vec::new();
    }
    let applications: Vec<&(&UpdateFacts, PatchProperties)> = catalog
        .iter()
        .filter(|(_, p)| p.patch_set == "APPLICATION" && filters_match(&baseline.global_filters, p))
        .collect();
    baseline
        .rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| !rule.filters.iter().any(|f| f.key == FilterKey::PatchSet))
        .filter_map(|(index, rule)| {
            let matched: Vec<_> = applications
                .iter()
                .filter(|(_, p)| filters_match(&rule.filters, p))
                .collect();
            let (update, properties) = matched.first()?;
            let guardrail = Guardrail::OsOnlyRule {
                count: matched.len(),
                example: format!(
                    "{} ({})",
                    update.label(),
                    properties.products.first().map_or("no product", String::as_str)
                ),
            };
            let path = format!("baseline[{}].ApprovalRules.PatchRules[{index}]", baseline.id);
            Some(warning(path, guardrail))
        })
        .collect()
}

/// Updates the baseline approves on their own but excludes as superseded, none of whose live
/// successors it approves at `epoch`.
fn supersedence_gap(baseline: &Baseline, catalog: &[&UpdateFacts], epoch: DateTime<Utc>) -> Option<Warning> {
    let mut ignoring_supersedence = baseline.clone();
    ignoring_supersedence.extensions.superseded_handling = SupersededHandling::Offer;
    let own = |update: &UpdateFacts| evaluate(update, &ignoring_supersedence, epoch);
    let gaps: Vec<String> = catalog
        .iter()
        .filter(|update| update.live_successors().next().is_some())
        .filter(|update| evaluate(update, baseline, epoch).decision == Decision::ExcludedSuperseded)
        .filter(|update| own(update).decision.is_approved())
        .filter_map(|update| {
            let successors: Vec<(&UpdateFacts, _)> = update.live_successors().map(|s| (s, own(s))).collect();
            if successors.iter().any(|(_, e)| e.decision.is_approved()) {
                return None;
            }
            let (successor, evaluation) = successors.first()?;
            let until = evaluation
                .approval_date
                .map(|d| format!(" until {}", d.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
                .unwrap_or_default();
            Some(format!(
                "{} superseded by {} ({}{until})",
                update.label_beside(successor),
                successor.label_beside(update),
                evaluation.decision
            ))
        })
        .collect();
    if gaps.is_empty() {
        return None;
    }
    let guardrail = Guardrail::SupersedenceGap {
        count: gaps.len(),
        examples: gaps.into_iter().take(EXAMPLES).collect(),
    };
    Some(warning(format!("baseline[{}]", baseline.id), guardrail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::error::BaselineError;
    use crate::approval::testdata::{at, examples, now, update, Build};

    fn set(text: &str) -> BaselineSet {
        BaselineSet::from_toml(text, &|_| Err("no files".into()))
            .unwrap()
            .value
    }

    /// A one-baseline file whose only rule has these filters (TOML inline array items).
    fn one_rule(filters: &str) -> BaselineSet {
        set(&rule_file(filters, ""))
    }

    fn rule_file(filters: &str, extensions: &str) -> String {
        format!(
            "default_baseline = \"pilot\"\n[[baseline]]\nid = \"pilot\"\n\
             [[baseline.ApprovalRules.PatchRules]]\nApproveAfterDays = 7\n\
             PatchFilterGroup = {{ PatchFilters = [{filters}] }}\n\
             [baseline.ProxyExtensions]\n{extensions}\n"
        )
    }

    /// B1's rule (the AWS default baseline) with these `ProxyExtensions` lines.
    const B1_RULE: &str = r#"{ Key = "PRODUCT", Values = ["*"] },
        { Key = "CLASSIFICATION", Values = ["CriticalUpdates", "SecurityUpdates"] },
        { Key = "MSRC_SEVERITY", Values = ["Critical", "Important"] }"#;

    fn gaps(warnings: &[Warning]) -> Vec<&Guardrail> {
        kinds(warnings)
            .into_iter()
            .filter(|g| matches!(g, Guardrail::SupersedenceGap { .. }))
            .collect()
    }

    fn os_update(kb: &str, product: &str) -> UpdateFacts {
        update("2025-10-01")
            .kb(kb)
            .product(product)
            .classification("SecurityUpdates")
            .severity("Critical")
    }

    fn office_update(kb: &str) -> UpdateFacts {
        update("2025-10-01")
            .kb(kb)
            .product("Office 2016")
            .family("Office")
            .classification("SecurityUpdates")
            .severity("Critical")
    }

    fn kinds(warnings: &[Warning]) -> Vec<&Guardrail> {
        warnings
            .iter()
            .filter_map(|w| match &w.kind {
                WarningKind::Guardrail(g) => Some(g),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_product_the_catalog_names_differently_matches_nothing_and_the_close_names_are_listed() {
        let set = one_rule(r#"{ Key = "PRODUCT", Values = ["WindowsServer2022", "Windows Server 2019"] }"#);
        let catalog = [
            os_update("KB1", "Windows Server 2022"),
            os_update("KB2", "Windows Server 2019"),
        ];
        let warnings = catalog_warnings(&set, &catalog, now());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(
            warnings[0].path,
            "baseline[pilot].ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0].Values[0]"
        );
        assert_eq!(
            warnings[0].to_string(),
            "baseline[pilot].ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0].Values[0]: \
             PRODUCT value \"WindowsServer2022\" matches no update of the synced catalog \
             (closest there: \"Windows Server 2022\", \"WindowsServer2019\")"
        );
    }

    #[test]
    fn values_the_catalog_has_or_the_loader_warned_about_are_not_reported() {
        let set = one_rule(
            r#"{ Key = "PRODUCT", Values = ["WindowsServer2022", "*"] },
               { Key = "CLASSIFICATION", Values = ["SecurityUpdates", "securityupdates"] },
               { Key = "MSRC_SEVERITY", Values = ["Critical"] }"#,
        );
        let guid_named = update("2025-10-01")
            .kb("KB1")
            .product("Microsoft Server operating system-21H2")
            .classification("Security Updates")
            .severity("Critical");
        assert!(catalog_warnings(&set, &[guid_named], now()).is_empty());
    }

    #[test]
    fn a_severity_only_expired_updates_have_matches_nothing() {
        let set = one_rule(r#"{ Key = "MSRC_SEVERITY", Values = ["Critical", "Low"] }"#);
        let catalog = [
            os_update("KB1", "Windows10"),
            os_update("KB2", "Windows10").severity("Low").expired(),
        ];
        let warnings = catalog_warnings(&set, &catalog, now());
        assert_eq!(
            kinds(&warnings),
            [&Guardrail::NoMatch {
                key: FilterKey::MsrcSeverity,
                value: "Low".into(),
                closest: Vec::new()
            }]
        );
    }

    #[test]
    fn a_rule_without_patch_set_beside_application_updates_it_would_match_is_reported() {
        let set = one_rule(r#"{ Key = "CLASSIFICATION", Values = ["SecurityUpdates"] }"#);
        let catalog = [os_update("KB1", "Windows10"), office_update("KB2")];
        let warnings = catalog_warnings(&set, &catalog, now());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].path, "baseline[pilot].ApprovalRules.PatchRules[0]");
        assert_eq!(
            kinds(&warnings),
            [&Guardrail::OsOnlyRule {
                count: 1,
                example: "KB2 (Office 2016)".into()
            }]
        );
    }

    #[test]
    fn an_os_only_rule_is_fine_without_application_updates_or_with_patch_set_given() {
        let set_without = one_rule(r#"{ Key = "CLASSIFICATION", Values = ["SecurityUpdates"] }"#);
        let os_only = [os_update("KB1", "Windows10")];
        assert!(catalog_warnings(&set_without, &os_only, now()).is_empty());
        let set_with = one_rule(
            r#"{ Key = "PATCH_SET", Values = ["OS"] }, { Key = "CLASSIFICATION", Values = ["SecurityUpdates"] }"#,
        );
        let mixed = [os_update("KB1", "Windows10"), office_update("KB2")];
        assert!(catalog_warnings(&set_with, &mixed, now()).is_empty());
        // B3 covers applications in a rule of its own, B2's global filters keep them out:
        // only B1's OS-only rule is reported.
        let warnings = catalog_warnings(&examples(), &mixed, now());
        let os_only: Vec<&str> = warnings
            .iter()
            .filter(|w| matches!(w.kind, WarningKind::Guardrail(Guardrail::OsOnlyRule { .. })))
            .map(|w| w.path.as_str())
            .collect();
        assert_eq!(os_only, ["baseline[aws-default].ApprovalRules.PatchRules[0]"]);
    }

    /// T21: A approved by B1 but superseded by B, which is still pending.
    fn t21() -> Vec<UpdateFacts> {
        let successor = os_update("KB5000300", "WindowsServer2022");
        let successor = UpdateFacts {
            release_date: at("2025-11-18"),
            ..successor
        };
        let old = UpdateFacts {
            release_date: at("2025-10-20"),
            ..os_update("KB5000200", "WindowsServer2022")
        };
        vec![old.superseded_by(successor.clone()), successor]
    }

    #[test]
    fn an_approved_update_superseded_by_a_pending_one_is_a_gap() {
        let warnings = catalog_warnings(&one_rule(B1_RULE), &t21(), now());
        let gap = warnings
            .iter()
            .find(|w| !gaps(std::slice::from_ref(w)).is_empty());
        assert_eq!(gap.map(|w| w.path.as_str()), Some("baseline[pilot]"));
        assert_eq!(
            gaps(&warnings),
            [&Guardrail::SupersedenceGap {
                count: 1,
                examples: vec![
                    "KB5000200 superseded by KB5000300 (PENDING_APPROVAL until 2025-11-25T00:00:00Z)".into()
                ]
            }]
        );
    }

    /// Two definition updates: both carry KB2267602, their titles differ in the version.
    fn definition_pair(old_title: &str, new_title: &str) -> Vec<UpdateFacts> {
        let definition = |id: u128, title: &str, released: &str| UpdateFacts {
            update_id: uuid::Uuid::from_u128(id),
            title: title.into(),
            release_date: at(released),
            ..os_update("KB2267602", "WindowsServer2022")
        };
        let new = definition(0x2, new_title, "2025-11-18");
        let old = definition(0x1, old_title, "2025-10-20").superseded_by(new.clone());
        vec![old, new]
    }

    #[test]
    fn a_gap_between_updates_of_one_kb_names_them_by_title_or_else_by_id() {
        const OLD: &str =
            "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.401.100.0)";
        const NEW: &str =
            "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.401.200.0)";
        let pending = " (PENDING_APPROVAL until 2025-11-25T00:00:00Z)";
        let b1 = one_rule(B1_RULE);
        let by_title = catalog_warnings(&b1, &definition_pair(OLD, NEW), now());
        let by_id = catalog_warnings(&b1, &definition_pair(NEW, NEW), now());
        let example = |warnings: &[Warning]| match gaps(warnings)[..] {
            [Guardrail::SupersedenceGap { examples, .. }] => examples.clone(),
            ref other => panic!("one gap, not {other:?}"),
        };
        assert_eq!(
            example(&by_title),
            [format!(
                "KB2267602 \"{OLD}\" superseded by KB2267602 \"{NEW}\"{pending}"
            )]
        );
        assert_eq!(
            example(&by_id),
            [format!(
                "KB2267602 (00000000-0000-0000-0000-000000000001) superseded by \
                 KB2267602 (00000000-0000-0000-0000-000000000002){pending}"
            )]
        );
    }

    #[test]
    fn no_gap_once_the_successor_is_approved_or_when_the_old_update_stays_offered() {
        let b1 = one_rule(B1_RULE);
        assert!(gaps(&catalog_warnings(&b1, &t21(), now())).len() == 1);
        assert!(gaps(&catalog_warnings(&b1, &t21(), at("2025-11-25"))).is_empty());
        let until_approved = set(&rule_file(
            B1_RULE,
            "SupersededHandling = \"OfferUntilSuccessorApproved\"",
        ));
        let extensions = &until_approved.baseline("pilot").unwrap().extensions;
        assert_eq!(
            extensions.superseded_handling,
            SupersededHandling::OfferUntilSuccessorApproved
        );
        assert!(gaps(&catalog_warnings(&until_approved, &t21(), now())).is_empty());
    }

    #[test]
    fn an_empty_catalog_is_one_warning_instead_of_a_flood() {
        let warnings = catalog_warnings(&examples(), &[os_update("KB1", "Windows10").expired()], now());
        assert_eq!(kinds(&warnings), [&Guardrail::EmptyCatalog]);
    }

    #[test]
    fn windows_that_change_no_offer_are_reported_and_working_ones_are_not() {
        // The examples' window is a Deadline window a baseline names: it works.
        assert!(document_warnings(&examples()).is_empty());
        let informational =
            crate::approval::testdata::EXAMPLES.replace("Mode = \"Deadline\"", "Mode = \"Informational\"");
        let texts: Vec<String> = document_warnings(&set(&informational))
            .iter()
            .map(Warning::to_string)
            .collect();
        // Still the deadline source of a baseline with Deadline NextMaintenanceWindow: no warning.
        assert!(texts.is_empty(), "{texts:?}");
        let unnamed = informational
            .replace("MaintenanceWindows = [\"prod-patch-tuesday-plus-2\"]", "")
            .replace("Deadline = { Mode = \"NextMaintenanceWindow\" }", "")
            .replace("PatchGroups = [\"Prod\"]\n", "PatchGroups = [\"Nobody\"]\n");
        let texts: Vec<String> = document_warnings(&set(&unnamed))
            .iter()
            .map(Warning::to_string)
            .collect();
        assert_eq!(texts.len(), 1, "{texts:?}");
        assert!(texts[0].starts_with("maintenance_window[prod-patch-tuesday-plus-2]: ProxyExtensions.Mode Informational, a window no baseline names"), "{}", texts[0]);
        assert!(texts[0].ends_with(WINDOW_EFFECTS), "{}", texts[0]);
    }

    #[test]
    fn a_file_without_windows_or_deadlines_has_no_window_warnings() {
        assert!(document_warnings(&one_rule(B1_RULE)).is_empty());
    }

    const TYPO: &str = r#"{"Name": "ring-1", "ApprovalRules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": []},
        "ApproveAfterDay": 7}]}}"#;

    #[test]
    fn a_misspelt_required_key_is_named_with_its_path_beside_the_error_it_causes() {
        let error = Baseline::from_json(TYPO).unwrap_err();
        assert!(
            matches!(error, BaselineError::WithUnknownKeys { .. }),
            "{error:?}"
        );
        assert_eq!(error.path(), Some("ApprovalRules.PatchRules[0]"));
        assert_eq!(
            error.to_string(),
            "ApprovalRules.PatchRules[0]: ApproveAfterDays or ApproveUntilDate is required — \
             ApprovalRules.PatchRules[0].ApproveAfterDay: unknown key (did you mean ApproveAfterDays?)"
        );
        let in_toml = format!("[[baseline]]\nid = \"ring\"\naws_json = '''{TYPO}'''\n");
        let error = BaselineSet::from_toml(&in_toml, &|_| Err("no files".into())).unwrap_err();
        assert!(
            error.to_string().ends_with(
                "baseline[ring].aws_json.ApprovalRules.PatchRules[0].ApproveAfterDay: unknown key (did you mean ApproveAfterDays?)"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_misspelt_optional_key_is_a_warning_with_a_suggestion_and_errors_without_typos_stay_plain() {
        let typo = TYPO.replace(
            "\"ApproveAfterDay\": 7",
            "\"ApproveAfterDays\": 7, \"ComplianceLevl\": \"HIGH\"",
        );
        let loaded = Baseline::from_json(&typo).unwrap();
        let texts: Vec<String> = loaded.warnings.iter().map(Warning::to_string).collect();
        assert_eq!(
            texts,
            ["ApprovalRules.PatchRules[0].ComplianceLevl: unknown key (did you mean ComplianceLevel?)"]
        );
        let plain = TYPO.replace("\"ApproveAfterDay\": 7", "\"ApproveAfterDays\": 400");
        let error = Baseline::from_json(&plain).unwrap_err();
        assert!(matches!(error, BaselineError::Invalid { .. }), "{error:?}");
    }
}
