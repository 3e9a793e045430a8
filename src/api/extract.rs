//! `ApiJson`: the request-body extractor. It enforces the body's size and the time a client may
//! take to send it, the JSON content type and nesting depth, and turns every decoding failure
//! into an error that names the field at fault
//! (`payment_method_data.card.card_number: card number fails the Luhn check`). `ApiQuery` does
//! the same for query strings; `RawBody` takes a body as bytes under the same limits.
//! `refuse_nul_in_uri` keeps a NUL character out of paths and queries, as `strict::parse` keeps
//! it out of bodies.
//!
//! Requests that share groups of fields (create-intent, confirm-intent, create-and-confirm) are
//! decoded part by part from one parsed body (`part`), with `only_fields` refusing any top-level
//! field no part knows. serde's `flatten` would share the fields too, but it loses the path of
//! the field at fault.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::Uri;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserializer;

use super::bounds::nests_deeper_than;
use super::error::ApiError;
pub use super::strict::Tree;
use super::strict::{Fault, Strict};
use crate::api::state::AppState;
use crate::config::ServerConfig;

/// A request body type, decoded from the parsed JSON.
pub trait FromBody: Sized {
    fn from_body(body: &Tree) -> Result<Self, ApiError>;
}

pub struct ApiJson<T>(pub T);

impl<T: FromBody> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
        let bytes = read_body(req.into_body(), &state.config.server).await?;
        // A body-less POST (capture everything, cancel without a reason) reads as `{}`.
        if bytes.iter().all(u8::is_ascii_whitespace) && !is_json {
            return T::from_body(&Tree::empty()).map(ApiJson);
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        decode(&bytes, state.config.server.max_json_depth).map(ApiJson)
    }
}

/// A JSON body decoded as `T`, its nesting depth checked before it is parsed: what `ApiJson`
/// does once it has the bytes (public for the fuzz targets).
pub fn decode<T: FromBody>(bytes: &[u8], max_depth: usize) -> Result<T, ApiError> {
    if nests_deeper_than(bytes, max_depth) {
        return Err(ApiError::TooDeep(max_depth));
    }
    let body = super::strict::parse(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    T::from_body(&body)
}

/// A whole body, within the size limit and the time a client may take to send it: a client that
/// dribbles its body is answered 408 rather than holding a request open.
async fn read_body(body: Body, server: &ServerConfig) -> Result<Bytes, ApiError> {
    let (limit, within) = (server.max_body_bytes, Duration::from_millis(server.body_timeout_ms));
    match tokio::time::timeout(within, axum::body::to_bytes(body, limit)).await {
        Ok(read) => read.map_err(|_| ApiError::BodyTooLarge(limit)),
        Err(_) => Err(ApiError::BodyTimeout(within)),
    }
}

/// A body as bytes, for the callers whose signatures cover its exact bytes (webhooks).
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, ApiError> {
        read_body(req.into_body(), &state.config.server).await.map(RawBody)
    }
}

/// A query string decoded into `T`; a malformed one is the caller's mistake (`IR_06`).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::Undecodable(format!("query: {}", e.body_text())))
    }
}

/// Refuses a request whose path or query holds a NUL character (`%00`) before any extractor
/// decodes it: no id or filter means one, and PostgreSQL compares no NUL in text. A raw URI
/// cannot hold the byte itself, so its escape is all there is to look for.
pub fn refuse_nul_in_uri(uri: &Uri) -> Result<(), ApiError> {
    match uri.path_and_query().is_some_and(|p| p.as_str().contains("%00")) {
        true => Err(ApiError::Undecodable(
            "the path or query holds a NUL character (%00), which no id or filter may hold".into(),
        )),
        false => Ok(()),
    }
}

