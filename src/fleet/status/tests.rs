use super::*;
use crate::model::UpdateIdentity;
use crate::protocol::wusp::{envelope, messages};
use uuid::uuid;

const A: Uuid = uuid!("aaaaaaaa-0000-0000-0000-000000000001");
const B: Uuid = uuid!("bbbbbbbb-0000-0000-0000-000000000002");
const C: Uuid = uuid!("cccccccc-0000-0000-0000-000000000003");

fn at(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(1_790_000_000 + seconds, 0)
        .unwrap()
        .to_rfc3339()
}

fn event(id: i32, seconds: i64, update: Uuid) -> ReportingEvent {
    ReportingEvent {
        event_id: id,
        namespace_id: 1,
        time_at_target: at(seconds),
        event_instance_id: Uuid::new_v4(),
        update_id: UpdateIdentity {
            update_id: update,
            revision: 200,
        },
        ..ReportingEvent::default()
    }
}

/// A 156 with `U`, `V` (and `W`) lists written as Windows writes them: upper-case GUIDs
/// joined by `;`, a tag left out when its list is empty.
fn status(seconds: i64, needed: &[Uuid], installed: &[Uuid], pending: &[Uuid]) -> ReportingEvent {
    let mut report = event(156, seconds, Uuid::nil());
    for (tag, ids) in [("U", needed), ("V", installed), ("W", pending)] {
        if !ids.is_empty() {
            let list: Vec<String> = ids.iter().map(|id| id.to_string().to_uppercase()).collect();
            report.misc_data.push(format!("{tag}={}", list.join(";")));
        }
    }
    report.misc_data.push("G=1507.2601.30012.0".into());
    report
}

fn failure(seconds: i64, update: Uuid, hresult: i32) -> ReportingEvent {
    ReportingEvent {
        win32_hresult: hresult,
        ..event(182, seconds, update)
    }
}

fn folded(events: &[ReportingEvent]) -> MachineStatus {
    let mut machine = MachineStatus::default();
    machine.apply_all(events);
    machine
}

#[test]
fn a_machine_that_never_sent_a_status_report_is_unknown_for_everything() {
    let machine = folded(&[event(147, 0, Uuid::nil()), failure(1, A, -1)]);
    assert_eq!(machine.state_of(&B), ClientState::Unknown);
    assert_eq!(
        machine.state_of(&A),
        ClientState::Failed,
        "a failure is known without a 156"
    );
}

#[test]
fn status_lists_give_needed_installed_and_not_applicable() {
    let machine = folded(&[status(10, &[A], &[B], &[])]);
    assert_eq!(machine.state_of(&A), ClientState::NotInstalled);
    assert_eq!(machine.state_of(&B), ClientState::Installed);
    assert_eq!(machine.state_of(&C), ClientState::NotApplicable);
}

#[test]
fn a_newer_status_report_replaces_the_lists_and_an_older_one_is_ignored() {
    let machine = folded(&[status(10, &[A, B], &[], &[]), status(20, &[], &[A], &[])]);
    assert_eq!(machine.state_of(&A), ClientState::Installed);
    assert_eq!(machine.state_of(&B), ClientState::NotApplicable);

    let mut late = machine.clone();
    assert!(!late.apply_all(&[status(5, &[C], &[], &[])]), "nothing changes");
    assert_eq!(late, machine);
}

#[test]
fn install_failure_keeps_its_hresult_until_the_update_shows_installed() {
    let mut machine = folded(&[status(10, &[A], &[], &[]), failure(20, A, -2145099769)]);
    assert_eq!(machine.state_of(&A), ClientState::Failed);
    assert_eq!(machine.failed[&A].hresult, -2145099769);

    machine.apply_all(&[status(30, &[A], &[], &[])]);
    assert_eq!(
        machine.state_of(&A),
        ClientState::Failed,
        "still needed: still failed"
    );

    machine.apply_all(&[status(40, &[], &[A], &[])]);
    assert_eq!(machine.state_of(&A), ClientState::Installed);
    assert!(machine.failed.is_empty());
}

