//! Configuration: built-in defaults, then `config/switchyard.toml` (or `--config PATH`), then the
//! environment (`SWITCHYARD__SECTION__KEY`), merged by figment. `check` lists every problem with
//! the path of the value at fault, so an operator can fix a file in one pass.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::connectors::Registry;
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
const MIN_HEADER_BYTES: usize = 1024;
/// serde_json refuses deeper documents itself.
const MAX_JSON_DEPTH: usize = 128;

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
    /// How long a card's security code is kept in memory for a `volatile` payment method.
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

impl LuaConfig {
    pub fn limits(&self) -> crate::lua::Limits {
        crate::lua::Limits {
            time_budget: std::time::Duration::from_millis(self.time_budget_ms),
            memory_bytes: self.memory_limit_mb << 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `switchyard=debug`.
    pub level: String,
    pub json: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantConfig {
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
    pub fn load(path: Option<&Path>) -> Result<Self, Vec<Problem>> {
        let file = path.unwrap_or(Path::new(DEFAULT_CONFIG_PATH));
        if path.is_some() && !file.exists() {
            return Err(vec![Problem { path: file.display().to_string(), message: "file not found".into() }]);
        }
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("SWITCHYARD__").split("__"))
            .extract()
            .map(|config: Config| Config { source: file.exists().then(|| file.to_path_buf()), ..config })
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| Problem {
                        path: if e.path.is_empty() { file.display().to_string() } else { e.path.join(".") },
                        message: e.kind.to_string(),
                    })
                    .collect()
            })
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

    /// The connectors this configuration can use: the built-in ones and the plugins in
    /// `paths.plugins`, with the problems of plugin files that did not load.
    pub fn registry(&self, public_url: &str, http: reqwest::Client) -> (Registry, Vec<Problem>) {
        let (registry, errors) = Registry::builtin(public_url, http.clone()).with_plugins(
            &self.paths.plugins,
            self.lua.limits(),
            http,
            public_url,
        );
        let problems = errors.into_iter().map(|message| Problem { path: "connector plugin".into(), message }).collect();
        (registry, problems)
    }

    /// Problems with the routing scripts: each script must compile and pass its golden cases, and
    /// each profile's script must exist. The daemon starts regardless (a profile whose script is
    /// missing or broken routes by its fallback list); `switchyard check` reports them.
    pub fn check_scripts(&self) -> Vec<Problem> {
        use crate::routing::scripts::{load_dir, LoadResult};
        let (scripts, loads) = load_dir(&self.paths.routing, self.lua.limits(), &Default::default());
        let mut problems: Vec<Problem> = loads
            .iter()
            .filter_map(|(name, result)| match result {
                LoadResult::Refused(error) => {
                    Some(Problem { path: format!("routing script `{name}`"), message: error.clone() })
                }
                _ => None,
            })
            .collect();
        for (merchant_id, merchant) in &self.merchants {
            for (profile_id, profile) in &merchant.profiles {
                let Some(script) = &profile.routing else { continue };
                let refused = loads.iter().any(|(n, r)| n == script && matches!(r, LoadResult::Refused(_)));
                if scripts.get(script).is_none() && !refused {
                    problems.push(Problem {
                        path: format!("merchants.{merchant_id}.profiles.{profile_id}.routing"),
                        message: format!("no script {}", self.paths.routing.join(format!("{script}.lua")).display()),
                    });
                }
            }
        }
        problems
    }

