//! `wucache stats` and `wucache syncs`: the payload cache's figures, the sync's state and the
//! sync history from the running daemon's `/api/v1/stats` and `/api/v1/syncs`; readable
//! lines on a terminal, `--json` for scripts.

use super::api;
use crate::config::Config;
use serde_json::Value;
use std::process::ExitCode;

/// `wucache stats [--json]`.
pub(super) async fn stats(config: &Config, url: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let base = api::base_url(config, url);
    let body = api::get(config, &base, "/api/v1/stats").await?;
    if json {
        outln!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let stats: Value = serde_json::from_str(&body)?;
    print_cache(&stats["cache"]);
    print_sync(&stats["sync"]);
    Ok(ExitCode::SUCCESS)
}

fn print_cache(cache: &Value) {
    let requests = &cache["requests"];
    outln!(
        "requests    {} hits, {} misses ({} hit ratio), {} not found, {} errors",
        number(&requests["hits"]),
        number(&requests["misses"]),
        percent(&cache["hit_ratio_requests"]),
        number(&requests["not_found"]),
        number(&requests["errors"]),
    );
    outln!(
        "served      {} ({} from the cache, {} after a miss; {} of the bytes were hits)",
        bytes(&cache["bytes_served"]),
        bytes(&cache["bytes_from_cache"]),
        bytes(&cache["bytes_after_miss"]),
        percent(&cache["hit_ratio_bytes"]),
    );
    outln!(
        "upstream    {} fetched, {} saved",
        bytes(&cache["upstream_bytes"]),
        bytes(&cache["bytes_saved"]),
    );
    let limit = match cache["max_size"].as_u64() {
        Some(0) | None => "no limit".to_string(),
        Some(_) => bytes(&cache["max_size"]),
    };
    outln!(
        "disk        {} of {limit}, {} files, {} evictions, {} digest mismatches",
        bytes(&cache["disk_bytes"]),
        number(&cache["files"]),
        number(&cache["evictions"]),
        number(&cache["digest_mismatches"]),
    );
    let transfers = cache["transfers"].as_array().cloned().unwrap_or_default();
    if transfers.is_empty() {
        outln!("transfers   none in progress");
    }
    for transfer in transfers {
        if transfer["queued"] == true {
            outln!(
                "queued      {} {} {}: waiting for a transfer slot",
                text(&transfer["kb"]),
                text(&transfer["file"]),
                text(&transfer["sha1"]),
            );
            continue;
        }
        outln!(
            "transfer    {} {} {}: {} of {} at {}/s",
            text(&transfer["kb"]),
            text(&transfer["file"]),
            text(&transfer["sha1"]),
            bytes(&transfer["received"]),
            bytes(&transfer["size"]),
            bytes(&transfer["bytes_per_second"]),
        );
    }
}

fn print_sync(sync: &Value) {
    let last = &sync["last_attempt"];
    outln!(
        "sync        {}; last success {}",
        if sync["running"] == true {
            "running"
        } else {
            "idle"
        },
        text(&sync["last_success"]),
    );
    if last.is_object() {
        let outcome = match &last["error"] {
            Value::Null => "succeeded".to_string(),
            error => format!("failed: {}", text(error)),
        };
        outln!(
            "last sync   {} {outcome}: {} new revisions, {} documents, {} s",
            text(&last["started"]),
            number(&last["new_revisions"]),
            number(&last["documents_fetched"]),
            number(&last["seconds"]),
        );
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(value: &Value) -> String {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 => format!("{n:.0}"),
        Some(n) => format!("{n:.1}"),
        None => "-".to_string(),
    }
}

fn percent(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".to_string(), |ratio| format!("{:.1} %", ratio * 100.0))
}

/// Bytes in binary units (`1.5 GiB`).
fn bytes(value: &Value) -> String {
    let Some(n) = value.as_u64() else {
        return "-".to_string();
    };
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = n as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// `wucache syncs [--json]`: the kept sync runs, newest first.
pub(super) async fn syncs(config: &Config, url: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let base = api::base_url(config, url);
    let body = api::get(config, &base, "/api/v1/syncs").await?;
    if json {
        outln!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let history: Value = serde_json::from_str(&body)?;
    outln!(
        "{:<32}  {:>8}  {:>5}  {:>7}  {:>7}  {:>9}  OUTCOME",
        "STARTED",
        "SECONDS",
        "NEW",
        "REVISED",
        "EXPIRED",
        "DOCUMENTS"
    );
    for run in history["syncs"].as_array().into_iter().flatten() {
        let outcome = match &run["error"] {
            Value::Null => "ok".to_string(),
            error => text(error),
        };
        outln!(
            "{:<32}  {:>8}  {:>5}  {:>7}  {:>7}  {:>9}  {outcome}",
            text(&run["started"]),
            number(&run["seconds"]),
            number(&run["new_updates"]),
            number(&run["revised_updates"]),
            number(&run["expired_updates"]),
            number(&run["documents_fetched"]),
        );
    }
    Ok(ExitCode::SUCCESS)
}
