//! A SyncUpdates answer carrying an approved bundle has the structure of pywsus's answer template
//! (`tests/fixtures/pywsus/`), which real Windows Update Agents accept: the same element paths
//! and nesting under `SyncUpdatesResult`, the same child order in `UpdateInfo` and `Deployment`,
//! and inside the Core fragments the template's elements, in order, with its attributes. Values
//! (ids, dates, cookies) are masked; compared with the test kit's reader only.
//!
//! One difference is allowed, and held against real traffic: the template's
//! `Deployment/FlagBitmask` (WSDL `minOccurs="0"`) is not sent, and the real Windows Server 2025
//! WSUS does not send it either (`tests/fixtures/replay/scan-000007.response.xml`).

use super::agent::WindowsClient;
use super::truth::{approving_only, assert_actions, Truth};
use super::{baseline_toml, serve};
use crate::harness::synthetic;
use std::collections::BTreeSet;
use wucache_testkit::synth::{SynthDoc, SynthKind};
use wucache_testkit::wua::core::fragment_tree;
use wucache_testkit::wua::reply::{read_reply, Reply};
use wucache_testkit::wua::shape::{child_names, embeds, paths, without_groups};
use wucache_testkit::wua::{Action, UpdateInfo};
use wucache_testkit::xml::Element;

const TEMPLATE: &str = include_str!("../../fixtures/pywsus/sync-updates.xml");
const REAL_WSUS: &str = include_str!("../../fixtures/replay/scan-000007.response.xml");

/// Elements of applicability rules, whose content is the update's own: not compared.
const RULES: [&str; 3] = ["IsInstalled", "IsInstallable", "IsSuperseded"];

/// `SyncUpdatesResponse/SyncUpdatesResult` of an answer.
fn sync_result(xml: &str) -> Element {
    let Reply::Answer(response) = read_reply(xml).expect("a SOAP 1.1 answer") else {
        panic!("a fault")
    };
    response
        .find(&["SyncUpdatesResult"])
        .expect("SyncUpdatesResult")
        .clone()
}

/// The `UpdateInfo` elements of a result.
fn update_infos(result: &Element) -> Vec<&Element> {
    result
        .find(&["NewUpdates"])
        .map(|n| n.children.iter().collect())
        .unwrap_or_default()
}

/// An `UpdateInfo`'s Core fragment as a tree (values unread: the template's are placeholders),
/// `AtLeastOne` groups looked through.
fn core_tree(update_info: &Element) -> Element {
    let xml = &update_info.find(&["Xml"]).expect("Xml").text;
    without_groups(&fragment_tree(xml).expect("a well-formed fragment"), "AtLeastOne")
}

fn read(update_info: &Element) -> UpdateInfo {
    wucache_testkit::wua::sync::read_update_info(update_info, "UpdateInfo").expect("readable UpdateInfo")
}

/// A bundle with members and a KB no other update has: approving that KB approves it alone.
fn lone_bundle<'a>(truth: &Truth<'a>) -> &'a SynthDoc {
    let top = truth.top_level();
    let kb_count = |kb: &str| top.iter().filter(|d| Truth::kb(d).as_deref() == Some(kb)).count();
    let found = top.iter().find(|d| {
        d.kind == SynthKind::Bundle
            && !d.expired
            && !d.bundled.is_empty()
            && Truth::kb(d).is_some_and(|kb| kb_count(&kb) == 1)
    });
    found.expect("the catalog has a bundle with its own KB")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_bundle_is_answered_in_the_shape_of_the_pywsus_template() {
    let catalog = synthetic(71, 120);
    let truth = Truth::new(&catalog);
    let bundle = lone_bundle(&truth);
    let kbs: BTreeSet<String> = Truth::kb(bundle).into_iter().collect();
    let (daemon, _data, _file) = serve(&catalog, Some(&baseline_toml(&kbs, false))).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;

    let scan = client.scan().await;

    assert_actions(&scan.actions(), &truth.scope(approving_only(&kbs)));
    let page = scan
        .raw_pages
        .iter()
        .map(|xml| sync_result(xml))
        .find(|result| {
            update_infos(result)
                .iter()
                .any(|u| read(u).action() == Some(Action::Install))
        })
        .expect("a page offers the bundle");
    let template = sync_result(TEMPLATE);

    // The same element paths under SyncUpdatesResult, FlagBitmask aside, and the same order.
    let flag = "SyncUpdatesResult/NewUpdates/UpdateInfo/Deployment/FlagBitmask";
    let mut expected_paths = paths(&template);
    assert!(expected_paths.remove(flag), "the template has {flag}");
    assert_eq!(paths(&page), expected_paths);
    assert_eq!(child_names(&page), child_names(&template));
    let template_infos = update_infos(&template);
    let template_deployment = template_infos[0].find(&["Deployment"]).expect("Deployment");
    let real_deployment = update_infos(&sync_result(REAL_WSUS))[0]
        .find(&["Deployment"])
        .cloned();
    let real_names = child_names(real_deployment.as_ref().expect("real Deployment")).join(",");
    let expected_names: Vec<&str> = child_names(template_deployment)
        .into_iter()
        .filter(|name| *name != "FlagBitmask")
        .collect();
    assert_eq!(
        expected_names.join(","),
        real_names,
        "the real WSUS omits only FlagBitmask"
    );
    for info in update_infos(&page) {
        assert_eq!(child_names(info), child_names(template_infos[0]));
        let deployment = info.find(&["Deployment"]).expect("Deployment");
        assert_eq!(child_names(deployment), expected_names);
    }

    // Core fragments: the bundle's holds the template's bundle core, each member's its member core.
    let of_action = |action| {
        update_infos(&page)
            .into_iter()
            .filter(|u| read(u).action() == Some(action))
            .collect::<Vec<_>>()
    };
    let (installs, members) = (of_action(Action::Install), of_action(Action::Bundle));
    assert_eq!((installs.len(), members.len()), (1, bundle.bundled.len()));
    let bundle_core = read(installs[0]).core().unwrap();
    assert_eq!(bundle_core.update_id, bundle.update_id);
    assert_eq!(
        embeds(&core_tree(template_infos[0]), &core_tree(installs[0]), &RULES),
        Ok(())
    );
    for member in members {
        assert!(bundle_core
            .bundled
            .iter()
            .any(|(id, _)| *id == read(member).core().unwrap().update_id));
        assert_eq!(
            embeds(&core_tree(template_infos[1]), &core_tree(member), &RULES),
            Ok(())
        );
    }
    daemon.stop().await;
}
