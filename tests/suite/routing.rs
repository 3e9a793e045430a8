//! Routing scripts end to end: a profile's Lua script decides which connector accounts a payment
//! tries, and every attempt shows that decision; a script that fails in any way leaves the
//! profile's fallback list to decide while the payment goes through; the routing folder reloads
//! live, refusing versions that do not compile or break their golden cases; and the operator tools
//! (`switchyard route`, `route replay`, `check`) run through the real binary.

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchyard::config::{Config, ConnectorAccountConfig};
use tempfile::TempDir;

const VISA: &str = "4242424242424242";
const MASTERCARD: &str = "5555555555554444";
const DECLINED: &str = "4000000000000002";
/// The demo merchant's secret key in `config/switchyard.toml`.
const DEMO_KEY: &str = "sy_sk_EcUKnRGm9ycfbQOyR2PYq322lLfeY3hm";
/// The script name acme/web routes with in these tests.
const SCRIPT: &str = "route";
/// A budget generous enough that a busy test machine never makes a well-behaved script overrun.
const TIME_BUDGET_MS: u64 = 250;

// ---- helpers --------------------------------------------------------------------------------

/// The version id switchyard gives a script: the first 12 hex digits of its source's SHA-256.
fn hash_of(source: &str) -> String {
    hex::encode(&Sha256::digest(source.as_bytes())[..6])
}

fn routing_dir(dir: &Path) -> PathBuf {
    dir.join("routing")
}

fn write_script(dir: &Path, name: &str, source: &str) {
    std::fs::write(routing_dir(dir).join(format!("{name}.lua")), source).expect("script written");
}

/// A sandbox account whose every authorization fails as an outage.
fn unavailable(name: &str) -> ConnectorAccountConfig {
    let mut account = sandbox_account(name);
    account.metadata.insert("simulate".into(), json!("unavailable"));
    account
}

fn disabled(name: &str) -> ConnectorAccountConfig {
    ConnectorAccountConfig { enabled: false, ..sandbox_account(name) }
}

/// The test configuration with a routing folder in `dir`, and acme/web given `accounts`, the
/// script `route` and `fallback`.
fn routed_config(dir: &Path, accounts: Vec<ConnectorAccountConfig>, fallback: &[&str]) -> Config {
    let mut cfg = config(dir);
    cfg.paths.routing = routing_dir(dir);
    cfg.lua.time_budget_ms = TIME_BUDGET_MS;
    let web = cfg.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap();
    web.connector_accounts = accounts;
    web.routing = Some(SCRIPT.into());
    web.fallback = fallback.iter().map(|s| s.to_string()).collect();
    cfg
}

/// A temp dir with an empty routing folder.
fn routing_tempdir() -> TempDir {
    let dir = TempDir::new().expect("temp dir");
    std::fs::create_dir(routing_dir(dir.path())).expect("routing folder");
    dir
}

/// A daemon whose acme/web routes with `source` as `route.lua`.
async fn start_routed(source: &str, accounts: Vec<ConnectorAccountConfig>, fallback: &[&str]) -> TestApp {
    let dir = routing_tempdir();
    write_script(dir.path(), SCRIPT, source);
    let cfg = routed_config(dir.path(), accounts, fallback);
    TestApp::start_with(dir, cfg).await
}

/// A Visa payment of `amount` in `currency`.
fn payment_of(currency: &str, amount: i64) -> Value {
    with(payment(VISA), json!({ "amount_details": { "currency": currency, "order_amount": amount } }))
}

/// A Visa payment whose metadata carries `case`, for scripts that dispatch on it.
fn case_payment(case: &str) -> Value {
    with(payment(VISA), json!({ "metadata": { "case": case } }))
}

/// Creates and confirms a payment as acme/`profile`, expecting 200.
async fn pay_as(app: &TestApp, profile: &str, body: Value) -> Value {
    let (status, body) = app.call(Method::POST, "/v2/payments", Some(ACME_KEY), Some(profile), Some(&body)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The routing decision of the first attempt.
fn routing(body: &Value) -> &Value {
    let r = &attempts(body)[0]["routing"];
    assert!(r.is_object(), "no routing on the first attempt: {body}");
    r
}

fn candidates(body: &Value) -> Vec<String> {
    routing(body)["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("no candidates in {body}"))
        .iter()
        .map(|c| c.as_str().expect("a name").to_string())
        .collect()
}

fn reason(body: &Value) -> Option<&str> {
    routing(body)["reason"].as_str()
}

fn is_hex12(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

/// Sends payments built by `body` every 50 ms, for up to 10 s, until one answers as `done`
/// says; returns that answer.
async fn pay_until(app: &TestApp, profile: &str, body: impl Fn() -> Value, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = pay_as(app, profile, body()).await;
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "the reload never showed; last answer: {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts a payment went through acme/web's fallback list `["a"]` because `route` failed, and
/// returns why.
fn assert_fallback(body: &Value, hash: &str) -> String {
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["merchant_connector_id"], "a", "{body}");
    assert_eq!(attempts(body).len(), 1, "{body}");
    let r = routing(body);
    assert_eq!(r["script"], SCRIPT, "{body}");
    assert_eq!(r["script_hash"], hash, "{body}");
    assert_eq!(r["candidates"], json!(["a"]), "{body}");
    assert_eq!(r["reason"], Value::Null, "{body}");
    let why = r["fallback"].as_str().unwrap_or_else(|| panic!("no fallback reason: {body}"));
    assert!(!why.is_empty(), "{body}");
    why.to_string()
}

/// Runs the binary, with a time budget no busy machine overruns.
fn switchyard_budgeted(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut env = env.to_vec();
    env.push(("SWITCHYARD__LUA__TIME_BUDGET_MS", "1000"));
    switchyard(args, &env)
}

// ---- the script decides ---------------------------------------------------------------------

#[tokio::test]
async fn a_scripts_decision_is_used_and_shown_on_the_attempt() {
    let source = "return function(p, ctx)\n  return { \"b\", \"a\" }, \"prefer b\"\nend\n";
    let app = start_routed(source, vec![sandbox_account("a"), sandbox_account("b")], &["a"]).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["connector"], "sandbox", "{body}");
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(attempts(&body)[0]["merchant_connector_id"], "b");
    assert_eq!(attempts(&body)[0]["status"], "charged");

    let r = routing(&body);
    assert_eq!(r["script"], SCRIPT);
    assert!(is_hex12(&r["script_hash"]), "{r}");
    assert_eq!(r["script_hash"], hash_of(source));
    assert_eq!(r["candidates"], json!(["b", "a"]));
    assert_eq!(r["reason"], "prefer b");
    assert_eq!(r["fallback"], Value::Null);
    assert!(r["duration_us"].as_f64().is_some_and(|d| d > 0.0), "{r}");

    // Retrieval shows the stored decision, unchanged.
    let id = body["id"].as_str().unwrap();
    let (status, stored) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["merchant_connector_id"], "b");
    assert_eq!(stored["attempts"][0]["routing"], body["attempts"][0]["routing"]);
}

#[tokio::test]
async fn a_script_routes_on_currency_and_amount() {
    let source = r#"
return function(p, ctx)
  if p.currency == "EUR" and p.amount >= 100000 then
    return { "b", "a" }, "large EUR"
  end
  return { "a", "b" }, "default"
end
"#;
    let app = start_routed(source, vec![sandbox_account("a"), sandbox_account("b")], &["a"]).await;
    for (currency, amount, account, why) in [
        ("EUR", 100000, "b", "large EUR"),
        ("EUR", 250000, "b", "large EUR"),
        ("EUR", 99999, "a", "default"),
        ("USD", 100000, "a", "default"),
    ] {
        let body = pay(&app, payment_of(currency, amount)).await;
        assert_eq!(body["status"], "succeeded", "{currency} {amount}: {body}");
        assert_eq!(body["merchant_connector_id"], account, "{currency} {amount}: {body}");
        assert_eq!(reason(&body), Some(why), "{currency} {amount}: {body}");
    }
}

#[tokio::test]
async fn a_script_sees_the_card_the_metadata_and_the_billing_country() {
    // The reason lists every field of the view, so one answer shows what the script saw.
    let source = r#"
local function s(v) return v == nil and "nil" or tostring(v) end
return function(p, ctx)
  local card = p.card or {}
  local tier = p.metadata and p.metadata.tier
  local seen = table.concat({
    s(p.id), s(p.amount), s(p.currency), s(p.payment_method_type), s(p.payment_method_subtype),
    s(card.network), s(card.bin), s(card.issuing_country), s(p.billing_country), s(p.customer_id),
    s(p.profile_id), s(tier), s(p.attempt),
  }, " ")
  if card.network == "Visa" and card.bin == "424242" and tier == "gold" and p.billing_country == "FR" then
    return { "b", "a" }, seen
  end
  return { "a", "b" }, seen
end
"#;
    let app = start_routed(source, vec![sandbox_account("a"), sandbox_account("b")], &["a"]).await;

    let (status, customer) = app.post("/v2/customers", json!({ "name": "Gold", "email": "gold@example.com" })).await;
    assert_eq!(status, 200, "{customer}");
    let customer = id_of(&customer);
    let mut gold = with(
        payment_of("EUR", 1234),
        json!({ "metadata": { "tier": "gold" }, "customer_id": customer, "payment_method_subtype": "debit" }),
    );
    gold["payment_method_data"]["billing"] = json!({ "address": { "country": "FR" } });
    gold["payment_method_data"]["card"]["card_issuing_country"] = json!("DE");
    let body = pay(&app, gold).await;
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        reason(&body),
        Some(format!("{id} 1234 EUR card debit Visa 424242 DE FR {customer} web gold 1").as_str())
    );
    assert_eq!(body["merchant_connector_id"], "b", "{body}");

    // A Mastercard with no metadata, billing or customer.
    let body = pay(&app, payment(MASTERCARD)).await;
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        reason(&body),
        Some(format!("{id} 6540 USD card credit Mastercard 555555 nil nil nil web nil 1").as_str())
    );
    assert_eq!(body["merchant_connector_id"], "a", "{body}");

    // Billing given at the top level of the request is seen too; metadata of another tier is not gold.
    let body =
        with(payment(VISA), json!({ "metadata": { "tier": "silver" }, "billing": { "address": { "country": "FR" } } }));
    let body = pay(&app, body).await;
    let id = body["id"].as_str().unwrap();
    assert_eq!(reason(&body), Some(format!("{id} 6540 USD card credit Visa 424242 nil FR nil web silver 1").as_str()));
    assert_eq!(body["merchant_connector_id"], "a", "{body}");
}

