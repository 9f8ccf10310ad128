//! The reporting bounds hold against a flood: fresh client ids beyond `[reporting]
//! max_computers` are served but not recorded (their RegisterComputer is refused), a
//! computer's raw events stay within `max_events_per_computer` while its status still folds
//! every event in, and events past `event_retention` are removed.

use crate::client::WindowsClient;
use crate::harness::{config, eventually, http};
use std::time::Duration;
use tempfile::tempdir;
use uuid::Uuid;
use wucache::daemon::Daemon;
use wucache_testkit::wua::report::Event;
use wucache_testkit::wua::{answers, request, Machine};

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

/// GetConfig → GetAuthorizationCookie → GetCookie → RegisterComputer; the last answer.
async fn register(client: &mut WindowsClient) -> Result<(), String> {
    let config = client.get_config().await;
    let auth = client.authorization_cookie().await;
    let cookie = client.get_cookie(&auth, &config.last_change).await?;
    client.cookie = Some(cookie.clone());
    let machine = Machine::windows11(&format!("pc-{}.corp.example", &client.client_id[..8]));
    let answer = client
        .call(&request::register_computer(&cookie, &machine))
        .await?;
    answers::read_register_computer(&answer).map_err(|e| e.to_string())
}

async fn report(client: &WindowsClient, events: &[Event]) {
    assert!(client
        .send_events(events)
        .await
        .expect("ReportEventBatch answers"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_client_ids_and_events_stays_within_the_bounds() {
    let data = tempdir().unwrap();
    let mut config = config("http://127.0.0.1:9", &data);
    config.reporting.max_computers = 20;
    config.reporting.max_events_per_computer = 5;
    config.reporting.event_retention = Duration::ZERO;
    let daemon = Daemon::start(config).await.unwrap();
    let app = daemon.app.clone();
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { app.is_ready() }
        })
        .await
    );

    // 1,000 fresh client ids ask for an authorization cookie, 30 go on to register.
    for _ in 0..1000 {
        WindowsClient::new(daemon.client_addr)
            .authorization_cookie()
            .await;
    }
    let mut refused = 0;
    let mut recorded = Vec::new();
    for _ in 0..30 {
        let mut client = WindowsClient::new(daemon.client_addr);
        match register(&mut client).await {
            Ok(()) => recorded.push(client),
            Err(code) => {
                assert_eq!(code, "InternalServerError");
                refused += 1;
                let late = client;
                report(&late, &[Event::new(&late.client_id, "2026-10-04T15:05:00Z", 147)]).await;
            }
        }
    }
    assert_eq!(daemon.app.store.computer_count(), 20);
    assert_eq!(daemon.app.store.computers().unwrap().len(), 20);
    assert_eq!(
        refused, 30,
        "the 1,000 authorizations already filled the 20 places"
    );
    assert!(recorded.is_empty());

    // A recorded computer (one of the first 20) reports 12 events in 3 batches.
    let first = serde_json::from_str::<serde_json::Value>(&daemon.app.store.computers().unwrap()[0]).unwrap();
    let mut client = WindowsClient::new(daemon.client_addr);
    client.client_id = first["client_id"].as_str().unwrap().to_string();
    register(&mut client)
        .await
        .expect("a recorded computer registers");
    let installed = Uuid::new_v4();
    let mut status = Event::new(&client.client_id, "2026-10-04T15:00:00Z", 156);
    status.misc_data = vec![format!("V={}", installed.to_string().to_uppercase())];
    report(&client, &[status]).await;
    for batch in 0..3 {
        let events: Vec<Event> = (0..4)
            .map(|n| Event::new(&client.client_id, &format!("2026-10-04T15:1{batch}:0{n}Z"), 147))
            .collect();
        report(&client, &events).await;
    }
    let kept = daemon.app.store.client_events(&client.client_id).unwrap();
    assert_eq!(kept.len(), 5, "the newest five of thirteen");
    assert!(
        kept.iter().all(|json| json.contains("\"event_id\":147")),
        "the 156 was the oldest"
    );
    let status: serde_json::Value =
        serde_json::from_str(&daemon.app.store.status(&client.client_id).unwrap().unwrap()).unwrap();
    assert_eq!(
        status["installed"][0],
        installed.to_string(),
        "folded before it was dropped"
    );

    let token = daemon.app.admin_token();
    let (_, metrics) = http("GET", daemon.admin_addr, "/metrics", Some(&token)).await;
    assert_eq!(metric(&metrics, "wucache_computers"), 20);
    // Refusals are counted per contact: each late client was refused at authorization and
    // at RegisterComputer.
    assert_eq!(
        metric(&metrics, "wucache_computers_refused_total"),
        1000 - 20 + 2 * 30
    );
    assert_eq!(metric(&metrics, "wucache_report_events_dropped_total"), 30 + 8);

    // Retention zero: the clean-up removes every raw event, the status stays.
    assert_eq!(wucache::worker::expire_events(&daemon.app).unwrap(), 5);
    assert_eq!(daemon.app.store.event_count(), 0);
    assert!(daemon.app.store.status(&client.client_id).unwrap().is_some());
    daemon.stop().await;
}
