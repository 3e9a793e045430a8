//! A mock Stripe on loopback for what localstripe cannot be made to do: faults (rate limits,
//! server errors, nonsense, late answers, declines, 409 to a repeat still in progress), a card
//! sent inline in the payment intent (`payment_method_data`), and 3-D Secure by redirect.
//!
//! It records every request it gets, to be read back. A payment intent asking for 3-D Secure
//! (`payment_method_options[card][request_three_d_secure]=any`, or the card [`THREE_DS_CARD`])
//! answers `requires_action`: with a `return_url`, its `next_action` is `redirect_to_url` to the
//! mock's challenge page `/3ds/{intent}`, which any HTTP client completes with a GET (add
//! `?outcome=failure` to fail it): the intent then succeeds (or awaits capture) and the page
//! redirects (303) to the `return_url`, with `payment_intent` and `redirect_status` appended as
//! Stripe does. Without a `return_url`, the `next_action` is `use_stripe_sdk`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::mock::{answer, json_answer, MockServer};
use super::recorder::{Recorder, Seen};

/// The card that asks for 3-D Secure whatever the payment asks, as in Stripe's test mode.
pub const THREE_DS_CARD: &str = "4000002760003184";

/// What the mock answers a payment intent's creation with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// A Stripe that works.
    Works,
    /// 429: nothing charged, the next account may try.
    RateLimited,
    /// 500: it may have charged.
    ServerError,
    /// 500 on the first payment intent call only: the repeat, with the same Idempotency-Key,
    /// gets the intent.
    ServerErrorOnce,
    /// 200 with a body cut short.
    Malformed,
    /// A sound answer, 3 s late.
    Slow,
    /// 402 `card_declined` / `insufficient_funds`, leaving `pi_mock` behind.
    Declined,
    /// The first call makes the intent but is answered only after 10 s; a repeat with the same
    /// Idempotency-Key meanwhile gets 409 `idempotency_error`, as from Stripe while the first
    /// is in progress.
    InFlight,
}

#[derive(Clone)]
struct MockState {
    fault: Fault,
    seen: Recorder,
    /// The payment intents made, by id, as captures and cancels left them.
    intents: Arc<Mutex<HashMap<String, Value>>>,
}

impl MockState {
    /// Stores `intent` and answers with it.
    fn keep(&self, intent: Value) -> Response {
        let id = intent["id"].as_str().expect("an intent id").to_string();
        self.intents.lock().unwrap().insert(id, intent.clone());
        json_answer(200, intent)
    }

    fn intent(&self, id: &str) -> Option<Value> {
        self.intents.lock().unwrap().get(id).cloned()
    }
}

/// A mock Stripe on a loopback port, serving until dropped.
pub struct MockStripe {
    pub seen: Recorder,
    pub server: MockServer,
}

impl MockStripe {
    pub async fn start(fault: Fault) -> Self {
        let seen = Recorder::default();
        let state = MockState { fault, seen: seen.clone(), intents: Default::default() };
        let app = axum::Router::new().fallback(mock_stripe).with_state(state);
        let server = MockServer::serve(app).await;
        Self { seen, server }
    }
}

pub fn stripe_error(status: u16, kind: &str, code: &str, message: &str) -> Response {
    json_answer(status, json!({ "error": { "type": kind, "code": code, "message": message } }))
}

fn no_such_intent(id: &str) -> Response {
    stripe_error(404, "invalid_request_error", "resource_missing", &format!("No such payment_intent: '{id}'"))
}

/// A payment intent as real Stripe shows one (`latest_charge` an id).
fn intent(id: &str, status: &str, capture_method: &str, amount: i64, received: i64) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": if status == "requires_capture" { amount } else { 0 },
        "amount_received": received,
        "capture_method": capture_method,
        "client_secret": format!("{id}_secret_mock"),
        "currency": "usd",
        "last_payment_error": null,
        "latest_charge": format!("ch_{}", id.trim_start_matches("pi_")),
        "metadata": {},
        "next_action": null,
        "payment_method": "pm_mock",
        "status": status
    })
}

