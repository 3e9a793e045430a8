//! Plugin files: read, compiled, loaded once to read and check what they declare (name, API
//! version, payment methods, currencies, credentials, flows), versioned by content hash.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mlua::{LuaSerdeExt, Table, Value};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::host;
use crate::lua::{compile, Budget, Fresh, Sandbox};
use crate::money::Currency;

/// The plugin contract version this daemon speaks.
pub const API_VERSION: u32 = 1;

/// The flows a plugin may define, each as `{ build = function, parse = function }`.
pub const FLOWS: [&str; 8] =
    ["access_token", "authorize", "complete_authorize", "sync", "capture", "void", "refund", "refund_sync"];

/// The word that declares every value of a set (`currencies = "any"`, `card = "any"`).
pub const ANY: &str = "any";

/// What a plugin takes of a set: the values it lists, or every value. A plugin must say which:
/// an empty or missing list would otherwise silently mean one or the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Any,
    Only(Vec<String>),
}

/// Left out, a set is empty, which the checks refuse.
impl Default for Choice {
    fn default() -> Self {
        Choice::Only(Vec::new())
    }
}

impl Choice {
    pub fn allows(&self, value: &str) -> bool {
        match self {
            Choice::Any => true,
            Choice::Only(values) => values.iter().any(|v| v == value),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Choice::Only(values) if values.is_empty())
    }

    /// The values listed; none for `"any"`.
    pub fn listed(&self) -> &[String] {
        match self {
            Choice::Any => &[],
            Choice::Only(values) => values,
        }
    }
}

