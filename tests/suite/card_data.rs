//! Card numbers and security codes never reach the database, a log line or a response.
//!
//! The real binary runs as a subprocess with the most verbose logging there is, takes payments
//! through every flow with a distinctive card, and is stopped; then its database files and its
//! captured output are searched byte by byte.

use crate::common;

use common::binary::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::database::{contents, database_url, holds, sqlite_only};
use reqwest::header;
use serde_json::{json, Value};
use switchyard::card::{CardNumber, Cvc};

const DEMO_KEY: &str = "sy_sk_EcUKnRGm9ycfbQOyR2PYq322lLfeY3hm";
const DEMO_PROFILE: &str = "pro_demo";
/// Luhn-valid, not one of the sandbox's special cards: it simply succeeds.
const PAN: &str = "4111111111111111";
const PAN_SPACED: &str = "4111 1111 1111 1111";
const LUHN_FAILING_PAN: &str = "4111111111111112";
const THREE_DS_PAN: &str = "4000002760003184";
const DECLINED_PAN: &str = "4000000000000002";
const CVC: &str = "987";

/// Every full card number sent, and the forms that must never be stored, logged or answered.
const FORBIDDEN: [&str; 5] = [PAN, PAN_SPACED, LUHN_FAILING_PAN, THREE_DS_PAN, DECLINED_PAN];

fn card_payment(number: &str) -> Value {
    json!({
        "amount_details": { "currency": "USD", "order_amount": 6540 },
        "payment_method_data": {
            "card": {
                "card_cvc": CVC,
                "card_exp_month": "10",
                "card_exp_year": "35",
                "card_holder_name": "joseph Doe",
                "card_number": number
            }
        },
        "payment_method_subtype": "credit",
        "payment_method_type": "card"
    })
}

/// The daemon as a subprocess, its output captured to files.
struct Daemon {
    child: Child,
    base: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Daemon {
    fn spawn(dir: &Path, db: &str, run: &str) -> Self {
        Self::spawn_at(dir, db, run, "trace")
    }

    /// The daemon logging at `level` (`RUST_LOG`).
    fn spawn_at(dir: &Path, db: &str, run: &str, level: &str) -> Self {
        let port = free_port();
        let stdout = dir.join(format!("{run}.stdout.log"));
        let stderr = dir.join(format!("{run}.stderr.log"));
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .current_dir(root)
            .arg("--config")
            .arg(root.join("config/switchyard.toml"))
            .env("SWITCHYARD__DATABASE__URL", db)
            .env("SWITCHYARD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", level)
            .env_remove("SWITCHYARD__LOG__LEVEL")
            .env_remove("SWITCHYARD__LOG__JSON")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("the daemon starts");
        Self { child, base: format!("http://127.0.0.1:{port}"), stdout, stderr }
    }

    /// Waits (bounded) until `/health` answers 200.
    async fn ready(&mut self, client: &reqwest::Client) {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the daemon exited with {status}: {}", self.output());
            }
            if let Ok(res) = client.get(format!("{}/health", self.base)).send().await {
                if res.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the daemon did not become healthy: {}", self.output());
    }

    fn output(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("stdout:\n{}\nstderr:\n{}", read(&self.stdout), read(&self.stderr))
    }

    /// Kills the daemon outright (SIGKILL): whatever the write-ahead log holds stays there.
    fn kill(mut self) -> Vec<Vec<u8>> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.logs()
    }

