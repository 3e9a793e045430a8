//! Every error the API can answer, and the one place where each becomes Hyperswitch's wire
//! format: `{"error":{"type","message","code"}}` with its status code.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::payments;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("API key not provided or invalid API key used")]
    Unauthorized,
    #[error("Missing header key: `{0}`")]
    MissingHeader(&'static str),
    #[error("Invalid value provided: `{0}` in headers")]
    InvalidHeader(&'static str),
    #[error("{0}: missing required field")]
    MissingField(String),
    /// A value the request may not hold: out of range, inconsistent with another, …
    #[error("{0}")]
    InvalidRequest(String),
    /// A body or query that does not decode into the request: an unknown field, a wrong type.
    #[error("{0}")]
    Undecodable(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("the body nests arrays and objects more than {0} deep")]
    TooDeep(usize),
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("request body exceeds the limit of {0} bytes")]
    BodyTooLarge(usize),
    #[error("the request body did not arrive within {} ms", .0.as_millis())]
    BodyTimeout(std::time::Duration),
    /// No answer within the request timeout; the request's work goes on and its outcome is stored.
    #[error("no answer within {} ms; the request is still being processed: look up what it was to change before trying again", .0.as_millis())]
    Timeout(std::time::Duration),
    /// A client-side call without a usable client secret: none given, or one that has expired.
    #[error("{0}")]
    ClientSecretInvalid(String),
    /// A client secret that is not the one of the object named.
    #[error("the client_secret provided does not match the client_secret associated with the {0}")]
    ClientSecretMismatch(&'static str),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Duplicate(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    RefundExceedsPayment(String),
    #[error("{0}")]
    Precondition(String),
    #[error("{0}")]
    NotSupported(String),
    /// The provider refused an operation on a payment; nothing changed.
    #[error("{0}")]
    ConnectorRefused(String),
    /// A notification whose signature does not verify; nothing changed.
    #[error("{0}")]
    WebhookRejected(String),
    /// The provider could not be reached; nothing changed, the request may be retried.
    #[error("{0}")]
    ConnectorUnavailable(String),
    /// A store the daemon depends on did not answer; nothing changed, the request may be retried.
    #[error("{0}")]
    Unavailable(String),
    #[error("rate limit reached ({}); retry after {} s", .0.scope, retry_after_secs(.0))]
    RateLimited(crate::limits::Refused),
    #[error("Unrecognized request URL: {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("The HTTP method is not applicable for this API: {method} {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("internal error; the request may be retried")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The body of every error answer, as Hyperswitch's: `{"error":{"type","message","code"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiErrorBody)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// What went wrong, for people: names the field at fault when there is one.
    pub message: String,
    /// What went wrong, for programs (`IR_06`, `HE_02`, …).
    #[schema(examples("IR_06"))]
    pub code: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The request is at fault.
    InvalidRequest,
    /// The payment provider refused, or could not be reached.
    Connector,
    /// Too many requests for a key, a merchant, or a connector account.
    RateLimited,
    /// The daemon failed.
    Api,
}

impl ApiError {
    /// The status code, error type and error code this error answers with: Hyperswitch's for the
    /// same fault (its `ApiErrorResponse`), so a client written for it reads ours unchanged.
    pub fn parts(&self) -> (StatusCode, ErrorType, &'static str) {
        use ApiError::*;
        use ErrorType::{Api, Connector, InvalidRequest as Invalid, RateLimited as Limited};
        match self {
            Unauthorized => (StatusCode::UNAUTHORIZED, Invalid, "IR_01"),
            // Hyperswitch answers any body its JSON extractor refuses with 400 `IR_06`: one that
            // does not decode, misses a field, is too large or is not declared JSON.
            MissingField(_) | Undecodable(_) | MalformedJson(_) | TooDeep(_) | UnsupportedMediaType
            | BodyTooLarge(_) => (StatusCode::BAD_REQUEST, Invalid, "IR_06"),
            InvalidHeader(_) => (StatusCode::BAD_REQUEST, Invalid, "IR_07"),
            MissingHeader(_) | InvalidRequest(_) => (StatusCode::UNPROCESSABLE_ENTITY, Invalid, "IR_06"),
            BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, Invalid, "IR_06"),
            ClientSecretInvalid(_) => (StatusCode::BAD_REQUEST, Invalid, "IR_08"),
            ClientSecretMismatch(_) => (StatusCode::BAD_REQUEST, Invalid, "IR_09"),
            RefundExceedsPayment(_) => (StatusCode::BAD_REQUEST, Invalid, "IR_13"),
            Precondition(_) => (StatusCode::BAD_REQUEST, Invalid, "IR_16"),
            InvalidState(_) => (StatusCode::BAD_REQUEST, Invalid, "IR_14"),
            NotSupported(_) => (StatusCode::BAD_REQUEST, Invalid, "IR_20"),
            NotFound(_) => (StatusCode::NOT_FOUND, Invalid, "HE_02"),
            NoRoute { .. } => (StatusCode::NOT_FOUND, Invalid, "IR_02"),
            MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, Invalid, "IR_03"),
            Duplicate(_) => (StatusCode::BAD_REQUEST, Invalid, "HE_01"),
            WebhookRejected(_) => (StatusCode::UNAUTHORIZED, Invalid, "WE_01"),
            ConnectorRefused(_) => (StatusCode::BAD_REQUEST, Connector, "CE_00"),
            ConnectorUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Connector, "CE_01"),
            RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, Limited, "RL_01"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, Api, "HE_00"),
            // The daemon's fault, not the provider's (`CE_01` would send a client to another
            // provider): Hyperswitch's code for its own failures, with the status that says retry.
            Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Api, "HE_00"),
            // A gateway's answer, not 408: a client may repeat a request after 408 unchanged, and a
            // payment repeated blindly may charge twice.
            Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, Api, "HE_00"),
        }
    }
}

