//! Payment links: the merchant's server asks for an intent's link, and a payer pays on the hosted
//! page in a real browser (headless Chromium driven over WebDriver): a card that succeeds, a
//! decline then a success, a 3-D Secure card through the sandbox's challenge, pay by bank through
//! the Fintecture plugin to a bank on loopback, an expired link, and a second visit after success.
//! Each step leaves a screenshot in `target/payment-link-screenshots/` for a person to look at.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Where the merchant wants the payer back. Never opened: the test reads the link to it.
const SHOP: &str = "https://shop.example/order/42";

const CARD: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";
const THREE_DS: &str = "4000002760003184";

/// An intent with a link; answers its id and the link.
async fn intent_with_link(app: &TestApp, fields: Value) -> (String, String) {
    let mut intent = json!({
        "amount_details": { "currency": "USD", "order_amount": 4200 },
        "return_url": SHOP,
        "payment_link_enabled": "Enable",
    });
    intent.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    let (status, body) = app.post("/v2/payments/create-intent", intent).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payment_link_enabled"], "Enable", "{body}");
    let id = id_of(&body);
    let (status, link) = app.get(&format!("/v2/payments/{id}/payment-link")).await;
    assert_eq!(status, 200, "{link}");
    let url = str_of(&link, "/link").to_string();
    assert!(url.starts_with(&format!("{}/payment-links/{id}/", app.base)), "{link}");
    assert!(url.ends_with(str_of(&link, "/payment_link_id")), "{link}");
    assert!(!url.contains(str_of(&body, "/client_secret")), "the client secret is never in a URL");
    (id, url)
}

async fn stored_status(app: &TestApp, id: &str) -> String {
    let (status, body) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(status, 200, "{body}");
    str_of(&body, "/status").to_string()
}

/// The merchant's server calls: the link of an intent made without one does not exist, and the
/// page answers with its security headers.
#[tokio::test(flavor = "multi_thread")]
async fn a_link_is_given_only_for_an_intent_that_asked_for_one_and_its_page_keeps_to_itself() {
    let app = TestApp::start().await;
    let (status, plain) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "currency": "USD", "order_amount": 100 } }))
        .await;
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain["payment_link_enabled"], "Skip");
    let (status, body) = app.get(&format!("/v2/payments/{}/payment-link", id_of(&plain))).await;
    assert_error(status, &body, 404, "HE_02");

    // Whether an intent has a link is settled when it is made.
    let path = format!("/v2/payments/{}/update-intent", id_of(&plain));
    let enable = json!({ "payment_link_enabled": "Enable" });
    let (status, body) = app.call(reqwest::Method::PUT, &path, Some(ACME_KEY), Some("web"), Some(&enable)).await;
    assert_eq!(status, 400, "{body}");
    assert!(str_of(&body, "/error/message").contains("payment_link_enabled"), "{body}");

    let (id, link) = intent_with_link(&app, json!({})).await;
    let res = reqwest::get(&link).await.unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let page = res.text().await.unwrap();
    assert!(page.contains("Pay by card") && page.contains("42.00 USD"), "{page}");
    // No asset from anywhere but the daemon.
    assert!(!page.contains("http://") && !page.contains("https://"), "{page}");

    // The payment id without the link's digest, or with another's, opens nothing.
    let wrong = format!("{}/payment-links/{id}/plink_00000000000000000000000000000000", app.base);
    assert_eq!(reqwest::get(&wrong).await.unwrap().status(), 404);
    let (status, other) = app
        .post("/v2/payments/create-intent", json!({ "amount_details": { "currency": "USD", "order_amount": 100 } }))
        .await;
    assert_eq!(status, 200);
    let borrowed = link.replace(&id, &id_of(&other));
    assert_eq!(reqwest::get(&borrowed).await.unwrap().status(), 404, "a link opens only its own payment");
}

/// Chromium under chromedriver, on a free loopback port, with a profile of its own.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: std::path::PathBuf,
}

impl Browser {
    async fn start(name: &str) -> Self {
        let chromium = debian::program("chromium", "chromium");
        let chromedriver = debian::program("chromedriver", "chromium-driver");
        let port = common::binary::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::TempDir::new().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=390,844",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args }));
        let mut client = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/payment-link-screenshots").join(name);
        std::fs::create_dir_all(&shots).unwrap();
        Self { client: client.expect("chromedriver takes a session"), driver, _profile: profile, shots }
    }

    async fn shot(&self, step: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{step}.png")), png).unwrap();
    }

