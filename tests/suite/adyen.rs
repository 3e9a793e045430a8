//! The Adyen plugin (`plugins/adyen.lua`) end to end, over switchyard's HTTP API, against an
//! in-process mock of Adyen Checkout v71 that records every call: the exact requests the plugin
//! builds (the key the host writes in, the card the host fills in, idempotency keys), how each
//! `resultCode` and HTTP failure settles a payment, captures, cancels and refunds, and one daemon
//! routing card and open-banking payments between Stripe, Fintecture and Adyen by a Lua script.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use common::localstripe::{self, stripe_account};
use common::mock::{json_answer, MockServer};
use common::recorder::{Recorder, Seen};
use common::*;
use serde_json::{json, Value};
use switchyard::config::{ConnectorAccountConfig, SecretValue};
use tempfile::TempDir;

const VISA: &str = "4242424242424242";
/// The mock refuses payments with this card (`Refused`, "Not enough balance").
const REFUSED: &str = "4000000000000002";
/// The mock asks for a 3-D Secure challenge on Adyen's page for this card (`ChallengeShopper`).
const CHALLENGE: &str = "4917610000000000";
const API_KEY: &str = "AQE_test_adyen_api_key_for_switchyard_0000";
const MERCHANT_ACCOUNT: &str = "SwitchyardECOM";
const CHALLENGE_URL: &str = "https://checkoutshopper-test.adyen.com/checkoutshopper/threeDS/redirect?MD=mock";

// ---- helpers --------------------------------------------------------------------------------

/// The documented card payment, in `currency`.
fn payment_in(card: &str, currency: &str) -> Value {
    let mut body = payment(card);
    body["amount_details"]["currency"] = json!(currency);
    body
}

/// An Adyen account named `name` calling `base_url`.
fn adyen_account(name: &str, base_url: &str) -> ConnectorAccountConfig {
    ConnectorAccountConfig {
        name: name.into(),
        connector: "adyen".into(),
        enabled: true,
        base_url: Some(base_url.into()),
        credentials: BTreeMap::from([
            ("api_key".to_string(), SecretValue::Literal(API_KEY.into())),
            ("merchant_account".to_string(), SecretValue::Literal(MERCHANT_ACCOUNT.into())),
        ]),
        metadata: Default::default(),
        rate_limit: None,
    }
}

/// A daemon whose acme/web pays through the Adyen account `adyen` at `url` first and the sandbox
/// account `sandbox` second.
async fn adyen_then_sandbox(url: &str) -> TestApp {
    start_with_accounts(vec![adyen_account("adyen", url), sandbox_account("sandbox")], &["adyen", "sandbox"]).await
}

/// A manual-capture Visa payment, expected to stop at `requires_capture`.
async fn authorized(app: &TestApp) -> Value {
    let body = pay(app, with(payment(VISA), json!({ "capture_method": "manual" }))).await;
    assert_eq!(body["status"], "requires_capture", "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["attempts"][0]["status"], "authorized", "{body}");
    body
}

async fn post_ok(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, body) = app.post(path, body).await;
    assert_eq!(status, 200, "POST {path}: {body}");
    body
}

async fn retrieve(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path).await;
    assert_eq!(status, 200, "{body}");
    body
}

// ---- the mock Adyen -------------------------------------------------------------------------

/// How the mock answers `POST /v71/payments`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// An Adyen that works: `Authorised`, but `Refused` for [`REFUSED`] and `ChallengeShopper`
    /// for [`CHALLENGE`].
    Works,
    /// 503: Adyen did nothing, the next account may try.
    Unavailable,
    /// 500: it may have charged.
    ServerError,
}

#[derive(Clone)]
struct MockState {
    mode: Mode,
    seen: Recorder,
    /// The amount authorised, by pspReference.
    payments: Arc<Mutex<HashMap<String, i64>>>,
    /// Whether captures and cancels are refused (422) for now.
    refusing: Arc<AtomicBool>,
}

