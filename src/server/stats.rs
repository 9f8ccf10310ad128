//! `GET /api/v1/stats`: the payload cache as an admin asks about it — hit ratio by requests
//! and by bytes, bytes served from the cache and after a miss, upstream bytes and bytes
//! saved, disk use against `max_size`, evictions, the transfers in progress (file, KB,
//! progress, rate) — and the sync's last attempt and last success. The cache totals persist
//! across restarts.

use super::body::{json_response, Body};
use crate::app::App;
use crate::model::upper_hex;
use crate::stats::ContentCounters as C;
use crate::store::MetaKey;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// `/api/v1/stats`.
pub(super) fn stats(app: &App) -> Response<Body> {
    json_response(StatusCode::OK, json!({ "cache": cache(app), "sync": sync(app) }))
}

fn cache(app: &App) -> Value {
    let c = &app.counters;
    let totals = c.persisted();
    let served = totals.bytes_from_cache + totals.bytes_after_miss;
    json!({
        "requests": {
            "hits": totals.hits,
            "misses": totals.misses,
            "not_found": totals.not_found,
            "errors": totals.errors,
        },
        "hit_ratio_requests": ratio(totals.hits, totals.hits + totals.misses),
        "hit_ratio_bytes": ratio(totals.bytes_from_cache, served),
        "bytes_served": served,
        "bytes_from_cache": totals.bytes_from_cache,
        "bytes_after_miss": totals.bytes_after_miss,
        "upstream_bytes": totals.upstream_bytes,
        "bytes_saved": served.saturating_sub(totals.upstream_bytes),
        "disk_bytes": C::get(&c.cache_bytes),
        "max_size": app.config.content.max_size,
        "files": C::get(&c.cache_files),
        "evictions": totals.evictions,
        "digest_mismatches": totals.digest_mismatches,
        "transfers_started": totals.transfers_started,
        "transfers": transfers(app),
    })
}

/// `part / whole`, `null` when nothing was counted yet.
fn ratio(part: u64, whole: u64) -> Value {
    if whole == 0 {
        return Value::Null;
    }
    json!((part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

fn transfers(app: &App) -> Vec<Value> {
    let Some(cache) = app.content.get() else {
        return Vec::new();
    };
    let snapshot = app.snapshot();
    cache
        .transfers()
        .into_iter()
        .map(|transfer| {
            let record = snapshot.file(&transfer.meta.sha1).map(|(record, _)| record);
            json!({
                "sha1": upper_hex(&transfer.meta.sha1),
                "file": transfer.meta.name,
                "kb": record.and_then(|r| r.kb.clone()),
                "title": record.map(|r| r.title.clone()),
                "size": transfer.meta.size,
                "received": transfer.received,
                "seconds": (transfer.seconds * 10.0).round() / 10.0,
                "bytes_per_second": (transfer.received as f64 / transfer.seconds.max(0.001)) as u64,
                "clients": transfer.clients,
                "queued": transfer.queued,
            })
        })
        .collect()
}

/// `/api/v1/syncs`: the kept sync summaries, newest first.
pub(super) fn syncs(app: &App) -> Response<Body> {
    match app.store.syncs() {
        Ok(list) => {
            let runs: Vec<Value> = list
                .iter()
                .filter_map(|json| serde_json::from_str(json).ok())
                .collect();
            json_response(StatusCode::OK, json!({ "syncs": runs }))
        }
        Err(err) => {
            tracing::error!(error = %err, "reading the sync history from the catalog store failed");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": format!("catalog store: {err}")}),
            )
        }
    }
}

fn sync(app: &App) -> Value {
    let last_success = app.store.meta(MetaKey::LastSyncSuccess).ok().flatten();
    json!({
        "running": app.sync.is_running(),
        "last_attempt": app.sync.last(),
        "last_success": last_success,
    })
}
