//! The sandboxed Luau runtime that routing scripts (and connector plugins) run in.
//!
//! A `Sandbox` is one Luau state: standard libraries read-only, no `require`, no `loadstring`, no
//! `getfenv`/`setfenv`, no `debug`, `io` or `os`; every call runs under a deadline enforced by
//! Luau's interrupt (so a runaway loop fails its call, not the daemon) and the whole state under a
//! memory limit. Scripts are compiled to bytecode once, off the request path (`compile`), and
//! each loaded into its own environment, so scripts never see each other's globals.
//!
//! Two promises hold whatever a script does:
//! - Past its deadline a call fails. Luau raises the budget as an ordinary error, which
//!   `pcall` and `xpcall` can catch; so once the deadline has passed every interrupt raises it
//!   again — at the next call or loop back-edge outside the catch — until the call has unwound.
//! - A call starts from the script's loaded state. What a chunk leaves reachable when it has
//!   loaded — its tables, the upvalues of its functions — is frozen or put back after each call
//!   (`Fresh`), so nothing one payment does is seen by the next. A state whose memory ran out is
//!   reported `spent`, and its owner builds a new one.

pub mod json;

use std::cell::Cell;
use std::collections::HashSet;
use std::os::raw::c_int;
use std::time::{Duration, Instant};

use mlua::chunk::{ChunkMode, Compiler};
use mlua::{ffi, Function, Lua, LuaOptions, StdLib, Table, Value};

/// How long one call may run and how much memory one state may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub time_budget: Duration,
    pub memory_bytes: usize,
}

impl Budget {
    /// The budget the `[lua]` settings give every script and plugin call.
    pub fn of(settings: &crate::config::LuaConfig) -> Self {
        Self {
            time_budget: Duration::from_millis(settings.time_budget_ms),
            memory_bytes: settings.memory_limit_mb << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("{0}")]
    Compile(String),
    #[error("runtime error: {0}")]
    Runtime(String),
    #[error("ran past its time budget of {0:?}")]
    Timeout(Duration),
    #[error("ran past its memory limit of {0} bytes")]
    Memory(usize),
    #[error("{0}")]
    BadResult(String),
}

impl ScriptError {
    /// What a script's runtime error says outside the daemon's log.
    pub const RUNTIME_PUBLIC: &'static str = "runtime error in the script (its detail is in the daemon's log)";

    /// The error as a payment keeps it and its merchant reads it: a runtime error's text, which
    /// carries the script's file, line and whatever it raised, is left to the log.
    pub fn public(&self) -> String {
        match self {
            ScriptError::Runtime(_) => Self::RUNTIME_PUBLIC.to_string(),
            other => other.to_string(),
        }
    }
}

/// Globals a script must not reach: code loading, environment surgery, the GC, the host.
const REMOVED_GLOBALS: [&str; 7] = ["require", "loadstring", "getfenv", "setfenv", "collectgarbage", "gcinfo", "print"];

const TIMEOUT_MARK: &str = "switchyard: time budget exceeded";
const TIMEOUT_MESSAGE: &std::ffi::CStr = c"switchyard: time budget exceeded";

thread_local! {
    /// When the Lua call running on this thread must stop. Calls on one thread never nest, so
    /// one deadline per thread serves every state on it.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Interrupts seen on this thread; the clock is read on every `CLOCK_EVERY`th.
    static TICKS: Cell<u32> = const { Cell::new(0) };
    /// Set once the call running on this thread is past its deadline: from then on every
    /// interrupt raises the budget error again, so catching it gains a script nothing.
    static EXPIRED: Cell<bool> = const { Cell::new(false) };
}

/// Reading the clock costs more than a short script's whole body; a runaway loop still reaches
/// thousands of interrupts a millisecond, so checking one in eight overshoots by microseconds.
const CLOCK_EVERY: u32 = 8;

/// Runs host work a script asked for (a signature, a decryption) without counting it against the
/// script's budget: the budget bounds what a script does, not the host's own cost.
pub fn outside_budget<R>(f: impl FnOnce() -> R) -> R {
    let started = Instant::now();
    let result = f();
    let spent = started.elapsed();
    DEADLINE.with(|d| d.set(d.get().map(|at| at + spent)));
    result
}

