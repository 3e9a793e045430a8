//! Crash safety of the real binary: payments under load while the daemon is killed (`kill -9`)
//! at random points, several times over one database, against a provider that records every
//! charge it makes. After the last restart the reconciler settles what the crashes left
//! `processing`, and then: every payment the API answered as settled reads back with the status
//! it was answered with, no payment was charged twice, and every charge the provider made belongs to a
//! payment the daemon holds as succeeded with that charge.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Json;
use common::binary::{free_port, KillOnDrop};
use common::mock::{json_answer, MockServer};
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// What the provider did: every charge it made or declined, in order.
#[derive(Default)]
struct Ledger {
    charges: Vec<Charge>,
    by_key: HashMap<String, usize>,
}

#[derive(Debug, Clone)]
struct Charge {
    id: String,
    reference: String,
    payment_id: String,
    approved: bool,
}

impl Charge {
    fn answer(&self) -> axum::response::Response {
        let status = if self.approved { "approved" } else { "declined" };
        json_answer(200, json!({ "id": self.id, "reference": self.reference, "status": status }))
    }
}

type Books = Arc<Mutex<Ledger>>;

/// A charge is recorded the moment its request arrives, before any pause, so a daemon killed
/// while waiting for the answer leaves a charge it never heard about; the pauses around it widen
/// both windows a crash can fall into. A repeated Idempotency-Key gets the first answer.
async fn charge(State(books): State<Books>, headers: HeaderMap, Json(body): Json<Value>) -> axum::response::Response {
    let (before, after) = {
        let mut rng = rand::rng();
        (rng.random_range(0..15), rng.random_range(0..40))
    };
    tokio::time::sleep(Duration::from_millis(before)).await;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let charge = {
        let mut ledger = books.lock().unwrap();
        match ledger.by_key.get(&key) {
            Some(&i) => ledger.charges[i].clone(),
            None => {
                let charge = Charge {
                    id: format!("ch_{}", ledger.charges.len() + 1),
                    reference: body["reference"].as_str().unwrap_or_default().to_string(),
                    payment_id: body["payment_id"].as_str().unwrap_or_default().to_string(),
                    // Amounts ending in 13 are declined, so failed payments are in the mix.
                    approved: body["amount"].as_i64().unwrap_or_default() % 100 != 13,
                };
                let at = ledger.charges.len();
                ledger.by_key.insert(key, at);
                ledger.charges.push(charge.clone());
                charge
            }
        }
    };
    tokio::time::sleep(Duration::from_millis(after)).await;
    charge.answer()
}

async fn by_reference(State(books): State<Books>, UrlPath(reference): UrlPath<String>) -> axum::response::Response {
    let ledger = books.lock().unwrap();
    match ledger.charges.iter().find(|c| c.reference == reference) {
        Some(charge) => charge.answer(),
        None => json_answer(404, json!({ "error": "no such charge" })),
    }
}

async fn provider(books: Books) -> MockServer {
    let app = axum::Router::new()
        .route("/charges", post(charge))
        .route("/charges/by-reference/{reference}", get(by_reference))
        .with_state(books);
    MockServer::serve(app).await
}

/// The daemon with the ledger plugin, fast budgets and a reconciler that looks at payments
/// unsettled for 2 s.
async fn start(dir: &Path, port: u16) -> KillOnDrop {
    let plugins = dir.join("plugins").display().to_string();
    let env = [
        ("SWITCHYARD__PATHS__PLUGINS", plugins.as_str()),
        ("SWITCHYARD__PAYMENTS__ATTEMPT_TIMEOUT_MS", "1000"),
        ("SWITCHYARD__PAYMENTS__BUDGET_MS", "1500"),
        // Short enough that no call can still be under way when the reconciler looks.
        ("SWITCHYARD__HTTP__REQUEST_TIMEOUT_MS", "700"),
        ("SWITCHYARD__LUA__TIME_BUDGET_MS", "100"),
        ("SWITCHYARD__RECONCILER__AFTER_MS", "2000"),
        ("SWITCHYARD__RECONCILER__EVERY_MS", "200"),
    ];
    common::binary::start(dir, port, &env).await
}

/// What the customers were answered: payments by id, and any answer that was not a payment.
#[derive(Default)]
struct Answers {
    payments: BTreeMap<String, Value>,
    errors: Vec<String>,
}

