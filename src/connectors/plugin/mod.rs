//! Connectors written as Lua plugin files (`plugins/<name>.lua`).
//!
//! A plugin is a table of pure functions: for each flow, `build` turns the call into an HTTP
//! request and `parse` turns the provider's answer into an outcome. The host does all I/O — one
//! shared HTTP client, its timeouts, the access-token cache — and keeps every secret: plugins sign
//! by credential name through the host library (`host`). Build and parse run on the calling
//! worker's own Lua state, under the same time budget and memory limit as routing scripts.
//! `parse` reads the provider's answer scrubbed of the call's card and secrets (`scrub`), and what
//! it returns is checked before anything keeps it: texts scrubbed and bounded, ids and redirects
//! refused whole when they are unbounded, unprintable, not http(s) or carry the call's values.

pub mod fixtures;
mod host;
pub mod loader;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use mlua::{Function, Lua, Table, Value};
use reqwest::Client;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use host::Pins;
use loader::{instantiate, Plugin};

use super::scrub::{Scrub, Scrubber, REASON_MAX, SECRET_MASK};
use super::session::{SessionToken, SessionTokenRequest};
use crate::connectors::{
    http, Account, AuthorizeRequest, BaseUrl, CaptureRequest, CompleteAuthorizeRequest, Connector, ConnectorError,
    ConnectorResult, RefundRequest, RefundSyncRequest, SyncRequest, Unclear, VoidRequest, WebhookError, WebhookEvent,
    WebhookRequest,
};
use crate::domain::outcome::{PaymentOutcome, RefundOutcome};
use crate::domain::payment::{NextAction, PaymentError};
use crate::domain::payment_method::{CardDetails, PaymentMethod};
use crate::domain::status::{AttemptStatus, RefundStatus};
use crate::lua::{Budget, Fresh, Sandbox};
use crate::money::{Currency, MAX_AMOUNT};

/// How long before its expiry a cached access token is replaced.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// What `build` returns: the request to send.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RequestSpec {
    pub method: String,
    /// A path (joined to the account's or the plugin's base URL) or a whole URL.
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderSpec>,
    /// The exact body bytes (what a signature covers).
    #[serde(default)]
    pub body: Option<String>,
}

/// A header's value, or a credential the host writes in without the plugin seeing it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum HeaderSpec {
    Text(String),
    /// `Basic base64(user:password)`, both named credentials.
    Basic {
        basic: (String, String),
    },
    /// A credential, after an optional prefix (`Bearer `).
    Secret {
        secret: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
    },
}

/// What `parse` returns for a payment flow.
#[derive(Debug, Deserialize)]
struct PaymentParse {
    status: String,
    #[serde(default)]
    connector_payment_id: Option<String>,
    #[serde(default)]
    connector_reference_id: Option<String>,
    #[serde(default)]
    redirect_url: Option<String>,
    #[serde(default)]
    amount_captured: Option<i64>,
    #[serde(default)]
    error: Option<ParseError>,
    /// The provider said the call may be retried: nothing happened, another account may try.
    #[serde(default)]
    retryable: bool,
}

#[derive(Debug, Deserialize)]
struct ParseError {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

impl ParseError {
    fn into_error(self) -> PaymentError {
        PaymentError::new(&self.code, self.message.unwrap_or_else(|| self.code.clone()))
    }
}

#[derive(Debug, Deserialize)]
struct RefundParse {
    status: String,
    #[serde(default)]
    connector_refund_id: Option<String>,
    #[serde(default)]
    error: Option<ParseError>,
    #[serde(default)]
    retryable: bool,
}

#[derive(Debug, Deserialize)]
struct TokenParse {
    token: String,
    expires_in: u64,
}

/// What `webhook.parse` returns: nothing (not about a payment), or what the notification reports.
#[derive(Debug, Deserialize)]
struct WebhookParse {
    kind: String,
    #[serde(default)]
    connector_payment_id: Option<String>,
    #[serde(default)]
    connector_refund_id: Option<String>,
    #[serde(default)]
    attempt_id: Option<String>,
    /// Switchyard's id of the refund, as the provider echoes it: finds a refund whose answer
    /// (and so the provider's id for it) was lost.
    #[serde(default)]
    refund_id: Option<String>,
    status: String,
    /// What the payment has captured, for a notification of a capture: a partial one is
    /// otherwise taken for the whole.
    #[serde(default)]
    amount_captured: Option<i64>,
    #[serde(default)]
    error: Option<ParseError>,
}

#[derive(Debug, Clone)]
struct Token {
    value: String,
    until: Instant,
}

static PLUGINS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Each worker's Lua state per plugin, with the version loaded into it.
    static WORKERS: RefCell<HashMap<u64, Worker>> = RefCell::new(HashMap::new());
}

struct Worker {
    sandbox: Sandbox,
    loaded: Option<Instance>,
}

/// A plugin version as loaded into a worker's state.
struct Instance {
    hash: String,
    table: Table,
    /// What to put back after each call.
    fresh: Fresh,
    /// The metatable of every call's `ctx.credentials` (`host::secret_guard`).
    guard: Table,
    /// The functions called so far, by flow and step: the plugin's table is frozen once loaded.
    functions: Vec<(String, String, Function)>,
    /// The `ctx` tables made so far, the latest last: made once for an account (and token), and
    /// frozen, so that no call can change what the next one reads.
    contexts: Vec<Context>,
}

/// How many `ctx` tables a worker keeps per plugin: the accounts it serves, within reason.
const CONTEXTS: usize = 16;

/// One `ctx` table, and what it was made from.
struct Context {
    account: String,
    credentials: Vec<(String, String)>,
    metadata: serde_json::Map<String, serde_json::Value>,
    token: Option<String>,
    table: Table,
}

/// The credentials of `account` a plugin may read: those it does not declare secret.
fn readable<'a>(plugin: &'a Plugin, account: &'a Account) -> impl Iterator<Item = (&'a String, &'a String)> {
    let secrets = &plugin.declaration.secrets;
    account.credentials.iter().filter(|(name, _)| !secrets.contains(name)).map(|(name, value)| (name, value.expose()))
}

