//! Deployments under a baseline, as the client reads them: approved updates `Install`, the
//! members of sent bundles `Bundle`, known-but-unapproved updates `PreDeploymentCheck`,
//! categories and detectoids `Evaluate`; a changed baseline reaches a cached client as
//! `ChangedUpdates`, and updates it no longer sends as `OutOfScopeRevisionIDs`. Expected sets are
//! the ground truth's (`truth`) for the same baseline.

use super::agent::WindowsClient;
use super::truth::{approving, approving_only, assert_actions, Truth};
use super::{baseline_toml, reload, serve};
use crate::harness::synthetic;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;
use wucache_testkit::synth::SynthKind;
use wucache_testkit::wua::{Action, UpdateInfo};

/// About 20 KBs of top-level updates, every n-th starting at `offset` (a baseline lists at most
/// 50 approved patches, as AWS allows).
fn some_kbs(truth: &Truth<'_>, offset: usize) -> BTreeSet<String> {
    let kbs: Vec<String> = truth.top_level().iter().filter_map(|d| Truth::kb(d)).collect();
    let step = (kbs.len() / 20).max(3);
    kbs.into_iter().skip(offset).step_by(step).collect()
}

/// Update id → action of `UpdateInfo`s, through the revision ids a scan learnt.
fn by_update(infos: &[UpdateInfo], seen: &BTreeMap<i32, super::agent::Seen>) -> BTreeMap<Uuid, Action> {
    infos
        .iter()
        .map(|u| (seen[&u.id].update_id, u.action().expect("a Deployment")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baselines_decide_each_action_and_changes_reach_cached_clients() {
    let catalog = synthetic(70, 400);
    let truth = Truth::new(&catalog);
    let first_kbs = some_kbs(&truth, 0);
    let approved_bundle = truth.top_level().into_iter().any(|d| {
        d.kind == SynthKind::Bundle && !d.expired && Truth::kb(d).is_some_and(|kb| first_kbs.contains(&kb))
    });
    assert!(approved_bundle, "the first baseline approves a bundle");
    let (daemon, _data, file) = serve(&catalog, Some(&baseline_toml(&first_kbs, true))).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;

    let scan = client.scan().await;

    let first = truth.scope(approving(&first_kbs));
    assert_actions(&scan.actions(), &first);
    for action in [
        Action::Install,
        Action::PreDeploymentCheck,
        Action::Bundle,
        Action::Evaluate,
    ] {
        assert!(first.values().any(|a| *a == action), "the scope has {action:?}");
    }

    // Approve others too and withdraw the first half of the first: those change.
    let mut second_kbs = some_kbs(&truth, 1);
    second_kbs.extend(first_kbs.iter().skip(first_kbs.len() / 2).cloned());
    reload(&daemon, &file, &baseline_toml(&second_kbs, true)).await;
    let cached = scan.cached_parameters();
    let after = client.sync_updates(&cached).await.unwrap();

    let second = truth.scope(approving(&second_kbs));
    let expected_changes: BTreeMap<Uuid, Action> = second
        .iter()
        .filter(|(id, action)| first.get(id).is_some_and(|before| before != *action))
        .map(|(id, action)| (*id, *action))
        .collect();
    assert!(expected_changes.values().any(|a| *a == Action::Install));
    assert!(expected_changes
        .values()
        .any(|a| *a == Action::PreDeploymentCheck));
    assert_actions(&by_update(&after.changed_updates, &scan.seen), &expected_changes);
    assert!(after.new_updates.is_empty() && after.out_of_scope.is_empty());
    client.cookie = after.new_cookie.clone();

    // Stop sending unapproved updates: what leaves the scope comes back out of scope.
    reload(&daemon, &file, &baseline_toml(&second_kbs, false)).await;
    let last = client.sync_updates(&cached).await.unwrap();

    let third = truth.scope(approving_only(&second_kbs));
    let gone: BTreeSet<i32> = second
        .keys()
        .filter(|id| !third.contains_key(id))
        .map(|id| scan.revision_id(*id))
        .collect();
    assert!(!gone.is_empty());
    assert_eq!(last.out_of_scope.iter().copied().collect::<BTreeSet<_>>(), gone);
    assert_eq!(last.out_of_scope.len(), gone.len(), "each revision once");
    assert!(last.new_updates.is_empty() && last.changed_updates.is_empty());
    daemon.stop().await;
}

/// The `Security Updates` classification (its WSUS category id).
const SECURITY_UPDATES: &str = "0fa1201d-4330-4fa8-8ae9-b877473b6441";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_only_current_security_updates_are_sent_detect_only() {
    let catalog = synthetic(71, 400);
    let truth = Truth::new(&catalog);
    let kbs = some_kbs(&truth, 0);
    // The baseline file names no [evaluation] and no SupersededHandling: the defaults.
    let text = format!(
        "schema_version = 1\ndefault_baseline = \"explicit\"\n\n[[baseline]]\nid = \"explicit\"\n\
         Name = \"explicit\"\nOperatingSystem = \"WINDOWS\"\nApprovedPatches = [{}]\n",
        kbs.iter()
            .map(|kb| format!("\"{kb}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (daemon, _data, _file) = serve(&catalog, Some(&text)).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;

    let scan = client.scan().await;

    let security: Uuid = SECURITY_UPDATES.parse().unwrap();
    let superseded = truth.superseded();
    let expected = truth.scope(|doc| match doc.expired {
        true => None,
        // Explicit approval outranks supersedence (ExplicitApprovalOverridesSupersedence).
        false if Truth::kb(doc).is_some_and(|kb| kbs.contains(&kb)) => Some(Action::Install),
        false if superseded.contains(&doc.update_id) => None,
        false if doc.classifications.contains(&security) => Some(Action::PreDeploymentCheck),
        false => None,
    });
    assert_actions(&scan.actions(), &expected);
    let unsent_current = truth
        .top_level()
        .into_iter()
        .any(|d| !d.expired && !superseded.contains(&d.update_id) && !expected.contains_key(&d.update_id));
    assert!(unsent_current, "current non-security updates are left out");
    assert!(expected.values().any(|a| *a == Action::PreDeploymentCheck));
    let superseded_security = truth
        .top_level()
        .into_iter()
        .any(|d| !d.expired && superseded.contains(&d.update_id) && d.classifications.contains(&security));
    assert!(
        superseded_security,
        "superseded security updates exist and are left out"
    );
    daemon.stop().await;
}