#[tokio::test]
async fn metadata_reaches_the_script_with_its_types_and_is_cut_off_below_four_levels() {
    let source = r#"
local function s(v) return v == nil and "nil" or tostring(v) end
return function(p, ctx)
  local m = p.metadata
  if not (m and m.tags and m.l1 and m.l1.l2) then return { "a" }, "other metadata" end
  local deep = m.l1.l2.l3
  return { "a" }, table.concat({
    s(m.n), s(m.f), s(m.yes), s(m.none), s(#m.tags), s(m.tags[2]),
    s(deep and deep.l4), s(deep and deep.obj), s(type(m.l1.l2)),
  }, " ")
end
"#;
    let app = start_routed(source, vec![sandbox_account("a")], &["a"]).await;
    let metadata = json!({
        "n": 3, "f": 1.5, "yes": true, "none": null, "tags": ["x", "y"],
        "l1": { "l2": { "l3": { "l4": "kept", "obj": { "l5": "cut" } } } }
    });
    let body = pay(&app, with(payment(VISA), json!({ "metadata": metadata }))).await;
    assert_eq!(reason(&body), Some("3 1.5 true nil 2 y kept nil table"), "{body}");
}

#[tokio::test]
async fn ctx_lists_the_enabled_accounts_in_order_and_tells_the_time() {
    let source = r#"
return function(p, ctx)
  return { ctx.accounts[#ctx.accounts] }, table.concat(ctx.accounts, ",") .. " " .. string.format("%d", ctx.now())
end
"#;
    let accounts = vec![sandbox_account("z"), disabled("c"), sandbox_account("a"), sandbox_account("m")];
    let app = start_routed(source, accounts, &["z"]).await;
    let before = chrono::Utc::now().timestamp();
    let body = pay(&app, payment(VISA)).await;
    let after = chrono::Utc::now().timestamp();
    assert_eq!(body["merchant_connector_id"], "m", "{body}");
    let why = reason(&body).unwrap_or_else(|| panic!("{body}"));
    let (names, now) = why.split_once(' ').unwrap_or_else(|| panic!("{why}"));
    assert_eq!(names, "z,a,m", "the enabled accounts in the order configured");
    let now: i64 = now.parse().unwrap_or_else(|_| panic!("{why}"));
    assert!((before..=after).contains(&now), "ctx.now() = {now}, not between {before} and {after}");
}

#[tokio::test]
async fn a_script_may_define_a_global_route_function_instead() {
    let source = "function route(p, ctx)\n  return { \"b\" }, \"global route\"\nend\n";
    let app = start_routed(source, vec![sandbox_account("a"), sandbox_account("b")], &["a"]).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    assert_eq!(reason(&body), Some("global route"));
    assert_eq!(routing(&body)["fallback"], Value::Null);
}

#[tokio::test]
async fn a_script_that_yields_no_function_is_refused_at_load() {
    let source = "local x = 1\nreturn x\n";
    let app = start_routed(source, vec![sandbox_account("a"), sandbox_account("b")], &["a"]).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["merchant_connector_id"], "a", "the fallback list decides: {body}");
    let r = routing(&body);
    assert_eq!(r["script_hash"], Value::Null, "the script never loaded: {body}");
    let why = r["fallback"].as_str().unwrap_or_default();
    assert!(why.contains("`route`") && why.contains("loaded"), "{why}");
}

#[tokio::test]
async fn a_long_reason_is_cut_to_200_characters() {
    let source = "return function(p, ctx) return { \"a\" }, string.rep(\"é\", 500) end\n";
    let app = start_routed(source, vec![sandbox_account("a")], &["a"]).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(reason(&body), Some("é".repeat(200).as_str()), "{body}");
}

#[tokio::test]
async fn confirming_an_intent_routes_by_the_script_too() {
    let source = "return function(p, ctx) return { \"b\" }, \"intent \" .. p.id end\n";
    let app = start_routed(source, vec![sandbox_account("a"), sandbox_account("b")], &["a"]).await;
    let (status, intent) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "currency": "USD", "order_amount": 500 } }))
        .await;
    assert_eq!(status, 200, "{intent}");
    let id = intent["id"].as_str().unwrap();
    let mut method = payment(VISA);
    method.as_object_mut().unwrap().remove("amount_details");
    let (status, body) = app.post(&format!("/v2/payments/{id}/confirm-intent"), method).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    assert_eq!(reason(&body), Some(format!("intent {id}").as_str()));
}

// ---- failover -------------------------------------------------------------------------------

#[tokio::test]
async fn an_account_that_does_not_take_the_payment_fails_over_to_the_next() {
    let source = "return function(p, ctx) return { \"a\", \"b\" }, \"a first\" end\n";
    let app = start_routed(source, vec![unavailable("a"), sandbox_account("b")], &["b"]).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    let tried = attempts(&body);
    assert_eq!(tried.len(), 2, "{body}");
    assert_eq!(tried[0]["merchant_connector_id"], "a");
    assert_eq!(tried[0]["status"], "failure");
    assert_eq!(tried[0]["error"]["code"], "connector_not_taken", "{body}");
    assert_eq!(tried[1]["merchant_connector_id"], "b");
    assert_eq!(tried[1]["status"], "charged");
    assert_eq!(body["error"], Value::Null, "the active attempt succeeded: {body}");
    // Both attempts carry the one decision that ordered them.
    for attempt in tried {
        assert_eq!(attempt["routing"]["candidates"], json!(["a", "b"]), "{body}");
        assert_eq!(attempt["routing"]["reason"], "a first", "{body}");
    }
}