impl Context {
    fn is_for(&self, plugin: &Plugin, account: &Account, token: Option<&str>) -> bool {
        self.account == account.name
            && self.token.as_deref() == token
            && self.credentials.iter().map(|(k, v)| (k, v)).eq(readable(plugin, account))
            && self.metadata == account.metadata
    }
}

impl Instance {
    /// `flow.step` of the plugin's table.
    fn function(&mut self, flow: &str, step: &str) -> Result<Function, String> {
        if let Some((.., function)) = self.functions.iter().find(|(f, s, _)| f == flow && s == step) {
            return Ok(function.clone());
        }
        let function: Function = self
            .table
            .raw_get::<Table>(flow)
            .and_then(|t| t.raw_get::<Function>(step))
            .map_err(|e| format!("{flow}.{step}: {e}"))?;
        self.functions.push((flow.to_string(), step.to_string(), function.clone()));
        Ok(function)
    }

    /// `ctx` as a plugin sees it: the account, its readable credentials, metadata, the token.
    fn ctx(&mut self, lua: &Lua, plugin: &Plugin, account: &Account, token: Option<&str>) -> mlua::Result<Table> {
        if let Some(made) = self.contexts.iter().find(|c| c.is_for(plugin, account, token)) {
            return Ok(made.table.clone());
        }
        let credentials: serde_json::Map<String, serde_json::Value> =
            readable(plugin, account).map(|(name, value)| (name.clone(), json!(value))).collect();
        let ctx = json!({
            "account": account.name,
            "credentials": credentials,
            "metadata": account.metadata,
            "access_token": token,
        });
        let Some(Value::Table(table)) = crate::lua::json::to_lua(lua, &[&ctx])?.pop_front() else {
            return Err(mlua::Error::runtime("ctx is not a table"));
        };
        table.raw_get::<Table>("credentials")?.set_metatable(Some(self.guard.clone()))?;
        freeze(&table)?;
        if self.contexts.len() == CONTEXTS {
            self.contexts.remove(0);
        }
        self.contexts.push(Context {
            account: account.name.clone(),
            credentials: readable(plugin, account).map(|(k, v)| (k.clone(), v.clone())).collect(),
            metadata: account.metadata.clone(),
            token: token.map(str::to_string),
            table: table.clone(),
        });
        Ok(table)
    }
}

/// Makes `table` and every table in it read-only (their metatables are the host's, read-only
/// already or protected).
fn freeze(table: &Table) -> mlua::Result<()> {
    table.for_each::<Value, Value>(|_, value| match value {
        Value::Table(inner) => freeze(&inner),
        _ => Ok(()),
    })?;
    table.set_readonly(true);
    Ok(())
}

pub struct PluginConnector {
    id: u64,
    name: &'static str,
    required: Vec<String>,
    plugin: Arc<Plugin>,
    limits: Budget,
    http: Client,
    public_url: String,
    /// Per application (see `token_owner`): the token, behind a lock that makes concurrent
    /// payments share one fetch.
    tokens: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Token>>>>>,
}

fn unavailable(connector: &str, reason: impl Into<String>) -> ConnectorError {
    ConnectorError::Unavailable { connector: connector.into(), reason: crate::text::clip(&reason.into(), REASON_MAX) }
}

/// The provider answered, and what the answer means cannot be taken from the plugin: the call may
/// have been acted on, and making it again would get the same answer.
fn unreadable(connector: &str, reason: impl Into<String>) -> ConnectorError {
    ConnectorError::Ambiguous {
        connector: connector.into(),
        reason: crate::text::clip(&reason.into(), REASON_MAX),
        unclear: Unclear::Unreadable,
    }
}

/// What merchants are told when a plugin's function fails: the same words whatever the failure,
/// whose detail (a Lua error's file, line and message) only the log gets (`failed`).
const BUILD_FAILED: &str = "the connector plugin failed to build the request";
const PARSE_FAILED: &str = "the connector plugin could not read the provider's answer";
const SESSION_FAILED: &str = "the connector plugin failed to make a session token";

/// A flow's or step's name as a metric's label: not copied on every call when it is one the
/// contract names (a wallet's is).
fn label(name: &str) -> metrics::SharedString {
    const STEPS: [&str; 5] = ["build", "parse", "verify", "webhook", "session_tokens"];
    match loader::FLOWS.iter().chain(&STEPS).find(|known| **known == name) {
        Some(known) => metrics::SharedString::const_str(known),
        None => name.to_string().into(),
    }
}

/// Why `word`, a status a plugin answered, is none of `words`.
fn unknown_status(word: &str, words: &[&str]) -> String {
    format!("`{}` is not a status: use one of {}", crate::text::clip(word, 64), words.join(", "))
}