    /// Problems with the limits on requests, which must fit together: a body is read within the
    /// request's time, and a payment's connector calls within it too.
    fn check_server(&self, report: &mut impl FnMut(String, String)) {
        let server = &self.server;
        if server.max_body_bytes == 0 {
            report("server.max_body_bytes".into(), "must be at least 1".into());
        }
        if server.max_header_bytes < MIN_HEADER_BYTES {
            report("server.max_header_bytes".into(), format!("must be at least {MIN_HEADER_BYTES}"));
        }
        if !(1..=MAX_JSON_DEPTH).contains(&server.max_json_depth) {
            report("server.max_json_depth".into(), format!("must be 1 to {MAX_JSON_DEPTH}"));
        }
        if server.max_connections == 0 {
            report("server.max_connections".into(), "must be at least 1".into());
        }
        if server.header_timeout_ms == 0 || server.body_timeout_ms == 0 {
            report("server".into(), "header_timeout_ms and body_timeout_ms must be at least 1 ms".into());
        }
        if server.body_timeout_ms >= server.request_timeout_ms {
            report(
                "server.body_timeout_ms".into(),
                format!("must be less than server.request_timeout_ms ({} ms)", server.request_timeout_ms),
            );
        }
        if server.request_timeout_ms <= self.payments.budget_ms {
            report(
                "server.request_timeout_ms".into(),
                format!(
                    "must be more than payments.budget_ms ({} ms): a payment's connector calls may take all of it",
                    self.payments.budget_ms
                ),
            );
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

    /// Every problem in the configuration, each with its path; empty when it is sound.
    pub fn check(&self, registry: &Registry) -> Vec<Problem> {
        let (mut problems, out_of_service) = self.check_start(registry);
        problems.extend(out_of_service);
        problems
    }

    /// What a start checks: the problems that keep the daemon from starting, and those that put
    /// only some connector accounts out of service (their connector is a plugin whose file did
    /// not load) while the daemon serves the rest.
    pub fn check_start(&self, registry: &Registry) -> (Vec<Problem>, Vec<Problem>) {
        let mut out_of_service = Vec::new();
        let mut problems = Vec::new();
        let mut report = |path: String, message: String| problems.push(Problem { path, message });

        if let Err(e) = self.listen_addr() {
            report("server.listen".into(), e);
        }
        let public = self.public_url();
        if !(public.starts_with("http://") || public.starts_with("https://")) {
            report("server.public_url".into(), "must start with http:// or https://".into());
        }
        self.check_server(&mut report);
        if !["sqlite:", "postgres:", "postgresql:"].iter().any(|s| self.database.url.starts_with(s)) {
            report("database.url".into(), "must be a sqlite: or postgres: URL".into());
        }
        if self.database.max_connections == 0 {
            report("database.max_connections".into(), "must be at least 1".into());
        }
        match self.security.api_key_hash_secret.resolve() {
            Ok(s) if s.expose().len() < 16 => {
                report("security.api_key_hash_secret".into(), "must be at least 16 characters".into())
            }
            Ok(_) => {}
            Err(e) => report("security.api_key_hash_secret".into(), e),
        }
        let cell = &self.payments.cell_id;
        if cell.is_empty() || cell.len() > 8 || !cell.bytes().all(|b| b.is_ascii_alphanumeric()) {
            report("payments.cell_id".into(), "must be 1 to 8 letters or digits".into());
        }

        if self.http.connect_timeout_ms == 0 || self.http.request_timeout_ms == 0 {
            report("http".into(), "timeouts must be at least 1 ms".into());
        }
        let reconciler = &self.reconciler;
        let (longest, bound) = self.longest_call();
        if reconciler.after_ms <= longest {
            report(
                "reconciler.after_ms".into(),
                format!(
                    "must be longer than {bound}: a connector call may still be under way that long, and the \
                     reconciler would overtake it"
                ),
            );
        }
        if reconciler.every_ms == 0 || reconciler.batch == 0 {
            report("reconciler".into(), "every_ms and batch must be at least 1".into());
        }
        let webhooks = &self.outgoing_webhooks;
        if [webhooks.every_ms, webhooks.timeout_ms, webhooks.retry_base_ms].contains(&0)
            || webhooks.max_attempts == 0
            || webhooks.batch == 0
        {
            report(
                "outgoing_webhooks".into(),
                "every_ms, timeout_ms, retry_base_ms, max_attempts and batch must be at least 1".into(),
            );
        }
        if self.lua.time_budget_ms == 0 {
            report("lua.time_budget_ms".into(), "must be at least 1".into());
        }
        if self.lua.memory_limit_mb == 0 {
            report("lua.memory_limit_mb".into(), "must be at least 1".into());
        }
        if let Some(Err(e)) =
            self.vault.key.as_ref().map(|k| k.resolve().and_then(|k| crate::vault::parse_key(k.expose())))
        {
            report("vault.key".into(), e);
        }

        let mut publishable = BTreeMap::new();
        for (merchant_id, merchant) in &self.merchants {
            let at = format!("merchants.{merchant_id}");
            for (i, key) in merchant.api_keys.iter().enumerate() {
                if crate::api::auth::parse_key_hash(&key.hash).is_none() {
                    report(format!("{at}.api_keys[{i}].hash"), "must be `hmac-sha256:` and 64 hex digits".into());
                }
            }
            if let Some(pk) = &merchant.publishable_key {
                if let Some(other) = publishable.insert(pk.clone(), merchant_id.clone()) {
                    report(format!("{at}.publishable_key"), format!("is also merchant {other}'s"));
                }
            }
            for (profile_id, profile) in &merchant.profiles {
                let at = format!("{at}.profiles.{profile_id}");
                if let Some(url) = &profile.webhook_url {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        report(format!("{at}.webhook_url"), "must start with http:// or https://".into());
                    }
                    match profile.payment_response_hash_key.as_ref().map(SecretValue::resolve) {
                        None => report(
                            format!("{at}.payment_response_hash_key"),
                            "is needed to sign the webhooks sent to webhook_url".into(),
                        ),
                        Some(Err(e)) => report(format!("{at}.payment_response_hash_key"), e),
                        Some(Ok(_)) => {}
                    }
                }
                let mut names = BTreeMap::new();
                for (i, account) in profile.connector_accounts.iter().enumerate() {
                    let at = format!("{at}.connector_accounts[{i}]");
                    if account.name.is_empty() {
                        report(format!("{at}.name"), "missing".into());
                    } else if names.insert(account.name.as_str(), i).is_some() {
                        report(format!("{at}.name"), format!("`{}` is used by another account", account.name));
                    }
                    let Some(connector) = registry.get(&account.connector) else {
                        if registry.is_broken(&account.connector) {
                            out_of_service.push(Problem {
                                path: format!("{at}.connector"),
                                message: format!(
                                    "connector plugin `{}` did not load: this account is out of service",
                                    account.connector
                                ),
                            });
                            continue;
                        }
                        report(
                            format!("{at}.connector"),
                            format!(
                                "unknown connector `{}` (known: {})",
                                account.connector,
                                registry.names().join(", ")
                            ),
                        );
                        continue;
                    };
                    for (name, value) in &account.credentials {
                        if let Err(e) = value.resolve() {
                            report(format!("{at}.credentials.{name}"), e);
                        }
                    }
                    for required in missing_credentials(account, connector.required_credentials()) {
                        report(format!("{at}.credentials.{required}"), "missing".into());
                    }
                    if let Some(url) = &account.base_url {
                        if !(url.starts_with("http://") || url.starts_with("https://")) {
                            report(format!("{at}.base_url"), "must start with http:// or https://".into());
                        }
                    }
                }
                for (i, name) in profile.fallback.iter().enumerate() {
                    match profile.connector_accounts.iter().find(|a| &a.name == name) {
                        None => {
                            report(format!("{at}.fallback[{i}]"), format!("no connector account is named `{name}`"))
                        }
                        Some(a) if !a.enabled => report(format!("{at}.fallback[{i}]"), format!("`{name}` is disabled")),
                        Some(_) => {}
                    }
                }
                if !profile.connector_accounts.iter().any(|a| a.enabled) {
                    report(format!("{at}.connector_accounts"), "no enabled connector account".into());
                }
            }
        }
        (problems, out_of_service)
    }

    /// The problems a version of a plugin would bring to the accounts that use it: credentials
    /// it needs that they do not have. A reload refuses such a version, as a start would.
    pub fn plugin_problems(&self, declaration: &crate::connectors::plugin::loader::Declaration) -> Vec<String> {
        let required: Vec<&str> = declaration.credentials.iter().map(String::as_str).collect();
        let mut problems = Vec::new();
        for (merchant_id, merchant) in &self.merchants {
            for (profile_id, profile) in &merchant.profiles {
                for (i, account) in profile.connector_accounts.iter().enumerate() {
                    if account.connector != declaration.name {
                        continue;
                    }
                    for missing in missing_credentials(account, required.iter().copied()) {
                        problems.push(format!(
                            "merchants.{merchant_id}.profiles.{profile_id}.connector_accounts[{i}].credentials.{missing}: \
                             missing"
                        ));
                    }
                }
            }
        }
        problems
    }
}

/// The credentials among `required` an account does not have.
fn missing_credentials<'a>(
    account: &ConnectorAccountConfig,
    required: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    required.into_iter().filter(|name| !account.credentials.contains_key(*name)).collect()
}

