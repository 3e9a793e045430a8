//! The daemon's own OpenAPI document, generated from the code with utoipa and served at
//! `GET /openapi.json`.
//!
//! Each router module documents its handlers (`#[utoipa::path]`) and lists them in a `Doc` of
//! its own; `document` merges those. Wire types derive `ToSchema`; the types whose decoders
//! check more than their Rust type says (amounts, currencies, identifiers, card fields) give
//! their schemas by hand beside those decoders, with the same bounds.
//!
//! Requests that are decoded part by part (`extract::part`) are documented as one flat object
//! (`flat_object`) whose properties are the parts' own, with `additionalProperties: false`:
//! `extract::only_fields` refuses any other top-level field.
//!
//! Every operation's error answers come from the extractors it uses and what its handler
//! calls (`ErrorResponses`): the body is `ErrorResponse`, the status codes are those
//! `ApiError::parts` gives.

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{OpenApi, ToSchema};

use super::error::ErrorResponse;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "switchyard",
        description = "A payment-routing daemon with Hyperswitch's v2 payment API.\n\n\
            The merchant's server calls with its secret key in the `api-key` header and names one \
            of its profiles in `X-Profile-Id`. Client-side code calls with the merchant's \
            publishable key: in the `api-key` header for session tokens, and as \
            `Authorization: publishable-key=…,client-secret=…` for a payment-method session. \
            Every error answers with `{\"error\": {\"type\", \"message\", \"code\"}}`.",
        license(name = "Apache-2.0")
    ),
    paths(super::health, super::ready, serve),
    components(schemas(ErrorResponse)),
    tags(
        (name = "Payments", description = "Create, confirm, capture and cancel payments"),
        (name = "Refunds", description = "Refund captured payments"),
        (name = "Customers", description = "Create and manage customers"),
        (name = "Payment Methods", description = "Save customers' cards"),
        (name = "Payment Method Session", description = "Save a card from client-side code"),
        (name = "Webhooks", description = "Notifications from payment providers"),
        (name = "Events", description = "Webhooks sent to the merchant, and every try at sending them"),
        (name = "Operations", description = "Health and this document"),
    )
)]
struct ApiDoc;

/// The document, as served.
pub fn document() -> Value {
    let mut doc = ApiDoc::openapi();
    for part in [
        super::payments::Doc::openapi(),
        super::payment_links::Doc::openapi(),
        super::refunds::Doc::openapi(),
        super::customers::Doc::openapi(),
        super::events::Doc::openapi(),
        super::sessions::Doc::openapi(),
        super::payment_methods::Doc::openapi(),
        super::payment_method_sessions::Doc::openapi(),
        super::webhooks::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, key, description) in SECURITY {
        let scheme = SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(*key, *description)));
        components.add_security_scheme(*name, scheme);
    }
    let mut doc = serde_json::to_value(doc).expect("the document serializes");
    for twin in super::V1_ALIASES {
        let mut item = doc["paths"][twin].clone();
        assert!(item.is_object(), "{twin} is documented");
        for operation in item.as_object_mut().into_iter().flat_map(|ops| ops.values_mut()) {
            let id = operation["operationId"].as_str().unwrap_or_default();
            operation["operationId"] = json!(format!("{id} (v1)"));
        }
        doc["paths"][twin.replacen("/v2/", "/v1/", 1)] = item;
    }
    for (schema, field, alias) in ALIASES {
        let schema = &mut doc["components"]["schemas"][schema];
        let documented = schema["properties"][field].clone();
        assert!(!documented.is_null(), "{field} is documented");
        schema["properties"][alias] = documented;
        // One name or the other: serde refuses both as a duplicate field.
        let one_of_them = json!({ "not": { "required": [field, alias] } });
        match schema["allOf"].as_array_mut() {
            Some(all) => all.push(one_of_them),
            None => schema["allOf"] = json!([one_of_them]),
        }
    }
    // A schema that is one part of an `allOf` (serde's `flatten`, an internally tagged enum's
    // variant with its tag beside it) cannot refuse the other parts' properties: its
    // `additionalProperties: false`, from `deny_unknown_fields`, would refuse every answer.
    for name in composed(&doc) {
        if let Some(schema) = doc["components"]["schemas"][&name].as_object_mut() {
            schema.remove("additionalProperties");
        }
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for operations in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in operations.values_mut().filter_map(Value::as_object_mut) {
                add_errors(operation);
            }
        }
    }
    doc
}

/// The schemas an `allOf` refers to.
fn composed(doc: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![doc];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                for part in map.get("allOf").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(name) = part["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
                        names.push(name.to_string());
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "Operations",
    operation_id = "OpenAPI document",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn serve() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| document().to_string());
    ([(CONTENT_TYPE, "application/json")], body.as_str()).into_response()
}

