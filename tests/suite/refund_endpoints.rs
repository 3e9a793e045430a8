//! Listing a profile's refunds (filters and pages) and changing what the merchant says about one
//! (its reason and metadata).

use crate::common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

fn assert_invalid(status: StatusCode, body: &Value) {
    assert!(matches!(status.as_u16(), 400 | 422), "status {status} of {body}");
    assert_eq!(body["error"]["code"], "IR_06", "{body}");
}

async fn refund(app: &TestApp, payment_id: &str, reference: &str, amount: i64) -> String {
    let body = json!({ "payment_id": payment_id, "merchant_reference_id": reference, "amount": amount,
                       "reason": "returned", "metadata": { "ticket": reference } });
    let (status, refunded) = app.post("/v2/refunds", body).await;
    assert_eq!(status, 200, "{refunded}");
    id_of(&refunded)
}

async fn list(app: &TestApp, body: Value) -> Value {
    let (status, page) = app.post("/v2/refunds/list", body).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["count"], page["data"].as_array().unwrap().len(), "{page}");
    page
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap_or_else(|| panic!("no data in {page}")).iter().map(id_of).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn refunds_are_listed_filtered_and_paged() {
    let app = TestApp::start().await;
    let usd = id_of(&pay(&app, payment(VISA)).await);
    let eur = id_of(
        &pay(&app, with(payment(VISA), json!({ "amount_details": { "currency": "EUR", "order_amount": 900 } }))).await,
    );
    // Oldest first.
    let owned = [refund(&app, &usd, "r1", 100).await, refund(&app, &usd, "r2", 2000).await];
    let r3 = refund(&app, &eur, "r3", 500).await;
    let [r1, r2, r3] = [owned[0].as_str(), owned[1].as_str(), r3.as_str()];
    // Neither another profile's refunds nor another merchant's.
    let (status, other) =
        app.call(Method::POST, "/v2/payments", Some(GLOBEX_KEY), Some("web"), Some(&payment(VISA))).await;
    assert_eq!(status, 200);
    let body = json!({ "payment_id": id_of(&other), "merchant_reference_id": "g1", "amount": 100 });
    let (status, _) = app.call(Method::POST, "/v2/refunds", Some(GLOBEX_KEY), Some("web"), Some(&body)).await;
    assert_eq!(status, 200);

    let all = list(&app, json!({})).await;
    assert_eq!(ids(&all), [r3, r2, r1], "newest first: {all}");
    assert_eq!(all["total_count"], 3, "{all}");
    assert_eq!(all["data"][0]["payment_id"], eur.as_str(), "{all}");
    assert_eq!(all["data"][0]["metadata"], json!({ "ticket": "r3" }), "{all}");

    let page = list(&app, json!({ "limit": 2 })).await;
    let rest = list(&app, json!({ "limit": 2, "offset": 2 })).await;
    assert_eq!([ids(&page), ids(&rest)].concat(), ids(&all));
    assert_eq!((page["count"].clone(), page["total_count"].clone()), (json!(2), json!(3)));

    let since = str_of(&all, "/data/1/created_at").to_string();
    let cases = [
        (json!({ "payment_id": usd }), vec![r2, r1]),
        (json!({ "refund_id": r1 }), vec![r1]),
        (json!({ "currency": ["EUR"] }), vec![r3]),
        (json!({ "amount_filter": { "start_amount": 200, "end_amount": 2000 } }), vec![r3, r2]),
        (json!({ "refund_status": ["succeeded"], "connector": ["sandbox"] }), vec![r3, r2, r1]),
        (json!({ "refund_status": ["failed"] }), Vec::<&str>::new()),
        (json!({ "connector_id_list": ["elsewhere"] }), vec![]),
        (json!({ "start_time": since }), vec![r3, r2]),
        (json!({ "start_time": "2020-01-01T00:00:00Z", "end_time": since }), vec![r2, r1]),
    ];
    for (filter, want) in cases {
        let page = list(&app, filter.clone()).await;
        assert_eq!(ids(&page), want, "{filter}");
        assert_eq!(page["total_count"], want.len(), "{filter}");
    }

    for bad in [
        json!({ "limit": 0 }),
        json!({ "colour": "blue" }),
        json!({ "refund_status": ["bogus"] }),
        json!({ "start_time": "yesterday" }),
    ] {
        let (status, body) = app.post("/v2/refunds/list", bad).await;
        assert_invalid(status, &body);
    }
    let (status, body) = app.call(Method::POST, "/v2/refunds/list", None, Some("web"), Some(&json!({}))).await;
    assert_error(status, &body, 401, "IR_01");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refunds_reason_and_metadata_are_updated() {
    let app = TestApp::start().await;
    let paid = id_of(&pay(&app, payment(VISA)).await);
    let id = refund(&app, &paid, "r1", 100).await;
    let path = format!("/v2/refunds/{id}/update-metadata");
    let put = |body: Value, key: &'static str, profile: &'static str| {
        let app = &app;
        let path = path.clone();
        async move { app.call(Method::PUT, &path, Some(key), Some(profile), Some(&body)).await }
    };

    let (status, updated) = put(json!({ "reason": "Paid by mistake" }), ACME_KEY, "web").await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["reason"], "Paid by mistake", "{updated}");
    // Left out, kept.
    assert_eq!(updated["metadata"], json!({ "ticket": "r1" }), "{updated}");
    assert_eq!(updated["status"], "succeeded", "{updated}");
    let (status, updated) = put(json!({ "metadata": { "ticket": "r1", "agent": "jo" } }), ACME_KEY, "web").await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["reason"], "Paid by mistake", "{updated}");
    assert_eq!(updated["metadata"], json!({ "ticket": "r1", "agent": "jo" }), "{updated}");
    let (_, read) = app.get(&format!("/v2/refunds/{id}")).await;
    assert_eq!(read, updated);

    // Bad bodies change nothing.
    for bad in [json!({ "amount": 5 }), json!({ "reason": "x".repeat(300) }), json!({ "metadata": "text" })] {
        let (status, body) = put(bad, ACME_KEY, "web").await;
        assert_invalid(status, &body);
    }
    let (_, read) = app.get(&format!("/v2/refunds/{id}")).await;
    assert_eq!(read, updated);

    // Unknown, another merchant's, another profile's: not found.
    let (status, body) = app
        .call(Method::PUT, "/v2/refunds/sy_ref_nope/update-metadata", Some(ACME_KEY), Some("web"), Some(&json!({})))
        .await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = put(json!({ "reason": "mine" }), GLOBEX_KEY, "web").await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = put(json!({ "reason": "mine" }), ACME_KEY, "shop").await;
    assert_error(status, &body, 404, "HE_02");
    let (_, read) = app.get(&format!("/v2/refunds/{id}")).await;
    assert_eq!(read, updated);
    app.stop().await;
}
