//! `/api/v1/explain` and `wucache explain` on a synthetic catalog served with a baseline file
//! of two baselines: for every update with a KB and two machines (a registered patch group
//! and a TargetGroup no group registers), the answer's decision is the engine's (computed here
//! through the library's approval API on the same file and catalog, at the answer's
//! evaluation epoch), its successors are the catalog's, and its offer is what the simulated
//! Windows client is actually sent (read by the test kit's `wua`, not by wucache). After the
//! client reports, the answer carries the state, its time and the failure HRESULT.

use crate::client::{serve, ScanResult, WindowsClient};
use crate::harness::{http, synthetic};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;
use wucache::approval::{catalog_facts, evaluate, Baseline, BaselineSet, UpdateFacts};
use wucache::daemon::Daemon;
use wucache_testkit::synth::{SynthCatalog, SynthDoc};
use wucache_testkit::wua::report::Event;

/// A catalog (seed, size) whose updates, under the file of `baseline_file`, reach every
/// decision but PENDING_APPROVAL (its dates are in 2018, so every delay has passed).
const SEED: u64 = 12;
const UPDATES: usize = 150;
const INSTALL_FAILED: i32 = 0x80246007u32 as i32;

/// The newest revision of every top-level software update (bundles included, members not).
fn top_level(catalog: &SynthCatalog) -> BTreeMap<Uuid, &SynthDoc> {
    let members: BTreeSet<Uuid> = catalog
        .docs
        .iter()
        .flat_map(|d| d.bundled.iter().copied())
        .collect();
    let mut newest: BTreeMap<Uuid, &SynthDoc> = BTreeMap::new();
    for doc in catalog
        .docs
        .iter()
        .filter(|d| !d.kind.is_config() && !members.contains(&d.update_id))
    {
        let entry = newest.entry(doc.update_id).or_insert(doc);
        if doc.revision > entry.revision {
            *entry = doc;
        }
    }
    newest
}

fn kb(doc: &SynthDoc) -> Option<String> {
    doc.kb.as_ref().map(|kb| format!("KB{kb}"))
}

/// `everyone` (the default): security and critical updates by a rule, some KBs approved and
/// some rejected, superseded updates excluded. `ring-one` (patch group Ring1): GlobalFilters
/// on classifications, everything released by 2018-01-02 and every application update
/// approved by rules, other KBs listed, superseded updates offered until a successor is
/// approved. Unapproved updates are sent detect-only.
fn baseline_file(updates: &BTreeMap<Uuid, &SynthDoc>) -> String {
    let kbs: Vec<String> = updates
        .values()
        .filter_map(|d| kb(d))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let every = |step: usize, from: usize| {
        let picked: Vec<String> = kbs
            .iter()
            .skip(from)
            .step_by(step)
            .map(|kb| format!("\"{kb}\""))
            .collect();
        picked.join(", ")
    };
    format!(
        r#"schema_version = 1
default_baseline = "everyone"

[evaluation]
snapshot_interval_minutes = 60
report_unapproved = true

[[patch_group]]
name = "Ring1"
baseline = "ring-one"

[[baseline]]
id = "everyone"
Name = "everyone"
OperatingSystem = "WINDOWS"
ApprovedPatches = [{}]
RejectedPatches = [{}]
RejectedPatchesAction = "BLOCK"

[[baseline.ApprovalRules.PatchRules]]
ApproveAfterDays = 7
ComplianceLevel = "CRITICAL"
PatchFilterGroup = {{ PatchFilters = [
  {{ Key = "CLASSIFICATION", Values = ["SecurityUpdates", "CriticalUpdates"] }},
] }}

[baseline.ProxyExtensions]
SupersededHandling = "Exclude"

[[baseline]]
id = "ring-one"
Name = "ring-one"
OperatingSystem = "WINDOWS"
GlobalFilters = {{ PatchFilters = [
  {{ Key = "CLASSIFICATION", Values = ["SecurityUpdates", "CriticalUpdates", "Updates", "UpdateRollups", "DefinitionUpdates", "FeaturePacks"] }},
] }}
ApprovedPatches = [{}]
RejectedPatches = [{}]

[[baseline.ApprovalRules.PatchRules]]
ApproveUntilDate = "2018-01-02"
ComplianceLevel = "HIGH"
PatchFilterGroup = {{ PatchFilters = [
  {{ Key = "PATCH_SET", Values = ["OS"] }},
  {{ Key = "CLASSIFICATION", Values = ["*"] }},
] }}

[[baseline.ApprovalRules.PatchRules]]
ApproveAfterDays = 0
ComplianceLevel = "LOW"
PatchFilterGroup = {{ PatchFilters = [
  {{ Key = "PATCH_SET", Values = ["APPLICATION"] }},
  {{ Key = "CLASSIFICATION", Values = ["*"] }},
] }}

[baseline.ProxyExtensions]
SupersededHandling = "OfferUntilSuccessorApproved"
"#,
        every(7, 0),
        every(11, 3),
        every(5, 1),
        every(9, 2),
    )
}

