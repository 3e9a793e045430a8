//! JSON-shaped values into and out of a Luau state, each way in one protected call.
//!
//! mlua's serde conversions make every table, string and read its own protected call while a
//! memory limit is set, and keep every intermediate value as a registry reference: for the few
//! dozen fields of a connector call that is most of the call's cost. These walk the value with
//! Luau's stack API instead and give what mlua's serde gives (`null` as nil, arrays marked with
//! mlua's array metatable; read back, whole numbers as integers, a table with a length as an
//! array). What they do not take on — a value nested past `DEPTH`, a string that is not UTF-8, a
//! function, a key that is not a string, a value that is not what was asked for — is left to
//! mlua's serde, so errors read as they always have.

use std::cell::RefCell;
use std::fmt;
use std::os::raw::{c_int, c_void};

use mlua::{ffi, Lua, LuaSerdeExt, MultiValue, Value};
use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::Value as Json;

/// Deeper values go through mlua's serde, which knows its own recursion limit (128).
const DEPTH: usize = 64;

/// A value of more tables than this is refused. A table may stand in several places of a value
/// and is read once for each: a few dozen tables can stand for billions of places, and reading
/// them is host code, which a script's time budget does not stop.
const MOST_TABLES: usize = 10_000;

/// Whole numbers below 2^53 are read as integers, as mlua reads every whole number an `i64`
/// holds; larger ones are left to mlua, whose bounds are its own.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// `values` as Lua values, `null` as nil, as mlua's `to_value` with `null` left out makes them.
pub fn to_lua(lua: &Lua, values: &[&Json]) -> mlua::Result<MultiValue> {
    let mut shallow = true;
    // SAFETY: `exec_raw` runs the closure as a protected C function with the array metatable at
    // index 1. The closure makes room before each push, removes the metatable last, and leaves
    // one value per entry of `values` on the stack, which `exec_raw` returns (what a value too
    // deep leaves instead is dropped for mlua's serde to push them all again). A memory
    // error raised on the way unwinds to `exec_raw`'s protected call; the frames it crosses hold
    // only borrows.
    let pushed = unsafe {
        lua.exec_raw(lua.array_metatable(), |state| {
            ffi::lua_checkstack(state, values.len() as c_int);
            shallow = values.iter().all(|value| push(state, value, DEPTH));
            ffi::lua_remove(state, 1);
        })
    };
    if shallow {
        return pushed;
    }
    let options = mlua::serde::SerializeOptions::new().serialize_none_to_null(false).serialize_unit_to_null(false);
    values.iter().map(|v| lua.to_value_with(*v, options)).collect()
}

/// `value` as JSON text: what serializing the `serde_json::Value` mlua's `from_value` reads from
/// it gives (members in key order), written straight from the state.
pub fn encode(lua: &Lua, value: Value) -> mlua::Result<String> {
    match written(lua, &value) {
        Some(text) => Ok(text),
        // Outside what `write` takes: mlua's serde reads it, or says why it cannot.
        None => serde_json::to_string(&from_lua::<Json>(lua, value)?).map_err(mlua::Error::external),
    }
}

/// `value` as JSON text, or None when `write` leaves it to mlua.
fn written(lua: &Lua, value: &Value) -> Option<String> {
    // Room for a typical request body, so that it is written without growing.
    let mut out = Vec::with_capacity(512);
    let mut written = None;
    // SAFETY: `exec_raw` runs the closure as a protected C function with the array metatable at
    // index 1 and `value` at 2. `write` only reads, and leaves the stack as it found it; nothing
    // it calls raises but growing the stack, whose memory error unwinds to the protected call.
    let done = unsafe {
        lua.exec_raw::<()>((lua.array_metatable(), value), |state| {
            written = write(state, 2, DEPTH, &mut (Vec::new(), MOST_TABLES), &mut out);
            ffi::lua_settop(state, 0);
        })
    };
    done.ok().and(written).and_then(|()| String::from_utf8(out).ok())
}

