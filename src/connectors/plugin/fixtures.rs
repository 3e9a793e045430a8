//! A plugin's fixtures: its own tests, in `<name>.fixtures.json` beside the plugin file. Each
//! fixture gives one flow's arguments and the request `build` must ask for, and a provider's
//! answer and what `parse` must make of it; what `parse` answers must also be an outcome the
//! daemon takes. A `webhook` fixture gives a provider's notification, which `verify` must take
//! and `parse` read as expected; a `session_tokens.<wallet>` fixture, what the wallet's function
//! answers. `switchyard plugin test` runs them and shows the difference on a mismatch;
//! every load runs them too, so a plugin whose fixtures fail never serves. Nothing is sent: the
//! plugin's pure functions are run as a call would run them, no network, no provider.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use super::{PaymentParse, PluginConnector, RefundParse, TokenParse};
use crate::connectors::scrub::Scrubber;
use crate::connectors::session::SessionToken;
use crate::connectors::{Account, BaseUrl};
use crate::diff::differences;
use crate::secret::Secret;

/// One fixture.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub name: String,
    pub flow: String,
    /// The account the call runs for; by default, each declared credential set to `test_<name>`.
    #[serde(default)]
    account: FixtureAccount,
    /// What the flow's functions get as their argument after `ctx`.
    #[serde(default = "empty_object")]
    args: Value,
    /// The clock and request id the host functions answer, for requests that carry them.
    #[serde(default)]
    pins: FixturePins,
    /// The access token `ctx` holds, for a plugin that fetches one.
    #[serde(default)]
    access_token: Option<String>,
    /// The request `build` must ask for: method, url, headers (all of them), body (a JSON value
    /// compares as JSON, a string as text).
    #[serde(default)]
    request: Option<Value>,
    /// The provider's answer `parse` reads: status, headers, body (JSON or text).
    #[serde(default)]
    response: Option<Response>,
    /// For `webhook`: the notification, `{ headers, body }` (headers' names in lower case).
    #[serde(default)]
    notification: Option<Value>,
    /// What `parse` must answer for `response` (or the notification; or what a wallet's
    /// function answers).
    #[serde(default)]
    expect: Option<Value>,
    /// Instead: a text the error `parse` raises for `response` must hold (an answer it cannot
    /// vouch for, which leaves the payment for the daemon to find out about).
    #[serde(default)]
    error: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureAccount {
    #[serde(default)]
    credentials: Option<BTreeMap<String, Credential>>,
    #[serde(default)]
    metadata: serde_json::Map<String, Value>,
    #[serde(default)]
    base_url: Option<String>,
}

/// A credential's test value, or the file that holds it (a key in PEM), relative to the
/// fixtures' own file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Credential {
    Value(String),
    File { file: PathBuf },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixturePins {
    #[serde(default)]
    http_date: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    now: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Response {
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Value,
}

fn ok() -> u16 {
    200
}

/// A fixture that failed, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub fixture: String,
    pub problem: String,
}

/// Where the fixtures of the plugin in `plugin` are.
pub fn path_of(plugin: &Path) -> PathBuf {
    plugin.with_extension("fixtures.json")
}

/// Reads the fixtures beside `plugin`, with the credentials they keep in files read in; none
/// when there is no fixture file.
pub fn read(plugin: &Path) -> Result<Vec<Fixture>, String> {
    let path = path_of(plugin);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let shown = path.display();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
    let mut fixtures: Vec<Fixture> = serde_json::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
    let folder = path.parent().unwrap_or(Path::new("."));
    for credential in fixtures.iter_mut().flat_map(|f| f.account.credentials.iter_mut().flat_map(|c| c.values_mut())) {
        if let Credential::File { file } = credential {
            let file = folder.join(&file);
            let value = std::fs::read_to_string(&file).map_err(|e| format!("{shown}: {}: {e}", file.display()))?;
            *credential = Credential::Value(value);
        }
    }
    Ok(fixtures)
}