#[tokio::test]
async fn a_decline_is_final_and_the_next_account_is_not_tried() {
    let source = "return function(p, ctx) return { \"b\", \"a\" }, \"b first\" end\n";
    let app = start_routed(source, vec![sandbox_account("a"), sandbox_account("b")], &["a"]).await;
    let body = pay(&app, payment(DECLINED)).await;
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    assert_eq!(attempts(&body)[0]["error"]["code"], "card_declined", "{body}");
    assert_eq!(candidates(&body), ["b", "a"]);
}

#[tokio::test]
async fn a_script_steers_away_from_an_account_its_live_health_shows_failing() {
    let source = r#"
return function(p, ctx)
  local h = ctx.health("a")
  assert(ctx.health("nope") == nil, "an unknown account has no health")
  local why = string.format("calls=%d rate=%.2f healthy=%s", h.calls, h.success_rate, tostring(h.healthy))
  return ctx.first_healthy({ "a", "b" }), why
end
"#;
    let app = start_routed(source, vec![unavailable("a"), sandbox_account("b")], &["b"]).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(reason(&body), Some("calls=0 rate=1.00 healthy=true"), "{body}");
    assert_eq!(candidates(&body), ["a", "b"]);
    assert_eq!(attempts(&body).len(), 2, "{body}");

    // Every payment fails over from `a`; once its failures are evidence enough, `a` goes last.
    for n in 1..50 {
        let body = pay(&app, payment(VISA)).await;
        assert_eq!(body["status"], "succeeded", "{body}");
        assert_eq!(body["merchant_connector_id"], "b", "{body}");
        if candidates(&body) == ["b", "a"] {
            assert_eq!(reason(&body), Some(format!("calls={n} rate=0.00 healthy=false").as_str()), "{body}");
            assert_eq!(attempts(&body).len(), 1, "`a` is not tried first any more: {body}");
            return;
        }
        assert_eq!(reason(&body), Some(format!("calls={n} rate=0.00 healthy=true").as_str()), "{body}");
        assert_eq!(attempts(&body).len(), 2, "{body}");
    }
    panic!("`a` never turned unhealthy");
}

// ---- a failing script never fails a payment -------------------------------------------------

/// Every way a script can fail, chosen by `p.metadata.case`; with no case it answers `{"b"}`
/// through string methods, which must still work after the escapes were tried.
const FAILING: &str = r#"
return function(p, ctx)
  local case = p.metadata and p.metadata.case
  if case == "error" then error("boom") end
  if case == "unknown" then return { "nope" } end
  if case == "number" then return 42 end
  if case == "nothing" then return end
  if case == "empty" then return {} end
  if case == "duplicate" then return { "b", "b" } end
  if case == "disabled" then return { "c" } end
  if case == "not_a_name" then return { "b", 7 } end
  if case == "bad_reason" then return { "b" }, 7 end
  if case == "io" then return { io.open("/etc/passwd") } end
  if case == "os" then os.execute("true") end
  if case == "require" then require("socket") end
  if case == "loadstring" then loadstring("return 1")() end
  if case == "getfenv" then getfenv(1).x = 1 end
  if case == "setfenv" then setfenv(1, {}) end
  if case == "debug" then debug.traceback() end
  if case == "collectgarbage" then collectgarbage("collect") end
  if case == "string_upper" then string.upper = nil end
  if case == "string_meta" then getmetatable("").__index = {} end
  if case == "view" then rawset(p, "amount", 1) end
  if case == "ctx" then ctx.split = nil end
  if case == "accounts" then table.insert(ctx.accounts, "nope") end
  if case == "recursion" then local function f(n) return f(n + 1) + 1 end f(1) end
  if case == "loop" then while true do end end
  if case == "memory" then local s = string.rep("x", 1e9) return { s } end
  return { ("b"):upper():lower() }, string.upper("ok")
end
"#;

/// The cases of `FAILING`, each with a part of the reason the fallback list decided.
const FAILURES: [(&str, &str); 25] = [
    ("error", "runtime error in the script (its detail is in the daemon's log)"),
    ("unknown", "`nope` is not an enabled connector account"),
    ("number", "instead of a list of connector accounts"),
    ("nothing", "nil instead of a list"),
    ("empty", "empty list"),
    ("duplicate", "`b` appears twice"),
    ("disabled", "`c` is not an enabled connector account"),
    ("not_a_name", "only names"),
    ("bad_reason", "reason must be a string"),
    ("io", "runtime error"),
    ("os", "runtime error"),
    ("require", "runtime error"),
    ("loadstring", "runtime error"),
    ("getfenv", "runtime error"),
    ("setfenv", "runtime error"),
    ("debug", "runtime error"),
    ("collectgarbage", "runtime error"),
    ("string_upper", "runtime error"),
    ("string_meta", "runtime error"),
    ("view", "runtime error"),
    ("ctx", "runtime error"),
    ("accounts", "runtime error"),
    ("recursion", "runtime error"),
    ("loop", "time budget"),
    ("memory", "memory"),
];

async fn failing_app() -> TestApp {
    start_routed(FAILING, vec![sandbox_account("a"), sandbox_account("b"), disabled("c")], &["a"]).await
}

