//! A plugin's fixtures catch its author's mistakes before a payment meets them: `switchyard plugin
//! test` runs them and shows what differs, and `switchyard check`, a start and a reload refuse a
//! plugin whose fixtures fail. The shipped plugins have fixtures for every flow they define.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};
use switchyard::connectors::plugin::loader::load_plugin;
use switchyard::lua::Budget;
use tempfile::TempDir;

/// A made-up provider's plugin, as a newcomer writes one from the README; `parse` as given.
fn zappay(build_merchant: &str, parse: &str) -> String {
    format!(
        r#"
return {{
  name = "zappay", api_version = 1,
  supports = {{ card = {{ "credit", "debit" }} }}, currencies = {{ "EUR", "USD" }},
  credentials = {{ "api_key", "merchant" }}, secrets = {{ "api_key" }},
  base_url = "https://api.zappay.example",
  authorize = {{
    build = function(ctx, pay)
      return {{
        method = "POST", url = "/charges",
        headers = {{ ["Authorization"] = {{ secret = "api_key", prefix = "Bearer " }}, ["Content-Type"] = "application/json" }},
        body = json.encode({{ merchant = {build_merchant}, amount = pay.amount, currency = pay.currency,
                              reference = pay.attempt_id, card = {{ number = "{{{{card.number}}}}" }} }}),
      }}
    end,
    parse = function(ctx, pay, res)
      if res.status >= 500 then error("ZapPay answered HTTP " .. res.status) end
      {parse}
    end,
  }},
}}
"#
    )
}

const SOUND_PARSE: &str = r#"local body = res.json
      if body.state == "captured" then return { status = "charged", connector_payment_id = body.id } end
      return { status = "failure", connector_payment_id = body.id, error = { code = body.reason or "declined" } }"#;

fn fixtures() -> Value {
    let args = json!({ "payment_id": "pay_1", "attempt_id": "att_1", "capture_method": "automatic",
                       "amount": 1250, "amount_decimal": "12.50", "currency": "EUR" });
    json!([
        {
            "name": "a card charged",
            "flow": "authorize",
            "account": { "credentials": { "api_key": "zk_test", "merchant": "m_42" } },
            "args": args,
            "request": {
                "method": "POST", "url": "/charges",
                "headers": { "Authorization": { "secret": "api_key", "prefix": "Bearer " }, "Content-Type": "application/json" },
                "body": { "merchant": "m_42", "amount": 1250, "currency": "EUR", "reference": "att_1",
                          "card": { "number": "{{card.number}}" } }
            },
            "response": { "status": 200, "body": { "id": "ch_1", "state": "captured" } },
            "expect": { "status": "charged", "connector_payment_id": "ch_1" }
        },
        {
            "name": "a decline",
            "flow": "authorize",
            "args": args,
            "response": { "status": 200, "body": { "id": "ch_2", "state": "declined", "reason": "insufficient_funds" } },
            "expect": { "status": "failure", "connector_payment_id": "ch_2", "error": { "code": "insufficient_funds" } }
        },
        {
            "name": "a server error leaves the payment unclear",
            "flow": "authorize",
            "args": args,
            "response": { "status": 502, "body": "" },
            "error": "ZapPay answered HTTP 502"
        }
    ])
}

/// `zappay.lua` and its fixtures in a `plugins` folder of `dir`; the plugin's path.
fn write_plugin(dir: &Path, source: &str) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("zappay.fixtures.json"), fixtures().to_string()).unwrap();
    let file = plugins.join("zappay.lua");
    std::fs::write(&file, source).unwrap();
    file
}

