//! The floor the load benchmark measures a payment against (`benches/load/run.sh`, row (c)): a
//! minimal Rust service built from switchyard's own crates (tokio, axum, reqwest, serde_json)
//! doing a payment's wire work and nothing else. It decodes the JSON payment, makes the one call
//! the Stripe connector makes for it (a confirmed payment intent carrying the card,
//! form-encoded, on a pooled keep-alive connection), decodes Stripe's JSON answer and answers
//! JSON. No checks, routing, storage, metrics or limits: what those cost is the distance from
//! row (b) to this row.
//!
//! run.sh starts it as `proxy --listen ADDR --stripe URL`; without them (as `cargo bench` runs
//! every bench) it says so and exits.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Clone)]
struct Stripe {
    http: reqwest::Client,
    url: String,
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

async fn pay(State(stripe): State<Stripe>, Json(payment): Json<Value>) -> Result<Json<Value>, StatusCode> {
    let amount = payment["amount_details"]["order_amount"].as_i64().ok_or(StatusCode::UNPROCESSABLE_ENTITY)?;
    let currency = text(&payment["amount_details"]["currency"]).to_ascii_lowercase();
    let card = &payment["payment_method_data"]["card"];
    let form = [
        ("amount", amount.to_string().as_str()),
        ("currency", currency.as_str()),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", text(&card["card_number"])),
        ("payment_method_data[card][exp_month]", text(&card["card_exp_month"])),
        ("payment_method_data[card][exp_year]", text(&card["card_exp_year"])),
        ("payment_method_data[card][cvc]", text(&card["card_cvc"])),
        ("payment_method_data[billing_details][name]", text(&card["card_holder_name"])),
        ("confirm", "true"),
        ("capture_method", "automatic"),
        ("payment_method_types[0]", "card"),
    ]
    .map(|(k, v)| (k, v.to_string()));
    let answer: Value =
        async { stripe.http.post(&stripe.url).bearer_auth("sk_test_bench").form(&form).send().await?.json().await }
            .await
            .map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(Json(json!({
        "id": answer["id"],
        "status": answer["status"],
        "amount": { "order_amount": amount, "currency": payment["amount_details"]["currency"] },
        "connector_transaction_id": answer["latest_charge"],
    })))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let (Some(listen), Some(url)) = (arg("--listen"), arg("--stripe")) else {
        eprintln!("the load benchmark's floor: run by benches/load/run.sh as `proxy --listen ADDR --stripe URL`");
        return;
    };
    let stripe = Stripe { http: reqwest::Client::new(), url };
    let app = Router::new().route("/v2/payments", post(pay)).with_state(stripe);
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("the listen address is free");
    axum::serve(listener, app).await.expect("serves");
}
