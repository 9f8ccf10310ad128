//! What decided (`Evaluation::decided_by`, shown by `wucache explain`): the list entry, the
//! global filters, the rules, the successor or the expiry behind each decision.

use super::security_update;
use crate::approval::evaluate::{evaluate, DecidedBy, Decision};
use crate::approval::testdata::{b1, b2, now, update, Build};

#[test]
fn each_decision_names_the_list_entry_rules_or_successor_behind_it() {
    let decided = |facts, baseline| {
        let evaluation = evaluate(&facts, &baseline, now());
        (evaluation.decision, evaluation.decided_by)
    };
    let server = |kb: &str| security_update("WindowsServer2022", "Critical", "2025-11-01").kb(kb);
    assert_eq!(
        decided(server("KB5000002"), b2()),
        (
            Decision::ExplicitRejected,
            DecidedBy::RejectedPatches("KB5000002".into())
        )
    );
    assert_eq!(
        decided(server("KB5000001"), b2()),
        (
            Decision::ExplicitApproved,
            DecidedBy::ApprovedPatches("KB5000001".into())
        )
    );
    assert_eq!(
        decided(server("KB5000003"), b2()),
        (Decision::Approved, DecidedBy::Rules(vec![1, 2]))
    );
    let workstation = security_update("Windows11", "Critical", "2025-11-01").kb("KB5000004");
    assert_eq!(
        decided(workstation, b2()),
        (Decision::NotApproved, DecidedBy::GlobalFilters)
    );
    let tool = update("2025-11-01")
        .product("WindowsServer2022")
        .classification("Tools");
    assert_eq!(
        decided(tool, b2()),
        (Decision::NotApproved, DecidedBy::Rules(vec![]))
    );
    let successor = server("KB5000300");
    let superseded = server("KB5000200").superseded_by(successor.clone());
    assert_eq!(
        decided(superseded, b1()),
        (
            Decision::ExcludedSuperseded,
            DecidedBy::Successor(successor.update_id)
        )
    );
    assert_eq!(
        decided(server("KB5000005").expired(), b2()),
        (Decision::ExcludedExpired, DecidedBy::Expiry)
    );
}
