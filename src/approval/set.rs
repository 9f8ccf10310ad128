//! The loaded baselines as one value: baselines by id (the predefined AWS ones included), patch
//! groups with the default baseline, maintenance windows and evaluation settings, checked
//! against each other (docs/baselines.md §4, §8.2–8.3). Pure.

use super::document::{Baseline, EvaluationSettings, MaintenanceWindow};
use super::error::{BaselineError, Problem, Warning, WarningKind};
use super::groups::PatchGroups;
use super::predefined::{is_predefined, predefined, AWS_DEFAULT};

/// Every baseline the proxy knows and which client gets which.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineSet {
    /// Loaded baselines in file order, then the predefined ones; never empty.
    baselines: Vec<Baseline>,
    groups: PatchGroups,
    pub(crate) evaluation: EvaluationSettings,
    pub(crate) maintenance_windows: Vec<MaintenanceWindow>,
    /// Install override lists by lower-cased patch group.
    overrides: std::collections::HashMap<String, Vec<String>>,
}

/// A client's baseline and the registered group that chose it (`None`: the default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment<'a> {
    pub(crate) group: Option<&'a str>,
    pub(crate) baseline: &'a Baseline,
}

/// A `[[patch_group]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRegistration {
    pub(crate) name: String,
    pub(crate) baseline: String,
    /// KBs (`KB` and digits) the group installs whatever the rules say.
    pub(crate) install_overrides: Vec<String>,
}

impl BaselineSet {
    /// Checks ids, the default, group registrations (`[[patch_group]]` first, then each
    /// baseline's `PatchGroups`) and window references, and returns the set with the warnings
    /// that cross-checking found. Error paths are in TOML terms (`patch_group[1].baseline`,
    /// `baseline[prod].PatchGroups[0]`).
    pub fn new(
        baselines: Vec<Baseline>,
        registrations: Vec<GroupRegistration>,
        default_baseline: Option<String>,
        maintenance_windows: Vec<MaintenanceWindow>,
        evaluation: EvaluationSettings,
    ) -> Result<(BaselineSet, Vec<Warning>), BaselineError> {
        check_ids(&baselines)?;
        check_window_names(&maintenance_windows)?;
        check_window_references(&baselines, &maintenance_windows)?;
        let mut all = baselines;
        all.extend(predefined());
        let default = default_id(&all, default_baseline)?;
        let overrides = registrations
            .iter()
            .filter(|r| !r.install_overrides.is_empty())
            .map(|r| (r.name.to_ascii_lowercase(), r.install_overrides.clone()))
            .collect();
        let groups = register_groups(&all, registrations, &default)?;
        let warnings = unregistered_window_groups(&maintenance_windows, &groups);
        let set = BaselineSet {
            baselines: all,
            groups,
            evaluation,
            maintenance_windows,
            overrides,
        };
        Ok((set, warnings))
    }

    /// The baseline with this id, loaded or predefined.
    pub fn baseline(&self, id: &str) -> Option<&Baseline> {
        self.baselines.iter().find(|baseline| baseline.id == id)
    }

    /// All baselines, loaded ones first.
    pub fn baselines(&self) -> &[Baseline] {
        &self.baselines
    }

    pub(crate) fn groups(&self) -> &PatchGroups {
        &self.groups
    }

    pub(crate) fn default_baseline(&self) -> &Baseline {
        self.baseline_or_default(self.groups.default_baseline())
    }

    /// The baseline of the patch group an admin named (`default`: the default baseline); a
    /// name no group registers is an error listing the registered ones.
    pub fn named_group(&self, name: &str) -> Result<&Baseline, String> {
        let assigned = self.for_target_group(Some(name));
        if assigned.group.is_some() || name.trim().eq_ignore_ascii_case("default") {
            return Ok(assigned.baseline);
        }
        let registered: Vec<&str> = self.groups.iter().map(|(group, _)| group).collect();
        Err(format!(
            "no patch group `{name}`; registered groups: {} (or `default` for the default baseline {})",
            if registered.is_empty() {
                "none".to_string()
            } else {
                registered.join(", ")
            },
            self.groups.default_baseline()
        ))
    }

