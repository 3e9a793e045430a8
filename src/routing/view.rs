//! The payment as a routing script sees it: a few fields, no card number. It is stored with the
//! decision, so a replay can ask a new script about the same payment, and it is what golden cases
//! describe.
//!
//! Crossing from Rust into Lua costs more than running a typical script, so the view is not built
//! field by field from Rust: a small host function in each worker's state takes the view's values
//! as arguments, builds the tables inside the VM, freezes them, and calls the script, all in one
//! call. Values that repeat from payment to payment (currencies, networks, countries, the profile)
//! are Lua strings made once per worker.

use std::os::raw::c_int;

use mlua::{ffi, Function, Lua, Table, Value};

use crate::domain::decision::RoutingView;
use crate::lua::{compile, Fresh, Sandbox, ScriptError};

/// Builds the view inside the VM and calls the script with it and `ctx`.
const CALL_WITH_VIEW: &str = r#"
return function(data, card_data, view, card)
  return function(script, ctx, metadata, id, amount, currency, method, subtype, billing_country,
                  customer_id, profile_id, attempt, has_card, network, bin, issuing_country)
    data.id = id
    data.amount = amount
    data.currency = currency
    data.payment_method_type = method
    data.payment_method_subtype = subtype
    data.billing_country = billing_country
    data.customer_id = customer_id
    data.profile_id = profile_id
    data.attempt = attempt
    data.metadata = metadata
    if has_card then
      card_data.network = network
      card_data.bin = bin
      card_data.issuing_country = issuing_country
      data.card = card
    else
      data.card = nil
    end
    return script(view, ctx)
  end
end
"#;

/// A frozen, empty table that reads through to `data`, its metatable hidden from scripts.
fn proxy(lua: &Lua, data: &Table) -> mlua::Result<Table> {
    let meta = lua.create_table()?;
    meta.raw_set("__index", data)?;
    meta.raw_set("__metatable", false)?;
    meta.set_readonly(true);
    let proxy = lua.create_table()?;
    proxy.set_metatable(Some(meta))?;
    proxy.set_readonly(true);
    Ok(proxy)
}

/// How many accounts a script may answer; a longer list is not a routing decision.
const MAX_CANDIDATES: usize = 64;

/// Longest account name and reason kept from an answer, in characters.
const MAX_NAME: usize = 128;
const MAX_REASON: usize = 200;

/// Nested metadata deeper than this is cut off: scripts route on flat tags.
const METADATA_DEPTH: usize = 4;

/// What a script answered, read off the Lua stack: its list of names and reason, or what was
/// wrong with them.
#[derive(Debug, Default)]
pub struct Answer {
    pub candidates: Vec<String>,
    pub reason: Option<String>,
    pub problem: Option<String>,
}

/// One worker's way of handing views to scripts.
pub struct ViewCaller {
    call_with_view: Function,
}

impl ViewCaller {
    /// The view each script sees is a frozen proxy over a table rewritten for every payment: no
    /// table is made per call, and a script can neither write to the view nor reach the table
    /// behind it, so nothing carries over from one payment to the next.
    pub fn new(sandbox: &Sandbox) -> Result<Self, ScriptError> {
        let bytecode = compile("view", CALL_WITH_VIEW)?;
        let Value::Function(factory) = sandbox.load("view", &bytecode)?.returned else {
            return Err(ScriptError::BadResult("the view builder did not load".into()));
        };
        let tables = sandbox.unmetered(|lua| {
            let (data, card_data) = (lua.create_table()?, lua.create_table()?);
            let (view, card) = (proxy(lua, &data)?, proxy(lua, &card_data)?);
            Ok((data, card_data, view, card))
        })?;
        let call_with_view = sandbox.call(&factory, tables)?;
        Ok(Self { call_with_view })
    }