/// Runs `fixtures` against `connector`; the failures, each with what differs.
pub fn run(connector: &PluginConnector, fixtures: &[Fixture]) -> Vec<Failure> {
    fixtures
        .iter()
        .filter_map(|fixture| {
            check(connector, fixture).err().map(|problem| Failure { fixture: fixture.name.clone(), problem })
        })
        .collect()
}

/// Runs the fixtures beside `connector`'s file, as a load does: its problems in one message.
pub fn verify(connector: &PluginConnector) -> Result<(), String> {
    let fixtures = read(connector.path())?;
    let failures = run(connector, &fixtures);
    if failures.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = failures.iter().map(|f| format!("fixture `{}`: {}", f.fixture, f.problem)).collect();
    Err(format!("{}: {}", path_of(connector.path()).display(), shown.join("; ")))
}

fn check(connector: &PluginConnector, fixture: &Fixture) -> Result<(), String> {
    let plugin = &connector.plugin;
    let account = account(connector, &fixture.account);
    let pins = super::Pins {
        http_date: fixture.pins.http_date.clone(),
        request_id: fixture.pins.request_id.clone(),
        now: fixture.pins.now,
    };
    let token = fixture.access_token.as_deref();
    if let Some(wallet) = fixture.flow.strip_prefix("session_tokens.") {
        if !plugin.session_wallets.iter().any(|w| w == wallet) {
            return Err(format!("the plugin makes no `{wallet}` session token"));
        }
        let made = connector
            .run_lua(plugin, &account, &pins, token, "session_tokens", wallet, &[&fixture.args])
            .and_then(|value| connector.parse_as::<Value>("session_tokens", value));
        return answered("the wallet's function", fixture, made, |mut token| {
            let fields = token.as_object_mut().ok_or("session_tokens must return a table")?;
            fields.insert("wallet_name".into(), json!(wallet));
            fields.insert("connector".into(), json!(connector.name));
            serde_json::from_value::<SessionToken>(token)
                .map(drop)
                .map_err(|e| format!("the wallet's answer is not taken: {e}"))
        });
    }
    if fixture.flow == "webhook" {
        if !plugin.has_webhook {
            return Err("the plugin defines no `webhook`".into());
        }
        let incoming = fixture.notification.as_ref().ok_or("a `webhook` fixture needs a `notification`")?;
        let args = [incoming];
        let verified = connector.run_lua(plugin, &account, &pins, token, "webhook", "verify", &args);
        let read = match verified {
            Ok(mlua::Value::Boolean(true)) => connector
                .run_lua(plugin, &account, &pins, token, "webhook", "parse", &args)
                .and_then(|value| connector.parse_as::<Value>("webhook", value)),
            Ok(_) => Err("verify did not answer true".to_string()),
            Err(e) => Err(e),
        };
        return answered("webhook.parse", fixture, read, |_| Ok(()));
    }
    if !plugin.flows.contains(fixture.flow.as_str()) {
        return Err(format!("the plugin defines no flow `{}`", fixture.flow));
    }
    if let Some(expected) = &fixture.request {
        let asked = connector.build_with(plugin, &account, &pins, &fixture.flow, token, &fixture.args)?;
        let mut asked = serde_json::to_value(&asked).map_err(|e| e.to_string())?;
        // A body expected as JSON is compared as JSON: its keys' order is the plugin's business.
        if let (Some(Value::String(text)), Some(Value::Object(_) | Value::Array(_))) =
            (asked.get("body"), expected.get("body"))
        {
            let parsed = serde_json::from_str(text).map_err(|e| format!("build's body is not JSON: {e}"))?;
            asked["body"] = parsed;
        }
        mismatch("build asked for", expected, &asked)?;
    }
    let Some(response) = &fixture.response else {
        return match (&fixture.expect, &fixture.error) {
            (None, None) => Ok(()),
            _ => Err("`expect` and `error` need a `response`".into()),
        };
    };
    let scrubber = Scrubber::default();
    let parsed: Result<Value, String> =
        connector.parse_with(plugin, &account, &fixture.flow, token, &fixture.args, response.to_value(), &scrubber);
    answered("parse", fixture, parsed, |parsed| taken(connector, &fixture.flow, parsed, &scrubber))
}

