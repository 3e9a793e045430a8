//! The payment as a routing script sees it: a few fields, no card number. It is stored with the
//! decision, so a replay can ask a new script about the same payment, and it is what golden cases
//! describe.
//!
//! Converting into Lua costs more than running a typical script, so each worker fills one table,
//! kept from call to call and frozen while the script runs, rather than building a new one.

use mlua::{Lua, Table, Value};
use serde::{Deserialize, Serialize};

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

/// The tables one worker reuses for every call.
pub struct ViewTables {
    view: Table,
    card: Table,
}

/// Nested metadata deeper than this is cut off: scripts route on flat tags.
const METADATA_DEPTH: usize = 4;

impl ViewTables {
    pub fn new(lua: &Lua) -> mlua::Result<Self> {
        Ok(Self { view: lua.create_table()?, card: lua.create_table()? })
    }

    /// Fills the reused tables with `p` and returns the view, frozen.
    pub fn fill(&self, lua: &Lua, p: &PaymentView) -> mlua::Result<Table> {
        let (v, c) = (&self.view, &self.card);
        v.set_readonly(false);
        c.set_readonly(false);
        v.raw_set("id", p.id.as_str())?;
        v.raw_set("amount", p.amount)?;
        v.raw_set("currency", p.currency.as_str())?;
        v.raw_set("payment_method_type", p.payment_method_type.as_str())?;
        v.raw_set("payment_method_subtype", p.payment_method_subtype.as_deref())?;
        v.raw_set("billing_country", p.billing_country.as_deref())?;
        v.raw_set("customer_id", p.customer_id.as_deref())?;
        v.raw_set("profile_id", p.profile_id.as_str())?;
        v.raw_set("attempt", p.attempt)?;
        match &p.card {
            Some(card) => {
                c.raw_set("network", card.network.as_deref())?;
                c.raw_set("bin", card.bin.as_deref())?;
                c.raw_set("issuing_country", card.issuing_country.as_deref())?;
                v.raw_set("card", c)?;
            }
            None => v.raw_set("card", Value::Nil)?,
        }
        match &p.metadata {
            Some(m) => v.raw_set("metadata", json_table(lua, m, METADATA_DEPTH)?)?,
            None => v.raw_set("metadata", Value::Nil)?,
        }
        c.set_readonly(true);
        v.set_readonly(true);
        Ok(v.clone())
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
