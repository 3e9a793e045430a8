//! The auth matrix: who may call which endpoint, and what everyone else is told.
//!
//! Every endpoint is called without a key, with a wrong key, with a profile that does not exist
//! and with another merchant's profile; another merchant (and another profile of the same
//! merchant) may neither see nor touch a payment or refund. Nothing a rejected request sends may
//! change what is stored. Without a profile header a call acts in the profile of the object it
//! names; a browser confirms a payment with the publishable key and the payment's client secret.

use crate::common;

use common::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const WRONG_KEY: &str = "sy_sk_wrongKey000000000000000000000000000";
const UNAUTHORIZED_MESSAGE: &str = "API key not provided or invalid API key used";

/// Payments and a refund of merchant acme, profile `web`, in every state an endpoint acts on.
struct Fixture {
    /// Automatic capture, `succeeded`, partly refunded by `refund_id`.
    succeeded_id: String,
    /// Manual capture, `requires_capture`.
    manual_id: String,
    /// Created without a payment method, `requires_payment_method`.
    intent_id: String,
    refund_id: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let (status, body) = app.post("/v2/payments", payment("4242424242424242")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    let succeeded_id = body["id"].as_str().unwrap().to_string();

    let mut manual = payment("4242424242424242");
    manual["capture_method"] = json!("manual");
    let (status, body) = app.post("/v2/payments", manual).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "requires_capture", "{body}");
    let manual_id = body["id"].as_str().unwrap().to_string();

