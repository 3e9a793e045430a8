//! Volatile security codes shared through Redis (`[shared] url`), with a real Redis of the test's
//! own: a code saved through one daemon is sent by another; Redis holds it sealed, with its time
//! left as the key's expiry, until a payment sends it to a provider; and when Redis is down or
//! stalled, a payment that may need a code fails clearly before any provider is called, while
//! payments that need none go on.
//!
//! The provider is the mock Stripe, which records what it is sent: localstripe cannot show a
//! code (it turns the card into a payment method of its own and keeps no code).

use std::time::{Duration, Instant};

use crate::common;

use common::database::holds;
use common::localstripe::stripe_account;
use common::redis::Redis;
use common::stripe_mock::{Fault, MockStripe};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use switchyard::config::SecretValue;
use tempfile::TempDir;

const VISA: &str = "4242424242424242";
const CVC: &str = "7373";

async fn customer(app: &TestApp) -> String {
    let (status, body) = app.post("/v2/customers", json!({ "name": "John Doe", "email": "john@example.com" })).await;
    assert_eq!(status, 200, "{body}");
    id_of(&body)
}

fn new_method(customer_id: &str, storage_type: &str) -> Value {
    json!({ "customer_id": customer_id, "payment_method_type": "card", "payment_method_subtype": "credit",
            "storage_type": storage_type, "payment_method_data": { "card": {
                "card_number": VISA, "card_exp_month": "10", "card_exp_year": "2035",
                "card_holder_name": "John Doe", "card_cvc": CVC } } })
}