async fn mock_stripe(State(state): State<MockState>, seen: Seen) -> Response {
    let number = state.seen.record(seen.clone());
    let segments: Vec<&str> = seen.path.trim_start_matches('/').split('/').collect();
    match (seen.method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "payment_methods"]) => {
            json_answer(200, json!({ "id": "pm_mock", "object": "payment_method", "type": "card" }))
        }
        ("POST", ["v1", "payment_intents"]) => {
            let amount = seen.field("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
            let capture_method = seen.field("capture_method").unwrap_or_else(|| "automatic".into());
            let ok = || {
                let id = format!("pi_mock{number}");
                let mut made = match capture_method.as_str() {
                    "manual" => intent(&id, "requires_capture", "manual", amount, 0),
                    _ => intent(&id, "succeeded", "automatic", amount, amount),
                };
                if asks_three_ds(&seen) {
                    made["status"] = json!("requires_action");
                    made["amount_capturable"] = json!(0);
                    made["amount_received"] = json!(0);
                    made["next_action"] = match seen.field("return_url") {
                        Some(back) => json!({ "type": "redirect_to_url", "redirect_to_url": {
                            "url": format!("http://{}/3ds/{id}", seen.header("host").unwrap_or_default()),
                            "return_url": back } }),
                        None => json!({ "type": "use_stripe_sdk",
                            "use_stripe_sdk": { "type": "three_d_secure_redirect", "stripe_js": "" } }),
                    };
                }
                made["metadata"] = json!({ "payment_id": seen.field("metadata[payment_id]"),
                    "attempt_id": seen.field("metadata[attempt_id]") });
                made["created"] = json!(chrono::Utc::now().timestamp());
                state.keep(made)
            };
            match state.fault {
                Fault::Works => ok(),
                Fault::RateLimited => stripe_error(
                    429,
                    "invalid_request_error",
                    "rate_limit",
                    "Too many requests hit the API too quickly.",
                ),
                Fault::ServerError => {
                    stripe_error(500, "api_error", "api_error", "Something went wrong on Stripe's end.")
                }
                Fault::ServerErrorOnce
                    if state.seen.all().iter().filter(|s| s.is("POST", "/v1/payment_intents")).count() == 1 =>
                {
                    stripe_error(500, "api_error", "api_error", "Something went wrong on Stripe's end.")
                }
                Fault::ServerErrorOnce => ok(),
                Fault::Malformed => answer(200, "application/json", r#"{"id": "pi_x", "status": "#),
                Fault::Slow => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    ok()
                }
                Fault::InFlight if state.seen.all().iter().filter(|s| s.is("POST", "/v1/payment_intents")).count() == 1 => {
                    let made = ok();
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    made
                }
                Fault::InFlight => stripe_error(
                    409,
                    "idempotency_error",
                    "idempotency_key_in_use",
                    "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through).",
                ),
                Fault::Declined => json_answer(
                    402,
                    json!({ "error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "insufficient_funds",
                        "message": "Your card has insufficient funds.",
                        "payment_intent": { "id": "pi_mock", "status": "requires_payment_method" }
                    } }),
                ),
            }
        }
        ("POST", ["v1", "payment_intents", id, "capture"]) => match state.intent(id) {
            Some(held) if held["status"] == "requires_capture" => {
                let amount = held["amount"].as_i64().unwrap_or(0);
                let captured = seen.field("amount_to_capture").and_then(|a| a.parse().ok()).unwrap_or(amount);
                state.keep(intent(id, "succeeded", "manual", amount, captured))
            }
            _ => no_such_intent(id),
        },
        ("POST", ["v1", "payment_intents", id, "cancel"]) => match state.intent(id) {
            Some(held) => state.keep(intent(id, "canceled", "manual", held["amount"].as_i64().unwrap_or(0), 0)),
            None => no_such_intent(id),
        },
        // The list, newest first, within `created[gte]`..`created[lte]` when given.
        ("GET", ["v1", "payment_intents"]) => {
            let bound = |name: &str| seen.param(name).and_then(|t| t.parse::<i64>().ok());
            let (from, until) = (bound("created[gte]").unwrap_or(i64::MIN), bound("created[lte]").unwrap_or(i64::MAX));
            let mut data: Vec<Value> = state.intents.lock().unwrap().values().cloned().collect();
            data.retain(|i| i["created"].as_i64().is_some_and(|c| (from..=until).contains(&c)));
            data.sort_by_key(|i| std::cmp::Reverse(i["created"].as_i64()));
            json_answer(200, json!({ "object": "list", "data": data, "has_more": false }))
        }
        ("GET", ["v1", "payment_intents", id]) => match state.intent(id) {
            Some(held) => json_answer(200, held),
            None => no_such_intent(id),
        },
        ("POST", ["v1", "refunds"]) => {
            let amount: i64 = seen.field("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
            json_answer(
                200,
                json!({
                    "id": format!("re_mock{number}"),
                    "object": "refund",
                    "amount": amount,
                    "currency": "usd",
                    "payment_intent": seen.field("payment_intent"),
                    "status": "succeeded"
                }),
            )
        }
        ("GET", ["v1", "refunds", id]) => {
            json_answer(200, json!({ "id": id, "object": "refund", "amount": 1000, "status": "succeeded" }))
        }
        ("GET", ["3ds", id]) => match state.intent(id) {
            Some(held) if held["status"] == "requires_action" => challenged(&state, held, seen.param("outcome")),
            _ => no_such_intent(id),
        },
        _ => stripe_error(404, "invalid_request_error", "resource_missing", "Unrecognized request URL."),
    }
}

