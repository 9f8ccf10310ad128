//! Baselines through the protocol: a client's TargetGroup picks its patch group's baseline,
//! only what that baseline approves is offered for install, and a reloaded baseline reaches
//! cached clients as ChangedUpdates.

use crate::client::WindowsClient;
use crate::harness::{config, eventually, fake_with, http, synthetic};
use std::collections::BTreeSet;
use wucache::daemon::Daemon;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};
use wucache_testkit::wua::Action;

fn baseline_file(default_kbs: &[&str], ring_kbs: &[&str]) -> String {
    let list = |kbs: &[&str]| {
        kbs.iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"schema_version = 1
default_baseline = "default-ring"

[[patch_group]]
name = "Ring1"
baseline = "ring-one"

[[baseline]]
id = "default-ring"
Name = "default-ring"
OperatingSystem = "WINDOWS"
ApprovedPatches = [{}]

[[baseline]]
id = "ring-one"
Name = "ring-one"
OperatingSystem = "WINDOWS"
ApprovedPatches = [{}]
"#,
        list(default_kbs),
        list(ring_kbs)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_groups_get_their_baselines_approvals_and_a_reload_reaches_cached_clients() {
    let catalog = synthetic(80, 200);
    let upstream = fake_with(&catalog).await;
    let data = tempfile::tempdir().unwrap();
    let mut config = config(&upstream.url(), &data);
    {
        let store = Store::open(data.path()).unwrap();
        run_sync(&store, &config, &Quiet).await.unwrap();
    }
    // Two top-level, unexpired updates with KBs: A for everyone, B for Ring1 only.
    let members: BTreeSet<_> = catalog
        .docs
        .iter()
        .flat_map(|d| d.bundled.iter().copied())
        .collect();
    let mut with_kb = catalog
        .docs
        .iter()
        .filter(|d| d.kb.is_some() && !d.expired && !d.kind.is_config() && !members.contains(&d.update_id));
    let a = with_kb.next().unwrap();
    let b = with_kb.find(|d| d.kb != a.kb).unwrap();
    let kb = |d: &wucache_testkit::synth::SynthDoc| {
        let kb = d.kb.clone().unwrap();
        if kb.starts_with("KB") {
            kb
        } else {
            format!("KB{kb}")
        }
    };
    let (kb_a, kb_b) = (kb(a), kb(b));
    let file = data.path().join("baselines.toml");
    std::fs::write(&file, baseline_file(&[&kb_a], &[&kb_a, &kb_b])).unwrap();
    config.baselines.file = file.display().to_string();
    let daemon = Daemon::start(config).await.unwrap();
    let app = daemon.app.clone();
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { app.is_ready() }
        })
        .await
    );

    let mut everyone = WindowsClient::new(daemon.client_addr);
    everyone.handshake().await;
    let first = everyone.scan().await;
    let mut ring = WindowsClient::new(daemon.client_addr);
    ring.target_group = Some("ring1".into());
    ring.handshake().await;
    let ring_scan = ring.scan().await;

    assert_eq!(first.offered(), BTreeSet::from([a.update_id]));
    assert_eq!(ring_scan.offered(), BTreeSet::from([a.update_id, b.update_id]));
    let b_id = first.revision_id(b.update_id);
    assert_eq!(
        first.actions()[&b.update_id],
        Action::PreDeploymentCheck,
        "unapproved updates are detect-only"
    );

    // B is approved for everyone: a reload reaches the client that has B cached.
    std::fs::write(&file, baseline_file(&[&kb_a, &kb_b], &[&kb_a, &kb_b])).unwrap();
    assert_eq!(
        http(
            "POST",
            daemon.admin_addr,
            "/api/v1/reload",
            Some(&daemon.app.admin_token())
        )
        .await
        .0,
        200
    );
    let again = everyone.sync_updates(&first.cached_parameters()).await.unwrap();
    let changed = again
        .changed_updates
        .iter()
        .find(|u| u.id == b_id)
        .expect("B comes back as a ChangedUpdate");
    assert_eq!(changed.action(), Some(Action::Install));

    // A file that does not load keeps the previous baselines.
    std::fs::write(&file, "schema_version = 1\n[[baseline]]\nid = \"x\"\n").unwrap();
    assert_eq!(
        http(
            "POST",
            daemon.admin_addr,
            "/api/v1/reload",
            Some(&daemon.app.admin_token())
        )
        .await
        .0,
        422
    );
    assert!(daemon
        .app
        .baselines()
        .is_some_and(|set| set.baseline("default-ring").is_some()));
    daemon.stop().await;
}
