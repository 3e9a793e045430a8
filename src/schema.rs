//! OpenAPI schemas for values whose decoders check more than their Rust type says (amounts,
//! currencies, identifiers, card fields, statuses): each type gives its schema beside its decoder,
//! with the same bounds, through these builders. A leaf: the value types use it, and so does the
//! API's document.

use serde_json::Value;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

/// A string with the bounds its decoder checks.
pub fn string(description: &str, min: usize, max: Option<usize>, pattern: Option<&str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(Some(min))
        .max_length(max)
        .pattern(pattern)
        .into()
}

/// An integer with the bounds its decoder checks.
pub fn integer(description: &str, min: i64, max: i64, example: i64) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some(description))
        .minimum(Some(min))
        .maximum(Some(max))
        .examples([example])
        .into()
}

/// One of a fixed set of strings (described unless `description` is empty).
pub fn string_enum(description: &str, values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description((!description.is_empty()).then_some(description))
        .enum_values(Some(values.iter().copied()))
        .into()
}

/// One of a fixed set of strings, or null (an `Option` the decoder checks).
pub fn nullable_string_enum(description: &str, values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(description))
        .enum_values(Some(values.iter().map(|v| Value::from(*v)).chain([Value::Null])))
        .into()
}