impl PluginConnector {
    pub fn new(plugin: Plugin, limits: Budget, http: Client, public_url: &str) -> Self {
        // Plugin names are few and live as long as the daemon: each is leaked once, by its
        // first version; later versions inherit it.
        let name: &'static str = Box::leak(plugin.declaration.name.clone().into_boxed_str());
        Self {
            id: PLUGINS.fetch_add(1, Ordering::Relaxed),
            name,
            required: plugin.declaration.credentials.clone(),
            plugin: Arc::new(plugin),
            limits,
            http,
            public_url: public_url.trim_end_matches('/').to_string(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The connector for `plugin`, a new version of this one: it takes over this one's worker
    /// states (each reloads the new version on its next call), and starts with no access
    /// tokens, which the new version may fetch otherwise. None when `plugin` is another plugin.
    pub fn next_version(&self, plugin: Plugin) -> Option<Self> {
        (plugin.declaration.name == self.name).then(|| Self {
            id: self.id,
            name: self.name,
            required: plugin.declaration.credentials.clone(),
            plugin: Arc::new(plugin),
            limits: self.limits,
            http: self.http.clone(),
            public_url: self.public_url.clone(),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    pub fn hash(&self) -> &str {
        &self.plugin.hash
    }

    /// The file this version was read from.
    pub fn path(&self) -> &std::path::Path {
        &self.plugin.path
    }

    /// What one call must not give back: the account's secrets (the credentials the plugin may
    /// only name), the access token and the card.
    fn scrubber(
        &self,
        plugin: &Plugin,
        account: &Account,
        token: Option<&str>,
        card: Option<&CardDetails>,
    ) -> Scrubber {
        let secrets = plugin.declaration.secrets.iter().filter_map(|name| account.credentials.get(name));
        Scrubber::default().secrets(secrets.map(|v| v.expose().as_str()).chain(token)).card(card)
    }

    fn base_url<'a>(&self, plugin: &'a Plugin, account: &'a Account) -> Option<&'a str> {
        account.base_url.as_ref().map(BaseUrl::as_str).or(plugin.declaration.base_url.as_deref())
    }

    /// Runs `flow.build` or `flow.parse` (`step`) on this worker's state, with `ctx` (carrying
    /// `token`) before `args`.
    #[allow(clippy::too_many_arguments)]
    fn run_lua(
        &self,
        plugin: &Plugin,
        account: &Account,
        pins: &Pins,
        token: Option<&str>,
        flow: &str,
        step: &str,
        args: &[&serde_json::Value],
    ) -> Result<Value, String> {
        WORKERS.with(|cell| {
            let mut workers = cell.borrow_mut();
            // A state whose memory ran out in an earlier call is replaced by a new one.
            if workers.get(&self.id).is_some_and(|w| w.sandbox.spent()) {
                workers.remove(&self.id);
            }
            let worker = match workers.entry(self.id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(Worker { sandbox: Sandbox::new(self.limits).map_err(|e| e.to_string())?, loaded: None })
                }
            };
            if worker.loaded.as_ref().is_none_or(|loaded| loaded.hash != plugin.hash) {
                let (table, fresh) = instantiate(&worker.sandbox, self.name, &plugin.bytecode)?;
                let guard =
                    host::secret_guard(worker.sandbox.lua(), &plugin.declaration.secrets).map_err(|e| e.to_string())?;
                worker.loaded = Some(Instance {
                    hash: plugin.hash.clone(),
                    table,
                    fresh,
                    guard,
                    functions: Vec::new(),
                    contexts: Vec::new(),
                });
            }
            let instance = worker.loaded.as_mut().expect("loaded above");
            let function = instance.function(flow, step)?;
            let lua = worker.sandbox.lua();
            let ctx = instance.ctx(lua, plugin, account, token).map_err(|e| e.to_string())?;
            let mut args = crate::lua::json::to_lua(lua, args).map_err(|e| e.to_string())?;
            args.push_front(Value::Table(ctx));
            let fresh = &instance.fresh;
            let started = Instant::now();
            let result =
                host::with_account(account, pins, || worker.sandbox.call_fresh::<_, Value>(fresh, &function, args));
            metrics::histogram!("switchyard_plugin_call_duration_seconds", "plugin" => self.name, "flow" => label(flow),
                "step" => label(step))
            .record(started.elapsed().as_secs_f64());
            result.map_err(|e| format!("{}.{flow}.{step}: {e}", self.name))
        })
    }

    /// What `flow.build` asks to send, for `args`. Public so tests can check the exact bytes.
    pub fn build(
        &self,
        account: &Account,
        pins: &Pins,
        flow: &str,
        token: Option<&str>,
        args: &serde_json::Value,
    ) -> Result<RequestSpec, String> {
        self.build_with(&self.plugin, account, pins, flow, token, args)
    }

    fn build_with(
        &self,
        plugin: &Plugin,
        account: &Account,
        pins: &Pins,
        flow: &str,
        token: Option<&str>,
        args: &serde_json::Value,
    ) -> Result<RequestSpec, String> {
        let value = self.run_lua(plugin, account, pins, token, flow, "build", &[args])?;
        WORKERS.with(|cell| {
            let workers = cell.borrow();
            let lua = workers.get(&self.id).expect("the worker ran build").sandbox.lua();
            crate::lua::json::from_lua::<RequestSpec>(lua, value)
                .map_err(|e| format!("{}.{flow}.build returned {e}", self.name))
        })
    }

    fn parse_as<T: for<'de> Deserialize<'de>>(&self, flow: &str, value: Value) -> Result<T, String> {
        WORKERS.with(|cell| {
            let workers = cell.borrow();
            let lua = workers.get(&self.id).expect("the worker ran parse").sandbox.lua();
            crate::lua::json::from_lua::<T>(lua, value).map_err(|e| format!("{}.{flow}.parse returned {e}", self.name))
        })
    }

    /// Runs one flow: the access token first if the plugin uses one, then the exchange, and
    /// `finish` on what `parse` returned. What comes of it is scrubbed of the call's card and
    /// secrets.
    async fn call_flow<T: for<'de> Deserialize<'de>, O: Scrub>(
        &self,
        account: &Account,
        flow: &str,
        args: serde_json::Value,
        finish: impl FnOnce(&Self, &str, T, &Scrubber) -> ConnectorResult<O>,
    ) -> ConnectorResult<O> {
        self.call_flow_with(account, flow, args, None, finish).await
    }

    /// `call_flow` for a payment whose card goes into the request (`with_card`).
    async fn call_flow_with<T: for<'de> Deserialize<'de>, O: Scrub>(
        &self,
        account: &Account,
        flow: &str,
        args: serde_json::Value,
        card: Option<&CardDetails>,
        finish: impl FnOnce(&Self, &str, T, &Scrubber) -> ConnectorResult<O>,
    ) -> ConnectorResult<O> {
        let plugin = self.plugin.clone();
        if !plugin.flows.contains(flow) {
            return Err(self.not_supported(flow));
        }
        let token = self.token_for(&plugin, account).await?;
        let scrubber = self.scrubber(&plugin, account, token.as_deref(), card);
        let parsed = self.exchange(&plugin, account, flow, token, args, card, &scrubber).await;
        parsed.and_then(|parsed| finish(self, flow, parsed, &scrubber)).scrub(&scrubber)
    }

    /// Builds a flow's request, sends it and parses the answer.
    #[allow(clippy::too_many_arguments)]
    async fn exchange<T: for<'de> Deserialize<'de>>(
        &self,
        plugin: &Plugin,
        account: &Account,
        flow: &str,
        token: Option<String>,
        args: serde_json::Value,
        card: Option<&CardDetails>,
        scrubber: &Scrubber,
    ) -> ConnectorResult<T> {
        let pins = Pins::default();
        // Nothing has been sent yet: a plugin that cannot build a request charged nothing.
        let spec = self.build_with(plugin, account, &pins, flow, token.as_deref(), &args).map_err(|e| {
            self.failed(flow, "build", "error", &e, scrubber);
            unavailable(self.name, BUILD_FAILED)
        })?;
        let request = self.request(plugin, account, &spec, card).map_err(|e| unavailable(self.name, e))?;
        let response = http::send(self.name, request).await?;
        let status = response.status().as_u16();
        let headers: serde_json::Map<String, serde_json::Value> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), json!(v))))
            .collect();
        let body = response.bytes().await.map_err(|e| ConnectorError::Ambiguous {
            connector: self.name.into(),
            reason: format!("the answer was cut off: {e}"),
            unclear: Unclear::NoAnswer,
        })?;
        let text = String::from_utf8_lossy(&body).into_owned();
        let json_body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let res = json!({ "status": status, "headers": headers, "body": text, "json": json_body });
        // The provider has the request now: an answer the plugin cannot read is unclear. A server
        // error says nothing of what became of the call, which a repeat may learn; any other
        // answer would be given again.
        let unclear = if status >= 500 { Unclear::NoAnswer } else { Unclear::Unreadable };
        self.parse_with(plugin, account, flow, token.as_deref(), &args, res, scrubber).map_err(|e| {
            self.failed(flow, "parse", "error", &e, scrubber);
            ConnectorError::Ambiguous { connector: self.name.into(), reason: PARSE_FAILED.into(), unclear }
        })
    }

    /// Logs and counts a plugin function's failure (`kind` "error": it raised, ran out of time or
    /// memory, or returned what the contract does not take; "status": it answered a status that
    /// is none), with its detail scrubbed of the call's card and secrets.
    fn failed(&self, flow: &str, step: &str, kind: &'static str, detail: &str, scrubber: &Scrubber) {
        let detail = scrubber.text(detail);
        tracing::warn!(plugin = self.name, flow, step, kind, error = %detail, "connector plugin failed");
        metrics::counter!("switchyard_plugin_errors_total", "plugin" => self.name, "flow" => label(flow),
            "step" => label(step), "kind" => kind)
        .increment(1);
    }

    /// The status word `parse` answered for `flow`, or a named error for one that is none of
    /// `words`. The provider has answered: the call's outcome is unclear, and it is not repeated.
    fn status<S: std::str::FromStr>(
        &self,
        flow: &str,
        word: &str,
        words: &[&str],
        scrubber: &Scrubber,
    ) -> ConnectorResult<S> {
        word.parse().map_err(|_| {
            let problem = unknown_status(word, words);
            self.failed(flow, "parse", "status", &problem, scrubber);
            unreadable(self.name, problem)
        })
    }

    /// Runs `flow.parse` on `res`, which it sees scrubbed: a provider that echoes the request in
    /// its answer would otherwise hand the plugin the card it was never given, and the plugin
    /// could pass it on in a message.
    #[allow(clippy::too_many_arguments)]
    fn parse_with<T: for<'de> Deserialize<'de>>(
        &self,
        plugin: &Plugin,
        account: &Account,
        flow: &str,
        token: Option<&str>,
        args: &serde_json::Value,
        res: serde_json::Value,
        scrubber: &Scrubber,
    ) -> Result<T, String> {
        let res = scrubber.json(res);
        let parsed = self.run_lua(plugin, account, &Pins::default(), token, flow, "parse", &[args, &res])?;
        self.parse_as::<T>(flow, parsed)
    }

    /// What a payment flow's `parse` makes of `res` (`{status, headers, body, json}`), as the
    /// connector would report it. Public for fixture tests and benchmarks.
    pub fn parse_payment(
        &self,
        account: &Account,
        flow: &str,
        args: &serde_json::Value,
        res: &serde_json::Value,
    ) -> ConnectorResult<PaymentOutcome> {
        let plugin = &self.plugin;
        let scrubber = self.scrubber(plugin, account, None, None);
        let parsed = self.parse_with(plugin, account, flow, None, args, res.clone(), &scrubber);
        parsed
            .map_err(|e| unreadable(self.name, e))
            .and_then(|parsed| self.outcome(flow, parsed, &scrubber))
            .scrub(&scrubber)
    }

    fn request(
        &self,
        plugin: &Plugin,
        account: &Account,
        spec: &RequestSpec,
        card: Option<&CardDetails>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let url = if spec.url.starts_with("http://") || spec.url.starts_with("https://") {
            spec.url.clone()
        } else {
            let base = self.base_url(plugin, account).ok_or("no base_url for a relative url")?;
            format!("{}{}", base.trim_end_matches('/'), spec.url)
        };
        let method =
            reqwest::Method::from_bytes(spec.method.to_ascii_uppercase().as_bytes()).map_err(|e| e.to_string())?;
        let mut request = self.http.request(method, url);
        let credential = |name: &str| {
            account.credentials.get(name).map(|s| s.expose().clone()).ok_or(format!("no credential `{name}`"))
        };
        for (name, value) in &spec.headers {
            let value = match value {
                HeaderSpec::Text(v) => v.clone(),
                HeaderSpec::Basic { basic: (user, password) } => format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        credential(user)?,
                        credential(password)?
                    ))
                ),
                HeaderSpec::Secret { secret, prefix } => format!("{prefix}{}", credential(secret)?),
            };
            request = request.header(name.as_str(), value);
        }
        if let Some(body) = &spec.body {
            request = request.body(match card {
                Some(card) => with_card(body, card),
                None => body.clone(),
            });
        }
        Ok(request)
    }

    /// The account's access token: cached until shortly before it expires, fetched once however
    /// many payments ask at the same time.
    async fn token_for(&self, plugin: &Plugin, account: &Account) -> ConnectorResult<Option<String>> {
        if !plugin.flows.contains("access_token") {
            return Ok(None);
        }
        let slot = {
            let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            tokens.entry(token_owner(plugin, account)).or_default().clone()
        };
        let mut cached = slot.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.until) {
            return Ok(Some(token.value.clone()));
        }
        // A token request moves no money: whatever became of it, the next account may try.
        let scrubber = self.scrubber(plugin, account, None, None);
        let fresh = self.exchange(plugin, account, "access_token", None, json!({}), None, &scrubber).await;
        let fresh: TokenParse = match fresh.map_err(|e| e.scrub(&scrubber)) {
            Err(ConnectorError::Ambiguous { connector, reason, .. }) => {
                return Err(ConnectorError::Unavailable { connector, reason })
            }
            other => other?,
        };
        let lifetime = Duration::from_secs(fresh.expires_in).saturating_sub(TOKEN_MARGIN);
        *cached = Some(Token { value: fresh.token.clone(), until: Instant::now() + lifetime });
        Ok(Some(fresh.token))
    }

    /// A provider's id as `parse` reported it. It is stored and looked up whole, so one that is
    /// unbounded, not printable ASCII, or carries the call's card or secrets is refused (the
    /// call's outcome is then unclear), never cut or masked.
    fn provider_id(&self, what: &str, id: Option<String>, scrubber: &Scrubber) -> ConnectorResult<Option<String>> {
        match id.as_deref().and_then(|id| id_refused(id, scrubber)) {
            Some(problem) => Err(unreadable(self.name, format!("parse answered a {what} that {problem}"))),
            None => Ok(id),
        }
    }

    /// Where `parse` sends the payer: an http(s) page free of the call's card and secrets. A
    /// `javascript:` or `data:` URL would run in the merchant's page or the payer's browser.
    fn redirect(&self, url: Option<String>, scrubber: &Scrubber) -> ConnectorResult<Option<NextAction>> {
        let Some(url) = url else { return Ok(None) };
        if !crate::text::is_web_url(&url) {
            return Err(unreadable(
                self.name,
                "parse answered a redirect that is not an http(s) URL of at most 2048 bytes",
            ));
        }
        if scrubber.finds(&url) || masked(&url) {
            return Err(unreadable(self.name, "parse answered a redirect holding card data or a secret"));
        }
        Ok(Some(NextAction::RedirectToUrl { redirect_to_url: url }))
    }

    /// What `parse` returned, as the connector's outcome. `parse` runs once the provider has the
    /// request, so what cannot be taken from it leaves the outcome unclear: the attempt waits
    /// for a sync rather than being declared failed.
    fn outcome(&self, flow: &str, parsed: PaymentParse, scrubber: &Scrubber) -> ConnectorResult<PaymentOutcome> {
        if parsed.retryable {
            let reason = parsed.error.map(|e| e.message.unwrap_or(e.code)).unwrap_or_else(|| "retryable".into());
            return Err(unavailable(self.name, reason));
        }
        if let Some(captured) = parsed.amount_captured.filter(|c| !(0..=MAX_AMOUNT).contains(c)) {
            return Err(unreadable(self.name, format!("parse answered {captured} captured, which is no amount")));
        }
        let status = self.status::<AttemptStatus>(flow, &parsed.status, AttemptStatus::WORDS, scrubber)?;
        Ok(PaymentOutcome {
            status,
            amount_captured: parsed.amount_captured,
            connector_payment_id: self.provider_id("connector_payment_id", parsed.connector_payment_id, scrubber)?,
            connector_reference_id: self.provider_id(
                "connector_reference_id",
                parsed.connector_reference_id,
                scrubber,
            )?,
            next_action: self.redirect(parsed.redirect_url, scrubber)?,
            error: parsed.error.map(ParseError::into_error),
        })
    }

    fn refund_outcome(&self, flow: &str, parsed: RefundParse, scrubber: &Scrubber) -> ConnectorResult<RefundOutcome> {
        if parsed.retryable {
            return Err(unavailable(self.name, "the provider asked for a retry"));
        }
        let status = self.status::<RefundStatus>(flow, &parsed.status, RefundStatus::WORDS, scrubber)?;
        Ok(RefundOutcome {
            status,
            connector_refund_id: self.provider_id("connector_refund_id", parsed.connector_refund_id, scrubber)?,
            error: parsed.error.map(ParseError::into_error),
        })
    }

    /// Where a payer comes back to after the provider's page.
    fn return_url(&self, payment_id: &str) -> String {
        super::return_url(&self.public_url, payment_id)
    }
}

