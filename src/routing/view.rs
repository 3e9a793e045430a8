//! The payment as a routing script sees it: a few fields, no card number. It is stored with the
//! decision, so a replay can ask a new script about the same payment, and it is what golden cases
//! describe.
//!
//! Crossing from Rust into Lua costs more than running a typical script, so the view is not built
//! field by field from Rust: a small host function in each worker's state takes the view's values
//! as arguments, builds the tables inside the VM, freezes them, and calls the script, all in one
//! call. Values that repeat from payment to payment (currencies, networks, countries, the profile)
//! are Lua strings made once per worker.

use std::cell::RefCell;
use std::collections::HashMap;

use mlua::{Function, Lua, LuaString, Table, Value};
use serde::{Deserialize, Serialize};

use crate::lua::{compile, Sandbox, ScriptError};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CardView {
    pub network: Option<String>,
    pub bin: Option<String>,
    pub issuing_country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentView {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub payment_method_type: String,
    pub payment_method_subtype: Option<String>,
    pub card: Option<CardView>,
    pub billing_country: Option<String>,
    pub customer_id: Option<String>,
    pub profile_id: String,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub attempt: u32,
}

impl Default for PaymentView {
    /// What a golden case leaves out: a card payment of 10.00 USD, first attempt.
    fn default() -> Self {
        Self {
            id: "pay_case".into(),
            amount: 1000,
            currency: "USD".into(),
            payment_method_type: "card".into(),
            payment_method_subtype: None,
            card: None,
            billing_country: None,
            customer_id: None,
            profile_id: String::new(),
            metadata: None,
            attempt: 1,
        }
    }
}

/// Builds the view inside the VM and calls the script with it and `ctx`.
const CALL_WITH_VIEW: &str = r#"
local freeze = table.freeze
return function(script, ctx, id, amount, currency, method, subtype, billing_country, customer_id,
                profile_id, attempt, network, bin, issuing_country, metadata)
  local card = nil
  if bin ~= nil or network ~= nil then
    card = freeze({ network = network, bin = bin, issuing_country = issuing_country })
  end
  return script(freeze({
    id = id, amount = amount, currency = currency, payment_method_type = method,
    payment_method_subtype = subtype, billing_country = billing_country, customer_id = customer_id,
    profile_id = profile_id, attempt = attempt, card = card, metadata = metadata,
  }), ctx)
end
"#;

/// One worker's way of handing views to scripts.
pub struct ViewCaller {
    call_with_view: Function,
    values: RefCell<HashMap<Box<str>, LuaString>>,
}

/// The arguments `CALL_WITH_VIEW` takes after the script and `ctx`.
pub type ViewArgs = (Value, i64, Value, Value, Value, Value, Value, Value, u32, Value, Value, Value, Value);

/// Repeated values kept at most; past this the cache starts over.
const VALUE_CACHE: usize = 1024;

/// Nested metadata deeper than this is cut off: scripts route on flat tags.
const METADATA_DEPTH: usize = 4;

impl ViewCaller {
    pub fn new(sandbox: &Sandbox) -> Result<Self, ScriptError> {
        let bytecode = compile("view", CALL_WITH_VIEW)?;
        match sandbox.load("view", &bytecode)?.1 {
            Value::Function(call_with_view) => Ok(Self { call_with_view, values: RefCell::new(HashMap::new()) }),
            _ => Err(ScriptError::BadResult("the view builder did not load".into())),
        }
    }

    pub fn function(&self) -> &Function {
        &self.call_with_view
    }

    /// A value seen often: made once, then reused.
    fn repeated(&self, lua: &Lua, s: Option<&str>) -> mlua::Result<Value> {
        let Some(s) = s else { return Ok(Value::Nil) };
        let mut values = self.values.borrow_mut();
        if let Some(v) = values.get(s) {
            return Ok(Value::String(v.clone()));
        }
        if values.len() >= VALUE_CACHE {
            values.clear();
        }
        let v = lua.create_string(s)?;
        values.insert(s.into(), v.clone());
        Ok(Value::String(v))
    }

    /// The view's values, as `CALL_WITH_VIEW` takes them.
    pub fn args(&self, lua: &Lua, p: &PaymentView) -> mlua::Result<ViewArgs> {
        let card = p.card.as_ref();
        let string = |s: Option<&str>| s.map(|s| lua.create_string(s).map(Value::String)).unwrap_or(Ok(Value::Nil));
        Ok((
            string(Some(&p.id))?,
            p.amount,
            self.repeated(lua, Some(&p.currency))?,
            self.repeated(lua, Some(&p.payment_method_type))?,
            self.repeated(lua, p.payment_method_subtype.as_deref())?,
            self.repeated(lua, p.billing_country.as_deref())?,
            string(p.customer_id.as_deref())?,
            self.repeated(lua, Some(&p.profile_id))?,
            p.attempt,
            self.repeated(lua, card.and_then(|c| c.network.as_deref()))?,
            self.repeated(lua, card.and_then(|c| c.bin.as_deref()))?,
            self.repeated(lua, card.and_then(|c| c.issuing_country.as_deref()))?,
            match &p.metadata {
                Some(m) => Value::Table(json_table(lua, m, METADATA_DEPTH)?),
                None => Value::Nil,
            },
        ))
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
