//! Fault injection: the real daemon against provider doubles that book every money movement in a
//! ledger (`common::double`), Stripe's shape and a plugin's, on whichever database the suite runs
//! on. Each scenario is one payment whose authorization (automatic or manual capture), capture,
//! cancel or refund meets one fault: an answer slow, late, lost, a 5xx after acting, a 409 while
//! the first call is in flight, no action at all; with notifications prompt, late, twice, out of
//! order or never. Another run kills the daemon (`kill -9`) at random points under load.
//!
//! Then, with no step but the reconciler's, every payment and refund the daemon holds must come
//! to agree with the ledger: the same status (authorized is `requires_capture`, captured is
//! `succeeded` or `partially_captured` with the amount, voided is `cancelled`, nothing at the
//! provider is `failed`), the same amounts, nothing left `processing` or `pending`, and no money
//! at the provider that the daemon does not know of.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::binary::{free_port, start, KillOnDrop};
use common::double::{Call, Double, Fault, Kind, Notify, Plan, Shape};
use common::mock::MockServer;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The daemon's time for one provider call, which the double's timeouts outlast.
const REQUEST_TIMEOUT_MS: u64 = 400;
/// Short timings all round, so the reconciler may look after 2 s (longer than any call).
const TIMINGS: [(&str, &str); 8] = [
    ("SWITCHYARD__HTTP__REQUEST_TIMEOUT_MS", "400"),
    ("SWITCHYARD__HTTP__CONNECT_TIMEOUT_MS", "200"),
    ("SWITCHYARD__PAYMENTS__ATTEMPT_TIMEOUT_MS", "1000"),
    ("SWITCHYARD__PAYMENTS__BUDGET_MS", "1500"),
    ("SWITCHYARD__LUA__TIME_BUDGET_MS", "250"),
    ("SWITCHYARD__RECONCILER__AFTER_MS", "2000"),
    ("SWITCHYARD__RECONCILER__EVERY_MS", "100"),
    ("SWITCHYARD__RECONCILER__MAX_BACKOFF_MS", "2000"),
];
/// How long everything may take to agree with the ledger once the calls are over.
const CONVERGENCE: Duration = Duration::from_secs(60);
const WEBHOOK_SECRET: &str = "whsec_faults_0123456789";

/// What a scenario's customer does with its payment; the fault meets the last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Authorize,
    AuthorizeManual,
    Capture,
    Cancel,
    Refund,
}

impl Op {
    const ALL: [Op; 5] = [Op::Authorize, Op::AuthorizeManual, Op::Capture, Op::Cancel, Op::Refund];

    fn call(self) -> Call {
        match self {
            Op::Authorize | Op::AuthorizeManual => Call::Create,
            Op::Capture => Call::Capture,
            Op::Cancel => Call::Cancel,
            Op::Refund => Call::Refund,
        }
    }

    fn manual(self) -> bool {
        matches!(self, Op::AuthorizeManual | Op::Capture | Op::Cancel)
    }
}

/// Every fault on every operation with no notification at all (the reconciler alone settles
/// it); each way of notifying after a lost answer (the notification may settle it); duplicated
/// and reordered notifications racing a clean answer. One payment each, its amount its key.
fn matrix() -> Vec<(i64, Op, Plan)> {
    let faults = [
        Fault::None,
        Fault::Slow,
        Fault::TimeoutBefore,
        Fault::TimeoutAfter,
        Fault::ErrorAfter,
        Fault::ActsLate,
        Fault::LoseAnswer,
    ];
    let mut plans = Vec::new();
    for op in Op::ALL {
        let plan = |fault, notify| (op, Plan { call: op.call(), fault, notify });
        plans.extend(faults.map(|fault| plan(fault, Notify::Never)));
        plans.extend(
            [Notify::Prompt, Notify::Late, Notify::Twice, Notify::OutOfOrder].map(|n| plan(Fault::LoseAnswer, n)),
        );
        plans.extend([Notify::Twice, Notify::OutOfOrder].map(|n| plan(Fault::None, n)));
    }
    plans.into_iter().enumerate().map(|(i, (op, plan))| (2000 + 10 * i as i64, op, plan)).collect()
}

/// A double of `shape` serving, and a daemon folder whose one account (acme/web) is it.
struct Setup {
    dir: TempDir,
    double: Double,
    _server: MockServer,
    port: u16,
    plugins: String,
}