/// A payment with no case: the script works and prefers `b`.
async fn assert_script_works(app: &TestApp) {
    let body = pay(app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    assert_eq!(routing(&body)["fallback"], Value::Null, "{body}");
    assert_eq!(reason(&body), Some("OK"), "{body}");
}

#[tokio::test]
async fn every_kind_of_script_failure_falls_back_and_the_payment_goes_through() {
    let app = failing_app().await;
    let hash = hash_of(FAILING);
    assert_script_works(&app).await;
    for (case, why) in FAILURES {
        let body = pay(&app, case_payment(case)).await;
        let fallback = assert_fallback(&body, &hash);
        assert!(fallback.contains(why), "case {case}: fallback `{fallback}` should mention `{why}`");
        if case == "loop" {
            assert!(fallback.contains(&format!("{TIME_BUDGET_MS}ms")), "case {case}: {fallback}");
        }
    }
    // The daemon keeps serving, the script keeps deciding, and no escape changed the standard
    // library for later calls.
    assert_script_works(&app).await;
    for case in ["string_upper", "string_meta", "loop", "memory"] {
        assert_fallback(&pay(&app, case_payment(case)).await, &hash);
        assert_script_works(&app).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn script_failures_fall_back_on_every_worker_thread_under_concurrency() {
    // The same failures concurrently on a multi-threaded daemon: each worker thread's own Lua
    // state recovers from errors, timeouts and memory exhaustion.
    let app = Arc::new(failing_app().await);
    let hash = hash_of(FAILING);
    let mut tasks = Vec::new();
    for round in 0..3 {
        for (case, why) in FAILURES {
            let app = app.clone();
            let hash = hash.clone();
            tasks.push(tokio::spawn(async move {
                let body = pay(&app, case_payment(case)).await;
                let fallback = assert_fallback(&body, &hash);
                assert!(fallback.contains(why), "round {round} case {case}: {fallback}");
                assert_script_works(&app).await;
            }));
        }
    }
    for task in tasks {
        task.await.expect("task completes");
    }
}

#[tokio::test]
async fn an_error_whose_tostring_runs_away_falls_back() {
    let source = r#"
return function(p, ctx)
  if p.metadata and p.metadata.case == "tostring" then
    error(setmetatable({}, { __tostring = function() while true do end end }))
  end
  return { "b" }, "works"
end
"#;
    let app = start_routed(source, vec![sandbox_account("a"), sandbox_account("b")], &["a"]).await;
    let hash = hash_of(source);
    let body = pay(&app, case_payment("tostring")).await;
    assert_fallback(&body, &hash);
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(reason(&body), Some("works"), "{body}");
}

#[tokio::test]
async fn huge_split_weights_do_not_fail_the_payment() {
    let source = r#"
return function(p, ctx)
  if p.metadata and p.metadata.case == "huge" then
    return ctx.split(p.id, { a = 1e300, b = 1e300 }), "huge weights"
  end
  return { "b" }, "works"
end
"#;
    let app = start_routed(source, vec![sandbox_account("a"), sandbox_account("b")], &["a"]).await;
    let (status, body) = app.post("/v2/payments", case_payment("huge")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    let r = routing(&body);
    // Either the split answers both accounts, or the script fails and the fallback decides.
    if r["fallback"].is_null() {
        let mut got = candidates(&body);
        got.sort();
        assert_eq!(got, ["a", "b"], "{body}");
    } else {
        assert_fallback(&body, &hash_of(source));
    }
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(reason(&body), Some("works"), "{body}");
}

/// A host helper that panics (see `huge_split_weights_do_not_fail_the_payment`) unwinds past the
/// code that lifts and restores the memory limit around it; the limit must hold for later calls.
#[tokio::test]
async fn the_memory_limit_survives_a_helper_that_panics() {
    let source = r#"
return function(p, ctx)
  local case = p.metadata and p.metadata.case
  if case == "huge" then return ctx.split(p.id, { a = 1e300, b = 1e300 }), "huge weights" end
  if case == "memory" then local s = string.rep("x", 64 * 1024 * 1024) return { "b" }, "allocated " .. #s end
  return { "b" }, "works"
end
"#;
    let dir = routing_tempdir();
    write_script(dir.path(), SCRIPT, source);
    let mut cfg = routed_config(dir.path(), vec![sandbox_account("a"), sandbox_account("b")], &["a"]);
    cfg.lua.memory_limit_mb = 4;
    let app = TestApp::start_with(dir, cfg).await;
    let hash = hash_of(source);
    assert!(assert_fallback(&pay(&app, case_payment("memory")).await, &hash).contains("memory"));

    // Whatever becomes of this payment, it must not lift the limit for the ones after it (on this
    // single-threaded runtime they all run on the same Lua state).
    let _ = app
        .client
        .post(format!("{}/v2/payments", app.base))
        .header("api-key", ACME_KEY)
        .header("X-Profile-Id", "web")
        .json(&case_payment("huge"))
        .send()
        .await;
    let body = pay(&app, case_payment("memory")).await;
    let why = assert_fallback(&body, &hash);
    assert!(why.contains("memory"), "{why}");
}

#[tokio::test]
async fn a_script_that_does_not_compile_at_start_leaves_the_fallback_list_to_decide() {
    let dir = routing_tempdir();
    write_script(dir.path(), SCRIPT, "return function(p, ctx)\n  return { \"b\" \nend\n");
    let cfg = routed_config(dir.path(), vec![sandbox_account("a"), sandbox_account("b")], &["a"]);
    let app = TestApp::start_with(dir, cfg).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["merchant_connector_id"], "a", "{body}");
    let r = routing(&body);
    assert_eq!(r["script"], SCRIPT, "{body}");
    assert_eq!(r["script_hash"], Value::Null, "{body}");
    assert_eq!(r["candidates"], json!(["a"]), "{body}");
    assert_eq!(r["reason"], Value::Null, "{body}");
    let why = r["fallback"].as_str().unwrap_or_else(|| panic!("no fallback reason: {body}"));
    assert!(why.contains("`route`") && why.contains("loaded"), "{why}");

    // Once fixed, the script serves.
    let fixed = "return function(p, ctx) return { \"b\" }, \"fixed\" end\n";
    write_script(app.dir.path(), SCRIPT, fixed);
    let body = pay_until(&app, "web", || payment(VISA), |b| reason(b) == Some("fixed")).await;
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    assert_eq!(routing(&body)["script_hash"], hash_of(fixed));
}

#[tokio::test]
async fn a_profile_with_no_script_routes_by_its_fallback_list_with_no_reason_to_explain() {
    let dir = routing_tempdir();
    let mut cfg = routed_config(dir.path(), vec![sandbox_account("a"), sandbox_account("b")], &["b", "a"]);
    cfg.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap().routing = None;
    let app = TestApp::start_with(dir, cfg).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    let r = routing(&body);
    assert_eq!(r["script"], Value::Null, "{body}");
    assert_eq!(r["script_hash"], Value::Null, "{body}");
    assert_eq!(r["candidates"], json!(["b", "a"]), "{body}");
    assert_eq!(r["fallback"], Value::Null, "no script failed: {body}");
}

// ---- live reload ----------------------------------------------------------------------------

/// A script for acme/shop whose reason is `canary N`. The folder reloads as a whole, files in
/// name order, so once a payment shows a canary written after another file, that file was read
/// too (`canary` sorts before `route`).
fn canary(n: u32) -> String {
    format!("return function(p, ctx) return {{ \"sandbox\" }}, \"canary {n}\" end\n")
}

/// Writes canary `n` and waits until acme/shop routes with it.
async fn await_canary(app: &TestApp, n: u32) {
    write_script(app.dir.path(), "canary", &canary(n));
    let want = format!("canary {n}");
    pay_until(app, "shop", || payment(VISA), |b| reason(b) == Some(want.as_str())).await;
}

fn version(n: u32, account: &str) -> String {
    format!("return function(p, ctx)\n  return {{ \"{account}\" }}, \"v{n}\"\nend\n")
}

/// acme/web routed by version 1 of `route` (accounts a and b, fallback a), and acme/shop by the
/// canary, which shows when a reload has read the folder.
async fn start_with_canary() -> (TestApp, String) {
    let dir = routing_tempdir();
    let v1 = version(1, "a");
    write_script(dir.path(), SCRIPT, &v1);
    write_script(dir.path(), "canary", &canary(0));
    let mut cfg = routed_config(dir.path(), vec![sandbox_account("a"), sandbox_account("b")], &["a"]);
    cfg.merchants.get_mut("acme").unwrap().profiles.get_mut("shop").unwrap().routing = Some("canary".into());
    (TestApp::start_with(dir, cfg).await, v1)
}

#[tokio::test]
async fn the_routing_folder_reloads_live_and_refuses_broken_versions() {
    let (app, v1) = start_with_canary().await;

    let body = pay(&app, payment(VISA)).await;
    assert_eq!(reason(&body), Some("v1"), "{body}");
    assert_eq!(body["merchant_connector_id"], "a");
    assert_eq!(routing(&body)["script_hash"], hash_of(&v1));
    assert_eq!(reason(&pay_as(&app, "shop", payment(VISA)).await), Some("canary 0"));

    // A new version serves once the watcher has seen it.
    let v2 = version(2, "b");
    write_script(app.dir.path(), SCRIPT, &v2);
    let body = pay_until(&app, "web", || payment(VISA), |b| reason(b) == Some("v2")).await;
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
    assert_eq!(routing(&body)["fallback"], Value::Null, "{body}");
    let hash2 = hash_of(&v2);
    assert_eq!(routing(&body)["script_hash"], hash2);
    assert_ne!(hash2, hash_of(&v1));

    // A version that does not compile is refused: v2 keeps serving.
    write_script(app.dir.path(), SCRIPT, "return function(p, ctx)\n  return { \"a\" \nend\n");
    tokio::time::sleep(Duration::from_secs(1)).await;
    await_canary(&app, 1).await;
    for _ in 0..3 {
        let body = pay(&app, payment(VISA)).await;
        assert_eq!(reason(&body), Some("v2"), "{body}");
        assert_eq!(routing(&body)["script_hash"], hash2, "{body}");
        assert_eq!(routing(&body)["fallback"], Value::Null, "{body}");
    }

    // A version that compiles but breaks its golden case is refused too.
    let cases = json!([{ "name": "always b", "accounts": ["a", "b"], "expect": ["b"] }]);
    std::fs::write(routing_dir(app.dir.path()).join(format!("{SCRIPT}.cases.json")), cases.to_string()).unwrap();
    write_script(app.dir.path(), SCRIPT, &version(3, "a"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    await_canary(&app, 2).await;
    for _ in 0..3 {
        let body = pay(&app, payment(VISA)).await;
        assert_eq!(reason(&body), Some("v2"), "{body}");
        assert_eq!(routing(&body)["script_hash"], hash2, "{body}");
    }

    // A version that passes the case replaces it.
    let v4 = version(4, "b");
    write_script(app.dir.path(), SCRIPT, &v4);
    let body = pay_until(&app, "web", || payment(VISA), |b| reason(b) == Some("v4")).await;
    assert_eq!(routing(&body)["script_hash"], hash_of(&v4));

    // A removed script is gone: the profile routes by its fallback list again.
    std::fs::remove_file(routing_dir(app.dir.path()).join(format!("{SCRIPT}.lua"))).unwrap();
    let body = pay_until(&app, "web", || payment(VISA), |b| !routing(b)["fallback"].is_null()).await;
    assert_eq!(routing(&body)["script_hash"], Value::Null, "{body}");
    assert_eq!(candidates(&body), ["a"]);
    assert_eq!(body["status"], "succeeded", "{body}");
}

/// Version `k` of the script the load test rewrites: even versions prefer `a`, odd ones `b`.
fn load_version(k: u32) -> String {
    format!(
        "local k = {k}\nreturn function(p, ctx)\n  if k % 2 == 0 then return {{ \"a\", \"b\" }}, \"v\" .. k end\n  \
         return {{ \"b\", \"a\" }}, \"v\" .. k\nend\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scripts_reload_under_load_without_a_failed_or_torn_decision() {
    const VERSIONS: u32 = 20;
    let dir = routing_tempdir();
    write_script(dir.path(), SCRIPT, &load_version(0));
    let cfg = routed_config(dir.path(), vec![sandbox_account("a"), sandbox_account("b")], &["a"]);
    let app = Arc::new(TestApp::start_with(dir, cfg).await);
    let hashes: HashMap<String, String> =
        (0..=VERSIONS).map(|k| (format!("v{k}"), hash_of(&load_version(k)))).collect();

    let done = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let app = app.clone();
        let done = done.clone();
        senders.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !done.load(Ordering::SeqCst) {
                answers.push(app.post("/v2/payments", payment(VISA)).await);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            answers
        }));
    }
    for k in 1..=VERSIONS {
        tokio::time::sleep(Duration::from_millis(250)).await;
        write_script(app.dir.path(), SCRIPT, &load_version(k));
    }
    // Every version was written; the last one serves within a bounded time.
    let last = format!("v{VERSIONS}");
    pay_until(&app, "web", || payment(VISA), |b| reason(b) == Some(last.as_str())).await;
    done.store(true, Ordering::SeqCst);

    let mut seen = BTreeSet::new();
    let mut total = 0;
    for sender in senders {
        let mut previous = 0;
        for (status, body) in sender.await.expect("sender completes") {
            total += 1;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["status"], "succeeded", "{body}");
            assert_eq!(attempts(&body).len(), 1, "{body}");
            let r = routing(&body);
            assert_eq!(r["fallback"], Value::Null, "{body}");
            let why = reason(&body).unwrap_or_else(|| panic!("no reason: {body}")).to_string();
            let k: u32 = why.strip_prefix('v').and_then(|k| k.parse().ok()).unwrap_or_else(|| panic!("{body}"));
            let first = if k.is_multiple_of(2) { "a" } else { "b" };
            assert_eq!(candidates(&body)[0], first, "{body}");
            assert_eq!(body["merchant_connector_id"], first, "{body}");
            assert_eq!(r["script_hash"], hashes[&why], "the hash of the version that decided: {body}");
            assert!(k >= previous, "one client saw v{k} after v{previous}");
            previous = k;
            seen.insert(k);
        }
    }
    assert!(total >= 20, "only {total} payments were sent");
    assert!(seen.len() >= 3, "only versions {seen:?} were seen in {total} payments");
}

/// The real binary on the default configuration, with its routing folder moved to `routing`,
/// which does not exist yet: nothing watches it, so only SIGHUP reloads. Killed on drop.
#[tokio::test]
async fn sighup_reloads_the_routing_folder() {
    let dir = TempDir::new().unwrap();
    let folder = dir.path().join("routing");
    let folder_setting = folder.display().to_string();
    let daemon = Daemon::spawn(&[
        ("SWITCHYARD__PATHS__ROUTING", folder_setting.as_str()),
        ("SWITCHYARD__LUA__TIME_BUDGET_MS", "1000"),
    ])
    .await;
    let client = reqwest::Client::new();
    let pay = || async {
        let res = client
            .post(format!("{}/v2/payments", daemon.base))
            .header("api-key", DEMO_KEY)
            .header("X-Profile-Id", "pro_demo")
            .json(&payment(VISA))
            .send()
            .await?;
        assert_eq!(res.status(), 200);
        res.json::<Value>().await
    };
    let mut first = None;
    for _ in 0..200 {
        if let Ok(body) = pay().await {
            first = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = first.expect("the daemon answers");
    // No folder, no script: the demo profile's fallback list decides.
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(routing(&body)["script"], "default", "{body}");
    assert_eq!(routing(&body)["script_hash"], Value::Null, "{body}");
    assert!(routing(&body)["fallback"].as_str().is_some_and(|f| f.contains("`default`")), "{body}");

    std::fs::create_dir(&folder).unwrap();
    let source = "return function(p, ctx) return { \"sandbox\" }, \"after SIGHUP\" end\n";
    std::fs::write(folder.join("default.lua"), source).unwrap();
    let status = Command::new("kill").args(["-HUP", &daemon.pid().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = pay().await.expect("payment answered");
        if reason(&body) == Some("after SIGHUP") {
            assert_eq!(routing(&body)["script_hash"], hash_of(source), "{body}");
            assert_eq!(routing(&body)["fallback"], Value::Null, "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- operator tools -------------------------------------------------------------------------

/// The lines of `route`'s output, by their label.
fn labelled(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace).map(|(k, v)| (k.to_string(), v.trim().to_string())))
        .collect()
}

#[test]
fn route_shows_how_the_demo_profile_decides_a_payment() {
    let out = switchyard(
        &[
            "--config",
            "config/switchyard.toml",
            "route",
            "--profile",
            "demo/pro_demo",
            "--payment",
            "examples/requests/create-and-confirm.json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("routing/default.lua")).unwrap();
    let lines = labelled(&stdout);
    assert_eq!(lines["profile"], "demo/pro_demo", "{stdout}");
    assert_eq!(lines["script"], format!("default ({})", hash_of(&source)), "{stdout}");
    assert_eq!(lines["decision"], "sandbox", "{stdout}");
    assert_eq!(lines["reason"], "configured order, healthy first", "{stdout}");
    assert!(!lines.contains_key("fallback"), "{stdout}");
    let time = &lines["time"];
    let micros: f64 = time.strip_suffix(" µs").and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{stdout}"));
    assert!(micros > 0.0, "{stdout}");

    // The profile id alone names it too.
    let out = switchyard_budgeted(
        &["route", "--profile", "pro_demo", "--payment", "examples/requests/create-and-confirm.json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(labelled(&text(&out.stdout))["decision"], "sandbox");
}

#[test]
fn route_with_a_script_the_profile_cannot_follow_shows_the_fallback() {
    let out = switchyard(
        &[
            "route",
            "--profile",
            "demo/pro_demo",
            "--payment",
            "examples/requests/create-and-confirm.json",
            "--script",
            "routing/volume_split.lua",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("routing/volume_split.lua")).unwrap();
    let lines = labelled(&stdout);
    assert_eq!(lines["script"], format!("volume_split ({})", hash_of(&source)), "{stdout}");
    assert_eq!(lines["decision"], "sandbox", "{stdout}");
    assert_eq!(lines["reason"], "-", "{stdout}");
    let fallback = lines.get("fallback").unwrap_or_else(|| panic!("no fallback line: {stdout}"));
    assert!(fallback.contains("is not an enabled connector account of this profile"), "{stdout}");
}

#[test]
fn route_refuses_an_unknown_profile_and_a_script_that_breaks_its_cases() {
    let out = switchyard_budgeted(
        &["route", "--profile", "demo/nope", "--payment", "examples/requests/create-and-confirm.json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stderr).contains("no profile `demo/nope`"), "{}", show(&out));

    let dir = TempDir::new().unwrap();
    let script = dir.path().join("picky.lua");
    std::fs::write(&script, "return function(p, ctx) return { \"sandbox\" } end\n").unwrap();
    std::fs::write(dir.path().join("picky.cases.json"), r#"[{ "name": "wants other", "expect": ["other"] }]"#).unwrap();
    let out = switchyard(
        &[
            "route",
            "--profile",
            "pro_demo",
            "--payment",
            "examples/requests/create-and-confirm.json",
            "--script",
            script.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("picky.cases.json") && stderr.contains("wants other"), "{stderr}");
}

/// `route` on the demo profile with `script`, expected to succeed: its lines by label, and all of it.
fn route_demo(payment: &Path, script: &Path) -> (BTreeMap<String, String>, String) {
    let out = switchyard_budgeted(
        &[
            "route",
            "--profile",
            "pro_demo",
            "--payment",
            payment.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    (labelled(&stdout), stdout)
}

#[test]
fn route_accepts_a_routing_view_as_the_payment() {
    let dir = TempDir::new().unwrap();
    let script = dir.path().join("echo.lua");
    let source = r#"
return function(p, ctx)
  local card = p.card and tostring(p.card.issuing_country) or "no card"
  local tier = p.metadata and p.metadata.tier
  return { "sandbox" }, table.concat({ p.currency, tostring(p.amount), card, tostring(tier), p.profile_id, p.id }, " ")
end
"#;
    std::fs::write(&script, source).unwrap();
    let view = dir.path().join("view.json");
    let payment = json!({
        "id": "pay_view_1", "currency": "EUR", "amount": 250000,
        "card": { "issuing_country": "FR" }, "metadata": { "tier": "gold" }
    });
    std::fs::write(&view, payment.to_string()).unwrap();
    let (lines, stdout) = route_demo(&view, &script);
    assert_eq!(lines["reason"], "EUR 250000 FR gold pro_demo pay_view_1", "{stdout}");
    assert_eq!(lines["decision"], "sandbox", "{stdout}");
}

async fn send_demo_payment(client: &reqwest::Client, base: &str) -> Value {
    let body = send_payment(client, base, "pro_demo", payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    body
}

/// Creates and confirms a payment as the demo merchant's `profile`, expecting 200.
async fn send_payment(client: &reqwest::Client, base: &str, profile: &str, body: Value) -> Value {
    let res = client
        .post(format!("{base}/v2/payments"))
        .header("api-key", DEMO_KEY)
        .header("X-Profile-Id", profile)
        .json(&body)
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status(), 200);
    res.json().await.expect("JSON answer")
}

#[tokio::test]
async fn route_replay_asks_a_new_script_about_stored_payments_and_changes_nothing() {
    let daemon = Daemon::spawn(&[("SWITCHYARD__LUA__TIME_BUDGET_MS", "1000")]).await;
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let body = send_demo_payment(&client, &daemon.base).await;
        assert_eq!(routing(&body)["candidates"], json!(["sandbox"]), "{body}");
    }
    let db = daemon.database_url.as_str();
    let count = |table| database::count(db, table);
    let before = (count("payment_intents").await, count("payment_attempts").await);
    assert_eq!(before, (20, 20));

    let scripts = TempDir::new().unwrap();
    let same = scripts.path().join("same.lua");
    std::fs::write(&same, "return function(p, ctx) return { \"sandbox\" }, \"same\" end\n").unwrap();
    let broken = scripts.path().join("broken.lua");
    std::fs::write(&broken, "return function(p, ctx) error(\"nope\") end\n").unwrap();
    let env = [("SWITCHYARD__DATABASE__URL", db)];

    let out =
        switchyard_budgeted(&["route", "replay", "--profile", "pro_demo", "--script", same.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("replayed 20 payments of demo/pro_demo since "), "{stdout}");
    assert!(lines[0].contains(same.to_str().unwrap()), "{stdout}");
    assert!(lines[1].starts_with("would change 0 decisions"), "{stdout}");
    assert!(lines[1].ends_with("20 unchanged"), "{stdout}");
    assert!(!stdout.contains("failed on"), "{stdout}");

    // The fallback list decides each one as the script did: no decision changes, but a script
    // that fails on a payment fails the run.
    let out =
        switchyard_budgeted(&["route", "replay", "--profile", "pro_demo", "--script", broken.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("replayed 20 payments of demo/pro_demo"), "{stdout}");
    assert!(stdout.contains("would change 0 decisions"), "{stdout}");
    assert!(stdout.contains("the script failed on 20 payments"), "{stdout}");
    assert!(stdout.contains("nope"), "the error is shown: {stdout}");
    assert!(stdout.contains("FAILED: the script failed on 20 payments"), "{stdout}");

    // Payments older than the window are left out.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = switchyard(
        &["route", "replay", "--profile", "pro_demo", "--script", same.to_str().unwrap(), "--since", "1s"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out.stdout).starts_with("replayed 0 payments"), "{}", show(&out));
    assert!(text(&out.stdout).contains("nothing to compare"), "{}", show(&out));

    let after = (count("payment_intents").await, count("payment_attempts").await);
    assert_eq!(after, before, "replay wrote to the database");
    // The daemon still serves.
    send_demo_payment(&client, &daemon.base).await;
}

#[test]
fn route_takes_a_golden_case_with_its_accounts_health_and_clock() {
    let dir = TempDir::new().unwrap();
    let case = dir.path().join("case.json");
    let scene = json!({
        "name": "a failing first account moves behind the healthy one",
        "accounts": ["sandbox", "backup"],
        "health": { "sandbox": { "success_rate": 0.1 } },
        "now": 1700000000,
        "expect": ["backup", "sandbox"]
    });
    std::fs::write(&case, scene.to_string()).unwrap();
    let script = dir.path().join("clock.lua");
    std::fs::write(
        &script,
        "return function(p, ctx) return ctx.first_healthy(ctx.accounts), tostring(ctx.now()) end\n",
    )
    .unwrap();
    let (lines, stdout) = route_demo(&case, &script);
    assert_eq!(lines["decision"], "backup → sandbox", "{stdout}");
    assert_eq!(lines["reason"], "1700000000", "{stdout}");
    assert_eq!(lines["expected"], "backup → sandbox (matches)", "{stdout}");

    // A case's health that does not read is refused, as `check` refuses it.
    let bad = json!({ "health": { "sandbox": { "success_rate": 2.0 } } });
    std::fs::write(&case, bad.to_string()).unwrap();
    let out = switchyard_budgeted(&["route", "--profile", "pro_demo", "--payment", case.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stderr).contains("health.sandbox.success_rate must be between 0 and 1"), "{}", show(&out));
}

#[test]
fn route_replay_names_a_missing_or_unprepared_database() {
    let dir = TempDir::new().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("none.db").display());
    let args = ["route", "replay", "--profile", "pro_demo", "--script", "routing/default.lua"];
    let out = switchyard(&args, &[("SWITCHYARD__DATABASE__URL", &missing)]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stderr).starts_with("there is no database at "), "{}", show(&out));
    assert!(!dir.path().join("none.db").exists(), "replay made a database");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    let out = switchyard(&args, &[("SWITCHYARD__DATABASE__URL", &format!("sqlite://{}", empty.display()))]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stderr).contains("holds no payments table"), "{}", show(&out));

    let out = switchyard(&["route", "replay", "--profile", "demo/nope", "--script", "routing/default.lua"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stderr).contains("no profile `demo/nope`"), "{}", show(&out));
}

/// The routing example configuration's daemon, with payments stored for its `amounts` profile
/// (routed by currency and amount): three USD payments and a declined one go to stripe first,
/// then two large EUR payments to adyen first.
async fn amounts_daemon() -> (Daemon, Vec<String>) {
    let daemon =
        Daemon::spawn_on("examples/config/routing.toml", &[], &[("SWITCHYARD__LUA__TIME_BUDGET_MS", "1000")]).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    let bodies = [
        payment_of("USD", 5000),
        payment_of("USD", 6000),
        payment_of("USD", 7000),
        with(payment(DECLINED), json!({ "amount_details": { "currency": "USD", "order_amount": 8000 } })),
        payment_of("EUR", 250000),
        payment_of("EUR", 300000),
    ];
    for body in bodies {
        let answer = send_payment(&client, &daemon.base, "amounts", body).await;
        ids.push(answer["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string());
    }
    (daemon, ids)
}

/// A candidate for `amounts` that sends everything to stripe first.
const STRIPE_FIRST: &str = "return function(p, ctx) return { \"stripe\", \"adyen\" }, \"stripe first\" end\n";

fn replay_amounts(daemon: &Daemon, script: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--config", "examples/config/routing.toml", "route", "replay", "--profile", "demo/amounts"];
    args.extend(["--script", script.to_str().unwrap()]);
    args.extend(extra);
    switchyard_budgeted(&args, &[("SWITCHYARD__DATABASE__URL", &daemon.database_url)])
}

fn replay_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(out)))
}

#[tokio::test]
async fn route_replay_fails_past_its_max_changed_and_reports_each_account_as_json() {
    let (daemon, ids) = amounts_daemon().await;
    let scripts = TempDir::new().unwrap();
    let candidate = scripts.path().join("stripe_first.lua");
    std::fs::write(&candidate, STRIPE_FIRST).unwrap();

    // The two EUR payments of six change: 33.3%.
    let out = replay_amounts(&daemon, &candidate, &[]);
    assert_eq!(out.status.code(), Some(0), "changes alone do not fail the run: {}", show(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("would change 2 decisions (33.3%), 4 unchanged"), "{stdout}");
    assert!(stdout.lines().any(|l| l.split_whitespace().eq(["adyen", "→", "stripe", "2"])), "{stdout}");
    for (limit, code) in [("2", 0), ("1", 1), ("40%", 0), ("30%", 1)] {
        let out = replay_amounts(&daemon, &candidate, &["--max-changed", limit]);
        assert_eq!(out.status.code(), Some(code), "--max-changed {limit}: {}", show(&out));
        let failed = format!("FAILED: 2 decisions changed, more than --max-changed {limit} allows");
        assert_eq!(text(&out.stdout).contains(&failed), code == 1, "{}", show(&out));
    }
    let out = replay_amounts(&daemon, &candidate, &["--max-changed", "half"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));

    let out = replay_amounts(&daemon, &candidate, &["--json", "--max-changed", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report = replay_json(&out);
    assert_eq!(report["payments"], 6, "{report}");
    assert_eq!(report["changed"], 2, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["passed"], false, "{report}");
    let changed: Vec<&str> =
        report["changes"].as_array().unwrap().iter().map(|c| c["payment_id"].as_str().unwrap()).collect();
    assert_eq!(changed, [ids[4].as_str(), ids[5].as_str()], "{report}");
    assert_eq!(report["changes"][0]["old"], json!(["adyen", "stripe"]), "{report}");
    assert_eq!(report["changes"][0]["new"], json!(["stripe", "adyen"]), "{report}");
    assert_eq!(report["accounts"]["stripe"], json!({ "stored": 4, "candidate": 6 }), "{report}");
    assert_eq!(report["accounts"]["adyen"], json!({ "stored": 2, "candidate": 0 }), "{report}");

    // A candidate that fails fails the run, naming each payment and the error.
    let broken = scripts.path().join("broken.lua");
    std::fs::write(
        &broken,
        "return function(p, ctx) if p.currency == \"EUR\" then error(\"no euros\") end return { \"stripe\" } end\n",
    )
    .unwrap();
    let out = replay_amounts(&daemon, &broken, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report = replay_json(&out);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2, "{report}");
    assert_eq!(failures[0]["payment_id"], ids[4].as_str(), "{report}");
    assert!(failures[0]["error"].as_str().unwrap().contains("no euros"), "{report}");
    let out = replay_amounts(&daemon, &broken, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stdout).contains("FAILED: the script failed on 2 payments"), "{}", show(&out));
}

#[tokio::test]
async fn route_replay_filters_narrow_the_payments_replayed() {
    let (daemon, ids) = amounts_daemon().await;
    let scripts = TempDir::new().unwrap();
    let candidate = scripts.path().join("stripe_first.lua");
    std::fs::write(&candidate, STRIPE_FIRST).unwrap();
    let replayed = |extra: &[&str]| {
        let mut extra = extra.to_vec();
        extra.push("--json");
        let out = replay_amounts(&daemon, &candidate, &extra);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", show(&out));
        let report = replay_json(&out);
        let changed: Vec<String> = report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["payment_id"].as_str().unwrap().to_string())
            .collect();
        (report["payments"].as_u64().unwrap(), changed)
    };
    assert_eq!(replayed(&[]).0, 6);
    assert_eq!(replayed(&["--currency", "EUR"]), (2, vec![ids[4].clone(), ids[5].clone()]));
    assert_eq!(replayed(&["--status", "failed"]), (1, vec![]));
    assert_eq!(replayed(&["--status", "succeeded", "--currency", "USD"]).0, 3);
    assert_eq!(replayed(&["--limit", "1"]), (1, vec![ids[5].clone()]));
    assert_eq!(replayed(&["--limit", "3"]).0, 3);
    assert_eq!(replayed(&["--merchant", "demo"]).0, 6);
    assert_eq!(replayed(&["--since", "2000-01-01T00:00:00Z", "--until", "2001-01-01T00:00:00Z"]).0, 0);
    assert_eq!(replayed(&["--since", "2000-01-01T00:00:00Z"]).0, 6);

    // Another profile of the merchant has no payments: the run says so and passes.
    let out = switchyard_budgeted(
        &["--config", "examples/config/routing.toml", "route", "replay", "--merchant", "demo", "--profile", "split"]
            .into_iter()
            .chain(["--script", candidate.to_str().unwrap()])
            .collect::<Vec<_>>(),
        &[("SWITCHYARD__DATABASE__URL", &daemon.database_url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out.stdout).contains("replayed 0 payments of demo/split"), "{}", show(&out));
    assert!(text(&out.stdout).contains("nothing to compare"), "{}", show(&out));
    for bad in [["--status", "paid"], ["--currency", "XXX"], ["--limit", "0"], ["--until", "yesterday"]] {
        let out = replay_amounts(&daemon, &candidate, &bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", show(&out));
    }
}

/// The README's `switchyard … route …` command lines, as written.
fn readme_route_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.starts_with("switchyard ") && l.split_whitespace().any(|w| w == "route"))
        .map(|l| l.split('#').next().unwrap_or_default().trim().to_string())
        .collect()
}

#[tokio::test]
async fn the_readme_route_examples_run_as_written() {
    // What the README's replay examples ask for: the routing example serving, with payments sent
    // to its `split` profile.
    let daemon = Daemon::spawn_on("examples/config/routing.toml", &[], &[]).await;
    let client = reqwest::Client::new();
    for _ in 0..10 {
        let body = send_payment(&client, &daemon.base, "split", payment(VISA)).await;
        assert_eq!(body["status"], "succeeded", "{body}");
    }
    let commands = readme_route_commands();
    assert_eq!(commands.len(), 5, "{commands:#?}");
    for command in &commands {
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = switchyard(&args, &[("SWITCHYARD__DATABASE__URL", &daemon.database_url)]);
        let stdout = text(&out.stdout);
        if args.contains(&"--json") {
            let report = replay_json(&out);
            assert_eq!(report["payments"], 10, "{command}: {report}");
            let passed = report["passed"].as_bool().unwrap();
            assert_eq!(out.status.code(), Some(if passed { 0 } else { 1 }), "{command}: {}", show(&out));
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{command}: {}", show(&out));
        let key = if args.contains(&"replay") {
            "replayed 10 payments of demo/split since "
        } else if args.contains(&"examples/routing/large-eur.json") {
            "decision  adyen → stripe"
        } else if args.contains(&"examples/routing/failing-primary.json") {
            "decision  secondary → primary"
        } else {
            "decision  sandbox"
        };
        assert!(stdout.contains(key), "{command}: {}", show(&out));
    }
}

/// A complete configuration whose routing folder is `dir/routing`, with `profiles` as TOML.
fn routed_config_file(dir: &Path, profiles: &str) -> String {
    config_file(dir, HASH_SECRET, &routing_dir(dir), profiles)
}

const CHECKED_PROFILES: &str = r#"
[merchants.acme.profiles.web]
routing = "picky"
fallback = ["a"]

[[merchants.acme.profiles.web.connector_accounts]]
name = "a"
connector = "sandbox"

[[merchants.acme.profiles.web.connector_accounts]]
name = "b"
connector = "sandbox"
"#;

#[test]
fn check_runs_every_scripts_golden_cases() {
    let dir = routing_tempdir();
    let folder = routing_dir(dir.path());
    std::fs::write(folder.join("picky.lua"), "return function(p, ctx) return { \"b\", \"a\" }, \"b first\" end\n")
        .unwrap();
    let cases = json!([{ "name": "b goes first", "expect": ["b", "a"], "reason": "b first" }]);
    std::fs::write(folder.join("picky.cases.json"), cases.to_string()).unwrap();
    let path = routed_config_file(dir.path(), CHECKED_PROFILES);
    let out = switchyard_budgeted(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(text(&out.stdout).trim(), "configuration is valid");

    // The script changes; its case no longer holds.
    std::fs::write(folder.join("picky.lua"), "return function(p, ctx) return { \"a\", \"b\" }, \"b first\" end\n")
        .unwrap();
    let out = switchyard_budgeted(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one problem, and the profile's script is not also called missing: {stdout}");
    let cases_file = folder.join("picky.cases.json").display().to_string();
    assert_eq!(
        lines[0],
        format!(
            "routing script `picky`: {cases_file}: b goes first: expected [\"b\", \"a\"], the script answered [\"a\", \"b\"]"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("configuration is valid"));
}

#[test]
fn check_names_the_file_and_line_of_a_script_that_does_not_compile() {
    let dir = routing_tempdir();
    let folder = routing_dir(dir.path());
    std::fs::write(folder.join("picky.lua"), "return function(p, ctx)\n  return { \"a\" \nend\n").unwrap();
    let path = routed_config_file(dir.path(), CHECKED_PROFILES);
    let out = switchyard_budgeted(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = text(&out.stdout);
    let script = folder.join("picky.lua").display().to_string();
    assert!(stdout.starts_with(&format!("routing script `picky`: {script}:3: ")), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}

#[test]
fn check_reports_a_profile_naming_a_missing_script() {
    let dir = routing_tempdir();
    let profiles = CHECKED_PROFILES.replace("routing = \"picky\"", "routing = \"missing\"");
    let path = routed_config_file(dir.path(), &profiles);
    let out = switchyard_budgeted(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = text(&out.stdout);
    let missing = routing_dir(dir.path()).join("missing.lua").display().to_string();
    assert_eq!(stdout.trim(), format!("merchants.acme.profiles.web.routing: no script {missing}"), "{stdout}");
}

#[test]
fn check_reports_malformed_golden_cases_as_a_problem() {
    let dir = routing_tempdir();
    let folder = routing_dir(dir.path());
    std::fs::write(folder.join("picky.lua"), "return function(p, ctx) return { \"a\" } end\n").unwrap();
    // A misspelt field.
    std::fs::write(folder.join("picky.cases.json"), r#"[{ "expect": ["a"], "expected": ["a"] }]"#).unwrap();
    let path = routed_config_file(dir.path(), CHECKED_PROFILES);
    let out = switchyard_budgeted(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = text(&out.stdout);
    let cases_file = folder.join("picky.cases.json").display().to_string();
    assert!(stdout.starts_with(&format!("routing script `picky`: {cases_file}: ")), "{stdout}");
    assert!(stdout.contains("unknown field `expected`"), "{stdout}");
}

/// Golden cases whose latency is too large for a `Duration`.
const HUGE_LATENCY_CASES: &str =
    r#"[{ "health": { "a": { "success_rate": 1.0, "p95_ms": 1e300 } }, "expect": ["a"] }]"#;

#[test]
fn check_reports_an_out_of_range_case_latency_instead_of_panicking() {
    let dir = routing_tempdir();
    let folder = routing_dir(dir.path());
    std::fs::write(folder.join("picky.lua"), "return function(p, ctx) return { \"a\" } end\n").unwrap();
    std::fs::write(folder.join("picky.cases.json"), HUGE_LATENCY_CASES).unwrap();
    let path = routed_config_file(dir.path(), CHECKED_PROFILES);
    let out = switchyard_budgeted(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(1), "a problem is reported, not a panic: {}", show(&out));
    assert!(text(&out.stdout).starts_with("routing script `picky`: "), "{}", show(&out));
}

#[tokio::test]
async fn a_malformed_cases_file_does_not_stop_other_scripts_from_reloading() {
    let (app, v1) = start_with_canary().await;
    assert_eq!(reason(&pay(&app, payment(VISA)).await), Some("v1"));

    std::fs::write(routing_dir(app.dir.path()).join(format!("{SCRIPT}.cases.json")), HUGE_LATENCY_CASES).unwrap();
    // `route` is refused (v1 keeps serving); the canary still reloads.
    await_canary(&app, 1).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(reason(&body), Some("v1"), "{body}");
    assert_eq!(routing(&body)["script_hash"], hash_of(&v1), "{body}");
}

#[tokio::test]
async fn a_malformed_cases_file_at_start_does_not_stop_the_daemon() {
    let dir = routing_tempdir();
    write_script(dir.path(), SCRIPT, &version(1, "b"));
    std::fs::write(routing_dir(dir.path()).join(format!("{SCRIPT}.cases.json")), HUGE_LATENCY_CASES).unwrap();
    let cfg = routed_config(dir.path(), vec![sandbox_account("a"), sandbox_account("b")], &["a"]);
    let start = tokio::spawn(TestApp::start_with(dir, cfg));
    let app = start.await.expect("the daemon starts");
    // The script was refused: the fallback list decides.
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["merchant_connector_id"], "a", "{body}");
    assert!(routing(&body)["fallback"].is_string(), "{body}");
}
