//! The Fintecture connector plugin (`plugins/fintecture.lua`, pay by bank).
//!
//! First, without a daemon: the requests the plugin builds carry `Digest` and `Signature` headers
//! byte-identical to what Fintecture's official SDK produces for the same key, date, request id,
//! target and body (`common::fintecture_sdk`), and the signatures verify with the public key.
//!
//! Then end to end over switchyard's HTTP API against an in-process mock Fintecture that checks
//! every call the way Fintecture does (Basic credentials on the token request; Bearer token, body
//! digest and RSA signature over the documented signing string on the others) and records it:
//! the redirect to the bank-selection page, status syncs, the payer's return, refunds, the shared
//! access token, what the plugin does not take, how provider failures route, and where the
//! private key never goes.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use base64::Engine as _;
use common::fintecture_sdk::{key_path, public_key_path, reference, APP_ID};
use common::mock::{answer, json_answer, MockServer};
use common::recorder::{Recorder, Seen};
use common::*;
use reqwest::Method;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchyard::config::{Config, ConnectorAccountConfig, SecretValue};
use switchyard::connectors::plugin::loader::load_plugin;
use switchyard::connectors::plugin::{HeaderSpec, Pins, PluginConnector, RequestSpec};
use switchyard::connectors::Account;
use tempfile::TempDir;

const DATE: &str = "Mon, 26 Feb 2024 13:36:00 GMT";
const REQUEST_ID: &str = "963587a9-1fa4-42d2-bca8-85c27d0c859e";
const APP_SECRET: &str = "fintecture-test-app-secret-7Qm2";
/// A second Fintecture application (another merchant's), signing with the same test key.
const OTHER_APP_ID: &str = "switchyard-other-app";
const OTHER_APP_SECRET: &str = "fintecture-other-app-secret-Zp41";
const RETURN_URL: &str = "https://shop.example/done";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---- helpers --------------------------------------------------------------------------------

fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins")
}

fn private_key_pem() -> String {
    std::fs::read_to_string(key_path()).expect("the test private key")
}

fn public_key() -> RsaPublicKey {
    let pem = std::fs::read_to_string(public_key_path()).expect("the test public key");
    RsaPublicKey::from_public_key_pem(&pem).expect("an SPKI public key")
}

/// Whether `signature_b64` is an RSASSA-PKCS1-v1_5/SHA-256 signature of `text` by the test key.
fn verifies(text: &str, signature_b64: &str) -> Result<(), String> {
    let bytes = B64.decode(signature_b64).map_err(|e| format!("signature is not base64: {e}"))?;
    let signature = Signature::try_from(bytes.as_slice()).map_err(|e| format!("not a signature: {e}"))?;
    VerifyingKey::<Sha256>::new(public_key())
        .verify(text.as_bytes(), &signature)
        .map_err(|e| format!("the signature does not verify: {e}"))
}

/// The value of parameter `name` (`name="value"`) of a `Signature` header.
fn signature_param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let start = header.find(&format!("{name}=\""))? + name.len() + 2;
    let len = header[start..].find('"')?;
    Some(&header[start..start + len])
}

fn digest_of(body: &str) -> String {
    format!("SHA-256={}", B64.encode(Sha256::digest(body.as_bytes())))
}

/// Percent-encodes all but RFC 3986's unreserved characters (how the plugin's `url.encode` does).
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn credentials(app_id: &str, app_secret: &str) -> BTreeMap<String, SecretValue> {
    BTreeMap::from([
        ("app_id".to_string(), SecretValue::Literal(app_id.into())),
        ("app_secret".to_string(), SecretValue::Literal(app_secret.into())),
        ("private_key".to_string(), SecretValue::Literal(private_key_pem())),
    ])
}

/// A Fintecture account of the test application at `base_url`.
fn fintecture_account(name: &str, base_url: &str) -> ConnectorAccountConfig {
    ConnectorAccountConfig {
        name: name.into(),
        connector: "fintecture".into(),
        enabled: true,
        base_url: Some(base_url.into()),
        credentials: credentials(APP_ID, APP_SECRET),
        metadata: Default::default(),
        rate_limit: None,
    }
}

/// The documented open-banking payment, in `currency`.
fn ob_payment_in(currency: &str) -> Value {
    json!({
        "amount_details": { "currency": currency, "order_amount": 6540 },
        "payment_method_type": "open_banking",
        "payment_method_subtype": "open_banking_pis",
        "payment_method_data": {
            "open_banking": { "open_banking_pis": {} },
            "billing": {
                "address": { "first_name": "Joseph", "last_name": "Doe" },
                "email": "joseph@example.com"
            }
        },
        "return_url": RETURN_URL
    })
}

fn ob_payment() -> Value {
    ob_payment_in("EUR")
}

/// A daemon whose acme/web pays through one Fintecture account, `fintecture`, at `mock`.
async fn app_for(mock: &MockFintecture) -> TestApp {
    start_with_accounts(vec![fintecture_account("fintecture", &mock.server.url)], &["fintecture"]).await
}

/// An open-banking payment that reached Fintecture and waits for the payer.
async fn redirected(app: &TestApp) -> Value {
    let body = pay(app, ob_payment()).await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    body
}

