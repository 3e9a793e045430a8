//! Several daemons on one database, as behind a load balancer: what one stores, another reads
//! and acts on; a merchant reference sent to two at once makes one payment, because the
//! database's unique constraint says so; each event for a merchant is tried by one of them at a
//! time; and daemons starting together on a new database all start. The suite runs on SQLite (several
//! daemons may share one file) and, through `scripts/with-postgres`, on PostgreSQL, which is
//! what several daemons are meant to share.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use common::mock::{json_answer, MockServer};
use common::*;
use serde_json::{json, Value};
use tempfile::TempDir;

const VISA: &str = "4242424242424242";

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_made_on_one_daemon_is_read_captured_and_refunded_on_another() {
    let a = TestApp::start().await;
    let b = a.another().await;
    let created = pay(&a, with(payment(VISA), json!({ "capture_method": "manual" }))).await;
    assert_eq!(created["status"], "requires_capture", "{created}");
    let id = id_of(&created);
    let path = format!("/v2/payments/{id}");

    let (status, read) = b.get(&path).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["status"], "requires_capture", "{read}");
    assert_eq!(read["amount"], created["amount"], "{read}");

    let (status, captured) = b.post(&format!("{path}/capture"), json!({ "amount_to_capture": 4000 })).await;
    assert_eq!(status, 200, "{captured}");
    assert_eq!(captured["status"], "partially_captured", "{captured}");
    // Captured on B, it cannot be captured again on A.
    let (status, body) = a.post(&format!("{path}/capture"), json!({})).await;
    assert_error(status, &body, 400, "IR_14");

    let refund = |reference: &str, amount: i64| json!({ "payment_id": id, "merchant_reference_id": reference, "amount": amount });
    let (status, on_a) = a.post("/v2/refunds", refund("rf-a", 1000)).await;
    assert_eq!((status.as_u16(), &on_a["status"]), (200, &json!("succeeded")), "{on_a}");
    // What A refunded counts on B: its reference is taken, and its amount is not left to refund.
    let (status, body) = b.post("/v2/refunds", refund("rf-a", 1000)).await;
    assert_error(status, &body, 400, "HE_01");
    let (status, on_b) = b.post("/v2/refunds", refund("rf-b", 3000)).await;
    assert_eq!((status.as_u16(), &on_b["status"]), (200, &json!("succeeded")), "{on_b}");
    let (status, body) = b.post("/v2/refunds", refund("rf-c", 1)).await;
    assert_error(status, &body, 400, "IR_13");

    for (app, other) in [(&a, &b), (&b, &a)] {
        let (_, mine) = app.get(&path).await;
        let (_, theirs) = other.get(&path).await;
        assert_eq!(mine, theirs, "the daemons disagree on the payment");
        assert_eq!(mine["status"], "partially_captured", "{mine}");
        assert_eq!(mine["amount"]["amount_captured"], 4000, "{mine}");
        for made in [&on_a, &on_b] {
            let (status, got) = app.get(&format!("/v2/refunds/{}", id_of(made))).await;
            assert_eq!(status, 200, "{got}");
            assert_eq!(got["status"], "succeeded", "{got}");
            assert_eq!(got["amount"], made["amount"], "{got}");
        }
    }
    assert_eq!(a.count("refunds").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_reference_sent_to_two_daemons_at_once_makes_one_payment() {
    let a = TestApp::start().await;
    let b = a.another().await;
    let rounds = 25;
    for n in 0..rounds {
        let body = with(payment(VISA), json!({ "merchant_reference_id": format!("order-{n}") }));
        let (first, second) = tokio::join!(a.post("/v2/payments", body.clone()), b.post("/v2/payments", body));
        let (winner, loser) = match (first.0.as_u16(), second.0.as_u16()) {
            (200, _) => (first, second),
            (_, 200) => (second, first),
            _ => panic!("neither daemon took order-{n}: {first:?} {second:?}"),
        };
        assert_eq!(winner.1["status"], "succeeded", "{}", winner.1);
        let message = assert_error(loser.0, &loser.1, 400, "HE_01");
        let id = id_of(&winner.1);
        assert!(message.contains(&id), "{message} does not name {id}");
    }
    let url = a.database_url().to_string();
    let mut db = database::open(&url).await;
    let per_reference: Vec<(String, i64)> =
        sqlx::query_as("SELECT merchant_reference_id, COUNT(*) FROM payment_intents GROUP BY merchant_reference_id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(per_reference.len(), rounds, "{per_reference:?}");
    assert!(per_reference.iter().all(|(_, n)| *n == 1), "{per_reference:?}");
    assert_eq!(a.count("payment_attempts").await, rounds as i64);

    // It is the database that says no: a copy of a stored payment under a new id is refused
    // while it keeps the reference, and taken with another one.
    let mut db = database::connect(&url).await;
    let copy = "INSERT INTO payment_intents (id, merchant_id, profile_id, merchant_reference_id, status, currency, \
        net_amount, amount_details, capture_method, authentication_type, client_secret, expires_at, amount_captured, \
        amount_refunded, details, created_at, modified_at) \
        SELECT $1, merchant_id, profile_id, $2, status, currency, net_amount, amount_details, capture_method, \
        authentication_type, client_secret, expires_at, amount_captured, amount_refunded, details, created_at, \
        modified_at FROM payment_intents WHERE merchant_reference_id = 'order-0'";
    let refused = sqlx::query(copy).bind("sy_pay_copy").bind("order-0").execute(&mut db).await;
    let refused = refused.expect_err("the database took a second payment with reference order-0");
    assert!(refused.as_database_error().is_some_and(|e| e.is_unique_violation()), "{refused}");
    let taken = sqlx::query(copy).bind("sy_pay_copy").bind("order-copy").execute(&mut db).await.unwrap();
    assert_eq!(taken.rows_affected(), 1);
}

/// A merchant endpoint that counts the tries at each event, by event id. It refuses the first
/// try at each, so every event waits for a retry and both daemons find the retries due at about
/// the same moments; and it is slow to answer, so a second daemon, were it not kept off by the
/// lease, would send the same event meanwhile.
async fn fussy_merchant(tries: Arc<Mutex<HashMap<String, usize>>>) -> MockServer {
    let app = axum::Router::new().route(
        "/hooks",
        post(move |axum::Json(event): axum::Json<Value>| {
            let tries = tries.clone();
            async move {
                let id = event["event_id"].as_str().unwrap_or_default().to_string();
                let first = {
                    let mut tries = tries.lock().unwrap();
                    let n = tries.entry(id).or_default();
                    *n += 1;
                    *n == 1
                };
                tokio::time::sleep(Duration::from_millis(100)).await;
                json_answer(if first { 500 } else { 200 }, json!({}))
            }
        }),
    );
    MockServer::serve(app).await
}

#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_try_each_event_once_at_a_time() {
    let tries = Arc::new(Mutex::new(HashMap::new()));
    let endpoint = fussy_merchant(tries.clone()).await;
    let dir = TempDir::new().unwrap();
    let mut config = config(dir.path());
    send_webhooks(&mut config, &format!("{}/hooks", endpoint.url), "whk_scale_out");
    // Both daemons look for due events often, so each sees those the other is about to take.
    config.outgoing_webhooks.every_ms = 10;
    config.outgoing_webhooks.retry_base_ms = 300;
    config.outgoing_webhooks.retry_max_ms = 300;
    let a = TestApp::start_with(dir, config).await;
    let b = a.another().await;

    let payments = 16;
    for n in 0..payments {
        pay(if n % 2 == 0 { &a } else { &b }, payment(VISA)).await;
    }
    let mut db = database::open(a.database_url()).await;
    let mut delivered = 0;
    for _ in 0..200 {
        delivered = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE status = 'delivered'")
            .fetch_one(&mut db)
            .await
            .unwrap();
        if delivered == payments {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, payments, "not every event was delivered");
    // Each event was tried twice, refused then taken: never by both daemons at once.
    let tries = tries.lock().unwrap().clone();
    assert_eq!(tries.len(), payments as usize, "{tries:?}");
    assert!(tries.values().all(|n| *n == 2), "an event was tried more often than it was due: {tries:?}");
    assert_eq!(a.count("event_deliveries").await, 2 * payments);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daemons_starting_together_on_a_new_database_all_start() {
    let dir = TempDir::new().unwrap();
    let config = config(dir.path());
    let start = || TestApp::start_with(TempDir::new().unwrap(), config.clone());
    let (a, b, c) = tokio::join!(start(), start(), start());

    // They seal one vault key check between them, and open each other's cards.
    let (status, customer) = a.post("/v2/customers", json!({ "name": "John Doe", "email": "john@example.com" })).await;
    assert_eq!(status, 200, "{customer}");
    let card =
        json!({ "card_number": VISA, "card_exp_month": "10", "card_exp_year": "35", "card_holder_name": "John Doe" });
    let save = json!({
        "customer_id": id_of(&customer), "payment_method_type": "card", "payment_method_subtype": "credit",
        "payment_method_data": { "card": card }, "storage_type": "persistent"
    });
    let (status, method) = b.post("/v2/payment-methods", save).await;
    assert_eq!(status, 200, "{method}");
    let paid = pay(
        &c,
        json!({
            "amount_details": { "order_amount": 6540, "currency": "USD" }, "customer_id": id_of(&customer),
            "payment_method_type": "card", "payment_method_id": id_of(&method)
        }),
    )
    .await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(a.count("vault_key_check").await, 1);
}