/// Reads `value` as `T`, as mlua's `from_value` does.
pub fn from_lua<T: DeserializeOwned>(lua: &Lua, value: Value) -> mlua::Result<T> {
    match read(lua, &value) {
        Some(read) => Ok(read),
        // Outside what `Reader` takes, or not a `T`: mlua's serde says why, in its own words,
        // once the value is known to be one it can read to the end.
        None => {
            bounded(lua, &value)?;
            lua.from_value(value)
        }
    }
}

/// Refuses a value of more than `MOST_TABLES` tables, counting each as often as it stands in it.
fn bounded(lua: &Lua, value: &Value) -> mlua::Result<()> {
    let mut fits = true;
    // SAFETY: `exec_raw` runs the closure as a protected C function with `value` at index 1.
    // `within` only reads, and leaves the stack as it found it.
    unsafe {
        lua.exec_raw::<()>(value, |state| {
            fits = within(state, 1, DEPTH_MLUA, &mut Vec::new(), &mut { MOST_TABLES });
            ffi::lua_settop(state, 0);
        })?;
    }
    match fits {
        true => Ok(()),
        false => Err(mlua::Error::runtime(format!(
            "the value holds more than {MOST_TABLES} tables (a table counts once for each place it stands in)"
        ))),
    }
}

/// mlua's serde refuses a value nested deeper than this.
const DEPTH_MLUA: usize = 128;

/// Whether the value at `index` (absolute) holds at most `left` tables, each counted for every
/// place it stands in. The count stops inside a table that is inside itself, or nested past
/// `depth`: mlua's serde refuses those.
unsafe fn within(
    state: *mut ffi::lua_State,
    index: c_int,
    depth: usize,
    path: &mut Vec<*const c_void>,
    left: &mut usize,
) -> bool {
    if ffi::lua_type(state, index) != ffi::LUA_TTABLE {
        return true;
    }
    let at = ffi::lua_topointer(state, index);
    let Some(depth) = depth.checked_sub(1) else { return true };
    if path.contains(&at) {
        return true;
    }
    let Some(rest) = left.checked_sub(1) else { return false };
    *left = rest;
    if ffi::lua_checkstack(state, 3) == 0 {
        return false;
    }
    path.push(at);
    let height = ffi::lua_gettop(state);
    let (mut iter, mut fits) = (0, true);
    while fits {
        iter = ffi::lua_rawiter(state, index, iter);
        if iter < 0 {
            break;
        }
        fits = within(state, height + 1, depth, path, left) && within(state, height + 2, depth, path, left);
        ffi::lua_settop(state, height);
    }
    path.pop();
    fits
}

/// `value` as `T`, or None when `Reader` leaves it to mlua.
fn read<T: DeserializeOwned>(lua: &Lua, value: &Value) -> Option<T> {
    let mut read = None;
    // SAFETY: `exec_raw` runs the closure as a protected C function with the array metatable at
    // index 1 and `value` at 2. `Reader` only reads, and leaves the stack as it found it; nothing
    // it calls raises but growing the stack, whose memory error unwinds to the protected call
    // (dropping what was read so far on the way).
    let done = unsafe {
        lua.exec_raw::<()>((lua.array_metatable(), value), |state| {
            let walk = RefCell::new((Vec::new(), MOST_TABLES));
            read = T::deserialize(Reader { state, index: 2, depth: DEPTH, path: &walk }).ok();
            ffi::lua_settop(state, 0);
        })
    };
    done.ok().and(read)
}

