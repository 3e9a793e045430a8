//! The routing engine: compiled script versions, swapped atomically, and one evaluator per worker
//! thread that runs them.
//!
//! The request path takes a snapshot of the current script set (a lock-free `arc-swap` load),
//! then runs the script on its own thread's Luau state, loading a script's bytecode into that
//! state the first time the thread meets that version. Nothing is locked across threads and no
//! state is made per request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use mlua::{Function, Lua, Table, Value};

use super::scripts::{Script, ScriptSet};
use super::view::{PaymentView, ViewTables};
use crate::connectors::health::HealthSnapshot;
use crate::lua::{Limits, Sandbox, ScriptError};
use crate::merchants::Profile;

/// The accounts a script may choose from, with their health.
#[derive(Clone)]
pub enum Accounts {
    /// A profile's enabled accounts, with live health read when the script asks.
    Profile(Arc<Profile>),
    /// A fixed set, for golden cases and dry runs.
    Fixed { names: Vec<String>, health: HashMap<String, HealthSnapshot> },
}

impl Accounts {
    fn names(&self) -> Vec<&str> {
        match self {
            Accounts::Profile(p) => p.accounts.iter().filter(|a| a.enabled).map(|a| a.name.as_str()).collect(),
            Accounts::Fixed { names, .. } => names.iter().map(String::as_str).collect(),
        }
    }

    fn contains(&self, name: &str) -> bool {
        match self {
            Accounts::Profile(p) => p.account(name).is_some_and(|a| a.enabled),
            Accounts::Fixed { names, .. } => names.iter().any(|n| n == name),
        }
    }

    fn health(&self, name: &str) -> Option<HealthSnapshot> {
        match self {
            Accounts::Profile(p) => p.account(name).map(|a| a.health.snapshot()),
            Accounts::Fixed { names, health } => {
                names.iter().any(|n| n == name).then(|| health.get(name).copied().unwrap_or(HealthSnapshot::UNKNOWN))
            }
        }
    }

    fn is_healthy(&self, name: &str) -> bool {
        match self {
            Accounts::Profile(p) => p.account(name).is_some_and(|a| a.health.is_healthy()),
            Accounts::Fixed { .. } => self.health(name).is_some_and(|h| h.is_healthy()),
        }
    }

    /// Identifies the account list, so a worker builds `ctx.accounts` once per profile.
    fn key(&self) -> Option<u64> {
        match self {
            Accounts::Profile(p) => Some(p.serial),
            Accounts::Fixed { .. } => None,
        }
    }
}

/// What a script answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub candidates: Vec<String>,
    pub reason: Option<String>,
}

/// What the host functions in `ctx` need to know about the call in progress.
struct Scope {
    accounts: Option<Accounts>,
    now: f64,
}

/// One worker thread's Luau state with everything it reuses between calls.
struct Evaluator {
    sandbox: Sandbox,
    view: ViewTables,
    ctx: Table,
    scope: Rc<RefCell<Scope>>,
    loaded: HashMap<String, (String, Function)>,
    account_lists: HashMap<u64, Table>,
}

static ENGINES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static EVALUATORS: RefCell<HashMap<u64, Evaluator>> = RefCell::new(HashMap::new());
}

pub struct Engine {
    id: u64,
    limits: Limits,
    set: ArcSwap<ScriptSet>,
}

