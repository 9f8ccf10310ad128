//! The fleet endpoints of the admin API: `GET /api/v1/compliance[?group=G][&format=csv]`
//! (every machine's Patch Manager state and every group's) and
//! `GET /api/v1/computers/{client id or name}` (the record, its state and its patches).
//! `GET /api/v1/updates[?group=G][&all=1]` (the catalog, with a group's decisions). A store
//! that cannot be read is a 500 naming it, never an empty answer.

use super::body::{full, json_response, Body};
use crate::app::App;
use crate::approval::evaluation_epoch;
use crate::compliance;
use crate::listing;
use crate::store::StoreError;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::json;

/// `/api/v1/compliance`.
pub(super) fn report(app: &App, query: Option<&str>) -> Response<Body> {
    let group = query_value(query, "group");
    let snapshot = app.snapshot();
    let machines = match app.fleet.machines(&app.store, &snapshot, group.as_deref()) {
        Ok(machines) => machines,
        Err(err) => return store_failed(&err),
    };
    if query_value(query, "format").as_deref() == Some("csv") {
        let mut response = Response::new(full(compliance::csv(&machines)));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        return response;
    }
    json_response(
        StatusCode::OK,
        compliance::report(&machines, app.baselines().is_some()),
    )
}

/// `/api/v1/computers`: every computer's record (registration, requested groups, IP it
/// connects from, OS, contact times, events received) with its effective patch group,
/// baseline, compliance status and state counts (the fields of `/api/v1/compliance`).
pub(super) fn computers(app: &App) -> Response<Body> {
    let snapshot = app.snapshot();
    let machines = match app.fleet.machines(&app.store, &snapshot, None) {
        Ok(machines) => machines,
        Err(err) => return store_failed(&err),
    };
    let list: Vec<serde_json::Value> = machines
        .iter()
        .map(|machine| {
            let mut value = json!(machine.record);
            if let (Some(object), serde_json::Value::Object(state)) =
                (value.as_object_mut(), compliance::instance_state(machine))
            {
                object.extend(state);
            }
            value
        })
        .collect();
    json_response(StatusCode::OK, json!(list))
}

/// `/api/v1/updates[?group=G][&all=1]`: the served catalog as `wucache updates --json`
/// lists it; with `group`, that patch group's baseline decision at the current evaluation
/// epoch (400 without a baseline file). `format=records`: the served records themselves
/// (newest revision of everything, categories included), for `baseline preview`.
pub(super) fn updates(app: &App, query: Option<&str>) -> Response<Body> {
    let snapshot = app.snapshot();
    if query_value(query, "format").as_deref() == Some("records") {
        return json_response(StatusCode::OK, json!(snapshot.records));
    }
    let titles = match app.store.categories() {
        Ok(categories) => categories.into_iter().map(|(id, _, title)| (id, title)).collect(),
        Err(err) => return store_failed(&err),
    };
    let all = query_value(query, "all").is_some_and(|v| v == "1" || v == "true");
    let Some(group) = query_value(query, "group") else {
        return json_response(
            StatusCode::OK,
            json!(listing::views(&snapshot.records, &titles, all, None)),
        );
    };
    let Some(set) = app.baselines() else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "group needs a baseline file: set [baselines] file in the config"}),
        );
    };
    let epoch = evaluation_epoch(chrono::Utc::now(), set.evaluation.snapshot_interval_minutes);
    let baseline = set.for_target_group(Some(&group)).baseline;
    let views = listing::views(&snapshot.records, &titles, all, Some((baseline, epoch)));
    json_response(StatusCode::OK, json!(views))
}

/// `/api/v1/computers/{key}`.
pub(super) fn computer(app: &App, key: &str) -> Response<Body> {
    let snapshot = app.snapshot();
    let key = decode(key);
    match compliance::find(&app.store, &snapshot, &key) {
        Ok(Some(machine)) => json_response(
            StatusCode::OK,
            json!({
                "Computer": machine.record,
                "InstancePatchState": compliance::instance_state(&machine),
                "Patches": compliance::instance_patches(&machine, &snapshot)["Patches"],
                "LastScan": machine.status.last_scan,
            }),
        ),
        Ok(None) => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no computer with client id or name `{key}`")}),
        ),
        Err(err) => store_failed(&err),
    }
}

fn store_failed(err: &StoreError) -> Response<Body> {
    tracing::error!(error = %err, "reading the fleet from the catalog store failed");
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": format!("catalog store: {err}")}),
    )
}

/// The first value of `name` in a query string, percent-decoded.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A percent-encoded path segment.
fn decode(segment: &str) -> String {
    form_urlencoded::parse(format!("k={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}
