//! The HTTP API: routes, authentication, request decoding, wire types and errors.

pub mod auth;
pub mod bounds;
mod customers;
pub mod deadline;
pub mod error;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod payment_method_sessions;
mod payment_methods;
pub mod payments;
pub mod redirection;
mod refunds;
mod sessions;
pub mod types;
mod webhooks;

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::app::AppState;
use crate::connectors::sandbox;
use error::ApiError;

/// The API, its requests bounded in time by `server.request_timeout_ms`; `work` is held by each
/// request's work until it ends, answered or not.
pub fn router(state: AppState, work: deadline::Work) -> Router {
    let limit = std::time::Duration::from_millis(state.config.server.request_timeout_ms);
    let deadline = axum::middleware::from_fn_with_state(deadline::Deadline { limit, work }, deadline::bounded);
    let metrics = match state.config.metrics.enabled && state.config.metrics.listen.is_empty() {
        true => crate::telemetry::metrics_router(),
        false => Router::new(),
    };
    Router::new()
        .route("/v2/payments", post(payments::create_and_confirm))
        .route("/v2/payments/create-intent", post(payments::create_intent))
        .route("/v2/payments/{id}", get(payments::retrieve))
        .route("/v2/payments/{id}/get-intent", get(payments::get_intent))
        .route("/v2/payments/{id}/confirm-intent", post(payments::confirm_intent))
        .route("/v2/payments/{id}/capture", post(payments::capture))
        .route("/v2/payments/{id}/cancel", post(payments::cancel))
        .route("/v2/refunds", post(refunds::create))
        .route("/v2/refunds/{id}", get(refunds::retrieve))
        .route("/health", get(health))
        .merge(customers::router())
        .merge(sessions::router())
        .merge(payment_methods::router())
        .merge(payment_method_sessions::router())
        .merge(redirection::router())
        .merge(webhooks::router())
        .merge(sandbox::page::router())
        .merge(metrics)
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .layer(deadline)
        // Inside the request's span, so every line logged for a request carries its id.
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(crate::telemetry::observe))
        .with_state(state)
}

/// Liveness, the database, and each connector account's circuit as routing sees it.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let connectors: serde_json::Map<String, serde_json::Value> = state
        .directory
        .profiles()
        .flat_map(|p| {
            p.accounts.iter().map(move |a| {
                let h = a.health.snapshot();
                let details = json!({
                    "circuit": h.circuit.as_str(),
                    "calls": h.calls,
                    "success_rate": h.success_rate,
                    "p95_ms": h.p95.as_secs_f64() * 1000.0,
                });
                (format!("{}/{}/{}", p.merchant_id, p.id, a.name), details)
            })
        })
        .collect();
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok", "database": "ok", "connectors": connectors }))),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            let body = json!({ "status": "unavailable", "database": "unreachable", "connectors": connectors });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute { method: method.to_string(), path: uri.path().to_string() }
}