impl Setup {
    async fn new(shape: Shape) -> Self {
        let double = Double::new(shape, Duration::from_millis(REQUEST_TIMEOUT_MS), WEBHOOK_SECRET);
        let server = double.serve().await;
        let dir = TempDir::new().unwrap();
        let (connector, metadata) = match shape {
            // Loopback has no clock skew: "never received" can be concluded a second after.
            Shape::Stripe => ("stripe", "metadata = { clock_skew_secs = 1 }\n"),
            Shape::Plugin => ("faulty", ""),
        };
        let profile = format!(
            "[merchants.acme.profiles.web]\nfallback = [\"{connector}\"]\n\n\
             [[merchants.acme.profiles.web.connector_accounts]]\nname = \"{connector}\"\nconnector = \"{connector}\"\n\
             base_url = \"{}\"\ncredentials = {{ api_key = \"sk_test_faults\", webhook_secret = \"{WEBHOOK_SECRET}\" }}\n{metadata}",
            server.url
        );
        config_file(dir.path(), HASH_SECRET, &dir.path().join("routing"), &profile);
        let port = free_port();
        double.notify_to(&format!("http://127.0.0.1:{port}/v2/webhooks/acme/{connector}"));
        let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugins").display().to_string();
        Self { dir, double, _server: server, port, plugins }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&self) -> KillOnDrop {
        self.start_with(&[]).await
    }

    async fn start_with(&self, extra: &[(&str, &str)]) -> KillOnDrop {
        let mut env = TIMINGS.to_vec();
        env.push(("SWITCHYARD__PATHS__PLUGINS", &self.plugins));
        env.extend_from_slice(extra);
        start(self.dir.path(), self.port, &env).await
    }
}

/// A merchant's calls, answered or not (the daemon may be down).
#[derive(Clone)]
struct Merchant {
    base: String,
    http: reqwest::Client,
    /// The calls answered with an error.
    refused: Arc<Mutex<Vec<String>>>,
}

impl Merchant {
    fn new(base: String) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        Self { base, http, refused: Arc::default() }
    }

    async fn post(&self, path: &str, body: Value) -> Option<Value> {
        let sent =
            self.http.post(format!("{}{path}", self.base)).header("api-key", ACME_KEY).header("X-Profile-Id", "web");
        let res = sent.json(&body).send().await.ok()?;
        if !res.status().is_success() {
            let error = res.json::<Value>().await.map(|e| e["error"]["code"].to_string()).unwrap_or_default();
            self.refused.lock().unwrap().push(format!("POST {path}: {error}"));
            return None;
        }
        res.json().await.ok()
    }

    async fn get(&self, path: &str) -> Value {
        let sent =
            self.http.get(format!("{}{path}", self.base)).header("api-key", ACME_KEY).header("X-Profile-Id", "web");
        let res = sent.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    /// Pays `amount`, then takes `op`'s step when the payment got where the step starts from.
    async fn act(&self, amount: i64, op: Op) {
        let capture = if op.manual() { "manual" } else { "automatic" };
        let body = with(
            payment("4242424242424242"),
            json!({ "amount_details": { "currency": "USD", "order_amount": amount }, "capture_method": capture }),
        );
        let Some(paid) = self.post("/v2/payments", body).await else { return };
        let id = id_of(&paid);
        match (op, paid["status"].as_str()) {
            (Op::Capture, Some("requires_capture")) => {
                self.post(&format!("/v2/payments/{id}/capture"), json!({ "amount_to_capture": amount - 100 })).await;
            }
            (Op::Cancel, Some("requires_capture")) => {
                self.post(&format!("/v2/payments/{id}/cancel"), json!({})).await;
            }
            (Op::Refund, Some("succeeded")) => {
                let refund =
                    json!({ "payment_id": id, "merchant_reference_id": format!("r{amount}"), "amount": amount / 2 });
                self.post("/v2/refunds", refund).await;
            }
            _ => {}
        }
    }
}

/// What the ledger says of one payment.
#[derive(Debug, Default)]
struct Booked {
    provider_id: String,
    authorized: i64,
    captured: i64,
    voided: bool,
}

impl Booked {
    /// The status the daemon must hold for it.
    fn status(&self) -> &'static str {
        match self {
            Booked { voided: true, .. } => "cancelled",
            Booked { captured: 0, .. } => "requires_capture",
            Booked { captured, authorized, .. } if captured < authorized => "partially_captured",
            _ => "succeeded",
        }
    }
}

