//! The Rust↔Lua boundary of connector plugins: any call arguments through a plugin's `build`, any
//! provider answer through its `parse`, any notification through `webhook`, for the shipped
//! plugins and one that answers hostile values (`lua/hostile.lua`). Each call ends in a request,
//! an outcome or an error, never a panic, and an outcome's amounts are amounts.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use switchyard::config::{Config, ConnectorAccountConfig, SecretValue};
use switchyard::connectors::plugin::loader::{load_plugin, FLOWS};
use switchyard::connectors::plugin::{Pins, PluginConnector};
use switchyard::connectors::{Account, Connector, WebhookRequest};
use switchyard::money::MAX_AMOUNT;
use switchyard_fuzz::{here, lua_limits, repo, Json, JsonObject};

/// How many answers `lua/hostile.lua` picks among.
const HOSTILE_ANSWERS: u8 = 20;

#[derive(Debug, Arbitrary)]
struct Input {
    plugin: usize,
    flow: usize,
    call: Call,
    args: JsonObject,
    pick: u8,
    value: Json,
    token: Option<String>,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
enum Call {
    Build,
    Parse,
    Webhook,
}

struct Setup {
    plugins: Vec<(PluginConnector, Account)>,
    runtime: tokio::runtime::Runtime,
}

fn account(name: &str, credentials: &[(&str, String)]) -> Account {
    Account::from_config(
        "web",
        &ConnectorAccountConfig {
            name: name.into(),
            connector: name.into(),
            enabled: true,
            base_url: Some("http://127.0.0.1:9".into()),
            credentials: credentials.iter().map(|(k, v)| (k.to_string(), SecretValue::Literal(v.clone()))).collect(),
            metadata: Default::default(),
            rate_limit: None,
        },
    )
}

/// Each plugin with an account holding the credentials it declares, loaded once.
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let key = std::fs::read_to_string(repo("tests/fixtures/fintecture/test_key.pem")).expect("the test key");
        let http = switchyard::connectors::http::client(&Config::default().http).expect("an HTTP client");
        let plugins = [
            (repo("plugins/adyen.lua"), vec![("api_key", "test".into()), ("merchant_account", "Shop".into())]),
            (
                repo("plugins/fintecture.lua"),
                vec![("app_id", "app".into()), ("app_secret", "secret".into()), ("private_key", key)],
            ),
            (here("lua/hostile.lua"), vec![]),
        ];
        let plugins = plugins
            .into_iter()
            .map(|(path, credentials)| {
                let plugin = load_plugin(&path, lua_limits()).expect("the plugin loads");
                let name = plugin.declaration.name.clone();
                (
                    PluginConnector::new(plugin, lua_limits(), http.clone(), "http://127.0.0.1:8080"),
                    account(&name, &credentials),
                )
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        Setup { plugins, runtime }
    })
}

fuzz_target!(|input: Input| {
    let setup = setup();
    let (connector, account) = &setup.plugins[input.plugin % setup.plugins.len()];
    let flow = FLOWS[input.flow % FLOWS.len()];
    let mut args = input.args.0;
    args.insert("pick".into(), json!(input.pick % HOSTILE_ANSWERS));
    args.insert("value".into(), input.value.0);
    let args = Value::Object(args);
    // Requests, outcomes and errors are all answers; only a panic is a finding.
    match input.call {
        Call::Build => {
            let _ = connector.build(account, &Pins::default(), flow, input.token.as_deref(), &args);
        }
        Call::Parse => {
            // What the host hands `parse`: the status, headers, the body as text and as JSON.
            let headers: BTreeMap<String, String> = input.headers.iter().cloned().collect();
            let res = json!({
                "status": input.status,
                "headers": headers,
                "body": String::from_utf8_lossy(&input.body),
                "json": serde_json::from_slice::<Value>(&input.body).unwrap_or(Value::Null),
            });
            if let Ok(outcome) = connector.parse_payment(account, flow, &args, &res) {
                // What a plugin reports is stored on the payment: an amount captured must be one.
                let captured = outcome.amount_captured.unwrap_or(0);
                assert!((0..=MAX_AMOUNT).contains(&captured), "an outcome with {captured} captured");
            }
        }
        Call::Webhook => {
            let request = WebhookRequest { headers: &input.headers, body: &input.body };
            let _ = setup.runtime.block_on(connector.webhook(account, &request));
        }
    }
});