/// Whole seconds, rounded up: a client that waits this long finds a token.
fn retry_after_secs(refused: &crate::limits::Refused) -> u64 {
    refused.retry_after.as_secs() + u64::from(refused.retry_after.subsec_nanos() > 0)
}

/// The payment core's errors, as the API answers them.
impl From<payments::Error> for ApiError {
    fn from(e: payments::Error) -> Self {
        use payments::Error as Core;
        match e {
            Core::NotFound(what) => ApiError::NotFound(what),
            Core::InvalidRequest(m) => ApiError::InvalidRequest(m),
            Core::Duplicate(m) => ApiError::Duplicate(m),
            Core::ProfileNotNamed => ApiError::MissingHeader("X-Profile-Id"),
            Core::RefundExceedsPayment(m) => ApiError::RefundExceedsPayment(m),
            Core::Precondition(m) => ApiError::Precondition(m),
            Core::InvalidState(m) => ApiError::InvalidState(m),
            Core::NotSupported(m) => ApiError::NotSupported(m),
            Core::ClientSecretInvalid(m) => ApiError::ClientSecretInvalid(m),
            Core::ClientSecretMismatch(what) => ApiError::ClientSecretMismatch(what),
            Core::ConnectorRefused(m) => ApiError::ConnectorRefused(m),
            Core::ConnectorUnavailable(m) => ApiError::ConnectorUnavailable(m),
            Core::WebhookRejected(m) => ApiError::WebhookRejected(m),
            Core::RateLimited(refused) => ApiError::RateLimited(refused),
            e @ Core::CodesUnavailable => ApiError::Unavailable(e.to_string()),
            Core::Internal(source) => ApiError::Internal(source),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(what) => ApiError::Duplicate(what),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, code) = self.parts();
        if let ApiError::Internal(source) = &self {
            tracing::error!(error = %source, "internal error");
        }
        let body = ErrorResponse { error: ErrorBody { kind, message: self.to_string(), code } };
        let mut response = (status, super::answer::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("api-key"));
        }
        if let ApiError::RateLimited(refused) = &self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(refused)));
        }
        response
    }
}
