//! Configuration: built-in defaults, then `config/switchyard.toml` (or `--config PATH`), then the
//! environment (`SWITCHYARD__SECTION__KEY`), merged by figment. `check` lists every problem with
//! the path of the value at fault, so an operator can fix a file in one pass.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub const DEFAULT_CONFIG_PATH: &str = "config/switchyard.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub security: SecurityConfig,
    pub paths: PathsConfig,
    pub payments: PaymentsConfig,
    pub lua: LuaConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    pub vault: VaultConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub reconciler: ReconcilerConfig,
    #[serde(default)]
    pub outgoing_webhooks: OutgoingWebhooksConfig,
    #[serde(default)]
    pub shared: SharedConfig,
    /// The file this configuration was read from, which the daemon watches for new limits.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    #[serde(default)]
    pub merchants: BTreeMap<String, MerchantConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where the API listens.
    pub listen: String,
    /// How customers' browsers reach this daemon (redirects back from authentication pages).
    /// Empty means `http://{listen}`.
    #[serde(default)]
    pub public_url: String,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The largest request head (request line and headers) accepted, in bytes; a larger one is
    /// answered 431 by the HTTP layer.
    #[serde(default = "max_header_bytes")]
    pub max_header_bytes: usize,
    /// How deeply a JSON body may nest arrays and objects.
    #[serde(default = "max_json_depth")]
    pub max_json_depth: usize,
    /// How long a client may take to send a request's head, from when its connection opened or
    /// its previous answer was sent; past it the connection is closed. Idle connections go too.
    #[serde(default = "header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// How long a client may take to send a request's body, in all.
    #[serde(default = "body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// How long a client waits for an answer. Past it the request is answered 504 while its work
    /// goes on: a payment under way is never cut off. Must exceed `payments.budget_ms`.
    #[serde(default = "request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// On SIGTERM, how long requests under way may take to finish before the daemon exits anyway.
    #[serde(default = "shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// The most client connections open at once; more wait in the listen queue until one closes.
    #[serde(default = "max_client_connections")]
    pub max_connections: usize,
}

fn max_header_bytes() -> usize {
    16 * 1024
}

fn max_json_depth() -> usize {
    32
}

fn header_timeout_ms() -> u64 {
    20_000
}

fn body_timeout_ms() -> u64 {
    20_000
}

fn request_timeout_ms() -> u64 {
    60_000
}

fn shutdown_grace_secs() -> u64 {
    10
}

fn max_client_connections() -> usize {
    1024
}

