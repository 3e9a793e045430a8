//! What the fuzz targets share: JSON of every shape made from fuzz input, the limits Lua runs
//! under while fuzzed, and where the repository's files are.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use arbitrary::{Arbitrary, Result, Unstructured};
use serde_json::{Map, Number, Value};

/// How deeply generated JSON may nest: as deep as the parser lets a provider's answer nest.
const DEPTH: usize = 128;
/// The most items an array or object gets.
const ITEMS: u32 = 16;

/// A JSON value of any shape: numbers of every kind (huge, negative, fractional), any strings.
#[derive(Debug)]
pub struct Json(pub Value);

/// A JSON object whose values are of any shape.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        value(u, DEPTH).map(Json)
    }
}

impl<'a> Arbitrary<'a> for JsonObject {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        object(u, DEPTH).map(JsonObject)
    }
}

fn value(u: &mut Unstructured, depth: usize) -> Result<Value> {
    let kinds = if depth == 0 { 6 } else { 8 };
    Ok(match u.choose_index(kinds)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => Value::from(u.arbitrary::<u64>()?),
        // JSON has no NaN or infinity: those become null, as the parser would never make them.
        4 => Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        5 => Value::String(u.arbitrary()?),
        6 => {
            let mut items = Vec::new();
            u.arbitrary_loop(None, Some(ITEMS), |u| {
                items.push(value(u, depth - 1)?);
                Ok(ControlFlow::Continue(()))
            })?;
            Value::Array(items)
        }
        _ => Value::Object(object(u, depth - 1)?),
    })
}

fn object(u: &mut Unstructured, depth: usize) -> Result<Map<String, Value>> {
    let mut map = Map::new();
    u.arbitrary_loop(None, Some(ITEMS), |u| {
        map.insert(u.arbitrary()?, value(u, depth)?);
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(map)
}

/// The daemon's Lua limits, with a time budget that an instrumented build still keeps within.
pub fn lua_limits() -> switchyard::lua::Budget {
    switchyard::lua::Budget { time_budget: Duration::from_millis(50), memory_bytes: 16 << 20 }
}

/// A path in the repository, from its root.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A path in this crate.
pub fn here(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}
