//! schemathesis (from PyPI, pinned) against a daemon on loopback, driven by the daemon's own
//! `/openapi.json`: every operation, with generated valid and invalid requests, must answer
//! without a server error, with a status code, content type, headers and body the document
//! gives for it.
//!
//! The daemon runs the test configuration: acme/web pays through the sandbox connector, and
//! has a Stripe account whose metadata sets up Google Pay and Apple Pay, so that session tokens
//! are answered (tokens need no call; payments that fall through to it get 503). Before the run, the test makes
//! objects of every kind (customers, payments, refunds, saved cards, payment-method sessions)
//! and hands their ids to schemathesis as dictionaries, so that generated requests reach past
//! "not found" into the flows; each security scheme gets its key, and payment-method-session
//! calls the client secret of a session. The run is bounded: a fixed number of cases per
//! operation and phase, a fixed seed.

use crate::common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// The pinned version: the checks and options below were written against it.
const VERSION: &str = "4.32.5";
/// The venv schemathesis goes in, apart from the other test peers.
const VENV: &str = "test-venv-schemathesis";
/// Cases per operation in each generating phase (some 5,500 requests in about 40 s), and the
/// seed; `SCHEMATHESIS_MAX_EXAMPLES` and `SCHEMATHESIS_SEED` change them for a longer hunt.
const MAX_EXAMPLES: u32 = 60;
const SEED: u32 = 20261121;
/// The run is stopped past this, and the test fails.
const TIME_LIMIT: Duration = Duration::from_secs(8 * 60);

/// What every response is checked for. For a hunt, `SCHEMATHESIS_CHECKS` asks for others and
/// `SCHEMATHESIS_ARGS` adds options (`--report har`, say).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

const CARD: &str = "4242424242424242";

/// A Stripe account set up for both wallets, at an address where nothing listens.
fn wallets_account() -> switchyard::config::ConnectorAccountConfig {
    let mut account = localstripe::stripe_account("wallets", "http://127.0.0.1:9");
    let metadata = json!({
        "publishable_key": "pk_test_schemathesis",
        "country_code": "FR",
        "google_pay": { "merchant_info": { "merchant_name": "Acme Shop", "merchant_id": "BCR2DN4T0001" } },
        "apple_pay": { "payment_request_data": { "label": "Acme Shop", "merchant_identifier": "merchant.com.acme" } }
    });
    account.metadata = metadata.as_object().cloned().expect("an object");
    account
}

/// Ids of objects made before the run, as schemathesis dictionaries: name, ids.
type Seeds = BTreeMap<&'static str, Vec<String>>;

async fn made(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, answer) = app.post(path, body).await;
    assert_eq!(status, 200, "POST {path}: {answer}");
    answer
}

