//! The harness every integration test uses: a daemon started in-process on a random loopback
//! port over a database of the test's own (a SQLite file in a temporary folder, or a PostgreSQL
//! database: see `database`), and a real HTTP client.
#![allow(dead_code)]
pub mod binary;
pub mod database;
pub mod debian;
pub mod double;
pub mod fintecture_sdk;
pub mod ledger;
pub mod localstripe;
pub mod mock;
pub mod prometheus;
pub mod recorder;
pub mod redis;
pub mod stripe_mock;
pub mod venv;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use database::database_url;

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard::app::{start, Running};
use switchyard::config::{ApiKeyConfig, Config, ConnectorAccountConfig, MerchantConfig, ProfileConfig, SecretValue};
use switchyard::keys::key_hash;
use tempfile::TempDir;

pub const HASH_SECRET: &str = "test-hash-secret-0123456789";
/// Merchant `acme`, profiles `web` (refuses expired cards) and `shop`.
pub const ACME_KEY: &str = "sy_sk_acmeTestKey0000000000000000000000";
/// Merchant `globex`, profile `web`.
pub const GLOBEX_KEY: &str = "sy_sk_globexTestKey000000000000000000000";
/// The key saved cards are sealed with in tests.
pub const VAULT_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
/// The merchants' publishable keys, for client-side calls.
pub const ACME_PK: &str = "sy_pk_acmeTestKey0000000000000000000000";
pub const GLOBEX_PK: &str = "sy_pk_globexTestKey000000000000000000000";

pub fn sandbox_account(name: &str) -> ConnectorAccountConfig {
    ConnectorAccountConfig {
        name: name.into(),
        connector: "sandbox".into(),
        enabled: true,
        base_url: None,
        credentials: BTreeMap::new(),
        metadata: Default::default(),
        rate_limit: None,
    }
}

/// A sandbox account that refuses every call, as a provider that is down would.
pub fn down_account(name: &str) -> ConnectorAccountConfig {
    let mut account = sandbox_account(name);
    account.metadata.insert("simulate".into(), json!("unavailable"));
    account
}

fn profile() -> ProfileConfig {
    ProfileConfig {
        connector_accounts: vec![sandbox_account("sandbox")],
        routing: None,
        fallback: vec![],
        reject_expired_cards: true,
        session_expiry_secs: None,
        webhook_url: None,
        payment_response_hash_key: None,
    }
}

fn merchant(key: &str, publishable: &str, profiles: &[&str]) -> MerchantConfig {
    MerchantConfig {
        name: None,
        api_keys: vec![ApiKeyConfig { name: "test".into(), hash: key_hash(HASH_SECRET.as_bytes(), key) }],
        publishable_key: Some(publishable.into()),
        profiles: profiles.iter().map(|p| (p.to_string(), profile())).collect(),
    }
}

/// The configuration tests run with: two merchants, sandbox connectors, a database in `dir`.
pub fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.database.url = database_url(dir);
    config.security.api_key_hash_secret = SecretValue::Literal(HASH_SECRET.into());
    config.vault.key = Some(SecretValue::Literal(VAULT_KEY.into()));
    config.merchants.insert("acme".into(), merchant(ACME_KEY, ACME_PK, &["web", "shop"]));
    config.merchants.insert("globex".into(), merchant(GLOBEX_KEY, GLOBEX_PK, &["web"]));
    config
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: TempDir,
    pub config: Config,
    running: Option<Running>,
}

impl TestApp {
    pub async fn start() -> Self {
        let dir = TempDir::new().expect("temp dir");
        let config = config(dir.path());
        Self::start_with(dir, config).await
    }

    pub async fn start_with(dir: TempDir, config: Config) -> Self {
        let running = start(config.clone()).await.expect("daemon starts");
        Self {
            base: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            dir,
            config,
            running: Some(running),
        }
    }

