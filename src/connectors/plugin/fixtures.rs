//! A plugin's fixtures: its own tests, in `<name>.fixtures.json` beside the plugin file. Each
//! fixture gives one flow's arguments and the request `build` must ask for, and a provider's
//! answer and what `parse` must make of it; what `parse` answers must also be an outcome the
//! daemon takes. `switchyard plugin test` runs them and shows the difference on a mismatch;
//! every load runs them too, so a plugin whose fixtures fail never serves. Nothing is sent: the
//! plugin's pure functions are run as a call would run them, no network, no provider.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use super::{PaymentParse, PluginConnector, RefundParse, TokenParse};
use crate::connectors::scrub::Scrubber;
use crate::connectors::Account;
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
    /// What `parse` must answer for `response`.
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
    credentials: Option<BTreeMap<String, String>>,
    #[serde(default)]
    metadata: serde_json::Map<String, Value>,
    #[serde(default)]
    base_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixturePins {
    #[serde(default)]
    http_date: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
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

/// Reads the fixtures beside `plugin`; none when there is no fixture file.
pub fn read(plugin: &Path) -> Result<Vec<Fixture>, String> {
    let path = path_of(plugin);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let shown = path.display();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{shown}: {e}"))
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
    if !plugin.flows.contains(fixture.flow.as_str()) {
        return Err(format!("the plugin defines no flow `{}`", fixture.flow));
    }
    let account = account(connector, &fixture.account);
    let pins = super::Pins { http_date: fixture.pins.http_date.clone(), request_id: fixture.pins.request_id.clone() };
    if let Some(expected) = &fixture.request {
        let token = fixture.access_token.as_deref();
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
    let (token, args, res) = (fixture.access_token.as_deref(), fixture.args.clone(), response.to_value());
    let parsed: Result<Value, String> =
        connector.parse_with(plugin, &account, &fixture.flow, token, args, res, &scrubber);
    match (&fixture.expect, &fixture.error, parsed) {
        (Some(expected), None, Ok(parsed)) => {
            mismatch("parse answered", expected, &parsed)?;
            taken(connector, &fixture.flow, parsed, &scrubber)
        }
        (None, Some(expected), Err(error)) if error.contains(expected.as_str()) => Ok(()),
        (None, Some(expected), Err(error)) => Err(format!("parse raised `{error}`, not one holding `{expected}`")),
        (None, Some(_), Ok(parsed)) => Err(format!("parse answered {parsed} where it should raise an error")),
        (_, _, Err(error)) => Err(format!("parse raised {error}")),
        _ => Err("give a `response` one of `expect` and `error`".into()),
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
        Some(given) => given.iter().map(|(k, v)| (k.clone(), Secret::new(v.clone()))).collect(),
        None => declared.iter().map(|name| (name.clone(), Secret::new(format!("test_{name}")))).collect(),
    };
    Account {
        name: "fixture".into(),
        connector: connector.name.to_string(),
        enabled: true,
        base_url: given.base_url.clone(),
        credentials,
        metadata: given.metadata.clone(),
        health: Default::default(),
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
