//! `/api/v1/stats` counts exactly the bytes clients downloaded as hits and misses, what came
//! from upstream and what was saved, and the totals survive a restart.

use super::{content_path, get, largest_approved, serve, upstream_with_payloads};
use crate::harness::http;
use serde_json::Value;
use wucache::daemon::Daemon;
use wucache_testkit::synth::hex;

async fn stats(daemon: &Daemon) -> Value {
    let token = daemon.app.admin_token();
    let (status, body) = http("GET", daemon.admin_addr, "/api/v1/stats", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_the_bytes_downloaded_and_survive_a_restart() {
    let (upstream, catalog) = upstream_with_payloads(71, 40, 200_000).await;
    let (daemon, data) = serve(&upstream, |_| {}).await;
    let file = largest_approved(&catalog);
    let path = content_path(&file);

    assert_eq!(get(daemon.client_addr, &path, None).await.status, 200); // miss, whole file
    assert_eq!(
        get(daemon.client_addr, &path, Some("bytes=0-999")).await.status,
        206
    ); // hit
    assert_eq!(
        get(daemon.client_addr, "/Content/00/00.cab", None).await.status,
        404
    );
    assert_eq!(upstream.stats().file(&hex(&file.sha1)).transfers, 1);

    let size = file.size;
    let check = |cache: &Value, hits: u64, from_cache: u64| {
        assert_eq!(cache["requests"]["hits"], hits, "{cache}");
        assert_eq!(cache["requests"]["misses"], 1, "{cache}");
        assert_eq!(cache["requests"]["not_found"], 1, "{cache}");
        assert_eq!(cache["bytes_after_miss"], size, "{cache}");
        assert_eq!(cache["bytes_from_cache"], from_cache, "{cache}");
        assert_eq!(cache["upstream_bytes"], size, "{cache}");
        assert_eq!(cache["bytes_saved"], from_cache, "served minus fetched: {cache}");
        let expected = from_cache as f64 / (from_cache + size) as f64;
        assert!(
            (cache["hit_ratio_bytes"].as_f64().unwrap() - expected).abs() < 1e-4,
            "{cache}"
        );
    };
    let first = stats(&daemon).await;
    check(&first["cache"], 1, 1000);
    assert_eq!(first["cache"]["hit_ratio_requests"], 0.5);
    assert!(first["cache"]["files"].as_u64().unwrap() >= 1);
    assert!(first["cache"]["transfers"].as_array().unwrap().is_empty());
    let config = daemon.app.config.clone();
    daemon.stop().await;

    let daemon = Daemon::start(config).await.unwrap();
    let restarted = stats(&daemon).await;
    check(&restarted["cache"], 1, 1000);
    let app = daemon.app.clone();
    assert!(
        crate::harness::eventually(|| {
            let app = app.clone();
            async move { app.content.get().is_some() }
        })
        .await
    );
    assert_eq!(get(daemon.client_addr, &path, None).await.status, 200); // hit after restart
    check(&stats(&daemon).await["cache"], 2, 1000 + size);

    // `wucache stats` reads the same figures.
    let cli_config = crate::harness::cli_config(data.path(), daemon.admin_addr);
    let run = |json: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wucache"));
        command.arg("stats").arg("--config").arg(&cli_config);
        if json {
            command.arg("--json");
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let (table, json) = tokio::task::block_in_place(|| (run(false), run(true)));
    assert!(
        table.contains("2 hits, 1 misses (66.7 % hit ratio), 1 not found"),
        "{table}"
    );
    assert!(table.contains("transfers   none in progress"), "{table}");
    let json: Value = serde_json::from_str(&json).unwrap();
    check(&json["cache"], 2, 1000 + size);
    daemon.stop().await;
    drop(data);
}