impl Engine {
    pub fn new(limits: Limits) -> Self {
        Self { id: ENGINES.fetch_add(1, Ordering::Relaxed), limits, set: ArcSwap::from_pointee(ScriptSet::default()) }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The script set requests see now.
    pub fn current(&self) -> Arc<ScriptSet> {
        self.set.load_full()
    }

    /// Makes `set` the one every later request sees; requests under way finish on the old one.
    pub fn publish(&self, set: ScriptSet) {
        self.set.store(Arc::new(set));
    }

    /// Runs `script` for one payment on this thread's state.
    pub fn evaluate(
        &self,
        script: &Script,
        accounts: &Accounts,
        view: &PaymentView,
        now: f64,
    ) -> Result<Choice, ScriptError> {
        EVALUATORS.with(|cell| {
            let mut evaluators = cell.borrow_mut();
            let evaluator = match evaluators.entry(self.id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(Evaluator::new(self.limits)?),
            };
            evaluator.evaluate(script, accounts, view, now)
        })
    }
}

/// Evaluates `script` on a state of its own, as golden cases and dry runs do: nothing is shared
/// with the workers serving requests.
pub fn evaluate_alone(
    limits: Limits,
    script: &Script,
    accounts: &Accounts,
    view: &PaymentView,
    now: f64,
) -> Result<Choice, ScriptError> {
    Evaluator::new(limits)?.evaluate(script, accounts, view, now)
}

fn lua_err(e: mlua::Error) -> ScriptError {
    ScriptError::Runtime(e.to_string())
}

impl Evaluator {
    fn new(limits: Limits) -> Result<Self, ScriptError> {
        let sandbox = Sandbox::new(limits)?;
        let scope = Rc::new(RefCell::new(Scope { accounts: None, now: 0.0 }));
        let lua = sandbox.lua();
        let view = ViewTables::new(lua).map_err(lua_err)?;
        let ctx = ctx_table(lua, &scope).map_err(lua_err)?;
        Ok(Self { sandbox, view, ctx, scope, loaded: HashMap::new(), account_lists: HashMap::new() })
    }

    fn evaluate(
        &mut self,
        script: &Script,
        accounts: &Accounts,
        p: &PaymentView,
        now: f64,
    ) -> Result<Choice, ScriptError> {
        let function = self.function(script)?;
        let lua = self.sandbox.lua();
        let view = self.view.fill(lua, p).map_err(lua_err)?;
        let list = match accounts.key().and_then(|k| self.account_lists.get(&k)) {
            Some(list) => list.clone(),
            None => {
                let list = lua.create_sequence_from(accounts.names()).map_err(lua_err)?;
                list.set_readonly(true);
                if let Some(k) = accounts.key() {
                    self.account_lists.insert(k, list.clone());
                }
                list
            }
        };
        self.ctx.set_readonly(false);
        self.ctx.raw_set("accounts", list).map_err(lua_err)?;
        self.ctx.set_readonly(true);
        *self.scope.borrow_mut() = Scope { accounts: Some(accounts.clone()), now };
        let result = self.sandbox.call::<_, (Value, Value)>(&function, (view, self.ctx.clone()));
        self.scope.borrow_mut().accounts = None;
        let (list, reason) = result?;
        choice(list, reason, accounts)
    }