async fn force_sync(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/v2/payments/{id}?force_sync=true")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The payer's browser coming back from Fintecture: no API key, redirects not followed, and the
/// parameters Fintecture appends to `redirect_uri`, which claim `claimed` (anyone can write them:
/// only Fintecture's own answer to a status request counts).
async fn payer_returns_claiming(app: &TestApp, id: &str, session: &str, claimed: &str) -> reqwest::Response {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    browser
        .get(format!("{}/v2/payments/{id}/return?session_id={session}&status={claimed}&state={id}", app.base))
        .send()
        .await
        .expect("the daemon answers")
}

/// The payer's browser coming back with no parameters.
async fn payer_returns(app: &TestApp, id: &str) -> reqwest::Response {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    browser.get(format!("{}/v2/payments/{id}/return", app.base)).send().await.expect("the daemon answers")
}

fn location(res: &reqwest::Response) -> Option<String> {
    res.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string)
}

/// The base64 lines of the private key: any of them showing up anywhere is the key leaking.
fn key_lines() -> Vec<String> {
    private_key_pem().lines().filter(|l| !l.starts_with("-----") && l.len() > 20).map(str::to_string).collect()
}

// ---- the signature, byte for byte against the official SDK -----------------------------------

fn plugin_connector() -> PluginConnector {
    let limits = switchyard::lua::Budget::of(&Config::default().lua);
    // Room for a debug build's RSA signature; the budget itself is not what is tested here.
    let limits = switchyard::lua::Budget { time_budget: Duration::from_secs(5), ..limits };
    let plugin = load_plugin(&plugins_dir().join("fintecture.lua"), limits).expect("the plugin loads");
    PluginConnector::new(plugin, limits, reqwest::Client::new(), "http://127.0.0.1:8080")
}

fn pinned_account() -> Account {
    let mut config = fintecture_account("fintecture", "https://api-sandbox.fintecture.com");
    config.base_url = None;
    Account::from_config("web", &config)
}

fn pins() -> Pins {
    Pins { http_date: Some(DATE.into()), request_id: Some(REQUEST_ID.into()), now: None }
}

/// The arguments `PluginConnector::authorize` passes for the documented payment.
fn authorize_args(billing: Value) -> Value {
    json!({
        "payment_id": "sy_pay_0123456789abcdef",
        "attempt_id": "sy_att_0123456789abcdef",
        "amount": 6540,
        "amount_decimal": "65.40",
        "currency": "EUR",
        "capture_method": "automatic",
        "payment_method_type": "open_banking",
        "payment_method_subtype": "open_banking_pis",
        "description": null,
        "billing": billing,
        "return_url": "http://127.0.0.1:8080/v2/payments/sy_pay_0123456789abcdef/return",
        "card": null,
    })
}

fn documented_billing() -> Value {
    json!({ "address": { "first_name": "Joseph", "last_name": "Doe" }, "email": "joseph@example.com" })
}

fn text_header<'a>(spec: &'a RequestSpec, name: &str) -> Option<&'a str> {
    match spec.headers.get(name) {
        Some(HeaderSpec::Text(v)) => Some(v.as_str()),
        Some(other) => panic!("header {name} is not plain text: {other:?}"),
        None => None,
    }
}

/// Asserts `spec` carries the SDK's headers for the same request, and a signature that verifies.
fn assert_signed_like_the_sdk(spec: &RequestSpec, method: &str) {
    assert!(spec.url.starts_with('/'), "the target is a path: {spec:?}");
    let sdk = reference(method, &spec.url, DATE, REQUEST_ID, spec.body.as_deref());
    assert_eq!(spec.method, method, "{spec:?}");
    assert_eq!(text_header(spec, "Date"), Some(DATE), "{spec:?}");
    assert_eq!(text_header(spec, "X-Request-ID"), Some(REQUEST_ID), "{spec:?}");
    assert_eq!(text_header(spec, "Authorization"), Some("Bearer tok"), "{spec:?}");
    assert_eq!(text_header(spec, "Accept"), Some("application/json"), "{spec:?}");
    assert_eq!(text_header(spec, "Digest"), sdk.digest.as_deref(), "Digest differs from the SDK's: {spec:?}");
    let signature = text_header(spec, "Signature").expect("a Signature header");
    assert_eq!(signature, sdk.signature, "Signature differs from the SDK's (which signed {:?})", sdk.signing_string);
    let value = signature_param(signature, "signature").expect("a signature parameter");
    verifies(&sdk.signing_string, value).expect("the plugin's signature verifies with the public key");
}

#[test]
fn the_authorize_request_is_signed_byte_for_byte_like_the_official_sdk() {
    let connector = plugin_connector();
    let spec = connector
        .build(&pinned_account(), &pins(), "authorize", Some("tok"), &authorize_args(documented_billing()))
        .expect("authorize builds");
    let encoded = url_encode("http://127.0.0.1:8080/v2/payments/sy_pay_0123456789abcdef/return");
    assert_eq!(spec.url, format!("/pis/v2/connect?state=sy_pay_0123456789abcdef&redirect_uri={encoded}"));
    let body = spec.body.as_deref().expect("a body");
    assert_eq!(text_header(&spec, "Content-Type"), Some("application/json"));
    assert_eq!(text_header(&spec, "Digest"), Some(digest_of(body).as_str()));
    let sent: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(
        sent,
        json!({
            "meta": { "psu_name": "Joseph Doe", "psu_email": "joseph@example.com" },
            "data": {
                "type": "PIS",
                "attributes": {
                    "amount": "65.40",
                    "currency": "EUR",
                    "communication": "Payment sy_pay_0123456789abcdef"
                }
            }
        })
    );
    assert_signed_like_the_sdk(&spec, "POST");
    // The private key is used by name only: it is nowhere in what the plugin built.
    let dump = format!("{spec:?}");
    assert!(key_lines().iter().all(|l| !dump.contains(l.as_str())), "{dump}");
}

