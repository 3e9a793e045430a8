//! The routing engine: one evaluator per worker thread that runs compiled scripts.
//!
//! A request brings the script of the configuration version it runs on; the engine runs it on
//! its own thread's Luau state, loading a script's bytecode into that state the first time the
//! thread meets that version. Nothing is locked across threads and no state is made per
//! request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

// The per-thread maps below are keyed by ids and names the daemon itself made: a fast hash is safe.
use mlua::{Function, Lua, Table, Value};
use rustc_hash::FxHashMap;

use super::scripts::Script;
use super::view::{Answer, ViewCaller};
use crate::connectors::health::HealthSnapshot;
use crate::domain::decision::RoutingView;
use crate::lua::{unmetered, Budget, Fresh, Loaded, Sandbox, ScriptError};
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

    pub(crate) fn contains(&self, name: &str) -> bool {
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

    /// Whether the health of the accounts differs from `flags` (one per name, in order).
    fn flags_differ(&self, flags: &[bool]) -> bool {
        match self {
            Accounts::Profile(p) => {
                let mut enabled = p.accounts.iter().filter(|a| a.enabled);
                let differ = flags.iter().any(|was| enabled.next().is_none_or(|a| a.health.is_healthy() != *was));
                differ || enabled.next().is_some()
            }
            Accounts::Fixed { .. } => true,
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
    view: ViewCaller,
    scope: Rc<RefCell<Scope>>,
    helpers: Helpers,
    loaded: FxHashMap<String, LoadedScript>,
    contexts: FxHashMap<u64, Context>,
}

/// A script as loaded into one state: the version, its routing function, and what to put back
/// after each call.
struct LoadedScript {
    hash: Arc<str>,
    function: Function,
    fresh: Fresh,
}

/// The host functions every `ctx` shares, and the Luau function that assembles a `ctx`.
struct Helpers {
    make_ctx: Function,
    split: Function,
    health: Function,
    now: Function,
}

/// `ctx` for one account list, built once per worker; its health flags are rewritten only when
/// an account's health changes, so a script that reads them (`first_healthy`) calls no host code.
/// `healthy[1]` holds how many accounts are unhealthy, so the common case costs one lookup.
struct Context {
    table: Table,
    healthy: Table,
    flags: Vec<bool>,
}

/// Writes the health flags of `names` into a `healthy` table, with the count of unhealthy ones.
fn write_flags(healthy: &Table, names: &[&str], flags: &[bool]) -> mlua::Result<()> {
    healthy.set_readonly(false);
    for (name, flag) in names.iter().zip(flags) {
        healthy.raw_set(*name, *flag)?;
    }
    healthy.raw_set(1, flags.iter().filter(|f| !**f).count())?;
    healthy.set_readonly(true);
    Ok(())
}

/// Assembles a frozen `ctx`. `first_healthy` lives here, in Luau, reading the health flags.
const MAKE_CTX: &str = r#"
local freeze = table.freeze
return function(accounts, healthy, split, health, now)
  local function first_healthy(list)
    if healthy[1] == 0 then
      return list
    end
    local out, later = {}, nil
    for _, name in ipairs(list) do
      if healthy[name] == false then
        later = later or {}
        later[#later + 1] = name
      else
        out[#out + 1] = name
      end
    end
    if later then
      for _, name in ipairs(later) do out[#out + 1] = name end
    end
    return out
  end
  return freeze({ accounts = accounts, split = split, health = health, now = now, first_healthy = first_healthy })
end
"#;

/// How many profiles' `ctx` one worker keeps.
const MAX_CONTEXTS: usize = 4096;

static ENGINES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static EVALUATORS: RefCell<FxHashMap<u64, Evaluator>> = RefCell::new(FxHashMap::default());
}

pub struct Engine {
    id: u64,
    limits: Budget,
}

impl Engine {
    pub fn new(limits: Budget) -> Self {
        Self { id: ENGINES.fetch_add(1, Ordering::Relaxed), limits }
    }

    /// Runs `script` for one payment on this thread's state.
    pub fn evaluate(
        &self,
        script: &Script,
        accounts: &Accounts,
        view: &RoutingView,
        now: f64,
    ) -> Result<Choice, ScriptError> {
        EVALUATORS.with(|cell| {
            let mut evaluators = cell.borrow_mut();
            let evaluator = match evaluators.entry(self.id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(Evaluator::new(self.limits)?),
            };
            let choice = evaluator.evaluate(script, accounts, view, now);
            if evaluator.sandbox.spent() {
                evaluators.remove(&self.id);
            }
            choice
        })
    }
}

/// Loads `script` on a state of its own and checks that it yields a routing function, so a file
/// that compiles but defines nothing is refused at load rather than failing every payment.
pub fn check_loads(limits: Budget, script: &Script) -> Result<(), ScriptError> {
    let sandbox = Sandbox::new(limits)?;
    loaded_function(&sandbox, &mut FxHashMap::default(), script).map(|_| ())
}

/// Evaluates `script` on a state of its own, as golden cases and dry runs do: nothing is shared
/// with the workers serving requests.
pub fn evaluate_alone(
    limits: Budget,
    script: &Script,
    accounts: &Accounts,
    view: &RoutingView,
    now: f64,
) -> Result<Choice, ScriptError> {
    Evaluator::new(limits)?.evaluate(script, accounts, view, now)
}

/// Runs `script` over `runs` on one state of its own, as the load-time sweep does, stopping at the
/// first run that errs, overruns its budget, or answers what routing would not take. A name the
/// accounts do not list is taken when `known` knows it: an account the profile has but disabled
/// makes a live decision fall back, which an operator disabling it in a hurry means to happen.
/// Answers the index of the failing run and why.
pub fn sweep<'a>(
    limits: Budget,
    script: &Script,
    runs: impl IntoIterator<Item = (&'a Accounts, &'a RoutingView)>,
    known: &dyn Fn(&str) -> bool,
) -> Result<(), (usize, ScriptError)> {
    let mut evaluator = Evaluator::new(limits).map_err(|e| (0, e))?;
    for (i, (accounts, view)) in runs.into_iter().enumerate() {
        let mut answer = evaluator.answer(script, accounts, view, 0.0).map_err(|e| (i, e))?;
        let disabled = |name: &String| !accounts.contains(name) && known(name);
        // An answer of only disabled accounts is a fallback at run time, not a fault.
        let only_disabled = !answer.candidates.is_empty() && answer.candidates.iter().all(disabled);
        if !only_disabled || answer.problem.is_some() {
            answer.candidates.retain(|name| !disabled(name));
            choice(answer, accounts).map_err(|e| (i, e))?;
        }
        if evaluator.sandbox.spent() {
            return Err((i, ScriptError::Memory(limits.memory_bytes)));
        }
    }
    Ok(())
}

fn lua_err(e: mlua::Error) -> ScriptError {
    ScriptError::Runtime(e.to_string())
}

impl Evaluator {
    fn new(limits: Budget) -> Result<Self, ScriptError> {
        let sandbox = Sandbox::new(limits)?;
        let scope = Rc::new(RefCell::new(Scope { accounts: None, now: 0.0 }));
        let view = ViewCaller::new(&sandbox)?;
        let helpers = helpers(&sandbox, &scope, limits.memory_bytes)?;
        Ok(Self { sandbox, view, scope, helpers, loaded: FxHashMap::default(), contexts: FxHashMap::default() })
    }

    fn evaluate(
        &mut self,
        script: &Script,
        accounts: &Accounts,
        p: &RoutingView,
        now: f64,
    ) -> Result<Choice, ScriptError> {
        choice(self.answer(script, accounts, p, now)?, accounts)
    }

    /// What `script` answers for `p`, unchecked.
    fn answer(
        &mut self,
        script: &Script,
        accounts: &Accounts,
        p: &RoutingView,
        now: f64,
    ) -> Result<Answer, ScriptError> {
        let ctx = self.context(accounts)?;
        let script = loaded_function(&self.sandbox, &mut self.loaded, script)?;
        *self.scope.borrow_mut() = Scope { accounts: Some(accounts.clone()), now };
        let answer = self.view.call(&self.sandbox, &script.function, &script.fresh, &ctx, p);
        self.scope.borrow_mut().accounts = None;
        answer
    }

    /// The `ctx` for `accounts`, its health flags brought up to date.
    fn context(&mut self, accounts: &Accounts) -> Result<Table, ScriptError> {
        if let Some(context) = accounts.key().and_then(|k| self.contexts.get_mut(&k)) {
            if accounts.flags_differ(&context.flags) {
                let flags: Vec<bool> = accounts.names().iter().map(|n| accounts.is_healthy(n)).collect();
                let healthy = &context.healthy;
                self.sandbox.unmetered(|_| write_flags(healthy, &accounts.names(), &flags))?;
                context.flags = flags;
            }
            return Ok(context.table.clone());
        }
        let names = accounts.names();
        let flags: Vec<bool> = names.iter().map(|n| accounts.is_healthy(n)).collect();
        let (list, healthy) = self.sandbox.unmetered(|lua| {
            let list = lua.create_sequence_from(names.iter().copied())?;
            list.set_readonly(true);
            let healthy = lua.create_table()?;
            write_flags(&healthy, &names, &flags)?;
            Ok((list, healthy))
        })?;
        let h = &self.helpers;
        let table: Table = self.sandbox.call(&h.make_ctx, (list, healthy.clone(), &h.split, &h.health, &h.now))?;
        if let Some(k) = accounts.key() {
            // Each configuration version brings profiles of its own: the contexts of versions
            // no longer serving are let go at once, rather than tracked.
            if self.contexts.len() >= MAX_CONTEXTS {
                self.contexts.clear();
            }
            self.contexts.insert(k, Context { table: table.clone(), healthy, flags });
        }
        Ok(table)
    }
}

/// The script's function, loaded into this state once per version.
fn loaded_function<'a>(
    sandbox: &Sandbox,
    loaded: &'a mut FxHashMap<String, LoadedScript>,
    script: &Script,
) -> Result<&'a LoadedScript, ScriptError> {
    let current = loaded.get(&script.name).is_some_and(|l| l.hash == script.hash);
    if !current {
        let Loaded { env, returned, fresh } = sandbox.load(&script.name, &script.bytecode)?;
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
        loaded.insert(script.name.clone(), LoadedScript { hash: script.hash.clone(), function: f, fresh });
    }
    Ok(&loaded[&script.name])
}

/// Checks a script's answer: a non-empty list of distinct, enabled account names, and maybe a
/// reason.
fn choice(answer: Answer, accounts: &Accounts) -> Result<Choice, ScriptError> {
    if let Some(problem) = answer.problem {
        return Err(ScriptError::BadResult(problem));
    }
    for (i, name) in answer.candidates.iter().enumerate() {
        if !accounts.contains(name) {
            return Err(ScriptError::BadResult(format!(
                "`{name}` is not an enabled connector account of this profile"
            )));
        }
        if answer.candidates[..i].contains(name) {
            return Err(ScriptError::BadResult(format!("`{name}` appears twice")));
        }
    }
    if answer.candidates.is_empty() {
        return Err(ScriptError::BadResult("the script returned an empty list".into()));
    }
    Ok(Choice { candidates: answer.candidates, reason: answer.reason })
}

/// The host functions of `ctx`, made once per worker. Their own allocations are bounded by what
/// the script passes them, so they run unmetered.
fn helpers(sandbox: &Sandbox, scope: &Rc<RefCell<Scope>>, limit: usize) -> Result<Helpers, ScriptError> {
    let lua = sandbox.lua();
    let split = lua
        .create_function(move |lua, (id, weights): (mlua::LuaString, Table)| {
            unmetered(lua, limit, || split(lua, &id.as_bytes(), weights))
        })
        .map_err(lua_err)?;
    let s = scope.clone();
    let health = lua
        .create_function(move |lua, name: mlua::LuaString| {
            let name = name.to_str()?;
            let health = s.borrow().accounts.as_ref().and_then(|a| a.health(&name));
            unmetered(lua, limit, || match health {
                None => Ok(Value::Nil),
                Some(h) => {
                    let t = lua.create_table()?;
                    t.raw_set("calls", h.calls)?;
                    t.raw_set("success_rate", h.success_rate)?;
                    t.raw_set("p95_ms", h.p95_ms())?;
                    t.raw_set("healthy", h.is_healthy())?;
                    t.raw_set("circuit", h.circuit.as_str())?;
                    Ok(Value::Table(t))
                }
            })
        })
        .map_err(lua_err)?;
    let s = scope.clone();
    let now = lua.create_function(move |_, ()| Ok(s.borrow().now)).map_err(lua_err)?;
    let bytecode = crate::lua::compile("ctx", MAKE_CTX)?;
    let Value::Function(make_ctx) = sandbox.load("ctx", &bytecode)?.returned else {
        return Err(ScriptError::BadResult("the ctx builder did not load".into()));
    };
    Ok(Helpers { make_ctx, split, health, now })
}

/// Weights above this count as this much, so that any number of them adds up without overflow.
const MAX_WEIGHT: f64 = 1e12;

/// A deterministic weighted split: the same payment id always lands on the same account, and
/// over many ids each account gets its weight's share. The chosen account comes first, the others
/// follow by weight as fallbacks.
fn split(lua: &Lua, id: &[u8], weights: Table) -> mlua::Result<Table> {
    let mut entries: Vec<(String, u64)> = Vec::new();
    for pair in weights.pairs::<String, f64>() {
        let (name, weight) = pair?;
        if weight.is_finite() && weight >= 1.0 {
            entries.push((name, weight.min(MAX_WEIGHT) as u64));
        }
    }
    // Table order is arbitrary in Lua; names give a stable one.
    entries.sort();
    let total = entries.iter().fold(0u64, |sum, (_, w)| sum.saturating_add(*w));
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lua::compile;

    const LIMITS: Budget = Budget { time_budget: Duration::from_millis(50), memory_bytes: 8 << 20 };

    fn script(source: &str) -> Script {
        Script::new("t".into(), "t.lua".into(), "000000000000".into(), compile("t.lua", source).unwrap())
    }

    fn fixed(names: &[&str]) -> Accounts {
        Accounts::Fixed { names: names.iter().map(|s| s.to_string()).collect(), health: HashMap::new() }
    }

    fn run(source: &str, view: &RoutingView) -> Result<Choice, ScriptError> {
        evaluate_alone(LIMITS, &script(source), &fixed(&["a", "b", "c"]), view, 0.0)
    }

    #[test]
    fn split_is_deterministic_and_proportional() {
        let engine = Engine::new(LIMITS);
        let s = script("return function(p, ctx) return ctx.split(p.id, { a = 70, b = 20, c = 10 }) end");
        let accounts = fixed(&["a", "b", "c"]);
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut view = RoutingView::default();
        for i in 0..10_000 {
            view.id = format!("sy_pay_{i:032x}");
            let first = engine.evaluate(&s, &accounts, &view, 0.0).unwrap();
            let again = engine.evaluate(&s, &accounts, &view, 0.0).unwrap();
            assert_eq!(first, again, "the same id always lands on the same account");
            assert_eq!(first.candidates.len(), 3, "the others follow as fallbacks");
            *counts.entry(first.candidates[0].clone()).or_default() += 1;
        }
        let share = |name: &str| counts.get(name).copied().unwrap_or(0) as f64 / 10_000.0;
        assert!((share("a") - 0.70).abs() < 0.02, "{counts:?}");
        assert!((share("b") - 0.20).abs() < 0.02, "{counts:?}");
        assert!((share("c") - 0.10).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn fallbacks_after_the_chosen_account_follow_by_weight() {
        let view = RoutingView { id: "x".into(), ..RoutingView::default() };
        let choice = run("return function(p, ctx) return ctx.split(p.id, { a = 1, b = 5, c = 3 }) end", &view).unwrap();
        let rest: Vec<&str> = choice.candidates[1..].iter().map(String::as_str).collect();
        let expected: Vec<&str> = ["b", "c", "a"].into_iter().filter(|n| *n != choice.candidates[0]).collect();
        assert_eq!(rest, expected);
    }

    #[test]
    fn answers_that_are_not_lists_of_enabled_accounts_are_refused() {
        let view = RoutingView::default();
        for (source, why) in [
            ("return function() return 42 end", "instead of a list"),
            ("return function() return {} end", "empty"),
            ("return function() return {'a', 'a'} end", "twice"),
            ("return function() return {'zzz'} end", "not an enabled connector account"),
            ("return function() return {1} end", "only names"),
            ("return function() return {'a'}, 7 end", "reason must be a string"),
            ("return 1", "must return a function"),
        ] {
            match run(source, &view) {
                Err(ScriptError::BadResult(m)) => assert!(m.contains(why), "{source}: {m}"),
                other => panic!("{source}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_route_function_works_like_a_returned_one_and_sees_the_view() {
        let view = RoutingView {
            currency: "EUR".into(),
            amount: 150_000,
            card: Some(crate::domain::decision::CardView {
                network: Some("Visa".into()),
                bin: Some("424242".into()),
                issuing_country: None,
            }),
            metadata: serde_json::json!({"tier": "gold"}).as_object().cloned(),
            ..RoutingView::default()
        };
        let source = r#"
            function route(p, ctx)
              if p.currency == "EUR" and p.amount >= 100000 and p.card.network == "Visa" and p.metadata.tier == "gold" then
                return { "b", "a" }, "large gold EUR on " .. p.card.bin
              end
              return { "a" }
            end"#;
        let choice = run(source, &view).unwrap();
        assert_eq!(choice.candidates, ["b", "a"]);
        assert_eq!(choice.reason.as_deref(), Some("large gold EUR on 424242"));
    }

    #[test]
    fn the_view_is_read_only_and_nothing_leaks_between_payments() {
        let engine = Engine::new(LIMITS);
        let s = script(
            r#"return function(p, ctx)
                 if p.id == "first" then pcall(function() p.sticky = "yes" end) end
                 return { p.sticky and "b" or "a" }
               end"#,
        );
        let accounts = fixed(&["a", "b"]);
        let first = RoutingView { id: "first".into(), ..RoutingView::default() };
        let second = RoutingView { id: "second".into(), ..RoutingView::default() };
        assert_eq!(engine.evaluate(&s, &accounts, &first, 0.0).unwrap().candidates, ["a"]);
        assert_eq!(engine.evaluate(&s, &accounts, &second, 0.0).unwrap().candidates, ["a"]);
    }

    #[test]
    fn the_clock_is_the_one_given() {
        let choice = run("return function(p, ctx) return { 'a' }, tostring(ctx.now()) end", &RoutingView::default());
        assert_eq!(choice.unwrap().reason.as_deref(), Some("0"));
    }
}