/// Luau calls this at function calls and loop back-edges; past the deadline it raises an error
/// that unwinds the script. Installed as a plain C callback: mlua's own interrupt wrapper costs
/// more than a whole routing script.
unsafe extern "C-unwind" fn interrupt(state: *mut ffi::lua_State, gc: c_int) {
    // The collector's interrupts must not raise.
    if gc >= 0 {
        return;
    }
    if EXPIRED.with(Cell::get) {
        ffi::luaL_error(state, TIMEOUT_MESSAGE.as_ptr());
    }
    let tick = TICKS.with(|t| {
        let n = t.get().wrapping_add(1);
        t.set(n);
        n
    });
    if tick.is_multiple_of(CLOCK_EVERY) && DEADLINE.with(Cell::get).is_some_and(|at| Instant::now() >= at) {
        EXPIRED.with(|e| e.set(true));
        ffi::luaL_error(state, TIMEOUT_MESSAGE.as_ptr());
    }
}

/// Compiles a script to Luau bytecode; the error names the file and line.
pub fn compile(chunk_name: &str, source: &str) -> Result<Vec<u8>, ScriptError> {
    Compiler::new().set_optimization_level(2).compile(source).map_err(|e| match e {
        // Luau reports `LINE: message`.
        mlua::Error::SyntaxError { message, .. } => ScriptError::Compile(format!("{chunk_name}:{message}")),
        other => ScriptError::Compile(format!("{chunk_name}: {other}")),
    })
}

pub struct Sandbox {
    lua: Lua,
    limits: Budget,
    /// A call ran out of memory: what holds the memory may be out of the collector's reach
    /// (a script's upvalue, say), so the state is not trusted with another call.
    spent: Cell<bool>,
}

/// A chunk as loaded: its environment (frozen), what it returned, and what must be put back
/// after each call for the next to start from the loaded state.
pub struct Loaded {
    pub env: Table,
    pub returned: Value,
    pub fresh: Fresh,
}

/// The upvalues of every Luau function a loaded chunk left reachable, with their values at load.
/// A call may assign to a script's top-level locals; `Sandbox::run_fresh` puts them back. Kept
/// as one Lua table, `{ {n, f, v1, …, vn}, … }`, so putting them back costs one protected call
/// and no allocation.
#[derive(Clone)]
pub struct Fresh(Option<Table>);

