//! `GET /api/v1/explain?computer=NAME&kb=KB`: why a machine is or is not offered an update
//! (`crate::explain`), as JSON. An unknown computer or KB is a 404 saying which; a missing
//! parameter a 400; a store that cannot be read a 500 naming it.

use super::body::{json_response, Body};
use super::compliance::query_value;
use crate::app::App;
use crate::explain::{explain as explanation, ExplainError};
use hyper::{Response, StatusCode};
use serde_json::json;

/// `/api/v1/explain`.
pub(super) fn explain(app: &App, query: Option<&str>) -> Response<Body> {
    let (Some(computer), Some(kb)) = (query_value(query, "computer"), query_value(query, "kb")) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "explain needs `computer` (client id or DNS name) and `kb`"}),
        );
    };
    let snapshot = app.snapshot();
    match explanation(&app.store, &snapshot, &computer, &kb) {
        Ok(answer) => json_response(StatusCode::OK, json!(answer)),
        Err(err) => {
            if let ExplainError::Store(store) = &err {
                tracing::error!(error = %store, "reading a computer from the catalog store failed");
            }
            json_response(status(&err), json!({"error": err.to_string()}))
        }
    }
}

/// The HTTP status of each failure.
fn status(err: &ExplainError) -> StatusCode {
    match err {
        ExplainError::UnknownComputer(_) | ExplainError::UnknownKb(_) => StatusCode::NOT_FOUND,
        ExplainError::EmptyKb => StatusCode::BAD_REQUEST,
        ExplainError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
