//! Customers over HTTP: create, retrieve, update, delete and list, the fields each answer
//! carries, the requests refused and the proof that they change nothing, reference ids unique
//! within a merchant, and one merchant never seeing or touching another's customers.

use crate::common;

use common::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Map, Value};

// ---- helpers --------------------------------------------------------------------------------

fn address() -> Value {
    json!({
        "city": "San Francisco",
        "country": "US",
        "line1": "1467",
        "line2": "Harrison Street",
        "line3": "Harrison Street",
        "zip": "94122",
        "state": "California",
        "first_name": "John",
        "last_name": "Doe"
    })
}

/// The documented create request, with every optional field but the reference id.
fn customer() -> Value {
    json!({
        "name": "John Doe",
        "email": "guest@example.com",
        "phone": "999999999",
        "phone_country_code": "+65",
        "description": "First customer",
        "default_billing_address": address(),
        "default_shipping_address": address(),
        "metadata": { "udf1": "value1", "new_customer": "true" },
        "tax_registration_id": "123456789"
    })
}

/// The least a create request may carry.
fn minimal(email: &str) -> Value {
    json!({ "name": "John Doe", "email": email })
}

/// A request as acme/web.
async fn acme(app: &TestApp, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
    app.call(method, path, Some(ACME_KEY), Some("web"), body).await
}

/// A request as globex/web.
async fn globex(app: &TestApp, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
    app.call(method, path, Some(GLOBEX_KEY), Some("web"), body).await
}

