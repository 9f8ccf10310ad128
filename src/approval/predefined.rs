//! The AWS predefined Windows baselines (docs/baselines.md §3.3), reconstructed from their documented
//! rules — not byte-exact copies. `AWS-DefaultPatchBaseline` is the default when the
//! configuration names none, as it is for a fresh AWS account.

use super::document::{
    Approval, Baseline, ComplianceLevel, FilterKey, PatchFilter, PatchRule, ProxyExtensions,
    RejectedPatchesAction,
};

/// Name of `AWS-DefaultPatchBaseline`, the default baseline when none is named.
pub const AWS_DEFAULT: &str = "AWS-DefaultPatchBaseline";
/// Name of the predefined OS baseline (the default's rule under another name).
pub const AWS_OS: &str = "AWS-WindowsPredefinedPatchBaseline-OS";
/// Name of the predefined baseline that adds Microsoft application patches to the OS rule.
pub const AWS_OS_APPLICATIONS: &str = "AWS-WindowsPredefinedPatchBaseline-OS-Applications";

/// The three predefined baselines, default first.
pub fn predefined() -> Vec<Baseline> {
    vec![
        predefined_baseline(
            AWS_DEFAULT,
            "Default Patch Baseline Provided by AWS.",
            vec![os_rule()],
        ),
        predefined_baseline(
            AWS_OS,
            "Windows OS patches, 7 days after release",
            vec![os_rule()],
        ),
        predefined_baseline(
            AWS_OS_APPLICATIONS,
            "Windows OS and Microsoft application patches, 7 days after release",
            vec![os_rule(), application_rule()],
        ),
    ]
}

/// True for an id the predefined baselines use.
pub(super) fn is_predefined(id: &str) -> bool {
    [AWS_DEFAULT, AWS_OS, AWS_OS_APPLICATIONS].contains(&id)
}

/// Critical/Security updates of MSRC severity Critical/Important, 7 days after release.
fn os_rule() -> PatchRule {
    rule(vec![
        PatchFilter::new(FilterKey::PatchSet, &["OS"]),
        PatchFilter::new(FilterKey::Product, &["*"]),
        PatchFilter::new(FilterKey::Classification, &["CriticalUpdates", "SecurityUpdates"]),
        PatchFilter::new(FilterKey::MsrcSeverity, &["Critical", "Important"]),
    ])
}

/// Every Microsoft application patch, 7 days after release.
fn application_rule() -> PatchRule {
    rule(vec![
        PatchFilter::new(FilterKey::PatchSet, &["APPLICATION"]),
        PatchFilter::new(FilterKey::ProductFamily, &["*"]),
        PatchFilter::new(FilterKey::Product, &["*"]),
        PatchFilter::new(FilterKey::Classification, &["*"]),
        PatchFilter::new(FilterKey::MsrcSeverity, &["*"]),
    ])
}

fn rule(filters: Vec<PatchFilter>) -> PatchRule {
    PatchRule {
        filters,
        compliance_level: ComplianceLevel::Unspecified,
        approval: Approval::AfterDays(7),
    }
}

fn predefined_baseline(name: &str, description: &str, rules: Vec<PatchRule>) -> Baseline {
    Baseline {
        id: name.to_string(),
        name: name.to_string(),
        description: Some(description.to_string()),
        global_filters: Vec::new(),
        rules,
        approved_patches: Vec::new(),
        approved_patches_compliance_level: ComplianceLevel::Unspecified,
        rejected_patches: Vec::new(),
        rejected_patches_action: RejectedPatchesAction::AllowAsDependency,
        available_security_updates_compliance_status: None,
        patch_groups: Vec::new(),
        default_baseline: false,
        extensions: ProxyExtensions::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::evaluate::{evaluate, Decision};
    use crate::approval::testdata::{at, now, update, Build};

    fn find(id: &str) -> Baseline {
        predefined()
            .into_iter()
            .find(|baseline| baseline.id == id)
            .unwrap()
    }

    #[test]
    fn the_default_baseline_approves_important_os_security_updates_after_seven_days_only() {
        let security = update("2025-11-13T12:00:00Z")
            .product("WindowsServer2019")
            .classification("SecurityUpdates");
        let important = security.clone().severity("Important");
        assert_eq!(
            evaluate(&important, &find(AWS_DEFAULT), now()).decision,
            Decision::Approved
        );
        let early = evaluate(&important, &find(AWS_DEFAULT), at("2025-11-20T11:59:59Z"));
        assert_eq!(early.decision, Decision::PendingApproval);
        let critical_update = update("2025-10-01")
            .product("WindowsServer2019")
            .classification("CriticalUpdates");
        assert_eq!(
            evaluate(&critical_update, &find(AWS_OS), now()).decision,
            Decision::NotApproved
        );
    }

    #[test]
    fn only_the_applications_baseline_approves_office_updates() {
        let office = update("2025-10-01")
            .family("Office")
            .product("Office 2016")
            .classification("Updates");
        assert_eq!(
            evaluate(&office, &find(AWS_OS), now()).decision,
            Decision::NotApproved
        );
        assert_eq!(
            evaluate(&office, &find(AWS_OS_APPLICATIONS), now()).decision,
            Decision::Approved
        );
    }
}
