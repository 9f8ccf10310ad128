//! The dashboard as a browser shows it: headless Chromium (Debian's `chromium`, installed by
//! `.ci/test-deps`) loads the admin listener's `/` with the token in the fragment, runs the
//! page's script against the API, and the numbers it renders equal the API's for a seeded
//! fleet.

use crate::client::WindowsClient;
use crate::harness::{fake_with, http, serve_with_baselines, synthetic};
use serde_json::Value;
use std::process::Command;
use wucache_testkit::wua::report::Event;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The page after its script ran, as Chromium serialises the DOM.
fn render(url: &str) -> String {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run .ci/test-deps (Debian's chromium) before the tests"
    );
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The cell texts of the table row that carries `marker` (e.g. `data-group="Ring1"`).
fn cells(dom: &str, marker: &str) -> Vec<String> {
    let start = dom
        .find(marker)
        .unwrap_or_else(|| panic!("no row {marker} in\n{dom}"));
    let row = &dom[start..start + dom[start..].find("</tr>").unwrap()];
    row.split("<td")
        .skip(1)
        .map(|cell| {
            let text = &cell[cell.find('>').unwrap() + 1..];
            text[..text.find("</td>").unwrap_or(text.len())].to_string()
        })
        .collect()
}

/// The text of the element carrying `data-metric="name"`.
fn metric(dom: &str, name: &str) -> String {
    let marker = format!("data-metric=\"{name}\">");
    let start = dom.find(&marker).unwrap_or_else(|| panic!("no {marker}")) + marker.len();
    dom[start..start + dom[start..].find('<').unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_apis_numbers() {
    let catalog = synthetic(95, 120);
    let upstream = fake_with(&catalog).await;
    let data = tempfile::tempdir().unwrap();
    let examples = include_str!("../../config/baselines/baselines.toml");
    let daemon = serve_with_baselines(&upstream.url(), &data, examples).await;

    // A seeded fleet: machines in Prod and Pilot and the default group, most reporting
    // every top-level update needed, one never reporting.
    let needed: Vec<String> = catalog
        .docs
        .iter()
        .filter(|d| !d.kind.is_config())
        .map(|d| d.update_id.to_string().to_uppercase())
        .collect();
    for (n, group) in [Some("Prod"), Some("Prod"), Some("Pilot"), None, None]
        .into_iter()
        .enumerate()
    {
        let mut client = WindowsClient::new(daemon.client_addr);
        client.target_group = group.map(str::to_string);
        client.handshake().await;
        if n < 4 {
            let mut status = Event::new(&client.client_id, "2026-10-04T15:05:00Z", 156);
            status.misc_data = vec![format!("U={}", needed.join(";"))];
            assert!(client.send_events(&[status]).await.unwrap());
        }
    }

    let token = daemon.app.admin_token();
    let (_, body) = http("GET", daemon.admin_addr, "/api/v1/compliance", Some(&token)).await;
    let report: Value = serde_json::from_str(&body).unwrap();
    let (_, body) = http("GET", daemon.admin_addr, "/api/v1/stats", Some(&token)).await;
    let stats: Value = serde_json::from_str(&body).unwrap();
    let url = format!("http://{}/#token={token}", daemon.admin_addr);
    let dom = tokio::task::spawn_blocking(move || render(&url)).await.unwrap();

    assert!(
        dom.contains("data-loaded=\"true\""),
        "the script read the API:\n{dom}"
    );
    assert_eq!(metric(&dom, "files"), stats["cache"]["files"].to_string());
    assert_eq!(metric(&dom, "sync_state"), "idle");
    for group in report["PatchGroupStates"].as_array().unwrap() {
        let name = group["PatchGroup"].as_str().unwrap();
        let shown = cells(&dom, &format!("data-group=\"{name}\""));
        let expected = [
            "PatchGroup",
            "BaselineId",
            "Instances",
            "Compliant",
            "NonCompliant",
            "NotReported",
        ]
        .map(|k| {
            group[k]
                .as_str()
                .map_or_else(|| group[k].to_string(), str::to_string)
        });
        assert_eq!(shown[..6], expected, "group {name}");
    }
    let failing: Vec<&Value> = report["InstancePatchStates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["ComplianceStatus"] == "NON_COMPLIANT")
        .collect();
    assert!(!failing.is_empty(), "the seeded fleet has non-compliant machines");
    for machine in failing {
        let shown = cells(
            &dom,
            &format!("data-instance=\"{}\"", machine["InstanceId"].as_str().unwrap()),
        );
        assert_eq!(shown[0], machine["ComputerName"].as_str().unwrap());
        assert_eq!(shown[2], machine["MissingCount"].to_string());
        assert_eq!(shown[3], machine["FailedCount"].to_string());
    }
    daemon.stop().await;
}