/// The smallest request head limit that lets ordinary clients through.
pub const MIN_HEADER_BYTES: usize = 1024;
/// serde_json refuses deeper documents itself.
pub const MAX_JSON_DEPTH: usize = 128;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (the default) or `postgres://user:pass@host/db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// The key API-key hashes are made with (HMAC-SHA256). Keys are stored only as these hashes.
    pub api_key_hash_secret: SecretValue,
}

/// The shortest hash secret taken: a short one would let a stolen key hash be tried against
/// guessed secrets.
const MIN_HASH_SECRET_LEN: usize = 16;

impl SecurityConfig {
    /// The secret API-key hashes are made with, or why the daemon would refuse it. `serve` and
    /// `keys new` hold it to the same rule, so no key is made under a secret the daemon refuses.
    pub fn hash_secret(&self) -> Result<Secret<String>, String> {
        let secret = self.api_key_hash_secret.resolve()?;
        if secret.expose().len() < MIN_HASH_SECRET_LEN {
            return Err(format!("must be at least {MIN_HASH_SECRET_LEN} characters"));
        }
        Ok(secret)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsConfig {
    pub routing: PathBuf,
    pub plugins: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Prefix of every id switchyard mints (`{cell_id}_pay_…`).
    pub cell_id: String,
    /// Default lifetime of an intent's client secret, in seconds.
    pub session_expiry_secs: u32,
    /// How long one connector may take over a payment (both of its calls, when a call with no
    /// clear answer is repeated), in milliseconds.
    #[serde(default = "attempt_timeout_ms")]
    pub attempt_timeout_ms: u64,
    /// How long a payment may spend on its connectors in all: no further account is tried once
    /// it is spent, in milliseconds.
    #[serde(default = "budget_ms")]
    pub budget_ms: u64,
}

fn attempt_timeout_ms() -> u64 {
    20_000
}

fn budget_ms() -> u64 {
    45_000
}

/// Where saved cards are kept: encrypted with AES-256-GCM in the database, under a key that is
/// never stored with them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// 64 hex digits (`switchyard keys new --vault`). Without it payment methods cannot be saved,
    /// and a database that holds saved cards refuses to start.
    #[serde(default)]
    pub key: Option<SecretValue>,
    /// How long a `volatile` payment method keeps its card's security code (in memory, or in
    /// Redis with `[shared]`), unless a payment uses it first.
    pub cvc_ttl_secs: u32,
}

/// The one HTTP client every connector calls its provider with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// How long a connection to a provider may take to open, in milliseconds.
    pub connect_timeout_ms: u64,
    /// How long a provider may take to answer a call, in milliseconds.
    pub request_timeout_ms: u64,
}

/// Limits every Lua call (routing scripts, connector plugins) runs under.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LuaConfig {
    /// How long one call may run, in milliseconds.
    pub time_budget_ms: u64,
    /// How much memory one worker's Lua state may hold, in MiB.
    pub memory_limit_mb: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `switchyard=debug`.
    pub level: String,
    pub json: bool,
}

/// The levels `log.level` may name, in any case.
const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

impl LogConfig {
    /// Whether `level` is a filter that logs what it says. The daemon's tracing filter takes a
    /// word that is not a level as a target (`verbose`: log that target only) and drops a
    /// directive it cannot read (`foo=loud`), so such a filter would start and log next to
    /// nothing. Each directive must also read as one to that filter: a space around it, say,
    /// makes it another target.
    pub fn check_level(&self) -> Result<(), String> {
        let unmeant = self.level.split(',').find(|directive| {
            let level = directive.rsplit_once('=').map_or(*directive, |(_, level)| level);
            !LOG_LEVELS.iter().any(|name| name.eq_ignore_ascii_case(level))
                || directive.parse::<tracing_subscriber::filter::Directive>().is_err()
        });
        match unmeant {
            None => Ok(()),
            Some(directive) => Err(format!(
                "`{directive}` is not a level: give one of {} (any case), or `target=level` directives \
                 separated by commas, e.g. `info,switchyard=debug`",
                LOG_LEVELS.join(", ")
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantConfig {
    /// The name payers see on the merchant's payment links; the merchant's id when left out.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    #[serde(default)]
    pub publishable_key: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub name: String,
    /// `hmac-sha256:<hex>` of the secret key under `security.api_key_hash_secret`.
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    #[serde(default)]
    pub connector_accounts: Vec<ConnectorAccountConfig>,
    /// The routing script (`<paths.routing>/<name>.lua`) that orders this profile's accounts.
    #[serde(default)]
    pub routing: Option<String>,
    /// Connector accounts in the order payments try them; empty means every enabled account in
    /// the order listed.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Refuse cards whose expiry date has passed before calling any connector.
    #[serde(default = "yes")]
    pub reject_expired_cards: bool,
    /// Overrides `payments.session_expiry_secs` for this profile.
    #[serde(default)]
    pub session_expiry_secs: Option<u32>,
    /// Where the merchant is told of each change of a payment's or refund's status; none, no
    /// events are kept.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// What those webhooks are signed with (HMAC-SHA512 in `x-webhook-signature-512`).
    #[serde(default)]
    pub payment_response_hash_key: Option<SecretValue>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorAccountConfig {
    /// How routing and responses (`merchant_connector_id`) name this account.
    pub name: String,
    /// Which connector serves it (`sandbox`, …).
    pub connector: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Overrides the connector's API address (sandboxes, tests).
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub credentials: BTreeMap<String, SecretValue>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The provider's quota: calls beyond it skip this account in routing.
    #[serde(default)]
    pub rate_limit: Option<RateConfig>,
}

/// A token bucket: `per_second` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub per_second: u32,
    pub burst: u32,
}

/// The Prometheus exposition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Off, nothing is recorded and `/metrics` does not exist (for measuring what metrics cost).
    pub enabled: bool,
    /// An address of its own for `/metrics` (an admin listener kept off the public network);
    /// empty serves it on the API listener.
    #[serde(default)]
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, listen: String::new() }
    }
}

/// The background task that settles payments and refunds left unsettled by a crash or an
/// unclear answer, by asking their provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcilerConfig {
    pub enabled: bool,
    /// How often it looks for unsettled payments and refunds, in milliseconds.
    pub every_ms: u64,
    /// How long a payment or refund must have been unsettled before it is looked at, in
    /// milliseconds. Longer than any connector call may take (`Config::longest_call`), so no call
    /// still under way is overtaken.
    pub after_ms: u64,
    /// The longest wait between two looks at one that stays unsettled, in milliseconds; the wait
    /// doubles from `after_ms` up to this.
    pub max_backoff_ms: u64,
    /// How many it takes on in one round.
    pub batch: u32,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        Self { enabled: true, every_ms: 5_000, after_ms: 60_000, max_backoff_ms: 3_600_000, batch: 32 }
    }
}

/// Delivery of the events kept for merchants: each is posted to its profile's `webhook_url` until
/// it is answered 2xx, in order per payment or refund.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutgoingWebhooksConfig {
    /// How often the outbox is looked at, besides right after a change, in milliseconds.
    pub every_ms: u64,
    /// How long a merchant's endpoint may take to answer, in milliseconds.
    pub timeout_ms: u64,
    /// The wait before the first retry, in milliseconds; it doubles with each retry.
    pub retry_base_ms: u64,
    /// The longest wait between two tries, in milliseconds.
    pub retry_max_ms: u64,
    /// After this many tries an event is given up on, and the next of its payment may go.
    pub max_attempts: u32,
    /// How many events one round sends at most.
    pub batch: u32,
}

impl Default for OutgoingWebhooksConfig {
    fn default() -> Self {
        Self {
            every_ms: 1_000,
            timeout_ms: 5_000,
            retry_base_ms: 5_000,
            retry_max_ms: 3_600_000,
            max_attempts: 20,
            batch: 32,
        }
    }
}

/// State several daemons share through Redis (`shared::Shared`): rate-limit buckets, connector
/// accounts' health and circuits, volatile security codes. Without a URL, each daemon keeps its
/// own. Read at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharedConfig {
    /// `redis://host:port/db` (a password may be in it, so it may be `{ env = "…" }` too).
    pub url: Option<SecretValue>,
    /// How long one call to Redis may take before the daemon goes on without it, in milliseconds.
    pub timeout_ms: u64,
    /// After a call to Redis failed, how long the daemon works alone before it asks again, in
    /// milliseconds.
    pub retry_ms: u64,
    /// What every key begins with, so several deployments may share one Redis.
    pub prefix: String,
}

