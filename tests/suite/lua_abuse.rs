//! Lua abuse, over HTTP: routing scripts and connector plugins that loop, recurse, allocate,
//! build string bombs, raise huge or odd errors, yield, or try to escape the sandbox. Each fails
//! only its own call — the payment goes on by the fallback list or the next account, the daemon
//! keeps serving, nothing leaks into later calls — and what a failure reports stays bounded.
//! (Escapes and runaway scripts of every kind are also in tests/suite/routing.rs and `lua`'s unit
//! tests.)

use crate::common;

use common::mock::{json_answer, MockServer};
use common::*;
use serde_json::{json, Value};
use switchyard::config::ConnectorAccountConfig;
use tempfile::TempDir;

/// The longest failure text a payment may carry: the runtime bounds them well below this.
const BOUND: usize = 1200;

const ROUTING: &str = r#"
local calls = 0
return function(p, ctx)
  local case = p.metadata and p.metadata.case
  if case == "pcall_loop" then while true do pcall(function() while true do end end) end end
  if case == "xpcall_loop" then
    while true do xpcall(function() while true do end end, function() while true do end end) end
  end
  if case == "carry" then
    -- Only the first call on a worker would see 0, were the count kept between payments.
    calls = calls + 1
    if calls > 1 then return { "a" }, "carried over" end
    return { "b" }, "ok"
  end
  if case == "huge_error" then error(string.rep("x", 1e6)) end
  if case == "table_error" then error({ code = 1 }) end
  if case == "tostring_error" then error(setmetatable({}, { __tostring = function() while true do end end })) end
  if case == "yield" then coroutine.yield() end
  if case == "coroutine_loop" then
    local co = coroutine.wrap(function() while true do coroutine.yield() end end)
    while true do co() end
  end
  if case == "string_bomb" then local s = "x" for _ = 1, 40 do s = s .. s end return { s } end
  if case == "huge_reason" then return { "b" }, string.rep("r", 1e6) end
  return { "b" }, "ok"
end
"#;

const PLUGIN: &str = r#"
local calls = 0
local seen = {}

