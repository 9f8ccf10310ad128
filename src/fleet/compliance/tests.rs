use super::*;
use crate::approval::testdata::{b2, now, update, Build};
use crate::approval::{ComplianceLevel, Decision};
use crate::model::UpdateIdentity;
use crate::protocol::wusp::ReportingEvent;

/// The eight updates of baselines.md §9 T31 under B2, each with its own id, and the state
/// the node reports for it.
fn t31_updates() -> Vec<(UpdateFacts, &'static str)> {
    let security = |product: &str, severity: &str, kb: &str| {
        update("2025-11-01")
            .product(product)
            .classification("SecurityUpdates")
            .severity(severity)
            .kb(kb)
    };
    let updates_class = |released: &str, kb: &str| {
        update(released)
            .product("WindowsServer2022")
            .classification("Updates")
            .kb(kb)
    };
    let mut pending_security = security("WindowsServer2022", "Important", "KB7");
    pending_security.release_date = crate::approval::testdata::at("2025-11-17");
    vec![
        (security("WindowsServer2019", "Critical", "KB1"), "needed"),
        (
            security("WindowsServer2019", "Important", "KB2"),
            "pending reboot",
        ),
        (updates_class("2025-11-01", "KB3"), "installed"),
        (
            security("WindowsServer2019", "Critical", "KB5000002"),
            "installed",
        ),
        (updates_class("2025-11-12", "KB5"), "installed"),
        (pending_security, "needed"),
        (updates_class("2025-11-02", "KB6"), "failed"),
        (
            update("2025-11-01")
                .product("WindowsServer2019")
                .classification("UpdateRollups")
                .kb("KB8"),
            "not listed",
        ),
    ]
}

fn t31_facts() -> CatalogFacts {
    CatalogFacts::new(t31_updates().into_iter().map(|(facts, _)| facts).collect())
}

fn decisions() -> Decisions {
    Decisions::evaluate(b2(), &t31_facts(), now())
}

fn report(id: i32, misc: Vec<String>, update: uuid::Uuid) -> ReportingEvent {
    ReportingEvent {
        event_id: id,
        namespace_id: 1,
        time_at_target: "2025-11-20T12:00:00Z".into(),
        update_id: UpdateIdentity {
            update_id: update,
            revision: 1,
        },
        win32_hresult: -2145099769,
        misc_data: misc,
        ..ReportingEvent::default()
    }
}

/// The node's reports as Windows sends them: one 156 with the U / V / W lists, one 182.
fn t31_events() -> Vec<ReportingEvent> {
    let list = |wanted: &str| -> String {
        t31_updates()
            .iter()
            .filter(|(_, state)| *state == wanted || (wanted == "needed" && *state == "failed"))
            .map(|(facts, _)| facts.update_id.to_string().to_uppercase())
            .collect::<Vec<_>>()
            .join(";")
    };
    let misc = vec![
        format!("U={}", list("needed")),
        format!("V={}", list("installed")),
        format!("W={}", list("pending reboot")),
    ];
    let failed = t31_updates()
        .into_iter()
        .find(|(_, state)| *state == "failed")
        .unwrap()
        .0
        .update_id;
    vec![
        report(156, misc, uuid::Uuid::nil()),
        report(182, Vec::new(), failed),
    ]
}

#[test]
fn t31_from_reported_events_gives_the_hand_computed_summary() {
    let mut status = MachineStatus::default();
    status.apply_all(&t31_events());
    let machine = machine_compliance(&status, &decisions());
    let s = &machine.summary;
    assert!(machine.reported);
    assert_eq!(machine.items.len(), 8);
    // Installed, InstalledOther, PendingReboot, Rejected, Missing, Failed, NotApplicable,
    // UnreportedNotApplicable, AvailableSecurityUpdate: T31's expected counts.
    assert_eq!(
        [
            s.installed,
            s.installed_other,
            s.installed_pending_reboot,
            s.installed_rejected,
            s.missing,
            s.failed,
            s.not_applicable,
            s.unreported_not_applicable,
            s.available_security_update
        ],
        [1, 1, 1, 1, 1, 1, 1, 0, 1]
    );
    assert_eq!(
        (
            s.critical_non_compliant,
            s.security_non_compliant,
            s.other_non_compliant
        ),
        (1, 4, 1)
    );
    assert_eq!(machine.status_name(), "NON_COMPLIANT");
    assert_eq!(s.overall_severity, ComplianceLevel::Critical);
}

#[test]
fn a_machine_that_has_not_reported_is_unknown_not_compliant() {
    let machine = machine_compliance(&MachineStatus::default(), &decisions());
    assert!(!machine.reported);
    assert!(machine.items.is_empty());
    assert_eq!(machine.status_name(), "UNKNOWN");
}

#[test]
fn a_machine_with_everything_approved_installed_is_compliant() {
    let installed: Vec<String> = t31_updates()
        .iter()
        .map(|(facts, _)| facts.update_id.to_string())
        .collect();
    let mut status = MachineStatus::default();
    status.apply_all(&[report(
        156,
        vec![format!("V={}", installed.join(";"))],
        uuid::Uuid::nil(),
    )]);
    let machine = machine_compliance(&status, &decisions());
    assert_eq!(machine.summary.missing, 0);
    assert_eq!(machine.summary.installed, 5, "the five approved ones");
    assert_eq!(
        machine.summary.installed_other, 2,
        "not approved yet, installed anyway"
    );
    assert_eq!(
        machine.summary.installed_rejected, 1,
        "KB5000002 is rejected with BLOCK"
    );
    assert_eq!(
        machine.status_name(),
        "NON_COMPLIANT",
        "an installed rejected update counts against"
    );
}

