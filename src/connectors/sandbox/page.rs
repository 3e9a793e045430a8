//! The sandbox's authentication page: where a payment that needs 3-D Secure sends the customer.
//! It plays the part of an issuer's challenge page: the customer completes or fails it, the
//! sandbox connector settles the payment accordingly, and the browser goes on to the merchant's
//! `return_url`.

use std::collections::BTreeMap;

use axum::extract::{Form, Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::payments::flow;

pub fn router() -> Router<AppState> {
    Router::new().route("/sandbox/authenticate/{payment_id}", get(show).post(submit))
}

/// Payment ids are the daemon's own (`[A-Za-z0-9_]`), but the page escapes what it echoes anyway.
fn escape(s: &str) -> String {
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

async fn show(Path(payment_id): Path<String>) -> Html<String> {
    let id = escape(&payment_id);
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>switchyard sandbox: authenticate</title></head>\
         <body><h1>Sandbox authentication</h1><p>Payment <code>{id}</code> asks the customer to authenticate.</p>\
         <form method=\"post\"><button name=\"outcome\" value=\"success\">Complete authentication</button> \
         <button name=\"outcome\" value=\"failure\">Fail authentication</button></form></body></html>"
    ))
}

async fn submit(
    State(state): State<AppState>,
    Path(payment_id): Path<String>,
    Form(params): Form<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let view = flow::complete_authentication(&state, &payment_id, params).await?;
    let status = view.intent.status;
    Ok(match view.intent.details.return_url.as_deref() {
        Some(url) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{url}{sep}id={}&status={status}", view.intent.id)).into_response()
        }
        None => Html(format!(
            "<!doctype html><html><body><h1>Authentication finished</h1><p>Payment <code>{}</code> is now <b>{status}</b>.</p></body></html>",
            escape(&view.intent.id)
        ))
        .into_response(),
    })
}