/// Pushes `value`, the array metatable being at index 1; false (and a value cut short) when it
/// is nested past `depth`.
unsafe fn push(state: *mut ffi::lua_State, value: &Json, depth: usize) -> bool {
    ffi::lua_checkstack(state, 3);
    let Some(depth) = depth.checked_sub(1) else {
        ffi::lua_pushnil(state);
        return false;
    };
    match value {
        Json::Null => ffi::lua_pushnil(state),
        Json::Bool(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
        // As mlua pushes every Rust number: as a Luau number (a double).
        Json::Number(n) => ffi::lua_pushnumber(state, n.as_f64().unwrap_or_default()),
        Json::String(s) => {
            ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
        }
        Json::Array(items) => {
            ffi::lua_createtable(state, items.len() as c_int, 0);
            ffi::lua_pushvalue(state, 1);
            ffi::lua_setmetatable(state, -2);
            for (i, item) in items.iter().enumerate() {
                if !push(state, item, depth) {
                    return false;
                }
                ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
            }
        }
        Json::Object(members) => {
            ffi::lua_createtable(state, 0, members.len() as c_int);
            for (key, member) in members {
                ffi::lua_pushlstring(state, key.as_ptr().cast(), key.len());
                if !push(state, member, depth) {
                    return false;
                }
                ffi::lua_rawset(state, -3);
            }
        }
    }
    true
}

/// Writes the value at `index` (absolute) as `Reader` would read it into a `serde_json::Value`
/// and serde_json would write that; None for what `Reader` leaves to mlua. `walk` holds the
/// tables it is inside of, and how many more it may enter.
unsafe fn write(
    state: *mut ffi::lua_State,
    index: c_int,
    depth: usize,
    walk: &mut (Vec<*const c_void>, usize),
    out: &mut Vec<u8>,
) -> Option<()> {
    match ffi::lua_type(state, index) {
        ffi::LUA_TNIL => out.extend_from_slice(b"null"),
        ffi::LUA_TBOOLEAN => {
            out.extend_from_slice(if ffi::lua_toboolean(state, index) != 0 { b"true" } else { b"false" })
        }
        ffi::LUA_TNUMBER => {
            let n = ffi::lua_tonumber(state, index);
            if n.to_bits() != (n as i64 as f64).to_bits() {
                // NaN and the infinities are `null`, as in a `serde_json::Value`.
                json(out, &Json::from(n))?;
            } else if n.abs() < EXACT {
                json(out, &(n as i64))?;
            } else {
                return None;
            }
        }
        ffi::LUA_TSTRING => quoted(out, utf8(state, index)?),
        ffi::LUA_TTABLE => {
            // A table inside itself: mlua says so.
            let at = ffi::lua_topointer(state, index);
            if walk.0.contains(&at) {
                return None;
            }
            walk.1 = walk.1.checked_sub(1)?;
            walk.0.push(at);
            let depth = depth.checked_sub(1)?;
            let (len, array) = array(state, index)?;
            let height = ffi::lua_gettop(state);
            if array {
                out.push(b'[');
                for i in 1..=len {
                    if i > 1 {
                        out.push(b',');
                    }
                    ffi::lua_rawgeti(state, index, i as ffi::lua_Integer);
                    let item = write(state, height + 1, depth, walk, out);
                    ffi::lua_settop(state, height);
                    item?;
                }
                // A `serde_json::Value` takes a sequence whole: what follows the length is more
                // of it, which mlua reads and `write` leaves to it.
                if ffi::lua_rawgeti(state, index, len as ffi::lua_Integer + 1) != ffi::LUA_TNIL {
                    return None;
                }
                ffi::lua_settop(state, height);
                out.push(b']');
            } else {
                // A `serde_json::Value`'s members are in key order: each key is noted with where
                // `rawiter` found it, and its value fetched from there in that order.
                let mut keys = Vec::with_capacity(16);
                let mut iter = 0;
                loop {
                    let at = iter;
                    iter = ffi::lua_rawiter(state, index, iter);
                    if iter < 0 {
                        break;
                    }
                    // Each key is a string the table holds, and nothing here changes the table.
                    let key = (ffi::lua_type(state, -2) == ffi::LUA_TSTRING).then(|| utf8(state, height + 1)).flatten();
                    ffi::lua_settop(state, height);
                    keys.push((key?, at));
                }
                keys.sort_unstable_by_key(|&(key, _)| key);
                out.push(b'{');
                for (n, (key, at)) in keys.into_iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    quoted(out, key);
                    out.push(b':');
                    ffi::lua_rawiter(state, index, at);
                    let value = write(state, height + 2, depth, walk, out);
                    ffi::lua_settop(state, height);
                    value?;
                }
                out.push(b'}');
            }
            walk.0.pop();
        }
        _ => return None,
    }
    Some(())
}

