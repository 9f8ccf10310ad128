//! Maintenance windows through a client's offer (docs/baselines.md §6, cases T08/T09/T37): a
//! `Gate` window holds approved updates at detect-only until it opens, offers them for install
//! inside it, and stops at its cutoff; the switch reaches a cached client as ChangedUpdates;
//! every install carries the deadline the baseline's `Deadline` implies. The window is weekly
//! in Europe/Berlin and the test crosses the 2025-10-26 change from CEST to CET. The catalog
//! is planned at chosen instants (`Snapshot::build_with_baselines`); what the client is sent
//! is read by the test kit's client and held against the catalog's ground truth.

use super::agent::WindowsClient;
use super::serve;
use super::truth::{approving, assert_actions, Truth};
use crate::harness::synthetic;
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;
use wucache::daemon::Daemon;
use wucache::snapshot::Snapshot;
use wucache_testkit::synth::SynthDoc;
use wucache_testkit::wua::Action;

/// The baseline explicitly approving `kbs`, gated by a window every Sunday at 02:00 Berlin
/// time, two hours long with a one-hour cutoff (installs start from 02:00 to 03:00 local).
fn baseline(kbs: &BTreeSet<String>) -> String {
    let list: Vec<String> = kbs.iter().map(|kb| format!("\"{kb}\"")).collect();
    format!(
        r#"schema_version = 1
default_baseline = "ring"

[evaluation]
report_unapproved = true

[[baseline]]
id = "ring"
Name = "ring"
OperatingSystem = "WINDOWS"
ApprovedPatches = [{}]

[baseline.ProxyExtensions]
SupersededHandling = "Offer"
MaintenanceWindows = ["sunday-berlin"]
Deadline = {{ Mode = "ApprovalPlusDays", DayOffset = 3, MinutesAfterMidnight = 120, TimeZone = "Europe/Berlin" }}

[[maintenance_window]]
Name = "sunday-berlin"
Schedule = "cron(0 2 ? * SUN *)"
ScheduleTimezone = "Europe/Berlin"
Duration = 2
Cutoff = 1
AllowUnassociatedTargets = false

[maintenance_window.ProxyExtensions]
Mode = "Gate"
"#,
        list.join(", ")
    )
}

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// Plans the daemon's catalog as of `at`.
fn plan_at(daemon: &Daemon, at: &str) {
    let app = &daemon.app;
    let snapshot =
        Snapshot::build_with_baselines(&app.store, t(at).timestamp(), app.baselines().expect("baselines"))
            .expect("the catalog plans");
    app.set_snapshot(snapshot);
}