/// Holds what `what` answered (or raised) to the fixture's `expect` (or `error`); `taken` checks
/// an answer as expected is one the daemon takes.
fn answered(
    what: &str,
    fixture: &Fixture,
    got: Result<Value, String>,
    taken: impl FnOnce(Value) -> Result<(), String>,
) -> Result<(), String> {
    match (&fixture.expect, &fixture.error, got) {
        (Some(expected), None, Ok(got)) => {
            mismatch(&format!("{what} answered"), expected, &got)?;
            taken(got)
        }
        (None, Some(expected), Err(error)) if error.contains(expected.as_str()) => Ok(()),
        (None, Some(expected), Err(error)) => Err(format!("{what} raised `{error}`, not one holding `{expected}`")),
        (None, Some(_), Ok(got)) => Err(format!("{what} answered {got} where it should raise an error")),
        (_, _, Err(error)) => Err(format!("{what} raised {error}")),
        _ => Err("give one of `expect` and `error`".into()),
    }
}

/// Fails with the differing paths, and both documents, when `got` is not `expected`.
fn mismatch(what: &str, expected: &Value, got: &Value) -> Result<(), String> {
    let paths = differences("", expected, got);
    if paths.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{what} something else at {}\n  expected: {expected}\n  got:      {got}",
        paths
            .iter()
            .map(|p| if p.is_empty() { "the top".to_string() } else { format!("`{p}`") })
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Whether what `parse` answered is an outcome the daemon takes, as a call would check it. An
/// answer that asks for a retry is taken as such: nothing happened.
fn taken(connector: &PluginConnector, flow: &str, parsed: Value, scrubber: &Scrubber) -> Result<(), String> {
    let refused = |e: String| format!("parse's answer is not taken: {e}");
    if parsed.get("retryable") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    match flow {
        "refund" | "refund_sync" => {
            let parsed: RefundParse = serde_json::from_value(parsed).map_err(|e| refused(e.to_string()))?;
            connector.refund_outcome(flow, parsed, scrubber).map(drop).map_err(|e| refused(e.to_string()))
        }
        "access_token" => serde_json::from_value::<TokenParse>(parsed).map(drop).map_err(|e| refused(e.to_string())),
        _ => {
            let parsed: PaymentParse = serde_json::from_value(parsed).map_err(|e| refused(e.to_string()))?;
            connector.outcome(flow, parsed, scrubber).map(drop).map_err(|e| refused(e.to_string()))
        }
    }
}

/// The account a fixture runs for.
fn account(connector: &PluginConnector, given: &FixtureAccount) -> Account {
    let declared = &connector.plugin.declaration.credentials;
    let credentials = match &given.credentials {
        Some(given) => given
            .iter()
            .filter_map(|(name, value)| match value {
                Credential::Value(value) => Some((name.clone(), Secret::new(value.clone()))),
                // `read` has read every file in.
                Credential::File { .. } => None,
            })
            .collect(),
        None => declared.iter().map(|name| (name.clone(), Secret::new(format!("test_{name}")))).collect(),
    };
    Account {
        profile: "test".into(),
        name: "fixture".into(),
        connector: connector.name.to_string(),
        enabled: true,
        base_url: given.base_url.as_deref().map(BaseUrl::new),
        credentials,
        metadata: given.metadata.clone(),
        health: Default::default(),
        meters: Default::default(),
    }
}

impl Response {
    /// The answer as `parse` sees it: `{status, headers, body, json}`.
    fn to_value(&self) -> Value {
        let (body, parsed) = match &self.body {
            Value::String(text) => (text.clone(), serde_json::from_str(text).unwrap_or(Value::Null)),
            Value::Null => (String::new(), Value::Null),
            other => (other.to_string(), other.clone()),
        };
        json!({ "status": self.status, "headers": self.headers, "body": body, "json": parsed })
    }
}