#[test]
fn a_status_report_older_than_the_failure_does_not_clear_it() {
    let machine = folded(&[failure(20, A, -5), status(10, &[], &[A], &[])]);
    assert_eq!(machine.state_of(&A), ClientState::Installed, "the lists apply");
    assert_eq!(machine.failed[&A].at, event_time(&failure(20, A, -5)).unwrap());
}

#[test]
fn install_success_events_move_an_update_to_installed_or_pending_reboot() {
    let mut machine = folded(&[
        status(10, &[A, B, C], &[], &[]),
        failure(11, B, -7),
        event(183, 12, A),
        event(201, 13, B),
    ]);
    assert_eq!(machine.state_of(&A), ClientState::Installed);
    assert_eq!(machine.state_of(&B), ClientState::InstalledPendingReboot);
    assert_eq!(machine.state_of(&C), ClientState::NotInstalled);

    machine.apply_all(&[event(202, 14, Uuid::nil())]);
    assert_eq!(
        machine.state_of(&B),
        ClientState::Installed,
        "the reboot finished it"
    );
    assert!(machine.pending_reboot.is_empty());
}

#[test]
fn w_list_and_184_mean_pending_reboot_until_a_later_report_shows_installed() {
    let mut machine = folded(&[status(10, &[A], &[], &[B]), event(184, 11, A)]);
    assert_eq!(machine.state_of(&A), ClientState::InstalledPendingReboot);
    assert_eq!(machine.state_of(&B), ClientState::InstalledPendingReboot);
    machine.apply_all(&[status(20, &[], &[A, B], &[])]);
    assert_eq!(machine.state_of(&A), ClientState::Installed);
    assert_eq!(machine.state_of(&B), ClientState::Installed);
}

#[test]
fn events_fold_in_time_order_whatever_order_they_arrive_in() {
    let events = [
        status(10, &[A], &[], &[]),
        failure(20, A, -1),
        status(30, &[], &[A], &[]),
    ];
    let forward = folded(&events);
    let mut reversed = events.to_vec();
    reversed.reverse();
    assert_eq!(folded(&reversed), forward);
    assert_eq!(forward.state_of(&A), ClientState::Installed);
}

#[test]
fn unreadable_times_and_list_entries_are_skipped() {
    let mut bad_time = status(10, &[A], &[], &[]);
    bad_time.time_at_target = "yesterday".into();
    let mut bad_entry = status(20, &[B], &[], &[]);
    bad_entry.misc_data.insert(0, "U=not-a-guid;".into());
    let machine = folded(&[bad_time, bad_entry]);
    assert_eq!(machine.state_of(&A), ClientState::NotApplicable);
    assert_eq!(machine.state_of(&B), ClientState::NotInstalled);
}

fn captured(body: &str) -> Vec<ReportingEvent> {
    let (_, element) = envelope::parse_request(body, None).unwrap();
    messages::parse_report_event_batch_request(&element)
        .unwrap()
        .events
}

/// The real Windows 11 batches (tests/fixtures/wusp, native flow): a scan batch whose last
/// events are three 148s with 0x80240438, and an install batch where the Defender bundle and
/// its member both failed with 0x80246007.
#[test]
fn the_captured_windows_11_batches_give_the_states_they_imply() {
    let scan = captured(include_str!(
        "../../../tests/fixtures/wusp/native-flow-000016.report-event-batch.request.xml"
    ));
    let install = captured(include_str!(
        "../../../tests/fixtures/wusp/native-flow-000018.report-event-batch.request.xml"
    ));
    let mut machine = MachineStatus::default();
    assert!(machine.apply_all(&scan));
    let last_scan = machine.last_scan.clone().unwrap();
    assert!(!last_scan.succeeded);
    assert_eq!(last_scan.detail, "0x80240438");

    assert!(machine.apply_all(&install));
    for update in [
        uuid!("a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe"),
        uuid!("0daf8592-9e3f-4a8a-9141-d83fafebd09f"),
    ] {
        assert_eq!(machine.state_of(&update), ClientState::Failed);
        assert_eq!(machine.failed[&update].hresult as u32, 0x80246007);
    }
    assert_eq!(machine.status_at, None, "no 156 in the capture");
    assert_eq!(machine.state_of(&A), ClientState::Unknown);
}