/// Creates a customer as acme/web, expecting 200.
async fn create(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.post("/v2/customers", body).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn retrieve(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/v2/customers/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn update(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    acme(app, Method::PUT, &format!("/v2/customers/{id}"), Some(&body)).await
}

async fn delete(app: &TestApp, id: &str) -> (StatusCode, Value) {
    acme(app, Method::DELETE, &format!("/v2/customers/{id}"), None).await
}

/// The list as `key`/web with `query` (empty, or `?limit=…`), expecting 200 and an array.
async fn list_as(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let path = format!("/v2/customers/list{query}");
    let (status, body) = app.call(Method::GET, &path, Some(key), Some("web"), None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap_or_else(|| panic!("the list is not an array: {body}")).clone()
}

async fn list(app: &TestApp) -> Vec<Value> {
    list_as(app, ACME_KEY, "").await
}

fn ids(customers: &[Value]) -> Vec<String> {
    customers.iter().map(id_of).collect()
}

/// Asserts a refusal: a 4xx in the wire format with `code`. Returns the message.
fn assert_refused(status: StatusCode, body: &Value, code: &str) -> String {
    assert!(status.is_client_error(), "want a 4xx, got {status}: {body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["type"].is_string(), "{body}");
    body["error"]["message"].as_str().unwrap_or_else(|| panic!("no message in {body}")).to_string()
}

/// Asserts every field of `expected` is in `actual` with the same value; other fields may be there too.
fn assert_holds(actual: &Value, expected: &Value) {
    for (k, v) in expected.as_object().expect("expected is an object") {
        assert_eq!(&actual[k], v, "field {k} of {actual}");
    }
}

/// Creates a customer with `body` expecting it to be refused with `code`, and checks the list
/// did not change. Returns the message.
async fn create_refused(app: &TestApp, body: &Value, code: &str) -> String {
    let before = list(app).await;
    let (status, answer) = acme(app, Method::POST, "/v2/customers", Some(body)).await;
    let message = assert_refused(status, &answer, code);
    assert_eq!(list(app).await, before, "a refused create changed the list: {answer} (for {body})");
    message
}

// ---- create ---------------------------------------------------------------------------------

/// Found by schemathesis: `"default_shipping_address": [null, null]` was read as an address by
/// position and stored as `{}`; an address is an object.
#[tokio::test]
async fn an_address_given_as_an_array_is_refused() {
    let app = TestApp::start().await;
    let body = with(customer(), json!({ "default_shipping_address": [null, null] }));
    let message = create_refused(&app, &body, "IR_06").await;
    assert!(message.starts_with("default_shipping_address: invalid type: sequence"), "{message}");
    let id = id_of(&create(&app, customer()).await);
    let (status, answer) = update(&app, &id, body).await;
    let message = assert_refused(status, &answer, "IR_06");
    assert!(message.starts_with("default_shipping_address: invalid type: sequence"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn creating_a_customer_answers_every_field_it_was_given() {
    let app = TestApp::start().await;
    let body = create(&app, with(customer(), json!({ "merchant_reference_id": "customer_1556" }))).await;
    assert_eq!(body["merchant_reference_id"], "customer_1556", "{body}");
    assert_eq!(body["name"], "John Doe", "{body}");
    assert_eq!(body["email"], "guest@example.com", "{body}");
    assert_eq!(body["phone"], "999999999", "{body}");
    assert_eq!(body["phone_country_code"], "+65", "{body}");
    assert_eq!(body["description"], "First customer", "{body}");
    assert_eq!(body["tax_registration_id"], "123456789", "{body}");
    assert_eq!(body["metadata"], json!({ "udf1": "value1", "new_customer": "true" }), "{body}");
    assert_holds(&body["default_billing_address"], &address());
    assert_holds(&body["default_shipping_address"], &address());
    assert!(body["default_payment_method_id"].is_null(), "{body}");
    assert!(body["connector_customer_ids"].is_null(), "{body}");

    let id = id_of(&body);
    assert!(id.contains("_cus_"), "{id}");
    assert!((32..=64).contains(&id.len()), "{id} has {} characters", id.len());

    let created_at = str_of(&body, "/created_at");
    let prefix = created_at.get(..19).unwrap_or_else(|| panic!("created_at too short: {created_at}"));
    assert!(
        chrono::NaiveDateTime::parse_from_str(prefix, "%Y-%m-%dT%H:%M:%S").is_ok(),
        "created_at is not ISO 8601: {created_at}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_customer_without_a_reference_id_gets_a_generated_one_and_its_own_id() {
    let app = TestApp::start().await;
    let first = create(&app, minimal("guest@example.com")).await;
    let second = create(&app, minimal("guest@example.com")).await;
    for body in [&first, &second] {
        let reference = str_of(body, "/merchant_reference_id");
        assert!(reference.starts_with("cus_"), "{body}");
        assert!(body["phone"].is_null(), "{body}");
        assert!(body["description"].is_null(), "{body}");
        assert!(body["default_billing_address"].is_null(), "{body}");
        assert!(body["default_shipping_address"].is_null(), "{body}");
    }
    assert_ne!(id_of(&first), id_of(&second), "two customers share an id");
    assert_ne!(first["merchant_reference_id"], second["merchant_reference_id"], "two customers share a reference");
    app.stop().await;
}

#[tokio::test]
async fn a_created_customer_reads_back_exactly_as_it_was_answered() {
    let app = TestApp::start().await;
    let created = create(&app, with(customer(), json!({ "merchant_reference_id": "cust-A_1" }))).await;
    let fetched = retrieve(&app, &id_of(&created)).await;
    assert_eq!(fetched, created);
    app.stop().await;
}

#[tokio::test]
async fn fields_at_their_limits_are_accepted() {
    let app = TestApp::start().await;
    let long = "x".repeat(255);
    let local = "a".repeat(255 - "@example.com".len());
    let reference = "R".repeat(64);
    let metadata: Map<String, Value> = (0..50).map(|i| (format!("{i:0>40}"), json!(i))).collect();
    let body = json!({
        "name": long,
        "email": format!("{local}@example.com"),
        "merchant_reference_id": reference,
        "phone": long,
        "phone_country_code": long,
        "description": long,
        "tax_registration_id": long,
        "metadata": metadata
    });
    let created = create(&app, body.clone()).await;
    assert_holds(&created, &body);
    assert_holds(&retrieve(&app, &id_of(&created)).await, &body);

    let created = create(&app, with(minimal("guest@example.com"), json!({ "merchant_reference_id": "a" }))).await;
    assert_eq!(created["merchant_reference_id"], "a", "{created}");
    app.stop().await;
}

// ---- create: refused ------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_field_is_refused_by_name_and_stores_nothing() {
    let app = TestApp::start().await;
    let body = with(customer(), json!({ "nickname": "Johnny" }));
    let message = create_refused(&app, &body, "IR_06").await;
    assert!(message.contains("nickname"), "{message}");

    let body = with(customer(), json!({ "default_billing_address": with(address(), json!({ "planet": "Mars" })) }));
    let message = create_refused(&app, &body, "IR_06").await;
    assert!(message.contains("planet"), "{message}");
    assert!(list(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_missing_name_or_email_is_400_ir_04_naming_the_field() {
    let app = TestApp::start().await;
    for field in ["name", "email"] {
        let mut body = customer();
        body.as_object_mut().unwrap().remove(field);
        let (status, answer) = acme(&app, Method::POST, "/v2/customers", Some(&body)).await;
        let message = assert_error(status, &answer, 400, "IR_06");
        assert!(message.contains(field), "{message}");
    }
    assert!(list(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_email_is_422_ir_06_naming_email() {
    let app = TestApp::start().await;
    for email in ["guest", "guest@", "@example.com", "guest@example", "guest@@example.com", "a@b@example.com", ""] {
        let body = with(customer(), json!({ "email": email }));
        let (status, answer) = acme(&app, Method::POST, "/v2/customers", Some(&body)).await;
        let message = assert_error(status, &answer, 422, "IR_06");
        assert!(message.contains("email"), "{email:?}: {message}");
    }
    assert!(list(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_ir_06() {
    let app = TestApp::start().await;
    for text in [r#"{"name":"John Doe","email":"#, "{", "not json"] {
        let res = app
            .client
            .post(format!("{}/v2/customers", app.base))
            .header("api-key", ACME_KEY)
            .header("X-Profile-Id", "web")
            .header(header::CONTENT_TYPE, "application/json")
            .body(text)
            .send()
            .await
            .expect("request sent");
        let status = res.status();
        let body: Value = res.json().await.expect("a JSON answer");
        assert_error(status, &body, 400, "IR_06");
    }
    assert!(list(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn over_long_and_malformed_fields_are_refused_naming_the_field() {
    let app = TestApp::start().await;
    let long = "x".repeat(256);
    let too_many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases = [
        (json!({ "name": long }), "name"),
        (json!({ "email": format!("{}@example.com", "a".repeat(250)) }), "email"),
        (json!({ "phone": long }), "phone"),
        (json!({ "phone_country_code": long }), "phone_country_code"),
        (json!({ "description": long }), "description"),
        (json!({ "tax_registration_id": long }), "tax_registration_id"),
        (json!({ "merchant_reference_id": "" }), "merchant_reference_id"),
        (json!({ "merchant_reference_id": "R".repeat(65) }), "merchant_reference_id"),
        (json!({ "merchant_reference_id": "has space" }), "merchant_reference_id"),
        (json!({ "merchant_reference_id": "dot.ted" }), "merchant_reference_id"),
        (json!({ "metadata": too_many }), "metadata"),
        (json!({ "metadata": { "k".repeat(41): 1 } }), "metadata"),
        (json!({ "metadata": [1, 2] }), "metadata"),
        (json!({ "metadata": "udf1" }), "metadata"),
        (json!({ "name": 42 }), "name"),
    ];
    for (fields, field) in cases {
        let body = with(customer(), fields);
        let message = create_refused(&app, &body, "IR_06").await;
        assert!(message.contains(field), "{message} (for {body})");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_reference_id_is_unique_within_a_merchant_only() {
    let app = TestApp::start().await;
    let body = with(customer(), json!({ "merchant_reference_id": "customer_1556" }));
    let first = create(&app, body.clone()).await;
    let stored = retrieve(&app, &id_of(&first)).await;

    let again = with(minimal("other@example.com"), json!({ "merchant_reference_id": "customer_1556" }));
    let (status, answer) = acme(&app, Method::POST, "/v2/customers", Some(&again)).await;
    assert_error(status, &answer, 400, "HE_01");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&id_of(&first)), "the error does not name the customer holding it: {answer}");
    assert_eq!(ids(&list(&app).await), vec![id_of(&first)], "a duplicate was stored");
    assert_eq!(retrieve(&app, &id_of(&first)).await, stored, "a duplicate changed the first customer");

    // The other merchant may use the same reference.
    let (status, theirs) = globex(&app, Method::POST, "/v2/customers", Some(&body)).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["merchant_reference_id"], "customer_1556", "{theirs}");
    assert_ne!(id_of(&theirs), id_of(&first));
    app.stop().await;
}

// ---- retrieve -------------------------------------------------------------------------------

#[tokio::test]
async fn another_merchants_customer_is_404_exactly_like_an_unknown_one() {
    let app = TestApp::start().await;
    let id = id_of(&create(&app, customer()).await);
    let stored = retrieve(&app, &id).await;
    let unknown = format!("{}_cus_0000000000000000000000000", id.split("_cus_").next().unwrap());

    let (status, missing) = app.get(&format!("/v2/customers/{unknown}")).await;
    assert_error(status, &missing, 404, "HE_02");
    let (status, foreign) = globex(&app, Method::GET, &format!("/v2/customers/{id}"), None).await;
    assert_error(status, &foreign, 404, "HE_02");

    let shape = |body: &Value, id: &str| body.to_string().replace(id, "{id}");
    assert_eq!(shape(&foreign, &id), shape(&missing, &unknown), "a foreign customer reads unlike an unknown one");
    assert_eq!(retrieve(&app, &id).await, stored);
    app.stop().await;
}

// ---- update ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_update_replaces_present_fields_and_keeps_absent_ones() {
    let app = TestApp::start().await;
    let id = id_of(&create(&app, with(customer(), json!({ "merchant_reference_id": "customer_1556" }))).await);
    let stored = retrieve(&app, &id).await;

    let shipping = json!({ "city": "Austin", "country": "US", "line1": "1 Main St", "zip": "73301", "state": "Texas" });
    let change = json!({
        "name": "Jane Doe",
        "email": "jane@example.com",
        "description": "Returning customer",
        "default_shipping_address": shipping,
        "metadata": { "udf1": "value2" }
    });
    let (status, updated) = update(&app, &id, change.clone()).await;
    assert_eq!(status, 200, "{updated}");
    assert_holds(&updated, &json!({ "id": id, "merchant_reference_id": "customer_1556" }));
    assert_eq!(updated["name"], "Jane Doe", "{updated}");
    assert_eq!(updated["email"], "jane@example.com", "{updated}");
    assert_eq!(updated["description"], "Returning customer", "{updated}");
    assert_eq!(updated["metadata"], json!({ "udf1": "value2" }), "{updated}");
    assert_holds(&updated["default_shipping_address"], &shipping);
    for kept in ["phone", "phone_country_code", "tax_registration_id", "default_billing_address", "created_at"] {
        assert_eq!(updated[kept], stored[kept], "{kept} changed: {updated}");
    }
    assert_eq!(retrieve(&app, &id).await, updated, "a following GET differs from the update's answer");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_update_changes_nothing() {
    let app = TestApp::start().await;
    let id = id_of(&create(&app, customer()).await);
    let stored = retrieve(&app, &id).await;
    let change = json!({ "name": "Jane Doe", "email": "jane@example.com" });

    let (status, body) = update(&app, &id, with(change.clone(), json!({ "email": "jane.example.com" }))).await;
    let message = assert_error(status, &body, 422, "IR_06");
    assert!(message.contains("email"), "{message}");
    assert_eq!(retrieve(&app, &id).await, stored);

    let (status, body) = update(&app, &id, json!({ "name": "Jane Doe" })).await;
    let message = assert_error(status, &body, 400, "IR_06");
    assert!(message.contains("email"), "{message}");
    assert_eq!(retrieve(&app, &id).await, stored);

    let (status, body) = update(&app, &id, json!({ "email": "jane@example.com" })).await;
    let message = assert_error(status, &body, 400, "IR_06");
    assert!(message.contains("name"), "{message}");
    assert_eq!(retrieve(&app, &id).await, stored);

    let (status, body) = update(&app, &id, with(change.clone(), json!({ "nickname": "Janie" }))).await;
    let message = assert_refused(status, &body, "IR_06");
    assert!(message.contains("nickname"), "{message}");
    assert_eq!(retrieve(&app, &id).await, stored);

    let missing = json!({ "default_payment_method_id": "sy_pm_0000000000000000000000000000" });
    let (status, body) = update(&app, &id, with(change.clone(), missing)).await;
    assert_error(status, &body, 404, "HE_02");
    assert_eq!(retrieve(&app, &id).await, stored);
    app.stop().await;
}

#[tokio::test]
async fn updating_an_unknown_customer_is_404() {
    let app = TestApp::start().await;
    let change = json!({ "name": "Jane Doe", "email": "jane@example.com" });
    let (status, body) = update(&app, "sy_cus_0000000000000000000000000000", change).await;
    assert_error(status, &body, 404, "HE_02");
    assert!(list(&app).await.is_empty(), "an update of an unknown customer created one");
    app.stop().await;
}

#[tokio::test]
async fn another_merchant_can_neither_update_nor_delete_a_customer() {
    let app = TestApp::start().await;
    let id = id_of(&create(&app, customer()).await);
    let stored = retrieve(&app, &id).await;
    let path = format!("/v2/customers/{id}");

    let change = json!({ "name": "Mallory", "email": "mallory@example.com" });
    let (status, body) = globex(&app, Method::PUT, &path, Some(&change)).await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = globex(&app, Method::DELETE, &path, None).await;
    assert_error(status, &body, 404, "HE_02");

    assert_eq!(retrieve(&app, &id).await, stored, "the owner's customer changed");
    assert_eq!(ids(&list(&app).await), vec![id]);
    app.stop().await;
}

// ---- delete ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_deleted_customer_is_gone_and_its_reference_id_free_again() {
    let app = TestApp::start().await;
    let body = with(customer(), json!({ "merchant_reference_id": "customer_1556" }));
    let id = id_of(&create(&app, body.clone()).await);
    let kept = id_of(&create(&app, minimal("other@example.com")).await);
    let stored = retrieve(&app, &kept).await;

    let (status, deleted) = delete(&app, &id).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted,
        json!({
            "id": id,
            "merchant_reference_id": "customer_1556",
            "customer_deleted": true,
            "address_deleted": true,
            "payment_methods_deleted": true
        })
    );

    let (status, answer) = app.get(&format!("/v2/customers/{id}")).await;
    assert_error(status, &answer, 404, "HE_02");
    let (status, answer) = delete(&app, &id).await;
    assert_error(status, &answer, 404, "HE_02");
    let change = json!({ "name": "Jane Doe", "email": "jane@example.com" });
    let (status, answer) = update(&app, &id, change).await;
    assert_error(status, &answer, 404, "HE_02");
    assert_eq!(ids(&list(&app).await), vec![kept.clone()], "the list still shows a deleted customer");

    let again = create(&app, body).await;
    assert_eq!(again["merchant_reference_id"], "customer_1556", "{again}");
    assert_ne!(id_of(&again), id, "a new customer reuses a deleted one's id");
    assert_eq!(retrieve(&app, &kept).await, stored, "deleting one customer touched another");
    app.stop().await;
}

// ---- list -----------------------------------------------------------------------------------

#[tokio::test]
async fn the_list_shows_the_merchants_customers_newest_first() {
    let app = TestApp::start().await;
    assert!(list(&app).await.is_empty());
    let mut created = Vec::new();
    for n in 0..3 {
        let id = id_of(&create(&app, with(customer(), json!({ "merchant_reference_id": format!("cust_{n}") }))).await);
        created.push(retrieve(&app, &id).await);
    }
    let listed = list(&app).await;
    created.reverse();
    assert_eq!(listed, created, "the list is not the created customers, newest first");
    app.stop().await;
}

#[tokio::test]
async fn the_list_pages_with_limit_and_offset() {
    let app = TestApp::start().await;
    let mut created = Vec::new();
    for n in 0..23 {
        let body = with(minimal(&format!("guest{n}@example.com")), json!({ "merchant_reference_id": format!("c{n}") }));
        created.push(id_of(&create(&app, body).await));
    }
    created.reverse();

    assert_eq!(ids(&list(&app).await), created[..20], "the default page is not the newest 20");
    assert_eq!(ids(&list_as(&app, ACME_KEY, "?limit=100").await), created);
    assert_eq!(ids(&list_as(&app, ACME_KEY, "?limit=1").await), created[..1]);
    assert_eq!(ids(&list_as(&app, ACME_KEY, "?offset=20").await), created[20..]);
    assert!(list_as(&app, ACME_KEY, "?offset=23").await.is_empty());
    assert!(list_as(&app, ACME_KEY, "?limit=5&offset=1000").await.is_empty());

    let mut paged = Vec::new();
    for offset in (0..23).step_by(5) {
        let page = list_as(&app, ACME_KEY, &format!("?limit=5&offset={offset}")).await;
        assert!(page.len() <= 5, "a page of {} for limit=5", page.len());
        paged.extend(ids(&page));
    }
    assert_eq!(paged, created, "the pages do not add up to the whole list");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_limit_or_offset_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    create(&app, customer()).await;
    let before = list(&app).await;
    for query in ["limit=0", "limit=101", "limit=abc", "limit=-1", "offset=-1", "offset=abc"] {
        let (status, body) = app.get(&format!("/v2/customers/list?{query}")).await;
        assert!(status.is_client_error(), "{query}: want a 4xx, got {status}: {body}");
        let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("{query}: no code in {body}"));
        assert!(code == "IR_06" || code == "IR_04", "{query}: {body}");
    }
    assert_eq!(list(&app).await, before);
    app.stop().await;
}

#[tokio::test]
async fn one_merchants_list_never_shows_anothers_customers() {
    let app = TestApp::start().await;
    let ours = create(&app, customer()).await;
    let (status, theirs) = globex(&app, Method::POST, "/v2/customers", Some(&minimal("globex@example.com"))).await;
    assert_eq!(status, 200, "{theirs}");

    assert_eq!(ids(&list_as(&app, GLOBEX_KEY, "").await), vec![id_of(&theirs)]);
    assert_eq!(ids(&list_as(&app, GLOBEX_KEY, "?limit=100").await), vec![id_of(&theirs)]);
    assert_eq!(ids(&list(&app).await), vec![id_of(&ours)]);

    // The acme profile `shop` sees acme's customers: they belong to the merchant, not a profile.
    let (status, body) = app.call(Method::GET, "/v2/customers/list", Some(ACME_KEY), Some("shop"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(body.as_array().expect("an array")), vec![id_of(&ours)]);
    app.stop().await;
}

// ---- authentication -------------------------------------------------------------------------

#[tokio::test]
async fn every_customer_route_needs_an_api_key() {
    let app = TestApp::start().await;
    let id = id_of(&create(&app, customer()).await);
    let stored = retrieve(&app, &id).await;
    let path = format!("/v2/customers/{id}");
    let change = json!({ "name": "Jane Doe", "email": "jane@example.com" });
    let routes = [
        (Method::POST, "/v2/customers".to_string(), Some(customer())),
        (Method::GET, path.clone(), None),
        (Method::PUT, path.clone(), Some(change)),
        (Method::DELETE, path.clone(), None),
        (Method::GET, "/v2/customers/list".to_string(), None),
    ];
    for (method, route, body) in routes {
        let (status, answer) = app.call(method.clone(), &route, None, Some("web"), body.as_ref()).await;
        let message = assert_error(status, &answer, 401, "IR_01");
        assert!(!message.is_empty(), "{method} {route}: {answer}");
    }
    assert_eq!(retrieve(&app, &id).await, stored);
    assert_eq!(ids(&list(&app).await), vec![id]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_v1_paths_hyperswitchs_document_lists_are_the_same_calls() {
    let app = TestApp::start().await;
    let body = json!({ "name": "Jo", "email": "jo@example.com" });
    let (status, created) = app.post("/v1/customers", body).await;
    assert_eq!(status, 200, "{created}");
    let id = id_of(&created);
    let (status, read) = app.get(&format!("/v2/customers/{id}")).await;
    assert_eq!((status.as_u16(), &read), (200, &created));
    let (status, read) = app.get(&format!("/v1/customers/{id}")).await;
    assert_eq!((status.as_u16(), &read), (200, &created));
    let (status, listed) = app.get("/v1/customers/list?limit=1").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    // Errors as the twin answers them, and only the listed paths are aliases.
    let (status, body) = app.get("/v1/customers/sy_cus_nope").await;
    assert_error(status, &body, 404, "HE_02");
    let (status, body) = app.post("/v1/payments", json!({})).await;
    let message = assert_error(status, &body, 404, "IR_02");
    assert!(message.starts_with("Unrecognized request URL"), "{message}");
    app.stop().await;
}