/// Whether a payment intent's creation asks for 3-D Secure, or its card always does.
fn asks_three_ds(seen: &Seen) -> bool {
    seen.field("payment_method_options[card][request_three_d_secure]").as_deref() == Some("any")
        || seen.field("payment_method_data[card][number]").as_deref() == Some(THREE_DS_CARD)
}

/// The challenge page, completed (or failed, with `outcome=failure`) by being fetched: the intent
/// `held` moves on, and the payer is sent to its `return_url` as Stripe sends them.
fn challenged(state: &MockState, held: Value, outcome: Option<String>) -> Response {
    let id = held["id"].as_str().unwrap_or_default();
    let amount = held["amount"].as_i64().unwrap_or(0);
    let failed = outcome.as_deref() == Some("failure");
    let mut done = match (failed, held["capture_method"].as_str()) {
        (true, Some(method)) => intent(id, "requires_payment_method", method, amount, 0),
        (false, Some("manual")) => intent(id, "requires_capture", "manual", amount, 0),
        _ => intent(id, "succeeded", "automatic", amount, amount),
    };
    if failed {
        done["last_payment_error"] = json!({ "type": "card_error", "code": "payment_intent_authentication_failure",
            "message": "The provided PaymentMethod has failed authentication." });
    }
    for kept in ["metadata", "created"] {
        done[kept] = held[kept].clone();
    }
    let back = held["next_action"]["redirect_to_url"]["return_url"].as_str().unwrap_or_default().to_string();
    let secret = done["client_secret"].as_str().unwrap_or_default().to_string();
    state.keep(done);
    let sep = if back.contains('?') { '&' } else { '?' };
    let status = if failed { "failed" } else { "succeeded" };
    let to = format!("{back}{sep}payment_intent={id}&payment_intent_client_secret={secret}&redirect_status={status}");
    axum::response::IntoResponse::into_response(axum::response::Redirect::to(&to))
}

/// Completes (or, with `outcome = "failure"`, fails) the 3-D Secure challenge at
/// `redirect_to_url` as a payer's browser would, and answers where the page sends the payer: the
/// `return_url` the intent was given (the daemon's return page), not yet followed.
pub async fn complete_challenge(redirect_to_url: &str, outcome: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
    let res = client.get(redirect_to_url).query(&[("outcome", outcome)]).send().await.expect("the challenge page");
    assert_eq!(res.status(), 303, "{redirect_to_url}: {}", res.text().await.unwrap_or_default());
    res.headers()["location"].to_str().expect("a location").to_string()
}