/// The security schemes: name, header, description.
const SECURITY: &[(&str, &str, &str)] = &[
    (
        "api_key",
        "api-key",
        "The merchant's secret key (`sy_sk_…`), for calls from the merchant's server. Operations \
         that take it also need `X-Profile-Id`, one of the merchant's profiles.",
    ),
    (
        "publishable_key",
        "api-key",
        "The merchant's publishable key (`sy_pk_…`), for calls from client-side code; the request \
         names the object and its client secret.",
    ),
    (
        "publishable_key__client_secret",
        "Authorization",
        "Format: `publishable-key=<publishable key>,client-secret=<client secret>`, for calls from \
         client-side code about one object, as Hyperswitch's SDK makes them.",
    ),
];

/// Other names decoders accept for a field (serde's `alias`): schema, field, alias.
const ALIASES: &[(&str, &str, &str)] = &[
    ("AmountDetails", "external_tax_calculation", "skip_external_tax_calculation"),
    ("AmountDetails", "surcharge_calculation", "skip_surcharge_calculation"),
];

/// Every error the API answers with, by status code: the codes, and what each means. Each
/// `ApiError` is here (see the test below).
pub(crate) const ERRORS: &[(u16, &str, &str)] = &[
    (400, "IR_06", "the body or query does not decode: not `application/json`, larger or nested deeper than the configured limits, not valid JSON, a required field missing, an unknown field or a value of the wrong type; `message` names it"),
    (400, "IR_07", "a header whose value is not text"),
    (400, "IR_08", "no usable client secret (none given, or expired)"),
    (400, "IR_09", "the client secret of another object"),
    (400, "IR_13", "a refund for more than the payment has left to refund"),
    (400, "IR_14", "the object's state does not allow this"),
    (400, "IR_16", "a card that has expired, on a profile that refuses them"),
    (400, "IR_20", "not supported"),
    (400, "HE_01", "a duplicate of an existing object"),
    (400, "CE_00", "the payment provider refused"),
    (401, "IR_01", "no API key, or not a valid one, or a profile the key's merchant does not have"),
    (401, "WE_01", "a notification whose signature does not verify"),
    (404, "HE_02", "no such object"),
    (404, "IR_02", "no such route"),
    (405, "IR_03", "a method the route does not take"),
    (408, "IR_06", "the body did not arrive within the configured time"),
    (422, "IR_06", "a value that is not allowed, or `X-Profile-Id` missing where it is needed; `message` names it"),
    (429, "RL_01", "a rate limit: of the API key, the merchant, or the connector accounts' quotas"),
    (503, "CE_01", "the payment provider could not be reached, or every account's circuit is open"),
    (503, "HE_00", "the security code store (Redis, with `[shared]`) did not answer: a volatile method's code could be neither read nor kept, and nothing was charged or saved"),
    (504, "HE_00", "no answer within the request timeout; the work goes on, so read the object before repeating"),
];

/// Adds the error answers an operation can give, from what it takes: its security scheme
/// (the extractor that checks it), a body (`ApiJson`), path and query parameters (`ApiQuery`).
/// Operations open to all (health, this document, webhooks) list their own.
fn add_errors(operation: &mut Map<String, Value>) {
    let schemes: Vec<String> = operation
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|requirement| requirement.keys().cloned())
        .collect();
    if schemes.is_empty() {
        return;
    }
    let has = |location: &str| {
        operation.get("parameters").and_then(Value::as_array).is_some_and(|ps| ps.iter().any(|p| p["in"] == location))
    };
    let (has_path, has_query) = (has("path"), has("query"));
    // Every request runs under the request timeout.
    let mut statuses: Vec<u16> = vec![504];
    for scheme in &schemes {
        statuses.extend(match scheme.as_str() {
            // `Scope`: the key, then `X-Profile-Id` (not text: 400; not the merchant's: 401;
            // missing where a new object needs it: 422).
            "api_key" => &[400, 401, 404, 422, 429][..],
            // `ClientCaller`: the key; the body names the object (404) and its secret (400).
            "publishable_key" => &[400, 401, 404, 429][..],
            // `ClientSecretCaller`: the key, then the secret (400) of the object named (404).
            "publishable_key__client_secret" => &[400, 401, 404, 429][..],
            other => panic!("unknown security scheme {other}"),
        });
    }
    if schemes.iter().any(|s| s == "api_key") {
        let parameters = operation.entry("parameters").or_insert_with(|| json!([]));
        parameters.as_array_mut().expect("parameters are a list").push(json!({
            "name": "X-Profile-Id",
            "in": "header",
            "description": "One of the merchant's profiles. Without it, the call acts in the merchant's only profile, or in the profile of the object it names; a merchant with several profiles names one to make a new object",
            "required": false,
            "schema": { "type": "string" },
            "example": "pro_demo",
        }));
    }
    if operation.contains_key("requestBody") {
        // `ApiJson`: too slow (408), not JSON, too large, malformed or too deep (400), a
        // field at fault (422).
        statuses.extend([400, 408, 422]);
    }
    if has_path {
        statuses.push(404);
    }
    if has_query {
        statuses.push(422);
    }
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    let responses = responses.as_object_mut().expect("responses are an object");
    for status in statuses {
        let key = status.to_string();
        if responses.contains_key(&key) {
            continue;
        }
        let codes: Vec<String> = ERRORS
            .iter()
            .filter(|(s, ..)| *s == status)
            .map(|(_, code, meaning)| format!("`{code}` {meaning}"))
            .collect();
        let mut response = json!({
            "description": codes.join("; "),
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorResponse" } } },
        });
        let header = match status {
            401 => Some(("WWW-Authenticate", "`api-key`")),
            429 => Some(("Retry-After", "Whole seconds to wait before a retry is let through")),
            _ => None,
        };
        if let Some((name, description)) = header {
            response["headers"] = json!({ name: { "description": description, "schema": { "type": "string" } } });
        }
        responses.insert(key, response);
    }
}

