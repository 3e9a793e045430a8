//! `ApiJson`: the request-body extractor. It enforces the body limit and the JSON content type,
//! and turns every decoding failure into an error that names the field at fault
//! (`payment_method_data.card.card_number: card number fails the Luhn check`). `ApiQuery` does
//! the same for query strings.
//!
//! Requests that share groups of fields (create-intent, confirm-intent, create-and-confirm) are
//! decoded part by part from one parsed body (`part`), with `only_fields` refusing any top-level
//! field no part knows. serde's `flatten` would share the fields too, but it loses the path of
//! the field at fault.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserializer;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::app::AppState;

/// A request body type, decoded from the parsed JSON.
pub trait FromBody: Sized {
    fn from_body(body: &Value) -> Result<Self, ApiError>;
}

pub struct ApiJson<T>(pub T);

impl<T: FromBody> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.server.max_body_bytes;
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
        let bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| ApiError::BodyTooLarge(limit))?;
        // A body-less POST (capture everything, cancel without a reason) reads as `{}`.
        if bytes.iter().all(u8::is_ascii_whitespace) && !is_json {
            return T::from_body(&Value::Object(Default::default())).map(ApiJson);
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        T::from_body(&body).map(ApiJson)
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
            .map_err(|e| ApiError::InvalidRequest(format!("query: {}", e.body_text())))
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
pub fn part<T: DeserializeOwned>(body: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(super::strict::Strict(body)).map_err(|e| {
        let path = e.path().to_string();
        classify(&path, &e.into_inner().to_string())
    })
}

/// Refuses a body with a top-level field that none of `parts` declares.
pub fn only_fields(body: &Value, parts: &[&[&str]]) -> Result<(), ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::InvalidRequest("the request body must be a JSON object".into()));
    };
    match map.keys().find(|k| !parts.iter().any(|fields| fields.contains(&k.as_str()))) {
        Some(field) => Err(ApiError::InvalidRequest(format!("{field}: unknown field"))),
        None => Ok(()),
    }
}

pub(crate) const METADATA_KEYS_MAX: usize = 50;
pub(crate) const METADATA_KEY_MAX: usize = 40;
const METADATA_VALUE_MAX: usize = 500;

/// Metadata as Hyperswitch bounds it: at most 50 keys of 40 characters, values of 500.
pub fn check_metadata(metadata: Option<&Map<String, Value>>) -> Result<(), ApiError> {
    let Some(metadata) = metadata else { return Ok(()) };
    if metadata.len() > METADATA_KEYS_MAX {
        return Err(ApiError::InvalidRequest(format!("metadata: at most {METADATA_KEYS_MAX} keys")));
    }
    for (key, value) in metadata {
        if key.chars().count() > METADATA_KEY_MAX {
            return Err(ApiError::InvalidRequest(format!(
                "metadata.{key}: keys are at most {METADATA_KEY_MAX} characters"
            )));
        }
        let len = match value {
            Value::String(s) => s.chars().count(),
            other => other.to_string().chars().count(),
        };
        if len > METADATA_VALUE_MAX {
            return Err(ApiError::InvalidRequest(format!(
                "metadata.{key}: values are at most {METADATA_VALUE_MAX} characters"
            )));
        }
    }
    Ok(())
}

fn classify(path: &str, message: &str) -> ApiError {
    let at_root = path == "." || path.is_empty();
    let join = |field: &str| if at_root { field.to_string() } else { format!("{path}.{field}") };
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        return ApiError::MissingField(join(field));
    }
    if let Some(field) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
        // The path already ends at the unknown field.
        let at = if path.rsplit('.').next() == Some(field) { path.to_string() } else { join(field) };
        return ApiError::InvalidRequest(format!("{at}: unknown field"));
    }
    if at_root {
        ApiError::InvalidRequest(message.to_string())
    } else {
        ApiError::InvalidRequest(format!("{path}: {message}"))
    }
}

/// The field names a struct declares, as serde's derive publishes them to `deserialize_struct`.
pub fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Grab<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Grab<'_> {
        type Error = de::value::Error;

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("only the field names were wanted"))
        }

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
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
        let e = part::<Outer>(&serde_json::json!({"inner": {"number": 300}})).unwrap_err();
        assert!(e.to_string().starts_with("inner.number: "), "{e}");
        let e = part::<Outer>(&serde_json::json!({"inner": {}})).unwrap_err();
        assert_eq!(e.to_string(), "inner.number: missing required field");
        let e = only_fields(&serde_json::json!({"inner": 1, "extra": 2}), &[fields_of::<Outer>()]).unwrap_err();
        assert_eq!(e.to_string(), "extra: unknown field");
    }
}
