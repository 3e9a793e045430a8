//! `POST /v2/webhooks/{merchant_id}[/{profile_id}]/{connector_account_id}`: where providers send
//! notifications. The body is taken raw: signatures cover its exact bytes.

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::answer::Json;

use super::error::{ApiError, ErrorResponse};
use super::extract::RawBody;
use crate::api::state::{AppState, Call};
use crate::connectors::WebhookRequest;
use crate::payments::webhooks::{self, Addressee, Applied};

#[derive(utoipa::OpenApi)]
#[openapi(paths(receive, receive_for_profile), components(schemas(WebhookResponse, Outcome)))]
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

/// What either address answers.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only documents the answers.
enum Answers {
    #[response(status = 200, description = "Taken")]
    Taken(WebhookResponse),
    #[response(status = 400, description = "`IR_20` the connector takes no notifications")]
    NotSupported(ErrorResponse),
    #[response(status = 401, description = "`WE_01` a notification whose signature does not verify")]
    Forged(ErrorResponse),
    #[response(status = 404, description = "`HE_02` no such merchant, profile, account, payment or refund")]
    NotFound(ErrorResponse),
    #[response(
        status = 422,
        description = "`IR_06` a notification the connector cannot read, or, without the profile, an account name \
                       several profiles use"
    )]
    Unreadable(ErrorResponse),
    #[response(status = 503, description = "`CE_01` the payment provider could not be reached")]
    Unreachable(ErrorResponse),
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/webhooks/{merchant_id}/{account}", post(receive))
        .route("/v2/webhooks/{merchant_id}/{profile_id}/{account}", post(receive_for_profile))
}

/// Webhooks - Receive
///
/// Where a connector account's provider sends notifications. The body is the provider's own,
/// taken as raw bytes: its signature covers them. When several profiles of the merchant have an
/// account of this name, this address is ambiguous and refused: use the one with the profile.
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
    responses(Answers)
)]
async fn receive(
    state: Call,
    Path((merchant_id, account)): Path<(String, String)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let to = Addressee { merchant_id: &merchant_id, profile_id: None, account: &account };
    apply(&state, &to, &headers, &body).await
}

/// Webhooks - Receive for a Profile
///
/// Where the provider of a connector account of one profile sends notifications (Hyperswitch
/// v2's form of the address). The notification touches that profile's payments and refunds
/// only.
#[utoipa::path(
    post,
    path = "/v2/webhooks/{merchant_id}/{profile_id}/{account}",
    tag = "Webhooks",
    operation_id = "Receive a Webhook for a Profile",
    params(
        ("merchant_id" = String, Path, description = "The merchant"),
        ("profile_id" = String, Path, description = "The profile the account belongs to"),
        ("account" = String, Path, description = "The connector account, by name"),
    ),
    request_body(content = Object, description = "The provider's notification, as it sends it", content_type = "application/json"),
    responses(Answers)
)]
async fn receive_for_profile(
    state: Call,
    Path((merchant_id, profile_id, account)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let to = Addressee { merchant_id: &merchant_id, profile_id: Some(&profile_id), account: &account };
    apply(&state, &to, &headers, &body).await
}

async fn apply(state: &Call, to: &Addressee<'_>, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let headers: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string()))).collect();
    let applied = webhooks::receive(&state.core, to, &WebhookRequest { headers: &headers, body }).await?;
    let outcome = match applied {
        Applied::Changed => Outcome::Applied,
        Applied::AlreadyKnown => Outcome::AlreadyKnown,
        Applied::NotTracked => Outcome::NotTracked,
        Applied::Discrepancy => Outcome::Discrepancy,
    };
    Ok(Json(WebhookResponse { received: true, outcome }).into_response())
}