async fn seed(app: &TestApp) -> Seeds {
    let mut seeds = Seeds::new();
    let mut add = |dictionary: &'static str, id: &str| seeds.entry(dictionary).or_default().push(id.to_string());
    // Payments: one to read and refund, one each to capture and to cancel, intents to confirm
    // and to ask session tokens for (with their client secrets).
    for (dictionary, capture) in [("payments", "automatic"), ("capturable", "manual"), ("cancellable", "manual")] {
        let body = with(payment(CARD), json!({ "capture_method": capture }));
        let id = id_of(&made(app, "/v2/payments", body).await);
        add("payments", &id);
        add(dictionary, &id);
    }
    for dictionary in ["intents", "intents", "token_intents"] {
        let intent = json!({ "amount_details": { "currency": "EUR", "order_amount": 1200 } });
        let intent = made(app, "/v2/payments/create-intent", intent).await;
        add("payments", &id_of(&intent));
        add(dictionary, &id_of(&intent));
        if dictionary == "token_intents" {
            add("token_secrets", str_of(&intent, "/client_secret"));
        }
    }
    let paid = seeds["payments"][0].clone();
    let refund = json!({ "payment_id": paid, "merchant_reference_id": "seed_refund", "amount": 100 });
    let refund = made(app, "/v2/refunds", refund).await;
    let mut add = |dictionary: &'static str, id: &str| seeds.entry(dictionary).or_default().push(id.to_string());
    add("refunds", &id_of(&refund));
    add("refundable", &paid);
    // Customers, with saved cards, card intents and a payment-method session; the deletes get
    // objects of their own.
    let mut customers = Vec::new();
    for (dictionary, name) in [("customers", "Ada"), ("customers", "Grace"), ("doomed_customers", "Hedy")] {
        let customer = json!({ "name": name, "email": format!("{}@example.com", name.to_lowercase()) });
        let id = id_of(&made(app, "/v2/customers", customer).await);
        add(dictionary, &id);
        customers.push(id);
    }
    let card = json!({ "card_number": CARD, "card_exp_month": "10", "card_exp_year": "2035",
                       "card_holder_name": "Ada Lovelace", "card_cvc": "123" });
    let method = json!({ "customer_id": customers[0], "payment_method_type": "card",
                         "payment_method_data": { "card": card }, "storage_type": "persistent" });
    for dictionary in ["payment_methods", "doomed_payment_methods"] {
        add(dictionary, &id_of(&made(app, "/v2/payment-methods", method.clone()).await));
    }
    for customer in &customers[..2] {
        let intent = made(app, "/v2/payment-methods/create-intent", json!({ "customer_id": customer })).await;
        add("method_intents", &id_of(&intent));
    }
    let session = json!({ "customer_id": customers[0], "storage_type": "volatile", "expires_in": 3600 });
    // The first session's client secret is the one schemathesis is given; the second's is not.
    for dictionary in ["method_sessions", "other_sessions"] {
        let made = made(app, "/v2/payment-method-sessions", session.clone()).await;
        add(dictionary, &id_of(&made));
        if dictionary == "method_sessions" {
            add("method_session_secret", str_of(&made, "/client_secret"));
        }
    }
    add("merchants", "acme");
    add("accounts", "sandbox");
    seeds
}