impl Default for SharedConfig {
    fn default() -> Self {
        Self { url: None, timeout_ms: 50, retry_ms: 1_000, prefix: "switchyard".into() }
    }
}

/// Rate limits on the API. Left out, a limit does not apply. Reloaded with the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Per API key (secret or publishable).
    #[serde(default)]
    pub per_key: Option<RateConfig>,
    /// Per merchant, all its keys together.
    #[serde(default)]
    pub per_merchant: Option<RateConfig>,
}

/// A secret written into the config, or the name of the environment variable that holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SecretValue {
    Env { env: String },
    Literal(String),
}

impl SecretValue {
    pub fn resolve(&self) -> Result<Secret<String>, String> {
        match self {
            SecretValue::Literal(s) if s.is_empty() => Err("is empty".into()),
            SecretValue::Literal(s) => Ok(Secret::new(s.clone())),
            SecretValue::Env { env } => match std::env::var(env) {
                Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
                _ => Err(format!("environment variable {env} is not set")),
            },
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen: "127.0.0.1:8080".into(),
                public_url: String::new(),
                max_body_bytes: 64 * 1024,
                max_header_bytes: max_header_bytes(),
                max_json_depth: max_json_depth(),
                header_timeout_ms: header_timeout_ms(),
                body_timeout_ms: body_timeout_ms(),
                request_timeout_ms: request_timeout_ms(),
                shutdown_grace_secs: shutdown_grace_secs(),
                max_connections: max_client_connections(),
            },
            database: DatabaseConfig { url: "sqlite://data/switchyard.db".into(), max_connections: 8 },
            security: SecurityConfig {
                api_key_hash_secret: SecretValue::Env { env: "SWITCHYARD_API_KEY_HASH_SECRET".into() },
            },
            paths: PathsConfig { routing: "routing".into(), plugins: "plugins".into() },
            payments: PaymentsConfig {
                cell_id: "sy".into(),
                session_expiry_secs: 900,
                attempt_timeout_ms: attempt_timeout_ms(),
                budget_ms: budget_ms(),
            },
            lua: LuaConfig { time_budget_ms: 5, memory_limit_mb: 16 },
            http: HttpConfig { connect_timeout_ms: 2_000, request_timeout_ms: 15_000 },
            log: LogConfig { level: "info".into(), json: false },
            vault: VaultConfig { key: None, cvc_ttl_secs: 900 },
            limits: LimitsConfig::default(),
            metrics: MetricsConfig::default(),
            reconciler: ReconcilerConfig::default(),
            outgoing_webhooks: OutgoingWebhooksConfig::default(),
            shared: SharedConfig::default(),
            source: None,
            merchants: BTreeMap::new(),
        }
    }
}

