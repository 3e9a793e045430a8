//! What providers answer, as it reaches the merchant through a connector: a provider that echoes
//! the request in its error puts no card number, security code or credential into an answer, the
//! database or the logs, whether a plugin passes the message on or Stripe's connector does; and
//! what a plugin reports (ids, redirects) is bounded and checked before anything keeps it.
//!
//! The logs searched are everything the process logs, through the global tracing subscriber this
//! file installs at the most verbose level: it is a test binary of its own, apart from the suite
//! in `tests/suite`, so that no other test's daemons log into it.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::Path;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::post;
use common::database::{contents, holds};
use common::mock::{answer, json_answer, MockServer};
use common::recorder::{Recorder, Seen};
use common::*;
use serde_json::{json, Value};
use switchyard::config::{ConnectorAccountConfig, SecretValue};
use tempfile::TempDir;

const PAN: &str = "4111111111111111";
const PAN_SPACED: &str = "4111 1111 1111 1111";
const CVC: &str = "7391";
const API_KEY: &str = "sk_live_echoingProviderKey42";

/// The card, written as echoes would write it, and the secret; none may be kept or shown.
const FORBIDDEN: [&str; 3] = [PAN, PAN_SPACED, API_KEY];

/// A provider that echoes the request it was sent, headers and all, in a decline; or answers
/// plainly, for the cases about what the plugin makes of an answer.
async fn echoing_provider() -> MockServer {
    let app = axum::Router::new().route(
        "/pay/{case}",
        post(|Path(case): Path<String>, headers: HeaderMap, body: String| async move {
            if case != "echo" && case != "raise" {
                // The provider's own id happens to hold the security code's digits.
                return json_answer(200, json!({ "ok": true, "id": format!("pay_{CVC}") }));
            }
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let mut res = json_answer(
                402,
                json!({ "error": { "code": "card_declined", "message": format!("declined {body} ({auth}), card {PAN_SPACED}") },
                        "request": serde_json::from_str::<Value>(&body).unwrap_or_default() }),
            );
            res.headers_mut().insert("x-request-echo", body.parse().unwrap());
            res
        }),
    );
    MockServer::serve(app).await
}

/// A plugin that passes the provider's message on, with everything else it was answered, as
/// plugins commonly do; and, by case, reports what no provider id or redirect may be.
const PLUGIN: &str = r#"
return {
  name = "echoing", api_version = 1, supports = { card = "any" }, currencies = "any",
  credentials = { "api_key" }, secrets = { "api_key" },
  authorize = {
    build = function(ctx, pay)
      return {
        method = "POST", url = "/pay/" .. pay.description,
        headers = { ["Authorization"] = { secret = "api_key", prefix = "Bearer " }, ["Content-Type"] = "application/json" },
        body = json.encode({ attempt = pay.attempt_id, card = { number = "{{card.number}}", cvc = "{{card.cvc}}" } }),
      }
    end,
    parse = function(ctx, pay, res)
      local case = pay.description
      if case == "raise" then error("cannot read " .. res.body .. " " .. json.encode(res.json)) end
      if case == "echo" then
        local e = res.json.error
        return { status = "failure", connector_reference_id = "ref_1", error = { code = e.code,
          message = e.message .. " | " .. res.headers["x-request-echo"] .. " | " .. json.encode(res.json.request) } }
      end
      local out = { status = "charged", connector_payment_id = "ech_" .. pay.attempt_id }
      if case == "redirect_javascript" then out.status = "authentication_pending"; out.redirect_url = "javascript:alert(document.cookie)" end
      if case == "redirect_data" then out.status = "authentication_pending"; out.redirect_url = "data:text/html,<script>alert(1)</script>" end
      if case == "redirect_hidden_scheme" then out.status = "authentication_pending"; out.redirect_url = "java\nscript:alert(1)" end
      if case == "redirect_https" then out.status = "authentication_pending"; out.redirect_url = "https://pay.example/3ds?s=1" end
      if case == "huge_id" then out.connector_payment_id = string.rep("i", 4 * 1024 * 1024) end
      if case == "huge_reference" then out.connector_reference_id = string.rep("r", 129) end
      if case == "control_id" then out.connector_payment_id = "ech_1\n2" end
      if case == "provider_id" then out.connector_payment_id = res.json.id end
      if case == "partial_no_amount" then out.status = "partial_charged" end
      if case == "partial_of_100" then out.status = "partial_charged"; out.amount_captured = 100 end
      if case == "redirect_provider_id" then out.status = "authentication_pending"; out.redirect_url = "https://pay.example/3ds/" .. res.json.id end
      return out
    end,
  },
  webhook = {
    verify = function(ctx, n) return true end,
    parse = function(ctx, n)
      local note = json.decode(n.body)
      return { kind = "payment", connector_payment_id = note.id, attempt_id = note.attempt, status = "charged" }
    end,
  },
}
"#;

