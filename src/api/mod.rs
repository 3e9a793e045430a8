//! The HTTP API: routes, authentication, request decoding, wire types and errors.

mod answer;
pub mod auth;
pub mod bounds;
mod customers;
pub mod deadline;
mod edge;
pub mod error;
mod events;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod list_query;
pub mod openapi;
mod payment_links;
mod payment_method_sessions;
mod payment_methods;
pub mod payments;
pub mod redirection;
mod refunds;
mod sandbox;
mod sessions;
pub mod state;
mod strict;
pub mod types;
mod webhooks;

use axum::http::{Method, Request, StatusCode, Uri};
use axum::routing::{get, post, put};
use axum::Router;
use hyper::body::Incoming;
use tower::util::MapRequest;

use answer::Json;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use crate::api::state::{AppState, Call};
use crate::connectors::health::Circuit;
use error::ApiError;

/// The API as served: requests for the `/v1/…` aliases read as their `/v2/…` twins, then routed.
pub type Api = MapRequest<Router, fn(Request<Incoming>) -> Request<Incoming>>;

/// The API, its requests bounded in time by `server.request_timeout_ms`; `work` is held by each
/// request's work until it ends, answered or not.
pub fn router(state: AppState, work: deadline::Work) -> Api {
    let limit = std::time::Duration::from_millis(state.config.server.request_timeout_ms);
    let deadline = deadline::Deadline { limit, work };
    let metrics = match state.config.metrics.enabled && state.config.metrics.listen.is_empty() {
        true => crate::telemetry::metrics_router(state.core.live.clone()),
        false => Router::new(),
    };
    let app = Router::new()
        .route("/v2/payments", post(payments::create_and_confirm))
        .route("/v2/payments/create-intent", post(payments::create_intent))
        .route("/v2/payments/list", get(payments::list))
        .route("/v2/payments/{id}", get(payments::retrieve))
        .route("/v2/payments/{id}/get-intent", get(payments::get_intent))
        .route("/v2/payments/{id}/update-intent", put(payments::update_intent))
        .route("/v2/payments/{id}/confirm-intent", post(payments::confirm_intent))
        .route("/v2/payments/{id}/payment-methods", get(payments::payment_methods_for_payment))
        .route("/v2/payments/{payment_id}/create-external-sdk-tokens", post(payments::external_sdk_tokens))
        .route("/v2/payments/{id}/capture", post(payments::capture))
        .route("/v2/payments/{id}/cancel", post(payments::cancel))
        .route("/v2/refunds", post(refunds::create))
        .route("/v2/refunds/list", post(refunds::list))
        .route("/v2/refunds/{id}", get(refunds::retrieve))
        .route("/v2/refunds/{id}/update-metadata", put(refunds::update_metadata))
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/openapi.json", get(openapi::serve))
        .merge(customers::router())
        .merge(events::router())
        .merge(sessions::router())
        .merge(payment_methods::router())
        .merge(payment_method_sessions::router())
        .merge(payment_links::router())
        .merge(redirection::router())
        .merge(webhooks::router())
        .merge(sandbox::router())
        .merge(metrics)
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            tower::ServiceBuilder::new()
                .layer(edge::Arrive(state.clone()))
                .layer(tower_http::trace::TraceLayer::new_for_http())
                .layer(cors())
                .layer(edge::Bound(deadline)),
        )
        .with_state(state);
    MapRequest::new(app, v1_as_v2)
}

/// The `/v1/…` paths Hyperswitch's v2 document lists beside these `/v2/…` ones: the same calls,
/// answered by the same handlers.
pub(crate) const V1_ALIASES: &[&str] = &[
    "/v2/customers",
    "/v2/customers/list",
    "/v2/customers/{id}",
    "/v2/customers/{id}/saved-payment-methods",
    "/v2/payment-methods",
    "/v2/payment-methods/{id}",
    "/v2/payment-methods/{id}/update-saved-payment-method",
    "/v2/payment-methods/token/{payment_method_temporary_token}/details",
    "/v2/payment-method-sessions",
    "/v2/payment-method-sessions/{id}",
    "/v2/payment-method-sessions/{id}/confirm",
    "/v2/payment-method-sessions/{id}/list-payment-methods",
    "/v2/payment-method-sessions/{id}/update-saved-payment-method",
];