/// A TOML array of strings.
fn toml_list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The schemathesis configuration: keys for each security scheme, the seeds as dictionaries,
/// and which operations draw their ids from which.
fn schemathesis_config(seeds: &Seeds) -> String {
    let mut toml = String::new();
    let secret = &seeds["method_session_secret"][0];
    writeln!(
        toml,
        r#"headers = {{ "X-Profile-Id" = "web" }}

[generation]
database = "none"

[auth.openapi.api_key]
api_key = "{ACME_KEY}"

[auth.openapi.publishable_key]
api_key = "{ACME_PK}"

[auth.openapi.publishable_key__client_secret]
api_key = "publishable-key={ACME_PK},client-secret={secret}"

[phases.fuzzing.extra-data-sources]
responses = true

[phases.coverage.extra-data-sources]
responses = true
"#
    )
    .unwrap();
    for (name, values) in seeds {
        writeln!(toml, "[dictionaries.{name}]\nvalues = {}\n", toml_list(values)).unwrap();
    }
    // Most cases name a seed; the rest are generated, to reach "not found" too. Operations by
    // name (`METHOD /path`); the `/v1/…` aliases are the same calls and take the same seeds, so
    // a delete through one only ever names its own seeds too.
    let bindings = [
        (r"^DELETE /v[12]/customers/\{id\}$", "path.id", "doomed_customers"),
        (r"^DELETE /v[12]/payment-methods/\{id\}$", "path.id", "doomed_payment_methods"),
        (r"^DELETE /v[12]/payment-method-sessions/\{id\}$", "path.id", "other_sessions"),
        (r"^GET /v2/payments/\{id\}", "path.id", "payments"),
        (r"^POST /v2/payments/\{id\}/capture$", "path.id", "capturable"),
        (r"^POST /v2/payments/\{id\}/cancel$", "path.id", "cancellable"),
        (r"^POST /v2/payments/\{id\}/confirm-intent$", "path.id", "intents"),
        (r"^POST /v2/refunds$", "body.payment_id", "refundable"),
        (r"^POST /payments/session_tokens$", "body.payment_id", "token_intents"),
        (r"^POST /payments/session_tokens$", "body.client_secret", "token_secrets"),
        (r"^GET /v2/refunds/\{id\}$", "path.id", "refunds"),
        (r"^(GET|PUT) /v[12]/customers/\{id\}", "path.id", "customers"),
        (r"^POST /v[12]/payment-methods$", "body.customer_id", "customers"),
        (r"^POST /v2/payment-methods/create-intent$", "body.customer_id", "customers"),
        (r"^POST /v[12]/payment-method-sessions$", "body.customer_id", "customers"),
        (r"^GET /v[12]/payment-methods/\{id\}$", "path.id", "payment_methods"),
        (r"^POST /v2/payment-methods/\{id\}/confirm-intent$", "path.id", "method_intents"),
        (r"^(GET|POST) /v[12]/payment-method-sessions/\{id\}", "path.id", "method_sessions"),
        (r"^POST /v2/webhooks/", "path.merchant_id", "merchants"),
        (r"^POST /v2/webhooks/", "path.account", "accounts"),
    ];
    // One table per operation, with all of its bindings.
    let mut operations: Vec<(&str, Vec<String>)> = Vec::new();
    for (name, parameter, dictionary) in bindings {
        // A delete only ever names its own seeds, so the others live through the run.
        let probability = if name.starts_with("^DELETE") { "1.0" } else { "0.8" };
        let binding = format!("\"{parameter}\" = {{ dictionary = \"{dictionary}\", probability = {probability} }}");
        match operations.iter_mut().find(|(n, _)| *n == name) {
            Some((_, all)) => all.push(binding),
            None => operations.push((name, vec![binding])),
        }
    }
    for (name, parameters) in operations {
        writeln!(toml, "[[operations]]\ninclude-name-regex = '{name}'\nparameters = {{ {} }}", parameters.join(", "))
            .unwrap();
        if name.starts_with("^DELETE") {
            // The examples phase fills ids from earlier answers, not from the dictionaries.
            writeln!(toml, "phases = {{ examples = {{ enabled = false }} }}").unwrap();
        }
        writeln!(toml).unwrap();
    }
    toml
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_keeps_to_its_own_document() {
    tokio::task::spawn_blocking(|| {
        venv::ensure_in(VENV, "import schemathesis", &format!("schemathesis=={VERSION}"));
    })
    .await
    .expect("schemathesis installs");
    let dir = tempfile::TempDir::new().expect("temp dir");
    let accounts = vec![sandbox_account("sandbox"), wallets_account()];
    let daemon_config = config_with(dir.path(), accounts, &["sandbox", "wallets"]);
    let app = TestApp::start_with(dir, daemon_config).await;
    let seeds = seed(&app).await;
    let dir = app.dir.path();
    let config_path = dir.join("schemathesis.toml");
    std::fs::write(&config_path, schemathesis_config(&seeds)).expect("config written");
    let out = run(dir, &config_path, &format!("{}/openapi.json", app.base)).await;
    let report = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "schemathesis found failures ({:?}):\n{report}", out.status.code());
    // A run that tested nothing would pass too.
    assert!(report.contains("Tested: "), "no summary from schemathesis:\n{report}");
    println!("{report}");
    app.stop().await;
}

fn setting(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run(dir: &Path, config: &Path, schema: &str) -> std::process::Output {
    let mut command = tokio::process::Command::new(venv::bin_in(VENV, "schemathesis"));
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(config)
        .args(["run", schema, "--checks", &std::env::var("SCHEMATHESIS_CHECKS").unwrap_or(CHECKS.into())])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(std::env::var("SCHEMATHESIS_ARGS").unwrap_or_default().split_whitespace())
        .args(["--max-examples", &setting("SCHEMATHESIS_MAX_EXAMPLES", MAX_EXAMPLES).to_string()])
        .args(["--seed", &setting("SCHEMATHESIS_SEED", SEED).to_string()])
        // One worker: with two, Hypothesis' caches raced now and then (a KeyError inside it).
        .args(["--workers", "1", "--continue-on-failure", "--request-timeout", "30"])
        .kill_on_drop(true);
    match tokio::time::timeout(TIME_LIMIT, command.output()).await {
        Ok(out) => out.expect("schemathesis runs"),
        Err(_) => panic!("schemathesis ran longer than {TIME_LIMIT:?}"),
    }
}