/// Whose access token an account uses: the application its credentials name at the address it
/// calls. Accounts of different merchants or profiles may share a name, never a token; accounts
/// with the same credentials share one.
fn token_owner(plugin: &Plugin, account: &Account) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(
        account.base_url.as_ref().map(BaseUrl::as_str).or(plugin.declaration.base_url.as_deref()).unwrap_or_default(),
    );
    for (name, value) in &account.credentials {
        hash.update([0]);
        hash.update(name);
        hash.update([0]);
        hash.update(value.expose());
    }
    hex::encode(hash.finalize())
}

/// Why a provider's id cannot be kept, if it cannot (see `PluginConnector::provider_id`).
fn id_refused(id: &str, scrubber: &Scrubber) -> Option<String> {
    crate::text::id_problem(id)
        .or_else(|| scrubber.finds(id).then(|| "holds card data or a secret".into()))
        .or_else(|| masked(id).then(|| "was masked in the answer parse read".into()))
}

/// Whether `text` holds what the host masks a security code or secret with: read from a scrubbed
/// answer, it is not what the provider sent (the card number's mask holds a space, which no id or
/// URL may).
fn masked(text: &str) -> bool {
    text.contains(SECRET_MASK)
}

/// A payment method as plugins declare what they support: its type and subtype.
fn method_kind(method: &PaymentMethod) -> (&'static str, &'static str) {
    match method {
        PaymentMethod::Card(_) => ("card", "credit"),
        PaymentMethod::OpenBanking => ("open_banking", "open_banking_pis"),
    }
}