fn plugin_test(file: &Path) -> (Option<i32>, String) {
    let out = switchyard(&["plugin", "test", &file.display().to_string()], &[]);
    (out.status.code(), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

#[test]
fn plugin_test_runs_the_fixtures_and_shows_what_differs() {
    let dir = TempDir::new().unwrap();
    let file = write_plugin(dir.path(), &zappay("ctx.credentials.merchant", SOUND_PARSE));
    let (code, out) = plugin_test(&file);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("3 fixtures, 0 failed"), "{out}");

    // The mistakes a newcomer makes, each caught with what went wrong.
    let mistakes = [
        // A nil index in parse.
        (zappay("ctx.credentials.merchant", &SOUND_PARSE.replace("res.json", "res.json.data")), "attempt to index nil"),
        // A status word the daemon does not know.
        (
            zappay("ctx.credentials.merchant", r#"return { status = "paid", connector_payment_id = res.json.id }"#),
            "paid",
        ),
        // A secret read as a credential, which a plugin only names.
        (zappay("ctx.credentials.api_key", SOUND_PARSE), "is a secret"),
        // A runtime error in build.
        (zappay("ctx.credentials.merchant_id:lower()", SOUND_PARSE), "zappay.authorize.build"),
        // A request other than the one expected.
        (zappay("ctx.credentials.merchant .. '!'", SOUND_PARSE), "build asked for something else at `body.merchant`"),
    ];
    for (source, expected) in mistakes {
        std::fs::write(&file, source).unwrap();
        let (code, out) = plugin_test(&file);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("FAILED  a card charged") && out.contains(expected), "{expected}: {out}");
    }

    // No fixtures: nothing is tested, which is no pass.
    std::fs::remove_file(dir.path().join("plugins/zappay.fixtures.json")).unwrap();
    let (code, out) = plugin_test(&file);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no fixtures"), "{out}");
}

#[test]
fn check_refuses_a_plugin_whose_fixtures_fail() {
    let dir = TempDir::new().unwrap();
    let file = write_plugin(dir.path(), &zappay("ctx.credentials.merchant", SOUND_PARSE));
    let account = "[[merchants.acme.profiles.web.connector_accounts]]\nname = \"zap\"\nconnector = \"zappay\"\n\
                   credentials = { api_key = \"zk\", merchant = \"m\" }\n";
    std::fs::create_dir(dir.path().join("routing")).unwrap();
    let written = config_file(
        dir.path(),
        HASH_SECRET,
        &dir.path().join("routing"),
        &format!("[merchants.acme.profiles.web]\n{account}"),
    );
    let config = std::fs::read_to_string(&written)
        .unwrap()
        .replace("plugins = \"plugins\"", &format!("plugins = \"{}\"", dir.path().join("plugins").display()));
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    let check = || {
        let out = switchyard(&["--config", &path.display().to_string(), "check"], &[]);
        (out.status.code(), format!("{}{}", text(&out.stdout), text(&out.stderr)))
    };
    assert_eq!(check(), (Some(0), "configuration is valid\n".to_string()));
    std::fs::write(&file, zappay("ctx.credentials.merchant", r#"return { status = "paid" }"#)).unwrap();
    let (code, stdout) = check();
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.starts_with("connector plugin `zappay`: "), "{stdout}");
    assert!(stdout.contains("fixture `a card charged`") && stdout.contains("paid"), "{stdout}");
}

#[test]
fn the_shipped_plugins_pass_fixtures_covering_every_flow() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let budget = Budget { time_budget: std::time::Duration::from_secs(1), memory_bytes: 16 << 20 };
    for name in ["adyen", "fintecture"] {
        let file = plugins.join(format!("{name}.lua"));
        let (code, out) = plugin_test(&file);
        assert_eq!(code, Some(0), "{name}: {out}");
        let fixtures: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(plugins.join(format!("{name}.fixtures.json"))).unwrap())
                .unwrap();
        let tested: BTreeSet<&str> = fixtures.iter().filter_map(|f| f["flow"].as_str()).collect();
        let plugin = load_plugin(&file, budget).unwrap();
        let mut defined: BTreeSet<String> = plugin.flows.iter().map(|f| f.to_string()).collect();
        defined.extend(plugin.has_webhook.then(|| "webhook".to_string()));
        defined.extend(plugin.session_wallets.iter().map(|w| format!("session_tokens.{w}")));
        let untested: Vec<&String> = defined.iter().filter(|flow| !tested.contains(flow.as_str())).collect();
        assert!(untested.is_empty(), "{name}: no fixture for {untested:?}");
        // Each flow has an answer that works and one that does not.
        for flow in &defined {
            let of_flow = fixtures.iter().filter(|f| f["flow"] == flow.as_str());
            assert!(of_flow.count() >= 2, "{name}: {flow} needs a success and a failure");
        }
    }
}
