//! Limits on what a client may send, and how slowly: the size of a request's head and the time to
//! send it, the time to send its body, the time it waits for an answer, how deeply its JSON nests,
//! and how long its text fields are; and on how many clients are connected at once. Each refusal
//! that can be answered is in the wire format and stores nothing; a slow client is cut off without
//! holding up anyone else; a request that runs past its time, or whose client hangs up, still
//! finishes its work.

use crate::common;

use std::time::Duration;

use common::localstripe::stripe_account;
use common::mock::slow_stripe;
use common::*;
use serde_json::{json, Map, Value};
use switchyard::config::Config;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long a test waits for the daemon to close a connection or answer: far beyond any limit set
/// here, so only a limit that is not enforced makes it run out.
const PATIENCE: Duration = Duration::from_secs(30);

async fn app_with(change: impl FnOnce(&mut Config)) -> TestApp {
    let dir = TempDir::new().unwrap();
    let mut config = common::config(dir.path());
    change(&mut config);
    TestApp::start_with(dir, config).await
}

/// Rows in every table a payment request could write.
async fn stored(app: &TestApp) -> i64 {
    app.count("payment_intents").await + app.count("payment_attempts").await + app.count("refunds").await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.expect("the daemon takes connections")
}

/// The head of a request as acme/web, with `extra` header lines and a JSON body of `length` bytes.
fn head(method: &str, path: &str, extra: &str, length: usize) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: {ACME_KEY}\r\nX-Profile-Id: web\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
    )
}

/// Reads one answer off a raw connection: its status and its body (JSON, or the text as a
/// string). Panics when none comes within `PATIENCE`.
async fn read_answer(stream: impl tokio::io::AsyncRead + Unpin) -> (u16, Value) {
    let read = async {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("a status line");
        let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        let mut length = 0;
        loop {
            line.clear();
            reader.read_line(&mut line).await.expect("a header line");
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("a length");
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.expect("the body");
        let text = String::from_utf8_lossy(&body).into_owned();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    };
    tokio::time::timeout(PATIENCE, read).await.expect("an answer in time")
}

/// Whether the daemon closes `stream` within `PATIENCE` while `drip` is sent on it every 100 ms,
/// and what it sent before closing.
async fn closed_while_dripping(stream: TcpStream, drip: &'static [u8]) -> (bool, Vec<u8>) {
    let (mut read, mut write) = stream.into_split();
    let dripping = tokio::spawn(async move {
        while !drip.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(drip).await.is_err() {
                break;
            }
        }
        // Holds the connection open (when nothing drips) until aborted.
        std::future::pending::<()>().await;
    });
    let mut received = Vec::new();
    // A reset counts as closed as much as an orderly end does.
    let closed = tokio::time::timeout(PATIENCE, read.read_to_end(&mut received)).await.is_ok();
    dripping.abort();
    (closed, received)
}

