//! The deserializer request bodies are decoded through (`extract::part`), over the parsed JSON.
//! It differs from serde_json's own in two ways, both so that the decoders take exactly what
//! the OpenAPI document says (`type: object`, `type: integer`):
//!
//! - a struct is read only from a JSON object: serde's derive also reads one from an array, by
//!   position, so `"billing": [null]` was an empty address;
//! - an integer may be written with a zero fraction (`600.0`), which JSON Schema counts as an
//!   integer; any other fraction is still refused.
//!
//! It notes where an error was raised (`Fault`), so that the error names the field at fault.
//!
//! The body is parsed by `parse`, which refuses an object with the same key twice, at any depth:
//! serde_json keeps the last, so `{"amount": 1, "amount": 777}` would be read as whichever the
//! reader of the bytes did not expect. It refuses a NUL character (`\u0000`) in any string or
//! key too: no field means one, and PostgreSQL stores none in text.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde_json::{Number, Value};

type Error = serde_json::Error;

/// Where a value stands in the body: a chain through its parents, borrowed from the body's keys
/// and the stack as the decoder descends, so that tracking it costs nothing until an error
/// names it.
#[derive(Clone, Copy)]
enum At<'p> {
    Root,
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl std::fmt::Display for At<'_> {
    /// `amount_details.currency`, `items[2].name`; `.` for the body itself.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let mut steps = Vec::new();
        let mut at = self;
        loop {
            match at {
                At::Root => break,
                At::Key(parent, _) | At::Index(parent, _) => {
                    steps.push(at);
                    at = parent;
                }
            }
        }
        if steps.is_empty() {
            return f.write_str(".");
        }
        for (i, step) in steps.iter().rev().enumerate() {
            match step {
                At::Key(_, key) if i == 0 => f.write_str(key)?,
                At::Key(_, key) => write!(f, ".{key}")?,
                At::Index(_, index) => write!(f, "[{index}]")?,
                At::Root => {}
            }
        }
        Ok(())
    }
}

/// The place of the first error raised, the innermost: the levels it passes through on its
/// way out leave it as it is.
#[derive(Default)]
pub struct Fault(std::cell::OnceCell<String>);

impl Fault {
    fn note(&self, at: &At) {
        self.0.get_or_init(|| at.to_string());
    }

    /// Where the error was raised; the body itself when no value was being read.
    pub fn path(&self) -> &str {
        self.0.get().map_or(".", String::as_str)
    }
}

/// A JSON value to decode strictly, noting in `fault` where an error is raised.
pub struct Strict<'de, 'p> {
    value: &'de Value,
    at: At<'p>,
    fault: &'p Fault,
}

impl<'de, 'p> Strict<'de, 'p> {
    pub fn new(value: &'de Value, fault: &'p Fault) -> Self {
        Self { value, at: At::Root, fault }
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), ..) => Unexpected::Unsigned(u),
            (_, Some(i), _) => Unexpected::Signed(i),
            (.., f) => Unexpected::Float(f.unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// A number with a zero fraction, as an integer; within 2^53, where a float is exact.
fn whole(value: &Value) -> Option<Value> {
    let f = value.as_number().filter(|n| n.is_f64())?.as_f64()?;
    if f.fract() != 0.0 || f.abs() >= 9_007_199_254_740_992.0 {
        return None;
    }
    Some(Value::Number(if f < 0.0 { Number::from(f as i64) } else { Number::from(f as u64) }))
}

macro_rules! integers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match whole(self.value) {
                Some(n) => n.$method(visitor),
                None => self.value.$method(visitor),
            }
        }
    )*};
}

macro_rules! delegate {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.value.$method(visitor)
        }
    )*};
}

impl<'de, 'p> Strict<'de, 'p> {
    fn items(&self, items: &'de [Value]) -> Items<'de, 'p> {
        Items { items: items.iter(), next: 0, at: self.at, fault: self.fault }
    }

    fn entries(&self, map: &'de serde_json::Map<String, Value>) -> Entries<'de, 'p> {
        Entries { entries: map.iter(), value: None, at: self.at, fault: self.fault }
    }
}