    /// The baseline for a client's `TargetGroup` (`None` when client-side targeting is off).
    pub fn for_target_group(&self, target_group: Option<&str>) -> Assignment<'_> {
        let resolution = self.groups.resolve(target_group);
        Assignment {
            group: resolution.group,
            baseline: self.baseline_or_default(resolution.baseline),
        }
    }

    /// The maintenance windows of a policy: those `baseline` names in
    /// `ProxyExtensions.MaintenanceWindows`, and (for a patch group) those whose
    /// `ProxyExtensions.PatchGroups` name `group`; with the baseline's `Deadline`. Windows
    /// whose schedule does not read were refused at load, so none is dropped here.
    pub fn window_plan(&self, baseline: &Baseline, group: Option<&str>) -> super::WindowPlan {
        let windows = self
            .maintenance_windows
            .iter()
            .filter(|w| {
                baseline.extensions.maintenance_windows.contains(&w.name)
                    || group.is_some_and(|g| w.patch_groups.iter().any(|p| p.eq_ignore_ascii_case(g)))
            })
            .filter_map(|w| super::CompiledWindow::compile(w).ok())
            .collect();
        super::WindowPlan::new(windows, baseline.extensions.deadline.clone())
    }

    /// The KBs `group` installs whatever its baseline's rules say (Patch Manager's
    /// `InstallOverrideList`), `KB` and digits.
    pub fn install_overrides(&self, group: &str) -> &[String] {
        self.overrides
            .get(&group.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// Whether `group`'s machines get offers of their own rather than their baseline's: a
    /// window names the group, or it has an install override list.
    pub fn has_group_policy(&self, group: &str) -> bool {
        self.has_group_windows(group) || !self.install_overrides(group).is_empty()
    }

    /// Whether some window names `group` in its `PatchGroups` (its machines then get a plan
    /// of their own rather than their baseline's).
    pub fn has_group_windows(&self, group: &str) -> bool {
        self.maintenance_windows
            .iter()
            .any(|w| w.patch_groups.iter().any(|p| p.eq_ignore_ascii_case(group)))
    }

    /// Every id in `groups` names a baseline (checked in `new`); the fallback keeps lookups
    /// total without a panic path.
    fn baseline_or_default(&self, id: &str) -> &Baseline {
        let default = self.groups.default_baseline();
        self.baseline(id)
            .or_else(|| self.baseline(default))
            .unwrap_or(&self.baselines[0])
    }
}

fn check_ids(baselines: &[Baseline]) -> Result<(), BaselineError> {
    for (index, baseline) in baselines.iter().enumerate() {
        let path = format!("baseline[{}].id", baseline.id);
        if is_predefined(&baseline.id) {
            return Err(BaselineError::invalid(
                path,
                Problem::ReservedId {
                    id: baseline.id.clone(),
                },
            ));
        }
        if baselines[..index].iter().any(|earlier| earlier.id == baseline.id) {
            return Err(BaselineError::invalid(
                path,
                Problem::DuplicateId {
                    id: baseline.id.clone(),
                },
            ));
        }
    }
    Ok(())
}

/// `default_baseline`, else the one baseline marked `DefaultBaseline`, else AWS's default.
fn default_id(baselines: &[Baseline], configured: Option<String>) -> Result<String, BaselineError> {
    let mut flagged = baselines
        .iter()
        .filter(|b| b.default_baseline)
        .map(|b| b.id.clone());
    let first_flagged = flagged.next();
    if let Some(second) = flagged.next() {
        let first = first_flagged.unwrap_or_default();
        return Err(BaselineError::invalid(
            "DefaultBaseline",
            Problem::DefaultTwice { first, second },
        ));
    }
    let id = match (configured, first_flagged) {
        (Some(configured), Some(flagged)) if configured != flagged => {
            let problem = Problem::DefaultTwice {
                first: configured,
                second: flagged,
            };
            return Err(BaselineError::invalid("default_baseline", problem));
        }
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => AWS_DEFAULT.to_string(),
    };
    if !baselines.iter().any(|baseline| baseline.id == id) {
        return Err(BaselineError::invalid(
            "default_baseline",
            Problem::UnknownBaseline { id },
        ));
    }
    Ok(id)
}

fn register_groups(
    baselines: &[Baseline],
    registrations: Vec<GroupRegistration>,
    default: &str,
) -> Result<PatchGroups, BaselineError> {
    let mut groups = PatchGroups::new(default);
    for (index, registration) in registrations.iter().enumerate() {
        let path = format!("patch_group[{index}]");
        super::validate::check_group_name(&registration.name, &format!("{path}.name"))?;
        if !baselines
            .iter()
            .any(|baseline| baseline.id == registration.baseline)
        {
            let problem = Problem::UnknownBaseline {
                id: registration.baseline.clone(),
            };
            return Err(BaselineError::invalid(format!("{path}.baseline"), problem));
        }
        groups
            .register(&registration.name, &registration.baseline)
            .map_err(|problem| BaselineError::invalid(format!("{path}.name"), problem))?;
    }
    for baseline in baselines {
        for (index, group) in baseline.patch_groups.iter().enumerate() {
            let path = format!("baseline[{}].PatchGroups[{index}]", baseline.id);
            groups
                .register(group, &baseline.id)
                .map_err(|problem| BaselineError::invalid(path, problem))?;
        }
    }
    Ok(groups)
}

fn check_window_names(windows: &[MaintenanceWindow]) -> Result<(), BaselineError> {
    for (index, window) in windows.iter().enumerate() {
        if windows[..index].iter().any(|earlier| earlier.name == window.name) {
            let problem = Problem::DuplicateWindow {
                name: window.name.clone(),
            };
            return Err(BaselineError::invalid(
                format!("maintenance_window[{index}].Name"),
                problem,
            ));
        }
    }
    Ok(())
}

fn check_window_references(
    baselines: &[Baseline],
    windows: &[MaintenanceWindow],
) -> Result<(), BaselineError> {
    for baseline in baselines {
        for (index, name) in baseline.extensions.maintenance_windows.iter().enumerate() {
            if !windows.iter().any(|window| &window.name == name) {
                let path = format!(
                    "baseline[{}].ProxyExtensions.MaintenanceWindows[{index}]",
                    baseline.id
                );
                return Err(BaselineError::invalid(
                    path,
                    Problem::UnknownWindow { name: name.clone() },
                ));
            }
        }
    }
    Ok(())
}

fn unregistered_window_groups(windows: &[MaintenanceWindow], groups: &PatchGroups) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for (index, window) in windows.iter().enumerate() {
        for (position, group) in window.patch_groups.iter().enumerate() {
            if !groups.is_registered(group) {
                let path = format!("maintenance_window[{index}].ProxyExtensions.PatchGroups[{position}]");
                let kind = WarningKind::UnregisteredGroup { group: group.clone() };
                warnings.push(Warning::new(path, kind));
            }
        }
    }
    warnings
}
