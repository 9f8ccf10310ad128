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