/// The document's `CreationDate` as written (the release date an explicit approval carries).
fn created(doc: &SynthDoc) -> DateTime<Utc> {
    let start = doc.xml.find("CreationDate=\"").expect("CreationDate") + "CreationDate=\"".len();
    let text = &doc.xml[start..start + doc.xml[start..].find('"').unwrap()];
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// T08's rule, stated here: the approval day as Berlin sees it, plus three days, at 02:00
/// Berlin time.
fn expected_deadline(approved: DateTime<Utc>) -> String {
    let berlin = chrono_tz::Europe::Berlin;
    let day = approved.with_timezone(&berlin).date_naive() + Duration::days(3);
    let local: NaiveDateTime = day.and_hms_opt(2, 0, 0).unwrap();
    let deadline = berlin.from_local_datetime(&local).earliest().unwrap();
    deadline
        .with_timezone(&Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `GET /api/v1/explain` for a machine and KB: the JSON of the one update `update_id`.
async fn explained_update(daemon: &Daemon, computer: &str, kb: &str, update_id: Uuid) -> serde_json::Value {
    let token = daemon.app.admin_token();
    let path = format!("/api/v1/explain?computer={computer}&kb={kb}");
    let (status, body) = crate::harness::http("GET", daemon.admin_addr, &path, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let explained: serde_json::Value = serde_json::from_str(&body).unwrap();
    explained["Updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["UpdateId"] == update_id.to_string())
        .unwrap_or_else(|| panic!("{update_id} in {explained}"))
        .clone()
}

/// The KBs of every `step`-th unexpired top-level update, `count` of them: what the test
/// baselines approve.
fn approved_kbs(truth: &Truth<'_>, step: usize, count: usize) -> BTreeSet<String> {
    truth
        .top_level()
        .iter()
        .filter(|d| !d.expired)
        .filter_map(|d| Truth::kb(d))
        .step_by(step)
        .take(count)
        .collect()
}

/// The ground truth's scope for the baseline, approved updates held at detect-only.
fn gated(truth: &Truth<'_>, kbs: &BTreeSet<String>) -> BTreeMap<Uuid, Action> {
    truth
        .scope(approving(kbs))
        .into_iter()
        .map(|(id, action)| match action {
            Action::Install => (id, Action::PreDeploymentCheck),
            other => (id, other),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_window_switches_offers_at_its_boundaries_in_its_own_zone_with_deadlines() {
    let catalog = synthetic(1201, 300);
    let truth = Truth::new(&catalog);
    let kbs = approved_kbs(&truth, 7, 20);
    let (daemon, _data, _file) = serve(&catalog, Some(&baseline(&kbs))).await;
    let open = truth.scope(approving(&kbs));
    let closed = gated(&truth, &kbs);
    assert!(open.values().any(|a| *a == Action::Install));

    // Sunday 2 November 2025 (CET, UTC+1): the window opens at 01:00Z. Were the zone ignored
    // or still on summer time, it would open at 00:00Z or 02:00Z.
    plan_at(&daemon, "2025-11-02T00:59:59Z");
    let mut cached = WindowsClient::new(daemon.client_addr);
    cached.handshake().await;
    let before = cached.scan().await;
    assert_actions(&before.actions(), &closed);

    // `explain` says why an approved update is held, and until when.
    let held = truth
        .top_level()
        .into_iter()
        .find(|d| open.get(&d.update_id) == Some(&Action::Install) && Truth::kb(d).is_some())
        .expect("an approved update with a KB");
    let kb = Truth::kb(held).unwrap();
    let update = explained_update(&daemon, &cached.client_id, &kb, held.update_id).await;
    assert_eq!(update["Offered"], "PreDeploymentCheck", "{update}");
    assert_eq!(update["Window"]["Open"], false, "{update}");
    assert_eq!(update["Window"]["NextStart"], "2025-11-02T01:00:00Z", "{update}");

    plan_at(&daemon, "2025-11-02T01:00:00Z");
    let update = explained_update(&daemon, &cached.client_id, &kb, held.update_id).await;
    assert_eq!(update["Offered"], "Install", "{update}");
    assert_eq!(update["Window"]["Open"], true, "{update}");
    assert_eq!(update["Deadline"], expected_deadline(created(held)), "{update}");
    let after = cached.sync_updates(&before.cached_parameters()).await.unwrap();
    let changed: BTreeMap<Uuid, Action> = after
        .changed_updates
        .iter()
        .map(|u| (before.seen[&u.id].update_id, u.action().unwrap()))
        .collect();
    let released: BTreeMap<Uuid, Action> = open
        .iter()
        .filter(|(_, a)| **a == Action::Install)
        .map(|(id, a)| (*id, *a))
        .collect();
    assert_actions(&changed, &released);

    let mut fresh = WindowsClient::new(daemon.client_addr);
    fresh.handshake().await;
    let inside = fresh.scan().await;
    assert_actions(&inside.actions(), &open);
    // Every install carries the deadline of its approval (the release date) by T08's rule.
    for seen in inside.seen.values() {
        if seen.action == Action::Install {
            let doc = truth.newest[&seen.update_id];
            assert_eq!(
                seen.deadline.as_deref(),
                Some(expected_deadline(created(doc)).as_str()),
                "{}",
                seen.update_id
            );
        } else {
            assert_eq!(seen.deadline, None);
        }
    }

    // Duration 2 h, cutoff 1 h: no new installs from 02:00Z.
    plan_at(&daemon, "2025-11-02T01:59:59Z");
    let mut late = WindowsClient::new(daemon.client_addr);
    late.handshake().await;
    assert_actions(&late.scan().await.actions(), &open);
    plan_at(&daemon, "2025-11-02T02:00:00Z");
    let mut past = WindowsClient::new(daemon.client_addr);
    past.handshake().await;
    assert_actions(&past.scan().await.actions(), &closed);

    // A week earlier, the last Sunday of summer time (26 October: 02:00 CEST is 00:00Z).
    plan_at(&daemon, "2025-10-26T00:00:00Z");
    let mut summer = WindowsClient::new(daemon.client_addr);
    summer.handshake().await;
    assert_actions(&summer.scan().await.actions(), &open);
    daemon.stop().await;
}

/// An install override list (Patch Manager's `InstallOverrideList`) for patch group Ring1:
/// its machines install a listed KB no rule approves, never one rejected with BLOCK; machines
/// outside the group are offered what the baseline decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_override_list_installs_what_no_rule_approves_but_never_a_blocked_kb() {
    let catalog = synthetic(1202, 200);
    let truth = Truth::new(&catalog);
    let candidates: Vec<&SynthDoc> = truth
        .top_level()
        .into_iter()
        .filter(|d| !d.expired && Truth::kb(d).is_some())
        .collect();
    // Three updates with KBs no other top-level update shares.
    let unique: Vec<&SynthDoc> = candidates
        .iter()
        .copied()
        .filter(|d| candidates.iter().filter(|o| Truth::kb(o) == Truth::kb(d)).count() == 1)
        .take(3)
        .collect();
    let [approved, overridden, blocked] = unique[..] else {
        panic!("three updates with their own KBs")
    };
    let kb = |d: &SynthDoc| Truth::kb(d).unwrap();
    let lists = tempfile::tempdir().unwrap();
    let list = lists.path().join("ring1-overrides.yaml");
    std::fs::write(
        &list,
        format!(
            "patches:\n    -\n        id: '{}'\n        title: 'not approved by any rule'\n    -   id: '{}'\n",
            kb(overridden),
            kb(blocked)
        ),
    )
    .unwrap();
    let text = format!(
        r#"schema_version = 1
default_baseline = "ring"

[[patch_group]]
name = "Ring1"
baseline = "ring"
install_override_list = "{}"

[[baseline]]
id = "ring"
Name = "ring"
OperatingSystem = "WINDOWS"
ApprovedPatches = ["{}"]
RejectedPatches = ["{}"]
RejectedPatchesAction = "BLOCK"

[baseline.ProxyExtensions]
SupersededHandling = "Offer"
"#,
        list.display(),
        kb(approved),
        kb(blocked)
    );
    let (daemon, _data, _file) = serve(&catalog, Some(&text)).await;

    let mut ring1 = WindowsClient::new(daemon.client_addr);
    ring1.target_group = Some("Ring1".into());
    ring1.handshake().await;
    let offered = ring1.scan().await.actions();
    assert_eq!(offered.get(&approved.update_id), Some(&Action::Install));
    assert_eq!(
        offered.get(&overridden.update_id),
        Some(&Action::Install),
        "the override installs it"
    );
    assert_eq!(
        offered.get(&blocked.update_id),
        Some(&Action::PreDeploymentCheck),
        "a BLOCKed KB is never installed"
    );

    let explained = explained_update(&daemon, &ring1.client_id, &kb(overridden), overridden.update_id).await;
    assert_eq!(explained["Offered"], "Install", "{explained}");
    assert!(
        explained["Reason"]
            .as_str()
            .unwrap()
            .contains("install override list"),
        "{explained}"
    );

    let mut other = WindowsClient::new(daemon.client_addr);
    other.handshake().await;
    let offered = other.scan().await.actions();
    assert_eq!(offered.get(&approved.update_id), Some(&Action::Install));
    assert_eq!(
        offered.get(&overridden.update_id),
        Some(&Action::PreDeploymentCheck)
    );
    daemon.stop().await;
}

/// T09's rule through the client: `Deadline = NextMaintenanceWindow` with B2's window (02:00
/// Berlin on the second Tuesday, plus two days): every install's deadline is that window's
/// first start at or after the update's approval (its release date, explicitly approved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_maintenance_window_deadlines_follow_the_second_tuesday_in_berlin() {
    let catalog = synthetic(1203, 200);
    let truth = Truth::new(&catalog);
    let kbs = approved_kbs(&truth, 5, 15);
    let text = baseline(&kbs)
        .replace(
            "Deadline = { Mode = \"ApprovalPlusDays\", DayOffset = 3, MinutesAfterMidnight = 120, TimeZone = \"Europe/Berlin\" }",
            "Deadline = { Mode = \"NextMaintenanceWindow\" }",
        )
        .replace("cron(0 2 ? * SUN *)", "cron(0 2 ? * TUE#2 *)")
        .replace("Duration = 2", "ScheduleOffset = 2\nDuration = 4")
        .replace("Mode = \"Gate\"", "Mode = \"Deadline\"");
    let (daemon, _data, _file) = serve(&catalog, Some(&text)).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let scan = client.scan().await;
    let installs: Vec<_> = scan
        .seen
        .values()
        .filter(|s| s.action == Action::Install)
        .collect();
    assert!(!installs.is_empty());
    for seen in installs {
        let doc = truth.newest[&seen.update_id];
        assert_eq!(
            seen.deadline.as_deref(),
            Some(second_tuesday_plus_two(created(doc)).as_str()),
            "{}",
            seen.update_id
        );
    }
    daemon.stop().await;
}

/// The first "second Tuesday + 2 days, 02:00 Berlin" at or after `from`, stated by hand.
fn second_tuesday_plus_two(from: DateTime<Utc>) -> String {
    use chrono::Datelike;
    let berlin = chrono_tz::Europe::Berlin;
    let local = from.with_timezone(&berlin).date_naive();
    let mut first = chrono::NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap();
    // One month back too: an offset start early in the month may belong to last month.
    first = first - chrono::Months::new(1);
    loop {
        let to_tuesday = (7 + 2 - first.weekday().num_days_from_sunday() as i64) % 7;
        let second_tuesday = first + Duration::days(to_tuesday + 7);
        let day = second_tuesday + Duration::days(2);
        let start = berlin
            .from_local_datetime(&day.and_hms_opt(2, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&Utc);
        if start >= from {
            return start.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        }
        first = first + chrono::Months::new(1);
    }
}

/// Without a restart or any request: the daemon's own re-planner opens the gate when the
/// window starts (an `at()` window a few seconds ahead), and clients are offered the installs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reopens_the_gate_by_itself_when_the_window_starts() {
    let catalog = synthetic(1204, 120);
    let truth = Truth::new(&catalog);
    let kbs = approved_kbs(&truth, 1, 5);
    let start = Utc::now() + Duration::seconds(12);
    let text = baseline(&kbs)
        .replace(
            "cron(0 2 ? * SUN *)",
            &format!("at({})", start.format("%Y-%m-%dT%H:%M:%S")),
        )
        .replace("ScheduleTimezone = \"Europe/Berlin\"\n", "")
        .replace("Cutoff = 1", "Cutoff = 0");
    let (daemon, _data, _file) = serve(&catalog, Some(&text)).await;
    let open = truth.scope(approving(&kbs));
    let closed = gated(&truth, &kbs);
    let scan = || async {
        let mut client = WindowsClient::new(daemon.client_addr);
        client.handshake().await;
        client.scan().await.actions()
    };
    assert!(Utc::now() < start, "the daemon started before the window");
    assert_actions(&scan().await, &closed);
    let mut offered = BTreeMap::new();
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if Utc::now() < start {
            continue;
        }
        offered = scan().await;
        if offered == open {
            break;
        }
    }
    assert_actions(&offered, &open);
    daemon.stop().await;
}