/// The length of the table at `index`, and whether mlua reads it as an array: it carries mlua's
/// array metatable (at index 1), or has a length. Makes room for three more values.
unsafe fn array(state: *mut ffi::lua_State, index: c_int) -> Option<(usize, bool)> {
    if ffi::lua_checkstack(state, 3) == 0 {
        return None;
    }
    let len = ffi::lua_objlen(state, index);
    let marked = ffi::lua_getmetatable(state, index) != 0 && {
        let same = ffi::lua_rawequal(state, -1, 1) != 0;
        ffi::lua_pop(state, 1);
        same
    };
    Some((len, marked || len > 0))
}

/// The string at `index` when it is UTF-8 (mlua reads other bytes as bytes, which `Reader` leaves
/// to it). It lives as long as the state holds the string: the caller keeps it no longer.
unsafe fn utf8<'a>(state: *mut ffi::lua_State, index: c_int) -> Option<&'a str> {
    let mut len = 0;
    let bytes = ffi::lua_tolstring(state, index, &mut len);
    std::str::from_utf8(std::slice::from_raw_parts(bytes.cast::<u8>(), len)).ok()
}

/// Writes `text` as a JSON string, escaped as serde_json escapes it: the quote, the backslash and
/// control characters, those with a short escape by it.
fn quoted(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    // Most strings need no escape: found so, they are copied whole.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        out.extend_from_slice(&[b'\\', short]);
        if short == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}

/// Writes a number as serde_json does.
fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Option<()> {
    serde_json::to_writer(out, value).ok()
}

/// Why `Reader` stopped: whatever it is, mlua's serde reads the value again and says it.
#[derive(Debug)]
struct Bail;

impl fmt::Display for Bail {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("left to mlua's serde")
    }
}

impl std::error::Error for Bail {}

impl de::Error for Bail {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Bail
    }
}

/// The value at `index` (absolute) of a state whose index 1 holds the array metatable, read as
/// mlua's `Deserializer` reads it (with its default options); the stack is left as found.
struct Reader<'p> {
    state: *mut ffi::lua_State,
    index: c_int,
    depth: usize,
    /// The tables being read, outermost first, and how many more may be entered.
    path: &'p RefCell<(Vec<*const c_void>, usize)>,
}

/// A table `Reader` is inside of, until dropped.
struct Inside<'p>(&'p RefCell<(Vec<*const c_void>, usize)>);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().0.pop();
    }
}

impl<'p> Reader<'p> {
    /// Notes that the table at `index` is being read: one inside itself is left to mlua, which
    /// says so (rather than reading it round and round down to `DEPTH`).
    fn enter(&self) -> Result<Inside<'p>, Bail> {
        // SAFETY: reads the identity of the value at `index`.
        let at = unsafe { ffi::lua_topointer(self.state, self.index) };
        let mut walk = self.path.borrow_mut();
        let (path, left) = &mut *walk;
        if path.contains(&at) {
            return Err(Bail);
        }
        *left = left.checked_sub(1).ok_or(Bail)?;
        path.push(at);
        Ok(Inside(self.path))
    }

    /// The value at `index`, one level down from this table: past `DEPTH` (or round a cycle)
    /// mlua's serde takes over.
    fn child(&self, index: c_int) -> Result<Reader<'p>, Bail> {
        Ok(Reader { state: self.state, index, depth: self.depth.checked_sub(1).ok_or(Bail)?, path: self.path })
    }

    unsafe fn string(&self) -> Result<&str, Bail> {
        utf8(self.state, self.index).ok_or(Bail)
    }

    fn table(&self) -> bool {
        // SAFETY: reads a type tag.
        unsafe { ffi::lua_type(self.state, self.index) == ffi::LUA_TTABLE }
    }
}