#[test]
fn the_sync_request_is_signed_byte_for_byte_like_the_official_sdk() {
    let connector = plugin_connector();
    let args = json!({ "attempt_id": "sy_att_0123456789abcdef", "connector_payment_id": "sess_1", "amount": 6540 });
    let spec = connector.build(&pinned_account(), &pins(), "sync", Some("tok"), &args).expect("sync builds");
    assert_eq!(spec.url, "/pis/v2/payments/sess_1");
    assert_eq!(spec.body, None);
    assert_eq!(text_header(&spec, "Digest"), None, "a GET has no digest");
    assert!(
        text_header(&spec, "Signature").unwrap().contains(r#"headers="(request-target) date x-request-id""#),
        "{spec:?}"
    );
    assert_signed_like_the_sdk(&spec, "GET");
}

#[test]
fn the_refund_request_is_signed_byte_for_byte_like_the_official_sdk() {
    let connector = plugin_connector();
    let args = json!({
        "refund_id": "sy_ref_0123456789abcdef",
        "connector_payment_id": "sess_1",
        "amount": 1005,
        "amount_decimal": "10.05",
        "currency": "EUR",
        "reason": null,
    });
    let spec = connector.build(&pinned_account(), &pins(), "refund", Some("tok"), &args).expect("refund builds");
    assert_eq!(spec.url, "/pis/v2/refund");
    let sent: Value = serde_json::from_str(spec.body.as_deref().expect("a body")).unwrap();
    assert_eq!(
        sent,
        json!({
            "meta": { "session_id": "sess_1" },
            "data": { "attributes": { "amount": "10.05", "communication": "Refund sy_ref_0123456789abcdef" } }
        })
    );
    assert_signed_like_the_sdk(&spec, "POST");
}

#[test]
fn a_payment_without_billing_names_the_payer_customer() {
    let connector = plugin_connector();
    let spec = connector
        .build(&pinned_account(), &pins(), "authorize", Some("tok"), &authorize_args(Value::Null))
        .expect("authorize builds without billing");
    let sent: Value = serde_json::from_str(spec.body.as_deref().unwrap()).unwrap();
    assert_eq!(sent["meta"]["psu_name"], "Customer", "{sent}");
    assert!(sent["meta"]["psu_email"].is_null(), "{sent}");
    assert_signed_like_the_sdk(&spec, "POST");
}

// ---- a mock Fintecture --------------------------------------------------------------------------

/// What the mock answers `POST /pis/v2/connect` with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Connect {
    /// A session and the bank-selection page.
    Works,
    /// 503 with Fintecture's JSON error body: nothing was created.
    Unavailable,
    /// 503 with a load balancer's HTML page.
    UnavailableHtml,
    /// 500: a session may have been created.
    ServerError,
}

#[derive(Clone)]
struct MockState {
    connect: Connect,
    /// What `GET /pis/v2/payments/{id}` says in `meta.status`.
    status: Arc<Mutex<String>>,
    seen: Recorder,
    /// What the mock found wrong with a request's credentials or signature, by its place in `seen`.
    problems: Arc<Mutex<HashMap<usize, String>>>,
    /// The applications the mock knows: app id → app secret.
    apps: Arc<HashMap<String, String>>,
    /// Tokens issued: token → the app id it was issued to.
    tokens: Arc<Mutex<HashMap<String, String>>>,
    issued: Arc<AtomicUsize>,
    sessions: Arc<AtomicUsize>,
}

/// A mock Fintecture on a loopback port, serving until dropped.
struct MockFintecture {
    seen: Recorder,
    state: MockState,
    server: MockServer,
}

impl MockFintecture {
    async fn start(connect: Connect) -> Self {
        let state = MockState {
            connect,
            status: Arc::new(Mutex::new("payment_created".into())),
            seen: Default::default(),
            problems: Default::default(),
            apps: Arc::new(HashMap::from([
                (APP_ID.to_string(), APP_SECRET.to_string()),
                (OTHER_APP_ID.to_string(), OTHER_APP_SECRET.to_string()),
            ])),
            tokens: Default::default(),
            issued: Default::default(),
            sessions: Default::default(),
        };
        let app = axum::Router::new().fallback(mock_fintecture).with_state(state.clone());
        let server = MockServer::serve(app).await;
        Self { seen: state.seen.clone(), state, server }
    }

    fn set_status(&self, status: &str) {
        *self.state.status.lock().unwrap() = status.into();
    }

    fn calls(&self, method: &str, path: &str) -> Vec<Seen> {
        self.seen.all().into_iter().filter(|s| s.is(method, path)).collect()
    }

    /// Asserts the mock found nothing wrong with any request.
    fn assert_all_sound(&self) {
        let seen = self.seen.all();
        assert!(!seen.is_empty(), "the mock saw nothing");
        let problems = self.state.problems.lock().unwrap();
        for (i, s) in seen.iter().enumerate() {
            let problem = problems.get(&i);
            assert!(problem.is_none(), "{}: {s:#?}", problem.map(String::as_str).unwrap_or_default());
        }
    }
}

fn fintecture_error(status: u16, code: &str, message: &str) -> Response {
    json_answer(status, json!({ "errors": [{ "code": code, "title": code, "message": message }] }))
}

/// What is wrong with a token request, if anything.
fn check_token_request(state: &MockState, s: &Seen) -> Result<String, String> {
    let basic = s.header("authorization").and_then(|a| a.strip_prefix("Basic ")).ok_or("no Basic authorization")?;
    let decoded = String::from_utf8(B64.decode(basic).map_err(|e| format!("Basic is not base64: {e}"))?)
        .map_err(|e| e.to_string())?;
    let (app_id, secret) = decoded.split_once(':').ok_or("Basic is not app_id:app_secret")?;
    if state.apps.get(app_id).map(String::as_str) != Some(secret) {
        return Err(format!("unknown application or wrong secret for `{app_id}`"));
    }
    if !s.header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        return Err("the token request is not form-encoded".into());
    }
    let mut form = s.form();
    form.sort();
    let want = [("app_id", app_id), ("grant_type", "client_credentials"), ("scope", "PIS")];
    if form.iter().map(|(k, v)| (k.as_str(), v.as_str())).ne(want) {
        return Err(format!("unexpected form {form:?}"));
    }
    Ok(app_id.to_string())
}