    /// Calls `script(view, ctx)` for `p` under the sandbox's budget; `fresh` is put back after.
    ///
    /// The view's scalar fields go onto the Lua stack directly rather than through mlua values:
    /// each mlua value crossing costs more than the script itself (Luau interns strings, so a
    /// repeated currency or network is one hash lookup). The answer is read the same way.
    pub fn call(
        &self,
        sandbox: &Sandbox,
        script: &Function,
        fresh: &Fresh,
        ctx: &Table,
        p: &RoutingView,
    ) -> Result<Answer, ScriptError> {
        let metadata = match &p.metadata {
            Some(m) => Value::Table(sandbox.unmetered(|lua| json_table(lua, m, METADATA_DEPTH))?),
            None => Value::Nil,
        };
        let card = p.card.as_ref();
        let mut answer = Answer::default();
        sandbox.run_fresh(fresh, || {
            // SAFETY: `exec_raw` runs the closure as a protected Lua C function whose stack holds
            // the four values passed (builder, script, ctx, metadata). The closure pushes thirteen
            // more (checked room), calls the builder, and leaves the stack empty. A Lua error can
            // come only from `lua_call` or an allocating push; it unwinds before `read_answer`
            // runs, while the closure holds nothing that needs dropping.
            unsafe {
                sandbox.lua().exec_raw::<()>((&self.call_with_view, script, ctx, metadata), |state| {
                    ffi::lua_checkstack(state, 17);
                    push_str(state, Some(&p.id));
                    ffi::lua_pushinteger(state, p.amount as ffi::lua_Integer);
                    push_str(state, Some(&p.currency));
                    push_str(state, Some(&p.payment_method_type));
                    push_str(state, p.payment_method_subtype.as_deref());
                    push_str(state, p.billing_country.as_deref());
                    push_str(state, p.customer_id.as_deref());
                    push_str(state, Some(&p.profile_id));
                    ffi::lua_pushinteger(state, p.attempt as ffi::lua_Integer);
                    ffi::lua_pushboolean(state, c_int::from(card.is_some()));
                    push_str(state, card.and_then(|c| c.network.as_deref()));
                    push_str(state, card.and_then(|c| c.bin.as_deref()));
                    push_str(state, card.and_then(|c| c.issuing_country.as_deref()));
                    ffi::lua_call(state, 16, 2);
                    read_answer(state, &mut answer);
                    ffi::lua_settop(state, 0);
                })
            }
        })?;
        Ok(answer)
    }
}

unsafe fn push_str(state: *mut ffi::lua_State, s: Option<&str>) {
    match s {
        Some(s) => {
            ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
        }
        None => ffi::lua_pushnil(state),
    }
}

/// Reads the two values the script returned (stack slots 1 and 2) without raising a Lua error.
unsafe fn read_answer(state: *mut ffi::lua_State, out: &mut Answer) {
    let text = |idx, max: usize| {
        let mut len = 0usize;
        let ptr = ffi::lua_tolstring(state, idx, &mut len);
        let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len);
        let mut s = match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        };
        // Fewer bytes than the limit means fewer characters too; only longer strings need a scan.
        if s.len() > max {
            if let Some((cut, _)) = s.char_indices().nth(max) {
                s.truncate(cut);
            }
        }
        s
    };
    match ffi::lua_type(state, 1) {
        ffi::LUA_TTABLE => {
            let n = ffi::lua_objlen(state, 1);
            if n > MAX_CANDIDATES {
                out.problem = Some(format!("the script returned {n} accounts; at most {MAX_CANDIDATES} make sense"));
            }
            for i in 1..=n.min(MAX_CANDIDATES) {
                ffi::lua_rawgeti(state, 1, i as ffi::lua_Integer);
                let is_name = ffi::lua_type(state, -1) == ffi::LUA_TSTRING;
                if is_name {
                    out.candidates.push(text(-1, MAX_NAME));
                }
                ffi::lua_settop(state, -2);
                if !is_name {
                    out.problem = Some("the list of connector accounts may hold only names".into());
                    break;
                }
            }
        }
        other => {
            let kind = std::ffi::CStr::from_ptr(ffi::lua_typename(state, other)).to_string_lossy();
            out.problem = Some(format!("the script returned {kind} instead of a list of connector accounts"));
        }
    }
    match ffi::lua_type(state, 2) {
        ffi::LUA_TNIL => {}
        ffi::LUA_TSTRING => out.reason = Some(text(2, MAX_REASON)),
        other => {
            let kind = std::ffi::CStr::from_ptr(ffi::lua_typename(state, other)).to_string_lossy();
            out.problem.get_or_insert(format!("the reason must be a string, not {kind}"));
        }
    }
}

fn json_table(lua: &Lua, map: &serde_json::Map<String, serde_json::Value>, depth: usize) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, map.len())?;
    for (k, v) in map {
        t.raw_set(k.as_str(), json_value(lua, v, depth)?)?;
    }
    t.set_readonly(true);
    Ok(t)
}

fn json_value(lua: &Lua, v: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => n.as_i64().map(Value::Integer).unwrap_or_else(|| Value::Number(n.as_f64().unwrap_or(0.0))),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Object(m) if depth > 1 => Value::Table(json_table(lua, m, depth - 1)?),
        J::Array(items) if depth > 1 => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, json_value(lua, item, depth - 1)?)?;
            }
            t.set_readonly(true);
            Value::Table(t)
        }
        J::Object(_) | J::Array(_) => Value::Nil,
    })
}
