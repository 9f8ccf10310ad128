//! What anonymous clients can make the server keep: computer records from invented client
//! ids, oversized inventory fields, target group names and event fields.

use super::{assert_normal_client_served, attacker, metric, post_soap, post_soap_from, served_with};
use crate::client::WindowsClient;
use crate::harness::http;
use wucache_testkit::wua::{report, request};

const SIMPLE_AUTH: &str = "/SimpleAuthWebService/SimpleAuth.asmx";

fn unquoted(action: &str) -> &str {
    action.trim_matches('"')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_client_ids_from_one_address_are_slowed_to_the_configured_rate() {
    let (daemon, _data) = served_with(|config| config.reporting.new_computers_per_minute_per_ip = 20).await;
    for i in 0..200 {
        let built =
            request::get_authorization_cookie(&uuid::Uuid::new_v4().to_string(), None, &format!("pc{i}"));
        let (status, answer) = post_soap_from(
            attacker(),
            daemon.client_addr,
            SIMPLE_AUTH,
            unquoted(&built.action),
            &built.body,
        )
        .await;
        assert_eq!(status, 200, "flooding clients are still answered: {answer}");
    }
    let (_, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    let recorded = metric(&metrics, "wucache_computers ");
    assert!(
        recorded <= 21,
        "{recorded} computers recorded from one address in well under a minute"
    );
    assert!(metric(&metrics, "wucache_computers_rate_limited_total ") >= 179);
    // Another address is not affected.
    assert_normal_client_served(daemon.client_addr).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_fields_are_refused_or_kept_bounded() {
    let (daemon, _data) = served_with(|_| {}).await;
    // A target group name past 256 bytes is refused.
    let built = request::get_authorization_cookie(
        "4f6c1f0e-0000-4000-8000-000000000001",
        Some(&"g".repeat(300)),
        "pc1",
    );
    let (status, answer) = post_soap(
        daemon.client_addr,
        SIMPLE_AUTH,
        unquoted(&built.action),
        &built.body,
    )
    .await;
    assert_eq!(status, 500, "{answer}");
    assert!(answer.contains("targetGroupName"), "{answer}");

    // A 60 KB computer model and a 60 KB event field (under the 64 KiB text limit) are kept
    // to 1 KiB.
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let cookie = client.cookie.clone().unwrap();
    let mut machine = wucache_testkit::wua::Machine::windows11("big.corp.example");
    let model: &'static str = Box::leak("m".repeat(60_000).into_boxed_str());
    for field in machine
        .fields
        .iter_mut()
        .filter(|(name, _)| *name == "ComputerModel")
    {
        field.1 = model;
    }
    client
        .call(&request::register_computer(&cookie, &machine))
        .await
        .expect("RegisterComputer answers");
    let mut event = report::Event::new(&client.client_id, "2026-10-04T15:05:00Z", 147);
    event.misc_data = vec!["x".repeat(60_000)];
    assert_eq!(client.send_events(&[event]).await, Ok(true));
    let token = daemon.app.admin_token();
    let (status, computer) = http(
        "GET",
        daemon.admin_addr,
        &format!("/api/v1/computers/{}", client.client_id),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200, "{computer}");
    let value: serde_json::Value = serde_json::from_str(&computer).unwrap();
    let kept = value["Computer"]["computer"]["computer_model"].as_str().unwrap();
    assert_eq!(kept.len(), 1024, "the model is kept to 1 KiB");
    let events = daemon.app.store.client_events(&client.client_id).unwrap();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e.len() < 8 << 10),
        "stored events stay small"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_one_address_are_taken_at_the_configured_rate() {
    let (daemon, _data) = served_with(|config| config.reporting.events_per_minute_per_ip = 50).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    for batch in 0..3 {
        let events: Vec<report::Event> = (0..40)
            .map(|i| {
                let mut event = report::Event::new(&client.client_id, "2026-10-04T15:05:00Z", 147);
                event.misc_data = vec![format!("batch {batch} event {i}")];
                event
            })
            .collect();
        assert_eq!(
            client.send_events(&events).await,
            Ok(true),
            "answered as WSUS does"
        );
    }
    let kept = daemon.app.store.client_events(&client.client_id).unwrap().len();
    assert!(
        (40..=51).contains(&kept),
        "{kept} of 120 events kept at 50 a minute"
    );
    let (_, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    assert!(metric(&metrics, "wucache_report_events_dropped_total ") >= 69);
    daemon.stop().await;
}