/// Figures of a run that agreed with the ledger.
struct Agreed {
    payments: usize,
    refunds: usize,
    /// Payments `processing` and refunds `pending` when the calls were over.
    unsettled: i64,
    after: Duration,
}

/// Payments `processing` and refunds `pending`.
async fn unsettled(database: &str) -> i64 {
    let mut db = common::database::open(database).await;
    let mut n = 0;
    for query in [
        "SELECT COUNT(*) FROM payment_intents WHERE status = 'processing'",
        "SELECT COUNT(*) FROM refunds WHERE status = 'pending'",
    ] {
        n += sqlx::query_scalar::<_, i64>(query).fetch_one(&mut db).await.unwrap();
    }
    n
}

/// Every difference between what the daemon holds (read through its API; the database lists
/// what there is) and the ledger of `double`.
async fn differences(merchant: &Merchant, database: &str, double: &Double) -> (Vec<String>, usize, usize) {
    let mut booked: BTreeMap<String, Booked> = BTreeMap::new();
    let mut refunded: HashMap<String, (i64, String)> = HashMap::new();
    for m in double.ledger() {
        let entry = booked.entry(m.payment_id.clone()).or_default();
        entry.provider_id = m.provider_id.clone();
        match m.kind {
            Kind::Authorize => entry.authorized += m.amount,
            Kind::Capture => entry.captured += m.amount,
            Kind::Void => entry.voided = true,
            Kind::Refund => drop(refunded.insert(m.refund_id.clone().unwrap(), (m.amount, m.payment_id))),
        }
    }
    let mut db = common::database::open(database).await;
    let payments: Vec<String> = sqlx::query_scalar("SELECT id FROM payment_intents").fetch_all(&mut db).await.unwrap();
    let refunds: Vec<String> = sqlx::query_scalar("SELECT id FROM refunds").fetch_all(&mut db).await.unwrap();
    drop(db);
    let mut wrong = Vec::new();
    for id in &payments {
        let held = merchant.get(&format!("/v2/payments/{id}")).await;
        let (status, captured) = (&held["status"], &held["amount"]["amount_captured"]);
        match booked.remove(id) {
            None if status == "failed" => {}
            None => wrong.push(format!("{id}: nothing at the provider, held {status}")),
            Some(b) => {
                let want_captured = if b.voided { 0 } else { b.captured };
                if status != b.status() || (b.captured > 0 && *captured != want_captured) {
                    wrong.push(format!(
                        "{id}: the ledger says {b:?} ({}), held {status} captured {captured}",
                        b.status()
                    ));
                }
                if held["connector_transaction_id"] != b.provider_id.as_str() {
                    wrong
                        .push(format!("{id}: provider's {}, held {}", b.provider_id, held["connector_transaction_id"]));
                }
            }
        }
    }
    wrong.extend(booked.into_iter().map(|(id, b)| format!("money the daemon does not know: {id} {b:?}")));
    for id in &refunds {
        let held = merchant.get(&format!("/v2/refunds/{id}")).await;
        let status = &held["status"];
        match refunded.remove(id) {
            None if status == "failed" => {}
            None => wrong.push(format!("refund {id}: nothing at the provider, held {status}")),
            Some((amount, _)) if status == "succeeded" && held["amount"] == amount => {}
            Some((amount, _)) => {
                wrong.push(format!("refund {id}: {amount} refunded, held {status} {}", held["amount"]))
            }
        }
    }
    wrong.extend(refunded.into_iter().map(|(id, r)| format!("a refund the daemon does not know: {id} {r:?}")));
    (wrong, payments.len(), refunds.len())
}

