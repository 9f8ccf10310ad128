//! `serve` in-process: listeners, readiness, the admin API, sync on request, and that an
//! unreachable upstream never stops it.

use crate::harness::{config, eventually, fake_with, http, synthetic};
use tempfile::tempdir;
use wucache::daemon::Daemon;

#[tokio::test]
async fn serves_health_and_ready_while_the_upstream_is_unreachable() {
    let data = tempdir().unwrap();
    let mut config = config("http://127.0.0.1:9", &data);
    config.sync.on_start = true;
    config.upstream.max_attempts = 1;
    let daemon = Daemon::start(config).await.unwrap();
    let admin = daemon.admin_addr;

    assert_eq!(http("GET", admin, "/health", None).await.0, 200);
    assert!(eventually(|| async { http("GET", admin, "/ready", None).await.0 == 200 }).await);
    // The failed start-up sync is recorded and the daemon keeps answering.
    let token = daemon.app.admin_token();
    assert!(
        eventually(|| async {
            let (_, body) = http("GET", admin, "/api/v1/sync", Some(&token)).await;
            body.contains("\"error\"") && body.contains("GetAuthConfig")
        })
        .await
    );
    let (_, metrics) = http("GET", admin, "/metrics", None).await;
    assert!(metrics.contains("\nwucache_sync_failures_total 1\n"), "{metrics}");
    for cache in ["fragments", "xpress_frames", "answers"] {
        for family in [
            "wucache_answer_cache_hits_total",
            "wucache_answer_cache_misses_total",
            "wucache_answer_cache_bytes",
        ] {
            let series = format!("\n{family}{{cache=\"{cache}\"}} ");
            assert!(metrics.contains(&series), "{series} in {metrics}");
        }
    }
    assert_eq!(
        http("GET", daemon.client_addr, "/nothing/here", None).await.0,
        404
    );
    assert_eq!(
        http("GET", daemon.client_addr, "/ClientWebService/client.asmx", None)
            .await
            .0,
        405
    );
    daemon.stop().await;
}

#[tokio::test]
async fn the_admin_api_needs_the_bearer_token() {
    let data = tempdir().unwrap();
    let daemon = Daemon::start(config("http://127.0.0.1:9", &data)).await.unwrap();
    let admin = daemon.admin_addr;

    let routes = [
        ("POST", "/api/v1/sync"),
        ("GET", "/api/v1/sync"),
        ("GET", "/api/v1/prefetch"),
        ("POST", "/api/v1/prefetch"),
        ("POST", "/api/v1/reload"),
        ("GET", "/api/v1/updates"),
        ("GET", "/api/v1/computers"),
        ("GET", "/api/v1/computers/somebody"),
        ("GET", "/api/v1/compliance"),
        ("GET", "/api/v1/compliance?format=csv"),
        ("GET", "/api/v1/stats"),
        ("GET", "/api/v1/syncs"),
        ("GET", "/api/v1/no-such-route"),
    ];
    for (method, path) in routes {
        assert_eq!(http(method, admin, path, None).await.0, 401, "{method} {path}");
        assert_eq!(
            http(method, admin, path, Some("wrong")).await.0,
            401,
            "{method} {path}"
        );
    }
    let on_disk = std::fs::read_to_string(data.path().join("admin.token")).unwrap();
    assert_eq!(on_disk.trim(), daemon.app.admin_token());
    daemon.stop().await;
}

#[tokio::test]
async fn a_rotated_token_takes_effect_on_reload_and_an_empty_file_keeps_the_old_one() {
    let data = tempdir().unwrap();
    let daemon = Daemon::start(config("http://127.0.0.1:9", &data)).await.unwrap();
    let (admin, old) = (daemon.admin_addr, daemon.app.admin_token());
    let file = data.path().join("admin.token");

    std::fs::write(&file, "rotated-token-0123456789\n").unwrap();
    assert_eq!(
        http("GET", admin, "/api/v1/sync", Some(&old)).await.0,
        200,
        "not yet reloaded"
    );
    assert_eq!(http("POST", admin, "/api/v1/reload", Some(&old)).await.0, 200);
    assert_eq!(http("GET", admin, "/api/v1/sync", Some(&old)).await.0, 401);
    assert_eq!(
        http("GET", admin, "/api/v1/sync", Some("rotated-token-0123456789"))
            .await
            .0,
        200
    );

    std::fs::write(&file, "  \n").unwrap();
    let (code, body) = http("POST", admin, "/api/v1/reload", Some("rotated-token-0123456789")).await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("admin.token"), "{body}");
    assert_eq!(
        http("GET", admin, "/api/v1/sync", Some("rotated-token-0123456789"))
            .await
            .0,
        200
    );
    daemon.stop().await;
}