// ---- schemas for hand-checked values --------------------------------------------------------

/// Metadata as `bounds::check_metadata` bounds it, or null.
pub(crate) fn metadata() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "Anything the merchant wants kept: at most 50 keys of at most 40 characters, each value at most \
             500 characters (as JSON, unless a string).",
        ))
        .max_properties(Some(super::bounds::METADATA_KEYS_MAX))
        .property_names(Some(
            ObjectBuilder::new().schema_type(Type::String).max_length(Some(super::bounds::METADATA_KEY_MAX)),
        ))
        .into()
}

/// A field the decoder reads but refuses any value of, null aside (`IR_20`).
pub(crate) fn refused() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Null)
        .description(Some("Not supported: any value but null is refused with `IR_20`."))
        .into()
}

/// The object schema of `T`, which must be one (a struct with named fields).
fn object_of<T: ToSchema>() -> Object {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object,
        _ => panic!("{} is documented as an object", T::name()),
    }
}

/// One object with the properties of all of `parts`, refusing any other: the schema of a
/// request decoded part by part and checked with `extract::only_fields`.
pub(crate) fn flat_object(description: &str, parts: Vec<Object>) -> RefOr<Schema> {
    let mut builder = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for part in parts {
        for (name, schema) in part.properties {
            builder = builder.property(name, schema);
        }
        for name in part.required {
            builder = builder.required(name);
        }
    }
    builder.into()
}

/// `PartialSchema` and `ToSchema` for a request decoded from `parts` (`flat_object`).
macro_rules! flat_request {
    ($t:ty as $name:literal, $description:literal, [$($part:ty),+ $(,)?]) => {
        $crate::api::openapi::flat_request!($t as $name, $description, [$($part),+], except []);
    };
    // `except`: fields a part declares that this request refuses (its decoder says so).
    ($t:ty as $name:literal, $description:literal, [$($part:ty),+ $(,)?], except [$($refused:literal),* $(,)?]) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::api::openapi::flat_object($description, vec![$($crate::api::openapi::object_of_part::<$part>()),+])
            }
        }

        impl utoipa::ToSchema for $t {
            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                $(<$part as utoipa::ToSchema>::schemas(schemas);)+
            }
        }

        // The document names exactly the fields the decoder takes (`extract::only_fields`).
        #[cfg(test)]
        impl $crate::api::openapi::FlatRequest for $t {
            fn documented_and_decoded() -> (Vec<String>, Vec<&'static str>) {
                let documented = match <$t as utoipa::PartialSchema>::schema() {
                    utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(o)) => {
                        o.properties.keys().cloned().collect()
                    }
                    _ => Vec::new(),
                };
                let refused: &[&str] = &[$($refused),*];
                let mut decoded = [$($crate::api::extract::fields_of::<$part>()),+].concat();
                decoded.retain(|field| !refused.contains(field));
                (documented, decoded)
            }
        }
    };
}