/// Everything the daemons of this test binary log, at the most verbose level.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .init();
        logs
    })
    .clone()
}

fn card_payment(case: &str) -> Value {
    let mut body = with(payment(PAN), json!({ "description": case }));
    body["payment_method_data"]["card"]["card_cvc"] = json!(CVC);
    body
}

/// Asserts `text` holds no card number, security code or secret, where `place` says what it is.
fn assert_clean(place: &str, text: &[u8]) {
    for forbidden in FORBIDDEN {
        assert!(!holds(text, forbidden), "{place} holds {forbidden}: {}", String::from_utf8_lossy(text));
    }
    // The code as the request carried it (`"cvc":"7391"`), as a JSON string in a string, or after
    // a word.
    for echoed in [format!("{CVC}\""), format!("{CVC}\\\""), format!(" {CVC}")] {
        assert!(!holds(text, &echoed), "{place} holds the security code: {}", String::from_utf8_lossy(text));
    }
}

async fn start(provider: &MockServer, dir: TempDir) -> TestApp {
    start_plugin(provider, dir, "echoing", PLUGIN).await
}

/// The daemon with acme/web's one account using plugin `name` (`source`), an `api_key` its
/// credential, and `provider` its base URL.
async fn start_plugin(provider: &MockServer, dir: TempDir, name: &str, source: &str) -> TestApp {
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join(format!("{name}.lua")), source).unwrap();
    let account = ConnectorAccountConfig {
        connector: name.into(),
        base_url: Some(provider.url.clone()),
        credentials: [("api_key".to_string(), SecretValue::Literal(API_KEY.into()))].into(),
        ..sandbox_account(name)
    };
    let mut config = config_with(dir.path(), vec![account], &[name]);
    config.paths.plugins = plugins;
    TestApp::start_with(dir, config).await
}

/// A plugin for a provider that deduplicates by idempotency key, which by case raises in `build`
/// or `parse`, or answers a status word that is none.
const IDEMPOTENT: &str = r#"
return {
  name = "zappay", api_version = 1, supports = { card = "any" }, currencies = "any",
  credentials = { "api_key" }, secrets = { "api_key" }, idempotent = true,
  authorize = {
    build = function(ctx, pay)
      if pay.description == "build_raises" then error("zap-build-broke") end
      return {
        method = "POST", url = "/charges",
        headers = { ["Authorization"] = { secret = "api_key", prefix = "Bearer " }, ["Idempotency-Key"] = pay.attempt_id },
        body = json.encode({ amount = pay.amount, reference = pay.attempt_id }),
      }
    end,
    parse = function(ctx, pay, res)
      if pay.description == "parse_raises" then error("zap-parse-broke") end
      if pay.description == "paid" then return { status = "paid", connector_payment_id = res.json.id } end
      return { status = "charged", connector_payment_id = res.json.id }
    end,
  },
}
"#;

/// A provider that answers every charge as paid, keeping what it was sent.
async fn zappay() -> (MockServer, Recorder) {
    let seen = Recorder::default();
    let kept = seen.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
        let kept = kept.clone();
        async move {
            kept.record(Seen::from_request(&method, &uri, &headers, body));
            json_answer(200, json!({ "id": "zap_1", "result": "paid" }))
        }
    });
    (MockServer::serve(app).await, seen)
}

