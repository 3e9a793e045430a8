//! `Json`: an answer's body as JSON. Written straight into one buffer sized for a payment's
//! answer, rather than grown in small steps as it is written, and handed to the connection
//! without a copy.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What a payment with one attempt takes (about 1.9 kB): one allocation for most answers.
const FIRST_CAPACITY: usize = 2048;

/// An answer whose body is `T` as JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(FIRST_CAPACITY);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response(),
            // The wire types are plain data; a failure here is a fault of ours, not the client's.
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}