/// A request documented with `flat_request!`: its documented properties, and the fields its
/// decoder takes.
#[cfg(test)]
pub(crate) trait FlatRequest {
    fn documented_and_decoded() -> (Vec<String>, Vec<&'static str>);
}

/// Asserts that a flat request's document names exactly the fields its decoder takes.
#[cfg(test)]
pub(crate) fn assert_flat<T: FlatRequest>() {
    use std::collections::BTreeSet;
    let (documented, decoded) = T::documented_and_decoded();
    let documented: BTreeSet<&str> = documented.iter().map(String::as_str).collect();
    let decoded: BTreeSet<&str> = decoded.into_iter().collect();
    assert_eq!(documented, decoded, "{}", std::any::type_name::<T>());
}
pub(crate) use flat_request;

pub(crate) fn object_of_part<T: ToSchema>() -> Object {
    object_of::<T>()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::http::StatusCode;

    use super::*;
    use crate::api::error::ApiError;

    #[test]
    fn flat_requests_document_exactly_the_fields_their_decoders_take() {
        use crate::api::types::{ConfirmIntentRequest, CreateIntentRequest, PaymentsRequest, UpdateIntentRequest};
        assert_flat::<PaymentsRequest>();
        assert_flat::<CreateIntentRequest>();
        assert_flat::<ConfirmIntentRequest>();
        assert_flat::<UpdateIntentRequest>();
    }

    #[test]
    fn aliases_are_documented_beside_their_fields() {
        let doc = document();
        let documented: BTreeSet<String> =
            doc["components"]["schemas"]["AmountDetails"]["properties"].as_object().unwrap().keys().cloned().collect();
        let decoded: BTreeSet<String> = crate::api::extract::fields_of::<crate::domain::payment::AmountDetails>()
            .iter()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(documented, decoded);
    }

    #[test]
    fn every_error_is_documented_with_its_status_and_code() {
        let refused = crate::limits::Refused { scope: "api key", retry_after: std::time::Duration::from_secs(1) };
        let errors = [
            ApiError::Unauthorized,
            ApiError::MissingHeader("X-Profile-Id"),
            ApiError::InvalidHeader("X-Profile-Id"),
            ApiError::Undecodable("f".into()),
            ApiError::RefundExceedsPayment("f".into()),
            ApiError::Precondition("f".into()),
            ApiError::MethodNotAllowed { method: "GET".into(), path: "/".into() },
            ApiError::MissingField("f".into()),
            ApiError::InvalidRequest("f".into()),
            ApiError::MalformedJson("f".into()),
            ApiError::UnsupportedMediaType,
            ApiError::BodyTooLarge(1),
            ApiError::TooDeep(32),
            ApiError::BodyTimeout(std::time::Duration::from_secs(1)),
            ApiError::Timeout(std::time::Duration::from_secs(1)),
            ApiError::ClientSecretInvalid("f".into()),
            ApiError::ClientSecretMismatch("payment"),
            ApiError::NotFound("f".into()),
            ApiError::Duplicate("f".into()),
            ApiError::InvalidState("f".into()),
            ApiError::NotSupported("f".into()),
            ApiError::ConnectorRefused("f".into()),
            ApiError::WebhookRejected("f".into()),
            ApiError::ConnectorUnavailable("f".into()),
            ApiError::Unavailable("f".into()),
            ApiError::RateLimited(refused),
            ApiError::NoRoute { method: "GET".into(), path: "/".into() },
        ];
        for error in errors {
            let (status, _, code) = error.parts();
            assert!(
                ERRORS.iter().any(|(s, c, _)| *s == status.as_u16() && *c == code),
                "{error:?} answers {status} {code}, which ERRORS does not list"
            );
        }
        // Server errors are bugs: the document promises none, but for a provider or the security
        // code store out of reach (503) and a request that outlived its timeout while its work
        // goes on (504).
        let (status, ..) = ApiError::Internal("x".into()).parts();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(ERRORS.iter().all(|(s, ..)| *s < 500 || *s == 503 || *s == 504));
    }

    #[test]
    fn every_reference_resolves_and_every_operation_answers_errors_in_the_error_body() {
        let doc = document();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = reference.split('"').next().unwrap();
            let name = target.strip_prefix("#/components/schemas/").expect("a schema reference");
            assert!(doc["components"]["schemas"][name].is_object(), "{target} resolves");
        }
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                // A call of Hyperswitch's that switchyard does not offer answers `IR_20` only.
                let not_offered = responses.get("400").and_then(|r| r["description"].as_str());
                let not_offered = not_offered.is_some_and(|d| d.starts_with("`IR_20`"));
                assert!(responses.contains_key("200") || not_offered, "{method} {path} answers 200");
                // `/health` and `/health/ready` answer 503 with their own bodies.
                let errors = responses.iter().filter(|(s, _)| s.as_str() >= "400" && !path.starts_with("/health"));
                for (status, response) in errors {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorResponse", "{method} {path} {status}");
                }
                if operation["security"].is_array() {
                    assert!(responses.contains_key("401"), "{method} {path} answers 401");
                }
            }
        }
    }
}