impl Sandbox {
    pub fn new(limits: Budget) -> Result<Self, ScriptError> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::BIT | StdLib::UTF8;
        let lua = Lua::new_with(libs, LuaOptions::default()).map_err(runtime)?;
        let globals = lua.globals();
        for name in REMOVED_GLOBALS {
            globals.raw_set(name, mlua::Nil).map_err(runtime)?;
        }
        lua.sandbox(true).map_err(runtime)?;
        lua.set_memory_limit(limits.memory_bytes).map_err(runtime)?;
        // SAFETY: the callbacks table belongs to the state's global state, which outlives every
        // call into it; `interrupt` only reads a thread-local and may raise a Lua error.
        unsafe {
            lua.exec_raw::<()>((), |state| (*ffi::lua_callbacks(state)).interrupt = Some(interrupt))
                .map_err(runtime)?;
        }
        Ok(Self { lua, limits, spent: Cell::new(false) })
    }

    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// True once a call on this state ran out of memory: its owner should build a new state.
    pub fn spent(&self) -> bool {
        self.spent.get()
    }

    /// Loads compiled bytecode into a fresh environment that reads the (read-only) globals and
    /// keeps the script's own globals to itself; runs the chunk (under the time budget) and
    /// returns its environment and whatever the chunk returned.
    pub fn load(&self, chunk_name: &str, bytecode: &[u8]) -> Result<Loaded, ScriptError> {
        self.load_over(chunk_name, bytecode, &self.lua.globals())
    }

    /// Like `load`, with the environment reading through to `base` (which reads the globals in
    /// turn): how plugins see the host library. The environment is frozen once the chunk has run.
    pub fn load_over(&self, chunk_name: &str, bytecode: &[u8], base: &Table) -> Result<Loaded, ScriptError> {
        let env = self.lua.create_table().map_err(runtime)?;
        // What `base` reads through to is copied in: every global a script reads is then found in
        // its own environment, rather than through two `__index` lookups on every access. Both
        // are read-only, so the copies never go stale; the script's own globals shadow them as
        // before.
        let mut from = Some(base.clone());
        while let Some(table) = from {
            table
                .for_each::<Value, Value>(|k, v| match env.raw_get::<Value>(&k)? {
                    Value::Nil => env.raw_set(k, v),
                    _ => Ok(()),
                })
                .map_err(runtime)?;
            from = table.metatable().and_then(|m| m.raw_get::<Table>("__index").ok());
        }
        let meta = self.lua.create_table().map_err(runtime)?;
        meta.raw_set("__index", base).map_err(runtime)?;
        meta.set_readonly(true);
        env.set_metatable(Some(meta)).map_err(runtime)?;
        let chunk = self
            .lua
            .load(bytecode)
            .set_name(format!("={chunk_name}"))
            .set_mode(ChunkMode::Binary)
            .set_environment(env.clone())
            .into_function()
            .map_err(|e| ScriptError::Compile(e.to_string()))?;
        let returned = self.run(|| chunk.call::<Value>(()))?;
        // What the chunk defined when it loaded stays; nothing a later call does can add to it,
        // so no call leaves state behind for the next payment to see.
        let fresh = self.settle(&[Value::Table(env.clone()), returned.clone()])?;
        Ok(Loaded { env, returned, fresh })
    }

    /// Freezes every table reachable from `roots` and notes the upvalues of every Luau function
    /// reachable from them. (No coroutine can be kept: the coroutine library is not loaded, and a
    /// coroutine's progress could not be put back.)
    fn settle(&self, roots: &[Value]) -> Result<Fresh, ScriptError> {
        let globals = self.lua.globals();
        let mut seen = HashSet::new();
        let mut todo = roots.to_vec();
        let mut upvalues = Vec::new();
        while let Some(value) = todo.pop() {
            if value.to_pointer().is_null() || !seen.insert(value.to_pointer()) {
                continue;
            }
            match value {
                // The globals are the host's, read-only already, and reach every library.
                Value::Table(t) if t == globals => {}
                Value::Table(t) => {
                    t.for_each::<Value, Value>(|k, v| {
                        todo.extend([k, v]);
                        Ok(())
                    })
                    .map_err(runtime)?;
                    todo.extend(t.metatable().map(Value::Table));
                    t.set_readonly(true);
                }
                Value::Function(f) => {
                    let values = function_upvalues(&self.lua, &f).map_err(runtime)?;
                    if !values.is_empty() && f.info().what == "Lua" {
                        upvalues.push((f, values.clone()));
                    }
                    todo.extend(values);
                }
                _ => {}
            }
        }
        if upvalues.is_empty() {
            return Ok(Fresh(None));
        }
        let table = self.unmetered(|lua| {
            let table = lua.create_table_with_capacity(upvalues.len(), 0)?;
            for (f, values) in upvalues {
                let entry = lua.create_table_with_capacity(values.len() + 2, 0)?;
                entry.raw_set(1, values.len())?;
                entry.raw_set(2, f)?;
                for (i, v) in values.into_iter().enumerate() {
                    entry.raw_set(i + 3, v)?;
                }
                entry.set_readonly(true);
                table.raw_push(entry)?;
            }
            table.set_readonly(true);
            Ok(table)
        })?;
        Ok(Fresh(Some(table)))
    }

    /// A read-only table of `entries` that reads through to the globals, to load chunks over.
    pub fn base_with(&self, fill: impl FnOnce(&Lua, &Table) -> mlua::Result<()>) -> Result<Table, ScriptError> {
        let base = self.lua.create_table().map_err(runtime)?;
        fill(&self.lua, &base).map_err(runtime)?;
        // The host's libraries are as read-only as the standard ones: a script that could
        // replace `json.encode` would break every later call on this state.
        for pair in base.pairs::<mlua::Value, mlua::Value>() {
            if let (_, mlua::Value::Table(library)) = pair.map_err(runtime)? {
                library.set_readonly(true);
            }
        }
        let meta = self.lua.create_table().map_err(runtime)?;
        meta.raw_set("__index", self.lua.globals()).map_err(runtime)?;
        meta.set_readonly(true);
        base.set_metatable(Some(meta)).map_err(runtime)?;
        base.set_readonly(true);
        Ok(base)
    }

    /// Runs host-side work (filling the tables a script reads) outside the memory limit. While a
    /// limit is set, mlua runs every allocation as a protected call, which costs far more than
    /// the allocation itself; the host's own writes are small and bounded, and the limit is back
    /// before any script code runs.
    pub fn unmetered<R>(&self, f: impl FnOnce(&Lua) -> mlua::Result<R>) -> Result<R, ScriptError> {
        unmetered(&self.lua, self.limits.memory_bytes, || f(&self.lua)).map_err(runtime)
    }

    /// Runs `f` under the time budget; errors come back classified.
    pub fn run<R>(&self, f: impl FnOnce() -> mlua::Result<R>) -> Result<R, ScriptError> {
        EXPIRED.with(|e| e.set(false));
        DEADLINE.with(|d| d.set(Some(Instant::now() + self.limits.time_budget)));
        let result = f();
        DEADLINE.with(|d| d.set(None));
        EXPIRED.with(|e| e.set(false));
        // What a failed or greedy call left behind is collected now, so that the next call on
        // this state, another payment's, starts with the whole limit to itself: garbage the
        // collector had not reached yet would otherwise count against it.
        if result.is_err() || self.lua.used_memory() > self.limits.memory_bytes / 2 {
            let _ = self.lua.gc_collect();
        }
        result.map_err(|e| {
            let e = self.classify(e);
            if matches!(e, ScriptError::Memory(_)) {
                self.spent.set(true);
            }
            e
        })
    }

    /// Like `run`, then puts back what the call may have changed of a loaded chunk's state.
    pub fn run_fresh<R>(&self, fresh: &Fresh, f: impl FnOnce() -> mlua::Result<R>) -> Result<R, ScriptError> {
        let result = self.run(f);
        if let Some(table) = &fresh.0 {
            // SAFETY: `exec_raw` runs the closure as a protected C function with the table at
            // index 1. The closure reads entries (no allocation), sets each upvalue back (which
            // pops the value pushed for it) and leaves the stack as it found it.
            let restored = unsafe {
                self.lua.exec_raw::<()>(table, |state| {
                    ffi::lua_checkstack(state, 4);
                    let entries = ffi::lua_objlen(state, 1);
                    for i in 1..=entries {
                        ffi::lua_rawgeti(state, 1, i as _);
                        ffi::lua_rawgeti(state, 2, 1);
                        let count = ffi::lua_tointeger(state, 3);
                        ffi::lua_settop(state, 2);
                        ffi::lua_rawgeti(state, 2, 2);
                        for n in 1..=count as c_int {
                            ffi::lua_rawgeti(state, 2, (n + 2) as _);
                            ffi::lua_setupvalue(state, 3, n);
                        }
                        ffi::lua_settop(state, 1);
                    }
                })
            };
            if restored.is_err() {
                self.spent.set(true);
            }
        }
        result
    }

    /// Calls a script function under the time budget.
    pub fn call<A: mlua::IntoLuaMulti, R: mlua::FromLuaMulti>(&self, f: &Function, args: A) -> Result<R, ScriptError> {
        self.run(|| f.call::<R>(args))
    }

    /// Calls a function of a loaded chunk under the time budget; the next call starts from the
    /// chunk's loaded state.
    pub fn call_fresh<A: mlua::IntoLuaMulti, R: mlua::FromLuaMulti>(
        &self,
        fresh: &Fresh,
        f: &Function,
        args: A,
    ) -> Result<R, ScriptError> {
        self.run_fresh(fresh, || f.call::<R>(args))
    }

    fn classify(&self, e: mlua::Error) -> ScriptError {
        let text = e.to_string();
        if text.contains(TIMEOUT_MARK) {
            ScriptError::Timeout(self.limits.time_budget)
        } else if is_memory_error(&e) {
            ScriptError::Memory(self.limits.memory_bytes)
        } else {
            ScriptError::Runtime(first_line(&text))
        }
    }
}