/// What is wrong with a signed API call, if anything: Fintecture's checks of the Bearer token,
/// the body digest and the draft-cavage signature over the request as received.
fn check_signed_request(state: &MockState, s: &Seen) -> Result<(), String> {
    let header = s.header("signature").ok_or("no Signature header")?;
    let key_id = signature_param(header, "keyId").ok_or("no keyId")?;
    if !state.apps.contains_key(key_id) {
        return Err(format!("unknown keyId `{key_id}`"));
    }
    if signature_param(header, "algorithm") != Some("rsa-sha256") {
        return Err(format!("algorithm is not rsa-sha256: {header}"));
    }
    let token = s.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).ok_or("no Bearer token")?;
    match state.tokens.lock().unwrap().get(token) {
        Some(owner) if owner == key_id => {}
        Some(owner) => return Err(format!("token `{token}` was issued to `{owner}`, not to `{key_id}`")),
        None => return Err(format!("token `{token}` was never issued")),
    }
    if s.header("accept") != Some("application/json") {
        return Err("Accept is not application/json".into());
    }
    let signed = signature_param(header, "headers").ok_or("no headers parameter")?;
    let expected_names = match s.body.is_empty() {
        true => "(request-target) date x-request-id",
        false => "(request-target) date digest x-request-id",
    };
    if signed != expected_names {
        return Err(format!("signed headers `{signed}`, expected `{expected_names}`"));
    }
    if !s.body.is_empty() {
        if s.header("digest") != Some(digest_of(&s.body).as_str()) {
            return Err(format!("Digest {:?} is not the body's {}", s.header("digest"), digest_of(&s.body)));
        }
        if s.header("content-type") != Some("application/json") {
            return Err("Content-Type is not application/json".into());
        }
    } else if s.header("digest").is_some() {
        return Err("a Digest without a body".into());
    }
    let date = s.header("date").ok_or("no Date")?;
    let when = chrono::DateTime::parse_from_rfc2822(date).map_err(|e| format!("Date `{date}`: {e}"))?;
    if (chrono::Utc::now() - when.with_timezone(&chrono::Utc)).num_seconds().abs() > 300 {
        return Err(format!("Date `{date}` is more than 5 minutes away"));
    }
    let request_id = s.header("x-request-id").ok_or("no X-Request-ID")?;
    if uuid::Uuid::parse_str(request_id).ok().map(|u| u.get_version_num()) != Some(4) {
        return Err(format!("X-Request-ID `{request_id}` is not a UUID v4"));
    }
    let mut lines = Vec::new();
    for name in signed.split(' ') {
        lines.push(match name {
            "(request-target)" => format!("(request-target): {} {}", s.method.to_lowercase(), s.target()),
            _ => format!("{name}: {}", s.header(name).ok_or(format!("signed header {name} missing"))?),
        });
    }
    verifies(&lines.join("\n"), signature_param(header, "signature").ok_or("no signature parameter")?)
}

async fn mock_fintecture(
    State(state): State<MockState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let seen = Seen::from_request(&method, &uri, &headers, body);
    let record = |seen: Seen| state.seen.record(seen);
    let refuse = |seen: Seen, problem: &str| {
        let n = record(seen);
        state.problems.lock().unwrap().insert(n - 1, problem.to_string());
    };
    if seen.is("POST", "/oauth/accesstoken") {
        // Slow enough that payments arriving together all wait on the one fetch.
        tokio::time::sleep(Duration::from_millis(150)).await;
        return match check_token_request(&state, &seen) {
            Ok(app_id) => {
                let token = format!("tok-{}", state.issued.fetch_add(1, Ordering::SeqCst) + 1);
                state.tokens.lock().unwrap().insert(token.clone(), app_id);
                record(seen);
                json_answer(200, json!({ "access_token": token, "token_type": "Bearer", "expires_in": 3600 }))
            }
            Err(problem) => {
                refuse(seen, &problem);
                fintecture_error(401, "invalid_client", &problem)
            }
        };
    }
    if let Err(problem) = check_signed_request(&state, &seen) {
        refuse(seen, &problem);
        return fintecture_error(401, "unauthorized", &problem);
    }
    let segments: Vec<String> = seen.path.trim_start_matches('/').split('/').map(str::to_string).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let response = match (seen.method.as_str(), segments.as_slice()) {
        ("POST", ["pis", "v2", "connect"]) => match state.connect {
            _ if seen.param("state").is_none_or(|s| s.is_empty() || s.len() > 512) => {
                fintecture_error(400, "invalid_state", "state is required (at most 512 characters)")
            }
            Connect::Works => {
                let session = format!("sess_{}", state.sessions.fetch_add(1, Ordering::SeqCst) + 1);
                json_answer(
                    200,
                    json!({ "meta": {
                        "session_id": session,
                        "url": format!("https://connect.example/pay/{session}")
                    } }),
                )
            }
            Connect::Unavailable => fintecture_error(503, "service_unavailable", "Try again later"),
            Connect::UnavailableHtml => {
                answer(503, "text/html", "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>")
            }
            Connect::ServerError => fintecture_error(500, "internal_error", "Something went wrong"),
        },
        ("GET", ["pis", "v2", "payments", session]) => {
            let status = state.status.lock().unwrap().clone();
            json_answer(200, json!({ "meta": { "session_id": session, "status": status }, "data": {} }))
        }
        ("POST", ["pis", "v2", "refund"]) => json_answer(200, json!({ "meta": { "session_id": "ref_1" } })),
        _ => fintecture_error(404, "not_found", "Unknown resource"),
    };
    record(seen);
    response
}