    let (status, body) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "currency": "USD", "order_amount": 1200 } }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "requires_payment_method", "{body}");
    let intent_id = body["id"].as_str().unwrap().to_string();

    let (status, body) = app
        .post(
            "/v2/refunds",
            json!({ "payment_id": succeeded_id, "merchant_reference_id": "fixture_refund", "amount": 100 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    let refund_id = body["id"].as_str().unwrap().to_string();

    Fixture { succeeded_id, manual_id, intent_id, refund_id }
}

/// One endpoint, with a request that acme/web would be served.
struct Endpoint {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
}

fn endpoints(f: &Fixture) -> Vec<Endpoint> {
    let e = |name, method, path: String, body: Option<Value>| Endpoint { name, method, path, body };
    vec![
        e("create-and-confirm", Method::POST, "/v2/payments".into(), Some(payment("4242424242424242"))),
        e(
            "create-intent",
            Method::POST,
            "/v2/payments/create-intent".into(),
            Some(json!({ "amount_details": { "currency": "USD", "order_amount": 500 } })),
        ),
        e("retrieve", Method::GET, format!("/v2/payments/{}", f.succeeded_id), None),
        e("get-intent", Method::GET, format!("/v2/payments/{}/get-intent", f.intent_id), None),
        e(
            "confirm-intent",
            Method::POST,
            format!("/v2/payments/{}/confirm-intent", f.intent_id),
            Some(card_method("4242424242424242")),
        ),
        e("capture", Method::POST, format!("/v2/payments/{}/capture", f.manual_id), Some(json!({}))),
        e("cancel", Method::POST, format!("/v2/payments/{}/cancel", f.manual_id), Some(json!({}))),
        e(
            "refund",
            Method::POST,
            "/v2/refunds".into(),
            Some(json!({ "payment_id": f.succeeded_id, "merchant_reference_id": "matrix_refund", "amount": 100 })),
        ),
        e("refund-retrieve", Method::GET, format!("/v2/refunds/{}", f.refund_id), None),
    ]
}

/// Everything a rejected request could have changed: the row counts and acme's own view of each
/// fixture object (statuses, amounts, attempts, modification times).
#[derive(Debug, PartialEq)]
struct Snapshot {
    counts: [i64; 3],
    views: Vec<Value>,
}

async fn snapshot(app: &TestApp, f: &Fixture) -> Snapshot {
    let counts = [app.count("payment_intents").await, app.count("payment_attempts").await, app.count("refunds").await];
    let mut views = Vec::new();
    for path in [
        format!("/v2/payments/{}", f.succeeded_id),
        format!("/v2/payments/{}", f.manual_id),
        format!("/v2/payments/{}", f.intent_id),
        format!("/v2/refunds/{}", f.refund_id),
    ] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        views.push(body);
    }
    Snapshot { counts, views }
}

/// One row of the auth matrix: the headers sent and the answer every endpoint must give.
struct Case {
    name: &'static str,
    key: Option<&'static str>,
    profile: Option<&'static str>,
    status: u16,
    code: &'static str,
    message: &'static str,
}

#[tokio::test]
async fn every_endpoint_refuses_callers_that_are_not_authenticated_for_a_profile() {
    let app = TestApp::start().await;
    let f = fixture(&app).await;
    let before = snapshot(&app, &f).await;

    let case = |name, key, profile, status, code, message| Case { name, key, profile, status, code, message };
    let cases = [
        case("no key", None, Some("web"), 401, "IR_01", UNAUTHORIZED_MESSAGE),
        case("no key and no profile", None, None, 401, "IR_01", UNAUTHORIZED_MESSAGE),
        case("empty key", Some(""), Some("web"), 401, "IR_01", UNAUTHORIZED_MESSAGE),
        case("wrong key", Some(WRONG_KEY), Some("web"), 401, "IR_01", UNAUTHORIZED_MESSAGE),
        case("wrong key, no profile", Some(WRONG_KEY), None, 401, "IR_01", UNAUTHORIZED_MESSAGE),
        case(
            "acme's key less its last character",
            Some(&ACME_KEY[..ACME_KEY.len() - 1]),
            Some("web"),
            401,
            "IR_01",
            UNAUTHORIZED_MESSAGE,
        ),
        // A profile the key's merchant does not have is refused like the key, as Hyperswitch does.
        case("right key, empty profile", Some(ACME_KEY), Some(""), 401, "IR_01", UNAUTHORIZED_MESSAGE),
        case("acme key, unknown profile", Some(ACME_KEY), Some("nope"), 401, "IR_01", UNAUTHORIZED_MESSAGE),
        // globex has only `web`; acme's `shop` is answered exactly like a profile that does not exist.
        case("globex key, acme's profile", Some(GLOBEX_KEY), Some("shop"), 401, "IR_01", UNAUTHORIZED_MESSAGE),
        case("globex key, unknown profile", Some(GLOBEX_KEY), Some("nope"), 401, "IR_01", UNAUTHORIZED_MESSAGE),
    ];

    for endpoint in endpoints(&f) {
        for c in &cases {
            let (status, body) =
                app.call(endpoint.method.clone(), &endpoint.path, c.key, c.profile, endpoint.body.as_ref()).await;
            let context = format!("{} {} ({})", endpoint.method, endpoint.name, c.name);
            assert!(status.is_client_error(), "{context}: {status} {body}");
            assert_eq!(status.as_u16(), c.status, "{context}: {body}");
            let message = assert_error(status, &body, c.status, c.code);
            assert_eq!(body["error"]["type"], "invalid_request", "{context}: {body}");
            assert_eq!(message, c.message, "{context}");
        }
    }

    assert_eq!(snapshot(&app, &f).await, before, "a rejected request changed what is stored");
    app.stop().await;
}

#[tokio::test]
async fn another_merchant_or_profile_can_neither_see_nor_touch_a_payment() {
    let app = TestApp::start().await;
    let f = fixture(&app).await;
    let before = snapshot(&app, &f).await;

    // Globex's own `web` shares acme's profile name; acme's `shop` shares acme's merchant.
    let strangers = [(GLOBEX_KEY, "web"), (ACME_KEY, "shop")];
    for (key, profile) in strangers {
        for endpoint in endpoints(&f) {
            // Creating is not touching anyone's payment: each caller may create its own.
            if matches!(endpoint.name, "create-and-confirm" | "create-intent") {
                continue;
            }
            let (status, body) = app
                .call(endpoint.method.clone(), &endpoint.path, Some(key), Some(profile), endpoint.body.as_ref())
                .await;
            let context = format!("{} as {profile} of {key}", endpoint.name);
            let message = assert_error(status, &body, 404, "HE_02");
            let want = match endpoint.name {
                "refund-retrieve" => format!("refund {} not found", f.refund_id),
                "refund" => format!("payment {} not found", f.succeeded_id),
                "get-intent" | "confirm-intent" => format!("payment {} not found", f.intent_id),
                "capture" | "cancel" => format!("payment {} not found", f.manual_id),
                _ => format!("payment {} not found", f.succeeded_id),
            };
            assert_eq!(message, want, "{context}");
        }
    }

    // The answer for someone else's payment is the answer for one that does not exist.
    let (status, body) = app
        .call(Method::GET, "/v2/payments/sy_pay_00000000000000000000000000000000", Some(GLOBEX_KEY), Some("web"), None)
        .await;
    let message = assert_error(status, &body, 404, "HE_02");
    assert_eq!(message, "payment sy_pay_00000000000000000000000000000000 not found");

    assert_eq!(snapshot(&app, &f).await, before, "a stranger changed acme's payments");

    // And acme itself still can act on them.
    let (status, body) = app.post(&format!("/v2/payments/{}/capture", f.manual_id), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_merchant_can_use_its_own_profile_of_the_same_name() {
    // globex/web and acme/web are different profiles: each sees only its own payments.
    let app = TestApp::start().await;
    let (status, body) =
        app.call(Method::POST, "/v2/payments", Some(GLOBEX_KEY), Some("web"), Some(&payment("4242424242424242"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    let globex_id = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["profile_id"], "web");

    let (status, body) =
        app.call(Method::GET, &format!("/v2/payments/{globex_id}"), Some(GLOBEX_KEY), Some("web"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], globex_id.as_str());

    let (status, body) = app.get(&format!("/v2/payments/{globex_id}")).await;
    assert_error(status, &body, 404, "HE_02");
    app.stop().await;
}

#[tokio::test]
async fn unauthorized_answers_carry_www_authenticate_and_json() {
    let app = TestApp::start().await;
    for key in [None, Some(WRONG_KEY)] {
        let mut req = app.client.get(format!("{}/v2/payments/sy_pay_whatever", app.base)).header("X-Profile-Id", "web");
        if let Some(key) = key {
            req = req.header("api-key", key);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let challenge = res.headers().get(header::WWW_AUTHENTICATE).expect("WWW-Authenticate on a 401");
        assert_eq!(challenge, "api-key");
        let content_type = res.headers().get(header::CONTENT_TYPE).expect("content type").to_str().unwrap();
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body,
            json!({ "error": { "type": "invalid_request", "message": UNAUTHORIZED_MESSAGE, "code": "IR_01" } })
        );
    }

    // Other refusals are not authentication challenges.
    let res = app.client.get(format!("{}/v2/payments/sy_pay_whatever", app.base)).header("api-key", ACME_KEY).send();
    let res = res.await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get(header::WWW_AUTHENTICATE).is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_secret_key_is_taken_from_the_authorization_header_as_hyperswitch_clients_send_it() {
    let app = TestApp::start().await;
    let pay = |authorization: String| {
        let req = app.client.post(format!("{}/v2/payments", app.base)).header("Authorization", authorization);
        req.header("X-Profile-Id", "web").json(&payment("4242424242424242")).send()
    };
    let res = pay(format!("api-key={ACME_KEY}")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["profile_id"].as_str()), (Some("succeeded"), Some("web")), "{body}");
    // A wrong key, and a publishable key, which is no secret key, in the same place.
    for key in [WRONG_KEY, ACME_PK] {
        let res = pay(format!("api-key={key}")).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{key}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "IR_01", "{body}");
    }
    assert_eq!(app.count("payment_intents").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn authentication_is_checked_before_the_body_is_read() {
    let app = TestApp::start().await;
    let before = [app.count("payment_intents").await, app.count("refunds").await];
    // A malformed body from an unauthenticated caller is refused as unauthenticated, not as malformed.
    for (key, profile, want_status, want_code) in [
        (None, Some("web"), 401, "IR_01"),
        (Some(WRONG_KEY), Some("web"), 401, "IR_01"),
        (Some(ACME_KEY), Some("nope"), 401, "IR_01"),
    ] {
        let mut req = app
            .client
            .post(format!("{}/v2/payments", app.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(r#"{"amount_details":"#);
        if let Some(key) = key {
            req = req.header("api-key", key);
        }
        if let Some(profile) = profile {
            req = req.header("X-Profile-Id", profile);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_error(status, &body, want_status, want_code);
    }
    assert_eq!([app.count("payment_intents").await, app.count("refunds").await], before);
    app.stop().await;
}

/// A request with `Authorization` set as a browser running Hyperswitch's SDK sends it.
async fn as_browser(app: &TestApp, path: &str, authorization: &str, body: &Value) -> (StatusCode, Value) {
    let req = app.client.post(format!("{}{path}", app.base)).header("Authorization", authorization).json(body);
    let res = req.send().await.expect("request sent");
    let status = res.status();
    (status, res.json().await.expect("a JSON answer"))
}

#[tokio::test]
async fn a_browser_confirms_an_intent_with_the_publishable_key_and_the_client_secret() {
    let app = TestApp::start().await;
    let intent = |amount: u64| {
        app.post(
            "/v2/payments/create-intent",
            json!({ "amount_details": { "currency": "EUR", "order_amount": amount } }),
        )
    };
    let (_, first) = intent(1200).await;
    let (_, second) = intent(3400).await;
    let (id, secret) = (id_of(&first), str_of(&first, "/client_secret").to_string());
    let other_secret = str_of(&second, "/client_secret").to_string();
    let path = format!("/v2/payments/{id}/confirm-intent");
    let card = card_method("4242424242424242");

    // Refusals first, none of which touches the intent: another payment's secret, no secret, a
    // secret with another merchant's publishable key, a key that is no publishable key.
    let refusals = [
        (format!("publishable-key={ACME_PK},client-secret={other_secret}"), 400, "IR_09"),
        (format!("publishable-key={ACME_PK}"), 400, "IR_08"),
        (format!("publishable-key={ACME_PK},client-secret="), 400, "IR_08"),
        (format!("publishable-key={GLOBEX_PK},client-secret={secret}"), 404, "HE_02"),
        (format!("publishable-key={ACME_KEY},client-secret={secret}"), 401, "IR_01"),
    ];
    for (authorization, status, code) in refusals {
        let (got, body) = as_browser(&app, &path, &authorization, &card).await;
        assert_error(got, &body, status, code);
    }
    let (_, unchanged) = app.get(&format!("/v2/payments/{id}/get-intent")).await;
    assert_eq!(unchanged["status"], "requires_payment_method", "{unchanged}");
    assert_eq!(app.count("payment_attempts").await, 0);

    let authorization = format!("publishable-key={ACME_PK},client-secret={secret}");
    let (status, paid) = as_browser(&app, &path, &authorization, &card).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!((paid["status"].as_str(), paid["id"].as_str()), (Some("succeeded"), Some(id.as_str())), "{paid}");
    // The intent's own profile, though the browser named none.
    assert_eq!(paid["profile_id"], "web", "{paid}");
    let (_, seen) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(seen["status"], "succeeded", "{seen}");
    // The secret opens that one confirmation: a second one is refused by the intent's state.
    let (status, body) = as_browser(&app, &path, &authorization, &card).await;
    assert_error(status, &body, 400, "IR_14");
    app.stop().await;
}

#[tokio::test]
async fn without_a_profile_header_a_call_acts_in_the_profile_of_its_object() {
    // acme has two profiles, `web` and `shop`.
    let app = TestApp::start().await;
    let mut manual = payment("4242424242424242");
    manual["capture_method"] = json!("manual");
    let (status, made) = app.call(Method::POST, "/v2/payments", Some(ACME_KEY), Some("shop"), Some(&manual)).await;
    assert_eq!(status, 200, "{made}");
    let id = id_of(&made);
    let unnamed = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        async move { app.call(method, &path, Some(ACME_KEY), None, body.as_ref()).await }
    };

    let (status, body) = unnamed(Method::GET, format!("/v2/payments/{id}"), None).await;
    assert_eq!((status.as_u16(), body["profile_id"].as_str()), (200, Some("shop")), "{body}");
    let (status, body) = unnamed(Method::GET, format!("/v2/payments/{id}/get-intent"), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = unnamed(Method::POST, format!("/v2/payments/{id}/capture"), Some(json!({}))).await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("succeeded")), "{body}");
    let refund = json!({ "payment_id": id, "merchant_reference_id": "no_header", "amount": 100 });
    let (status, refunded) = unnamed(Method::POST, "/v2/refunds".into(), Some(refund)).await;
    assert_eq!(status, 200, "{refunded}");
    // The refund belongs to its payment's profile.
    assert_eq!(refunded["profile_id"], "shop", "{refunded}");
    let (status, body) = unnamed(Method::GET, format!("/v2/refunds/{}", id_of(&refunded)), None).await;
    assert_eq!(status, 200, "{body}");

    // A profile named is still a fence: `web` does not see `shop`'s payment.
    let (status, body) = app.get(&format!("/v2/payments/{id}")).await;
    assert_error(status, &body, 404, "HE_02");

    // Nothing says which of acme's profiles a new payment belongs to: refused as Hyperswitch
    // refuses a missing header, and nothing is stored.
    let before = [app.count("payment_intents").await, app.count("payment_attempts").await];
    for (path, body) in [
        ("/v2/payments", payment("4242424242424242")),
        ("/v2/payments/create-intent", json!({ "amount_details": { "currency": "USD", "order_amount": 500 } })),
    ] {
        let (status, answer) = unnamed(Method::POST, path.into(), Some(body)).await;
        let message = assert_error(status, &answer, 422, "IR_06");
        assert_eq!(message, "Missing header key: `X-Profile-Id`", "{path}");
    }
    assert_eq!([app.count("payment_intents").await, app.count("payment_attempts").await], before);
    app.stop().await;
}

#[tokio::test]
async fn a_merchant_with_one_profile_needs_no_profile_header() {
    // globex has one profile, `web`: the seeds' own requests, which send no X-Profile-Id, work.
    let app = TestApp::start().await;
    let call = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        async move { app.call(method, &path, Some(GLOBEX_KEY), None, body.as_ref()).await }
    };
    let (status, paid) = call(Method::POST, "/v2/payments".into(), Some(payment("4242424242424242"))).await;
    assert_eq!((status.as_u16(), paid["profile_id"].as_str()), (200, Some("web")), "{paid}");
    let (status, body) = call(Method::GET, format!("/v2/payments/{}", id_of(&paid)), None).await;
    assert_eq!(status, 200, "{body}");

    let customer = json!({ "name": "John Doe", "email": "john@example.com" });
    let (status, customer) = call(Method::POST, "/v2/customers".into(), Some(customer)).await;
    assert_eq!(status, 200, "{customer}");
    let customer_id = id_of(&customer);
    let (status, intent) = call(
        Method::POST,
        "/v2/payment-methods/create-intent".into(),
        Some(json!({ "customer_id": customer_id, "metadata": {} })),
    )
    .await;
    assert_eq!(status, 200, "{intent}");
    let (status, session) = call(
        Method::POST,
        "/v2/payment-method-sessions".into(),
        Some(json!({ "customer_id": customer_id, "storage_type": "volatile" })),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let (status, body) = call(Method::GET, format!("/v2/payment-method-sessions/{}", id_of(&session)), None).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn browsers_on_any_site_may_call_with_keys_in_headers() {
    let app = TestApp::start().await;
    let res = app
        .client
        .request(Method::OPTIONS, format!("{}/v2/payments/sy_pay_x/confirm-intent", app.base))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let allowed = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_ascii_lowercase());
    assert_eq!(allowed("access-control-allow-origin").as_deref(), Some("*"));
    assert!(allowed("access-control-allow-methods").is_some_and(|m| m.contains("post")));
    assert!(allowed("access-control-allow-headers").is_some_and(|h| h.contains("authorization")));
    // No cookie is ever part of a call, so none is allowed to go with one.
    assert!(allowed("access-control-allow-credentials").is_none());
    // The answer itself carries the origin grant too.
    let res = app.client.get(format!("{}/health", app.base)).header("Origin", "https://shop.example").send();
    let res = res.await.unwrap();
    assert_eq!(res.headers().get("access-control-allow-origin").unwrap(), "*");
    app.stop().await;
}

#[tokio::test]
async fn health_needs_no_key() {
    let app = TestApp::start().await;
    for key in [None, Some(WRONG_KEY)] {
        let (status, body) = app.call(Method::GET, "/health", key, None, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ok", "{body}");
        assert_eq!(body["database"], "ok", "{body}");
    }
    app.stop().await;
}

/// A provider's plugin whose charges stay pending until a notification says how they ended. A
/// notification is verified by the `token` of the account it is addressed to.
const RELAY: &str = r#"
return {
  name = "relay", api_version = 1, supports = { card = "any" }, currencies = "any", credentials = { "token" },
  authorize = {
    build = function(ctx, pay) return { method = "POST", url = "/pay", body = "{}" } end,
    parse = function(ctx, pay, res) return { status = "pending", connector_payment_id = "ch_" .. pay.attempt_id } end,
  },
  webhook = {
    verify = function(ctx, req) return req.headers["x-token"] == ctx.credentials.token end,
    parse = function(ctx, req)
      return { kind = "payment", connector_payment_id = req.headers["x-charge"], status = "charged" }
    end,
  },
}
"#;

#[tokio::test]
async fn a_notification_reaches_only_the_profile_of_the_account_it_is_addressed_to() {
    use axum::routing::post;
    use switchyard::config::SecretValue;

    let provider = mock::MockServer::serve(axum::Router::new().route("/pay", post(|| async { "{}" }))).await;
    let dir = tempfile::TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("relay.lua"), RELAY).unwrap();
    let mut config = config(dir.path());
    config.paths.plugins = plugins;
    // Both profiles of acme have an account named `relay`, each with a token of its own.
    for profile in ["web", "shop"] {
        let p = config.merchants.get_mut("acme").unwrap().profiles.get_mut(profile).unwrap();
        let mut relay = sandbox_account("relay");
        relay.connector = "relay".into();
        relay.base_url = Some(provider.url.clone());
        relay.credentials.insert("token".into(), SecretValue::Literal(format!("token-of-{profile}")));
        p.connector_accounts = vec![relay];
        p.fallback = vec!["relay".into()];
    }
    let running = TestApp::start_with(dir, config).await;
    let app = &running;
    let pending = |profile| async move {
        let (status, body) = app
            .call(Method::POST, "/v2/payments", Some(ACME_KEY), Some(profile), Some(&payment("4242424242424242")))
            .await;
        assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("processing")), "{body}");
        (id_of(&body), str_of(&body, "/connector_transaction_id").to_string())
    };
    let (web_id, _) = pending("web").await;
    let (shop_id, shop_charge) = pending("shop").await;
    let notify = |path: String, token: &'static str, charge: String| {
        let request =
            app.client.post(format!("{}{path}", app.base)).header("x-token", token).header("x-charge", charge);
        async move {
            let res = request.body("{}").send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let status_of = |id: String, profile| async move {
        let (_, body) = app.call(Method::GET, &format!("/v2/payments/{id}"), Some(ACME_KEY), Some(profile), None).await;
        body["status"].as_str().unwrap().to_string()
    };

    // The merchant-wide address does not say which `relay` it means: refused, nothing changes.
    let (status, body) = notify("/v2/webhooks/acme/relay".into(), "token-of-web", shop_charge.clone()).await;
    let message = assert_error(status, &body, 422, "IR_06");
    assert!(message.contains("/v2/webhooks/acme/{profile_id}/relay"), "{message}");
    // web's account, verified by web's token, knows nothing of shop's payment.
    let (status, body) = notify("/v2/webhooks/acme/web/relay".into(), "token-of-web", shop_charge.clone()).await;
    assert_eq!((status.as_u16(), body["outcome"].as_str()), (200, Some("not_tracked")), "{body}");
    // shop's account does not take web's token.
    let (status, body) = notify("/v2/webhooks/acme/shop/relay".into(), "token-of-web", shop_charge.clone()).await;
    assert_error(status, &body, 401, "WE_01");
    assert_eq!(status_of(shop_id.clone(), "shop").await, "processing");
    assert_eq!(status_of(web_id.clone(), "web").await, "processing");

    // shop's own notification, at shop's address, is applied.
    let (status, body) = notify("/v2/webhooks/acme/shop/relay".into(), "token-of-shop", shop_charge).await;
    assert_eq!((status.as_u16(), body["outcome"].as_str()), (200, Some("applied")), "{body}");
    assert_eq!(status_of(shop_id, "shop").await, "succeeded");
    assert_eq!(status_of(web_id, "web").await, "processing");

    // A profile that does not have the account named is answered like one that does not exist.
    let (status, body) = notify("/v2/webhooks/acme/nope/relay".into(), "token-of-web", "ch_x".into()).await;
    assert_error(status, &body, 404, "HE_02");
    running.stop().await;
}