/// A problem found in the configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl Config {
    /// Loads the layered configuration. A missing file is fine only at the default path.
    ///
    /// serde stops at the first problem of whatever it reads, so each section, each merchant,
    /// and within a merchant each profile and each connector account is read on its own: one
    /// bad value hides no problem of another part.
    pub fn load(path: Option<&Path>) -> Result<Self, Vec<Problem>> {
        let file = path.unwrap_or(Path::new(DEFAULT_CONFIG_PATH));
        if path.is_some() && !file.exists() {
            return Err(vec![Problem { path: file.display().to_string(), message: "file not found".into() }]);
        }
        let defaults = Config::default();
        let merged = Figment::from(Serialized::defaults(&defaults))
            .merge(Toml::file(file))
            .merge(Env::prefixed("SWITCHYARD__").split("__"))
            .find_value("")
            .map_err(|errors| {
                // A file that does not parse as TOML: its errors carry no path within it.
                let at = file.display().to_string();
                errors
                    .into_iter()
                    .map(|e| Problem { path: at.clone(), message: e.kind.to_string() })
                    .collect::<Vec<_>>()
            })?;
        let empty = Dict::new();
        let root = merged.as_dict().unwrap_or(&empty);
        // The sections are the keys the defaults serialize to.
        let known = Value::serialize(&defaults).ok().and_then(Value::into_dict).unwrap_or_default();

        let mut parts = Parts::default();
        let config = Config {
            server: parts.section(root, "server", defaults.server),
            database: parts.section(root, "database", defaults.database),
            security: parts.section(root, "security", defaults.security),
            paths: parts.section(root, "paths", defaults.paths),
            payments: parts.section(root, "payments", defaults.payments),
            lua: parts.section(root, "lua", defaults.lua),
            http: parts.section(root, "http", defaults.http),
            log: parts.section(root, "log", defaults.log),
            vault: parts.section(root, "vault", defaults.vault),
            limits: parts.section(root, "limits", defaults.limits),
            metrics: parts.section(root, "metrics", defaults.metrics),
            reconciler: parts.section(root, "reconciler", defaults.reconciler),
            outgoing_webhooks: parts.section(root, "outgoing_webhooks", defaults.outgoing_webhooks),
            shared: parts.section(root, "shared", defaults.shared),
            source: file.exists().then(|| file.to_path_buf()),
            merchants: root.get("merchants").map(|m| parts.merchants(m)).unwrap_or_default(),
        };
        for (key, value) in root.iter().filter(|(key, _)| !known.contains_key(*key)) {
            // Read alone, an unknown section is the first key serde meets: it is refused in
            // serde's words, with the sections it expected.
            parts.read::<Config>(&Value::from(Dict::from([(key.clone(), value.clone())])), "");
        }
        if parts.problems.is_empty() {
            Ok(config)
        } else {
            Err(parts.problems)
        }
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.server.listen.parse().map_err(|e| format!("`{}` is not an address: {e}", self.server.listen))
    }

    pub fn public_url(&self) -> String {
        match self.server.public_url.trim_end_matches('/') {
            "" => format!("http://{}", self.server.listen),
            url => url.to_string(),
        }
    }

    /// The longest a connector call may still be under way, in milliseconds, and what bounds it
    /// (the setting, as a message names it). A payment's authorizations are cut off at
    /// `payments.budget_ms` (each account's, like a capture or a cancel, at
    /// `attempt_timeout_ms`); a refund or a sync by the HTTP client's timeout only, and a plugin
    /// may make two such requests for one call (its access token, then the call), with a
    /// `build` and a `parse` under the Lua budget around each.
    pub fn longest_call(&self) -> (u64, String) {
        let lua = self.lua.time_budget_ms;
        let plugin_call = self.http.request_timeout_ms.saturating_add(lua.saturating_mul(2)).saturating_mul(2);
        let bounds = [
            (self.payments.budget_ms, format!("payments.budget_ms ({} ms)", self.payments.budget_ms)),
            (
                self.payments.attempt_timeout_ms,
                format!("payments.attempt_timeout_ms ({} ms)", self.payments.attempt_timeout_ms),
            ),
            (
                plugin_call,
                format!(
                    "twice http.request_timeout_ms and lua.time_budget_ms for a build and a parse ({plugin_call} \
                     ms: a plugin's access-token request, then its call)"
                ),
            ),
        ];
        bounds.into_iter().max_by_key(|(ms, _)| *ms).expect("three bounds")
    }
}

