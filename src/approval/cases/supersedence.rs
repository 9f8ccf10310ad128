//! Supersedence and expiry (docs/baselines.md §3.2 steps 0, 4 and 8): the three
//! `SupersededHandling`s, explicit approval beating supersedence, expired updates (T21–T24).

use super::{assert_evaluation, security_update, state, REPORT_UNAPPROVED};
use crate::approval::compliance::{ClientState, PatchState};
use crate::approval::document::{ComplianceLevel, PatchId, SupersededHandling};
use crate::approval::evaluate::{evaluate, Decision, Offer};
use crate::approval::facts::UpdateFacts;
use crate::approval::testdata::{at, b1, now, Build};

fn superseded_pair() -> (UpdateFacts, UpdateFacts) {
    let successor = security_update("WindowsServer2022", "Critical", "2025-11-18T00:00:00Z").kb("KB5000300");
    let superseded = security_update("WindowsServer2022", "Critical", "2025-10-20")
        .kb("KB5000200")
        .superseded_by(successor.clone());
    (superseded, successor)
}

#[test]
fn t21_exclude_drops_the_superseded_update_while_its_successor_waits() {
    let (a, b) = superseded_pair();
    let evaluation_a = evaluate(&a, &b1(), now());
    assert_eq!(evaluation_a.decision, Decision::ExcludedSuperseded);
    assert_eq!(evaluation_a.offer(REPORT_UNAPPROVED), Offer::NotSent);
    let evaluation_b = evaluate(&b, &b1(), now());
    assert_evaluation(
        &evaluation_b,
        Decision::PendingApproval,
        Some("2025-11-25T00:00:00Z"),
        ComplianceLevel::Unspecified,
    );
    assert_eq!(
        state(&b, &b1(), ClientState::NotInstalled),
        Some(PatchState::AvailableSecurityUpdate)
    );
    let offers = [&evaluation_a, &evaluation_b].map(|e| e.offer(REPORT_UNAPPROVED));
    assert!(
        !offers.contains(&Offer::Install),
        "the documented gap: nothing to install"
    );
}

#[test]
fn t22_offer_until_successor_approved_closes_the_gap() {
    let (a, b) = superseded_pair();
    let mut baseline = b1();
    baseline.extensions.superseded_handling = SupersededHandling::OfferUntilSuccessorApproved;
    assert_eq!(
        evaluate(&a, &baseline, now()).offer(REPORT_UNAPPROVED),
        Offer::Install
    );
    assert_eq!(evaluate(&b, &baseline, now()).decision, Decision::PendingApproval);
    let later = at("2025-11-25T00:00:00Z");
    assert_eq!(
        evaluate(&b, &baseline, later).offer(REPORT_UNAPPROVED),
        Offer::Install
    );
    assert_eq!(
        evaluate(&a, &baseline, later).decision,
        Decision::ExcludedSuperseded
    );
}

#[test]
fn t23_explicit_approval_overrides_supersedence_by_default() {
    let (a, _) = superseded_pair();
    let mut baseline = b1();
    baseline.approved_patches = vec![PatchId::new("KB5000200")];
    assert!(baseline.extensions.explicit_approval_overrides_supersedence);
    let evaluation = evaluate(&a, &baseline, now());
    assert_eq!(evaluation.decision, Decision::ExplicitApproved);
    assert_eq!(evaluation.offer(REPORT_UNAPPROVED), Offer::Install);
    baseline.extensions.explicit_approval_overrides_supersedence = false;
    assert_eq!(
        evaluate(&a, &baseline, now()).decision,
        Decision::ExcludedSuperseded
    );
}

#[test]
fn t24_expired_updates_are_excluded_even_when_a_rule_matches() {
    let kb = security_update("WindowsServer2022", "Critical", "2025-10-01").expired();
    let evaluation = evaluate(&kb, &b1(), now());
    assert_eq!(evaluation.decision, Decision::ExcludedExpired);
    assert_eq!(evaluation.offer(REPORT_UNAPPROVED), Offer::NotSent);
}

#[test]
fn without_a_baseline_file_what_a_live_update_supersedes_is_not_sent() {
    use crate::approval::evaluate::evaluate_without_baselines;
    use crate::approval::ReportUnapproved;
    let (a, b) = superseded_pair();
    let superseded = evaluate_without_baselines(&a);
    assert_eq!(superseded.decision, Decision::ExcludedSuperseded);
    assert_eq!(superseded.offer(ReportUnapproved::None), Offer::NotSent);
    assert_eq!(
        evaluate_without_baselines(&b).offer(ReportUnapproved::None),
        Offer::Install
    );
    // An expired successor supersedes nothing.
    let expired = security_update("WindowsServer2022", "Critical", "2025-11-18")
        .kb("KB5000301")
        .expired();
    let kept = security_update("WindowsServer2022", "Critical", "2025-10-20")
        .kb("KB5000201")
        .superseded_by(expired.clone());
    assert_eq!(evaluate_without_baselines(&kept).decision, Decision::Approved);
    assert_eq!(
        evaluate_without_baselines(&expired).decision,
        Decision::ExcludedExpired
    );
}