/// Runs `f` with the memory limit lifted, for host functions whose allocations are bounded by
/// what the script already holds. Memory they take still counts: the next allocation a script
/// makes is checked against everything the state holds.
pub fn unmetered<R>(lua: &Lua, limit: usize, f: impl FnOnce() -> mlua::Result<R>) -> mlua::Result<R> {
    lua.set_memory_limit(0)?;
    let result = f();
    lua.set_memory_limit(limit)?;
    result
}

/// The upvalues of `f`, in order (a C function's too: they may hold what it closes over).
fn function_upvalues(lua: &Lua, f: &Function) -> mlua::Result<Vec<Value>> {
    // SAFETY: `exec_raw` runs the closure as a protected C function with `f` at index 1. The
    // closure pushes each upvalue (checking room first) and removes `f`, so what is left on the
    // stack is the upvalues, which `exec_raw` returns.
    let values: mlua::MultiValue = unsafe {
        lua.exec_raw(f, |state| {
            let mut n = 1;
            while ffi::lua_checkstack(state, 1) != 0 && !ffi::lua_getupvalue(state, 1, n).is_null() {
                n += 1;
            }
            ffi::lua_remove(state, 1);
        })?
    };
    Ok(values.into_vec())
}

fn is_memory_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_memory_error(cause),
        mlua::Error::WithContext { cause, .. } => is_memory_error(cause),
        _ => false,
    }
}