impl<'de> Deserialize<'de> for Choice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Choice;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a list of names, or \"{ANY}\"")
            }
            fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<Choice, E> {
                match word {
                    ANY => Ok(Choice::Any),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Choice, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element()? {
                    values.push(value);
                }
                Ok(Choice::Only(values))
            }
            /// Lua's `{}` is as much an empty map as an empty list.
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Choice, A::Error> {
                match map.next_key::<serde::de::IgnoredAny>()? {
                    None => Ok(Choice::Only(Vec::new())),
                    Some(_) => Err(serde::de::Error::invalid_type(serde::de::Unexpected::Map, &self)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// What a plugin declares about itself.
#[derive(Debug, Clone, Deserialize)]
pub struct Declaration {
    pub name: String,
    pub api_version: u32,
    /// Payment method type → the subtypes taken.
    #[serde(default)]
    pub supports: BTreeMap<String, Choice>,
    #[serde(default)]
    pub currencies: Choice,
    #[serde(default)]
    pub credentials: Vec<String>,
    /// Credentials the plugin may use only by name (keys, secrets), never read.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Where the provider's API lives unless an account says otherwise.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The provider deduplicates `authorize` by its idempotency key (the attempt id), so a call
    /// with no clear answer may be repeated.
    #[serde(default)]
    pub idempotent: bool,
}

/// One compiled, checked version of a plugin.
#[derive(Debug)]
pub struct Plugin {
    pub declaration: Declaration,
    pub path: PathBuf,
    pub hash: String,
    pub bytecode: Vec<u8>,
    pub flows: BTreeSet<&'static str>,
    /// Whether the plugin defines `webhook = { verify = function, parse = function }`.
    pub has_webhook: bool,
    /// The wallets of `session_tokens = { google_pay = function(ctx, req) … end, … }`.
    pub session_wallets: Vec<String>,
}

/// Loads the host library and a plugin chunk into `sandbox`, returning the plugin's table.
pub fn instantiate(sandbox: &Sandbox, name: &str, bytecode: &[u8]) -> Result<(Table, Fresh), String> {
    let base = sandbox.base_with(host::install).map_err(|e| e.to_string())?;
    let loaded = sandbox.load_over(name, bytecode, &base).map_err(|e| e.to_string())?;
    match loaded.returned {
        Value::Table(t) => Ok((t, loaded.fresh)),
        other => Err(format!("the plugin must return a table, not {}", other.type_name())),
    }
}

/// Compiles and checks one plugin file.
pub fn load_plugin(path: &Path, limits: Budget) -> Result<Plugin, String> {
    let shown = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let bytecode = compile(&shown, &source).map_err(|e| e.to_string())?;
    let sandbox = Sandbox::new(limits).map_err(|e| format!("{shown}: {e}"))?;
    let (table, _) = instantiate(&sandbox, &shown, &bytecode).map_err(|e| format!("{shown}: {e}"))?;
    let lua = sandbox.lua();
    let declared: Value = lua
        .create_table_from(
            ["name", "api_version", "supports", "currencies", "credentials", "secrets", "base_url", "idempotent"]
                .into_iter()
                .map(|k| (k, table.raw_get::<Value>(k).unwrap_or(Value::Nil))),
        )
        .map(Value::Table)
        .map_err(|e| format!("{shown}: {e}"))?;
    let declaration: Declaration = lua.from_value(declared).map_err(|e| format!("{shown}: {e}"))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let mut problems = Vec::new();
    if declaration.name != stem {
        problems.push(format!("name `{}` must match the file name `{stem}`", declaration.name));
    }
    if declaration.api_version != API_VERSION {
        problems.push(format!(
            "api_version {} is not supported (this daemon speaks {API_VERSION})",
            declaration.api_version
        ));
    }
    if declaration.supports.is_empty() {
        problems.push(format!(
            "supports is required: payment method types and their subtypes, as `supports = {{ card = {{ \"credit\", \"debit\" }} }}` or `card = \"{ANY}\"`"
        ));
    }
    for (method, subtypes) in &declaration.supports {
        if subtypes.is_empty() {
            problems.push(format!("supports.{method} names no subtype: list them, or write `{method} = \"{ANY}\"`"));
        }
    }
    if declaration.currencies.is_empty() {
        problems.push(format!(
            "currencies is required: a list of currency codes, as `currencies = {{ \"EUR\" }}`, or `currencies = \"{ANY}\"`"
        ));
    }
    for code in declaration.currencies.listed() {
        if let Err(e) = Currency::parse(code) {
            problems.push(format!("currencies: {e}"));
        }
    }
    for secret in declaration.secrets.iter().filter(|s| !declaration.credentials.contains(s)) {
        problems.push(format!("secret `{secret}` is not among the credentials: list it in `credentials` too"));
    }
    let mut flows = BTreeSet::new();
    for flow in FLOWS {
        match table.raw_get::<Value>(flow) {
            Ok(Value::Nil) => {}
            Ok(Value::Table(t)) => {
                let is_fn = |k| matches!(t.raw_get::<Value>(k), Ok(Value::Function(_)));
                if is_fn("build") && is_fn("parse") {
                    flows.insert(flow);
                } else {
                    problems.push(format!("{flow} needs build and parse functions"));
                }
            }
            _ => problems.push(format!("{flow} must be a table of build and parse")),
        }
    }
    let has_webhook = match table.raw_get::<Value>("webhook") {
        Ok(Value::Nil) => false,
        Ok(Value::Table(t))
            if ["verify", "parse"].iter().all(|k| matches!(t.raw_get::<Value>(*k), Ok(Value::Function(_)))) =>
        {
            true
        }
        _ => {
            problems.push("webhook must be a table of verify and parse".into());
            false
        }
    };
    let mut session_wallets = Vec::new();
    match table.raw_get::<Value>("session_tokens") {
        Ok(Value::Nil) => {}
        Ok(Value::Table(t)) => {
            for pair in t.pairs::<Value, Value>() {
                match pair {
                    Ok((Value::String(wallet), Value::Function(_))) => {
                        session_wallets.push(wallet.to_string_lossy().to_string())
                    }
                    _ => problems.push("session_tokens must map wallet names to functions".into()),
                }
            }
            session_wallets.sort();
        }
        _ => problems.push("session_tokens must be a table of functions".into()),
    }
    if !flows.contains("authorize") {
        problems.push("a plugin must define authorize".into());
    }
    if !problems.is_empty() {
        return Err(format!("{shown}: {}", problems.join("; ")));
    }
    let hash = hex::encode(&Sha256::digest(source.as_bytes())[..6]);
    Ok(Plugin { declaration, path: path.to_path_buf(), hash, bytecode, flows, has_webhook, session_wallets })
}

/// Every `*.lua` in `dir`: the plugins that load, and the errors of those that do not, each with
/// the name its file gives it.
pub fn load_dir(dir: &Path, limits: Budget) -> (Vec<Plugin>, Vec<(String, String)>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "lua"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut plugins = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        match load_plugin(&path, limits) {
            Ok(p) => plugins.push(p),
            Err(e) => errors.push((path.file_stem().unwrap_or_default().to_string_lossy().into_owned(), e)),
        }
    }
    (plugins, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(source: &str) -> Result<Plugin, String> {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("wallets.lua");
        std::fs::write(&path, source).unwrap();
        let limits = Budget { time_budget: std::time::Duration::from_secs(1), memory_bytes: 16 << 20 };
        load_plugin(&path, limits)
    }

    const HEAD: &str = r#"
        name = "wallets", api_version = 1, supports = { card = "any" }, currencies = "any",
        authorize = { build = function() end, parse = function() end },
    "#;

    const AUTHORIZE: &str = "authorize = { build = function() end, parse = function() end }";

    fn declaring(fields: &str) -> Result<Plugin, String> {
        load(&format!("return {{ name = 'wallets', api_version = 1, {fields}, {AUTHORIZE} }}"))
    }

    #[test]
    fn currencies_and_supports_are_a_list_or_any_never_left_out() {
        let plugin = declaring(r#"supports = { card = { "credit" } }, currencies = { "EUR", "USD" }"#).unwrap();
        assert!(plugin.declaration.currencies.allows("EUR") && !plugin.declaration.currencies.allows("GBP"));
        let plugin = declaring(r#"supports = { card = "any" }, currencies = "any""#).unwrap();
        assert!(plugin.declaration.currencies.allows("JPY"));
        assert!(plugin.declaration.supports["card"].allows("debit"));

        for (fields, problem) in [
            (r#"supports = { card = "any" }"#, "currencies is required"),
            (r#"supports = { card = "any" }, currencies = {}"#, "currencies is required"),
            (r#"supports = { card = "any" }, currencies = { "EURO" }"#, "currencies: `EURO` is not"),
            (r#"supports = { card = "any" }, currencies = "all""#, r#"expected a list of names, or "any""#),
            (r#"currencies = "any""#, "supports is required"),
            (r#"supports = {}, currencies = "any""#, "supports is required"),
            (r#"supports = { card = {} }, currencies = "any""#, "supports.card names no subtype"),
        ] {
            let err = declaring(fields).unwrap_err();
            assert!(err.contains("wallets.lua: ") && err.contains(problem), "{fields}: {err}");
        }
    }

    #[test]
    fn every_secret_is_a_credential_and_every_flow_a_table_of_build_and_parse() {
        let err = declaring(
            r#"supports = { card = "any" }, currencies = "any", credentials = { "merchant", "key" },
               secrets = { "key", "api_key", "hmac_key" }"#,
        )
        .unwrap_err();
        for secret in ["api_key", "hmac_key"] {
            assert!(err.contains(&format!("secret `{secret}` is not among the credentials")), "{err}");
        }
        assert!(!err.contains("secret `key`"), "{err}");
        let err = load(&format!("return {{ {HEAD} capture = {{ build = function() end }}, refund = 1 }}")).unwrap_err();
        assert!(err.contains("capture needs build and parse functions"), "{err}");
        assert!(err.contains("refund must be a table of build and parse"), "{err}");
    }

    #[test]
    fn session_token_wallets_are_read_from_the_table_and_checked() {
        let plugin = load(&format!(
            "return {{ {HEAD} session_tokens = {{ google_pay = function() end, apple_pay = function() end }} }}"
        ))
        .unwrap();
        assert_eq!(plugin.session_wallets, ["apple_pay", "google_pay"]);
        assert!(load(&format!("return {{ {HEAD} }}")).unwrap().session_wallets.is_empty());
        let err = load(&format!("return {{ {HEAD} session_tokens = {{ google_pay = {{}} }} }}")).unwrap_err();
        assert!(err.contains("session_tokens must map wallet names to functions"), "{err}");
        let err = load(&format!("return {{ {HEAD} session_tokens = 1 }}")).unwrap_err();
        assert!(err.contains("session_tokens must be a table"), "{err}");
    }
}