#[cfg(test)]
// figment's `Jail` fixes its closures' error type, a large one.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn problems_of(toml: &str) -> Vec<String> {
        let mut out = Vec::new();
        figment::Jail::expect_with(|jail| {
            std::fs::create_dir("config").map_err(|e| e.to_string())?;
            jail.create_file("config/switchyard.toml", toml)?;
            jail.set_env("SWITCHYARD_API_KEY_HASH_SECRET", "a-test-secret-of-some-length");
            let config = Config::load(None).map_err(|p| format!("{p:?}"))?;
            out = config
                .check(&Registry::builtin("http://127.0.0.1:8080", reqwest::Client::new()))
                .iter()
                .map(ToString::to_string)
                .collect();
            Ok(())
        });
        out
    }

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
    fn a_value_of_the_wrong_type_names_its_path() {
        figment::Jail::expect_with(|jail| {
            std::fs::create_dir("config").map_err(|e| e.to_string())?;
            jail.create_file("config/switchyard.toml", "[database]\nmax_connections = \"many\"\n")?;
            let problems = Config::load(None).unwrap_err();
            assert_eq!(problems[0].path, "database.max_connections", "{problems:?}");
            Ok(())
        });
    }

    #[test]
    fn the_shipped_configuration_is_sound() {
        let shipped = include_str!("../config/switchyard.toml");
        assert_eq!(problems_of(shipped), Vec::<String>::new());
    }

    #[test]
    fn request_limits_must_fit_together() {
        let problems = problems_of(
            r#"
            [server]
            max_header_bytes = 512
            max_json_depth = 129
            body_timeout_ms = 45000
            request_timeout_ms = 45000
            "#,
        );
        assert_eq!(
            problems,
            [
                "server.max_header_bytes: must be at least 1024",
                "server.max_json_depth: must be 1 to 128",
                "server.body_timeout_ms: must be less than server.request_timeout_ms (45000 ms)",
                "server.request_timeout_ms: must be more than payments.budget_ms (45000 ms): a payment's connector \
                 calls may take all of it",
            ]
        );
        let sound = "[server]\nrequest_timeout_ms = 45001\nbody_timeout_ms = 45000\n[payments]\nbudget_ms = 45000\n";
        assert_eq!(problems_of(sound), Vec::<String>::new());
    }

    #[test]
    fn the_reconciler_waits_longer_than_any_call_may_take() {
        let overtaken = |toml: &str| {
            problems_of(toml).into_iter().filter(|p| p.starts_with("reconciler.after_ms")).collect::<Vec<_>>()
        };
        // A capture is bounded only by the HTTP client's timeout: twice it, for a plugin that
        // fetches its access token first.
        let problems = overtaken("[http]\nrequest_timeout_ms = 40000\n[reconciler]\nafter_ms = 60000\n");
        assert_eq!(
            problems,
            ["reconciler.after_ms: must be longer than twice http.request_timeout_ms and lua.time_budget_ms for a \
              build and a parse (80020 ms: a plugin's access-token request, then its call): a connector call may \
              still be under way that long, and the reconciler would overtake it"]
        );
        let problems = overtaken("[payments]\nattempt_timeout_ms = 70000\nbudget_ms = 50000\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("payments.attempt_timeout_ms (70000 ms)"), "{problems:?}");
        let problems = overtaken("[reconciler]\nafter_ms = 45000\n");
        assert!(problems[0].contains("payments.budget_ms (45000 ms)"), "{problems:?}");
        let sound = "[http]\nrequest_timeout_ms = 29000\n[lua]\ntime_budget_ms = 10\n[reconciler]\nafter_ms = 58041\n";
        assert_eq!(overtaken(sound), Vec::<String>::new());
        assert_eq!(overtaken(&sound.replace("58041", "58040")).len(), 1);
    }

    #[test]
    fn check_lists_every_problem_with_its_path() {
        let problems = problems_of(
            r#"
            [server]
            listen = "not an address"
            [merchants.acme]
            api_keys = [{ name = "k", hash = "sha1:abc" }]
            [merchants.acme.profiles.web]
            fallback = ["sandbox", "ghost", "off"]
            [[merchants.acme.profiles.web.connector_accounts]]
            name = "sandbox"
            connector = "sandbox"
            credentials = { api_key = { env = "SWITCHYARD_TEST_UNSET_VARIABLE" } }
            [[merchants.acme.profiles.web.connector_accounts]]
            name = "sandbox"
            connector = "adyen"
            [[merchants.acme.profiles.web.connector_accounts]]
            name = "off"
            connector = "sandbox"
            enabled = false
            "#,
        );
        let at = "merchants.acme.profiles.web";
        let expected = [
            "server.listen: ".to_string(),
            "merchants.acme.api_keys[0].hash: must be `hmac-sha256:` and 64 hex digits".to_string(),
            format!("{at}.connector_accounts[0].credentials.api_key: environment variable SWITCHYARD_TEST_UNSET_VARIABLE is not set"),
            format!("{at}.connector_accounts[1].name: `sandbox` is used by another account"),
            format!("{at}.connector_accounts[1].connector: unknown connector `adyen` (known: sandbox, stripe)"),
            format!("{at}.fallback[1]: no connector account is named `ghost`"),
            format!("{at}.fallback[2]: `off` is disabled"),
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        for (got, want) in problems.iter().zip(&expected) {
            assert!(got.starts_with(want.as_str()), "{got:?} should start with {want:?}");
        }
    }
}
