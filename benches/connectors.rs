//! What a connector costs the daemon itself for one card payment, the network left out: the
//! native Stripe connector building its one form body (a payment intent carrying the card) and
//! reading the payment intent it gets back, against the Adyen plugin building its request and
//! parsing Adyen's answer (a Lua call each, on one warm worker state, which has made the
//! account's `ctx` on its first call and reuses it). Run with `cargo bench --bench connectors`.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::card::{CardNumber, Cvc, Expiry};
use switchyard::config::{ConnectorAccountConfig, SecretValue};
use switchyard::connectors::plugin::{loader, Pins, PluginConnector};
use switchyard::connectors::stripe::transformers;
use switchyard::connectors::{Account, AuthorizeRequest};
use switchyard::domain::payment_method::{CardDetails, PaymentMethod};
use switchyard::domain::status::{AuthenticationType, CaptureMethod};
use switchyard::lua::Budget;
use switchyard::money::{Amount, Currency};

fn main() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(50_000);
    let card = CardDetails {
        connector_tokens: Default::default(),
        number: CardNumber::parse("4242424242424242").unwrap(),
        cvc: Some(serde_json::from_value::<Cvc>(json!("123")).unwrap()),
        expiry: Expiry {
            month: serde_json::from_value(json!("10")).unwrap(),
            year: serde_json::from_value(json!("35")).unwrap(),
        },
        holder_name: Some("Joseph Doe".into()),
        issuing_country: None,
    };

    let intent =
        br#"{"id":"pi_3Pq","object":"payment_intent","status":"succeeded","amount":6540,"amount_received":6540,
        "currency":"usd","latest_charge":"ch_3Pq","client_secret":"pi_3Pq_secret_x","next_action":null}"#;
    let paying = PaymentMethod::Card(card.clone());
    let request = AuthorizeRequest {
        payment_id: "sy_pay_1",
        attempt_id: "sy_att_1",
        amount: Amount::new(6540).unwrap(),
        currency: Currency::parse("USD").unwrap(),
        capture_method: CaptureMethod::Automatic,
        authentication_type: AuthenticationType::NoThreeDs,
        payment_method: &paying,
        return_url: None,
        description: None,
        billing: None,
    };
    let native = measure(rounds, || {
        let form = transformers::PaymentIntentForm::new(&request, transformers::Charged::Card(&card), None);
        let body = serde_urlencoded::to_string(form).unwrap();
        let parsed: transformers::PaymentIntent = serde_json::from_slice(intent).unwrap();
        std::hint::black_box((body, parsed.outcome()));
    });

    let limits = Budget { time_budget: Duration::from_millis(50), memory_bytes: 16 << 20 };
    let plugin =
        loader::load_plugin(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/adyen.lua"), limits)
            .expect("the Adyen plugin loads");
    let adyen = PluginConnector::new(plugin, limits, reqwest::Client::new(), "http://127.0.0.1:8080");
    let account = Account::from_config(
        "web",
        &ConnectorAccountConfig {
            name: "adyen".into(),
            connector: "adyen".into(),
            enabled: true,
            base_url: None,
            credentials: [("api_key", "key"), ("merchant_account", "Shop")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), SecretValue::Literal(v.into())))
                .collect(),
            metadata: Default::default(),
            rate_limit: None,
        },
    );
    let args = json!({
        "payment_id": "sy_pay_1", "attempt_id": "sy_att_1", "amount": 6540, "amount_decimal": "65.40",
        "currency": "USD", "capture_method": "automatic", "payment_method_type": "card",
        "payment_method_subtype": "credit", "description": null, "billing": null,
        "return_url": "http://127.0.0.1:8080/v2/payments/sy_pay_1/return",
        "card": { "last4": "4242", "bin": "424242", "network": "Visa", "holder_name": "Joseph Doe" }
    });
    let answer = json!({
        "status": 200, "headers": {}, "body": "",
        "json": { "pspReference": "X7F", "resultCode": "Authorised", "amount": { "value": 6540, "currency": "USD" } }
    });
    let pins = Pins::default();
    let plugin = measure(rounds, || {
        let request = adyen.build(&account, &pins, "authorize", None, &args).unwrap();
        let outcome = adyen.parse_payment(&account, "authorize", &args, &answer).unwrap();
        std::hint::black_box((request, outcome));
    });

    println!("one card payment's build + parse, network left out, {rounds} rounds:");
    println!("  native Stripe   median {:>7.2} µs   p99 {:>7.2} µs", native.0, native.1);
    println!("  Adyen plugin    median {:>7.2} µs   p99 {:>7.2} µs", plugin.0, plugin.1);
    println!("  plugin / native median {:.1}x", plugin.0 / native.0);
}

/// Median and 99th percentile of `f`, in microseconds, after a warm-up.
fn measure(rounds: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..rounds / 10 {
        f();
    }
    let mut took: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    took.sort_unstable();
    let at = |q: f64| took[((rounds as f64 * q) as usize).min(rounds - 1)].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}
