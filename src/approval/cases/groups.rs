//! Patch groups and maintenance windows (docs/baselines.md §4, §6): which baseline a
//! client's target groups select, and what a gate window leaves to the engine (T29, T37).

use super::security_update;
use crate::approval::document::WindowMode;
use crate::approval::evaluate::{evaluate, Decision};
use crate::approval::testdata::{b2, examples, now};

#[test]
fn t29_target_groups_pick_baselines_case_insensitively_first_registered_wins() {
    let set = examples();
    let baseline_for = |target: Option<&str>| set.for_target_group(target).baseline.id.clone();
    assert_eq!(baseline_for(Some("Web;Prod")), "prod-servers");
    assert_eq!(baseline_for(Some("prod")), "prod-servers");
    assert_eq!(baseline_for(Some("Pilot")), "os-and-apps");
    assert_eq!(baseline_for(Some("QA")), "aws-default");
    // TargetGroupEnabled=0 or no TargetGroup: the protocol side passes None.
    assert_eq!(baseline_for(None), "aws-default");
    assert_eq!(set.for_target_group(Some("prod")).group, Some("Prod"));
}

#[test]
fn t37_gated_window_leaves_the_decision_approved() {
    // The gate itself (offered detect-only until the window opens at 2025-12-11T01:00:00Z,
    // Install after) is the offer side's; the engine's part is the unchanged decision, and
    // the window settings it will read.
    let kb = security_update("WindowsServer2019", "Critical", "2025-11-20T11:00:00Z");
    assert_eq!(evaluate(&kb, &b2(), now()).decision, Decision::Approved);
    let text = crate::approval::testdata::EXAMPLES.replace("Mode = \"Deadline\"", "Mode = \"Gate\"");
    let set = crate::approval::set::BaselineSet::from_toml(&text, &|_| Err("none".into()))
        .unwrap()
        .value;
    let window = &set.maintenance_windows[0];
    assert_eq!(window.mode, WindowMode::Gate);
    assert_eq!(window.patch_groups, ["Prod"]);
    assert_eq!(
        (window.schedule.as_str(), window.schedule_offset),
        ("cron(0 2 ? * TUE#2 *)", Some(2))
    );
}