impl<'de> Deserializer<'de> for Strict<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(items) => visitor.visit_seq(self.items(items)),
            Value::Object(map) => visitor.visit_map(self.entries(map)),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => visitor.visit_map(self.entries(map)),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(items) => visitor.visit_seq(self.items(items)),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// Request enums are names (`"manual"`), with nothing inside to be strict about.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.value.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.value.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    integers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    delegate! {
        deserialize_bool deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_unit deserialize_identifier
    }
}

struct Items<'de, 'p> {
    items: std::slice::Iter<'de, Value>,
    next: usize,
    at: At<'p>,
    fault: &'p Fault,
}

impl<'de> SeqAccess<'de> for Items<'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(value) = self.items.next() else { return Ok(None) };
        let at = At::Index(&self.at, self.next);
        self.next += 1;
        let item = seed.deserialize(Strict { value, at, fault: self.fault });
        item.map(Some).inspect_err(|_| self.fault.note(&at))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'de, 'p> {
    entries: serde_json::map::Iter<'de>,
    value: Option<(&'de str, &'de Value)>,
    at: At<'p>,
    fault: &'p Fault,
}

impl<'de> MapAccess<'de> for Entries<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some((key, value));
        let read = seed.deserialize(BorrowedStrDeserializer::<Error>::new(key));
        read.map(Some).inspect_err(|_| self.fault.note(&At::Key(&self.at, key)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self.value.take().expect("a key before its value");
        let at = At::Key(&self.at, key);
        seed.deserialize(Strict { value, at, fault: self.fault }).inspect_err(|_| self.fault.note(&at))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A JSON document as a `Value`, refused when any object in it has a key twice.
pub fn parse(bytes: &[u8]) -> Result<Value, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let Unique(value) = serde::Deserialize::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A value whose objects have no key twice. The depth it recurses to is bounded before parsing
/// (`bounds::nests_deeper_than`).
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        without_nul(v).map(|v| Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        without_nul(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            without_nul(&key)?;
            let Unique(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("the key `{key}` appears twice in one object")));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

fn without_nul<E: de::Error>(text: &str) -> Result<&str, E> {
    match text.contains('\0') {
        true => Err(E::custom("a string holds a NUL character (\\u0000), which no field may hold")),
        false => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        city: Option<String>,
        #[serde(default)]
        zip: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        any: Option<Value>,
    }

    fn decode(v: Value) -> Result<Outer, String> {
        Outer::deserialize(Strict::new(&v, &Fault::default())).map_err(|e| e.to_string())
    }

    #[test]
    fn structs_come_only_from_objects() {
        assert!(serde_json::from_value::<Outer>(json!({ "inner": [null, null] })).is_ok(), "serde's own takes it");
        let e = decode(json!({ "inner": [null, null] })).unwrap_err();
        assert!(e.contains("invalid type: sequence, expected struct Inner"), "{e}");
        assert!(decode(json!([null, null, [], null])).is_err());
        let ok = decode(json!({ "inner": { "city": "Paris" }, "tags": ["a"], "any": [1, { "b": [] }] })).unwrap();
        assert_eq!(ok.inner, Some(Inner { city: Some("Paris".into()), zip: None }));
        assert_eq!(ok.any, Some(json!([1, { "b": [] }])));
        assert!(decode(json!({ "inner": { "town": "Paris" } })).unwrap_err().contains("unknown field `town`"));
    }

    #[test]
    fn integers_may_have_a_zero_fraction() {
        assert_eq!(decode(json!({ "count": 600.0 })).unwrap().count, Some(600));
        assert!(decode(json!({ "count": 600.5 })).is_err());
        assert!(decode(json!({ "count": -1.0 })).is_err());
        assert!(decode(json!({ "count": 1e300 })).is_err());
    }

    #[test]
    fn a_nul_character_is_refused_in_values_and_keys_at_any_depth() {
        for body in [r#"{"a":"x\u0000"}"#, r#"{"a":{"b\u0000":1}}"#, r#"[["\u0000"]]"#] {
            let e = parse(body.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("NUL character"), "{body}: {e}");
        }
        // An escaped backslash before `u0000` is text, not a NUL.
        assert_eq!(parse(br#"{"a":"\\u0000"}"#).unwrap(), json!({ "a": "\\u0000" }));
    }
}
