//! The daemon's own OpenAPI document, fetched from a running daemon: it parses as OpenAPI 3,
//! documents every route the router serves (and serves every route it documents), needs no
//! key, and keeps Hyperswitch's names and shapes where switchyard's API follows them.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use reqwest::Method;
use serde_json::Value;

/// Routes served but left out of the document, and why.
const UNDOCUMENTED: &[(&str, &str, &str)] = &[
    ("GET", "/v2/payments/{id}/return", "a browser's way back from a provider's page: a redirect or an HTML page"),
    ("GET", "/sandbox/authenticate/{payment_id}", "the sandbox's 3-D Secure page, HTML for a browser"),
    ("POST", "/sandbox/authenticate/{payment_id}", "the sandbox page's form, for a browser"),
    ("GET", "/payment-links/{payment_id}/{payment_link_id}", "a payment link's page, HTML for a payer's browser"),
    ("GET", "/payment-links/assets/page.js", "the payment link page's script"),
    ("GET", "/payment-links/assets/page.css", "the payment link page's style"),
    ("GET", "/metrics", "Prometheus' text exposition, for a scraper"),
];

async fn document(app: &TestApp) -> Value {
    // No key: the document is public.
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None, None).await;
    assert_eq!(status, 200, "{doc}");
    doc
}

