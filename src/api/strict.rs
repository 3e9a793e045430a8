//! The deserializer request bodies are decoded through (`extract::part`), over the body parsed
//! into a `Tree` whose strings and keys are borrowed from the body's bytes (copied only where
//! they hold an escape), so that a body is parsed once and each part copies only what it keeps.
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

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde_json::Number;

type Error = serde_json::Error;

/// A JSON document as parsed from a request body, objects in the order their keys came.
#[derive(Debug, Clone, PartialEq)]
pub enum Tree<'b> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'b, str>),
    Array(Vec<Tree<'b>>),
    Object(Vec<(Cow<'b, str>, Tree<'b>)>),
}

impl<'b> Tree<'b> {
    /// `{}`: what a body left out reads as.
    pub fn empty() -> Self {
        Tree::Object(Vec::new())
    }

    /// The value of `key`, when this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Tree<'b>> {
        match self {
            Tree::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, value)| value),
            _ => None,
        }
    }
}

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
    value: &'de Tree<'de>,
    at: At<'p>,
    fault: &'p Fault,
}

impl<'de, 'p> Strict<'de, 'p> {
    pub fn new(value: &'de Tree<'de>, fault: &'p Fault) -> Self {
        Self { value, at: At::Root, fault }
    }
}

fn unexpected<'t>(value: &'t Tree) -> Unexpected<'t> {
    match value {
        Tree::Null => Unexpected::Unit,
        Tree::Bool(b) => Unexpected::Bool(*b),
        Tree::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), ..) => Unexpected::Unsigned(u),
            (_, Some(i), _) => Unexpected::Signed(i),
            (.., f) => Unexpected::Float(f.unwrap_or(f64::NAN)),
        },
        Tree::String(s) => Unexpected::Str(s),
        Tree::Array(_) => Unexpected::Seq,
        Tree::Object(_) => Unexpected::Map,
    }
}

/// A number with a zero fraction, as an integer; within 2^53, where a float is exact.
fn whole(n: &Number) -> Option<Number> {
    let f = n.as_f64().filter(|_| n.is_f64())?;
    if f.fract() != 0.0 || f.abs() >= 9_007_199_254_740_992.0 {
        return None;
    }
    Some(if f < 0.0 { Number::from(f as i64) } else { Number::from(f as u64) })
}

macro_rules! integers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value {
                Tree::Number(n) => whole(n).as_ref().unwrap_or(n).$method(visitor),
                _ => self.refuse(visitor),
            }
        }
    )*};
}

macro_rules! numbers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value {
                Tree::Number(n) => n.$method(visitor),
                _ => self.refuse(visitor),
            }
        }
    )*};
}

impl<'de, 'p> Strict<'de, 'p> {
    fn items(&self, items: &'de [Tree<'de>]) -> Items<'de, 'p> {
        Items { items: items.iter(), next: 0, at: self.at, fault: self.fault }
    }

    fn entries(&self, entries: &'de [(Cow<'de, str>, Tree<'de>)]) -> Entries<'de, 'p> {
        Entries { entries: entries.iter(), value: None, at: self.at, fault: self.fault }
    }

    fn refuse<V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(unexpected(self.value), &visitor))
    }
}

