//! Compliance from what clients report: machines in two patch groups report status (156),
//! failures (182) or nothing, and `/api/v1/compliance` and `/api/v1/computers/{name}` give
//! the per-machine and per-group states computed by hand from the synthetic catalog and the
//! baseline file the test writes.

use crate::client::WindowsClient;
use crate::harness::{fake_with, http, serve_with_baselines, synthetic};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;
use wucache::daemon::Daemon;
use wucache_testkit::synth::{SynthCatalog, SynthDoc};
use wucache_testkit::wua::report::{report_event_batch, Event};

/// The WSUS "Security Updates" classification.
const SECURITY_UPDATES: Uuid = uuid::uuid!("0fa1201d-4330-4fa8-8ae9-b877473b6441");

/// Two top-level, unexpired, non-security updates whose KB no other update carries and that
/// nothing supersedes: explicit approvals of their KBs approve exactly them.
fn two_plain_updates(catalog: &SynthCatalog) -> (SynthDoc, SynthDoc) {
    let mut newest: BTreeMap<Uuid, &SynthDoc> = BTreeMap::new();
    for doc in &catalog.docs {
        let entry = newest.entry(doc.update_id).or_insert(doc);
        if doc.revision > entry.revision {
            *entry = doc;
        }
    }
    let members: BTreeSet<Uuid> = catalog
        .docs
        .iter()
        .flat_map(|d| d.bundled.iter().copied())
        .collect();
    let superseded: BTreeSet<Uuid> = newest
        .values()
        .flat_map(|d| d.superseded.iter().copied())
        .collect();
    let kb_count = |kb: &Option<String>| newest.values().filter(|d| d.kb == *kb).count();
    let mut plain = newest.values().filter(|d| {
        !d.kind.is_config()
            && !d.expired
            && d.kb.is_some()
            && kb_count(&d.kb) == 1
            && !members.contains(&d.update_id)
            && !superseded.contains(&d.update_id)
            && !d.classifications.contains(&SECURITY_UPDATES)
    });
    let a = plain.next().expect("a plain update").to_owned().clone();
    let b = plain.next().expect("a second plain update").to_owned().clone();
    (a, b)
}

fn kb(doc: &SynthDoc) -> String {
    let kb = doc.kb.clone().unwrap();
    if kb.starts_with("KB") {
        kb
    } else {
        format!("KB{kb}")
    }
}

fn baselines(default_kbs: &[String], ring_kbs: &[String]) -> String {
    let list = |kbs: &[String]| {
        kbs.iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "schema_version = 1\ndefault_baseline = \"everyone\"\n\n[[patch_group]]\nname = \"Ring1\"\n\
         baseline = \"ring-one\"\n\n[[baseline]]\nid = \"everyone\"\nName = \"everyone\"\n\
         OperatingSystem = \"WINDOWS\"\nApprovedPatches = [{}]\n\n[[baseline]]\nid = \"ring-one\"\n\
         Name = \"ring-one\"\nOperatingSystem = \"WINDOWS\"\nApprovedPatches = [{}]\n",
        list(default_kbs),
        list(ring_kbs)
    )
}

fn upper(ids: &[Uuid]) -> String {
    ids.iter()
        .map(|id| id.to_string().to_uppercase())
        .collect::<Vec<_>>()
        .join(";")
}

/// A 156 with the `U` (needed) and `V` (installed) lists, as Windows writes them.
fn status(client: &WindowsClient, needed: &[Uuid], installed: &[Uuid]) -> Event {
    let mut event = Event::new(&client.client_id, "2026-10-04T15:05:00Z", 156);
    event.misc_data = [("U", needed), ("V", installed)]
        .iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(tag, ids)| format!("{tag}={}", upper(ids)))
        .collect();
    event
}

/// A 182: the install of `update` failed with 0x80246007.
fn install_failed(client: &WindowsClient, update: &SynthDoc) -> Event {
    let mut event = Event::new(&client.client_id, "2026-10-04T15:06:00Z", 182);
    event.update = (update.update_id, update.revision);
    event.win32_hresult = 0x80246007u32 as i32;
    event
}

async fn send(client: &WindowsClient, events: &[Event]) {
    assert!(client
        .send_events(events)
        .await
        .expect("ReportEventBatch answers"));
}

async fn client(daemon: &Daemon, group: Option<&str>) -> WindowsClient {
    let mut client = WindowsClient::new(daemon.client_addr);
    client.target_group = group.map(str::to_string);
    client.handshake().await;
    client
}