    /// Reads the configuration and its folders again, as a file change or SIGHUP does.
    pub async fn reload(&self) -> switchyard::app::reload::Outcome {
        self.running.as_ref().expect("running").reload().await
    }

    /// The configuration version serving.
    pub fn version(&self) -> String {
        self.running.as_ref().expect("running").live.load().version.to_string()
    }

    /// Stops the daemon and starts a new one on the same database.
    pub async fn restart(mut self) -> Self {
        self.running.take().expect("running").stop().await;
        let config = self.config.clone();
        let dir = std::mem::replace(&mut self.dir, TempDir::new().expect("temp dir"));
        Self::start_with(dir, config).await
    }

    /// Another daemon with the same configuration, on the same database: what running several
    /// instances behind a load balancer looks like.
    pub async fn another(&self) -> Self {
        Self::start_with(TempDir::new().expect("temp dir"), self.config.clone()).await
    }

    pub fn database_url(&self) -> &str {
        &self.config.database.url
    }

    /// Where `/metrics` is served when it has a listener of its own.
    pub fn metrics_base(&self) -> Option<String> {
        self.running.as_ref().and_then(|r| r.metrics_addr).map(|a| format!("http://{a}"))
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    /// Asserts that the daemon's database holds none of `secrets` while it runs (on SQLite the
    /// file and its write-ahead log), and neither the database nor any file in its folder once
    /// it has stopped (and SQLite has folded the log back).
    pub async fn stop_holding_none_of(mut self, secrets: &[&str]) {
        let url = self.database_url().to_string();
        database::assert_hold_none_of(&database::contents(&url).await, secrets, "");
        let dir = std::mem::replace(&mut self.dir, TempDir::new().expect("temp dir"));
        self.stop().await;
        let mut stored = database::contents(&url).await;
        for entry in std::fs::read_dir(dir.path()).expect("the daemon's folder") {
            let path = entry.expect("an entry").path();
            // Absent files hold nothing.
            let bytes = std::fs::read(&path).unwrap_or_default();
            stored.push((path.display().to_string(), bytes));
        }
        database::assert_hold_none_of(&stored, secrets, " after a stop");
    }

    /// A request as merchant `key` acting for `profile`; either may be absent.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        profile: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.header("api-key", key);
        }
        if let Some(profile) = profile {
            req = req.header("X-Profile-Id", profile);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body read");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// POST as acme/web.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(ACME_KEY), Some("web"), Some(&body)).await
    }

    /// GET as acme/web.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(ACME_KEY), Some("web"), None).await
    }

    /// Rows in a table, read straight from the database.
    pub async fn count(&self, table: &str) -> i64 {
        database::count(self.database_url(), table).await
    }
}

/// The documented create-and-confirm request, with an expiry that has not passed.
pub fn payment(card_number: &str) -> Value {
    json!({
        "amount_details": { "currency": "USD", "order_amount": 6540 },
        "payment_method_data": {
            "card": {
                "card_cvc": "123",
                "card_exp_month": "10",
                "card_exp_year": "35",
                "card_holder_name": "joseph Doe",
                "card_number": card_number
            }
        },
        "payment_method_subtype": "credit",
        "payment_method_type": "card"
    })
}

/// The card part of a request alone, for confirm-intent.
pub fn card_method(card_number: &str) -> Value {
    let mut body = payment(card_number);
    body.as_object_mut().unwrap().remove("amount_details");
    body
}

/// Asserts the wire-format error shape and code, returning the message.
#[track_caller]
pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_code: &str) -> String {
    assert_eq!(status.as_u16(), want_status, "status of {body}");
    assert_eq!(body["error"]["code"], want_code, "code of {body}");
    assert!(body["error"]["type"].is_string(), "type of {body}");
    body["error"]["message"].as_str().expect("message").to_string()
}

/// The `switchyard` binary, to run from the repository root, with no configuration from the
/// environment but `env`.
pub fn switchyard_command(args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    switchyard_command_under(&[], args, env)
}