#[tokio::test]
async fn a_request_head_over_the_limit_is_431_and_stores_nothing() {
    let app = TestApp::start().await;
    let limit = app.config.server.max_header_bytes;
    let body = payment("4242424242424242").to_string();
    for (padding, want) in [(limit, 431), (limit / 2, 200)] {
        let mut stream = connect(&app).await;
        let request = head("POST", "/v2/payments", &format!("X-Padding: {}\r\n", "p".repeat(padding)), body.len());
        stream.write_all(format!("{request}{body}").as_bytes()).await.unwrap();
        let (status, answer) = read_answer(&mut stream).await;
        assert_eq!(status, want, "a head of {padding} bytes and more: {answer}");
        let expected = if want == 200 { 2 } else { 0 };
        assert_eq!(stored(&app).await, expected, "{answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_dribbles_its_head_is_cut_off_while_others_are_served() {
    let app = app_with(|c| c.server.header_timeout_ms = 500).await;
    let mut stream = connect(&app).await;
    stream.write_all(b"POST /v2/payments HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let dribbling = tokio::spawn(closed_while_dripping(stream, b"X-Slow: 1\r\n"));
    let (status, body) = app.get("/health").await;
    assert_eq!(status, 200, "{body}");
    let (closed, received) = dribbling.await.unwrap();
    assert!(closed, "a client still sending its head after {PATIENCE:?} was not cut off");
    assert!(received.is_empty(), "an unfinished request was answered: {}", String::from_utf8_lossy(&received));
    assert_eq!(stored(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let app = app_with(|c| c.server.header_timeout_ms = 500).await;
    // A connection that never sends anything.
    let (closed, received) = closed_while_dripping(connect(&app).await, b"").await;
    assert!(closed && received.is_empty(), "a silent connection was kept for {PATIENCE:?}");
    // A kept-alive connection after its answer.
    let mut stream = connect(&app).await;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let (closed, received) = closed_while_dripping(stream, b"").await;
    assert!(closed, "an idle kept-alive connection was kept for {PATIENCE:?}");
    assert!(received.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&received));
    app.stop().await;
}

#[tokio::test]
async fn the_metrics_listener_closes_idle_connections_too() {
    let app = app_with(|c| {
        c.server.header_timeout_ms = 500;
        c.metrics.listen = "127.0.0.1:0".into();
    })
    .await;
    let admin = app.metrics_base().expect("an admin listener");
    let stream = TcpStream::connect(admin.trim_start_matches("http://")).await.unwrap();
    let (closed, received) = closed_while_dripping(stream, b"").await;
    assert!(closed && received.is_empty(), "a silent connection to the metrics was kept for {PATIENCE:?}");
    app.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = app_with(|c| c.server.max_connections = 2).await;
    let health = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream.write_all(health).await.unwrap();
        assert_eq!(read_answer(&mut stream).await.0, 200);
        held.push(stream);
    }
    // The kernel completes the handshake; the daemon does not take the connection up.
    let mut waiting = connect(&app).await;
    waiting.write_all(health).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(300), read_answer(&mut waiting)).await;
    assert!(early.is_err(), "a third connection was served while two were open: {early:?}");
    drop(held.pop());
    assert_eq!(read_answer(&mut waiting).await.0, 200, "the waiting connection is served once one closes");
    app.stop().await;
}

/// The soft and hard limits on open descriptors of process `pid`.
fn descriptor_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("Linux's /proc");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("a line for open files");
    let value = |v: &str| if v == "unlimited" { u64::MAX } else { v.parse().expect("a number") };
    let values: Vec<u64> = line.split_whitespace().skip(3).take(2).map(value).collect();
    (values[0], values[1])
}

#[tokio::test]
async fn the_daemon_raises_its_descriptor_limit_to_fit_its_connections() {
    // The daemon inherits this process's hard limit; it starts with a soft limit of 300.
    let (_, hard) = descriptor_limits(std::process::id());
    let daemon =
        Daemon::spawn_under(&["prlimit", "--nofile=300:"], &[("SWITCHYARD__SERVER__MAX_CONNECTIONS", "600")]).await;
    let (soft, _) = descriptor_limits(daemon.pid());
    assert!(soft > 600 || soft == hard, "a soft limit of {soft} (hard {hard}) for 600 connections");
    assert!(!std::fs::read_to_string(&daemon.log).unwrap().contains("too low"));
}

#[tokio::test]
async fn a_descriptor_limit_too_low_for_the_connections_is_warned_of() {
    let daemon = Daemon::spawn_under(&["prlimit", "--nofile=300:300"], &[]).await;
    assert_eq!(descriptor_limits(daemon.pid()), (300, 300));
    let log = std::fs::read_to_string(&daemon.log).unwrap();
    assert!(log.contains("WARN") && log.contains("too low for server.max_connections"), "{log}");
}

#[tokio::test]
async fn a_client_that_dribbles_its_body_is_answered_408_and_stores_nothing() {
    let app = app_with(|c| c.server.body_timeout_ms = 500).await;
    for path in ["/v2/payments", "/v2/webhooks/acme/sandbox"] {
        let mut stream = connect(&app).await;
        stream.write_all(format!("{}{{", head("POST", path, "", 4000)).as_bytes()).await.unwrap();
        let (read, mut write) = stream.into_split();
        let dripping = tokio::spawn(async move {
            while write.write_all(b" ").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let (status, body) = read_answer(read).await;
        dripping.abort();
        let message = assert_error(reqwest::StatusCode::from_u16(status).unwrap(), &body, 408, "IR_06");
        assert!(message.contains("500 ms"), "{path}: {message}");
    }
    assert_eq!(stored(&app).await, 0);
    app.stop().await;
}

/// A payment whose body nests `depth` deep: its metadata holds arrays inside arrays.
fn nested(depth: usize) -> Vec<u8> {
    let arrays = depth - 2;
    let deep = format!("{}{}", "[".repeat(arrays), "]".repeat(arrays));
    let body = with(payment("4242424242424242"), json!({ "metadata": { "deep": "" } })).to_string();
    body.replace(r#""deep":"""#, &format!(r#""deep":{deep}"#)).into_bytes()
}

#[tokio::test]
async fn bodies_nested_past_the_limit_are_refused_before_they_are_parsed() {
    let app = TestApp::start().await;
    let depth = app.config.server.max_json_depth;
    let post = |body: Vec<u8>| {
        app.client
            .post(format!("{}/v2/payments", app.base))
            .header("api-key", ACME_KEY)
            .header("X-Profile-Id", "web")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let res = post(nested(depth)).await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(app.count("payment_intents").await, 1);

    // Far deeper than serde_json's own limit, and unterminated: still a scan, not a recursion.
    let bombs = [nested(depth + 1), "[".repeat(60_000).into_bytes(), "{\"a\":".repeat(10_000).into_bytes()];
    for bomb in bombs {
        let res = post(bomb).await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        let message = assert_error(status, &body, 400, "IR_06");
        assert_eq!(message, format!("the body nests arrays and objects more than {depth} deep"));
    }
    assert_eq!(stored(&app).await, 2, "only the first payment (an intent and its attempt) is stored");
    let (status, _) = app.get("/health").await;
    assert_eq!(status, 200);
    app.stop().await;
}

fn metadata(keys: usize, key_len: usize, value_len: usize) -> Value {
    let map: Map<String, Value> =
        (0..keys).map(|i| (format!("{i:0>key_len$}"), json!("v".repeat(value_len)))).collect();
    Value::Object(map)
}

#[tokio::test]
async fn payment_and_refund_metadata_is_bounded() {
    let app = TestApp::start().await;
    let card = payment("4242424242424242");
    let intent = json!({ "amount_details": { "currency": "USD", "order_amount": 100 } });
    let paid = pay(&app, card.clone()).await;
    let refund = json!({ "payment_id": id_of(&paid), "merchant_reference_id": "r1" });
    let before = stored(&app).await;
    let cases = [
        (metadata(51, 2, 1), "metadata: at most 50 keys"),
        (metadata(1, 41, 1), "keys are at most 40 characters"),
        (metadata(1, 40, 501), "values are at most 500 characters"),
        (json!({ "nested": { "n": "v".repeat(500) } }), "metadata.nested: values are at most 500 characters"),
    ];
    for (metadata, want) in cases {
        for (path, body) in [("/v2/payments", &card), ("/v2/payments/create-intent", &intent), ("/v2/refunds", &refund)]
        {
            let (status, answer) = app.post(path, with(body.clone(), json!({ "metadata": metadata }))).await;
            let message = assert_error(status, &answer, 422, "IR_06");
            assert!(message.contains(want), "{path}: {message}");
        }
    }
    assert_eq!(stored(&app).await, before);

    // The most metadata allowed is kept whole.
    let most = metadata(50, 40, 500);
    let paid = pay(&app, with(card, json!({ "metadata": most }))).await;
    assert_eq!(paid["metadata"], most);
    let (status, refunded) = app.post("/v2/refunds", with(refund, json!({ "metadata": most }))).await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(refunded["metadata"], most);
    app.stop().await;
}

/// `body` with `value` at JSON pointer `pointer`, the objects on the way made when missing.
fn set(mut body: Value, pointer: &str, value: Value) -> Value {
    let mut at = &mut body;
    for key in pointer.trim_start_matches('/').split('/') {
        at = match key.parse::<usize>() {
            Ok(i) if at.is_array() => &mut at[i],
            _ => &mut at[key],
        };
    }
    *at = value;
    body
}

#[tokio::test]
async fn text_fields_are_bounded_as_the_reference_says() {
    let app = TestApp::start().await;
    let long = |n: usize| json!("x".repeat(n));
    // Each field at its limit, and the field path its refusal names when one longer.
    let fields: [(&str, usize); 18] = [
        ("/description", 255),
        ("/statement_descriptor", 22),
        ("/billing/address/city", 50),
        ("/billing/address/line1", 200),
        ("/billing/address/line2", 50),
        ("/billing/address/line3", 50),
        ("/billing/address/zip", 50),
        ("/billing/address/state", 255),
        ("/billing/address/first_name", 255),
        ("/billing/address/last_name", 255),
        ("/billing/address/origin_zip", 50),
        ("/billing/email", 255),
        ("/billing/phone/number", 255),
        ("/shipping/address/line1", 200),
        ("/shipping/phone/country_code", 255),
        ("/order_details/0/product_name", 255),
        ("/payment_method_data/card/card_holder_name", 255),
        ("/payment_method_data/billing/address/city", 50),
    ];
    let card = set(payment("4242424242424242"), "/order_details", json!([{ "quantity": 1, "amount": 6540 }]));
    for (pointer, max) in fields {
        let field = pointer.trim_start_matches('/').replace("/0/", "[0].").replace('/', ".");
        let (status, body) = app.post("/v2/payments", set(card.clone(), pointer, long(max + 1))).await;
        let message = assert_error(status, &body, 422, "IR_06");
        assert_eq!(message, format!("{field}: must be at most {max} characters"));
    }
    let url = format!("https://shop.example/{}", "u".repeat(2048 - 21));
    let (status, body) = app.post("/v2/payments", set(card.clone(), "/return_url", json!(format!("{url}u")))).await;
    assert_eq!(assert_error(status, &body, 422, "IR_06"), "return_url: must be at most 2048 characters");
    let (status, body) = app.post("/v2/payments", set(card.clone(), "/order_details", json!({}))).await;
    assert_eq!(assert_error(status, &body, 422, "IR_06"), "order_details: must be a list of order items");
    let items = Value::Array(vec![json!({ "product_name": "shirt" }); 101]);
    let (status, body) = app.post("/v2/payments", set(card.clone(), "/order_details", items)).await;
    assert_eq!(assert_error(status, &body, 422, "IR_06"), "order_details: at most 100 items");
    assert_eq!(stored(&app).await, 0);

    // Every field at its limit together is taken, and kept as given.
    let full = fields.iter().fold(card, |body, (pointer, max)| set(body, pointer, long(*max)));
    let full = set(full, "/return_url", json!(url));
    let paid = pay(&app, full).await;
    assert_eq!(paid["billing"]["address"]["line1"], long(200));
    assert_eq!(paid["return_url"], json!(url));
    app.stop().await;
}

#[tokio::test]
async fn intents_and_their_confirmation_are_bounded_too() {
    let app = TestApp::start().await;
    let intent = json!({ "amount_details": { "currency": "USD", "order_amount": 100 } });
    let (status, body) = app
        .post("/v2/payments/create-intent", set(intent.clone(), "/shipping/address/zip", json!("9".repeat(51))))
        .await;
    assert_eq!(assert_error(status, &body, 422, "IR_06"), "shipping.address.zip: must be at most 50 characters");
    assert_eq!(stored(&app).await, 0);

    let (status, created) = app.post("/v2/payments/create-intent", intent).await;
    assert_eq!(status, 200, "{created}");
    let confirm = format!("/v2/payments/{}/confirm-intent", id_of(&created));
    let card = card_method("4242424242424242");
    for (pointer, field, max) in [
        ("/return_url", "return_url", 2048),
        ("/payment_method_data/card/card_holder_name", "payment_method_data.card.card_holder_name", 255),
        ("/payment_method_data/billing/address/line2", "payment_method_data.billing.address.line2", 50),
    ] {
        let (status, body) = app.post(&confirm, set(card.clone(), pointer, json!("x".repeat(max + 1)))).await;
        assert_eq!(assert_error(status, &body, 422, "IR_06"), format!("{field}: must be at most {max} characters"));
    }
    let (_, intent) = app.get(&format!("/v2/payments/{}/get-intent", id_of(&created))).await;
    assert_eq!(intent["status"], "requires_payment_method", "{intent}");
    assert_eq!(app.count("payment_attempts").await, 0);
    app.stop().await;
}

/// acme/web paying through a Stripe double at `stripe`, under a request timeout of `timeout_ms`
/// and a payment budget below it.
async fn app_paying_at(stripe: &str, timeout_ms: u64) -> TestApp {
    app_with(|c| {
        let web = c.merchants.get_mut("acme").unwrap().profiles.get_mut("web").unwrap();
        web.connector_accounts = vec![stripe_account("stripe", stripe)];
        c.server.request_timeout_ms = timeout_ms;
        c.server.body_timeout_ms = timeout_ms / 2;
        c.payments.budget_ms = timeout_ms - 1;
    })
    .await
}

/// Polls the payment until `status` is `want`, within `PATIENCE`.
async fn settles(app: &TestApp, payment_id: &str, want: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (_, body) = app.get(&format!("/v2/payments/{payment_id}")).await;
        if body["status"] == want || started.elapsed() > PATIENCE {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_past_its_time_is_answered_504_and_its_work_goes_on() {
    let stripe = slow_stripe(Duration::ZERO, Duration::from_secs(6)).await;
    let app = app_paying_at(&stripe.url, 3000).await;
    let authorized = pay(&app, set(payment("4242424242424242"), "/capture_method", json!("manual"))).await;
    assert_eq!(authorized["status"], "requires_capture", "{authorized}");
    let id = id_of(&authorized);

    let (status, body) = app.post(&format!("/v2/payments/{id}/capture"), json!({})).await;
    let message = assert_error(status, &body, 504, "HE_00");
    assert_eq!(body["error"]["type"], "api");
    assert!(message.contains("3000 ms") && message.contains("still being processed"), "{message}");
    // The capture Stripe was asked for is stored once it answers.
    let captured = settles(&app, &id, "succeeded").await;
    assert_eq!(captured["status"], "succeeded", "{captured}");
    assert_eq!(captured["amount"]["amount_captured"], 6540, "{captured}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_hangs_up_does_not_cut_its_payment_off() {
    let stripe = slow_stripe(Duration::from_secs(2), Duration::ZERO).await;
    let app = app_paying_at(&stripe.url, 10_000).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let body = with(payment("4242424242424242"), json!({ "merchant_reference_id": "hung_up" }));
    let sent = impatient
        .post(format!("{}/v2/payments", app.base))
        .header("api-key", ACME_KEY)
        .header("X-Profile-Id", "web")
        .json(&body)
        .send()
        .await;
    assert!(sent.is_err_and(|e| e.is_timeout()), "the client gave up before the answer");
    // The payment Stripe was asked for is stored as Stripe answered it.
    let started = std::time::Instant::now();
    let status = loop {
        use sqlx::Connection;
        let mut db = common::database::open(app.database_url()).await;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM payment_intents WHERE merchant_reference_id = 'hung_up'")
                .fetch_optional(&mut db)
                .await
                .unwrap();
        db.close().await.ok();
        match status {
            Some(s) if s == "succeeded" || started.elapsed() > PATIENCE => break s,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(status, "succeeded");
    app.stop().await;
}