/// Luau appends a stack traceback; the first line says what went wrong and where.
/// The first line of an error, bounded: a script may raise an error of any size.
fn first_line(text: &str) -> String {
    crate::text::clip(text.lines().next().unwrap_or(text), MESSAGE_MAX)
}

/// The longest error message a script's failure is reported with.
const MESSAGE_MAX: usize = 500;

fn runtime(e: mlua::Error) -> ScriptError {
    ScriptError::Runtime(first_line(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        Sandbox::new(Budget { time_budget: Duration::from_millis(20), memory_bytes: 4 << 20 }).unwrap()
    }

    fn eval(sb: &Sandbox, source: &str) -> Result<mlua::Value, ScriptError> {
        let bytecode = compile("test.lua", source)?;
        sb.load("test.lua", &bytecode).map(|l| l.returned)
    }

    #[test]
    fn escapes_fail_the_call_only() {
        let sb = sandbox();
        let escapes = [
            "return io.open('/etc/passwd')",
            "return os.execute('true')",
            "return require('x')",
            "return loadstring('return 1')()",
            "return getfenv(1)",
            "return setfenv(1, {})",
            "return debug.traceback()",
            "return collectgarbage('collect')",
            "string.upper = function() end",
            "getmetatable('').__index = {}",
            "table.insert = nil",
            "math.pi = 3",
        ];
        for source in escapes {
            assert!(eval(&sb, source).is_err(), "{source} should fail");
        }
        // The state still works, and nothing was changed for the next script.
        assert_eq!(
            eval(&sb, "return string.upper('ok')").unwrap(),
            mlua::Value::String(sb.lua().create_string("OK").unwrap())
        );
        assert_eq!(eval(&sb, "return math.pi > 3.14").unwrap(), mlua::Value::Boolean(true));
    }

    #[test]
    fn runaway_loops_and_memory_bombs_are_stopped() {
        let sb = sandbox();
        assert_eq!(eval(&sb, "while true do end"), Err(ScriptError::Timeout(Duration::from_millis(20))));
        assert_eq!(eval(&sb, "local s = string.rep('x', 1e9) return #s"), Err(ScriptError::Memory(4 << 20)));
        assert!(matches!(
            eval(&sb, "local t = {} for i = 1, 1e8 do t[i] = i end return #t"),
            Err(ScriptError::Memory(_) | ScriptError::Timeout(_))
        ));
        assert_eq!(eval(&sb, "return 1 + 1").unwrap(), mlua::Value::Integer(2));
    }

    /// Luau raises the budget as an ordinary error; none of the ways of catching it keeps a
    /// call (or a chunk's load) running past its deadline.
    #[test]
    fn the_budget_cannot_be_caught() {
        let sb = sandbox();
        let catchers = [
            "while true do pcall(function() while true do end end) end",
            "while true do xpcall(function() while true do end end, function(e) return e end) end",
            "while true do xpcall(function() while true do end end, function() while true do end end) end",
            "while true do pcall(pcall, function() while true do end end) end",
            "while true do pcall(function() pcall(function() while true do end end) while true do end end) end",
            "while true do pcall(error, 'x') end",
            "local ok = pcall(function() while true do end end) while not ok do end",
            "while true do pcall(string.rep, 'x', 10) end",
        ];
        for source in catchers {
            // At the top level: the load itself is bounded.
            assert_eq!(eval(&sb, source), Err(ScriptError::Timeout(Duration::from_millis(20))), "{source}");
            // And in a call.
            let loaded = sb.load("t", &compile("t", &format!("return function() {source} end")).unwrap()).unwrap();
            let Value::Function(f) = loaded.returned else { panic!("{source}: no function") };
            assert_eq!(
                sb.call_fresh::<_, Value>(&loaded.fresh, &f, ()),
                Err(ScriptError::Timeout(Duration::from_millis(20))),
                "{source}"
            );
        }
        // Errors that are not the budget are still caught, and the next call has its full budget.
        assert_eq!(
            eval(&sb, "local ok, e = pcall(error, 'boom', 0) return e").unwrap(),
            Value::String(sb.lua().create_string("boom").unwrap())
        );
        assert_eq!(
            eval(&sb, "local ok = xpcall(function() error('x') end, function() return 1 end) return ok").unwrap(),
            Value::Boolean(false)
        );
    }

    fn loaded_function(sb: &Sandbox, source: &str) -> (Function, Fresh) {
        let loaded = sb.load("t", &compile("t", source).unwrap()).unwrap();
        let Value::Function(f) = loaded.returned else { panic!("no function") };
        (f, loaded.fresh)
    }

    #[test]
    fn each_call_starts_from_the_loaded_state() {
        let sb = sandbox();
        // A top-level local assigned in a call is put back: every call sees the loaded value.
        let (counter, fresh) = loaded_function(&sb, "local n = 0 return function() n = n + 1 return n end");
        for _ in 0..3 {
            assert_eq!(sb.call_fresh::<_, i64>(&fresh, &counter, ()).unwrap(), 1);
        }
        // Also when reached through another function, replaced by a new table, or the call failed.
        let source = r#"
            local seen = { count = 0 }
            local function remember(x) seen = { count = seen.count + 1, last = x } end
            return function(x) remember(x) if x == "fail" then error("after the change") end return seen.count end
        "#;
        let (f, fresh) = loaded_function(&sb, source);
        assert!(sb.call_fresh::<_, i64>(&fresh, &f, "fail").is_err());
        assert_eq!(sb.call_fresh::<_, i64>(&fresh, &f, "a").unwrap(), 1);
        assert_eq!(sb.call_fresh::<_, i64>(&fresh, &f, "b").unwrap(), 1);
        // Tables the chunk made are frozen: a call cannot fill them.
        let (f, fresh) =
            loaded_function(&sb, "local cache = { inner = {} } return function(k) cache.inner[k] = true end");
        let err = sb.call_fresh::<_, ()>(&fresh, &f, "k").unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
    }

    #[test]
    fn a_state_whose_memory_ran_out_is_spent() {
        let sb = sandbox();
        let (f, fresh) = loaded_function(&sb, "return function(n) return #string.rep('x', n) end");
        assert_eq!(sb.call_fresh::<_, i64>(&fresh, &f, 10).unwrap(), 10);
        assert!(!sb.spent());
        assert_eq!(sb.call_fresh::<_, i64>(&fresh, &f, 1 << 30), Err(ScriptError::Memory(4 << 20)));
        assert!(sb.spent());
    }

    #[test]
    fn globals_stay_with_their_script() {
        let sb = sandbox();
        eval(&sb, "shared = 1").unwrap();
        assert_eq!(eval(&sb, "return shared").unwrap(), mlua::Value::Nil);
    }

    #[test]
    fn compile_errors_name_file_and_line() {
        let err = compile("routing/broken.lua", "return function(p)\n  return {\nend").unwrap_err();
        assert!(err.to_string().starts_with("routing/broken.lua:3: "), "{err}");
    }
}
