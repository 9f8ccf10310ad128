//! Patch groups (docs/baselines.md §4): a WSUS client's `TargetGroup` names its patch group; the group
//! is registered to one baseline; a client without a registered group gets the default
//! baseline. Names compare case-insensitively (WSUS); a semicolon list picks the first
//! registered name (client-side targeting with several groups). Pure.

use super::error::Problem;
use std::collections::BTreeMap;

/// Group name → baseline id, plus the default baseline id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchGroups {
    /// Keyed by the lower-cased name; the value keeps the name as registered.
    registered: BTreeMap<String, (String, String)>,
    default_baseline: String,
}

/// Which baseline serves a client, and through which registered group (`None`: default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution<'a> {
    pub(crate) group: Option<&'a str>,
    pub(crate) baseline: &'a str,
}

impl PatchGroups {
    pub(crate) fn new(default_baseline: &str) -> PatchGroups {
        PatchGroups {
            registered: BTreeMap::new(),
            default_baseline: default_baseline.to_string(),
        }
    }

    /// Registers `group` to `baseline`. Registering it again to the same baseline is a no-op;
    /// to another one is refused (AWS: one baseline per group and OS).
    pub fn register(&mut self, group: &str, baseline: &str) -> Result<(), Problem> {
        let key = group.to_lowercase();
        if let Some((_, existing)) = self.registered.get(&key) {
            if existing == baseline {
                return Ok(());
            }
            return Err(Problem::GroupTwice {
                group: group.to_string(),
                first: existing.clone(),
                second: baseline.to_string(),
            });
        }
        self.registered
            .insert(key, (group.to_string(), baseline.to_string()));
        Ok(())
    }

    /// The baseline for a client's `TargetGroup` (`None` when targeting is off or unset).
    pub fn resolve(&self, target_group: Option<&str>) -> Resolution<'_> {
        let names = target_group.into_iter().flat_map(|text| text.split(';'));
        let found = names
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .find_map(|name| self.registered.get(&name.to_lowercase()));
        match found {
            Some((group, baseline)) => Resolution {
                group: Some(group),
                baseline,
            },
            None => Resolution {
                group: None,
                baseline: &self.default_baseline,
            },
        }
    }

    pub(crate) fn default_baseline(&self) -> &str {
        &self.default_baseline
    }

    /// True if `group` is registered (case-insensitive).
    pub fn is_registered(&self, group: &str) -> bool {
        self.registered.contains_key(&group.to_lowercase())
    }

    /// (group as registered, baseline id), ordered by lower-cased group name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.registered
            .values()
            .map(|(group, baseline)| (group.as_str(), baseline.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> PatchGroups {
        let mut groups = PatchGroups::new("aws-default");
        groups.register("Prod", "prod-servers").unwrap();
        groups.register("Pilot", "os-and-apps").unwrap();
        groups
    }

    #[test]
    fn the_first_registered_name_of_a_semicolon_list_wins() {
        let groups = groups();
        assert_eq!(groups.resolve(Some("Web;Prod")).baseline, "prod-servers");
        assert_eq!(groups.resolve(Some("Pilot;Prod")).baseline, "os-and-apps");
        assert_eq!(groups.resolve(Some(" ; prod ")).group, Some("Prod"));
    }

    #[test]
    fn unregistered_or_absent_groups_get_the_default_baseline() {
        let groups = groups();
        let default = Resolution {
            group: None,
            baseline: "aws-default",
        };
        assert_eq!(groups.resolve(Some("QA")), default);
        assert_eq!(groups.resolve(Some("")), default);
        assert_eq!(groups.resolve(None), default);
    }

    #[test]
    fn a_group_cannot_be_registered_to_two_baselines() {
        let mut groups = groups();
        assert!(groups.register("PROD", "prod-servers").is_ok());
        let error = groups.register("prod", "aws-default").unwrap_err();
        assert!(matches!(error, Problem::GroupTwice { .. }));
    }
}