/// Every `.route("<path>", <method router>)` in the source, as (METHOD, path).
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for call in source.split(".route(").skip(1) {
            // The call's arguments: up to the parenthesis that closes it.
            let mut depth = 1;
            let end = call
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap_or_else(|| panic!("an unclosed .route( in {}", path.display()));
            let args = &call[..end];
            let Some(route) = args.trim_start().strip_prefix('"').and_then(|r| r.split('"').next()) else {
                continue;
            };
            let methods = &args[route.len() + 2..];
            let mut found = false;
            for method in ["get", "post", "put", "delete", "patch"] {
                let calls = methods.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0 || !methods.as_bytes()[i - 1].is_ascii_alphanumeric() && methods.as_bytes()[i - 1] != b'_'
                });
                if calls {
                    routes.insert((method.to_uppercase(), route.to_string()));
                    found = true;
                }
            }
            assert!(found, "no method for route {route} in {}", path.display());
        }
    }
    routes
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_parses_as_openapi_3_and_needs_no_key() {
    let app = TestApp::start().await;
    let res = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "switchyard");
    // An independent reader of OpenAPI 3.1 takes it whole, every operation and schema.
    let spec = oas3::from_json(doc.to_string()).expect("an OpenAPI 3.1 document");
    assert_eq!(spec.validate_version().expect("a version it reads").major, 3);
    let operations: usize = doc["paths"].as_object().unwrap().values().map(|ops| ops.as_object().unwrap().len()).sum();
    assert_eq!(spec.operations().count(), operations);
    let schemas = spec.components.as_ref().map(|c| c.schemas.len()).unwrap_or_default();
    assert_eq!(schemas, doc["components"]["schemas"].as_object().unwrap().len());
    // Served as generated, the same on every call.
    assert_eq!(document(&app).await, doc);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_the_router_serves_is_documented() {
    let app = TestApp::start().await;
    let doc = document(&app).await;
    let in_source = routes_in_source();
    let documented = documented(&doc);
    let left_out: BTreeSet<(String, String)> =
        UNDOCUMENTED.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    assert!(in_source.len() > 20, "the source scan found {in_source:?}");
    let missing: Vec<_> = in_source.difference(&documented).filter(|r| !left_out.contains(r)).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    let stale: Vec<_> = left_out.difference(&in_source).collect();
    assert!(stale.is_empty(), "left out of the document but no longer served: {stale:?}");
    // And the other way: every documented operation is routed (the router's own 404 names no route).
    for (method, path) in &documented {
        let path = path.replace('{', "x").replace('}', "");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = app.call(method.clone(), &path, None, None, None).await;
        let unrouted = status == 404 && body["error"]["message"].as_str().is_some_and(|m| m.starts_with("no route"));
        assert!(!unrouted, "{method} {path} is documented but not routed: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_say_how_they_authenticate_and_how_they_fail() {
    let app = TestApp::start().await;
    let doc = document(&app).await;
    let schemes = doc["components"]["securitySchemes"].as_object().expect("security schemes");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "api-key");
    assert_eq!(schemes["publishable_key"]["name"], "api-key");
    assert_eq!(schemes["publishable_key__client_secret"]["name"], "Authorization");
    let security = |method: &str, path: &str| -> Vec<String> {
        let op = &doc["paths"][path][method];
        op["security"].as_array().into_iter().flatten().flat_map(|r| r.as_object().unwrap().keys().cloned()).collect()
    };
    assert_eq!(security("post", "/v2/payments"), ["api_key"]);
    assert_eq!(security("post", "/payments/session_tokens"), ["publishable_key"]);
    assert_eq!(security("post", "/v2/payment-method-sessions/{id}/confirm"), ["publishable_key__client_secret"]);
    assert!(security("get", "/health").is_empty() && security("get", "/openapi.json").is_empty());
    // The secret key's operations take the profile header, which a merchant with one profile
    // may leave out.
    let params = doc["paths"]["/v2/payments"]["post"]["parameters"].as_array().unwrap();
    assert!(params.iter().any(|p| p["name"] == "X-Profile-Id" && p["in"] == "header" && p["required"] == false));
    // A browser confirms with the publishable key and the client secret; the server with its key.
    assert_eq!(security("post", "/v2/payments/{id}/confirm-intent"), ["api_key", "publishable_key__client_secret"]);
    // The error body is Hyperswitch's, with the status codes the code answers.
    let error = &doc["components"]["schemas"]["ApiErrorBody"];
    let fields: BTreeSet<&str> = error["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, BTreeSet::from(["type", "message", "code"]));
    let responses = doc["paths"]["/v2/payments"]["post"]["responses"].as_object().unwrap();
    let statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
    assert_eq!(statuses, ["200", "400", "401", "404", "408", "422", "429", "503", "504"]);
    assert!(responses["429"]["headers"]["Retry-After"].is_object());
    // What the document says of an error is what the daemon answers.
    let (status, body) = app.call(Method::POST, "/v2/payments", None, None, Some(&Value::Null)).await;
    assert_error(status, &body, 401, "IR_01");
    assert!(responses["401"]["description"].as_str().unwrap().contains("IR_01"));
}

/// Found by schemathesis: a Google Pay session token answered `wallet_name` beside the fields of
/// `GooglePaySession`, whose schema (from `deny_unknown_fields`, there for reading account
/// metadata) refused any other property, so no token answer fitted the document.
#[tokio::test(flavor = "multi_thread")]
async fn session_token_answers_fit_their_schemas() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut wallets = localstripe::stripe_account("wallets", "http://127.0.0.1:9");
    let metadata = serde_json::json!({
        "publishable_key": "pk_test_openapi", "country_code": "FR",
        "google_pay": { "merchant_info": { "merchant_name": "Acme Shop" } },
        "apple_pay": { "payment_request_data": { "label": "Acme Shop", "merchant_identifier": "merchant.com.acme" } }
    });
    wallets.metadata = metadata.as_object().cloned().unwrap();
    let config = config_with(dir.path(), vec![sandbox_account("sandbox"), wallets], &["sandbox", "wallets"]);
    let app = TestApp::start_with(dir, config).await;
    let doc = document(&app).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let intent = serde_json::json!({ "amount_details": { "currency": "EUR", "order_amount": 1200 } });
    let (status, intent) = app.post("/v2/payments/create-intent", intent).await;
    assert_eq!(status, 200, "{intent}");
    let body = serde_json::json!({ "payment_id": intent["id"], "client_secret": intent["client_secret"],
                                   "wallets": ["google_pay", "apple_pay"] });
    let (status, answer) = app.call(Method::POST, "/payments/session_tokens", Some(ACME_PK), None, Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    let tokens = answer["session_token"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{answer}");
    let branches = schemas["SessionToken"]["oneOf"].as_array().unwrap();
    for token in tokens {
        let wallet = &token["wallet_name"];
        let branch = branches
            .iter()
            .find(|b| properties_of_branch(b).1 == Some(wallet.clone()))
            .unwrap_or_else(|| panic!("no SessionToken branch for {wallet}"));
        let (parts, _) = properties_of_branch(branch);
        let mut allowed = BTreeSet::new();
        for part in parts {
            let part = match part["$ref"].as_str() {
                Some(r) => &schemas[r.strip_prefix("#/components/schemas/").unwrap()],
                None => part,
            };
            assert_ne!(part["additionalProperties"], false, "{wallet}: a part refuses the others' properties");
            allowed.extend(part["properties"].as_object().unwrap().keys().cloned());
        }
        for field in token.as_object().unwrap().keys() {
            assert!(allowed.contains(field), "{wallet}: `{field}` is not in the document");
        }
    }
    app.stop().await;
}

/// A `oneOf` branch of an internally tagged enum: its `allOf` parts, and the tag value.
fn properties_of_branch(branch: &Value) -> (Vec<&Value>, Option<Value>) {
    let parts: Vec<&Value> = match branch["allOf"].as_array() {
        Some(parts) => parts.iter().collect(),
        None => vec![branch],
    };
    let tag = parts.iter().find_map(|p| p["properties"]["wallet_name"]["enum"][0].as_str()).map(Value::from);
    (parts, tag)
}

/// The property names of an object schema, with those of the schemas it is `allOf` (serde's
/// `flatten`).
fn properties(schemas: &serde_json::Map<String, Value>, schema: &Value) -> BTreeSet<String> {
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        return properties(schemas, &schemas[name]);
    }
    let mut names: BTreeSet<String> =
        schema["properties"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(properties(schemas, part));
    }
    names
}

/// Hyperswitch's v2 document, where the project keeps it beside the repository (`shared/`).
fn hyperswitch() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hyperswitch/openapi_spec_v2.json");
    let text = std::fs::read_to_string(path).expect("Hyperswitch's document is in the fixtures");
    serde_json::from_str(&text).expect("Hyperswitch's document parses")
}

/// The wire types whose fields are compared with Hyperswitch's.
const COMPARED: &[&str] = &[
    "PaymentsRequest",
    "PaymentsCreateIntentRequest",
    "PaymentsConfirmIntentRequest",
    "PaymentsCaptureRequest",
    "PaymentsCancelRequest",
    "PaymentsResponse",
    "PaymentsIntentResponse",
    "PaymentAttemptResponse",
    "RefundsCreateRequest",
    "RefundResponse",
    "CustomerResponse",
    "CustomerDeleteResponse",
    "PaymentMethodResponse",
    "PaymentMethodSessionResponse",
    "PaymentsUpdateIntentRequest",
    "PaymentListResponse",
    "PaymentsListResponseItem",
    "PaymentMethodListResponseForPayments",
    "CustomerPaymentMethodResponseItem",
    "RefundListRequest",
    "RefundListResponse",
    "RefundMetadataUpdateRequest",
    "AmountDetails",
    "Address",
    "AddressDetails",
    "PhoneDetails",
];

#[tokio::test(flavor = "multi_thread")]
async fn shapes_follow_hyperswitch() {
    let app = TestApp::start().await;
    let doc = document(&app).await;
    let ours = doc["components"]["schemas"].as_object().unwrap();
    // The wire types keep Hyperswitch's names.
    for name in COMPARED.iter().chain(&[
        "CustomerRequest",
        "CustomerUpdateRequest",
        "PaymentMethodCreate",
        "PaymentMethodIntentCreate",
        "PaymentMethodIntentConfirm",
        "CustomerPaymentMethodsListResponse",
        "PaymentMethodSessionRequest",
        "PaymentMethodSessionConfirmRequest",
        "PaymentsSessionRequest",
        "PaymentsSessionResponse",
        "Currency",
        "CountryAlpha2",
        "IntentStatus",
        "AttemptStatus",
        "RefundStatus",
        "CaptureMethod",
        "AuthenticationType",
        "StorageType",
        "CardNetwork",
    ]) {
        assert!(ours.contains_key(*name), "no schema {name}");
    }
    let enum_of = |schemas: &serde_json::Map<String, Value>, name: &str| -> BTreeSet<String> {
        schemas[name]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(enum_of(ours, "CaptureMethod"), BTreeSet::from(["automatic".into(), "manual".into()]));
    assert_eq!(ours["PaymentsRequest"]["additionalProperties"], false);
    assert_eq!(ours["Card"]["properties"]["card_number"]["$ref"], "#/components/schemas/CardNumber");
    let hs = hyperswitch();
    let theirs = hs["components"]["schemas"].as_object().unwrap();
    // Every value of ours is one of theirs; Currency is the same list.
    for name in ["Currency", "IntentStatus", "AttemptStatus", "RefundStatus", "CaptureMethod", "StorageType"] {
        let (mine, hers) = (enum_of(ours, name), enum_of(theirs, name));
        assert!(mine.is_subset(&hers), "{name}: {:?} are not Hyperswitch's", mine.difference(&hers));
    }
    assert_eq!(enum_of(ours, "Currency"), enum_of(theirs, "Currency"));
    assert!(enum_of(ours, "CardNetwork").is_subset(&enum_of(theirs, "CardNetwork")));
    // The fields of a request or response that both have are Hyperswitch's, bar a few of ours.
    let ours_only: BTreeMap<&str, &[&str]> = BTreeMap::from([
        // How routing chose an attempt's account, and the profile (not in Hyperswitch's answer).
        ("PaymentsResponse", &["profile_id"][..]),
        ("PaymentAttemptResponse", &["merchant_connector_id", "routing", "connector_payment_id"][..]),
        // The response's names for the overrides, accepted too.
        ("AmountDetails", &["external_tax_calculation", "surcharge_calculation"][..]),
        ("PaymentsCreateIntentRequest", &["session_expiry", "browser_info", "is_iframe_redirection_enabled"][..]),
        ("PaymentsUpdateIntentRequest", &["browser_info", "is_iframe_redirection_enabled"][..]),
        ("PaymentsRequest", &["session_expiry", "payment_method_id"][..]),
        ("RefundsCreateRequest", &["merchant_id"][..]),
        // The request's `psp_tokenization`, shown back.
        ("PaymentMethodSessionResponse", &["psp_tokenization"][..]),
    ]);
    for &name in COMPARED {
        let fields = |schemas: &serde_json::Map<String, Value>| properties(schemas, &schemas[name]);
        let allowed: BTreeSet<String> =
            ours_only.get(name).into_iter().flat_map(|f| f.iter().map(|f| f.to_string())).collect();
        let extra: Vec<String> =
            fields(ours).difference(&fields(theirs)).filter(|f| !allowed.contains(*f)).cloned().collect();
        assert!(extra.is_empty(), "{name}: {extra:?} are not Hyperswitch's");
    }
}