/// Reads a configuration part by part, keeping the problems of every part.
#[derive(Default)]
struct Parts {
    problems: Vec<Problem>,
}

impl Parts {
    /// `value`, found at `at`, as a `T`; `None` when it is not one, its problems kept.
    fn read<T: DeserializeOwned>(&mut self, value: &Value, at: &str) -> Option<T> {
        value
            .deserialize()
            .map_err(|errors: figment::Error| {
                self.problems.extend(
                    errors
                        .into_iter()
                        .map(|e| Problem { path: path_in(value, at, &e.path), message: e.kind.to_string() }),
                )
            })
            .ok()
    }

    /// The section `key` of `root`; `default` when it is missing or does not read, as then
    /// only its problems matter.
    fn section<T: DeserializeOwned>(&mut self, root: &Dict, key: &str, default: T) -> T {
        root.get(key).and_then(|value| self.read(value, key)).unwrap_or(default)
    }

    fn merchants(&mut self, value: &Value) -> BTreeMap<String, MerchantConfig> {
        let Some(merchants) = value.as_dict() else {
            return self.read(value, "merchants").unwrap_or_default();
        };
        let mut read = BTreeMap::new();
        for (id, merchant) in merchants {
            if let Some(merchant) = self.merchant(merchant, &format!("merchants.{id}")) {
                read.insert(id.clone(), merchant);
            }
        }
        read
    }