#[tokio::test]
async fn post_sync_fills_the_catalog_and_ready_reports_it() {
    let catalog = synthetic(30, 80);
    let upstream = fake_with(&catalog).await;
    let data = tempdir().unwrap();
    let daemon = Daemon::start(config(&upstream.url(), &data)).await.unwrap();
    let (admin, token) = (daemon.admin_addr, daemon.app.admin_token());
    assert!(eventually(|| async { http("GET", admin, "/ready", None).await.0 == 200 }).await);

    assert_eq!(http("POST", admin, "/api/v1/sync", Some(&token)).await.0, 202);

    let expected = catalog.docs.len();
    assert!(
        eventually(|| async {
            let (_, body) = http("GET", admin, "/ready", None).await;
            body.contains(&format!("\"revisions\":{expected}"))
        })
        .await
    );
    assert!(eventually(|| async { !daemon.app.sync.is_running() && daemon.app.sync.last().is_some() }).await);
    assert_eq!(
        daemon.app.snapshot().records.len(),
        daemon.app.store.counts().updates
    );

    // The run is counted on /metrics, and the totals survive a restart.
    let metric = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    let (_, metrics) = http("GET", admin, "/metrics", None).await;
    assert_eq!(metric(&metrics, "wucache_sync_runs_total "), 1);
    assert_eq!(metric(&metrics, "wucache_sync_failures_total "), 0);
    assert_eq!(metric(&metrics, "wucache_sync_revisions_total "), expected as u64);
    let metadata_bytes = metric(&metrics, "wucache_upstream_bytes_total{kind=\"metadata\"} ");
    assert!(metadata_bytes > 0);

    // The run is in the history, over the API and through `wucache syncs`.
    let updates = catalog.docs.iter().filter(|d| !d.kind.is_config()).count() as u64;
    let (code, body) = http("GET", admin, "/api/v1/syncs", Some(&token)).await;
    assert_eq!(code, 200, "{body}");
    let history: serde_json::Value = serde_json::from_str(&body).unwrap();
    let run = &history["syncs"][0];
    let brought = ["new_updates", "revised_updates", "expired_updates"]
        .map(|k| run[k].as_u64().unwrap())
        .iter()
        .sum::<u64>();
    assert_eq!(brought, updates, "{run}");
    let cli_config = crate::harness::cli_config(data.path(), admin);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_wucache"))
            .args(["syncs", "--config"])
            .arg(&cli_config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.starts_with("STARTED"), "{table}");
    let line = table.lines().nth(1).expect("one run");
    assert!(line.ends_with("  ok"), "{table}");
    assert!(line.contains(&run["new_updates"].to_string()), "{table}");
    let config = daemon.app.config.clone();
    daemon.stop().await;

    let daemon = Daemon::start(config).await.unwrap();
    let (_, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    assert_eq!(
        metric(&metrics, "wucache_sync_runs_total "),
        1,
        "kept across the restart"
    );
    assert_eq!(
        metric(&metrics, "wucache_upstream_bytes_total{kind=\"metadata\"} "),
        metadata_bytes
    );
    daemon.stop().await;
}

#[tokio::test]
async fn stop_drains_and_releases_the_store() {
    let data = tempdir().unwrap();
    let first = Daemon::start(config("http://127.0.0.1:9", &data)).await.unwrap();
    first.stop().await;
    // The sled lock is released: a second daemon opens the same data dir.
    let second = Daemon::start(config("http://127.0.0.1:9", &data)).await.unwrap();
    second.stop().await;
}

#[tokio::test]
async fn a_ca_file_that_does_not_load_stops_the_start_naming_the_key() {
    let data = tempdir().unwrap();
    let not_pem = data.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    for path in [
        not_pem.display().to_string(),
        data.path().join("missing.pem").display().to_string(),
    ] {
        let mut config = config("http://127.0.0.1:9", &data);
        config.upstream.ca_file = path;
        let err = Daemon::start(config).await.err().expect("refused at start");
        assert!(err.to_string().contains("upstream.ca_file"), "{err}");
    }
}

#[tokio::test]
async fn a_content_dir_that_cannot_be_written_stops_the_start_naming_it() {
    let data = tempdir().unwrap();
    let blocked = data.path().join("not-a-folder");
    std::fs::write(&blocked, "a file where the payload cache goes\n").unwrap();
    let mut config = config("http://127.0.0.1:9", &data);
    config.content.dir = blocked.display().to_string();

    let err = Daemon::start(config).await.err().expect("refused at start");

    let message = err.to_string();
    assert!(message.contains(&blocked.display().to_string()), "{message}");
    assert!(message.contains("[content] dir"), "{message}");
}