impl<'de> de::Deserializer<'de> for Reader<'_> {
    type Error = Bail;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        // SAFETY: each arm reads the value at `index`, whose type it has checked.
        unsafe {
            match ffi::lua_type(self.state, self.index) {
                ffi::LUA_TNIL => visitor.visit_unit(),
                ffi::LUA_TBOOLEAN => visitor.visit_bool(ffi::lua_toboolean(self.state, self.index) != 0),
                ffi::LUA_TNUMBER => {
                    let n = ffi::lua_tonumber(self.state, self.index);
                    if n.to_bits() != (n as i64 as f64).to_bits() {
                        visitor.visit_f64(n)
                    } else if n.abs() < EXACT {
                        visitor.visit_i64(n as i64)
                    } else {
                        Err(Bail)
                    }
                }
                ffi::LUA_TSTRING => visitor.visit_str(self.string()?),
                ffi::LUA_TTABLE => match array(self.state, self.index).ok_or(Bail)? {
                    (len, true) => Items { table: self, next: 1, len }.visit(visitor),
                    (_, false) => Members { table: self, iter: 0, pending: None }.visit(visitor),
                },
                _ => Err(Bail),
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        // SAFETY: reads a type tag.
        match unsafe { ffi::lua_type(self.state, self.index) } {
            ffi::LUA_TNIL => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// mlua reads any table as a sequence here, from 1 up to its length (nothing, for a table
    /// without one).
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        if !self.table() {
            return Err(Bail);
        }
        // SAFETY: the value at `index` is a table.
        let (len, _) = unsafe { array(self.state, self.index).ok_or(Bail)? };
        Items { table: self, next: 1, len }.visit(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Bail> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Bail> {
        self.deserialize_seq(visitor)
    }

    /// mlua reads any table as a map here, an array too.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        if !self.table() {
            return Err(Bail);
        }
        Members { table: self, iter: 0, pending: None }.visit(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Bail> {
        self.deserialize_map(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Bail> {
        visitor.visit_newtype_struct(self)
    }

    /// mlua's own reading of enums is left to it.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Bail> {
        Err(Bail)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit unit_struct
        identifier ignored_any
    }
}

/// A table's values from 1 to its length, as mlua's sequence reads them (nil as nil).
struct Items<'p> {
    table: Reader<'p>,
    next: usize,
    len: usize,
}

impl Items<'_> {
    /// mlua takes a sequence only when the visitor read all of it.
    fn visit<'de, V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Bail> {
        let _inside = self.table.enter()?;
        let read = visitor.visit_seq(&mut self)?;
        match de::SeqAccess::next_element::<de::IgnoredAny>(&mut self)? {
            None => Ok(read),
            Some(_) => Err(Bail),
        }
    }
}

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = Bail;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Bail> {
        let Reader { state, index, .. } = self.table;
        // SAFETY: the table is at `index`; `array` made room for the one value pushed here, and
        // the stack is set back to its height before the push however the value was read.
        unsafe {
            let height = ffi::lua_gettop(state);
            let kind = ffi::lua_rawgeti(state, index, self.next as ffi::lua_Integer);
            let item = if self.next > self.len && kind == ffi::LUA_TNIL {
                Ok(None)
            } else {
                self.next += 1;
                self.table.child(height + 1).and_then(|item| seed.deserialize(item)).map(Some)
            };
            ffi::lua_settop(state, height);
            item
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len.saturating_sub(self.next - 1))
    }
}

/// A table's pairs, as mlua's map reads them; only string keys are taken.
struct Members<'p> {
    table: Reader<'p>,
    iter: c_int,
    /// The stack's height under the pair whose key was read last, until its value is read.
    pending: Option<c_int>,
}

impl Members<'_> {
    /// mlua takes a map only when the visitor read all of it.
    fn visit<'de, V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Bail> {
        let _inside = self.table.enter()?;
        let read = visitor.visit_map(&mut self)?;
        match (self.pending, de::MapAccess::next_key::<de::IgnoredAny>(&mut self)?) {
            (None, None) => Ok(read),
            _ => Err(Bail),
        }
    }
}

