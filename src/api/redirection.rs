//! Where a payer's browser comes back after a provider's page (a bank, 3-D Secure): the daemon
//! finishes the payment with its connector (for most, by asking the provider how it went), then
//! sends the browser on to the merchant's `return_url` with the payment id and status.

use std::collections::BTreeMap;

use axum::extract::{Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use super::error::ApiError;
use crate::api::state::{AppState, Call};
use crate::domain::payment::PaymentIntent;
use crate::payments;

pub fn router() -> Router<AppState> {
    Router::new().route("/v2/payments/{id}/return", get(returned))
}

async fn returned(
    state: Call,
    Path(payment_id): Path<String>,
    params: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::InvalidRequest(format!("query: {}", e.body_text())))?;
    finish(&state, &payment_id, params).await
}

/// Finishes the authentication the payer just went through and sends them on. A payment that
/// settled meanwhile (a sync, a webhook) is not an error for the payer: they go on with its status.
pub async fn finish(state: &Call, payment_id: &str, params: BTreeMap<String, String>) -> Result<Response, ApiError> {
    let intent = match payments::complete_authentication(&state.core, payment_id, params).await {
        Ok(view) => view.intent,
        Err(crate::payments::Error::InvalidState(_)) => state
            .core
            .store
            .find_intent_by_id(payment_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("payment {payment_id}")))?,
        Err(e) => return Err(e.into()),
    };
    Ok(send_on(&intent))
}

fn send_on(intent: &PaymentIntent) -> Response {
    // A payer who came from a payment link goes back to it: it shows the outcome, and the way on.
    if intent.details.has_payment_link() {
        return Redirect::to(&super::payment_links::path(intent)).into_response();
    }
    match back_to_merchant(intent) {
        Some(url) => Redirect::to(&url).into_response(),
        None => Html(format!(
            "<!doctype html><html><body><h1>Payment finished</h1><p>Payment <code>{}</code> is now <b>{}</b>.</p></body></html>",
            escape(&intent.id),
            intent.status
        ))
        .into_response(),
    }
}

/// The merchant's `return_url`, told the payment's id and status. A return address stored before
/// addresses were checked may be no page to send a browser to: there is then none.
pub fn back_to_merchant(intent: &PaymentIntent) -> Option<String> {
    let url = intent.details.return_url.as_deref().filter(|url| crate::text::is_web_url(url))?;
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}id={}&status={}", intent.id, intent.status))
}

/// Ids are the daemon's own (`[A-Za-z0-9_]`), but what a page echoes is escaped anyway.
pub fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '&' => "&amp;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}