/// The `limit` of a list: 20 unless asked, at most 100.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    const DEFAULT: u32 = 20;
    const MAX: u32 = 100;
    match limit.unwrap_or(DEFAULT) {
        limit @ 1..=MAX => Ok(limit),
        limit => Err(ApiError::InvalidRequest(format!("limit: must be 1 to {MAX}, got {limit}"))),
    }
}

/// Decodes the fields of `T` from `body`, naming the field at fault when one is wrong.
pub fn part<T: DeserializeOwned>(body: &Tree) -> Result<T, ApiError> {
    let fault = Fault::default();
    T::deserialize(Strict::new(body, &fault)).map_err(|e| classify(fault.path(), &e.to_string()))
}

/// Refuses a body with a top-level field that none of `parts` declares.
pub fn only_fields(body: &Tree, parts: &[&[&str]]) -> Result<(), ApiError> {
    let Tree::Object(entries) = body else {
        return Err(ApiError::Undecodable("the request body must be a JSON object".into()));
    };
    match entries.iter().map(|(k, _)| k).find(|k| !parts.iter().any(|fields| fields.contains(&k.as_ref()))) {
        Some(field) => Err(ApiError::Undecodable(format!("{field}: unknown field"))),
        None => Ok(()),
    }
}

/// How serde's own errors begin, as opposed to a field type's checks of its value.
const SHAPE_ERRORS: &[&str] = &["invalid type:", "unknown variant", "invalid length"];

fn classify(path: &str, message: &str) -> ApiError {
    let at_root = path == "." || path.is_empty();
    let join = |field: &str| if at_root { field.to_string() } else { format!("{path}.{field}") };
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        return ApiError::MissingField(join(field));
    }
    if let Some(field) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
        // The path already ends at the unknown field.
        let at = if path.rsplit('.').next() == Some(field) { path.to_string() } else { join(field) };
        return ApiError::Undecodable(format!("{at}: unknown field"));
    }
    // What serde itself refuses is the shape of the request (Hyperswitch's decoder answers it
    // 400); what a field's own type refuses is a value it may not hold (422, as Hyperswitch's
    // checks after decoding answer).
    let shape = SHAPE_ERRORS.iter().any(|p| message.starts_with(p));
    let message = if at_root { message.to_string() } else { format!("{path}: {message}") };
    match shape {
        true => ApiError::Undecodable(message),
        false => ApiError::InvalidRequest(message),
    }
}

/// The field names a struct declares, as serde's derive publishes them to `deserialize_struct`.
pub fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Grab<'a>(&'a mut &'static [&'static str]);

    /// How the grab ends, names found or not: an error with nothing to say, so nothing to build.
    #[derive(Debug)]
    struct Done;

    impl std::fmt::Display for Done {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("only the field names were wanted")
        }
    }

    impl std::error::Error for Done {}

    impl de::Error for Done {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Done
        }
    }

    impl<'de> Deserializer<'de> for Grab<'_> {
        type Error = Done;

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Done> {
            *self.0 = fields;
            Err(Done)
        }

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Done> {
            Err(Done)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Grab(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        number: u8,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        #[serde(rename = "label")]
        _label: Option<String>,
    }

    #[test]
    fn field_names_come_from_the_derive() {
        assert_eq!(fields_of::<Outer>(), ["inner", "label"]);
    }

    #[test]
    fn errors_name_the_field() {
        let tree = |text: &'static str| crate::api::strict::parse(text.as_bytes()).unwrap();
        let e = part::<Outer>(&tree(r#"{"inner": {"number": 300}}"#)).unwrap_err();
        assert!(e.to_string().starts_with("inner.number: "), "{e}");
        let e = part::<Outer>(&tree(r#"{"inner": {}}"#)).unwrap_err();
        assert_eq!(e.to_string(), "inner.number: missing required field");
        let e = only_fields(&tree(r#"{"inner": 1, "extra": 2}"#), &[fields_of::<Outer>()]).unwrap_err();
        assert_eq!(e.to_string(), "extra: unknown field");
    }
}