/// The `switchyard_plugin_errors_total` sample of zappay's authorize with `labels`, and all the
/// metrics, to show when there is none.
async fn zappay_errors(app: &TestApp, labels: &[&str]) -> (Option<String>, String) {
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let sample = metrics.lines().find(|l| {
        l.starts_with("switchyard_plugin_errors_total{")
            && [r#"plugin="zappay""#, r#"flow="authorize""#].iter().chain(labels).all(|label| l.contains(label))
    });
    (sample.map(str::to_string), metrics)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_that_is_none_is_named_and_never_asked_again() {
    let logs = logs();
    let (provider, seen) = zappay().await;
    let app = start_plugin(&provider, TempDir::new().unwrap(), "zappay", IDEMPOTENT).await;

    // The provider answered and money may have moved: the payment waits for a sync, and the
    // call is not made again, though the plugin may repeat it, since the answer would be the same.
    let body = pay(&app, card_payment("paid")).await;
    assert_eq!(body["status"], "processing", "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    let error = &attempts(&body)[0]["error"];
    assert_eq!(error["code"], "connector_no_clear_answer", "{body}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("`paid` is not a status: use one of pending, "), "{message}");
    assert!(message.contains("charged"), "{message}");
    assert_eq!(seen.all().len(), 1, "the provider was asked {} times", seen.all().len());

    let (counted, metrics) = zappay_errors(&app, &[r#"kind="status""#]).await;
    assert!(counted.is_some_and(|l| l.ends_with(" 1")), "{metrics}");
    app.stop().await;
    assert!(String::from_utf8_lossy(&logs.lock().unwrap()).contains("`paid` is not a status"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_raises_shows_merchants_a_fixed_message_and_the_log_its_detail() {
    let logs = logs();
    let (provider, seen) = zappay().await;
    let app = start_plugin(&provider, TempDir::new().unwrap(), "zappay", IDEMPOTENT).await;

    // Nothing was sent: the payment is not taken.
    let body = pay(&app, card_payment("build_raises")).await;
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(
        str_of(&body, "/error/message"),
        "connector `zappay` is unavailable: the connector plugin failed to build the request",
        "{body}"
    );
    assert_eq!(body["error"]["code"], "connector_not_taken", "{body}");
    assert!(seen.all().is_empty(), "{:?}", seen.all());
    let read = app.get(&format!("/v2/payments/{}", id_of(&body))).await.1;
    // The provider has the request: the payment waits for a sync, and is asked once.
    let raised = pay(&app, card_payment("parse_raises")).await;
    assert_eq!(raised["status"], "processing", "{raised}");
    assert_eq!(
        str_of(&raised, "/attempts/0/error/message"),
        "connector `zappay` gave no clear answer: the connector plugin could not read the provider's answer",
        "{raised}"
    );
    assert_eq!(seen.all().len(), 1, "{:?}", seen.all());

    for answer in [&body, &read, &raised] {
        let text = answer.to_string();
        assert!(!text.contains("zap-") && !text.contains("zappay:") && !text.contains("runtime error"), "{text}");
    }
    for step in [r#"step="build""#, r#"step="parse""#] {
        let (counted, metrics) = zappay_errors(&app, &[step, r#"kind="error""#]).await;
        assert!(counted.is_some(), "{step}: {metrics}");
    }
    app.stop().await;
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    // The chunk's name and the line raising, before the message.
    for detail in ["zap-build-broke", "zap-parse-broke"] {
        let at = logs.find(detail).unwrap_or_else(|| panic!("the log has no {detail}"));
        let line = logs[..at].rsplit("zappay:").next().unwrap();
        assert!(line.trim_end_matches(": ").chars().all(|c| c.is_ascii_digit()), "{detail} without its line: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_echoing_the_card_through_a_plugin_leaves_it_nowhere() {
    let logs = logs();
    let provider = echoing_provider().await;
    let app = start(&provider, TempDir::new().unwrap()).await;
    let mut answers = Vec::new();

    // A decline whose message is the request: the plugin passes it on, masked.
    let body = pay(&app, card_payment("echo")).await;
    assert_eq!(body["status"], "failed", "{body}");
    let message = str_of(&body, "/error/message");
    assert!(message.contains("[card number]") && message.contains("[redacted]"), "{message}");
    assert_eq!(body["error"]["code"], "card_declined", "{body}");
    let (status, read) = app.get(&format!("/v2/payments/{}", id_of(&body))).await;
    assert_eq!(status, 200, "{read}");
    answers.extend([body, read]);

    // `parse` raises with the answer in its error: the outcome is unclear, and its reason masked.
    let body = pay(&app, card_payment("raise")).await;
    assert_eq!(body["status"], "processing", "{body}");
    answers.push(body);

    for (i, text) in answers.iter().enumerate() {
        assert_clean(&format!("answer {i}"), text.to_string().as_bytes());
    }
    let url = app.database_url().to_string();
    for (place, bytes) in contents(&url).await {
        assert_clean(&place, &bytes);
    }
    app.stop_holding_none_of(&FORBIDDEN).await;
    assert_clean("the logs", &logs.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn stripes_messages_lose_the_card_and_the_key() {
    let logs = logs();
    // A Stripe double that echoes the card and the key in its decline.
    let stripe = MockServer::serve(axum::Router::new().fallback(|| async {
        let message = format!("Your card number {PAN_SPACED} with code {CVC} was declined (key {API_KEY}).");
        let error = json!({ "error": { "type": "card_error", "code": "card_declined", "message": message } });
        answer(402, "application/json", error.to_string())
    }))
    .await;
    let mut account = common::localstripe::stripe_account("stripe", &stripe.url);
    account.credentials.insert("api_key".into(), SecretValue::Literal(API_KEY.into()));
    let app = start_with_accounts(vec![account], &["stripe"]).await;

    let body = pay(&app, card_payment("stripe")).await;
    assert_eq!(body["status"], "failed", "{body}");
    let message = str_of(&body, "/error/message");
    assert_eq!(message, "Your card number [card number] with code [redacted] was declined (key [redacted]).", "{body}");
    assert_clean("the answer", body.to_string().as_bytes());
    app.stop_holding_none_of(&FORBIDDEN).await;
    assert_clean("the logs", &logs.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugins_redirect_is_an_http_page_or_the_outcome_is_unclear() {
    let provider = echoing_provider().await;
    let app = start(&provider, TempDir::new().unwrap()).await;

    // A redirect is to an http(s) page, or the provider's answer was not understood: the provider
    // has the payment, so it stays processing for a sync, never failed and never sent there.
    let body = pay(&app, card_payment("redirect_https")).await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    assert_eq!(body["next_action"]["redirect_to_url"], "https://pay.example/3ds?s=1", "{body}");
    // A page whose address holds the security code's digits (in the provider's id) is the
    // provider's, whole.
    let body = pay(&app, card_payment("redirect_provider_id")).await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    assert_eq!(body["next_action"]["redirect_to_url"], format!("https://pay.example/3ds/pay_{CVC}"), "{body}");
    for case in ["redirect_javascript", "redirect_data", "redirect_hidden_scheme"] {
        let body = pay(&app, card_payment(case)).await;
        assert_eq!(body["status"], "processing", "{case}: {body}");
        assert!(body["next_action"].is_null(), "{case}: {body}");
        let text = body.to_string();
        assert!(!text.contains("javascript") && !text.contains("data:"), "{case}: {text}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugins_ids_are_refused_whole_when_unbounded_or_unprintable() {
    let provider = echoing_provider().await;
    let app = start(&provider, TempDir::new().unwrap()).await;

    // Ids are refused whole, never cut: a shortened id would find another payment, or none.
    for case in ["huge_id", "huge_reference", "control_id"] {
        let body = pay(&app, card_payment(case)).await;
        assert_eq!(body["status"], "processing", "{case}: {body}");
        let text = body.to_string();
        assert!(text.len() < 10_000, "{case}: an answer of {} bytes", text.len());
        assert!(!text.contains("iiii") && !text.contains("rrrr") && !text.contains("ech_1\\n2"), "{case}: {text}");
    }
    // A partial charge is of a known amount, or no answer about the money yet.
    let body = pay(&app, card_payment("partial_no_amount")).await;
    assert_eq!(body["status"], "processing", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 0, "{body}");
    let body = pay(&app, card_payment("partial_of_100")).await;
    assert_eq!(body["status"], "partially_captured", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 100, "{body}");
    // Nor masked: an id whose digits are those of the security code is the provider's, and is
    // kept whole — masked, it would point nowhere.
    let body = pay(&app, card_payment("provider_id")).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["connector_transaction_id"], format!("pay_{CVC}"), "{body}");
    let stored: usize = contents(app.database_url()).await.iter().map(|(_, b)| b.len()).sum();
    assert!(stored < 4 * 1024 * 1024, "the database grew to {stored} bytes");

    // A notification's ids are held to the same: refused as unreadable, nothing looked up.
    for note in [json!({ "id": "w".repeat(129) }), json!({ "id": "ech_1", "attempt": "sy_att_\u{7}" })] {
        let res = app.client.post(format!("{}/v2/webhooks/acme/echoing", app.base)).json(&note).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 422, "{note}: {text}");
        assert!(text.contains("webhook.parse returned a"), "{note}: {text}");
    }
    app.stop().await;
}