/// Waits (boundedly) for the daemon to agree with the ledger, and says how long it took.
async fn agreement(merchant: &Merchant, database: &str, double: &Double, what: &str) -> Agreed {
    let began = Instant::now();
    let unsettled = unsettled(database).await;
    loop {
        let (wrong, payments, refunds) = differences(merchant, database, double).await;
        if wrong.is_empty() {
            let agreed = Agreed { payments, refunds, unsettled, after: began.elapsed() };
            let on = if common::database::on_postgres() { "PostgreSQL" } else { "SQLite" };
            let refused = merchant.refused.lock().unwrap().len();
            eprintln!(
                "{what} on {on}: {} payments and {} refunds, {unsettled} of them unsettled when the calls were over \
                 ({refused} calls answered an error), all agreeing with the ledger {:.1} s later",
                agreed.payments,
                agreed.refunds,
                agreed.after.as_secs_f64()
            );
            return agreed;
        }
        if began.elapsed() > CONVERGENCE {
            panic!("{what}: after {CONVERGENCE:?} the daemon still disagrees with the ledger:\n{}", wrong.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs every scenario of the matrix at once against one daemon and a double of `shape`.
async fn matrix_converges(shape: Shape) {
    let setup = Setup::new(shape).await;
    let scenarios = matrix();
    for (amount, _, plan) in &scenarios {
        setup.double.plan(*amount, *plan);
    }
    let _daemon = setup.start().await;
    let merchant = Merchant::new(setup.base());
    let customers: Vec<_> = scenarios
        .iter()
        .map(|&(amount, op, _)| {
            let merchant = merchant.clone();
            tokio::spawn(async move { merchant.act(amount, op).await })
        })
        .collect();
    for customer in customers {
        customer.await.unwrap();
    }
    let agreed =
        agreement(&merchant, &database_url(setup.dir.path()), &setup.double, &format!("{shape:?} faults")).await;
    assert_eq!(agreed.payments, scenarios.len(), "one payment per scenario");
    assert!(agreed.unsettled > 0, "the faults left nothing to settle: the test proved nothing");
    // Whatever the provider did, a merchant's sound request is answered with where it stands.
    let refused = merchant.refused.lock().unwrap().clone();
    assert!(refused.is_empty(), "calls were answered with errors: {refused:?}");
}

/// Every operation whose answer is lost, with the provider's notification alone to tell (the
/// reconciler is off): the notification finds the payment or refund by switchyard's own id,
/// which the provider echoes, and settles it.
async fn notifications_alone_converge(shape: Shape) {
    let setup = Setup::new(shape).await;
    let scenarios: Vec<_> = Op::ALL
        .iter()
        .enumerate()
        .map(|(i, &op)| {
            (5000 + 10 * i as i64, op, Plan { call: op.call(), fault: Fault::LoseAnswer, notify: Notify::Prompt })
        })
        .collect();
    for (amount, _, plan) in &scenarios {
        setup.double.plan(*amount, *plan);
    }
    let _daemon = setup.start_with(&[("SWITCHYARD__RECONCILER__ENABLED", "false")]).await;
    let merchant = Merchant::new(setup.base());
    for &(amount, op, _) in &scenarios {
        merchant.act(amount, op).await;
    }
    let what = format!("{shape:?} notifications alone");
    agreement(&merchant, &database_url(setup.dir.path()), &setup.double, &what).await;
}

/// Customers paying, capturing, cancelling and refunding while the daemon is killed at random
/// points; then the last start, with no load, must come to agree with the ledger.
async fn kills_converge(shape: Shape) {
    let setup = Arc::new(Setup::new(shape).await);
    let merchant = Merchant::new(setup.base());
    let customers: Vec<_> = (0..6i64)
        .map(|c| {
            let merchant = merchant.clone();
            tokio::spawn(async move {
                for n in 0i64.. {
                    let op = Op::ALL[((c + n) % 5) as usize];
                    merchant.act(10_000 + (c * 7919 + n * 31) % 9000, op).await;
                }
            })
        })
        .collect();
    let mut rng = rand::rngs::StdRng::from_os_rng();
    for _ in 0..3 {
        let mut daemon = setup.start().await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(400..1200))).await;
        daemon.kill();
    }
    for customer in &customers {
        customer.abort();
    }
    let _daemon = setup.start().await;
    let agreed =
        agreement(&merchant, &database_url(setup.dir.path()), &setup.double, &format!("{shape:?} kills")).await;
    assert!(agreed.payments > 0, "no payment was made");
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_faults_converge_to_the_ledger() {
    matrix_converges(Shape::Stripe).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_faults_converge_to_the_ledger() {
    matrix_converges(Shape::Plugin).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_kills_converge_to_the_ledger() {
    kills_converge(Shape::Stripe).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_kills_converge_to_the_ledger() {
    kills_converge(Shape::Plugin).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_notifications_alone_settle_lost_answers() {
    notifications_alone_converge(Shape::Stripe).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_notifications_alone_settle_lost_answers() {
    notifications_alone_converge(Shape::Plugin).await;
}
