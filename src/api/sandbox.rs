//! The sandbox's authentication page: where a payment that needs 3-D Secure sends the customer.
//! It plays the part of an issuer's challenge page: the customer completes or fails it, the
//! sandbox connector settles the payment accordingly, and the browser goes on to the merchant's
//! `return_url` (`api::redirection`).

use std::collections::BTreeMap;

use axum::extract::{Form, Path};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::Router;

use crate::api::error::ApiError;
use crate::api::redirection::{self, escape};
use crate::api::state::{AppState, Call};

pub fn router() -> Router<AppState> {
    Router::new().route("/sandbox/authenticate/{payment_id}", get(show).post(submit))
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
    state: Call,
    Path(payment_id): Path<String>,
    Form(params): Form<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    redirection::finish(&state, &payment_id, params).await
}
