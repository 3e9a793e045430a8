//! `POST /v2/webhooks/{merchant_id}/{connector_account_id}`: where providers send notifications.
//! The body is taken raw: signatures cover its exact bytes.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::error::ApiError;
use super::extract::RawBody;
use crate::app::AppState;
use crate::connectors::WebhookRequest;
use crate::payments::webhooks::{self, Applied};

pub fn router() -> Router<AppState> {
    Router::new().route("/v2/webhooks/{merchant_id}/{account}", post(receive))
}

async fn receive(
    State(state): State<AppState>,
    Path((merchant_id, account)): Path<(String, String)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let headers: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string()))).collect();
    let applied =
        webhooks::receive(&state, &merchant_id, &account, &WebhookRequest { headers: &headers, body: &body }).await?;
    let outcome = match applied {
        Applied::Changed => "applied",
        Applied::AlreadyKnown => "already_known",
        Applied::NotTracked => "not_tracked",
    };
    Ok(Json(json!({ "received": true, "outcome": outcome })).into_response())
}