/// `switchyard_command`, run by `wrapper` (a program and its arguments, e.g. `prlimit …`), which
/// takes the binary's path and `args` after its own.
pub fn switchyard_command_under(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let binary = env!("CARGO_BIN_EXE_switchyard");
    let mut command = match wrapper.split_first() {
        None => std::process::Command::new(binary),
        Some((program, rest)) => {
            let mut command = std::process::Command::new(program);
            command.args(rest).arg(binary);
            command
        }
    };
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHYARD__") {
            command.env_remove(name);
        }
    }
    // The shipped 5 ms Lua budget is for a daemon's own cores: on a machine busy with the rest
    // of the suite a script's first run can take longer. Tests of the budget set their own.
    command.env("SWITCHYARD__LUA__TIME_BUDGET_MS", "1000");
    command.envs(env.iter().copied());
    command
}

/// Runs the binary to completion.
pub fn switchyard(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    switchyard_command(args, env).output().expect("the binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

pub fn show(out: &std::process::Output) -> String {
    format!("status: {:?}\nstdout: {}\nstderr: {}", out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Writes a complete configuration file into `dir`: merchant acme (key `ACME_KEY` under
/// `secret`), routing scripts in `routing`, and `profiles` as TOML. Returns its path.
pub fn config_file(dir: &std::path::Path, secret: &str, routing: &std::path::Path, profiles: &str) -> String {
    let path = dir.join("switchyard.toml");
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:8080"
public_url = ""
max_body_bytes = 65536

[database]
url = "{db}"
max_connections = 8

[security]
api_key_hash_secret = "{secret}"

[paths]
routing = "{routing}"
plugins = "plugins"

[payments]
cell_id = "sy"
session_expiry_secs = 900

[lua]
time_budget_ms = 1000
memory_limit_mb = 16

[log]
level = "info"
json = false

[merchants.acme]
api_keys = [
  {{ name = "main", hash = "{hash}" }},
]

{profiles}
"#,
        db = database_url(dir),
        routing = routing.display(),
        hash = key_hash(secret.as_bytes(), ACME_KEY),
    );
    std::fs::write(&path, toml).unwrap();
    path.display().to_string()
}

/// The real `switchyard` binary, run from the repository root on its default configuration with
/// a throwaway database and a free loopback port; its output goes to `log`. Killed on drop.
pub struct Daemon {
    pub base: String,
    pub dir: TempDir,
    pub log: PathBuf,
    pub database_url: String,
    child: std::process::Child,
}

impl Daemon {
    /// Starts the daemon with extra environment variables and waits until `/health` answers.
    pub async fn spawn(env: &[(&str, &str)]) -> Self {
        Self::spawn_under(&[], env).await
    }

    /// `spawn`, run by `wrapper` (see `switchyard_command_under`).
    pub async fn spawn_under(wrapper: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn_on("config/switchyard.toml", wrapper, env).await
    }

    /// `spawn_under`, on another configuration file of the repository (its database still in a
    /// folder of the test's own).
    pub async fn spawn_on(config: &str, wrapper: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = TempDir::new().expect("temp dir");
        let port = binary::free_port();
        let log = dir.path().join("daemon.log");
        let out = std::fs::File::create(&log).expect("log file");
        let database_url = database_url(dir.path());
        let child = switchyard_command_under(wrapper, &["--config", config, "serve"], &[])
            .env("SWITCHYARD__DATABASE__URL", &database_url)
            .env("SWITCHYARD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("the switchyard binary starts");
        let daemon = Self { base: format!("http://127.0.0.1:{port}"), dir, log, database_url, child };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(res) = client.get(format!("{}/health", daemon.base)).send().await {
                if res.status().is_success() {
                    return daemon;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("switchyard did not answer /health: {}", std::fs::read_to_string(&daemon.log).unwrap_or_default());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- helpers the API tests share ------------------------------------------------------------

/// `body` with `fields` set at the top level.
pub fn with(mut body: Value, fields: Value) -> Value {
    let target = body.as_object_mut().expect("body is an object");
    for (k, v) in fields.as_object().expect("fields are an object") {
        target.insert(k.clone(), v.clone());
    }
    body
}

pub fn id_of(body: &Value) -> String {
    body["id"].as_str().unwrap_or_else(|| panic!("no id in {body}")).to_string()
}

pub fn str_of<'a>(body: &'a Value, pointer: &str) -> &'a str {
    body.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no string at {pointer} in {body}"))
}

pub fn attempts(body: &Value) -> &Vec<Value> {
    body["attempts"].as_array().unwrap_or_else(|| panic!("no attempts in {body}"))
}

/// Creates and confirms a payment as acme/web, expecting 200.
pub async fn pay(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.post("/v2/payments", body).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The test configuration with acme/web routing to `accounts`, tried in the order of `fallback`,
/// under a Lua budget generous enough for an unoptimised build on a loaded machine (plugins sign
/// with RSA and run under it): what such tests look at is choices and calls, not the budget.
pub fn config_with(dir: &std::path::Path, accounts: Vec<ConnectorAccountConfig>, fallback: &[&str]) -> Config {
    let mut config = config(dir);
    config.lua.time_budget_ms = 1000;
    let web = config.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap();
    web.connector_accounts = accounts;
    web.fallback = fallback.iter().map(|s| s.to_string()).collect();
    config
}

/// `config_with`, and acme/web routed by the script `source` (saved as `<dir>/routing/<name>.lua`).
pub fn config_routed(
    dir: &std::path::Path,
    accounts: Vec<ConnectorAccountConfig>,
    fallback: &[&str],
    name: &str,
    source: &str,
) -> Config {
    let routing = dir.join("routing");
    std::fs::create_dir_all(&routing).expect("routing folder");
    std::fs::write(routing.join(format!("{name}.lua")), source).expect("routing script");
    let mut config = config_with(dir, accounts, fallback);
    config.paths.routing = routing;
    config.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap().routing = Some(name.into());
    config
}

/// Has acme/web tell its merchant of every change at `url`, signed with `key`.
pub fn send_webhooks(config: &mut Config, url: &str, key: &str) {
    let web = config.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap();
    web.webhook_url = Some(url.into());
    web.payment_response_hash_key = Some(SecretValue::Literal(key.into()));
}

pub async fn start_with_accounts(accounts: Vec<ConnectorAccountConfig>, fallback: &[&str]) -> TestApp {
    let dir = TempDir::new().expect("temp dir");
    let config = config_with(dir.path(), accounts, fallback);
    TestApp::start_with(dir, config).await
}

/// A plugin whose payments are named after `version`: it pays by a POST to `/pay`, and refunds
/// by a POST to `/refund`, whose failure (5xx) leaves whether it happened unknown.
pub fn echo_plugin(version: &str) -> String {
    format!(
        r#"
return {{
  name = "echo", api_version = 1, supports = {{ card = "any" }}, currencies = "any",
  authorize = {{
    build = function(ctx, pay)
      return {{ method = "POST", url = "/pay", headers = {{ ["Content-Type"] = "application/json" }},
               body = json.encode({{ amount = pay.amount }}) }}
    end,
    parse = function(ctx, pay, res)
      return {{ status = "charged", connector_payment_id = "{version}-" .. res.json.id }}
    end,
  }},
  refund = {{
    build = function(ctx, refund)
      return {{ method = "POST", url = "/refund", body = "" }}
    end,
    parse = function(ctx, refund, res)
      if res.status >= 500 then error("the provider failed") end
      return {{ status = "succeeded", connector_refund_id = "r-" .. refund.refund_id }}
    end,
  }},
}}
"#
    )
}

/// Runs futures concurrently on the current task (the crate has no `futures` dependency).
pub async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in set.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}