/// A mock Adyen Checkout on a loopback port, serving until dropped.
struct MockAdyen {
    seen: Recorder,
    refusing: Arc<AtomicBool>,
    server: MockServer,
}

impl MockAdyen {
    async fn start(mode: Mode) -> Self {
        let seen = Recorder::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let state = MockState { mode, seen: seen.clone(), payments: Default::default(), refusing: refusing.clone() };
        let app = axum::Router::new().fallback(mock_adyen).with_state(state);
        let server = MockServer::serve(app).await;
        Self { seen, refusing, server }
    }

    /// From now on, refuses (`true`) or takes captures and cancels.
    fn refuse_modifications(&self, refuse: bool) {
        self.refusing.store(refuse, Ordering::SeqCst);
    }

    /// The `n`th (from 0) `POST /v71/payments`.
    fn payment_call(&self, n: usize) -> Seen {
        let calls: Vec<Seen> = self.seen.all().into_iter().filter(|s| s.is("POST", "/v71/payments")).collect();
        calls.get(n).cloned().unwrap_or_else(|| panic!("no payment call {n}: {calls:#?}"))
    }
}

/// Adyen's error body.
fn adyen_error(status: u16, code: &str, message: &str, kind: &str) -> Response {
    json_answer(status, json!({ "status": status, "errorCode": code, "message": message, "errorType": kind }))
}

async fn mock_adyen(
    State(state): State<MockState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let seen = Seen::from_request(&method, &uri, &headers, body);
    let number = state.seen.record(seen.clone());
    if seen.header("x-api-key") != Some(API_KEY) {
        return adyen_error(401, "000", "HTTP Status Response - Unauthorized", "security");
    }
    let psp = format!("MOCKPSP{number:09}");
    let request = seen.json();
    let segments: Vec<&str> = seen.path.trim_start_matches('/').split('/').collect();
    let known = |id: &str| state.payments.lock().unwrap().get(id).copied();
    let refusing = state.refusing.load(Ordering::SeqCst);
    match (seen.method.as_str(), segments.as_slice()) {
        ("POST", ["v71", "payments", _, "captures" | "cancels"]) if refusing => {
            adyen_error(422, "702", "Unable to process the modification at this time", "validation")
        }
        ("POST", ["v71", "payments"]) => match state.mode {
            Mode::Unavailable => adyen_error(503, "000", "Service unavailable", "internal"),
            Mode::ServerError => adyen_error(500, "000", "Internal error", "internal"),
            Mode::Works => match request.pointer("/paymentMethod/number").and_then(Value::as_str) {
                Some(REFUSED) => json_answer(
                    200,
                    json!({
                        "pspReference": psp,
                        "resultCode": "Refused",
                        "refusalReason": "Not enough balance",
                        "refusalReasonCode": "12",
                        "merchantReference": request["reference"],
                    }),
                ),
                Some(CHALLENGE) => json_answer(
                    200,
                    json!({
                        "pspReference": psp,
                        "resultCode": "ChallengeShopper",
                        "action": {
                            "paymentMethodType": "scheme",
                            "type": "redirect",
                            "method": "GET",
                            "url": CHALLENGE_URL,
                        },
                        "merchantReference": request["reference"],
                    }),
                ),
                Some(_) => {
                    let amount = request.pointer("/amount/value").and_then(Value::as_i64).unwrap_or(0);
                    state.payments.lock().unwrap().insert(psp.clone(), amount);
                    json_answer(
                        200,
                        json!({
                            "pspReference": psp,
                            "resultCode": "Authorised",
                            "amount": request["amount"],
                            "merchantReference": request["reference"],
                        }),
                    )
                }
                None => adyen_error(422, "101", "Invalid card number", "validation"),
            },
        },
        // The payer's return from a challenge: Adyen says how it went.
        ("POST", ["v71", "payments", "details"]) if request.pointer("/details/redirectResult").is_some() => {
            json_answer(200, json!({ "pspReference": psp, "resultCode": "Authorised" }))
        }
        ("POST", ["v71", "payments", id, "captures"]) => match known(id) {
            Some(authorised) if request.pointer("/amount/value").and_then(Value::as_i64) <= Some(authorised) => {
                json_answer(
                    201,
                    json!({
                        "merchantAccount": request["merchantAccount"],
                        "paymentPspReference": id,
                        "pspReference": psp,
                        "reference": request["reference"],
                        "status": "received",
                        "amount": request["amount"],
                    }),
                )
            }
            Some(_) => adyen_error(422, "137", "Invalid amount specified", "validation"),
            None => adyen_error(422, "167", "Original pspReference required for this operation", "validation"),
        },
        ("POST", ["v71", "payments", id, "cancels"]) => match known(id) {
            Some(_) => json_answer(
                201,
                json!({
                    "merchantAccount": request["merchantAccount"],
                    "paymentPspReference": id,
                    "pspReference": psp,
                    "reference": request["reference"],
                    "status": "received",
                }),
            ),
            None => adyen_error(422, "167", "Original pspReference required for this operation", "validation"),
        },
        ("POST", ["v71", "payments", id, "refunds"]) => match known(id) {
            Some(_) => json_answer(
                201,
                json!({
                    "merchantAccount": request["merchantAccount"],
                    "paymentPspReference": id,
                    "pspReference": format!("MOCKREF{number:09}"),
                    "reference": request["reference"],
                    "status": "received",
                    "amount": request["amount"],
                }),
            ),
            None => adyen_error(422, "167", "Original pspReference required for this operation", "validation"),
        },
        _ => adyen_error(404, "000", "Not found", "validation"),
    }
}