#[test]
fn group_state_counts_machines_with_each_kind_of_item() {
    let mut reported = MachineStatus::default();
    reported.apply_all(&t31_events());
    let machines = [
        machine_compliance(&reported, &decisions()),
        machine_compliance(&reported, &decisions()),
        machine_compliance(&MachineStatus::default(), &decisions()),
    ];
    let mut group = GroupState::default();
    machines.iter().for_each(|m| group.add(m));
    assert_eq!(group.instances, 3);
    assert_eq!(group.instances_with_missing_patches, 2);
    assert_eq!(group.instances_with_failed_patches, 2);
    assert_eq!(group.instances_with_available_security_updates, 2);
    assert_eq!(group.instances_with_unreported_not_applicable_patches, 0);
    assert_eq!(
        (group.compliant, group.non_compliant, group.not_reported),
        (0, 2, 1)
    );
}

/// The items of every update, the slow way: what `machine_compliance` must equal.
fn every_update(status: &MachineStatus, decisions: &Decisions) -> Vec<(uuid::Uuid, ComplianceItem)> {
    let mut items: Vec<_> = t31_facts()
        .iter()
        .filter_map(|facts| {
            let client = status.state_of(&facts.update_id);
            let evaluation = decisions.evaluation(facts);
            crate::approval::compliance_item(facts, &evaluation, client, &decisions.baseline)
                .map(|item| (facts.update_id, item))
        })
        .collect();
    items.sort_by_key(|(id, _)| *id);
    items
}

/// Event 156's `U`/`V`/`W` lists with each id in one of them, or (with `1 - 3/spread`
/// chance) in none.
fn random_lists(rng: &mut rand::rngs::StdRng, ids: &[uuid::Uuid], spread: usize) -> Vec<String> {
    use rand::Rng;
    let mut lists: [Vec<String>; 3] = Default::default();
    for id in ids {
        let pick = rng.gen_range(0..spread);
        if pick < 3 {
            lists[pick].push(id.to_string());
        }
    }
    ["U", "V", "W"]
        .iter()
        .zip(&lists)
        .filter(|(_, l)| !l.is_empty())
        .map(|(tag, l)| format!("{tag}={}", l.join(";")))
        .collect()
}

#[test]
fn only_approved_and_named_updates_are_visited_and_nothing_is_missed() {
    use rand::{Rng, SeedableRng};
    let decisions = decisions();
    let ids: Vec<uuid::Uuid> = t31_facts().iter().map(|f| f.update_id).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..300 {
        let misc = random_lists(&mut rng, &ids, 5);
        let mut events = vec![report(156, misc, uuid::Uuid::nil())];
        if rng.gen_bool(0.5) {
            events.push(report(182, Vec::new(), ids[rng.gen_range(0..ids.len())]));
        }
        let mut status = MachineStatus::default();
        status.apply_all(&events);
        let mut fast: Vec<_> = machine_compliance(&status, &decisions)
            .items
            .into_iter()
            .map(|m| (m.update_id, m.item))
            .collect();
        fast.sort_by_key(|(id, _)| *id);
        assert_eq!(fast, every_update(&status, &decisions));
    }
}

#[test]
fn the_summary_without_items_equals_the_summary_of_the_items() {
    use rand::{Rng, SeedableRng};
    let decisions = decisions();
    let ids: Vec<uuid::Uuid> = t31_facts().iter().map(|f| f.update_id).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for round in 0..400 {
        let misc = random_lists(&mut rng, &ids, 6);
        let mut events = Vec::new();
        // A quarter of the machines only ever reported a failure (no status list yet).
        if round % 4 != 0 {
            events.push(report(156, misc, uuid::Uuid::nil()));
        }
        for _ in 0..rng.gen_range(0..3) {
            events.push(report(182, Vec::new(), ids[rng.gen_range(0..ids.len())]));
        }
        let mut status = MachineStatus::default();
        status.apply_all(&events);
        let whole = machine_compliance(&status, &decisions);
        let counted = machine_summary(&status, &decisions);
        assert_eq!(counted.summary, whole.summary, "round {round}");
        assert_eq!(counted.reported, whole.reported, "round {round}");
        assert!(counted.items.is_empty());
    }
}

#[test]
fn the_evaluation_worked_out_again_is_the_one_the_verdict_came_from() {
    let decisions = decisions();
    let facts = t31_facts();
    assert_eq!(decisions.updates.len(), facts.len());
    for (i, update) in facts.iter().enumerate() {
        let expected = evaluate(update, &b2(), now());
        assert_eq!(decisions.verdict(i), expected.verdict());
        assert_eq!(decisions.evaluation(update), expected);
        assert_eq!(decisions.updates.position(&update.update_id), Some(i));
        assert_eq!(decisions.updates.id(i), update.update_id);
        assert_eq!(facts.of(&update.update_id), Some(update));
    }
    let open = Decisions::without_baselines(&facts);
    for (i, update) in facts.iter().enumerate() {
        assert_eq!(open.evaluation(update), evaluate_without_baselines(update));
        assert_eq!(open.verdict(i).decision, Decision::Approved);
    }
}