    /// The script's function, loaded into this state once per version.
    fn function(&mut self, script: &Script) -> Result<Function, ScriptError> {
        if let Some((hash, f)) = self.loaded.get(&script.name) {
            if *hash == script.hash {
                return Ok(f.clone());
            }
        }
        let (env, returned) = self.sandbox.load(&script.name, &script.bytecode)?;
        let f = match returned {
            Value::Function(f) => f,
            _ => match env.raw_get::<Value>("route").map_err(lua_err)? {
                Value::Function(f) => f,
                _ => {
                    return Err(ScriptError::BadResult(
                        "the script must return a function or define route(payment, ctx)".into(),
                    ))
                }
            },
        };
        self.loaded.insert(script.name.clone(), (script.hash.clone(), f.clone()));
        Ok(f)
    }
}

/// Checks a script's answer: a non-empty list of distinct, enabled account names, and maybe a
/// reason.
fn choice(list: Value, reason: Value, accounts: &Accounts) -> Result<Choice, ScriptError> {
    let bad = |m: String| Err(ScriptError::BadResult(m));
    let Value::Table(t) = list else {
        return bad(format!("the script returned {} instead of a list of connector accounts", list.type_name()));
    };
    let mut candidates: Vec<String> = Vec::new();
    for item in t.sequence_values::<Value>() {
        let Value::String(name) = item.map_err(lua_err)? else {
            return bad("the list of connector accounts may hold only names".into());
        };
        let name = name.to_str().map_err(lua_err)?.to_string();
        if !accounts.contains(&name) {
            return bad(format!("`{name}` is not an enabled connector account of this profile"));
        }
        if candidates.contains(&name) {
            return bad(format!("`{name}` appears twice"));
        }
        candidates.push(name);
    }
    if candidates.is_empty() {
        return bad("the script returned an empty list".into());
    }
    let reason = match reason {
        Value::Nil => None,
        Value::String(s) => Some(s.to_str().map_err(lua_err)?.chars().take(200).collect()),
        other => return bad(format!("the reason must be a string, not {}", other.type_name())),
    };
    Ok(Choice { candidates, reason })
}

/// `ctx`: the accounts of the call (set per call) and the host helpers.
fn ctx_table(lua: &Lua, scope: &Rc<RefCell<Scope>>) -> mlua::Result<Table> {
    let ctx = lua.create_table()?;
    ctx.raw_set(
        "split",
        lua.create_function(|lua, (id, weights): (mlua::LuaString, Table)| split(lua, &id.as_bytes(), weights))?,
    )?;

    let s = scope.clone();
    ctx.raw_set(
        "health",
        lua.create_function(move |lua, name: mlua::LuaString| {
            let name = name.to_str()?;
            let health = s.borrow().accounts.as_ref().and_then(|a| a.health(&name));
            match health {
                None => Ok(Value::Nil),
                Some(h) => {
                    let t = lua.create_table()?;
                    t.raw_set("calls", h.calls)?;
                    t.raw_set("success_rate", h.success_rate)?;
                    t.raw_set("p95_ms", h.p95.as_secs_f64() * 1000.0)?;
                    t.raw_set("healthy", h.is_healthy())?;
                    Ok(Value::Table(t))
                }
            }
        })?,
    )?;

    let s = scope.clone();
    ctx.raw_set(
        "first_healthy",
        lua.create_function(move |lua, list: Table| {
            let scope = s.borrow();
            let healthy = |name: &str| scope.accounts.as_ref().is_some_and(|a| a.is_healthy(name));
            let names: Vec<String> = list.sequence_values::<String>().collect::<mlua::Result<_>>()?;
            let (mut good, bad): (Vec<String>, Vec<String>) = names.into_iter().partition(|n| healthy(n));
            good.extend(bad);
            lua.create_sequence_from(good)
        })?,
    )?;

    let s = scope.clone();
    ctx.raw_set("now", lua.create_function(move |_, ()| Ok(s.borrow().now))?)?;
    ctx.set_readonly(true);
    Ok(ctx)
}

/// A deterministic weighted split: the same payment id always lands on the same account, and
/// over many ids each account gets its weight's share. The chosen account comes first, the others
/// follow by weight as fallbacks.
fn split(lua: &Lua, id: &[u8], weights: Table) -> mlua::Result<Table> {
    let mut entries: Vec<(String, u64)> = Vec::new();
    for pair in weights.pairs::<String, f64>() {
        let (name, weight) = pair?;
        if weight.is_finite() && weight >= 1.0 {
            entries.push((name, weight as u64));
        }
    }
    // Table order is arbitrary in Lua; names give a stable one.
    entries.sort();
    let total: u64 = entries.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return lua.create_table();
    }
    let mut point = bucket_hash(id) % total;
    let chosen = entries
        .iter()
        .position(|(_, w)| {
            if point < *w {
                true
            } else {
                point -= w;
                false
            }
        })
        .unwrap_or(0);
    let first = entries.remove(chosen);
    entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    lua.create_sequence_from(std::iter::once(first.0).chain(entries.into_iter().map(|(n, _)| n)))
}

/// FNV-1a, then a final avalanche, so that ids differing in one character spread evenly.
pub(crate) fn bucket_hash(id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in id {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ceb9fe1a85ec53);
    h ^ (h >> 33)
}
