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

/// Items a list answers when the query does not say.
const DEFAULT_PAGE: usize = 1000;
/// Most items one page may hold.
const MAX_PAGE: usize = 10_000;

/// `offset` and `limit` of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Page {
    offset: usize,
    limit: usize,
}

impl Page {
    /// Reads `offset` (default 0) and `limit` (default `DEFAULT_PAGE`, at most `MAX_PAGE`);
    /// a value that is not a number is a 400 naming it.
    fn of(query: Option<&str>) -> Result<Page, Box<Response<Body>>> {
        let number = |name: &str, default: usize| match query_value(query, name) {
            None => Ok(default),
            Some(text) => text.trim().parse::<usize>().map_err(|_| {
                Box::new(json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("`{name}` must be a whole number, not `{text}`")}),
                ))
            }),
        };
        Ok(Page {
            offset: number("offset", 0)?,
            limit: number("limit", DEFAULT_PAGE)?.clamp(1, MAX_PAGE),
        })
    }

    fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = self.offset.min(total);
        start..start.saturating_add(self.limit).min(total)
    }

    /// The offset of the next page, when there is one.
    fn next(&self, total: usize) -> Option<usize> {
        let end = self.range(total).end;
        (end < total).then_some(end)
    }
}

/// A JSON array page with `X-Total-Count` and, when more follow, a `Link: <…>; rel="next"`.
fn paged_array(
    path: &str,
    query: Option<&str>,
    page: Page,
    total: usize,
    items: Vec<serde_json::Value>,
) -> Response<Body> {
    let mut response = json_response(StatusCode::OK, serde_json::Value::Array(items));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&total.to_string()) {
        headers.insert("x-total-count", value);
    }
    if let Some(next) = page.next(total) {
        let kept: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (key, value) in kept.iter().filter(|(k, _)| k != "offset" && k != "limit") {
            serializer.append_pair(key, value);
        }
        serializer.append_pair("offset", &next.to_string());
        serializer.append_pair("limit", &page.limit.to_string());
        let link = format!("<{path}?{}>; rel=\"next\"", serializer.finish());
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(hyper::header::LINK, value);
        }
    }
    response
}

/// `/api/v1/compliance`: every patch group's state, and one page of machines
/// (`InstancePatchStates`, `offset`/`limit`, with `TotalInstances` and `NextOffset`). The CSV
/// export holds every machine.
pub(super) fn report(app: &App, query: Option<&str>) -> Response<Body> {
    let page = match Page::of(query) {
        Ok(page) => page,
        Err(response) => return *response,
    };
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
    let mut report = compliance::report(&machines, app.baselines().is_some(), page.range(machines.len()));
    report["TotalInstances"] = json!(machines.len());
    report["NextOffset"] = json!(page.next(machines.len()));
    json_response(StatusCode::OK, report)
}

/// `/api/v1/computers`: every computer's record (registration, requested groups, IP it
/// connects from, OS, contact times, events received) with its effective patch group,
/// baseline, compliance status and state counts (the fields of `/api/v1/compliance`).
/// Paged: `offset`, `limit` (1,000 by default), `X-Total-Count`, `Link: rel="next"`.
pub(super) fn computers(app: &App, query: Option<&str>) -> Response<Body> {
    let page = match Page::of(query) {
        Ok(page) => page,
        Err(response) => return *response,
    };
    let snapshot = app.snapshot();
    let machines = match app.fleet.machines(&app.store, &snapshot, None) {
        Ok(machines) => machines,
        Err(err) => return store_failed(&err),
    };
    let mut list: Vec<serde_json::Value> = Vec::new();
    for machine in &machines[page.range(machines.len())] {
        let mut value = match compliance::with_inventory(&app.store, machine) {
            Ok(record) => json!(record),
            Err(err) => return store_failed(&err),
        };
        if let (Some(object), serde_json::Value::Object(state)) =
            (value.as_object_mut(), compliance::instance_state(machine))
        {
            object.extend(state);
        }
        list.push(value);
    }
    paged_array("/api/v1/computers", query, page, machines.len(), list)
}

/// `/api/v1/updates[?group=G][&all=1]`: the served catalog as `wucache updates --json`
/// lists it; with `group`, that patch group's baseline decision at the current evaluation
/// epoch (400 without a baseline file). `format=records`: the served records themselves
/// (newest revision of everything, categories included), for `baseline preview`. Paged as
/// `/api/v1/computers` is.
pub(super) fn updates(app: &App, query: Option<&str>) -> Response<Body> {
    let page = match Page::of(query) {
        Ok(page) => page,
        Err(response) => return *response,
    };
    let snapshot = app.snapshot();
    let page_of = |items: Vec<serde_json::Value>, total: usize| {
        paged_array("/api/v1/updates", query, page, total, items)
    };
    if query_value(query, "format").as_deref() == Some("records") {
        let records = &snapshot.records;
        let items = records[page.range(records.len())]
            .iter()
            .map(|r| json!(r))
            .collect();
        return page_of(items, records.len());
    }
    let titles = match app.store.categories() {
        Ok(categories) => categories.into_iter().map(|(id, _, title)| (id, title)).collect(),
        Err(err) => return store_failed(&err),
    };
    let all = query_value(query, "all").is_some_and(|v| v == "1" || v == "true");
    let decisions = match query_value(query, "group") {
        None => None,
        Some(group) => {
            let Some(set) = app.baselines() else {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "group needs a baseline file: set [baselines] file in the config"}),
                );
            };
            let epoch = evaluation_epoch(chrono::Utc::now(), set.evaluation.snapshot_interval_minutes);
            match set.named_group(&group) {
                Ok(baseline) => Some((baseline.clone(), epoch)),
                Err(message) => return json_response(StatusCode::NOT_FOUND, json!({ "error": message })),
            }
        }
    };
    let views = listing::views(
        &snapshot.records,
        &titles,
        all,
        decisions.as_ref().map(|(b, e)| (b, *e)),
    );
    let total = views.len();
    let items = views
        .into_iter()
        .skip(page.offset)
        .take(page.limit)
        .map(|v| json!(v))
        .collect();
    page_of(items, total)
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
pub(super) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
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