// ---- end to end -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_open_banking_payment_sends_the_payer_to_fintectures_page() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    let body = redirected(&app).await;
    let id = id_of(&body);
    assert_eq!(body["connector"], "fintecture", "{body}");
    assert_eq!(body["merchant_connector_id"], "fintecture", "{body}");
    assert_eq!(body["connector_transaction_id"], "sess_1", "{body}");
    assert_eq!(
        body["next_action"],
        json!({ "type": "redirect_to_url", "redirect_to_url": "https://connect.example/pay/sess_1" }),
        "{body}"
    );
    assert_eq!(body["payment_method_type"], "open_banking", "{body}");
    assert_eq!(body["payment_method_subtype"], "open_banking_pis", "{body}");
    assert_eq!(body["amount"]["amount_captured"], 0, "{body}");
    assert!(body["error"].is_null(), "{body}");
    assert_eq!(attempts(&body).len(), 1, "{body}");
    assert_eq!(body["attempts"][0]["status"], "authentication_pending", "{body}");
    assert_eq!(body["attempts"][0]["connector_payment_id"], "sess_1", "{body}");

    // The token, with the application's credentials.
    let token = mock.seen.only("POST", "/oauth/accesstoken");
    let basic = B64.encode(format!("{APP_ID}:{APP_SECRET}"));
    assert_eq!(token.header("authorization"), Some(format!("Basic {basic}").as_str()), "{token:#?}");
    let mut form = token.form();
    form.sort();
    assert_eq!(
        form,
        [("app_id", APP_ID), ("grant_type", "client_credentials"), ("scope", "PIS")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
    );

    // The session: state is the payment, the payer comes back to the daemon.
    let connect = mock.seen.only("POST", "/pis/v2/connect");
    let back = format!("{}/v2/payments/{id}/return", app.base);
    assert_eq!(connect.param("state").as_deref(), Some(id.as_str()), "{connect:#?}");
    assert_eq!(connect.param("redirect_uri").as_deref(), Some(back.as_str()), "{connect:#?}");
    assert_eq!(
        connect.target(),
        format!("/pis/v2/connect?state={id}&redirect_uri={}", url_encode(&back)),
        "the query is not URL-encoded as sent"
    );
    assert_eq!(connect.header("authorization"), Some("Bearer tok-1"), "{connect:#?}");
    assert_eq!(connect.header("digest"), Some(digest_of(&connect.body).as_str()), "{connect:#?}");
    assert_eq!(
        connect.json(),
        json!({
            "meta": { "psu_name": "Joseph Doe", "psu_email": "joseph@example.com" },
            "data": {
                "type": "PIS",
                "attributes": { "amount": "65.40", "currency": "EUR", "communication": format!("Payment {id}") }
            }
        })
    );
    mock.assert_all_sound();

    // Stored as answered.
    let (status, got) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"], "requires_customer_action", "{got}");
    assert_eq!(got["next_action"]["redirect_to_url"], "https://connect.example/pay/sess_1", "{got}");
    assert_eq!(got["return_url"], RETURN_URL, "{got}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_banking_session_token_is_fintectures_bank_selection_page() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    let (status, created) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "order_amount": 6540, "currency": "EUR" } }))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = id_of(&created);
    let ask = json!({ "payment_id": id, "client_secret": created["client_secret"], "wallets": ["google_pay", "open_banking_pis"] });
    let (status, body) = app.call(Method::POST, "/payments/session_tokens", Some(ACME_PK), None, Some(&ask)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["session_token"],
        json!([
            { "wallet_name": "no_session_token_received" },
            { "wallet_name": "open_banking", "open_banking_session_token": "https://connect.example/pay/sess_1" }
        ]),
        "{body}"
    );

    // The page belongs to a payment session Fintecture opened for this payment, stored as its
    // attempt, so the payer's return, a webhook or a sync settles it like any bank payment.
    let connect = mock.seen.only("POST", "/pis/v2/connect");
    assert_eq!(connect.param("state").as_deref(), Some(id.as_str()), "{connect:#?}");
    mock.assert_all_sound();
    let (status, got) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"], "requires_customer_action", "{got}");
    assert_eq!(got["connector"], "fintecture", "{got}");
    assert_eq!(got["connector_transaction_id"], "sess_1", "{got}");
    assert_eq!(got["payment_method_type"], "open_banking", "{got}");

    // The payment has its method now: asking again is refused and opens nothing more.
    let (status, again) = app.call(Method::POST, "/payments/session_tokens", Some(ACME_PK), None, Some(&ask)).await;
    assert_error(status, &again, 400, "IR_14");
    assert_eq!(mock.calls("POST", "/pis/v2/connect").len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forced_sync_reads_the_session_status_from_fintecture() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    // Fintecture's status → the payment's status, the attempt's, and its error code.
    let cases = [
        ("payment_created", "succeeded", "charged", None),
        ("payment_cancelled", "cancelled", "voided", None),
        ("payment_unsuccessful", "failed", "failure", Some("payment_unsuccessful")),
        ("payment_expired", "failed", "failure", Some("payment_expired")),
        // The plugin maps intermediate statuses it does not name to `pending`: the payment is
        // then `processing`, no longer waiting on the payer.
        ("payment_pending", "processing", "pending", None),
        ("payment_waiting", "processing", "pending", None),
        // While the payer still has to act, it waits on them.
        ("sca_required", "requires_customer_action", "authentication_pending", None),
        ("provider_required", "requires_customer_action", "authentication_pending", None),
    ];
    for (at_fintecture, status, attempt_status, code) in cases {
        let id = id_of(&redirected(&app).await);
        let session = {
            let connects = mock.calls("POST", "/pis/v2/connect");
            let last = connects.last().expect("a connect call");
            assert_eq!(last.param("state").as_deref(), Some(id.as_str()));
            format!("sess_{}", connects.len())
        };
        mock.set_status(at_fintecture);
        let synced = force_sync(&app, &id).await;
        assert_eq!(synced["status"], status, "{at_fintecture}: {synced}");
        assert_eq!(synced["attempts"][0]["status"], attempt_status, "{at_fintecture}: {synced}");
        assert_eq!(synced["connector_transaction_id"], session.as_str(), "{at_fintecture}: {synced}");
        assert_eq!(
            synced["amount"]["amount_captured"],
            if status == "succeeded" { 6540 } else { 0 },
            "{at_fintecture}: {synced}"
        );
        match code {
            Some(code) => {
                assert_eq!(synced["error"]["code"], code, "{at_fintecture}: {synced}");
                assert_eq!(synced["error"]["message"], format!("Fintecture: {code}"), "{at_fintecture}: {synced}");
            }
            None => assert!(synced["error"].is_null(), "{at_fintecture}: {synced}"),
        }
        let read = mock.seen.only("GET", &format!("/pis/v2/payments/{session}"));
        assert!(read.body.is_empty() && read.header("digest").is_none(), "{read:#?}");
        assert_eq!(read.header("authorization"), Some("Bearer tok-1"), "{read:#?}");
        let (_, stored) = app.get(&format!("/v2/payments/{id}")).await;
        assert_eq!(stored["status"], status, "the sync is stored: {stored}");
    }

    // A payment left processing settles at a later sync.
    let id = id_of(&redirected(&app).await);
    mock.set_status("payment_pending");
    assert_eq!(force_sync(&app, &id).await["status"], "processing");
    mock.set_status("payment_created");
    let settled = force_sync(&app, &id).await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(settled["amount"]["amount_captured"], 6540, "{settled}");

    mock.assert_all_sound();
    assert_eq!(mock.calls("POST", "/oauth/accesstoken").len(), 1, "the token is reused");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_payers_return_syncs_and_sends_them_to_the_return_url() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    let id = id_of(&redirected(&app).await);
    mock.set_status("payment_created");
    let res = payer_returns(&app, &id).await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    assert_eq!(location(&res), Some(format!("{RETURN_URL}?id={id}&status=succeeded")));
    mock.seen.only("GET", "/pis/v2/payments/sess_1");
    let (_, stored) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(stored["status"], "succeeded", "{stored}");
    assert_eq!(stored["amount"]["amount_captured"], 6540, "{stored}");
    assert_eq!(stored["attempts"][0]["status"], "charged", "{stored}");

    // Coming back again (a reload) sends them on without asking Fintecture again.
    let again = payer_returns(&app, &id).await;
    assert_eq!(again.status(), 303);
    assert_eq!(location(&again), Some(format!("{RETURN_URL}?id={id}&status=succeeded")));
    assert_eq!(mock.calls("GET", "/pis/v2/payments/sess_1").len(), 1);

    // A payment the payer did not approve, whatever the parameters of the return claim.
    let id = id_of(&redirected(&app).await);
    mock.set_status("payment_unsuccessful");
    let res = payer_returns_claiming(&app, &id, "sess_2", "payment_created").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), Some(format!("{RETURN_URL}?id={id}&status=failed")));
    mock.seen.only("GET", "/pis/v2/payments/sess_2");
    let (_, stored) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(stored["status"], "failed", "{stored}");
    assert_eq!(stored["error"]["code"], "payment_unsuccessful", "{stored}");

    // One the bank has not settled yet: the payer goes on, the payment waits for a sync.
    let id = id_of(&redirected(&app).await);
    mock.set_status("payment_pending");
    let res = payer_returns_claiming(&app, &id, "sess_3", "payment_pending").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), Some(format!("{RETURN_URL}?id={id}&status=processing")));
    mock.seen.only("GET", "/pis/v2/payments/sess_3");
    mock.assert_all_sound();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_is_sent_signed_and_stays_pending() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    let id = id_of(&redirected(&app).await);
    mock.set_status("payment_created");
    assert_eq!(force_sync(&app, &id).await["status"], "succeeded");

    let (status, refund) =
        app.post("/v2/refunds", json!({ "payment_id": id, "merchant_reference_id": "refund-1" })).await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["status"], "pending", "{refund}");
    assert_eq!(refund["amount"], 6540, "{refund}");
    assert_eq!(refund["connector"], "fintecture", "{refund}");
    assert_eq!(refund["merchant_connector_id"], "fintecture", "{refund}");
    assert_eq!(refund["connector_refund_reference_id"], "ref_1", "{refund}");
    assert!(refund["error_details"].is_null(), "{refund}");
    let refund_id = id_of(&refund);

    let sent = mock.seen.only("POST", "/pis/v2/refund");
    assert_eq!(
        sent.json(),
        json!({
            "meta": { "session_id": "sess_1" },
            "data": { "attributes": { "amount": "65.40", "communication": format!("Refund {refund_id}") } }
        })
    );
    assert_eq!(sent.header("digest"), Some(digest_of(&sent.body).as_str()), "{sent:#?}");
    assert_eq!(sent.header("authorization"), Some("Bearer tok-1"), "{sent:#?}");
    mock.assert_all_sound();

    let (status, got) = app.get(&format!("/v2/refunds/{refund_id}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"], "pending", "{got}");
    assert_eq!(got["connector_refund_reference_id"], "ref_1", "{got}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_refund_sends_the_amount_in_major_units() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    let id = id_of(&redirected(&app).await);
    assert_eq!(force_sync(&app, &id).await["status"], "succeeded");
    let (status, refund) =
        app.post("/v2/refunds", json!({ "payment_id": id, "merchant_reference_id": "part-1", "amount": 1005 })).await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["status"], "pending", "{refund}");
    let sent = mock.seen.only("POST", "/pis/v2/refund");
    assert_eq!(sent.json()["data"]["attributes"]["amount"], "10.05", "{sent:#?}");
    mock.assert_all_sound();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_payments_share_one_access_token() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    let payments: Vec<Value> = join_all((0..8).map(|_| pay(&app, ob_payment()))).await;
    for body in &payments {
        assert_eq!(body["status"], "requires_customer_action", "{body}");
    }
    assert_eq!(mock.calls("POST", "/oauth/accesstoken").len(), 1, "{:#?}", mock.seen.all());
    let connects = mock.calls("POST", "/pis/v2/connect");
    assert_eq!(connects.len(), 8);
    assert!(connects.iter().all(|c| c.header("authorization") == Some("Bearer tok-1")), "{connects:#?}");
    mock.assert_all_sound();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_token_flow_fetches_once_then_reuses_the_token() {
    use switchyard::connectors::Connector;
    let mock = MockFintecture::start(Connect::Works).await;
    let connector = plugin_connector();
    let account = Account::from_config("web", &fintecture_account("fintecture", &mock.server.url));
    assert_eq!(connector.access_token(&account).await.unwrap().as_deref(), Some("tok-1"));
    assert_eq!(connector.access_token(&account).await.unwrap().as_deref(), Some("tok-1"));
    assert_eq!(mock.calls("POST", "/oauth/accesstoken").len(), 1);
    mock.assert_all_sound();
    // A connector whose calls carry only credentials has no token to give.
    let stripe = switchyard::connectors::stripe::Stripe::new(reqwest::Client::new(), "http://127.0.0.1:8080");
    assert_eq!(stripe.access_token(&account).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_of_different_merchants_each_get_their_own_token() {
    let mock = MockFintecture::start(Connect::Works).await;
    let dir = TempDir::new().expect("temp dir");
    let mut config = config_with(dir.path(), vec![fintecture_account("fintecture", &mock.server.url)], &["fintecture"]);
    // globex has its own Fintecture application, under the same account name.
    let mut theirs = fintecture_account("fintecture", &mock.server.url);
    theirs.credentials = credentials(OTHER_APP_ID, OTHER_APP_SECRET);
    let web = config.merchants.get_mut("globex").unwrap().profiles.get_mut("web").unwrap();
    web.connector_accounts = vec![theirs];
    web.fallback = vec!["fintecture".into()];
    let app = TestApp::start_with(dir, config).await;

    let ours = redirected(&app).await;
    assert_eq!(ours["connector_transaction_id"], "sess_1", "{ours}");
    let (status, theirs) =
        app.call(reqwest::Method::POST, "/v2/payments", Some(GLOBEX_KEY), Some("web"), Some(&ob_payment())).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["status"], "requires_customer_action", "globex's payment: {theirs}");

    let tokens = mock.calls("POST", "/oauth/accesstoken");
    assert_eq!(tokens.len(), 2, "one token per application: {tokens:#?}");
    let connects = mock.calls("POST", "/pis/v2/connect");
    assert_eq!(connects.len(), 2, "{connects:#?}");
    assert_eq!(signature_param(connects[1].header("signature").unwrap(), "keyId"), Some(OTHER_APP_ID));
    assert_eq!(connects[1].header("authorization"), Some("Bearer tok-2"), "{connects:#?}");
    mock.assert_all_sound();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_request_lets_the_next_account_try() {
    let mock = MockFintecture::start(Connect::Works).await;
    let mut wrong = fintecture_account("fin_wrong_secret", &mock.server.url);
    wrong.credentials.insert("app_secret".into(), SecretValue::Literal("not-the-secret".into()));
    let app = start_with_accounts(
        vec![wrong, fintecture_account("fintecture", &mock.server.url)],
        &["fin_wrong_secret", "fintecture"],
    )
    .await;
    let body = redirected(&app).await;
    assert_eq!(body["merchant_connector_id"], "fintecture", "{body}");
    let tried = attempts(&body);
    assert_eq!(tried.len(), 2, "{body}");
    assert_eq!(tried[0]["merchant_connector_id"], "fin_wrong_secret", "{body}");
    assert_eq!(tried[0]["status"], "failure", "{body}");
    assert_eq!(tried[0]["error"]["code"], "connector_not_taken", "{body}");
    assert_eq!(tried[1]["status"], "authentication_pending", "{body}");
    assert_eq!(mock.calls("POST", "/oauth/accesstoken").len(), 2);
    assert_eq!(mock.calls("POST", "/pis/v2/connect").len(), 1);
    app.stop().await;
}

/// Routing passes over an account whose connector does not take the payment, so a payment
/// only Fintecture could take, which Fintecture does not, is refused before anything is stored.
async fn assert_not_taken(app: &TestApp, mock: &MockFintecture, body: Value) {
    let (status, got) = app.post("/v2/payments", body).await;
    let message = assert_error(status, &got, 400, "IR_20");
    assert!(message.contains("no enabled connector account can take this payment"), "{message}");
    assert_eq!(app.count("payment_intents").await, 0);
    assert!(mock.seen.all().is_empty(), "Fintecture was called: {:#?}", mock.seen.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_in_another_currency_than_eur_is_not_taken() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    assert_not_taken(&app, &mock, ob_payment_in("USD")).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_payment_is_not_taken() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    assert_not_taken(&app, &mock, payment("4242424242424242")).await;
    // Nor in euros.
    let mut in_eur = payment("4242424242424242");
    in_eur["amount_details"]["currency"] = json!("EUR");
    assert_not_taken(&app, &mock, in_eur).await;
    app.stop().await;
}

/// A daemon paying through `fin_down` (at `down`) first and `fin_up` (at `up`) second.
async fn down_then_up(down: &MockFintecture, up: &MockFintecture) -> TestApp {
    start_with_accounts(
        vec![fintecture_account("fin_down", &down.server.url), fintecture_account("fin_up", &up.server.url)],
        &["fin_down", "fin_up"],
    )
    .await
}

fn assert_fell_through(body: &Value) {
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    assert_eq!(body["merchant_connector_id"], "fin_up", "{body}");
    let tried = attempts(body);
    assert_eq!(tried.len(), 2, "{body}");
    assert_eq!(tried[0]["merchant_connector_id"], "fin_down", "{body}");
    assert_eq!(tried[0]["status"], "failure", "{body}");
    assert_eq!(tried[0]["error"]["code"], "connector_not_taken", "{body}");
    assert_eq!(tried[1]["merchant_connector_id"], "fin_up", "{body}");
    assert_eq!(tried[1]["status"], "authentication_pending", "{body}");
    assert_eq!(body["connector_transaction_id"], "sess_1", "{body}");
    assert!(body["error"].is_null(), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unavailability_on_connect_falls_through_to_the_next_account() {
    let down = MockFintecture::start(Connect::Unavailable).await;
    let up = MockFintecture::start(Connect::Works).await;
    let app = down_then_up(&down, &up).await;
    let body = pay(&app, ob_payment()).await;
    assert_fell_through(&body);
    down.seen.only("POST", "/pis/v2/connect");
    up.seen.only("POST", "/pis/v2/connect");
    down.assert_all_sound();
    up.assert_all_sound();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unavailability_with_an_html_page_falls_through_too() {
    let down = MockFintecture::start(Connect::UnavailableHtml).await;
    let up = MockFintecture::start(Connect::Works).await;
    let app = down_then_up(&down, &up).await;
    let body = pay(&app, ob_payment()).await;
    assert_fell_through(&body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_on_connect_leaves_the_payment_processing() {
    let down = MockFintecture::start(Connect::ServerError).await;
    let up = MockFintecture::start(Connect::Works).await;
    let app = down_then_up(&down, &up).await;
    let body = pay(&app, ob_payment()).await;
    assert_eq!(body["status"], "processing", "{body}");
    let tried = attempts(&body);
    assert_eq!(tried.len(), 1, "the second account was tried: {body}");
    assert_eq!(tried[0]["merchant_connector_id"], "fin_down", "{body}");
    assert_eq!(tried[0]["status"], "pending", "{body}");
    assert_eq!(tried[0]["error"]["code"], "connector_no_clear_answer", "{body}");
    assert!(body["next_action"].is_null(), "{body}");
    down.seen.only("POST", "/pis/v2/connect");
    assert!(up.seen.all().is_empty(), "{:#?}", up.seen.all());
    let (_, stored) = app.get(&format!("/v2/payments/{}", id_of(&body))).await;
    assert_eq!(stored["status"], "processing", "{stored}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_without_billing_is_taken() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    let mut body = ob_payment();
    body["payment_method_data"].as_object_mut().unwrap().remove("billing");
    let body = pay(&app, body).await;
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    let connect = mock.seen.only("POST", "/pis/v2/connect");
    assert_eq!(connect.json()["meta"]["psu_name"], "Customer", "{connect:#?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_private_key_never_leaves_the_daemon() {
    let mock = MockFintecture::start(Connect::Works).await;
    let app = app_for(&mock).await;
    let mut answers = Vec::new();
    let first = redirected(&app).await;
    let id = id_of(&first);
    answers.push(first);
    answers.push(force_sync(&app, &id).await);
    let (_, refund) = app.post("/v2/refunds", json!({ "payment_id": id, "merchant_reference_id": "r-1" })).await;
    answers.push(refund);
    answers.push(app.post("/v2/payments", ob_payment_in("USD")).await.1);
    let returned = payer_returns(&app, &id).await;
    let headers = format!("{:?}", returned.headers());
    answers.push(Value::String(format!("{headers} {}", returned.text().await.unwrap())));

    let lines = key_lines();
    assert!(!lines.is_empty());
    for answer in &answers {
        let text = answer.to_string();
        for line in &lines {
            assert!(!text.contains(line.as_str()), "the private key is in an answer: {text}");
        }
        assert!(!text.contains(APP_SECRET), "the app secret is in an answer: {text}");
    }
    // Fintecture gets signatures, never the key; the app secret only in the token request's Basic.
    for s in mock.seen.all() {
        let all = format!("{} {:?} {}", s.target(), s.headers, s.body);
        assert!(lines.iter().all(|l| !all.contains(l.as_str())), "the private key was sent: {s:#?}");
        assert!(!all.contains(APP_SECRET), "the app secret was sent in clear: {s:#?}");
    }

    let mut secrets: Vec<&str> = lines.iter().map(String::as_str).collect();
    secrets.push(APP_SECRET);
    app.stop_holding_none_of(&secrets).await;
}
