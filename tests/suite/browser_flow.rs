//! A payer's browser, as Hyperswitch's client SDK drives one. The merchant's server makes an
//! intent with its secret key and hands the page the intent's id and client secret; the page,
//! holding the publishable key and that secret alone, asks how the payment may be paid, confirms
//! with a card, follows the 3-D Secure redirect and comes back to the merchant's return URL.
//! Against the sandbox connector, and against the Stripe double: localstripe can neither take a
//! card inline nor send a payer through 3-D Secure by redirect.

use crate::common;

use common::localstripe::stripe_account;
use common::stripe_mock::{complete_challenge, Fault, MockStripe, THREE_DS_CARD};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Where the merchant wants the payer back. Never followed: the test sees only the redirect.
const SHOP: &str = "https://shop.example/order/42";

/// What the merchant's server does: an intent asking for 3-D Secure, whose id and client secret
/// it hands to the page.
async fn server_makes_intent(app: &TestApp) -> (String, String) {
    let intent = json!({
        "amount_details": { "currency": "USD", "order_amount": 4200 },
        "authentication_type": "three_ds",
        "return_url": SHOP,
    });
    let (status, body) = app.post("/v2/payments/create-intent", intent).await;
    assert_eq!(status, 200, "{body}");
    (id_of(&body), str_of(&body, "/client_secret").to_string())
}

/// The payer's page: it holds the merchant's publishable key and one payment's client secret.
struct Page<'a> {
    app: &'a TestApp,
    authorization: String,
    /// A browser's client, showing redirects rather than following them.
    browser: reqwest::Client,
}

impl<'a> Page<'a> {
    fn new(app: &'a TestApp, client_secret: &str) -> Self {
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { app, authorization: format!("publishable-key={ACME_PK},client-secret={client_secret}"), browser }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.browser.request(method, format!("{}{path}", self.app.base));
        req = req.header("Authorization", &self.authorization).header("Origin", "https://shop.example");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("the daemon answers");
        let status = res.status();
        assert_eq!(res.headers()["access-control-allow-origin"], "*", "a page on the shop's site may read it");
        (status, res.json().await.expect("a JSON answer"))
    }

    /// Asks how the payment may be paid; answers the connectors that take a Visa card.
    async fn card_connectors(&self, id: &str) -> Vec<String> {
        let (status, methods) = self.call(Method::GET, &format!("/v2/payments/{id}/payment-methods"), None).await;
        assert_eq!(status, 200, "{methods}");
        let card = methods["payment_methods_enabled"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["payment_method_type"] == "card")
            .unwrap_or_else(|| panic!("cards are offered: {methods}"));
        let visa = card["card_networks"].as_array().unwrap().iter().find(|n| n["card_network"] == "Visa");
        let connectors = visa.unwrap_or_else(|| panic!("Visa is taken: {card}"))["eligible_connectors"].clone();
        serde_json::from_value(connectors).unwrap()
    }

    /// Confirms with `card`: the card goes from the page to the daemon, not through the shop.
    async fn confirm(&self, id: &str, card: &str) -> Value {
        let (status, body) =
            self.call(Method::POST, &format!("/v2/payments/{id}/confirm-intent"), Some(card_method(card))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "requires_customer_action", "{body}");
        assert_eq!(body["next_action"]["type"], "redirect_to_url", "{body}");
        body
    }

    /// Follows a redirect the way a browser would, answering where it is sent next.
    async fn follow(&self, url: &str) -> String {
        let res = self.browser.get(url).send().await.expect("the page answers");
        assert_eq!(res.status(), 303, "{url}");
        res.headers()["location"].to_str().unwrap().to_string()
    }

    /// What the page may no longer do once the payment is confirmed, and what it never could.
    async fn is_spent(&self, id: &str) {
        let (status, body) = self.call(Method::GET, &format!("/v2/payments/{id}/payment-methods"), None).await;
        assert_error(status, &body, 400, "IR_14");
        let path = format!("/v2/payments/{id}/confirm-intent");
        let (status, body) = self.call(Method::POST, &path, Some(card_method("4242424242424242"))).await;
        assert_error(status, &body, 400, "IR_14");
        // The server's calls are closed to it.
        let (status, body) = self.call(Method::GET, &format!("/v2/payments/{id}"), None).await;
        assert_error(status, &body, 401, "IR_01");
    }
}

/// The shop's server reads the payment back with its secret key.
async fn server_reads(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/v2/payments/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_pays_with_a_card_through_the_sandboxs_three_d_secure_page() {
    let app = TestApp::start().await;
    let (id, secret) = server_makes_intent(&app).await;
    let page = Page::new(&app, &secret);
    assert!(page.card_connectors(&id).await.contains(&"sandbox".to_string()));

    // The sandbox asks this card for 3-D Secure: its page, then its form, send the payer back.
    let confirmed = page.confirm(&id, "4000002760003184").await;
    let challenge = str_of(&confirmed, "/next_action/redirect_to_url");
    assert_eq!(challenge, format!("{}/sandbox/authenticate/{id}", app.base));
    let shown = page.browser.get(challenge).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    assert!(shown.text().await.unwrap().contains(&id));
    let res = page.browser.post(challenge).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("{SHOP}?id={id}&status=succeeded").as_str());

    let paid = server_reads(&app, &id).await;
    assert_eq!((paid["status"].as_str(), paid["amount"]["amount_captured"].as_i64()), (Some("succeeded"), Some(4200)));
    page.is_spent(&id).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_pays_with_a_card_through_stripes_three_d_secure_redirect() {
    let stripe = MockStripe::start(Fault::Works).await;
    let app = start_with_accounts(vec![stripe_account("stripe", &stripe.server.url)], &["stripe"]).await;
    let (id, secret) = server_makes_intent(&app).await;
    let page = Page::new(&app, &secret);
    assert_eq!(page.card_connectors(&id).await, ["stripe"]);

    let confirmed = page.confirm(&id, THREE_DS_CARD).await;
    // One call to Stripe, with the card inline, asking for 3-D Secure and naming the way back.
    let call = stripe.seen.only("POST", "/v1/payment_intents");
    assert_eq!(call.field("payment_method_data[card][number]").as_deref(), Some(THREE_DS_CARD));
    assert_eq!(call.field("payment_method_options[card][request_three_d_secure]").as_deref(), Some("any"));
    let back = format!("{}/v2/payments/{id}/return", app.base);
    assert_eq!(call.field("return_url"), Some(back.clone()));

    // Stripe's challenge sends the payer to the daemon, which reads the outcome from Stripe and
    // sends them on to the shop.
    let returned = complete_challenge(str_of(&confirmed, "/next_action/redirect_to_url"), "success").await;
    assert!(returned.starts_with(&back), "{returned}");
    assert_eq!(page.follow(&returned).await, format!("{SHOP}?id={id}&status=succeeded"));

    let paid = server_reads(&app, &id).await;
    assert_eq!((paid["status"].as_str(), paid["amount"]["amount_captured"].as_i64()), (Some("succeeded"), Some(4200)));
    assert_eq!(stripe.seen.all().iter().filter(|s| s.is("POST", "/v1/payment_intents")).count(), 1);
    page.is_spent(&id).await;
    app.stop().await;
}