    /// Asks the daemon to stop (SIGTERM through `kill`), which must end it cleanly.
    fn stop(mut self) -> Vec<Vec<u8>> {
        let pid = self.child.id().to_string();
        let asked = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(asked.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the daemon stopped with {status}: {}", self.output());
                return self.logs();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        panic!("the daemon did not stop on SIGTERM: {}", self.output());
    }

    fn logs(&self) -> Vec<Vec<u8>> {
        vec![std::fs::read(&self.stdout).unwrap(), std::fs::read(&self.stderr).unwrap()]
    }
}

/// One call as the demo merchant; the raw response text is kept for searching.
async fn call(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: Option<&Value>,
    texts: &mut Vec<String>,
) -> (u16, Value) {
    let mut req = match body {
        Some(body) => client.post(format!("{base}{path}")).json(body),
        None => client.get(format!("{base}{path}")),
    };
    req = req.header("api-key", DEMO_KEY).header("X-Profile-Id", DEMO_PROFILE);
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    texts.push(text.clone());
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn card_numbers_and_codes_never_reach_the_database_the_logs_or_a_response() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = database_url(dir.path());
    let mut daemon = Daemon::spawn(dir.path(), &db, "first");
    let client = reqwest::Client::new();
    daemon.ready(&client).await;
    let base = daemon.base.clone();
    let mut texts = Vec::new();

    // A successful payment.
    let (status, body) = call(&client, &base, "/v2/payments", Some(&card_payment(PAN)), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["payment_method_data"]["card"]["last4"], "1111", "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let (status, body) = call(&client, &base, &format!("/v2/payments/{id}"), None, &mut texts).await;
    assert_eq!(status, 200, "{body}");

    // The same card, written with spaces.
    let (status, body) = call(&client, &base, "/v2/payments", Some(&card_payment(PAN_SPACED)), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");

    // Manual capture, then capture, then a refund.
    let mut manual = card_payment(PAN);
    manual["capture_method"] = json!("manual");
    let (status, body) = call(&client, &base, "/v2/payments", Some(&manual), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "requires_capture", "{body}");
    let manual_id = body["id"].as_str().unwrap().to_string();
    let capture = format!("/v2/payments/{manual_id}/capture");
    let (status, body) = call(&client, &base, &capture, Some(&json!({})), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    let refund = json!({ "payment_id": manual_id, "merchant_reference_id": "leak_check_refund", "amount": 1000 });
    let (status, body) = call(&client, &base, "/v2/refunds", Some(&refund), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    let refund_id = body["id"].as_str().unwrap().to_string();
    let (status, body) = call(&client, &base, &format!("/v2/refunds/{refund_id}"), None, &mut texts).await;
    assert_eq!(status, 200, "{body}");

    // Create an intent, then confirm it with the card.
    let intent = json!({ "amount_details": { "currency": "EUR", "order_amount": 999 } });
    let (status, body) = call(&client, &base, "/v2/payments/create-intent", Some(&intent), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    let intent_id = body["id"].as_str().unwrap().to_string();
    let mut method = card_payment(PAN);
    method.as_object_mut().unwrap().remove("amount_details");
    let confirm = format!("/v2/payments/{intent_id}/confirm-intent");
    let (status, body) = call(&client, &base, &confirm, Some(&method), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");

    // A saved card: sealed in the vault, then paid with; and one saved through a session from
    // client-side code, kept volatile with its code.
    let customer = json!({ "name": "Jo", "email": "jo@example.com" });
    let (status, body) = call(&client, &base, "/v2/customers", Some(&customer), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    let customer_id = body["id"].as_str().unwrap().to_string();
    let pm_intent = json!({ "customer_id": customer_id });
    let (status, body) = call(&client, &base, "/v2/payment-methods/create-intent", Some(&pm_intent), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    let pm = body["id"].as_str().unwrap().to_string();
    let save = json!({ "payment_method_type": "card", "payment_method_data": { "card": card_payment(PAN)["payment_method_data"]["card"] } });
    let (status, body) =
        call(&client, &base, &format!("/v2/payment-methods/{pm}/confirm-intent"), Some(&save), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    let saved = json!({ "amount_details": { "currency": "EUR", "order_amount": 500 }, "customer_id": customer_id,
                        "payment_method_type": "card", "payment_method_id": pm });
    let (status, body) = call(&client, &base, "/v2/payments", Some(&saved), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    let volatile = json!({ "customer_id": customer_id, "payment_method_type": "card", "storage_type": "volatile",
                           "payment_method_data": save["payment_method_data"] });
    let (status, body) = call(&client, &base, "/v2/payment-methods", Some(&volatile), &mut texts).await;
    assert_eq!(status, 200, "{body}");

    // 3-D Secure: the customer is sent away, then completes authentication on the sandbox page.
    let (status, body) = call(&client, &base, "/v2/payments", Some(&card_payment(THREE_DS_PAN)), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "requires_customer_action", "{body}");
    let three_ds_id = body["id"].as_str().unwrap().to_string();
    let redirect = body["next_action"]["redirect_to_url"].as_str().expect("a redirect").to_string();
    let page = client.get(&redirect).send().await.unwrap();
    assert_eq!(page.status(), 200);
    texts.push(page.text().await.unwrap());
    let done = client
        .post(&redirect)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("outcome=success")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    texts.push(done.text().await.unwrap());
    let (status, body) = call(&client, &base, &format!("/v2/payments/{three_ds_id}"), None, &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");

    // A decline.
    let (status, body) = call(&client, &base, "/v2/payments", Some(&card_payment(DECLINED_PAN)), &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "failed", "{body}");

    // A number that fails the Luhn check.
    let (status, body) = call(&client, &base, "/v2/payments", Some(&card_payment(LUHN_FAILING_PAN)), &mut texts).await;
    assert_eq!(status, 422, "{body}");

    // A request refused for something else, with a good card in it.
    let mut bad_currency = card_payment(PAN);
    bad_currency["amount_details"]["currency"] = json!("XYZ");
    let (status, body) = call(&client, &base, "/v2/payments", Some(&bad_currency), &mut texts).await;
    assert_eq!(status, 422, "{body}");
    let mut bad_month = card_payment(PAN);
    bad_month["payment_method_data"]["card"]["card_exp_month"] = json!("13");
    let (status, body) = call(&client, &base, "/v2/payments", Some(&bad_month), &mut texts).await;
    assert_eq!(status, 422, "{body}");
    let mut unknown_field = card_payment(PAN);
    unknown_field["payment_method_data"]["card"]["card_pin"] = json!("1234");
    let (status, body) = call(&client, &base, "/v2/payments", Some(&unknown_field), &mut texts).await;
    assert_eq!(status, 400, "{body}");
    // A card number sent as a JSON number.
    let mut as_number = card_payment(PAN);
    as_number["payment_method_data"]["card"]["card_number"] = json!(4111111111111111u64);
    let (status, body) = call(&client, &base, "/v2/payments", Some(&as_number), &mut texts).await;
    assert_eq!(status, 422, "{body}");
    // Malformed JSON that breaks off right after the card number.
    let truncated = serde_json::to_string(&card_payment(PAN)).unwrap();
    let cut = truncated.find(PAN).unwrap() + PAN.len() + 1;
    let res = client
        .post(format!("{base}/v2/payments"))
        .header("api-key", DEMO_KEY)
        .header("X-Profile-Id", DEMO_PROFILE)
        .header(header::CONTENT_TYPE, "application/json")
        .body(truncated[..cut].to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    texts.push(res.text().await.unwrap());

    drop(client);
    let logs = daemon.kill();

    // Responses.
    for text in &texts {
        for pan in FORBIDDEN {
            assert!(!text.contains(pan), "a response contains {pan}: {text}");
        }
        assert!(!text.contains(&format!("\"{CVC}\"")), "a response contains the security code: {text}");
        // Echoing the request's `card_cvc` field would be a leak; the saved method's
        // `card_cvc_token_storage` (whether a code is held, never the code) is not.
        assert!(
            !text.replace("card_cvc_token_storage", "").contains("card_cvc"),
            "a response mentions card_cvc: {text}"
        );
    }

    // Killed outright, the daemon leaves SQLite's write-ahead log behind.
    if sqlite_only("the write-ahead log a kill leaves") {
        let wal = format!("{}-wal", db.trim_start_matches("sqlite://"));
        assert!(Path::new(&wal).exists(), "no write-ahead log after a kill");
    }
    assert_database_clean(&db).await;
    assert_logs_clean(&logs);

    // Once more, stopping gracefully: SQLite checkpoints the log into the database file.
    let mut daemon = Daemon::spawn(dir.path(), &db, "second");
    let client = reqwest::Client::new();
    daemon.ready(&client).await;
    let base = daemon.base.clone();
    let (status, body) = call(&client, &base, &format!("/v2/payments/{id}"), None, &mut texts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payment_method_data"]["card"]["last4"], "1111", "{body}");
    assert!(!texts.last().unwrap().contains(PAN));
    drop(client);
    let logs = daemon.stop();
    assert_database_clean(&db).await;
    assert_logs_clean(&logs);
}

/// The database (on SQLite, its files byte by byte) holds no card number, no security code and
/// no API key, but does hold what may be kept of the cards.
/// Output to a file (not a terminal) is plain text, and at `info` each payment's outcome is one
/// line with its ids, account, status and decline code, and no card number.
#[tokio::test]
async fn the_log_has_one_plain_line_per_payment_and_refund_outcome_and_reload() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = database_url(dir.path());
    let mut daemon = Daemon::spawn_at(dir.path(), &db, "info", "info");
    let client = reqwest::Client::new();
    daemon.ready(&client).await;
    let base = daemon.base.clone();
    let mut texts = Vec::new();
    let mut ids = Vec::new();
    for (number, status) in [(PAN, "succeeded"), (DECLINED_PAN, "failed")] {
        let (code, body) = call(&client, &base, "/v2/payments", Some(&card_payment(number)), &mut texts).await;
        assert_eq!((code, body["status"].as_str()), (200, Some(status)), "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let refund = json!({ "payment_id": ids[0], "merchant_reference_id": "log_refund", "amount": 100 });
    let (code, body) = call(&client, &base, "/v2/refunds", Some(&refund), &mut texts).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("succeeded")), "{body}");
    // A reload asked for with SIGHUP, of an unchanged configuration.
    let hup = Command::new("kill").args(["-HUP", &daemon.child.id().to_string()]).status().expect("kill runs");
    assert!(hup.success());
    for _ in 0..100 {
        if daemon.output().contains("configuration reload") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = daemon.stop();
    let output = String::from_utf8_lossy(&logs.concat()).into_owned();
    assert!(!output.contains('\u{1b}'), "colour codes in output that is not a terminal: {output}");
    let refunds: Vec<&str> = output.lines().filter(|l| l.contains("refund outcome")).collect();
    assert_eq!(refunds.len(), 1, "{output}");
    let refund_id = body["id"].as_str().unwrap();
    for part in [format!("refund_id={refund_id}"), format!("payment_id={}", ids[0]), "status=succeeded".into()] {
        assert!(refunds[0].contains(&part), "{part} missing: {}", refunds[0]);
    }
    let reloads: Vec<&str> = output.lines().filter(|l| l.contains("configuration reload")).collect();
    assert_eq!(reloads.len(), 1, "{output}");
    assert!(reloads[0].contains(" INFO ") && reloads[0].contains("result=unchanged"), "{}", reloads[0]);
    assert!(reloads[0].contains("version="), "{}", reloads[0]);
    let outcomes: Vec<&str> = output.lines().filter(|l| l.contains("payment outcome")).collect();
    assert_eq!(outcomes.len(), 2, "{output}");
    for (line, (id, status, decline)) in
        outcomes.iter().zip([(&ids[0], "succeeded", "none"), (&ids[1], "failed", "card_declined")])
    {
        assert!(line.contains(" INFO "), "{line}");
        for part in [format!("payment_id={id}"), format!("status={status}"), format!("decline_code={decline}")] {
            assert!(line.contains(&part), "{part} missing: {line}");
        }
        assert!(line.contains("account=") && line.contains("duration_ms="), "{line}");
        assert!(!line.contains(PAN) && !line.contains(DECLINED_PAN), "{line}");
    }
}

async fn assert_database_clean(db: &str) {
    let stored = contents(db).await;
    for (place, bytes) in &stored {
        for pan in FORBIDDEN {
            assert!(!holds(bytes, pan), "{place} contains {pan}");
        }
        assert!(!holds(bytes, &format!("\"{CVC}\"")), "{place} contains the security code");
        assert!(!holds(bytes, "card_cvc"), "{place} mentions card_cvc");
        assert!(!holds(bytes, DEMO_KEY), "{place} contains the API key");
    }
    let all: Vec<u8> = stored.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    assert!(holds(&all, "\"last4\":\"1111\""), "the card summary was not stored");
    assert!(holds(&all, "\"last4\":\"3184\""), "the 3-D Secure card summary was not stored");
}

/// The daemon's output holds no card number, no security code and no API key, though it was
/// logging at the most verbose level.
fn assert_logs_clean(logs: &[Vec<u8>]) {
    assert!(
        logs.iter().any(|l| holds(l, "TRACE") && holds(l, "DEBUG")),
        "the daemon did not log at the verbose levels: is RUST_LOG honoured?"
    );
    for log in logs {
        for pan in FORBIDDEN {
            assert!(!holds(log, pan), "a log line contains {pan}");
        }
        assert!(!holds(log, &format!("\"{CVC}\"")), "a log line contains the security code");
        assert!(!holds(log, "card_cvc\":"), "a log line carries a card_cvc field");
        assert!(!holds(log, DEMO_KEY), "a log line contains the API key");
    }
}

#[test]
fn card_values_print_masked() {
    let number: CardNumber = serde_json::from_value(json!(PAN)).unwrap();
    let printed = format!("{number:?} {number} {number:#?}");
    assert!(!printed.contains(PAN), "{printed}");
    assert!(!printed.contains("411111111"), "{printed}");
    assert!(printed.contains("1111"), "{printed}");

    let spaced: CardNumber = serde_json::from_value(json!(PAN_SPACED)).unwrap();
    assert_eq!(spaced.expose(), PAN);
    assert!(!format!("{spaced:?}").contains(PAN_SPACED));

    let cvc: Cvc = serde_json::from_value(json!(CVC)).unwrap();
    let printed = format!("{cvc:?} {cvc:#?}");
    assert!(!printed.contains(CVC), "{printed}");
    assert_eq!(cvc.expose(), CVC);
}

#[test]
fn decoding_errors_never_echo_the_card() {
    for (value, sent) in [
        (json!(LUHN_FAILING_PAN), LUHN_FAILING_PAN),
        (json!(4111111111111111u64), PAN),
        (json!("4111-1111-1111-1111"), "4111-1111"),
        (json!("41111111111111111111"), "41111111111111111111"),
    ] {
        let value_text = value.to_string();
        let err = serde_json::from_value::<CardNumber>(value).unwrap_err().to_string();
        assert!(!err.contains(sent), "{err}");
        assert!(!err.contains("111111"), "{err}");
        let err = serde_json::from_str::<CardNumber>(&value_text).unwrap_err().to_string();
        assert!(!err.contains(sent), "{err}");
    }
    for sent in ["98", "98765", "9a7"] {
        let err = serde_json::from_value::<Cvc>(json!(sent)).unwrap_err().to_string();
        assert!(!err.contains(sent), "{err}");
    }
}

#[test]
fn a_decoded_request_prints_no_card_data() {
    use switchyard::api::extract::decode;
    use switchyard::api::types::PaymentsRequest;

    let body = card_payment(PAN).to_string();
    let request: PaymentsRequest = decode(body.as_bytes(), 32).expect("a valid request");
    let printed = format!("{request:?}");
    assert!(!printed.contains(PAN), "{printed}");
    assert!(!printed.contains(CVC), "{printed}");
    let (intent, confirmation) = request.into_parts().unwrap();
    let printed = format!("{intent:?} {confirmation:?}");
    assert!(!printed.contains(PAN), "{printed}");
    assert!(!printed.contains(CVC), "{printed}");
}

#[tokio::test]
async fn json_logs_carry_the_request_id_the_answer_gives() {
    let dir = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let log = dir.path().join("daemon.log");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .current_dir(root)
        .args(["--config", "config/switchyard.toml", "serve"])
        .env("SWITCHYARD__DATABASE__URL", database_url(dir.path()))
        .env("SWITCHYARD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHYARD__LOG__JSON", "true")
        .env("RUST_LOG", "debug")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("the daemon starts");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the daemon did not become healthy");
    let res = client
        .post(format!("{base}/v2/payments"))
        .header("api-key", "sy_sk_EcUKnRGm9ycfbQOyR2PYq322lLfeY3hm")
        .header("X-Profile-Id", "pro_demo")
        .header("x-request-id", "req-from-the-shop-1")
        .json(&card_payment(PAN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-from-the-shop-1");
    let fresh = client.get(format!("{base}/health")).send().await.unwrap();
    let minted = fresh.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(minted.len(), 36, "a UUID: {minted}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = child.kill();
    let _ = child.wait();

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!lines.is_empty(), "no JSON log lines: {text}");
    let tagged = lines.iter().filter(|l| l.to_string().contains("req-from-the-shop-1")).count();
    assert!(tagged >= 2, "the request's lines carry its id: {text}");
    assert!(!text.contains(PAN) && !text.contains(&format!("\"{CVC}\"")), "card data in the log");
}