/// Adds an amount to a flow's arguments the ways providers want it: minor units, major units as
/// a decimal string, and the currency code.
fn with_money(mut args: serde_json::Value, minor: i64, currency: Currency) -> serde_json::Value {
    if let Some(fields) = args.as_object_mut() {
        fields.insert("amount".into(), json!(minor));
        fields.insert("amount_decimal".into(), json!(currency.decimal(minor)));
        fields.insert("currency".into(), json!(currency.code()));
    }
    args
}

/// Where a plugin puts the card's security code.
const CVC_PLACEHOLDER: &str = "{{card.cvc}}";

/// Puts the card into a JSON body where the plugin wrote placeholders for it. This happens after
/// every line of plugin code has run, so card data never enters a plugin's state; it is why a
/// plugin that signs its body cannot send card data. A card charged without its code (a saved
/// card whose code is not held) sends no code at all: the member that would hold it is left out,
/// rather than sent empty, which a provider reads as a wrong code.
fn with_card(body: &str, card: &CardDetails) -> String {
    // Inside a JSON string: escaped as JSON, without the surrounding quotes.
    let json_text = |s: &str| {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        quoted[1..quoted.len() - 1].to_string()
    };
    let body = match &card.cvc {
        None if body.contains(CVC_PLACEHOLDER) => without_cvc(body),
        _ => body.to_string(),
    };
    body.replace("{{card.number}}", card.number.expose())
        .replace(CVC_PLACEHOLDER, card.cvc.as_ref().map(|c| c.expose()).unwrap_or_default())
        .replace("{{card.exp_month}}", &card.expiry.month_str())
        .replace("{{card.exp_year}}", &card.expiry.year_str())
        .replace("{{card.holder_name}}", &json_text(card.holder_name.as_deref().unwrap_or_default()))
}