/// A method saved with its code; answers what the save answered.
async fn save(app: &TestApp, customer_id: &str, storage_type: &str) -> Value {
    let (status, body) = app.post("/v2/payment-methods", new_method(customer_id, storage_type)).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn pay_with(customer_id: &str, method_id: &str) -> Value {
    json!({ "amount_details": { "order_amount": 6540, "currency": "USD" }, "payment_method_type": "card",
            "customer_id": customer_id, "payment_method_id": method_id })
}

fn key(method_id: &str) -> String {
    format!("switchyard:cvc:{method_id}")
}

/// The payments the provider was asked to make, in order.
fn payment_calls(stripe: &MockStripe) -> Vec<common::recorder::Seen> {
    stripe.seen.all().into_iter().filter(|s| s.is("POST", "/v1/payment_intents")).collect()
}

/// The code the provider was sent with its last payment; asserts that no code field came when
/// none did (no empty one).
fn code_sent(stripe: &MockStripe) -> Option<String> {
    let call = payment_calls(stripe).pop().expect("a payment call");
    let code = call.field("payment_method_data[card][cvc]");
    assert_eq!(call.form().iter().any(|(k, _)| k.contains("cvc")), code.is_some(), "{call:#?}");
    assert_ne!(code.as_deref(), Some(""), "{call:#?}");
    code
}

fn expiry(body: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(str_of(body, "/card_cvc_token_storage/expires_at")).unwrap()
}

/// A Redis, the mock Stripe, a daemon whose acme/web keeps codes in the one and pays through the
/// other, and a customer with a volatile method saved with its code (`saved`, as the save
/// answered).
struct Setup {
    redis: Redis,
    stripe: MockStripe,
    app: TestApp,
    customer_id: String,
    saved: Value,
}

async fn setup() -> Setup {
    let redis = Redis::start().await;
    let stripe = MockStripe::start(Fault::Works).await;
    let dir = TempDir::new().unwrap();
    let mut config = config_with(dir.path(), vec![stripe_account("stripe", &stripe.server.url)], &["stripe"]);
    config.shared = redis.shared();
    let app = TestApp::start_with(dir, config).await;
    let customer_id = customer(&app).await;
    let saved = save(&app, &customer_id, "volatile").await;
    Setup { redis, stripe, app, customer_id, saved }
}

async fn pttl(redis: &Redis, key: &str) -> i64 {
    let mut connection = redis.connection().await.expect("a connection to Redis");
    ::redis::cmd("PTTL").arg(key).query_async(&mut connection).await.expect("PTTL")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_saved_through_one_daemon_is_sent_by_another() {
    let Setup { redis, stripe, app: a, customer_id, saved } = setup().await;
    let b = a.another().await;
    let shared = matches!(&b.config.shared.url, Some(SecretValue::Literal(url)) if *url == redis.url);
    assert!(shared, "the other daemon shares the Redis");
    let id = id_of(&saved);

    // The other daemon sees the code held, until the moment the first one answered.
    let (status, read) = b.get(&format!("/v2/payment-methods/{id}")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["card_cvc_token_storage"]["is_stored"], true, "{read}");
    let apart = expiry(&read).signed_duration_since(expiry(&saved)).num_milliseconds();
    assert!(apart.abs() < 2_000, "the same expiry, as near as reading it allows: {apart} ms apart");

    let paid = pay(&b, pay_with(&customer_id, &id)).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let call = payment_calls(&stripe).pop().expect("a payment call");
    assert_eq!(call.field("payment_method_data[card][number]").as_deref(), Some(VISA));
    assert_eq!(code_sent(&stripe).as_deref(), Some(CVC), "the provider got the code the first daemon took");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_holds_a_code_sealed_for_its_time_until_a_payment_sends_it() {
    let Setup { redis, stripe, app, customer_id, saved } = setup().await;
    let id = id_of(&saved);
    save(&app, &customer_id, "persistent").await;

    // One key, the volatile method's, expiring within the configured time; sealed.
    assert_eq!(redis.keys("switchyard:cvc:*").await, vec![key(&id)]);
    let ttl_ms = i64::from(app.config.vault.cvc_ttl_secs) * 1_000;
    let left = pttl(&redis, &key(&id)).await;
    assert!(ttl_ms - 60_000 < left && left <= ttl_ms, "{left} ms left of {ttl_ms}");
    let sealed = redis.get(&key(&id)).await.expect("the sealed code");
    assert!(!holds(&sealed, CVC), "the code is not in clear: {sealed:?}");

    // A payment refused before any provider was called (this one is paid already) leaves it.
    let earlier = pay(&app, with(payment(VISA), json!({ "customer_id": customer_id }))).await;
    let calls = payment_calls(&stripe).len();
    let again = json!({ "payment_method_type": "card", "payment_method_id": id });
    let (status, body) = app.post(&format!("/v2/payments/{}/confirm-intent", id_of(&earlier)), again).await;
    assert_error(status, &body, 400, "IR_14");
    assert_eq!(payment_calls(&stripe).len(), calls, "no provider was called");
    assert_eq!(redis.get(&key(&id)).await, Some(sealed), "the code stays to pay with");

    // The payment that sends it uses it up, on every daemon.
    let paid = pay(&app, pay_with(&customer_id, &id)).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(code_sent(&stripe).as_deref(), Some(CVC));
    assert!(redis.keys("switchyard:cvc:*").await.is_empty(), "the used code is gone from Redis");
    let (_, read) = app.get(&format!("/v2/payment-methods/{id}")).await;
    assert_eq!(read["card_cvc_token_storage"], json!({ "is_stored": false, "expires_at": null }), "{read}");

    // The next payment goes without a code: none is sent, not an empty one.
    let paid = pay(&app, pay_with(&customer_id, &id)).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(code_sent(&stripe), None);
    app.stop_holding_none_of(&[VISA, &format!("\"{CVC}\"")]).await;
}

/// Asserts the answer of a request that could not ask Redis: 503, saying so, with nothing
/// charged.
#[track_caller]
fn assert_unavailable(status: reqwest::StatusCode, body: &Value) {
    let message = assert_error(status, body, 503, "HE_00");
    assert!(message.contains("security code store is unavailable"), "{message}");
    assert!(message.contains("may be retried"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_down_a_volatile_method_neither_pays_nor_is_saved_and_other_payments_go_on() {
    let Setup { mut redis, stripe, app, customer_id, saved } = setup().await;
    let volatile = id_of(&saved);
    let persistent = id_of(&save(&app, &customer_id, "persistent").await);
    redis.kill();

    let (calls, intents, methods) =
        (payment_calls(&stripe).len(), app.count("payment_intents").await, app.count("payment_methods").await);
    let started = Instant::now();
    let (status, body) = app.post("/v2/payments", pay_with(&customer_id, &volatile)).await;
    let took = started.elapsed();
    assert_unavailable(status, &body);
    let bound = Duration::from_millis(app.config.shared.timeout_ms + 1_500);
    assert!(took < bound, "answered in {took:?}");
    assert_eq!(payment_calls(&stripe).len(), calls, "the provider got no call");
    assert_eq!(app.count("payment_intents").await, intents, "nothing is stored for the payment");

    // A code cannot be kept: the method is not saved, rather than kept by this daemon alone.
    let (status, body) = app.post("/v2/payment-methods", new_method(&customer_id, "volatile")).await;
    assert_unavailable(status, &body);
    let update = json!({ "payment_method_data": { "card": { "card_holder_name": "Jo Doe", "card_cvc": CVC } } });
    let path = format!("/v2/payment-methods/{volatile}");
    let (status, body) = app
        .call(Method::PUT, &format!("{path}/update-saved-payment-method"), Some(ACME_KEY), Some("web"), Some(&update))
        .await;
    assert_unavailable(status, &body);
    assert_eq!(app.count("payment_methods").await, methods);

    // The method is shown, without saying whether it holds a code: that cannot be told.
    let (status, read) = app.get(&path).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["card_cvc_token_storage"], Value::Null, "{read}");
    assert_eq!(read["payment_method_data"]["card"]["card_holder_name"], "John Doe", "unchanged: {read}");

    // What needs no code pays: a persistent method, a card given whole.
    let paid = pay(&app, pay_with(&customer_id, &persistent)).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(code_sent(&stripe), None);
    let paid = pay(&app, payment(VISA)).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(code_sent(&stripe).as_deref(), Some("123"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_stalled_a_volatile_method_fails_fast_and_pays_with_its_code_once_redis_answers() {
    let Setup { redis, stripe, app, customer_id, saved } = setup().await;
    let id = id_of(&saved);
    let stall = Duration::from_secs(5);
    redis.stall(stall.as_secs() as u32).await;

    let started = Instant::now();
    let (status, body) = app.post("/v2/payments", pay_with(&customer_id, &id)).await;
    let took = started.elapsed();
    assert_unavailable(status, &body);
    assert!(
        took < Duration::from_millis(app.config.shared.timeout_ms + 1_500),
        "answered in {took:?}, not after the stall"
    );
    assert!(payment_calls(&stripe).is_empty(), "the provider got no call");

    // Retried once Redis answers again, the payment goes with the code, which was kept.
    let deadline = Instant::now() + stall + Duration::from_secs(10);
    let paid = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (status, body) = app.post("/v2/payments", pay_with(&customer_id, &id)).await;
        match status.as_u16() {
            200 => break body,
            _ if Instant::now() < deadline => assert_unavailable(status, &body),
            _ => panic!("Redis answers again, yet: {status} {body}"),
        }
    };
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(payment_calls(&stripe).len(), 1, "only the payment made was sent");
    assert_eq!(code_sent(&stripe).as_deref(), Some(CVC));
    app.stop().await;
}