/// A request for one of the `/v1/…` aliases, as a request for its `/v2/…` twin: read before
/// routing, so the twin's route, extractors and errors serve it.
fn v1_as_v2<B>(mut req: Request<B>) -> Request<B> {
    let Some(rest) = req.uri().path().strip_prefix("/v1/") else { return req };
    let fits = |alias: &&str| {
        let template = alias.trim_start_matches("/v2/").split('/');
        template.clone().count() == rest.split('/').count()
            && template.zip(rest.split('/')).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
    };
    if !V1_ALIASES.iter().any(fits) {
        return req;
    }
    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    if let Ok(uri) = format!("/v2/{rest}{query}").parse() {
        *req.uri_mut() = uri;
    }
    req
}

/// Browsers may call the API from any page: Hyperswitch's client SDKs run on the merchant's site
/// and call with the publishable key and a client secret. Every key travels in a header a page
/// must set itself, never in a cookie, so letting any origin call grants a page nothing it does
/// not already hold.
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::header::{HeaderName, AUTHORIZATION, CONTENT_TYPE};
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("api-key"),
            HeaderName::from_static("x-profile-id"),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
struct HealthResponse {
    /// `ok`, or `unavailable` when the database is unreachable (with status 503).
    #[schema(examples("ok"))]
    status: &'static str,
    /// `ok` or `unreachable`.
    #[schema(examples("ok"))]
    database: &'static str,
    /// The configuration version serving (a hash of the configuration, scripts and plugins).
    #[schema(examples("3f9a0c1d2e4b5a69"))]
    config_version: String,
    /// Each connector account, by `merchant/profile/account`.
    connectors: BTreeMap<String, ConnectorHealth>,
}

/// `GET /health/ready`.
#[derive(Debug, Serialize, ToSchema)]
struct ReadyResponse {
    /// `ready`, or `not_ready` (with status 503).
    #[schema(examples("ready"))]
    status: &'static str,
    #[schema(examples("3f9a0c1d2e4b5a69"))]
    config_version: String,
    /// Why it is not ready: no merchant configured, the database unreachable, an account whose
    /// plugin or a profile whose routing script did not load. Empty when ready.
    problems: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct ConnectorHealth {
    circuit: Circuit,
    /// Calls in the current window.
    calls: usize,
    success_rate: f64,
    /// The 95th percentile of call times, in milliseconds.
    p95_ms: f64,
}

/// Health
///
/// Liveness, the database, and each connector account's circuit as routing sees it.
#[utoipa::path(
    get,
    path = "/health",
    tag = "Operations",
    operation_id = "Health",
    responses(
        (status = 200, description = "Up, with the database reachable", body = HealthResponse),
        (status = 503, description = "The database is unreachable", body = HealthResponse),
    )
)]
async fn health(state: Call) -> (StatusCode, Json<HealthResponse>) {
    let live = &state.core.snapshot;
    let connectors: BTreeMap<String, ConnectorHealth> = live
        .directory
        .profiles()
        .flat_map(|p| {
            p.accounts.iter().map(move |a| {
                let h = a.health.snapshot();
                let details = ConnectorHealth {
                    circuit: h.circuit,
                    calls: h.calls,
                    success_rate: h.success_rate,
                    p95_ms: h.p95_ms(),
                };
                (format!("{}/{}/{}", p.merchant_id, p.id, a.name), details)
            })
        })
        .collect();
    let config_version = live.version.to_string();
    match state.core.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(HealthResponse { status: "ok", database: "ok", config_version, connectors })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            let body = HealthResponse { status: "unavailable", database: "unreachable", config_version, connectors };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}

/// Readiness
///
/// Whether this daemon should be sent traffic: the database reachable, at least one merchant
/// configured, and every account's plugin and every profile's routing script loaded. `/health`
/// stays the liveness check.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "Operations",
    operation_id = "Readiness",
    responses(
        (status = 200, description = "Ready to serve everything configured", body = ReadyResponse),
        (status = 503, description = "Not ready, with the problems", body = ReadyResponse),
    )
)]
async fn ready(state: Call) -> (StatusCode, Json<ReadyResponse>) {
    let live = &state.core.snapshot;
    let mut problems = Vec::new();
    if let Err(e) = state.core.store.ping().await {
        tracing::warn!(error = %e, "readiness check: database unreachable");
        problems.push("the database is unreachable".to_string());
    }
    if live.directory.is_empty() {
        problems.push("no merchant has a profile configured".to_string());
    }
    problems.extend(live.unready.iter().map(ToString::to_string));
    let config_version = live.version.to_string();
    match problems.is_empty() {
        true => (StatusCode::OK, Json(ReadyResponse { status: "ready", config_version, problems })),
        false => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(ReadyResponse { status: "not_ready", config_version, problems }))
        }
    }
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute { method: method.to_string(), path: uri.path().to_string() }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), path: uri.path().to_string() }
}