impl<'de> de::MapAccess<'de> for Members<'_> {
    type Error = Bail;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Bail> {
        let Reader { state, index, .. } = self.table;
        // SAFETY: the table is at `index`; `rawiter` pushes a key and its value, for which room
        // is made first. They stay until `next_value_seed` has read the value, or go now when the
        // key is not taken.
        unsafe {
            if self.iter < 0 {
                return Ok(None);
            }
            if ffi::lua_checkstack(state, 2) == 0 {
                return Err(Bail);
            }
            let height = ffi::lua_gettop(state);
            self.iter = ffi::lua_rawiter(state, index, self.iter);
            if self.iter < 0 {
                return Ok(None);
            }
            let key = match ffi::lua_type(state, -2) {
                ffi::LUA_TSTRING => {
                    seed.deserialize(Reader { state, index: height + 1, depth: 0, path: self.table.path })
                }
                _ => Err(Bail),
            };
            match key {
                Ok(_) => self.pending = Some(height),
                Err(_) => ffi::lua_settop(state, height),
            }
            key.map(Some)
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Bail> {
        let height = self.pending.take().ok_or(Bail)?;
        let value = self.table.child(height + 2).and_then(|value| seed.deserialize(value));
        // SAFETY: takes the key and value `next_key_seed` left, and whatever reading left above.
        unsafe { ffi::lua_settop(self.table.state, height) };
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lua() -> Lua {
        let lua = Lua::new();
        lua.set_memory_limit(1 << 20).unwrap();
        lua
    }

    /// What mlua's serde makes of `value`, and what these functions make of it, are the same.
    fn round_trip(lua: &Lua, value: &Json) {
        let options = mlua::serde::SerializeOptions::new().serialize_none_to_null(false).serialize_unit_to_null(false);
        let theirs = lua.to_value_with(value, options).unwrap();
        let ours = to_lua(lua, &[value]).unwrap().pop_front().unwrap();
        let read_theirs: Json = lua.from_value(theirs).unwrap();
        assert_eq!(lua.from_value::<Json>(ours.clone()).unwrap(), read_theirs, "{value}");
        assert_eq!(encode(lua, ours.clone()).unwrap(), serde_json::to_string(&read_theirs).unwrap(), "{value}");
        assert!(read::<Json>(lua, &ours).is_none_or(|read| read == read_theirs), "{value}");
    }

    #[test]
    fn values_cross_as_mluas_serde_carries_them() {
        let lua = lua();
        for value in [
            json!(null),
            json!(true),
            json!(6540),
            json!(-1),
            json!(65.4),
            json!(-0.0),
            json!(u64::MAX),
            json!("text"),
            json!(""),
            json!([]),
            json!({}),
            json!([1, "two", [3], {}, null, 5]),
            json!({ "a": { "b": [{ "c": null, "d": 1.5 }] }, "e": null, "f": [] }),
        ] {
            round_trip(&lua, &value);
        }
        let value = json!({ "amount": 6540, "nested": { "list": ["a", "b", null, 4] }, "empty": [] });
        let ours = to_lua(&lua, &[&value]).unwrap().pop_front().unwrap();
        assert_eq!(read::<Json>(&lua, &ours), Some(value.clone()), "read without mlua's serde");
        assert_eq!(written(&lua, &ours), Some(value.to_string()), "written without mlua's serde");
    }

    /// Lua values as mlua reads them into `T`, whether `Reader` reads them or leaves them to it.
    fn reads_as<T: DeserializeOwned + PartialEq + std::fmt::Debug>(lua: &Lua, sources: &[&str]) {
        for source in sources {
            let value: Value = lua.load(*source).eval().unwrap();
            let theirs = lua.from_value::<T>(value.clone()).map_err(|e| e.to_string());
            let ours = from_lua::<T>(lua, value.clone()).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{source}");
            if let Some(read) = read::<T>(lua, &value) {
                assert_eq!(Ok(read), theirs, "{source}");
            }
        }
    }

    #[test]
    fn lua_values_read_as_mluas_serde_reads_them() {
        let lua = lua();
        let odd = [
            "return { f = function() end }",
            "return { 1, nil, 3 }",
            "return { [2] = 2 }",
            "return { 1, 2, x = 3 }",
            "return { [true] = 1 }",
            "return '\\255'",
            "return { ['\\255'] = 1 }",
            "return 0/0",
            "return -0.0",
            "return 2^53",
            "return 2^63",
            "return { n = 1/0 }",
            "local t = {} t.self = t return t",
            // Read round and round, a table inside itself with more than one way back in would
            // take 2^DEPTH steps.
            "local t = { status = 'charged' } t.headers = { loop = t } t.list = { t, t } t.self = t return t",
            "return nil",
        ];
        reads_as::<Json>(&lua, &odd);
        for source in
            odd.iter().chain(&["return { b = 1, a = { 'x', nil, 'z' }, ['é'] = { c = '\\n\"' }, [''] = 0.5 }"])
        {
            let value: Value = lua.load(*source).eval().unwrap();
            let theirs = lua.from_value::<Json>(value.clone()).map(|v| serde_json::to_string(&v).unwrap());
            assert_eq!(encode(&lua, value).map_err(|e| e.to_string()), theirs.map_err(|e| e.to_string()), "{source}");
        }
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Answer {
            status: String,
            #[serde(default)]
            id: Option<String>,
            #[serde(default)]
            amount: Option<i64>,
            #[serde(default)]
            list: Vec<String>,
            #[serde(default)]
            pair: Option<(String, String)>,
        }
        reads_as::<Answer>(&lua, &odd);
        reads_as::<Answer>(
            &lua,
            &[
                "return { status = 'charged', id = 'x', amount = 6540, list = { 'a' }, pair = { 'u', 'p' } }",
                "return { status = 'charged', list = {}, extra = { 1, 2 } }",
                "return { status = 'charged', list = { a = 1 } }",
                "return { 'charged' }",
                "return { status = 1 }",
                "return { status = 'charged', amount = 65.4 }",
                "return { status = 'charged', amount = 2^60 }",
                "return { status = 'charged', pair = { 'u' } }",
                "return { status = 'charged', pair = { 'u', 'p', 'q' } }",
                "return { id = 'x' }",
            ],
        );
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut text: String = (0u8..0x80).map(char::from).collect();
        text.push_str("é€😀\u{2028}");
        let mut out = Vec::new();
        quoted(&mut out, &text);
        assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&text).unwrap());
    }

    #[test]
    fn deep_values_are_left_to_mluas_serde() {
        let lua = lua();
        for levels in [DEPTH - 1, DEPTH, 100, 200] {
            let mut deep = json!({ "bottom": true });
            for _ in 0..levels {
                deep = json!([deep]);
            }
            let options =
                mlua::serde::SerializeOptions::new().serialize_none_to_null(false).serialize_unit_to_null(false);
            let theirs = lua.to_value_with(&deep, options).map_err(|e| e.to_string());
            let ours = to_lua(&lua, &[&json!(1), &deep]).map_err(|e| e.to_string());
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => {
                    assert_eq!(ours.len(), 2);
                    let read = |v: Value| lua.from_value::<Json>(v).map_err(|e| e.to_string());
                    assert_eq!(read(ours[1].clone()), read(theirs), "{levels}");
                }
                (ours, theirs) => assert_eq!(ours.map(drop), theirs.map(drop), "{levels}"),
            }
        }
    }

    #[test]
    fn a_value_standing_for_too_many_tables_is_refused_whatever_reads_it() {
        let lua = lua();
        let value = |source: &str| lua.load(source).eval::<Value>().unwrap();
        let refused = |e: mlua::Error| e.to_string().contains("more than 10000 tables");
        // 41 tables standing in 2^41 places: read place by place, it would never end.
        let shared = value("local a = {} for _ = 1, 40 do a = { a, a } end return a");
        assert!(from_lua::<Json>(&lua, shared.clone()).is_err_and(refused));
        assert!(encode(&lua, shared).is_err_and(refused));
        // Where the fast path leaves a value to mlua's serde (bytes that are not UTF-8), too.
        let with_bytes = value("local a = {} for _ = 1, 40 do a = { a, a } end return { '\\255', a }");
        assert!(from_lua::<Json>(&lua, with_bytes).is_err_and(refused));
        // A table in many places, within the bound, reads as mlua reads it.
        let within = value("local a = {} for _ = 1, 10 do a = { a, a } end return a");
        assert_eq!(from_lua::<Json>(&lua, within.clone()).unwrap(), lua.from_value::<Json>(within).unwrap());
    }

    #[test]
    fn a_memory_limit_fails_the_conversion_only() {
        let lua = lua();
        let big = json!(["x".repeat(1 << 19), "y".repeat(1 << 19), "z".repeat(1 << 19)]);
        assert!(to_lua(&lua, &[&big]).is_err());
        lua.gc_collect().unwrap();
        let seven = to_lua(&lua, &[&json!(7)]).unwrap().pop_front().unwrap();
        assert_eq!(read::<i64>(&lua, &seven), Some(7));
    }
}