/// Customers paying in a loop until stopped; each answer is kept.
fn load(base: &str, clients: usize, answers: &Arc<Mutex<Answers>>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|c| {
            let (base, answers) = (base.to_string(), answers.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for n in 0u64.. {
                    let amount = 1000 + (c as u64 * 7919 + n * 31) % 9000;
                    let body = with(
                        payment("4242424242424242"),
                        json!({ "amount_details": { "currency": "USD", "order_amount": amount } }),
                    );
                    let sent = http
                        .post(format!("{base}/v2/payments"))
                        .header("api-key", ACME_KEY)
                        .header("X-Profile-Id", "web")
                        .json(&body)
                        .send()
                        .await;
                    let Ok(res) = sent else {
                        // The daemon is down: nothing was answered.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let status = res.status();
                    // A body cut off by the kill was never answered.
                    let Ok(body) = res.json::<Value>().await else { continue };
                    let mut answers = answers.lock().unwrap();
                    match status.as_u16() {
                        200 => drop(answers.payments.insert(id_of(&body), body)),
                        _ => answers.errors.push(format!("{status}: {body}")),
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kills_at_random_points_lose_nothing_and_charge_nothing_twice() {
    let books = Books::default();
    let ledger = provider(books.clone()).await;
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugins/ledger.lua");
    std::fs::copy(plugin, dir.path().join("plugins/ledger.lua")).unwrap();
    let profile = format!(
        "[merchants.acme.profiles.web]\nfallback = [\"ledger\"]\n\n[[merchants.acme.profiles.web.connector_accounts]]\n\
         name = \"ledger\"\nconnector = \"ledger\"\nbase_url = \"{}\"\ncredentials = {{ api_key = \"lk_test\" }}\n",
        ledger.url
    );
    config_file(dir.path(), HASH_SECRET, &dir.path().join("routing"), &profile);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let answers = Arc::new(Mutex::new(Answers::default()));
    let customers = load(&base, 8, &answers);
    let mut rng = rand::rngs::StdRng::from_os_rng();
    for _ in 0..4 {
        let mut daemon = start(dir.path(), port).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1200))).await;
        daemon.kill();
    }
    for customer in &customers {
        customer.abort();
    }
    let Answers { payments: answered, errors } = std::mem::take(&mut *answers.lock().unwrap());
    assert!(errors.is_empty(), "payments were answered with errors: {errors:?}");
    assert!(!answered.is_empty(), "no payment was answered");

    // The last restart, with no load: the reconciler settles whatever the crashes left.
    let _daemon = start(dir.path(), port).await;
    let mut db = common::database::open(&database_url(dir.path())).await;
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT id, status FROM payment_intents").fetch_all(&mut db).await.unwrap();
    let unanswered = stored.iter().filter(|(id, _)| !answered.contains_key(id)).count();
    assert!(unanswered > 0, "no kill fell between storing a payment and answering it; the test proved nothing");
    let mut processing = i64::MAX;
    for _ in 0..100 {
        processing = sqlx::query_scalar("SELECT COUNT(*) FROM payment_intents WHERE status = 'processing'")
            .fetch_one(&mut db)
            .await
            .unwrap();
        if processing == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(processing, 0, "the reconciler left payments processing");

    let http = reqwest::Client::new();
    let read = |id: String| {
        let request =
            http.get(format!("{base}/v2/payments/{id}")).header("api-key", ACME_KEY).header("X-Profile-Id", "web");
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // Every payment answered as settled reads back as it was answered (one answered
    // `processing` was unclear, and has been settled since).
    for (id, body) in answered.iter().filter(|(_, body)| body["status"] != "processing") {
        let now = read(id.clone()).await;
        assert_eq!(
            now["status"], body["status"],
            "payment {id} was answered {} and now reads {}",
            body["status"], now["status"]
        );
    }
    // No payment was charged twice, and every charge is a succeeded payment the daemon knows
    // by that charge.
    let charges = books.lock().unwrap().charges.clone();
    let mut per_payment: HashMap<&str, usize> = HashMap::new();
    for charge in charges.iter().filter(|c| c.approved) {
        *per_payment.entry(&charge.payment_id).or_default() += 1;
        let payment = read(charge.payment_id.clone()).await;
        assert_eq!(payment["status"], "succeeded", "charge {charge:?} belongs to {payment}");
        assert_eq!(payment["connector_transaction_id"], charge.id.as_str(), "{payment}");
    }
    if let Some((payment, n)) = per_payment.iter().find(|(_, n)| **n > 1) {
        panic!("payment {payment} was charged {n} times");
    }
    // And the daemon holds no payment as succeeded that the provider did not charge.
    let succeeded = stored.iter().filter(|(id, _)| !per_payment.contains_key(id.as_str()));
    for (id, _) in succeeded {
        let now = read(id.clone()).await;
        assert_ne!(now["status"], "succeeded", "payment {id} is succeeded without a charge: {now}");
    }
}
