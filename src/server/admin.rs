//! The admin listener's routes: the dashboard at `/`, `/health`, `/ready`, `/metrics`, and the bearer-token
//! `/api/v1/...` endpoints (sync, prefetch, reload, updates, computers, compliance, explain).

use super::body::{full, json_response, text, Body};
use crate::app::App;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use serde_json::json;

/// Routes one admin request.
pub(super) fn route(app: &App, request: &Parts) -> Response<Body> {
    let path = request.uri.path().trim_end_matches('/');
    match (&request.method, path) {
        (&Method::GET, "") => dashboard(),
        (&Method::GET, "/health") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/ready") => ready(app),
        (&Method::GET, "/metrics") => metrics(app),
        (_, p) if p.starts_with("/api/v1/") => {
            if !authorized(app, request) {
                return json_response(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "missing or wrong bearer token (see [admin] token_file)"}),
                );
            }
            api_route(app, &request.method, p, request.uri.query())
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn api_route(app: &App, method: &Method, path: &str, query: Option<&str>) -> Response<Body> {
    match (method, path) {
        (&Method::GET, "/api/v1/compliance") => super::compliance::report(app, query),
        (&Method::GET, "/api/v1/stats") => super::stats::stats(app),
        (&Method::GET, "/api/v1/syncs") => super::stats::syncs(app),
        (&Method::GET, p) if p.starts_with("/api/v1/computers/") => {
            super::compliance::computer(app, &p["/api/v1/computers/".len()..])
        }
        (&Method::POST, "/api/v1/sync") => {
            if app.sync.request() {
                json_response(StatusCode::ACCEPTED, json!({"status": "started"}))
            } else {
                json_response(StatusCode::CONFLICT, json!({"status": "already running"}))
            }
        }
        (&Method::GET, "/api/v1/sync") => sync_status(app),
        (&Method::GET, "/api/v1/computers") => super::compliance::computers(app, query),
        (&Method::POST, "/api/v1/reload") => match app.reload() {
            Ok(()) => json_response(StatusCode::OK, json!({"status": "reloaded"})),
            Err(err) => {
                tracing::error!(error = %err, "reload failed; what did not load stays as it was");
                let status = match err {
                    crate::app::AppError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                json_response(
                    status,
                    json!({"error": err.to_string(), "status": "what did not load was kept as it was"}),
                )
            }
        },
        (&Method::POST, "/api/v1/prefetch") => {
            app.prefetch.request();
            json_response(StatusCode::ACCEPTED, json!({"status": "requested"}))
        }
        (&Method::GET, "/api/v1/prefetch") => {
            use std::sync::atomic::Ordering;
            json_response(
                StatusCode::OK,
                json!({
                    "running": app.prefetch.is_running(),
                    "progress": {
                        "done": app.prefetch.files_done.load(Ordering::Relaxed),
                        "total": app.prefetch.files_total.load(Ordering::Relaxed),
                    },
                    "last": app.prefetch.last(),
                }),
            )
        }
        (&Method::GET, "/api/v1/updates") => super::compliance::updates(app, query),
        (&Method::GET, "/api/v1/explain") => super::explain::explain(app, query),
        _ => json_response(StatusCode::NOT_FOUND, json!({"error": "no such endpoint"})),
    }
}

/// Prometheus text exposition of the counters kept so far (names from docs/interfaces.md).
fn metrics(app: &App) -> Response<Body> {
    let mut response = Response::new(full(super::metrics::render(app)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(super::metrics::CONTENT_TYPE),
    );
    response
}

/// 200 once the catalog is loaded and while the store takes writes; otherwise 503 with why.
fn ready(app: &App) -> Response<Body> {
    let counts = app.store.counts();
    let storage_error = app.storage_error();
    let ready = app.is_ready() && storage_error.is_none();
    let body = json!({
        "ready": ready,
        "revisions": counts.revisions,
        "updates": counts.updates,
        "storage_error": storage_error,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, body)
}

fn sync_status(app: &App) -> Response<Body> {
    use std::sync::atomic::Ordering;
    let body = json!({
        "running": app.sync.is_running(),
        "progress": {
            "done": app.sync.progress_done.load(Ordering::Relaxed),
            "total": app.sync.progress_total.load(Ordering::Relaxed),
        },
        "last": app.sync.last(),
        "storage_error": app.storage_error(),
    });
    json_response(StatusCode::OK, body)
}

/// Constant-time comparison of the bearer token.
fn authorized(app: &App, request: &Parts) -> bool {
    let Some(value) = request.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` is as good as `Bearer`.
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let expected = app.admin_token();
    let (a, b) = (token.trim().as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The dashboard: one static page (no build step) that asks for the token once, keeps it in
/// the browser session, and reads `/api/v1/stats`, `/api/v1/syncs` and `/api/v1/compliance`.
fn dashboard() -> Response<Body> {
    let mut response = Response::new(full(include_str!("dashboard.html")));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"),
    );
    response
}