    fn merchant(&mut self, value: &Value, at: &str) -> Option<MerchantConfig> {
        let (own, profiles) = split_off(value, "profiles", |v| v.as_dict().is_some());
        let mut merchant: Option<MerchantConfig> = self.read(&own, at);
        for (id, profile) in profiles.as_ref().and_then(Value::as_dict).into_iter().flatten() {
            let profile = self.profile(profile, &format!("{at}.profiles.{id}"));
            if let (Some(merchant), Some(profile)) = (merchant.as_mut(), profile) {
                merchant.profiles.insert(id.clone(), profile);
            }
        }
        merchant
    }

    fn profile(&mut self, value: &Value, at: &str) -> Option<ProfileConfig> {
        let (own, accounts) = split_off(value, "connector_accounts", |v| v.as_array().is_some());
        let mut profile: Option<ProfileConfig> = self.read(&own, at);
        for (i, account) in accounts.as_ref().and_then(Value::as_array).into_iter().flatten().enumerate() {
            let account = self.read(account, &format!("{at}.connector_accounts[{i}]"));
            if let Some(profile) = profile.as_mut() {
                profile.connector_accounts.extend(account);
            }
        }
        profile
    }
}

/// `value` without its `key`, and what `key` held, when `value` is a table and `key` of the shape
/// `fits` wants. Otherwise `value` whole, so that reading it reports the wrong shape.
fn split_off(value: &Value, key: &str, fits: fn(&Value) -> bool) -> (Value, Option<Value>) {
    match value.as_dict() {
        Some(dict) if dict.get(key).is_some_and(fits) => {
            let mut own = dict.clone();
            let taken = own.remove(key);
            (Value::from(own), taken)
        }
        _ => (value.clone(), None),
    }
}

/// The dotted path of the value at `path` under `value`, itself at `at`, with an array's items as
/// `[i]`, as `check` writes paths. figment's paths name an item and a key alike.
fn path_in(value: &Value, at: &str, path: &[String]) -> String {
    let mut out = at.to_string();
    let mut here = Some(value);
    for key in path {
        here = match here {
            Some(Value::Array(_, items)) => {
                out.push_str(&format!("[{key}]"));
                key.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
                here.and_then(Value::as_dict).and_then(|dict| dict.get(key))
            }
        };
    }
    out
}