local function abuse(case)
  if case == "loop" then while true do end end
  if case == "pcall_loop" then while true do pcall(function() while true do end end) end end
  if case == "xpcall_loop" then while true do xpcall(function() while true do end end, function() while true do end end) end end
  if case == "carry_local" then calls = calls + 1 if calls > 1 then error("a local from an earlier call is visible") end end
  if case == "carry_table" then seen[#seen + 1] = case end
  if case == "recursion" then local function f(n) return f(n + 1) + 1 end return f(1) end
  if case == "memory" then local t = {} for i = 1, 1e8 do t[i] = i end end
  if case == "string_bomb" then local s = "x" for _ = 1, 40 do s = s .. s end return s end
  if case == "huge_error" then error(string.rep("x", 1e6)) end
  if case == "yield" then coroutine.yield() end
  if case == "escape_io" then return io.open("/etc/passwd") end
  if case == "escape_string_meta" then getmetatable("").__index = {} end
  if case == "escape_host" then json.encode = nil end
  if case == "escape_global" then leaked = true end
end

return {
  name = "abusive", api_version = 1, supports = { card = "any" }, currencies = "any",
  authorize = {
    build = function(ctx, pay)
      abuse(pay.description)
      if pay.description == "bad_return" then return 42 end
      if pay.description == "huge_url" then return { method = "POST", url = string.rep("/x", 1e5) } end
      if leaked then error("a global from an earlier call is visible") end
      return {
        method = "POST", url = "/pay",
        headers = { ["Content-Type"] = "application/json" },
        body = json.encode({ attempt = pay.attempt_id }),
      }
    end,
    parse = function(ctx, pay, res)
      if pay.description == "parse_loop" then while true do end end
      if pay.description == "parse_huge" then return { status = "failure", error = { code = string.rep("c", 1e5), message = string.rep("m", 1e6) } } end
      -- Found by fuzzing (fuzz/, plugin_calls): a capture no payment could have.
      if pay.description == "parse_capture_bomb" then return { status = "charged", amount_captured = 723401728380766730 } end
      if pay.description == "parse_over_capture" then return { status = "charged", amount_captured = pay.amount * 100 } end
      return { status = "charged", connector_payment_id = "ab_" .. pay.attempt_id }
    end,
  },
}
"#;

fn with_case(case: &str) -> Value {
    with(payment("4242424242424242"), json!({ "metadata": { "case": case } }))
}

fn described(what: &str) -> Value {
    with(payment("4242424242424242"), json!({ "description": what }))
}

#[tokio::test(flavor = "multi_thread")]
async fn abusive_routing_scripts_fail_only_their_call_and_report_boundedly() {
    let dir = TempDir::new().unwrap();
    let mut config =
        config_routed(dir.path(), vec![sandbox_account("a"), sandbox_account("b")], &["a"], "abuse", ROUTING);
    // The runaway cases are under test here: the default budget.
    config.lua.time_budget_ms = 5;
    let app = TestApp::start_with(dir, config).await;

    for case in [
        "huge_error",
        "table_error",
        "tostring_error",
        "yield",
        "coroutine_loop",
        "string_bomb",
        "huge_reason",
        "pcall_loop",
        "xpcall_loop",
    ] {
        let body = pay(&app, with_case(case)).await;
        assert_eq!(body["status"], "succeeded", "{case}: {body}");
        let text = body.to_string();
        assert!(text.len() < 20_000, "{case}: the answer carries the abuse ({} bytes)", text.len());
        let routing = &body["attempts"][0]["routing"];
        if case != "huge_reason" {
            assert_eq!(body["merchant_connector_id"], "a", "{case}: the fallback list decided: {body}");
            let fallback = routing["fallback"].as_str().unwrap_or_else(|| panic!("{case}: no fallback: {body}"));
            assert!(fallback.len() < BOUND, "{case}: a fallback reason of {} bytes", fallback.len());
        }
    }
    // Each payment starts from the script as loaded: a count kept in a top-level local is back
    // to 0 for every one of them, on every worker.
    for _ in 0..6 {
        let body = pay(&app, with_case("carry")).await;
        assert_eq!(body["attempts"][0]["routing"]["reason"], "ok", "{body}");
    }
    // The script still decides for a payment that does not abuse it.
    let body = pay(&app, payment("4242424242424242")).await;
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    assert_eq!(body["attempts"][0]["routing"]["reason"], "ok", "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn abusive_plugins_fail_only_their_call_and_report_boundedly() {
    let provider =
        MockServer::serve(axum::Router::new().fallback(|| async { json_answer(200, json!({ "ok": true })) })).await;
    let dir = TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("abusive.lua"), PLUGIN).unwrap();
    let abusive = ConnectorAccountConfig {
        connector: "abusive".into(),
        base_url: Some(provider.url.clone()),
        ..sandbox_account("abusive")
    };
    let mut config = config_with(dir.path(), vec![abusive, sandbox_account("sandbox")], &["abusive", "sandbox"]);
    config.paths.plugins = plugins;
    let app = TestApp::start_with(dir, config).await;

    // Before anything is sent: the next account takes the payment.
    let cases = [
        "loop",
        "pcall_loop",
        "xpcall_loop",
        "carry_table",
        "recursion",
        "memory",
        "string_bomb",
        "huge_error",
        "yield",
        "escape_io",
        "escape_string_meta",
        "escape_host",
        "bad_return",
        "huge_url",
    ];
    for case in cases {
        let body = pay(&app, described(case)).await;
        assert_eq!(body["status"], "succeeded", "{case}: {body}");
        assert_eq!(body["merchant_connector_id"], "sandbox", "{case}: {body}");
        let first = &body["attempts"][0];
        assert_eq!(first["merchant_connector_id"], "abusive", "{case}: {body}");
        assert_eq!(first["error"]["code"], "connector_not_taken", "{case}: {body}");
        let message = first["error"]["message"].as_str().unwrap();
        assert!(message.len() < BOUND, "{case}: an error message of {} bytes", message.len());
        // The plugin serves the next payments as if nothing had happened (two of them, which
        // also keeps the account's circuit closed: it opens once half of ten calls fail).
        for _ in 0..2 {
            let body = pay(&app, described("ok")).await;
            assert_eq!(body["merchant_connector_id"], "abusive", "after {case}: {body}");
        }
    }

    // A global one call set is gone in the next, and the host library is whole: a plain payment
    // goes through the plugin.
    pay(&app, described("escape_global")).await;
    let body = pay(&app, described("ok")).await;
    assert_eq!(body["merchant_connector_id"], "abusive", "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    // A top-level local assigned in one call is back to its loaded value in the next.
    for _ in 0..6 {
        let body = pay(&app, described("carry_local")).await;
        assert_eq!(body["merchant_connector_id"], "abusive", "{body}");
    }

    // After the provider has the request, a runaway `parse` leaves the outcome unclear: the
    // payment stays processing and no other account is tried.
    let body = pay(&app, described("parse_loop")).await;
    assert_eq!(body["status"], "processing", "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    // An amount captured that is no amount leaves the outcome unclear; more than the payment's
    // amount is not believed. Either way no refund can exceed what the payment was for.
    let body = pay(&app, described("parse_capture_bomb")).await;
    assert_eq!(body["status"], "processing", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 0, "{body}");
    let body = pay(&app, described("parse_over_capture")).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 6540, "{body}");
    let refund = json!({ "payment_id": id_of(&body), "merchant_reference_id": "over", "amount": 6541 });
    let (status, refused) = app.post("/v2/refunds", refund).await;
    assert_error(status, &refused, 400, "IR_13");
    // A provider's (or plugin's) huge code and message are stored cut short.
    let body = pay(&app, described("parse_huge")).await;
    assert_eq!(body["status"], "failed", "{body}");
    assert!(body["error"]["code"].as_str().unwrap().len() < 200, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().len() < BOUND,
        "a message of {} bytes",
        body["error"]["message"].as_str().unwrap().len()
    );
    app.stop().await;
}

/// A script or plugin whose top level catches the budget error in a loop is refused within its
/// budget, at start as at a reload; it never keeps the daemon from starting or answering.
#[tokio::test(flavor = "multi_thread")]
async fn a_top_level_that_catches_the_budget_is_refused_at_load() {
    const CATCHER: &str =
        "while true do pcall(function() while true do end end) end\nreturn function() return { 'a' } end";
    let dir = TempDir::new().unwrap();
    let mut config = config_routed(dir.path(), vec![sandbox_account("a")], &["a"], "catcher", CATCHER);
    config.lua.time_budget_ms = 5;
    // The script is refused; the profile's payments follow its fallback list.
    let app = TestApp::start_with(dir, config).await;
    let body = pay(&app, payment("4242424242424242")).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    let fallback = body["attempts"][0]["routing"]["fallback"].as_str().unwrap_or_default();
    assert!(fallback.contains("catcher"), "{body}");
    app.stop().await;

    let dir = TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let plugin =
        "while true do pcall(function() while true do end end) end\nreturn { name = 'catcher', api_version = 1 }";
    std::fs::write(plugins.join("catcher.lua"), plugin).unwrap();
    let mut config = config_with(dir.path(), vec![sandbox_account("sandbox")], &["sandbox"]);
    config.paths.plugins = plugins;
    config.lua.time_budget_ms = 5;
    // The plugin is refused, with the reason; the start does not hang on it.
    match switchyard::app::start(config).await {
        Ok(running) => running.stop().await,
        Err(e) => assert!(e.to_string().contains("time budget"), "{e}"),
    }
}