fn counts(state: &Value) -> [u64; 4] {
    [
        "InstalledCount",
        "MissingCount",
        "FailedCount",
        "NotApplicableCount",
    ]
    .map(|k| state[k].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_states_become_machine_and_group_compliance() {
    let catalog = synthetic(91, 300);
    let (a, b) = two_plain_updates(&catalog);
    let upstream = fake_with(&catalog).await;
    let data = tempfile::tempdir().unwrap();
    let file = baselines(&[kb(&a), kb(&b)], &[kb(&a)]);
    let daemon = serve_with_baselines(&upstream.url(), &data, &file).await;

    // everyone-1: A needed, B installed. ring-1: A installed, B (not approved there) needed.
    // ring-2: A needed and failed. everyone-2: never reports.
    let everyone_1 = client(&daemon, None).await;
    send(
        &everyone_1,
        &[status(&everyone_1, &[a.update_id], &[b.update_id])],
    )
    .await;
    let ring_1 = client(&daemon, Some("Ring1")).await;
    send(&ring_1, &[status(&ring_1, &[b.update_id], &[a.update_id])]).await;
    let ring_2 = client(&daemon, Some("ring1;Ring2")).await;
    send(
        &ring_2,
        &[status(&ring_2, &[a.update_id], &[]), install_failed(&ring_2, &a)],
    )
    .await;
    let _everyone_2 = client(&daemon, None).await;
    let typo = client(&daemon, Some("Rnig1")).await;

    let token = daemon.app.admin_token();
    let (code, body) = http("GET", daemon.admin_addr, "/api/v1/compliance", Some(&token)).await;
    assert_eq!(code, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    let by_id: BTreeMap<String, Value> = report["InstancePatchStates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["InstanceId"].as_str().unwrap().to_string(), s.clone()))
        .collect();
    let names = BTreeMap::from([
        ("everyone-1", everyone_1.client_id.clone()),
        ("everyone-2", _everyone_2.client_id.clone()),
        ("ring-1", ring_1.client_id.clone()),
        ("ring-2", ring_2.client_id.clone()),
        ("typo", typo.client_id.clone()),
    ]);
    assert_eq!(by_id.len(), 5);
    // [installed, missing, failed, not applicable] and the status, worked out by hand.
    let expected = [
        ("everyone-1", "default", "everyone", [1, 1, 0, 0], "NON_COMPLIANT"),
        ("everyone-2", "default", "everyone", [0, 0, 0, 0], "UNKNOWN"),
        ("ring-1", "Ring1", "ring-one", [1, 0, 0, 0], "COMPLIANT"),
        ("ring-2", "Ring1", "ring-one", [0, 0, 1, 0], "NON_COMPLIANT"),
        ("typo", "default", "everyone", [0, 0, 0, 0], "UNKNOWN"),
    ];
    for (name, group, baseline, state_counts, compliance) in expected {
        let state = &by_id[&names[name]];
        assert_eq!(state["PatchGroup"], group, "{name}");
        assert_eq!(state["BaselineId"], baseline, "{name}");
        assert_eq!(counts(state), state_counts, "{name}: {state}");
        assert_eq!(state["ComplianceStatus"], compliance, "{name}");
    }

    let groups: BTreeMap<String, Value> = report["PatchGroupStates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["PatchGroup"].as_str().unwrap().to_string(), g.clone()))
        .collect();
    let ring = &groups["Ring1"];
    assert_eq!(ring["Instances"], 2);
    assert_eq!(ring["InstancesWithInstalledPatches"], 1);
    assert_eq!(ring["InstancesWithFailedPatches"], 1);
    assert_eq!(
        (ring["Compliant"].as_u64(), ring["NonCompliant"].as_u64()),
        (Some(1), Some(1))
    );
    let default = &groups["default"];
    assert_eq!(default["Instances"], 3);
    assert_eq!(default["InstancesWithMissingPatches"], 1);
    assert_eq!(default["NotReported"], 2);
    assert_eq!(
        report["UnknownTargetGroups"],
        serde_json::json!([{"TargetGroup": "Rnig1", "Computers": [typo.client_id]}]),
        "a typo'd TargetGroup is named with the machine that asked"
    );

    // A later report reaches the next read (the fleet's rows are kept between reads).
    let mut later = Event::new(&everyone_1.client_id, "2026-10-04T16:00:00Z", 156);
    later.misc_data = status(&everyone_1, &[], &[a.update_id, b.update_id]).misc_data;
    send(&everyone_1, &[later]).await;
    let (_, body) = http("GET", daemon.admin_addr, "/api/v1/compliance", Some(&token)).await;
    let again: Value = serde_json::from_str(&body).unwrap();
    let now = again["InstancePatchStates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["InstanceId"] == everyone_1.client_id.as_str())
        .unwrap();
    assert_eq!(counts(now), [2, 0, 0, 0], "{now}");
    assert_eq!(now["ComplianceStatus"], "COMPLIANT");

    // One group only, and as CSV.
    let (_, ring_only) = http(
        "GET",
        daemon.admin_addr,
        "/api/v1/compliance?group=ring1",
        Some(&token),
    )
    .await;
    let ring_only: Value = serde_json::from_str(&ring_only).unwrap();
    assert_eq!(ring_only["InstancePatchStates"].as_array().unwrap().len(), 2);
    let (code, csv) = http(
        "GET",
        daemon.admin_addr,
        "/api/v1/compliance?format=csv&group=Ring1",
        Some(&token),
    )
    .await;
    assert_eq!(code, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("InstanceId,ComputerName,PatchGroup,BaselineId,ComplianceStatus"));
    assert_eq!(lines.len(), 3, "{csv}");
    let ring_2_name = by_id[&ring_2.client_id]["ComputerName"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "{},{ring_2_name},Ring1,ring-one,NON_COMPLIANT,",
            ring_2.client_id
        ))),
        "{csv}"
    );

    // One machine's patches, found by its DNS name: the failure with its code.
    let path = format!("/api/v1/computers/{}", ring_2_name.to_uppercase());
    let (code, body) = http("GET", daemon.admin_addr, &path, Some(&token)).await;
    assert_eq!(code, 200, "{body}");
    let machine: Value = serde_json::from_str(&body).unwrap();
    let patches = machine["Patches"].as_array().unwrap();
    assert_eq!(patches.len(), 1, "{body}");
    assert_eq!(patches[0]["UpdateId"], a.update_id.to_string());
    assert_eq!(patches[0]["State"], "FAILED");
    assert_eq!(patches[0]["FailureHResult"], "0x80246007");
    assert_eq!(
        machine["Computer"]["ip"], "127.0.0.1",
        "the address it connects from"
    );
    assert_eq!(
        machine["Computer"]["computer"]["os_build_number"], "26200",
        "{body}"
    );

    // The computer list carries each machine's group, baseline and counts too.
    let (code, body) = http("GET", daemon.admin_addr, "/api/v1/computers", Some(&token)).await;
    assert_eq!(code, 200, "{body}");
    let list: Vec<Value> = serde_json::from_str(&body).unwrap();
    let listed = list
        .iter()
        .find(|c| c["client_id"] == ring_2.client_id.as_str())
        .unwrap();
    assert_eq!(listed["PatchGroup"], "Ring1");
    assert_eq!(listed["BaselineId"], "ring-one");
    assert_eq!(listed["FailedCount"], 1);
    assert_eq!(listed["requested_groups"], serde_json::json!(["ring1", "Ring2"]));
    let (code, _) = http("GET", daemon.admin_addr, "/api/v1/computers/nobody", Some(&token)).await;
    assert_eq!(code, 404);
    let (code, _) = http("GET", daemon.admin_addr, "/api/v1/compliance", None).await;
    assert_eq!(code, 401, "the token is required");

    // The CLI reads the same picture from the admin API.
    let cli_config = crate::harness::cli_config(data.path(), daemon.admin_addr);
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_wucache"))
            .args(args)
            .arg("--config")
            .arg(&cli_config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?}: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    };
    let (csv_out, table, one) = tokio::task::block_in_place(|| {
        (
            run(&["compliance", "--csv", "--group", "Ring1"]),
            run(&["compliance"]),
            run(&["computers", &ring_2.client_id, "--json"]),
        )
    });
    assert_eq!(csv_out, csv, "the CLI's CSV is the API's");
    let ring_2_line = table.lines().find(|l| l.starts_with(&ring_2.client_id)).unwrap();
    assert!(ring_2_line.contains("NON_COMPLIANT"), "{table}");
    assert!(table.contains("PATCH GROUP"), "{table}");
    let one: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(one["Patches"][0]["State"], "FAILED");
}

/// `count` update ids no catalog has, distinct per `tag`.
fn filler(tag: u128, count: usize) -> Vec<Uuid> {
    (0..count as u128)
        .map(|n| Uuid::from_u128((tag << 96) + n))
        .collect()
}

/// The machine's row of `/api/v1/compliance`.
async fn instance_state(daemon: &Daemon, client_id: &str) -> Value {
    let token = daemon.app.admin_token();
    let (code, body) = http("GET", daemon.admin_addr, "/api/v1/compliance", Some(&token)).await;
    assert_eq!(code, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    let states = report["InstancePatchStates"].as_array().unwrap();
    let state = states.iter().find(|s| s["InstanceId"] == client_id);
    state.expect("the machine's row").clone()
}

/// How many ids the machine's folded status holds as needed and as installed.
fn folded_sizes(daemon: &Daemon, client_id: &str) -> (usize, usize) {
    let json = daemon.app.store.status(client_id).unwrap().expect("a status");
    let status: Value = serde_json::from_str(&json).unwrap();
    let len = |key: &str| status[key].as_array().map_or(0, Vec::len);
    (len("needed"), len("installed"))
}

/// A machine may name 64,000 updates in one `MiscData` list (event 156's `U=`, 37 bytes an
/// id; the per-element limit of client requests, 64 KiB, used to fault every report of a
/// machine missing more than 1,771): such a report, with 40,000 installed beside, fits the
/// default body limit and is folded whole. One id more gets the Reporting service's
/// InvalidParameters fault for the whole batch, and what the machine reported before stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_may_list_64000_updates_and_one_more_is_refused_whole() {
    let catalog = synthetic(91, 300);
    let (a, b) = two_plain_updates(&catalog);
    let upstream = fake_with(&catalog).await;
    let data = tempfile::tempdir().unwrap();
    let file = baselines(&[kb(&a), kb(&b)], &[]);
    let daemon = serve_with_baselines(&upstream.url(), &data, &file).await;
    let machine = client(&daemon, None).await;
    let id = machine.client_id.clone();
    let cookie = machine.cookie.clone().unwrap();

    let needed = [filler(0xA, 63_999), vec![a.update_id]].concat();
    let installed = [filler(0xB, 39_999), vec![b.update_id]].concat();
    let mut report = Event::new(&id, "2026-10-04T15:05:00Z", 156);
    report.misc_data = status(&machine, &needed, &installed).misc_data;
    let scan = Event::new(&id, "2026-10-04T15:04:00Z", 147);
    let request = report_event_batch(&cookie, "2026-10-04T15:07:00Z", &[scan, report]);
    assert!(
        request.body.len() > 3_800_000 && request.body.len() < 4 << 20,
        "within the default max_soap_body: {}",
        request.body.len()
    );
    let answer = machine.exchange(&request, false).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        &answer.body[..answer.body.len().min(2000)]
    );
    assert!(answer
        .body
        .contains("<ReportEventBatchResult>true</ReportEventBatchResult>"));
    assert_eq!(folded_sizes(&daemon, &id), (64_000, 40_000));
    let state = instance_state(&daemon, &id).await;
    assert_eq!(counts(&state), [1, 1, 0, 0], "{state}");
    assert_eq!(state["ComplianceStatus"], "NON_COMPLIANT");
    let events_before = daemon.app.store.client_events(&id).unwrap().len();
    assert_eq!(events_before, 2);

    // Later: A and B installed, and 64,001 ids needed.
    let mut over = Event::new(&id, "2026-10-04T16:05:00Z", 156);
    over.misc_data = status(&machine, &filler(0xC, 64_001), &[a.update_id, b.update_id]).misc_data;
    let later_scan = Event::new(&id, "2026-10-04T16:04:00Z", 147);
    let request = report_event_batch(&cookie, "2026-10-04T16:07:00Z", &[later_scan, over]);
    let answer = machine.exchange(&request, false).await;
    assert_eq!(answer.status, 500);
    for part in [
        "<faultcode>soap:Client</faultcode>",
        "<ErrorCode>InvalidParameters</ErrorCode>",
        "<Message>XML element `string` has more than 2368002 bytes of text</Message>",
        "<Method>\"http://www.microsoft.com/SoftwareDistribution/ReportEventBatch\"</Method>",
    ] {
        assert!(answer.body.contains(part), "{part} in {}", answer.body);
    }
    assert_eq!(folded_sizes(&daemon, &id), (64_000, 40_000));
    assert_eq!(daemon.app.store.client_events(&id).unwrap().len(), events_before);
    assert_eq!(counts(&instance_state(&daemon, &id).await), [1, 1, 0, 0]);

    // A report within the bounds goes on being folded.
    let mut fixed = Event::new(&id, "2026-10-04T17:05:00Z", 156);
    fixed.misc_data = status(&machine, &[], &[a.update_id, b.update_id]).misc_data;
    send(&machine, &[fixed]).await;
    assert_eq!(folded_sizes(&daemon, &id), (0, 2));
    let state = instance_state(&daemon, &id).await;
    assert_eq!(counts(&state), [2, 0, 0, 0], "{state}");
    assert_eq!(state["ComplianceStatus"], "COMPLIANT");
}