#[cfg(test)]
// figment's `Jail` fixes its closures' error type, a large one.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn environment_beats_file_beats_defaults() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).expect("defaults alone load");
            assert_eq!(config.server.listen, "127.0.0.1:8080");
            assert_eq!(config.database.url, "sqlite://data/switchyard.db");

            std::fs::create_dir("config").map_err(|e| e.to_string())?;
            jail.create_file(
                "config/switchyard.toml",
                "[server]\nlisten = \"127.0.0.1:9000\"\n[database]\nurl = \"sqlite://file.db\"\n",
            )?;
            jail.set_env("SWITCHYARD__SERVER__LISTEN", "127.0.0.1:9100");
            let config = Config::load(None).expect("loads");
            assert_eq!(config.server.listen, "127.0.0.1:9100", "environment wins");
            assert_eq!(config.database.url, "sqlite://file.db", "file beats defaults");
            assert_eq!(config.payments.session_expiry_secs, 900, "defaults fill the rest");

            jail.create_file("other.toml", "[payments]\nsession_expiry_secs = 60\n")?;
            let config = Config::load(Some(Path::new("other.toml"))).expect("loads");
            assert_eq!(config.payments.session_expiry_secs, 60);
            let missing = Config::load(Some(Path::new("nope.toml"))).unwrap_err();
            assert_eq!(missing[0].to_string(), "nope.toml: file not found");
            Ok(())
        });
    }

    #[test]
    fn every_part_reports_its_own_problems() {
        figment::Jail::expect_with(|jail| {
            std::fs::create_dir("config").map_err(|e| e.to_string())?;
            jail.create_file(
                "config/switchyard.toml",
                r#"
                [server]
                lisen = "127.0.0.1:9000"
                [payments]
                budget_ms = "long"
                [surprise]
                a = 1
                [merchants.acme]
                api_keys = [{ name = "k", hash = "h" }, { name = "k2" }]
                [merchants.acme.profiles.web]
                falback = []
                [[merchants.acme.profiles.web.connector_accounts]]
                name = "one"
                connector = "sandbox"
                [[merchants.acme.profiles.web.connector_accounts]]
                name = "two"
                connector = "sandbox"
                enbled = false
                [[merchants.acme.profiles.web.connector_accounts]]
                name = "three"
                connector = "sandbox"
                rate_limit = { per_second = -1, burst = 1 }
                [merchants.acme.profiles.shop]
                fallback = ["one", 2]
                [merchants.bolt]
                publishable_key = 7
                "#,
            )?;
            jail.set_env("SWITCHYARD__LOG__COLOUR", "true");
            let problems = Config::load(None).unwrap_err();
            let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
            let web = "merchants.acme.profiles.web";
            assert_eq!(
                paths,
                [
                    "server.lisen",
                    "payments.budget_ms",
                    "log.colour",
                    "merchants.acme.api_keys[1]",
                    "merchants.acme.profiles.shop.fallback[1]",
                    &format!("{web}.falback"),
                    &format!("{web}.connector_accounts[1].enbled"),
                    &format!("{web}.connector_accounts[2].rate_limit.per_second"),
                    "merchants.bolt.publishable_key",
                    "surprise",
                ],
                "{problems:#?}"
            );
            assert!(problems[0].message.starts_with("unknown field: found `lisen`"), "{problems:#?}");
            assert!(problems[1].message.contains("string \"long\""), "{problems:#?}");
            assert_eq!(problems[3].message, "missing field `hash`");
            assert!(problems[9].message.starts_with("unknown field: found `surprise`"), "{problems:#?}");
            Ok(())
        });
    }

    #[test]
    fn a_log_level_is_what_the_tracing_filter_reads_as_one() {
        let check = |level: &str| LogConfig { level: level.into(), json: false }.check_level();
        for level in ["info", "WARN", "off", "info,switchyard=debug", "switchyard::payments=Trace,hyper=off"] {
            assert_eq!(check(level), Ok(()), "{level}");
            assert!(tracing_subscriber::EnvFilter::builder().parse(level).is_ok(), "{level}");
        }
        for (level, unmeant) in [
            ("verbose", "verbose"),
            ("info,foo=loud", "foo=loud"),
            ("switchyard", "switchyard"),
            ("switchyard=", "switchyard="),
            ("=info", "=info"),
            ("3", "3"),
            ("info, switchyard=debug", " switchyard=debug"),
            ("info,", ""),
            ("", ""),
        ] {
            let message = check(level).expect_err(level);
            assert!(message.starts_with(&format!("`{unmeant}` is not a level")), "{level}: {message}");
            assert!(message.contains("trace, debug, info, warn, error, off"), "{message}");
        }
    }

    #[test]
    fn a_hash_secret_has_sixteen_characters_at_least() {
        let security = |secret: &str| SecurityConfig { api_key_hash_secret: SecretValue::Literal(secret.into()) };
        assert_eq!(
            security("0123456789abcdef").hash_secret().map(|s| s.expose().clone()),
            Ok("0123456789abcdef".into())
        );
        assert_eq!(security("0123456789abcde").hash_secret().err().as_deref(), Some("must be at least 16 characters"));
        assert_eq!(security("").hash_secret().err().as_deref(), Some("is empty"));
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_path() {
        figment::Jail::expect_with(|jail| {
            std::fs::create_dir("config").map_err(|e| e.to_string())?;
            jail.create_file("config/switchyard.toml", "[database]\nmax_connections = \"many\"\n")?;
            let problems = Config::load(None).unwrap_err();
            assert_eq!(problems[0].path, "database.max_connections", "{problems:?}");
            Ok(())
        });
    }
}