impl<'de> Deserializer<'de> for Strict<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Tree::Null => visitor.visit_unit(),
            Tree::Bool(b) => visitor.visit_bool(*b),
            Tree::Number(n) => n.deserialize_any(visitor),
            Tree::String(s) => visitor.visit_borrowed_str(s),
            Tree::Array(items) => visitor.visit_seq(self.items(items)),
            Tree::Object(entries) => visitor.visit_map(self.entries(entries)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Tree::Null => visitor.visit_none(),
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
            Tree::Object(entries) => visitor.visit_map(self.entries(entries)),
            _ => self.refuse(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Tree::Array(items) => visitor.visit_seq(self.items(items)),
            _ => self.refuse(visitor),
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

    /// Request enums are names (`"manual"`), with nothing inside to be strict about; a variant
    /// with a value is an object of one key, as serde_json reads it.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Tree::String(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
            Tree::Object(entries) if entries.len() == 1 => {
                visitor.visit_enum(MapAccessDeserializer::new(self.entries(entries)))
            }
            Tree::Object(_) => Err(de::Error::invalid_value(Unexpected::Map, &"map with a single key")),
            other => Err(de::Error::invalid_type(unexpected(other), &"string or map")),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Tree::Bool(b) => visitor.visit_bool(*b),
            _ => self.refuse(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Tree::String(s) => visitor.visit_borrowed_str(s),
            _ => self.refuse(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Tree::String(s) => visitor.visit_borrowed_str(s),
            Tree::Array(items) => visitor.visit_seq(self.items(items)),
            _ => self.refuse(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Tree::Null => visitor.visit_unit(),
            _ => self.refuse(visitor),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    integers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    numbers! { deserialize_f32 deserialize_f64 }
}

struct Items<'de, 'p> {
    items: std::slice::Iter<'de, Tree<'de>>,
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
    entries: std::slice::Iter<'de, (Cow<'de, str>, Tree<'de>)>,
    value: Option<(&'de str, &'de Tree<'de>)>,
    at: At<'p>,
    fault: &'p Fault,
}

impl<'de> MapAccess<'de> for Entries<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        let key: &'de str = key;
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

/// A JSON document as a `Tree`, refused when any object in it has a key twice.
pub fn parse(bytes: &[u8]) -> Result<Tree<'_>, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let Unique(tree) = serde::Deserialize::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(tree)
}

/// A value whose objects have no key twice. The depth it recurses to is bounded before parsing
/// (`bounds::nests_deeper_than`).
struct Unique<'b>(Tree<'b>);

impl<'de> serde::Deserialize<'de> for Unique<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Tree<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Tree<'de>, E> {
        Ok(Tree::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Tree<'de>, E> {
        Ok(Tree::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Tree<'de>, E> {
        Ok(Tree::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Tree<'de>, E> {
        Ok(Number::from_f64(v).map_or(Tree::Null, Tree::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Tree<'de>, E> {
        without_nul(v).map(|v| Tree::String(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tree<'de>, E> {
        without_nul(v).map(|v| Tree::String(Cow::Owned(v.to_string())))
    }

    fn visit_unit<E>(self) -> Result<Tree<'de>, E> {
        Ok(Tree::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Tree::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree<'de>, A::Error> {
        let mut entries = Vec::new();
        let mut keys = Keys::default();
        while let Some(Key(key)) = map.next_key()? {
            without_nul(&key)?;
            let Unique(value) = map.next_value()?;
            if !keys.first(&entries, &key) {
                return Err(de::Error::custom(format_args!("the key `{key}` appears twice in one object")));
            }
            entries.push((key, value));
        }
        Ok(Tree::Object(entries))
    }
}

/// An object's key, borrowed from the body unless it holds an escape.
struct Key<'b>(Cow<'b, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The keys an object has shown so far, to tell one seen before. A request's objects have a few
/// keys, which are compared in turn; past `Keys::FEW` their hashes are kept too, so that a body
/// of thousands of keys costs no more than one pass.
#[derive(Default)]
struct Keys {
    hashes: Option<HashSet<u64>>,
}

impl Keys {
    const FEW: usize = 16;

    /// Whether `key` is new among `entries`, the object's entries so far.
    fn first<T>(&mut self, entries: &[(Cow<str>, T)], key: &str) -> bool {
        let seen = |key: &str| entries.iter().any(|(k, _)| k == key);
        if entries.len() < Self::FEW {
            return !seen(key);
        }
        let hashes = self.hashes.get_or_insert_with(|| {
            let mut hashes = HashSet::with_capacity(entries.len() * 2);
            for (k, _) in entries {
                hashes.insert(Self::hash(k));
            }
            hashes
        });
        // Two keys may share a hash; only then are the keys compared.
        hashes.insert(Self::hash(key)) || !seen(key)
    }

    fn hash(key: &str) -> u64 {
        use std::hash::{BuildHasher, RandomState};
        thread_local!(static STATE: RandomState = RandomState::new());
        STATE.with(|state| state.hash_one(key))
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
    use serde_json::{json, Value};

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
        let text = v.to_string();
        let tree = parse(text.as_bytes()).map_err(|e| e.to_string())?;
        Outer::deserialize(Strict::new(&tree, &Fault::default())).map_err(|e| e.to_string())
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
        assert_eq!(
            parse(br#"{"a":"\\u0000"}"#).unwrap(),
            Tree::Object(vec![("a".into(), Tree::String("\\u0000".into()))])
        );
    }

    #[test]
    fn a_key_twice_is_refused_in_short_objects_and_long_ones() {
        let twice = |body: &str| parse(body.as_bytes()).unwrap_err().to_string();
        assert!(twice(r#"{"a":1,"b":2,"a":3}"#).contains("the key `a` appears twice"));
        // An escape spells the same key.
        assert!(twice(r#"{"ab":1,"a\u0062":2}"#).contains("the key `ab` appears twice"));
        let long = |last: &str| {
            let keys: Vec<String> = (0..5000).map(|i| format!("\"k{i}\":{i}")).collect();
            format!("{{{},\"{last}\":0}}", keys.join(","))
        };
        assert!(twice(&long("k2")).contains("the key `k2` appears twice"));
        assert!(twice(&long("k4999")).contains("the key `k4999` appears twice"));
        let distinct = long("k5000");
        let Tree::Object(entries) = parse(distinct.as_bytes()).unwrap() else { panic!("an object") };
        assert_eq!(entries.len(), 5001);
    }

    #[test]
    fn escaped_strings_and_keys_read_as_their_text_in_the_order_sent() {
        let tree = parse(br#"{"zeta":"x\ny","a\u0062":"caf\u00e9","n":[1.5,-2,true,null]}"#).unwrap();
        let keys: Vec<&str> = match &tree {
            Tree::Object(entries) => entries.iter().map(|(k, _)| k.as_ref()).collect(),
            _ => panic!("an object"),
        };
        assert_eq!(keys, ["zeta", "ab", "n"]);
        assert_eq!(tree.get("ab"), Some(&Tree::String("café".into())));
        let value = Value::deserialize(Strict::new(&tree, &Fault::default())).unwrap();
        assert_eq!(value, json!({ "zeta": "x\ny", "ab": "café", "n": [1.5, -2, true, null] }));
    }

    #[test]
    fn enums_read_as_serde_json_reads_them() {
        #[derive(Debug, Deserialize, PartialEq)]
        enum Choice {
            Plain,
            With(u8),
        }
        let read = |body: &str| {
            let tree = parse(body.as_bytes()).unwrap();
            let strict = Choice::deserialize(Strict::new(&tree, &Fault::default())).map_err(|e| e.to_string());
            (strict, serde_json::from_str::<Choice>(body).map_err(|e| e.to_string()))
        };
        for body in [r#""Plain""#, r#"{"With":7}"#] {
            let (strict, serde) = read(body);
            assert_eq!(strict, serde, "{body}");
            assert!(strict.is_ok(), "{body}");
        }
        for body in [r#""Other""#, r#"{"With":7,"Plain":null}"#, "7", r#"{"With":"7"}"#] {
            let (strict, serde) = read(body);
            assert!(strict.is_err() && serde.is_err(), "{body}: {strict:?}");
        }
    }
}