async fn explain(daemon: &Daemon, computer: &str, kb: &str) -> (u16, Value) {
    let token = daemon.app.admin_token();
    let path = format!("/api/v1/explain?computer={computer}&kb={kb}");
    let (status, body) = http("GET", daemon.admin_addr, &path, Some(&token)).await;
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, value)
}

async fn client(daemon: &Daemon, group: &str) -> (WindowsClient, ScanResult) {
    let mut client = WindowsClient::new(daemon.client_addr);
    client.target_group = Some(group.to_string());
    client.handshake().await;
    let scan = client.scan().await;
    (client, scan)
}

/// What the client was sent for an update, in the API's terms (`null`: nothing).
fn sent(scan: &ScanResult, update: Uuid) -> Value {
    match scan.actions().get(&update) {
        Some(action) => Value::String(format!("{action:?}")),
        None => Value::Null,
    }
}

/// Everything seen across the checks, so that the test proves it covered each kind.
#[derive(Default)]
struct Seen {
    decisions: BTreeSet<String>,
    decided_by: BTreeSet<String>,
    offers: BTreeSet<String>,
    updates: usize,
}

/// Explains every KB of the catalog for `client` and checks each update against the engine
/// (`baseline` at the answer's epoch), the catalog's supersedence and the client's scan.
/// Returns the answers by update id.
async fn check_every_update(
    daemon: &Daemon,
    client: &WindowsClient,
    scan: &ScanResult,
    baseline: &Baseline,
    truth: &Truth<'_>,
    seen: &mut Seen,
) -> BTreeMap<Uuid, Value> {
    let mut answers = BTreeMap::new();
    for (kb, updates) in &truth.by_kb {
        let (status, answer) = explain(daemon, &client.client_id, &kb.to_lowercase()).await;
        assert_eq!(status, 200, "{kb}: {answer}");
        assert_eq!(answer["KB"], kb.as_str());
        let epoch = chrono::DateTime::parse_from_rfc3339(answer["EvaluatedAt"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        let listed: BTreeSet<Uuid> = answer["Updates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["UpdateId"].as_str().unwrap().parse().unwrap())
            .collect();
        let expected: BTreeSet<Uuid> = updates.iter().map(|f| f.update_id()).collect();
        assert_eq!(listed, expected, "{kb}: every update with the KB, and only those");
        for facts in updates {
            let id = facts.update_id();
            let update = answer["Updates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["UpdateId"] == id.to_string().as_str())
                .unwrap();
            let engine = evaluate(facts, baseline, epoch);
            assert_eq!(
                update["Decision"],
                engine.decision().to_string().as_str(),
                "{kb} {id}: {update}"
            );
            assert_eq!(update["Reason"], engine.reason(), "{kb} {id}");
            assert_eq!(
                update["Offered"],
                sent(scan, id),
                "{kb} {id}: the offer is what the client was sent ({update})"
            );
            let successors: BTreeSet<String> = update["SupersededBy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["UpdateId"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(successors, truth.successors(id), "{kb} {id}: successors");
            seen.decisions
                .insert(update["Decision"].as_str().unwrap().to_string());
            seen.decided_by
                .insert(update["DecidedBy"].as_str().unwrap().to_string());
            seen.offers
                .insert(update["Offered"].as_str().unwrap_or("not sent").to_string());
            seen.updates += 1;
            answers.insert(id, update.clone());
        }
    }
    answers
}

/// The catalog's ground truth: engine facts grouped by KB, successors from the documents.
struct Truth<'a> {
    by_kb: BTreeMap<String, Vec<UpdateFacts>>,
    top_level: BTreeMap<Uuid, &'a SynthDoc>,
}

impl Truth<'_> {
    fn successors(&self, update: Uuid) -> BTreeSet<String> {
        self.top_level
            .values()
            .filter(|d| d.superseded.contains(&update))
            .map(|d| d.update_id.to_string())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_gives_the_engines_decision_and_what_the_client_is_sent_for_every_update() {
    let catalog = synthetic(SEED, UPDATES);
    let top = top_level(&catalog);
    let text = baseline_file(&top);
    let (daemon, _data, _) = serve(&catalog, Some(&text)).await;
    let set = BaselineSet::from_toml(&text, &|_| Err("no other files".into()))
        .expect("the test's baseline file loads")
        .into_value();
    let facts = catalog_facts(&daemon.app.snapshot().records);
    let mut by_kb: BTreeMap<String, Vec<UpdateFacts>> = BTreeMap::new();
    for f in facts {
        if let Some(kb) = f.kb_number() {
            by_kb.entry(kb).or_default().push(f);
        }
    }
    let with_kb = top.values().filter(|d| d.kb.is_some()).count();
    assert_eq!(by_kb.values().map(Vec::len).sum::<usize>(), with_kb);
    assert!(
        by_kb.values().any(|updates| updates.len() > 1),
        "some KB is shared by several updates"
    );
    let truth = Truth {
        by_kb,
        top_level: top,
    };

    let (ring, ring_scan) = client(&daemon, "Ring1").await;
    let (other, other_scan) = client(&daemon, "NoSuchGroup").await;
    let mut seen = Seen::default();
    let ring_one = set.baseline("ring-one").unwrap();
    let ring_answers = check_every_update(&daemon, &ring, &ring_scan, ring_one, &truth, &mut seen).await;
    let everyone = set.baseline("everyone").unwrap();
    check_every_update(&daemon, &other, &other_scan, everyone, &truth, &mut seen).await;

    for decision in [
        "APPROVED",
        "EXPLICIT_APPROVED",
        "EXPLICIT_REJECTED",
        "NOT_APPROVED",
        "EXCLUDED_SUPERSEDED",
        "EXCLUDED_EXPIRED",
    ] {
        assert!(
            seen.decisions.contains(decision),
            "{decision} in {:?}",
            seen.decisions
        );
    }
    for basis in [
        "ApprovalRules",
        "ApprovedPatches",
        "RejectedPatches",
        "GlobalFilters",
        "Supersedence",
        "Expiry",
    ] {
        assert!(
            seen.decided_by.contains(basis),
            "{basis} in {:?}",
            seen.decided_by
        );
    }
    for offer in ["Install", "PreDeploymentCheck", "not sent"] {
        assert!(seen.offers.contains(offer), "{offer} in {:?}", seen.offers);
    }
    assert_eq!(seen.updates, 2 * with_kb);

    let shared = truth.by_kb.keys().next().unwrap();
    check_machines(&daemon, &ring, &other, shared).await;
    check_reports(&daemon, &ring, &ring_answers).await;
    check_errors(&daemon, &ring).await;
}

/// The machine part: TargetGroups as sent, the group they select, the baseline; found by
/// client id or (any case) DNS name.
async fn check_machines(daemon: &Daemon, ring: &WindowsClient, other: &WindowsClient, kb: &str) {
    let (_, answer) = explain(daemon, &ring.client_id, kb).await;
    assert_eq!(answer["InstanceId"], ring.client_id.as_str());
    assert_eq!(answer["RequestedTargetGroups"], serde_json::json!(["Ring1"]));
    assert_eq!(answer["PatchGroup"], "Ring1");
    assert_eq!(answer["BaselineId"], "ring-one");
    let name = answer["ComputerName"].as_str().unwrap().to_uppercase();
    let (status, by_name) = explain(daemon, &name, kb).await;
    assert_eq!(status, 200, "{by_name}");
    assert_eq!(by_name["InstanceId"], ring.client_id.as_str());
    let (_, answer) = explain(daemon, &other.client_id, kb).await;
    assert_eq!(
        answer["RequestedTargetGroups"],
        serde_json::json!(["NoSuchGroup"])
    );
    assert_eq!(
        answer["PatchGroup"],
        Value::Null,
        "no registered group: the default baseline"
    );
    assert_eq!(answer["BaselineId"], "everyone");
    for update in answer["Updates"].as_array().unwrap() {
        assert_eq!(update["Window"], Value::Null);
        assert_eq!(update["Deadline"], Value::Null);
        assert_eq!(update["Reported"]["State"], "Unknown", "nothing reported yet");
        assert_eq!(update["Reported"]["At"], Value::Null);
    }
}

/// After a status report (two Install updates and one detect-only update needed) and a failed
/// install, the answers carry each update's state, when the client saw it, the HRESULT, and
/// the Patch Manager state (§5.3: an approved update needed is MISSING, failed FAILED, not
/// named NOT_APPLICABLE).
async fn check_reports(daemon: &Daemon, ring: &WindowsClient, answers: &BTreeMap<Uuid, Value>) {
    let offered = |action: &str| -> Vec<Uuid> {
        answers
            .iter()
            .filter(|(_, a)| a["Offered"] == action)
            .map(|(id, _)| *id)
            .collect()
    };
    let (install, detect_only) = (offered("Install"), offered("PreDeploymentCheck"));
    let (missing, failing, not_applicable) = (install[0], install[1], install[2]);
    let needed = [missing, failing, detect_only[0]];
    assert!(ring.report(&needed).await.expect("ReportEventBatch answers"));
    let mut failure = Event::new(&ring.client_id, "2026-10-04T15:06:00Z", 182);
    let revision = answers[&failing]["RevisionNumber"].as_u64().unwrap() as u32;
    failure.update = (failing, revision);
    failure.win32_hresult = INSTALL_FAILED;
    assert!(ring
        .send_events(&[failure])
        .await
        .expect("ReportEventBatch answers"));

    let reported = |update: Uuid| {
        let kb = answers[&update]["KBId"].as_str().unwrap().to_string();
        async move {
            let (status, answer) = explain(daemon, &ring.client_id, &kb).await;
            assert_eq!(status, 200, "{answer}");
            let found = answer["Updates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["UpdateId"] == update.to_string().as_str())
                .cloned()
                .unwrap();
            found["Reported"].clone()
        }
    };
    let state = reported(missing).await;
    assert_eq!(state["State"], "NotInstalled", "{state}");
    assert_eq!(state["At"], "2026-10-04T15:05:00Z");
    assert_eq!(state["PatchState"], "MISSING");
    assert_eq!(state["FailureHResult"], Value::Null);
    let state = reported(failing).await;
    assert_eq!(state["State"], "Failed", "{state}");
    assert_eq!(state["At"], "2026-10-04T15:06:00Z");
    assert_eq!(state["PatchState"], "FAILED");
    assert_eq!(state["FailureHResult"], "0x80246007");
    let state = reported(not_applicable).await;
    assert_eq!(state["State"], "NotApplicable", "{state}");
    assert_eq!(state["PatchState"], "NOT_APPLICABLE");
    let state = reported(detect_only[0]).await;
    assert_eq!(state["State"], "NotInstalled", "{state}");
}

/// Unknown computer or KB: 404 saying which; missing parameters 400; no token 401.
async fn check_errors(daemon: &Daemon, ring: &WindowsClient) {
    let (status, answer) = explain(daemon, "nobody.corp.example", "KB2267602").await;
    assert_eq!(status, 404);
    assert_eq!(
        answer["error"],
        "no computer with client id or name `nobody.corp.example`"
    );
    let (status, answer) = explain(daemon, &ring.client_id, "kb999999999").await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"], "no update with KB999999999 in the catalog");
    let token = daemon.app.admin_token();
    let (status, _) = http("GET", daemon.admin_addr, "/api/v1/explain?kb=1", Some(&token)).await;
    assert_eq!(status, 400);
    let (status, _) = http("GET", daemon.admin_addr, "/api/v1/explain?computer=x&kb=1", None).await;
    assert_eq!(status, 401);
}

/// `wucache explain` prints the API's answer as blocks (exit 0), `--json` prints the answer
/// itself; an unknown KB or computer exits non-zero with the daemon's message. `baseline
/// preview` refuses a group no baseline registers, naming the registered ones, and takes a
/// plain date for `--at`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explain_command_prints_the_answer_and_fails_on_unknown_names() {
    let catalog = synthetic(SEED, 40);
    let top = top_level(&catalog);
    let text = baseline_file(&top);
    let (daemon, data, baselines) = serve(&catalog, Some(&text)).await;
    let (ring, _) = client(&daemon, "Ring1").await;
    let kb = top.values().find_map(|d| kb(d)).unwrap();
    let (_, api) = explain(&daemon, &ring.client_id, &kb).await;
    let cli_config = crate::harness::cli_config(data.path(), daemon.admin_addr);
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_wucache"))
            .args(args)
            .arg("--config")
            .arg(&cli_config)
            .output()
            .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (
            output.status.success(),
            text(&output.stdout),
            text(&output.stderr),
        )
    };
    let file = baselines.display().to_string();
    let id = ring.client_id.as_str();
    let digits = kb.trim_start_matches("KB");
    let (table, json, unknown_kb, unknown_computer, unknown_group, on_a_date) =
        tokio::task::block_in_place(|| {
            (
                run(&["explain", "--computer", id, "--kb", &kb]),
                run(&["explain", "--computer", id, "--kb", digits, "--json"]),
                run(&["explain", "--computer", id, "--kb", "KB999999999"]),
                run(&["explain", "--computer", "nobody", "--kb", &kb]),
                run(&["baseline", "preview", "--file", &file, "--group", "Ring2"]),
                run(&[
                    "baseline",
                    "preview",
                    "--file",
                    &file,
                    "--group",
                    "ring1",
                    "--at",
                    "2018-01-02",
                ]),
            )
        });

    let (ok, table, stderr) = table;
    assert!(ok, "{stderr}");
    assert!(table.contains(&format!("({id})")), "{table}");
    assert!(
        table.contains("patch group   Ring1 -> baseline ring-one"),
        "{table}"
    );
    for update in api["Updates"].as_array().unwrap() {
        let decision = format!(
            "  decision      {} — {}",
            update["Decision"].as_str().unwrap(),
            update["Reason"].as_str().unwrap()
        );
        assert!(table.contains(&decision), "{decision} in {table}");
        let offered = format!(
            "  offered       {}",
            update["Offered"].as_str().unwrap_or("not sent")
        );
        assert!(table.contains(&offered), "{offered} in {table}");
        assert!(table.contains(&format!(
            "  update        {}",
            update["UpdateId"].as_str().unwrap()
        )));
    }
    assert!(
        table.contains("  window        no maintenance window applies"),
        "{table}"
    );
    assert!(table.contains("  reported      Unknown"), "{table}");

    let (ok, json, stderr) = json;
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        api,
        "--json is the API's answer"
    );

    let (ok, _, stderr) = unknown_kb;
    assert!(!ok, "an unknown KB fails");
    assert!(
        stderr.contains("no update with KB999999999 in the catalog"),
        "{stderr}"
    );
    let (ok, _, stderr) = unknown_computer;
    assert!(!ok, "an unknown computer fails");
    assert!(
        stderr.contains("no computer with client id or name `nobody`"),
        "{stderr}"
    );

    let (ok, _, stderr) = unknown_group;
    assert!(!ok, "an unknown group is an error, not the default baseline");
    assert!(stderr.contains("no patch group `Ring2`"), "{stderr}");
    assert!(stderr.contains("registered groups: Ring1"), "{stderr}");
    let (ok, preview, stderr) = on_a_date;
    assert!(ok, "{stderr}");
    assert!(
        preview.contains("group ring1 -> baseline ring-one (evaluated at 2018-01-02T00:00:00+00:00)"),
        "{preview}"
    );
    // No Gate window in this file: the preview says installs are not held, and lists each
    // update's offer (an approved one as Install).
    assert!(
        preview.contains("maintenance windows: no Gate window"),
        "{preview}"
    );
    assert!(preview.contains(" Install "), "{preview}");
}