// ---- the plugin -----------------------------------------------------------------------------

#[test]
fn the_plugin_loads_with_the_default_configuration() {
    assert!(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/adyen.lua").exists());
    let out = switchyard(&["--config", "config/switchyard.toml", "check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!text(&out.stdout).contains("adyen"), "{}", show(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_automatic_card_payment_is_authorised_at_adyen_with_the_card_the_host_filled_in() {
    let mock = MockAdyen::start(Mode::Works).await;
    let app = adyen_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["connector"], "adyen", "{body}");
    assert_eq!(body["merchant_connector_id"], "adyen", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 6540, "{body}");
    assert!(body["error"].is_null(), "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["attempts"][0]["status"], "charged", "{body}");
    assert!(!body.to_string().contains(VISA), "{body}");

    let call = mock.seen.only("POST", "/v71/payments");
    let psp = call_psp(&mock, 0);
    assert_eq!(body["connector_transaction_id"], psp.as_str(), "{body}");
    assert_eq!(body["attempts"][0]["connector_payment_id"], psp.as_str(), "{body}");

    assert_eq!(call.header("x-api-key"), Some(API_KEY), "{call:#?}");
    assert!(call.header("content-type").is_some_and(|v| v.starts_with("application/json")), "{call:#?}");
    assert_eq!(call.header("idempotency-key"), Some(str_of(&body, "/attempts/0/id")), "{call:#?}");
    let sent = call.json();
    assert_eq!(sent["amount"], json!({ "value": 6540, "currency": "USD" }), "{call:#?}");
    assert_eq!(sent["reference"], body["id"], "{call:#?}");
    assert_eq!(sent["merchantAccount"], MERCHANT_ACCOUNT, "{call:#?}");
    assert_eq!(sent["captureDelayHours"], 0, "{call:#?}");
    assert!(sent.get("additionalData").is_none(), "{call:#?}");
    assert_eq!(
        sent["paymentMethod"],
        json!({
            "type": "scheme",
            "number": VISA,
            "expiryMonth": "10",
            "expiryYear": "2035",
            "cvc": "123",
            "holderName": "joseph Doe",
        }),
        "{call:#?}"
    );
    assert_eq!(sent["returnUrl"], format!("{}/v2/payments/{}/return", app.base, id_of(&body)), "{call:#?}");
    // No placeholder is left unfilled, and the card travels only in the body.
    assert!(!call.body.contains("{{"), "{call:#?}");
    assert!(call.headers.iter().all(|(_, v)| !v.contains(VISA)) && !call.path.contains(VISA), "{call:#?}");

    // A card without a holder name goes without one, rather than with an empty one.
    let mut nameless = payment(VISA);
    nameless["payment_method_data"]["card"]["card_holder_name"] = json!("");
    assert_eq!(pay(&app, nameless).await["status"], "succeeded");
    let call = mock.payment_call(1);
    assert!(call.json()["paymentMethod"].get("holderName").is_none(), "{call:#?}");
    assert_eq!(call.json()["paymentMethod"]["number"], VISA, "{call:#?}");
    app.stop().await;
}

/// The pspReference the mock gave its `n`th (from 0) payment call.
fn call_psp(mock: &MockAdyen, n: usize) -> String {
    let calls = mock.seen.all();
    let index = calls
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is("POST", "/v71/payments"))
        .nth(n)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no payment call {n}: {calls:#?}"));
    format!("MOCKPSP{:09}", index + 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_payments_are_captured_in_part_cancelled_and_refunded_at_adyen() {
    let mock = MockAdyen::start(Mode::Works).await;
    let app = adyen_then_sandbox(&mock.server.url).await;

    // Held, then captured in part.
    let held = authorized(&app).await;
    let psp = str_of(&held, "/connector_transaction_id").to_string();
    assert_eq!(held["amount"]["amount_capturable"], 6540, "{held}");
    let call = mock.payment_call(0);
    assert_eq!(call.json()["additionalData"], json!({ "manualCapture": "true" }), "{call:#?}");
    assert!(call.json().get("captureDelayHours").is_none(), "{call:#?}");
    let attempt = str_of(&held, "/attempts/0/id").to_string();
    let captured =
        post_ok(&app, &format!("/v2/payments/{}/capture", id_of(&held)), json!({ "amount_to_capture": 4000 })).await;
    assert_eq!(captured["status"], "partially_captured", "{captured}");
    assert_eq!(captured["amount"]["amount_captured"], 4000, "{captured}");
    assert_eq!(captured["attempts"][0]["status"], "partial_charged", "{captured}");
    assert_eq!(captured["connector_transaction_id"], psp.as_str(), "{captured}");
    let cap = mock.seen.only("POST", &format!("/v71/payments/{psp}/captures"));
    assert_eq!(cap.header("x-api-key"), Some(API_KEY), "{cap:#?}");
    assert_eq!(cap.header("idempotency-key"), Some(format!("{attempt}:capture:4000").as_str()), "{cap:#?}");
    assert_eq!(
        cap.json(),
        json!({ "amount": { "value": 4000, "currency": "USD" }, "merchantAccount": MERCHANT_ACCOUNT, "reference": attempt }),
        "{cap:#?}"
    );

    // What was captured is refunded: Adyen confirms refunds only by webhook.
    let (status, refunded) = app
        .post(
            "/v2/refunds",
            json!({ "payment_id": id_of(&held), "merchant_reference_id": "adyen-refund-1", "amount": 1500 }),
        )
        .await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(refunded["status"], "pending", "{refunded}");
    assert_eq!(refunded["connector"], "adyen", "{refunded}");
    let re = mock.seen.only("POST", &format!("/v71/payments/{psp}/refunds"));
    let refund_psp = format!("MOCKREF{:09}", mock.seen.all().iter().position(|s| s.path == re.path).unwrap() + 1);
    assert_eq!(refunded["connector_refund_reference_id"], refund_psp.as_str(), "{refunded}");
    let refund_id = id_of(&refunded);
    assert_eq!(re.header("idempotency-key"), Some(refund_id.as_str()), "{re:#?}");
    assert_eq!(
        re.json(),
        json!({ "amount": { "value": 1500, "currency": "USD" }, "merchantAccount": MERCHANT_ACCOUNT, "reference": refund_id }),
        "{re:#?}"
    );
    let stored = retrieve(&app, &format!("/v2/refunds/{refund_id}")).await;
    assert_eq!(stored["status"], "pending", "{stored}");
    assert_eq!(stored["connector_refund_reference_id"], refund_psp.as_str(), "{stored}");

    // Another one held, then cancelled.
    let other = authorized(&app).await;
    let other_psp = str_of(&other, "/connector_transaction_id").to_string();
    assert_ne!(other_psp, psp);
    let cancelled = post_ok(
        &app,
        &format!("/v2/payments/{}/cancel", id_of(&other)),
        json!({ "cancellation_reason": "customer asked" }),
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["attempts"][0]["status"], "voided", "{cancelled}");
    let void = mock.seen.only("POST", &format!("/v71/payments/{other_psp}/cancels"));
    let other_attempt = str_of(&other, "/attempts/0/id");
    assert_eq!(void.header("idempotency-key"), Some(format!("{other_attempt}:cancel").as_str()), "{void:#?}");
    assert_eq!(void.json(), json!({ "merchantAccount": MERCHANT_ACCOUNT, "reference": other_attempt }), "{void:#?}");

    // Adyen cannot be asked where a payment stands: a forced sync leaves it as stored.
    let calls = mock.seen.all().len();
    let synced = retrieve(&app, &format!("/v2/payments/{}?force_sync=true", id_of(&held))).await;
    assert_eq!(synced["status"], "partially_captured", "{synced}");
    assert_eq!(mock.seen.all().len(), calls, "a sync reached Adyen");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capture_or_cancel_adyen_refuses_leaves_the_payment_held() {
    let mock = MockAdyen::start(Mode::Works).await;
    let app = adyen_then_sandbox(&mock.server.url).await;
    let held = authorized(&app).await;
    let id = id_of(&held);
    let psp = str_of(&held, "/connector_transaction_id").to_string();
    mock.refuse_modifications(true);
    for (path, body) in [("capture", json!({ "amount_to_capture": 4000 })), ("cancel", json!({}))] {
        let (status, answer) = app.post(&format!("/v2/payments/{id}/{path}"), body).await;
        let message = assert_error(status, &answer, 503, "CE_01");
        assert!(message.contains("Unable to process the modification"), "{path}: {answer}");
        let stored = retrieve(&app, &format!("/v2/payments/{id}")).await;
        assert_eq!(stored["status"], "requires_capture", "{path}: {stored}");
        assert_eq!(stored["attempts"][0]["status"], "authorized", "{path}: {stored}");
        assert_eq!(stored["amount"]["amount_captured"], 0, "{path}: {stored}");
    }
    // Once Adyen takes it, the same capture goes through.
    mock.refuse_modifications(false);
    let captured = post_ok(&app, &format!("/v2/payments/{id}/capture"), json!({})).await;
    assert_eq!(captured["status"], "succeeded", "{captured}");
    assert_eq!(captured["amount"]["amount_captured"], 6540, "{captured}");
    assert_eq!(captured["attempts"][0]["status"], "charged", "{captured}");
    let captures: Vec<Seen> =
        mock.seen.all().into_iter().filter(|s| s.is("POST", &format!("/v71/payments/{psp}/captures"))).collect();
    assert_eq!(captures.len(), 2, "{captures:#?}");
    assert_eq!(captures[1].json()["amount"], json!({ "value": 6540, "currency": "USD" }), "{captures:#?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_from_adyen_is_final_and_carries_its_reason() {
    let mock = MockAdyen::start(Mode::Works).await;
    let app = adyen_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(REFUSED)).await;
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["connector"], "adyen", "{body}");
    assert_eq!(body["error"]["code"], "12", "{body}");
    assert!(str_of(&body, "/error/message").contains("Not enough balance"), "{body}");
    let tried = attempts(&body);
    assert_eq!(tried.len(), 1, "a refusal fell through: {body}");
    assert_eq!(tried[0]["status"], "failure", "{body}");
    assert_eq!(tried[0]["merchant_connector_id"], "adyen", "{body}");
    assert_eq!(body["connector_transaction_id"], call_psp(&mock, 0).as_str(), "{body}");
    assert_eq!(body["amount"]["amount_captured"], 0, "{body}");
    mock.seen.only("POST", "/v71/payments");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_challenge_sends_the_customer_to_adyens_page() {
    let mock = MockAdyen::start(Mode::Works).await;
    let app = adyen_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(CHALLENGE)).await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    assert_eq!(body["next_action"], json!({ "type": "redirect_to_url", "redirect_to_url": CHALLENGE_URL }), "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["attempts"][0]["status"], "authentication_pending", "{body}");
    assert_eq!(body["connector_transaction_id"], call_psp(&mock, 0).as_str(), "{body}");
    assert_eq!(body["authentication_type_applied"], "three_ds", "{body}");
    app.stop().await;
}

/// The customer comes back from Adyen's page to the daemon's return URL, which Adyen calls with
/// `redirectResult`; only `POST /payments/details` with it tells how the challenge went.
#[tokio::test(flavor = "multi_thread")]
async fn a_customer_back_from_adyens_challenge_page_is_sent_on_to_the_merchant() {
    let mock = MockAdyen::start(Mode::Works).await;
    let app = adyen_then_sandbox(&mock.server.url).await;
    let body = pay(&app, with(payment(CHALLENGE), json!({ "return_url": "https://merchant.example/done" }))).await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = browser
        .get(format!("{}/v2/payments/{}/return?redirectResult=X6XtfGC3%21Y", app.base, id_of(&body)))
        .send()
        .await
        .expect("the daemon answers");
    let status = res.status();
    let location = res.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = res.text().await.unwrap_or_default();
    assert!(status.is_redirection(), "{status}: {text}");
    assert!(location.is_some_and(|l| l.starts_with("https://merchant.example/done?")), "{text}");
    assert!(mock.seen.all().iter().any(|s| s.body.contains("X6XtfGC3!Y")), "Adyen never saw the redirectResult");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_adyen_lets_the_next_account_take_the_payment() {
    let mock = MockAdyen::start(Mode::Unavailable).await;
    let app = adyen_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["connector"], "sandbox", "{body}");
    assert_eq!(body["merchant_connector_id"], "sandbox", "{body}");
    let tried = attempts(&body);
    assert_eq!(tried.len(), 2, "{body}");
    assert_eq!(tried[0]["connector"], "adyen", "{body}");
    assert_eq!(tried[0]["status"], "failure", "{body}");
    assert_eq!(tried[0]["error"]["code"], "connector_not_taken", "{body}");
    assert_eq!(tried[1]["status"], "charged", "{body}");
    assert!(body["error"].is_null(), "{body}");
    mock.seen.only("POST", "/v71/payments");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_at_adyen_leaves_the_payment_processing() {
    let mock = MockAdyen::start(Mode::ServerError).await;
    let app = adyen_then_sandbox(&mock.server.url).await;
    let body = pay(&app, payment(VISA)).await;
    assert_eq!(body["status"], "processing", "{body}");
    let tried = attempts(&body);
    assert_eq!(tried.len(), 1, "the second account was tried: {body}");
    assert_eq!(tried[0]["connector"], "adyen", "{body}");
    assert_eq!(tried[0]["status"], "pending", "{body}");
    assert_eq!(tried[0]["error"]["code"], "connector_no_clear_answer", "{body}");
    assert_eq!(body["merchant_connector_id"], "adyen", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 0, "{body}");
    // The plugin declares Adyen idempotent: the call was made once more with the same key.
    let calls = || mock.seen.all().into_iter().filter(|s| s.is("POST", "/v71/payments")).collect::<Vec<_>>();
    let sent = calls();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[0].header("idempotency-key"), sent[1].header("idempotency-key"), "{sent:#?}");
    // Nothing can settle it from here but Adyen's webhook: a forced sync changes nothing.
    let synced = retrieve(&app, &format!("/v2/payments/{}?force_sync=true", id_of(&body))).await;
    assert_eq!(synced["status"], "processing", "{synced}");
    assert_eq!(calls().len(), 2, "a sync sends no payment");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_card_number_sent_to_adyen_is_never_stored() {
    let mock = MockAdyen::start(Mode::Works).await;
    let app = adyen_then_sandbox(&mock.server.url).await;
    assert_eq!(pay(&app, payment(VISA)).await["status"], "succeeded");
    let held = authorized(&app).await;
    post_ok(&app, &format!("/v2/payments/{}/capture", id_of(&held)), json!({ "amount_to_capture": 1000 })).await;
    assert_eq!(pay(&app, payment(REFUSED)).await["status"], "failed");
    assert_eq!(pay(&app, payment(CHALLENGE)).await["status"], "requires_customer_action");
    // Adyen did get every card: the host filled them in.
    for (n, pan) in [VISA, VISA, REFUSED, CHALLENGE].into_iter().enumerate() {
        assert_eq!(mock.payment_call(n).json()["paymentMethod"]["number"], pan);
    }
    app.stop_holding_none_of(&[VISA, REFUSED, CHALLENGE]).await;
}

// ---- one daemon, three connectors -----------------------------------------------------------

/// A mock Fintecture: an access token, and a payment session on its page for every connect.
struct MockFintecture {
    seen: Recorder,
    server: MockServer,
}

impl MockFintecture {
    async fn start() -> Self {
        let seen = Recorder::default();
        let recorded = seen.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let recorded = recorded.clone();
            async move {
                recorded.record(Seen::from_request(&method, &uri, &headers, body));
                match (method.as_str(), uri.path()) {
                    ("POST", "/oauth/accesstoken") => {
                        json_answer(200, json!({ "access_token": "fintecture-token", "expires_in": 3600 }))
                    }
                    ("POST", "/pis/v2/connect") => json_answer(
                        200,
                        json!({ "meta": { "session_id": "fin_session_1", "url": "https://pay.fintecture.test/fin_session_1" } }),
                    ),
                    _ => json_answer(404, json!({ "errors": [{ "code": "not_found", "title": "Not found" }] })),
                }
            }
        });
        let server = MockServer::serve(app).await;
        Self { seen, server }
    }
}

fn fintecture_account(name: &str, base_url: &str) -> ConnectorAccountConfig {
    let key = std::fs::read_to_string(fintecture_sdk::key_path()).expect("the test key");
    ConnectorAccountConfig {
        name: name.into(),
        connector: "fintecture".into(),
        enabled: true,
        base_url: Some(base_url.into()),
        credentials: BTreeMap::from([
            ("app_id".to_string(), SecretValue::Literal(fintecture_sdk::APP_ID.into())),
            ("app_secret".to_string(), SecretValue::Literal("fintecture-app-secret".into())),
            ("private_key".to_string(), SecretValue::Literal(key)),
        ]),
        metadata: Default::default(),
        rate_limit: None,
    }
}

const ROUTING_SCRIPT: &str = r#"-- Open banking to Fintecture, euro cards to Adyen, every other card to Stripe.
return function(p, ctx)
  if p.payment_method_type == "open_banking" then
    return {"fintecture"}
  elseif p.currency == "EUR" then
    return {"adyen"}
  else
    return {"stripe"}
  end
end
"#;

/// The open-banking payment of the routed test, with `billing` or without.
fn open_banking(billing: Option<Value>) -> Value {
    let mut body = json!({
        "amount_details": { "currency": "EUR", "order_amount": 6540 },
        "payment_method_type": "open_banking",
        "payment_method_subtype": "open_banking_pis",
        "payment_method_data": { "open_banking": { "open_banking_pis": {} } }
    });
    if let Some(billing) = billing {
        body["billing"] = billing;
    }
    body
}

/// One daemon, one profile with a Stripe (localstripe), a Fintecture and an Adyen account and a
/// routing script: a USD card goes to Stripe, a EUR card to Adyen and `bank_payment` to Fintecture.
async fn routes_between_stripe_fintecture_and_adyen(bank_payment: Value) {
    let adyen = MockAdyen::start(Mode::Works).await;
    let fintecture = MockFintecture::start().await;
    let dir = TempDir::new().expect("temp dir");
    let routing = dir.path().join("routing");
    std::fs::create_dir(&routing).expect("routing folder");
    std::fs::write(routing.join("three_ways.lua"), ROUTING_SCRIPT).expect("routing script");
    let mut config = config_with(
        dir.path(),
        vec![
            stripe_account("stripe", &localstripe::url()),
            fintecture_account("fintecture", &fintecture.server.url),
            adyen_account("adyen", &adyen.server.url),
        ],
        &[],
    );
    config.paths.routing = routing;
    config.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap().routing = Some("three_ways".into());
    let app = TestApp::start_with(dir, config).await;

    let usd = pay(&app, payment_in(VISA, "USD")).await;
    assert_eq!(usd["status"], "succeeded", "{usd}");
    assert_eq!(usd["connector"], "stripe", "{usd}");
    assert!(str_of(&usd, "/connector_transaction_id").starts_with("pi_"), "{usd}");

    let eur = pay(&app, payment_in(VISA, "EUR")).await;
    assert_eq!(eur["status"], "succeeded", "{eur}");
    assert_eq!(eur["connector"], "adyen", "{eur}");
    assert_eq!(eur["connector_transaction_id"], call_psp(&adyen, 0).as_str(), "{eur}");
    assert_eq!(adyen.payment_call(0).json()["amount"], json!({ "value": 6540, "currency": "EUR" }));

    let bank = pay(&app, bank_payment).await;
    assert_eq!(bank["status"], "requires_customer_action", "{bank}");
    assert_eq!(bank["connector"], "fintecture", "{bank}");
    assert_eq!(bank["connector_transaction_id"], "fin_session_1", "{bank}");
    assert_eq!(bank["next_action"]["redirect_to_url"], "https://pay.fintecture.test/fin_session_1", "{bank}");
    let fintecture_calls = fintecture.seen.all();
    assert!(fintecture_calls.iter().any(|s| s.is("POST", "/pis/v2/connect")), "{fintecture_calls:?}");

    for (body, account) in [(&usd, "stripe"), (&eur, "adyen"), (&bank, "fintecture")] {
        let tried = attempts(body);
        assert_eq!(tried.len(), 1, "{body}");
        let routed = &tried[0]["routing"];
        assert_eq!(routed["script"], "three_ways", "{body}");
        assert!(routed["script_hash"].is_string(), "{body}");
        assert!(routed["fallback"].is_null(), "the script did not decide: {body}");
        assert_eq!(routed["candidates"], json!([account]), "{body}");
    }
    // Each payment reached only its own provider.
    assert_eq!(adyen.seen.all().len(), 1, "{:#?}", adyen.seen.all());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_daemon_routes_between_stripe_fintecture_and_adyen_by_script() {
    // No billing: the plugin sees `billing` as nil, not as a JSON null it would take for a table.
    routes_between_stripe_fintecture_and_adyen(open_banking(None)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_daemon_routes_an_open_banking_payment_with_a_payer_to_fintecture() {
    routes_between_stripe_fintecture_and_adyen(open_banking(Some(json!({ "email": "joseph@example.com" })))).await;
}