    /// The element `css` names, once the page shows it (10 s at most). A page the payer is sent
    /// on from may be left in the middle of a look, which the browser then aborts: the look is
    /// made again on the page that follows.
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => return element,
                Err(e) if std::time::Instant::now() >= until => panic!("no `{css}` on the page: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    async fn text(&self, css: &str) -> String {
        self.element(css).await.text().await.unwrap()
    }

    async fn type_into(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn fill_card(&self, number: &str) {
        self.type_into("card-number", number).await;
        self.type_into("card-holder", "Joseph Doe").await;
        self.type_into("card-exp-month", "10").await;
        self.type_into("card-exp-year", "35").await;
        self.type_into("card-cvc", "123").await;
    }

    async fn pay(&self) {
        self.client.find(Locator::Id("pay")).await.unwrap().click().await.unwrap();
    }

    /// Waits until the page shows an outcome, and answers it.
    async fn outcome(&self) -> String {
        self.text("#outcome").await
    }

    /// What the page keeps: its URL and the browser's storage hold no card number.
    async fn holds_no_card(&self, numbers: &[&str]) {
        let url = self.client.current_url().await.unwrap().to_string();
        let storage = self
            .client
            .execute("return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])", vec![])
            .await
            .unwrap();
        for number in numbers {
            assert!(!url.contains(number), "{url}");
            assert!(!storage.to_string().contains(number), "{storage}");
        }
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payer_pays_by_card_on_the_link_and_a_second_visit_shows_the_outcome() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut config = config(dir.path());
    config.merchants.get_mut("acme").unwrap().name = Some("Acme Outfitters".into());
    let app = TestApp::start_with(dir, config).await;
    let browser = Browser::start("card").await;
    let (id, link) = intent_with_link(&app, json!({})).await;

    browser.client.goto(&link).await.unwrap();
    assert_eq!(browser.text("#merchant").await, "Acme Outfitters");
    assert_eq!(browser.text("#amount").await, "42.00 USD");
    browser.shot("1-checkout").await;
    // An empty form is refused in the page, and said so to a screen reader.
    browser.pay().await;
    assert!(browser.text("#status").await.contains("need correcting"));
    let invalid = browser.client.find(Locator::Id("card-number")).await.unwrap().attr("aria-invalid").await.unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    browser.shot("2-missing-fields").await;

    browser.fill_card(CARD).await;
    browser.pay().await;
    assert_eq!(browser.outcome().await, "Payment successful. Thank you.");
    browser.shot("3-paid").await;
    assert_eq!(stored_status(&app, &id).await, "succeeded");
    let back = browser.client.find(Locator::Id("return")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert_eq!(back, format!("{SHOP}?id={id}&status=succeeded"));
    browser.holds_no_card(&[CARD]).await;

    // A second visit shows the outcome, with nothing to pay with.
    browser.client.goto(&link).await.unwrap();
    assert_eq!(browser.outcome().await, "Payment successful. Thank you.");
    assert!(browser.client.find(Locator::Id("card-form")).await.is_err(), "a paid link takes no card");
    browser.shot("4-second-visit").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_card_can_be_followed_by_another_and_three_d_secure_comes_back_to_the_link() {
    let app = TestApp::start().await;
    let browser = Browser::start("decline-and-3ds").await;

    // A decline, then a success on the same link.
    let (id, link) = intent_with_link(&app, json!({})).await;
    browser.client.goto(&link).await.unwrap();
    browser.fill_card(DECLINED).await;
    browser.pay().await;
    let client = &browser.client;
    browser.element("#status:not([hidden])").await;
    let alert = browser.text("#status").await;
    assert!(alert.contains("declined") && alert.contains("try again"), "{alert}");
    browser.shot("1-declined").await;
    assert_eq!(stored_status(&app, &id).await, "requires_payment_method", "the link may still be paid");
    browser.fill_card(CARD).await;
    browser.pay().await;
    assert_eq!(browser.outcome().await, "Payment successful. Thank you.");
    browser.shot("2-paid-after-decline").await;
    assert_eq!(stored_status(&app, &id).await, "succeeded");
    browser.holds_no_card(&[CARD, DECLINED]).await;

    // 3-D Secure: the sandbox's challenge, and back to the link.
    let (id, link) = intent_with_link(&app, json!({})).await;
    client.goto(&link).await.unwrap();
    browser.fill_card(THREE_DS).await;
    browser.pay().await;
    let success = browser.element("button[value=success]").await;
    assert_eq!(client.current_url().await.unwrap().as_str(), format!("{}/sandbox/authenticate/{id}", app.base));
    browser.shot("3-challenge").await;
    success.click().await.unwrap();
    assert_eq!(browser.outcome().await, "Payment successful. Thank you.");
    assert_eq!(client.current_url().await.unwrap().as_str(), link);
    browser.shot("4-paid-after-challenge").await;
    assert_eq!(stored_status(&app, &id).await, "succeeded");
    browser.holds_no_card(&[THREE_DS]).await;

    // An expired link says so, and takes nothing.
    let (id, link) = intent_with_link(&app, json!({ "session_expiry": 1 })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client.goto(&link).await.unwrap();
    assert_eq!(browser.outcome().await, "This payment link has expired.");
    assert!(client.find(Locator::Id("card-form")).await.is_err());
    browser.shot("5-expired").await;
    assert_eq!(stored_status(&app, &id).await, "expired");
    browser.close().await;
}

/// Fintecture on loopback, as far as a payer sees it: it takes the plugin's token and session
/// requests (what they carry, and their signatures, are checked in `fintecture`), sends the payer
/// to a bank page of its own, whose approval brings them back to the daemon, and then reports the
/// session paid.
async fn fintecture_on_loopback() -> common::mock::MockServer {
    use axum::extract::{Path, Query};
    use axum::response::Html;
    use axum::routing::{get, post};
    use common::mock::json_answer;
    use reqwest::Url;
    use std::collections::HashMap;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let connect = move |Query(q): Query<HashMap<String, String>>| {
        let page = Url::parse_with_params(
            &format!("{base}/bank/sess_1"),
            [("state", &q["state"]), ("back", &q["redirect_uri"])],
        );
        std::future::ready(json_answer(
            200,
            json!({ "meta": { "session_id": "sess_1", "url": page.unwrap().as_str() } }),
        ))
    };
    let bank = |Query(q): Query<HashMap<String, String>>| {
        let back = Url::parse_with_params(
            &q["back"],
            [("session_id", "sess_1"), ("status", "payment_created"), ("state", q["state"].as_str())],
        );
        std::future::ready(Html(format!(
            "<!doctype html><title>Your bank</title><h1>Your bank</h1>\
             <a id=\"approve\" href=\"{}\">Approve the payment</a>",
            back.unwrap().as_str().replace('&', "&amp;")
        )))
    };
    let app = axum::Router::new()
        .route(
            "/oauth/accesstoken",
            post(|| async {
                json_answer(200, json!({ "access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600 }))
            }),
        )
        .route("/pis/v2/connect", post(connect))
        .route("/bank/{session}", get(bank))
        .route(
            "/pis/v2/payments/{session}",
            get(|Path(session): Path<String>| async move {
                json_answer(200, json!({ "meta": { "session_id": session, "status": "payment_created" }, "data": {} }))
            }),
        );
    common::mock::MockServer::serve_on(listener, app).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payer_pays_by_bank_through_fintecture_on_the_link() {
    use std::collections::BTreeMap;
    use switchyard::config::{ConnectorAccountConfig, SecretValue};

    let fintecture = fintecture_on_loopback().await;
    let key = std::fs::read_to_string(common::fintecture_sdk::key_path()).unwrap();
    let credentials =
        [("app_id", common::fintecture_sdk::APP_ID), ("app_secret", "links-test-secret"), ("private_key", &key)];
    let bank = ConnectorAccountConfig {
        name: "fintecture".into(),
        connector: "fintecture".into(),
        enabled: true,
        base_url: Some(fintecture.url.clone()),
        credentials: credentials
            .iter()
            .map(|(k, v)| (k.to_string(), SecretValue::Literal(v.to_string())))
            .collect::<BTreeMap<_, _>>(),
        metadata: Default::default(),
        rate_limit: None,
    };
    let dir = tempfile::TempDir::new().unwrap();
    let config = config_with(dir.path(), vec![sandbox_account("sandbox"), bank], &["sandbox", "fintecture"]);
    let app = TestApp::start_with(dir, config).await;
    let browser = Browser::start("bank").await;
    let client = &browser.client;
    let (id, link) =
        intent_with_link(&app, json!({ "amount_details": { "currency": "EUR", "order_amount": 4200 } })).await;

    client.goto(&link).await.unwrap();
    assert_eq!(browser.text("#amount").await, "42.00 EUR");
    browser.shot("1-checkout").await;
    client.find(Locator::Id("pay-by-bank")).await.unwrap().click().await.unwrap();
    // The bank's own page, on its own address.
    let approve = browser.element("#approve").await;
    assert!(client.current_url().await.unwrap().as_str().starts_with(&fintecture.url));
    browser.shot("2-bank").await;
    approve.click().await.unwrap();
    assert_eq!(browser.outcome().await, "Payment successful. Thank you.");
    assert_eq!(client.current_url().await.unwrap().as_str(), link);
    browser.shot("3-paid-by-bank").await;
    assert_eq!(stored_status(&app, &id).await, "succeeded");
    browser.close().await;
}
