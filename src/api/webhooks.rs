//! `POST /v2/webhooks/{merchant_id}/{connector_account_id}`: where providers send notifications.
//! The body is taken raw: signatures cover its exact bytes.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::error::{ApiError, ErrorResponse};
use super::extract::RawBody;
use crate::app::AppState;
use crate::connectors::WebhookRequest;
use crate::payments::webhooks::{self, Applied};

#[derive(utoipa::OpenApi)]
#[openapi(paths(receive))]
pub(super) struct Doc;

/// What a notification did.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct WebhookResponse {
    received: bool,
    outcome: Outcome,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    /// The payment or refund changed.
    Applied,
    /// Nothing new.
    AlreadyKnown,
    /// About nothing switchyard keeps.
    NotTracked,
    /// It contradicts what is recorded and was not applied: raised for a person to settle.
    Discrepancy,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v2/webhooks/{merchant_id}/{account}", post(receive))
}

/// Webhooks - Receive
///
/// Where a connector account's provider sends notifications. The body is the provider's own,
/// taken as raw bytes: its signature covers them.
#[utoipa::path(
    post,
    path = "/v2/webhooks/{merchant_id}/{account}",
    tag = "Webhooks",
    operation_id = "Receive a Webhook",
    params(
        ("merchant_id" = String, Path, description = "The merchant"),
        ("account" = String, Path, description = "The connector account, by name"),
    ),
    request_body(content = Object, description = "The provider's notification, as it sends it", content_type = "application/json"),
    responses(
        (status = 200, description = "Taken", body = WebhookResponse),
        (status = 400, description = "`IR_20` the connector takes no notifications", body = ErrorResponse),
        (status = 401, description = "`WE_01` a notification whose signature does not verify", body = ErrorResponse),
        (status = 404, description = "`HE_02` no such merchant, account, payment or refund", body = ErrorResponse),
        (status = 422, description = "`IR_06` a notification the connector cannot read", body = ErrorResponse),
        (status = 503, description = "`CE_01` the payment provider could not be reached", body = ErrorResponse),
    )
)]
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
        Applied::Changed => Outcome::Applied,
        Applied::AlreadyKnown => Outcome::AlreadyKnown,
        Applied::NotTracked => Outcome::NotTracked,
        Applied::Discrepancy => Outcome::Discrepancy,
    };
    Ok(Json(WebhookResponse { received: true, outcome }).into_response())
}