/// A JSON `body` without the members that hold only the code's placeholder, at any depth.
fn without_cvc(body: &str) -> String {
    fn prune(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(members) => {
                members.retain(|_, v| v.as_str() != Some(CVC_PLACEHOLDER));
                members.values_mut().for_each(prune);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(prune),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut json) => {
            prune(&mut json);
            json.to_string()
        }
        // Placeholders are for JSON bodies.
        Err(_) => body.to_string(),
    }
}

#[async_trait]
impl Connector for PluginConnector {
    fn name(&self) -> &'static str {
        self.name
    }

    fn required_credentials(&self) -> Vec<&str> {
        self.required.iter().map(String::as_str).collect()
    }

    fn takes(&self, method: &PaymentMethod, currency: Currency) -> bool {
        let (kind, subtype) = method_kind(method);
        let declared = &self.plugin.declaration;
        declared.supports.get(kind).is_some_and(|s| s.allows(subtype)) && declared.currencies.allows(currency.code())
    }

    async fn access_token(&self, account: &Account) -> ConnectorResult<Option<String>> {
        self.token_for(&self.plugin, account).await
    }

    fn repeats_safely(&self) -> bool {
        self.plugin.declaration.idempotent
    }

    fn takes_currency(&self, currency: Currency) -> bool {
        self.plugin.declaration.currencies.allows(currency.code())
    }

    fn payment_methods(&self) -> Vec<(String, String)> {
        let declared = &self.plugin.declaration;
        let pairs = declared
            .supports
            .iter()
            .flat_map(|(kind, subtypes)| subtypes.listed().iter().map(move |subtype| (kind.clone(), subtype.clone())));
        pairs.collect()
    }

    fn session_wallets(&self) -> Vec<String> {
        self.plugin.session_wallets.clone()
    }

    /// Session tokens are pure: the plugin's function makes one from the account and payment,
    /// and the host names the wallet and the connector.
    async fn session_token(&self, account: &Account, req: &SessionTokenRequest<'_>) -> ConnectorResult<SessionToken> {
        let plugin = self.plugin.clone();
        if !plugin.session_wallets.iter().any(|w| w == req.wallet) {
            return Err(self.not_supported(&format!("{} session tokens", req.wallet)));
        }
        let args =
            with_money(json!({ "payment_id": req.payment_id, "wallet": req.wallet }), req.amount.minor(), req.currency);
        let made = self
            .run_lua(&plugin, account, &Pins::default(), None, "session_tokens", req.wallet, &[&args])
            .and_then(|value| self.parse_as::<serde_json::Value>("session_tokens", value))
            .and_then(|mut token| {
                let fields = token.as_object_mut().ok_or("session_tokens must return a table")?;
                fields.insert("wallet_name".into(), json!(req.wallet));
                fields.insert("connector".into(), json!(self.name));
                serde_json::from_value::<SessionToken>(token).map_err(|e| e.to_string())
            });
        made.map_err(|e| {
            self.failed("session_tokens", req.wallet, "error", &e, &self.scrubber(&plugin, account, None, None));
            unavailable(self.name, SESSION_FAILED)
        })
    }

    async fn authorize(&self, account: &Account, req: &AuthorizeRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        let (kind, subtype) = method_kind(req.payment_method);
        if !self.takes(req.payment_method, req.currency) {
            return Err(self.not_supported(&format!("{kind} payments in {}", req.currency)));
        }
        // Card numbers never enter a plugin's state: a plugin sees these facts, and writes
        // placeholders where the card goes (`with_card`).
        let card = match req.payment_method {
            PaymentMethod::Card(card) => Some(card),
            PaymentMethod::OpenBanking => None,
        };
        let card_facts = card.map(|c| {
            json!({
                "last4": c.number.last4(),
                "bin": c.number.bin(),
                "network": c.number.network().map(|n| format!("{n:?}")),
                "holder_name": c.holder_name,
            })
        });
        let args = json!({
            "payment_id": req.payment_id,
            "attempt_id": req.attempt_id,
            "capture_method": req.capture_method.as_str(),
            "payment_method_type": kind,
            "payment_method_subtype": subtype,
            "description": req.description,
            "billing": req.billing,
            "return_url": self.return_url(req.payment_id),
            "card": card_facts,
        });
        let args = with_money(args, req.amount.minor(), req.currency);
        self.call_flow_with(account, "authorize", args, card, Self::outcome).await
    }

    async fn complete_authorize(
        &self,
        account: &Account,
        req: &CompleteAuthorizeRequest<'_>,
    ) -> ConnectorResult<PaymentOutcome> {
        // The payer is back. A plugin that needs what the provider sent back with them (Adyen's
        // `redirectResult`) defines `complete_authorize`; otherwise the provider is asked.
        if !self.plugin.flows.contains("complete_authorize") {
            let sync = SyncRequest {
                attempt_id: req.attempt_id,
                connector_payment_id: req.connector_payment_id,
                amount: 0,
                window: None,
            };
            return self.sync(account, &sync).await;
        }
        let args = json!({
            "payment_id": req.payment_id,
            "attempt_id": req.attempt_id,
            "connector_payment_id": req.connector_payment_id,
            "capture_method": req.capture_method.as_str(),
            "params": req.params,
        });
        self.call_flow(account, "complete_authorize", args, Self::outcome).await
    }

    async fn sync(&self, account: &Account, req: &SyncRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        let args = json!({ "attempt_id": req.attempt_id, "connector_payment_id": req.connector_payment_id, "amount": req.amount });
        self.call_flow(account, "sync", args, Self::outcome).await
    }

    async fn capture(&self, account: &Account, req: &CaptureRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        let args = json!({ "attempt_id": req.attempt_id, "connector_payment_id": req.connector_payment_id });
        let args = with_money(args, req.amount_to_capture, req.currency);
        self.call_flow(account, "capture", args, Self::outcome).await
    }

    async fn void(&self, account: &Account, req: &VoidRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        let args = json!({ "attempt_id": req.attempt_id, "connector_payment_id": req.connector_payment_id, "reason": req.cancellation_reason });
        self.call_flow(account, "void", args, Self::outcome).await
    }

    async fn refund(&self, account: &Account, req: &RefundRequest<'_>) -> ConnectorResult<RefundOutcome> {
        let args = json!({ "refund_id": req.refund_id, "connector_payment_id": req.connector_payment_id, "reason": req.reason });
        let args = with_money(args, req.amount.minor(), req.currency);
        self.call_flow(account, "refund", args, Self::refund_outcome).await
    }

    async fn webhook(&self, account: &Account, req: &WebhookRequest<'_>) -> Result<WebhookEvent, WebhookError> {
        let plugin = self.plugin.clone();
        if !plugin.has_webhook {
            return Err(WebhookError::NotSupported(self.name.to_string()));
        }
        let headers: serde_json::Map<String, serde_json::Value> =
            req.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), json!(v))).collect();
        let incoming = json!({ "headers": headers, "body": String::from_utf8_lossy(req.body) });
        let pins = Pins::default();
        let args = [&incoming];
        match self.run_lua(&plugin, account, &pins, None, "webhook", "verify", &args) {
            Ok(Value::Boolean(true)) => {}
            Ok(_) => return Err(WebhookError::BadSignature("the plugin did not verify it".into())),
            Err(e) => return Err(WebhookError::BadSignature(e)),
        }
        let parsed =
            self.run_lua(&plugin, account, &pins, None, "webhook", "parse", &args).map_err(WebhookError::Unreadable)?;
        if matches!(parsed, Value::Nil) {
            return Ok(WebhookEvent::Ignored);
        }
        let event: WebhookParse = self.parse_as("webhook", parsed).map_err(WebhookError::Unreadable)?;
        // Held to what a flow's `parse` is held to; the notification itself is left as it came,
        // since its signature covers it.
        let scrubber = self.scrubber(&plugin, account, None, None);
        let id = |what, id: Option<String>| match id.as_deref().and_then(|id| id_refused(id, &scrubber)) {
            Some(problem) => Err(WebhookError::Unreadable(format!("webhook.parse returned a {what} that {problem}"))),
            None => Ok(id),
        };
        let (payment_id, refund_id) = (
            id("connector_payment_id", event.connector_payment_id)?,
            id("connector_refund_id", event.connector_refund_id)?,
        );
        let attempt_id = id("attempt_id", event.attempt_id)?;
        let own_refund_id = id("refund_id", event.refund_id)?;
        if let Some(captured) = event.amount_captured.filter(|c| !(0..=MAX_AMOUNT).contains(c)) {
            return Err(WebhookError::Unreadable(format!(
                "webhook.parse returned {captured} captured, which is no amount"
            )));
        }
        let error = event.error.map(ParseError::into_error);
        let unknown = |words: &[&str]| WebhookError::Unreadable(unknown_status(&event.status, words));
        let event = match (event.kind.as_str(), payment_id, refund_id) {
            ("payment", Some(connector_payment_id), _) => WebhookEvent::Payment {
                connector_payment_id: connector_payment_id.clone(),
                attempt_id,
                outcome: PaymentOutcome {
                    status: event.status.parse().map_err(|_| unknown(AttemptStatus::WORDS))?,
                    amount_captured: event.amount_captured,
                    connector_payment_id: Some(connector_payment_id),
                    connector_reference_id: None,
                    next_action: None,
                    error,
                }
                .scrub(&scrubber),
            },
            ("refund", _, Some(connector_refund_id)) => WebhookEvent::Refund {
                connector_refund_id: connector_refund_id.clone(),
                refund_id: own_refund_id,
                outcome: RefundOutcome {
                    status: event.status.parse().map_err(|_| unknown(RefundStatus::WORDS))?,
                    connector_refund_id: Some(connector_refund_id),
                    error,
                }
                .scrub(&scrubber),
            },
            (kind, ..) => {
                return Err(WebhookError::Unreadable(format!("webhook.parse returned kind `{kind}` without its id")))
            }
        };
        Ok(event)
    }

    async fn refund_sync(&self, account: &Account, req: &RefundSyncRequest<'_>) -> ConnectorResult<RefundOutcome> {
        let args = json!({ "refund_id": req.refund_id, "connector_refund_id": req.connector_refund_id });
        self.call_flow(account, "refund_sync", args, Self::refund_outcome).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    /// A connector for the plugin whose table fields are `fields`, and an account of it with an
    /// `api_key` (a secret) and a `merchant` id.
    fn connector(fields: &str) -> (PluginConnector, Account) {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("zappay.lua");
        let source = format!(
            r#"return {{ name = "zappay", api_version = 1, supports = {{ card = "any" }}, currencies = "any",
                credentials = {{ "api_key", "merchant" }}, secrets = {{ "api_key" }}, {fields} }}"#
        );
        std::fs::write(&path, source).unwrap();
        let limits = Budget { time_budget: Duration::from_secs(1), memory_bytes: 16 << 20 };
        let plugin = loader::load_plugin(&path, limits).unwrap();
        let account = Account {
            profile: "test".into(),
            name: "zappay".into(),
            connector: "zappay".into(),
            enabled: true,
            base_url: Some(BaseUrl::new("http://provider.invalid")),
            credentials: [("api_key", "sk_zap"), ("merchant", "m_1")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Secret::new(v.to_string())))
                .collect(),
            metadata: Default::default(),
            health: Default::default(),
            meters: Default::default(),
        };
        (PluginConnector::new(plugin, limits, Client::new(), "http://switchyard.invalid"), account)
    }

    /// A worker makes each account's `ctx` once and hands the same table to every call after:
    /// nothing a call tries on it reaches the next call, and each account (and token) has its own.
    #[test]
    fn a_call_cannot_change_the_ctx_the_next_call_reads() {
        let (connector, mut account) = connector(
            r#"authorize = {
                build = function(ctx, pay)
                  local tries = {
                    function() ctx.account = "other" end,
                    function() ctx.extra = 1 end,
                    function() ctx.credentials.merchant = "m_2" end,
                    function() rawset(ctx.credentials, "merchant", "m_2") end,
                    function() ctx.metadata.note = "left behind" end,
                    function() ctx.metadata.shop.name = "renamed" end,
                    function() ctx.metadata.list[1] = "changed" end,
                    function() table.insert(ctx.metadata.list, "more") end,
                    function() setmetatable(ctx, { __index = function() return "made up" end }) end,
                    function() getmetatable(ctx.credentials).__index = function() return "made up" end end,
                  }
                  local held = 0
                  for _, try in ipairs(tries) do
                    if not pcall(try) then held = held + 1 end
                  end
                  return { method = "POST", url = "/pay", body = json.encode({
                    held = held, account = ctx.account, extra = ctx.extra, merchant = ctx.credentials.merchant,
                    unknown = ctx.credentials.unknown, note = ctx.metadata.note, shop = ctx.metadata.shop,
                    list = ctx.metadata.list, token = ctx.access_token,
                  }) }
                end,
                parse = function() return { status = "charged" } end,
            }"#,
        );
        account.metadata = json!({ "shop": { "name": "Shop" }, "list": ["a", "b"] }).as_object().unwrap().clone();
        let seen = |account: &Account, token: Option<&str>| {
            let spec = connector.build(account, &Pins::default(), "authorize", token, &json!({})).unwrap();
            serde_json::from_str::<serde_json::Value>(&spec.body.unwrap()).unwrap()
        };
        let first = json!({
            "held": 10, "account": "zappay", "merchant": "m_1", "shop": { "name": "Shop" }, "list": ["a", "b"]
        });
        for _ in 0..3 {
            assert_eq!(seen(&account, None), first);
        }
        let with_token = json!({
            "held": 10, "account": "zappay", "merchant": "m_1", "shop": { "name": "Shop" }, "list": ["a", "b"],
            "token": "tok_1"
        });
        assert_eq!(seen(&account, Some("tok_1")), with_token);
        let mut other = account.clone();
        other.name = "zappay_eu".into();
        other.credentials.insert("merchant".into(), Secret::new("m_eu".into()));
        other.metadata = Default::default();
        assert_eq!(seen(&other, None), json!({ "held": 10, "account": "zappay_eu", "merchant": "m_eu" }));
        assert_eq!(seen(&account, None), first);
    }

    #[test]
    fn reading_a_secret_credential_names_the_host_function_to_use_instead() {
        let (connector, account) = connector(
            r#"authorize = {
                build = function(ctx, pay)
                  assert(ctx.credentials.unknown == nil)
                  local body = json.encode({ merchant = ctx.credentials.merchant })
                  if pay.description == "read" then body = ctx.credentials.api_key end
                  return { method = "POST", url = "/pay", body = body }
                end,
                parse = function() return { status = "charged" } end,
            }"#,
        );
        let spec = connector.build(&account, &Pins::default(), "authorize", None, &json!({})).unwrap();
        assert_eq!(spec.body.as_deref(), Some(r#"{"merchant":"m_1"}"#));
        let err = connector
            .build(&account, &Pins::default(), "authorize", None, &json!({ "description": "read" }))
            .unwrap_err();
        assert!(err.contains("ctx.credentials.api_key is a secret"), "{err}");
        assert!(
            err.contains(r#"secret = "api_key""#) && err.contains(r#"crypto.hmac_sha256("api_key", data)"#),
            "{err}"
        );
        assert!(!err.contains("sk_zap"), "{err}");
    }

    #[test]
    fn a_card_charged_without_its_code_sends_no_code_rather_than_an_empty_one() {
        let card = |cvc: Option<&str>| CardDetails {
            number: crate::card::CardNumber::parse("4242424242424242").unwrap(),
            cvc: cvc.map(|c| serde_json::from_value(json!(c)).unwrap()),
            expiry: crate::card::Expiry {
                month: serde_json::from_value(json!("10")).unwrap(),
                year: serde_json::from_value(json!("35")).unwrap(),
            },
            holder_name: None,
            issuing_country: None,
            connector_tokens: Default::default(),
        };
        let body = r#"{"method":{"number":"{{card.number}}","cvc":"{{card.cvc}}"},"also":[{"cvc":"{{card.cvc}}"}],"note":"cvc"}"#;
        let with_code: serde_json::Value = serde_json::from_str(&with_card(body, &card(Some("737")))).unwrap();
        assert_eq!(with_code["method"], json!({ "number": "4242424242424242", "cvc": "737" }));
        assert_eq!(with_code["also"], json!([{ "cvc": "737" }]));
        let without: serde_json::Value = serde_json::from_str(&with_card(body, &card(None))).unwrap();
        assert_eq!(
            without,
            json!({ "method": { "number": "4242424242424242" }, "also": [{}], "note": "cvc" }),
            "the members holding the code are left out"
        );
        let plain = r#"{"number":"{{card.number}}"}"#;
        assert_eq!(
            with_card(plain, &card(None)),
            r#"{"number":"4242424242424242"}"#,
            "a body without the code is as written"
        );
    }
}
