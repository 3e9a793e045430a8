//! A payment provider double for the fault-injection suite: it books every money movement it
//! makes in a ledger (authorizations, captures, voids, refunds, with their amounts and the
//! switchyard ids they were made for) and takes a fault per call, chosen by the payment's amount.
//!
//! It comes in two shapes over one ledger: Stripe's (the calls the native connector makes, with
//! Stripe's idempotency — the same key gets the same answer, a 5xx included, and 409 while the
//! first call with it is under way — its lists and its signed notifications), and a small JSON
//! API behind the plugin `tests/fixtures/plugins/faulty.lua`.
//!
//! Work on a call runs on a task of its own, so a provider keeps acting after the caller gave up
//! on it, as a real one does; notifications go to the daemon from tasks of their own too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::{json, Value};
use sha2::Sha256;

use super::mock::{json_answer, MockServer};

/// The waits between a notification's tries while the daemon does not take it.
const RETRIES: [Duration; 6] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::ZERO,
];

/// What the double is asked to do, as the connector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// Create and confirm a payment (authorize, and capture when automatic).
    Create,
    Capture,
    Cancel,
    Refund,
}

/// How a call goes wrong. Faults act on every call with the payment's amount and the planned
/// [`Call`], repeats with the same idempotency key included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Acts and answers at once.
    None,
    /// Acts and answers within the caller's time, after a while.
    Slow,
    /// Never acts; the caller's time runs out first.
    TimeoutBefore,
    /// Acts, then answers only after the caller's time ran out.
    TimeoutAfter,
    /// Acts, then answers 500 (and so again to a repeat, as Stripe does).
    ErrorAfter,
    /// Acts only after the caller's time ran out; meanwhile a repeat with the same key gets 409.
    ActsLate,
    /// Acts, then drops the connection without an answer.
    LoseAnswer,
    /// Short random pauses before and after acting (the load that crashes fall into).
    Jitter,
}

/// How the notifications of a payment's movements are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Prompt,
    Never,
    /// Well after the movement.
    Late,
    Twice,
    /// Each later than the next one: the newest news arrives first.
    OutOfOrder,
}

/// A payment's plan: which call goes wrong, how, and what becomes of its notifications.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub call: Call,
    pub fault: Fault,
    pub notify: Notify,
}

/// One money movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Authorize,
    Capture,
    Void,
    Refund,
}

#[derive(Debug, Clone)]
pub struct Movement {
    pub kind: Kind,
    pub amount: i64,
    /// Switchyard's payment, attempt and (for a refund) refund ids, as it sent them.
    pub payment_id: String,
    pub attempt_id: String,
    pub refund_id: Option<String>,
    /// The provider's id of the payment, and of the refund.
    pub provider_id: String,
    pub provider_refund_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Stripe,
    Plugin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Standing {
    Authorized,
    Captured,
    Voided,
}

/// A payment as the provider holds it.
#[derive(Debug, Clone)]
struct Payment {
    id: String,
    attempt_id: String,
    payment_id: String,
    amount: i64,
    manual: bool,
    state: Standing,
    captured: i64,
    created: i64,
}

#[derive(Debug, Clone)]
struct Refund {
    id: String,
    refund_id: String,
    payment: String,
    amount: i64,
    created: i64,
}

#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
}

enum Key {
    InFlight,
    Done(Answer),
}

/// What a call came to: an answer, or a connection dropped.
enum Reply {
    Answer(Answer),
    Lost,
}

/// A notification: the object as it now stands.
enum Event {
    Payment(Payment),
    Refund(Refund),
}

#[derive(Default)]
struct Book {
    payments: Vec<Payment>,
    refunds: Vec<Refund>,
    keys: HashMap<String, Key>,
    ledger: Vec<Movement>,
    /// Notifications sent so far per provider payment, for their order.
    sent: HashMap<String, u64>,
}

impl Book {
    fn payment(&self, id: &str) -> Option<&Payment> {
        self.payments.iter().find(|p| p.id == id)
    }

    fn book(&mut self, kind: Kind, payment: &Payment, amount: i64, refund: Option<&Refund>) {
        self.ledger.push(Movement {
            kind,
            amount,
            payment_id: payment.payment_id.clone(),
            attempt_id: payment.attempt_id.clone(),
            refund_id: refund.map(|r| r.refund_id.clone()),
            provider_id: payment.id.clone(),
            provider_refund_id: refund.map(|r| r.id.clone()),
        });
    }
}

struct Inner {
    shape: Shape,
    book: Mutex<Book>,
    plans: Mutex<HashMap<i64, Plan>>,
    /// The caller's time for one call (`[http] request_timeout_ms`).
    timeout: Duration,
    /// Where notifications go: the daemon's webhook URL for the account.
    notify_to: Mutex<Option<String>>,
    secret: String,
    http: reqwest::Client,
}

/// The double, shared by its server and the test.
#[derive(Clone)]
pub struct Double(Arc<Inner>);

impl Double {
    /// A double of `shape` whose caller waits `timeout` for an answer, signing notifications
    /// with `secret`.
    pub fn new(shape: Shape, timeout: Duration, secret: &str) -> Self {
        Self(Arc::new(Inner {
            shape,
            book: Mutex::default(),
            plans: Mutex::default(),
            timeout,
            notify_to: Mutex::default(),
            secret: secret.into(),
            http: reqwest::Client::new(),
        }))
    }

    /// Serves the double on a loopback port.
    pub async fn serve(&self) -> MockServer {
        let router = match self.0.shape {
            Shape::Stripe => stripe_routes(),
            Shape::Plugin => plugin_routes(),
        };
        MockServer::serve(router.with_state(self.clone())).await
    }

    /// Payments of `amount` follow `plan`; others are served with jitter and prompt notices.
    pub fn plan(&self, amount: i64, plan: Plan) {
        self.0.plans.lock().unwrap().insert(amount, plan);
    }

    /// Sends notifications to `url` from now on.
    pub fn notify_to(&self, url: &str) {
        *self.0.notify_to.lock().unwrap() = Some(url.into());
    }

    /// Every money movement so far.
    pub fn ledger(&self) -> Vec<Movement> {
        self.0.book.lock().unwrap().ledger.clone()
    }

    fn plan_for(&self, amount: i64, call: Call) -> (Fault, Notify) {
        match self.0.plans.lock().unwrap().get(&amount) {
            Some(plan) if plan.call == call => (plan.fault, plan.notify),
            Some(plan) => (Fault::None, plan.notify),
            None => (Fault::Jitter, Notify::Prompt),
        }
    }

    /// How long a caller has given up after.
    fn past_timeout(&self) -> Duration {
        self.0.timeout + Duration::from_millis(300)
    }

    /// Runs one call with key `key` on a payment of `amount`: the fault planned for it, then
    /// `act` (which books what it moves and tells what to notify), with Stripe's idempotency.
    async fn run(
        &self,
        key: String,
        amount: i64,
        call: Call,
        act: impl FnOnce(&mut Book) -> (Answer, Vec<Event>) + Send + 'static,
    ) -> Response {
        let (fault, notify) = self.plan_for(amount, call);
        let double = self.clone();
        let work = tokio::spawn(async move { double.work(key, fault, notify, act).await });
        match work.await.expect("the double's work") {
            Reply::Answer(answer) => json_answer(answer.status, answer.body),
            // Unwinding (without the panic hook) ends the connection's task: the caller sees
            // the connection close with no answer.
            Reply::Lost => std::panic::resume_unwind(Box::new("answer lost")),
        }
    }

    async fn work(
        &self,
        key: String,
        fault: Fault,
        notify: Notify,
        act: impl FnOnce(&mut Book) -> (Answer, Vec<Event>),
    ) -> Reply {
        {
            let mut book = self.0.book.lock().unwrap();
            match book.keys.get(&key) {
                Some(Key::InFlight) => return Reply::Answer(self.in_flight()),
                Some(Key::Done(_)) if fault == Fault::LoseAnswer => return Reply::Lost,
                Some(Key::Done(answer)) => return Reply::Answer(answer.clone()),
                None if fault == Fault::TimeoutBefore => {}
                None => drop(book.keys.insert(key.clone(), Key::InFlight)),
            }
        }
        let (before, after) = match fault {
            Fault::Jitter => {
                let mut rng = rand::rng();
                (Duration::from_millis(rng.random_range(0..15)), Duration::from_millis(rng.random_range(0..40)))
            }
            Fault::Slow => (self.0.timeout / 2, Duration::ZERO),
            Fault::TimeoutBefore | Fault::ActsLate => (self.past_timeout(), Duration::ZERO),
            Fault::TimeoutAfter => (Duration::ZERO, self.past_timeout()),
            Fault::None | Fault::ErrorAfter | Fault::LoseAnswer => (Duration::ZERO, Duration::ZERO),
        };
        tokio::time::sleep(before).await;
        if fault == Fault::TimeoutBefore {
            return Reply::Answer(self.error(504));
        }
        let (answer, events) = act(&mut self.0.book.lock().unwrap());
        self.send(events, notify);
        let answer = if fault == Fault::ErrorAfter { self.error(500) } else { answer };
        tokio::time::sleep(after).await;
        self.0.book.lock().unwrap().keys.insert(key, Key::Done(answer.clone()));
        match fault {
            Fault::LoseAnswer => Reply::Lost,
            _ => Reply::Answer(answer),
        }
    }

    /// Another call with the same key is under way.
    fn in_flight(&self) -> Answer {
        let body = match self.0.shape {
            Shape::Stripe => json!({ "error": { "type": "idempotency_error",
                "message": "There is currently another in-progress request using this Idempotent Key." } }),
            Shape::Plugin => json!({ "error": "in_flight" }),
        };
        Answer { status: 409, body }
    }

    fn error(&self, status: u16) -> Answer {
        let body = match self.0.shape {
            Shape::Stripe => json!({ "error": { "type": "api_error", "message": "Something went wrong." } }),
            Shape::Plugin => json!({ "error": "server" }),
        };
        Answer { status, body }
    }

    /// A call refused, changing nothing.
    fn refused(&self, status: u16, code: &str) -> Answer {
        let body = match self.0.shape {
            Shape::Stripe => json!({ "error": { "type": "invalid_request_error", "code": code, "message": code } }),
            Shape::Plugin => json!({ "error": code }),
        };
        Answer { status, body }
    }

    fn render_payment(&self, p: &Payment) -> Value {
        match self.0.shape {
            Shape::Stripe => {
                let status = match p.state {
                    Standing::Authorized => "requires_capture",
                    Standing::Captured => "succeeded",
                    Standing::Voided => "canceled",
                };
                json!({ "id": p.id, "object": "payment_intent", "status": status, "amount": p.amount,
                    "amount_received": p.captured, "capture_method": if p.manual { "manual" } else { "automatic" },
                    "created": p.created, "latest_charge": null, "next_action": null,
                    "metadata": { "payment_id": p.payment_id, "attempt_id": p.attempt_id } })
            }
            Shape::Plugin => {
                let status = match p.state {
                    Standing::Authorized => "authorized",
                    Standing::Captured => "captured",
                    Standing::Voided => "voided",
                };
                json!({ "id": p.id, "reference": p.attempt_id, "payment_id": p.payment_id, "status": status,
                    "amount": p.amount, "captured": p.captured })
            }
        }
    }

    fn render_refund(&self, r: &Refund) -> Value {
        match self.0.shape {
            Shape::Stripe => json!({ "id": r.id, "object": "refund", "status": "succeeded", "amount": r.amount,
                "payment_intent": r.payment, "created": r.created, "metadata": { "refund_id": r.refund_id } }),
            Shape::Plugin => json!({ "id": r.id, "reference": r.refund_id, "payment": r.payment,
                "amount": r.amount, "status": "succeeded" }),
        }
    }

    fn answer_payment(&self, p: &Payment) -> Answer {
        Answer { status: 200, body: self.render_payment(p) }
    }

    // ---- the operations, the same for both shapes ------------------------------------------

    fn create(
        &self,
        book: &mut Book,
        attempt_id: &str,
        payment_id: &str,
        amount: i64,
        manual: bool,
    ) -> (Answer, Vec<Event>) {
        let prefix = if self.0.shape == Shape::Stripe { "pi" } else { "pay" };
        let payment = Payment {
            id: format!("{prefix}_{}", book.payments.len() + 1),
            attempt_id: attempt_id.into(),
            payment_id: payment_id.into(),
            amount,
            manual,
            state: if manual { Standing::Authorized } else { Standing::Captured },
            captured: if manual { 0 } else { amount },
            created: chrono::Utc::now().timestamp(),
        };
        book.book(Kind::Authorize, &payment, amount, None);
        if !manual {
            book.book(Kind::Capture, &payment, amount, None);
        }
        book.payments.push(payment.clone());
        (self.answer_payment(&payment), vec![Event::Payment(payment)])
    }

    fn capture(&self, book: &mut Book, id: &str, amount: i64) -> (Answer, Vec<Event>) {
        let Some(i) = book.payments.iter().position(|p| p.id == id) else {
            return (self.refused(404, "resource_missing"), vec![]);
        };
        if book.payments[i].state != Standing::Authorized || amount > book.payments[i].amount || amount <= 0 {
            return (self.refused(400, "payment_intent_unexpected_state"), vec![]);
        }
        book.payments[i].state = Standing::Captured;
        book.payments[i].captured = amount;
        let payment = book.payments[i].clone();
        book.book(Kind::Capture, &payment, amount, None);
        (self.answer_payment(&payment), vec![Event::Payment(payment)])
    }

    fn cancel(&self, book: &mut Book, id: &str) -> (Answer, Vec<Event>) {
        let Some(i) = book.payments.iter().position(|p| p.id == id) else {
            return (self.refused(404, "resource_missing"), vec![]);
        };
        if book.payments[i].state != Standing::Authorized {
            return (self.refused(400, "payment_intent_unexpected_state"), vec![]);
        }
        book.payments[i].state = Standing::Voided;
        let payment = book.payments[i].clone();
        book.book(Kind::Void, &payment, payment.amount, None);
        (self.answer_payment(&payment), vec![Event::Payment(payment)])
    }

    fn refund(&self, book: &mut Book, id: &str, amount: i64, refund_id: &str) -> (Answer, Vec<Event>) {
        let Some(payment) = book.payment(id).cloned() else {
            return (self.refused(404, "resource_missing"), vec![]);
        };
        let refunded: i64 = book.refunds.iter().filter(|r| r.payment == id).map(|r| r.amount).sum();
        if payment.state != Standing::Captured || amount <= 0 || refunded + amount > payment.captured {
            return (self.refused(400, "charge_already_refunded"), vec![]);
        }
        let prefix = if self.0.shape == Shape::Stripe { "re" } else { "ref" };
        let refund = Refund {
            id: format!("{prefix}_{}", book.refunds.len() + 1),
            refund_id: refund_id.into(),
            payment: id.into(),
            amount,
            created: chrono::Utc::now().timestamp(),
        };
        book.book(Kind::Refund, &payment, amount, Some(&refund));
        book.refunds.push(refund.clone());
        (Answer { status: 200, body: self.render_refund(&refund) }, vec![Event::Refund(refund)])
    }

    async fn create_call(&self, headers: &HeaderMap, ids: (String, String), amount: i64, manual: bool) -> Response {
        let (double, (attempt, payment)) = (self.clone(), ids);
        let act = move |book: &mut Book| double.create(book, &attempt, &payment, amount, manual);
        self.run(key_of(headers), amount, Call::Create, act).await
    }

    async fn capture_call(&self, headers: &HeaderMap, id: String, amount: i64) -> Response {
        let (double, of) = (self.clone(), self.amount_of(&id));
        self.run(key_of(headers), of, Call::Capture, move |book| double.capture(book, &id, amount)).await
    }

    async fn refund_call(&self, headers: &HeaderMap, payment: String, amount: i64, refund_id: String) -> Response {
        let (double, of) = (self.clone(), self.amount_of(&payment));
        let act = move |book: &mut Book| double.refund(book, &payment, amount, &refund_id);
        self.run(key_of(headers), of, Call::Refund, act).await
    }

    fn amount_of(&self, provider_id: &str) -> i64 {
        self.0.book.lock().unwrap().payment(provider_id).map_or(0, |p| p.amount)
    }

    // ---- notifications ----------------------------------------------------------------------

    /// Sends `events` to the daemon as `notify` says, each from a task of its own; one the
    /// daemon does not take (it is down, or answers an error) is sent again, as a provider's
    /// would be, a few times over some seconds, then lost.
    fn send(&self, events: Vec<Event>, notify: Notify) {
        let Some(url) = self.0.notify_to.lock().unwrap().clone() else { return };
        for event in events {
            let payment = match &event {
                Event::Payment(p) => p.id.clone(),
                Event::Refund(r) => r.payment.clone(),
            };
            let seq = {
                let mut book = self.0.book.lock().unwrap();
                let n = book.sent.entry(payment).or_default();
                *n += 1;
                *n - 1
            };
            let (delays, body) = (self.delays(notify, seq), self.event_body(&event));
            for delay in delays {
                let (double, url, body) = (self.clone(), url.clone(), body.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    for retry in RETRIES {
                        let (name, value) = double.signature(&body);
                        let sent =
                            double.0.http.post(&url).header(name, value).header("content-type", "application/json");
                        if sent.body(body.clone()).send().await.is_ok_and(|res| res.status().is_success()) {
                            break;
                        }
                        tokio::time::sleep(retry).await;
                    }
                });
            }
        }
    }

    /// When each copy of a payment's `seq`-th notification goes out.
    fn delays(&self, notify: Notify, seq: u64) -> Vec<Duration> {
        let ms = Duration::from_millis;
        match notify {
            Notify::Prompt => vec![ms(0)],
            Notify::Never => vec![],
            Notify::Late => vec![ms(1200)],
            Notify::Twice => vec![ms(0), ms(150)],
            Notify::OutOfOrder => vec![ms(1600u64.saturating_sub(700 * seq))],
        }
    }

    fn event_body(&self, event: &Event) -> String {
        let (kind, object) = match event {
            Event::Payment(p) => ("payment", self.render_payment(p)),
            Event::Refund(r) => ("refund", self.render_refund(r)),
        };
        match self.0.shape {
            Shape::Stripe => {
                let kind = match (event, kind) {
                    (Event::Refund(_), _) => "refund.updated",
                    (Event::Payment(p), _) if p.state == Standing::Authorized => {
                        "payment_intent.amount_capturable_updated"
                    }
                    (Event::Payment(p), _) if p.state == Standing::Voided => "payment_intent.canceled",
                    _ => "payment_intent.succeeded",
                };
                json!({ "id": format!("evt_{}", rand::random::<u32>()), "object": "event", "type": kind,
                    "data": { "object": object } })
                .to_string()
            }
            Shape::Plugin => json!({ "type": kind, "object": object }).to_string(),
        }
    }

    fn signature(&self, body: &str) -> (&'static str, String) {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.secret.as_bytes()).unwrap();
        match self.0.shape {
            Shape::Stripe => {
                let t = chrono::Utc::now().timestamp();
                mac.update(format!("{t}.{body}").as_bytes());
                ("Stripe-Signature", format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes())))
            }
            Shape::Plugin => {
                mac.update(body.as_bytes());
                ("X-Faulty-Signature", hex::encode(mac.finalize().into_bytes()))
            }
        }
    }
}

fn key_of(headers: &HeaderMap) -> String {
    headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

fn found(double: &Double, what: Option<Value>) -> Response {
    match what {
        Some(object) => json_answer(200, object),
        None => {
            let answer = double.refused(404, "resource_missing");
            json_answer(answer.status, answer.body)
        }
    }
}

// ---- Stripe's shape --------------------------------------------------------------------------

type Fields = HashMap<String, String>;

fn field<T: std::str::FromStr + Default>(form: &Fields, name: &str) -> T {
    form.get(name).and_then(|v| v.parse().ok()).unwrap_or_default()
}

fn stripe_routes() -> Router<Double> {
    Router::new()
        .route("/v1/payment_intents", post(stripe_create).get(stripe_intents))
        .route("/v1/payment_intents/{id}", get(stripe_intent))
        .route("/v1/payment_intents/{id}/capture", post(stripe_capture))
        .route("/v1/payment_intents/{id}/cancel", post(cancel))
        .route("/v1/refunds", post(stripe_refund).get(stripe_refunds))
        .route("/v1/refunds/{id}", get(stripe_refund_get))
}

async fn stripe_create(State(double): State<Double>, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    let manual = form.get("capture_method").is_some_and(|m| m == "manual");
    let ids = (field(&form, "metadata[attempt_id]"), field(&form, "metadata[payment_id]"));
    double.create_call(&headers, ids, field(&form, "amount"), manual).await
}

async fn stripe_intents(State(double): State<Double>, Query(query): Query<Fields>) -> Response {
    let (from, to) = (field::<i64>(&query, "created[gte]"), query.get("created[lte]").and_then(|v| v.parse().ok()));
    let book = double.0.book.lock().unwrap();
    let data: Vec<Value> = book
        .payments
        .iter()
        .rev()
        .filter(|p| p.created >= from && to.is_none_or(|to: i64| p.created <= to))
        .map(|p| double.render_payment(p))
        .collect();
    json_answer(200, json!({ "object": "list", "data": data, "has_more": false }))
}

async fn stripe_intent(State(double): State<Double>, Path(id): Path<String>) -> Response {
    let object = double.0.book.lock().unwrap().payment(&id).map(|p| double.render_payment(p));
    found(&double, object)
}

async fn stripe_capture(
    State(double): State<Double>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    double.capture_call(&headers, id, field(&form, "amount_to_capture")).await
}

/// A cancel, the same in both shapes: its body says nothing.
async fn cancel(State(double): State<Double>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let d = double.clone();
    double.run(key_of(&headers), double.amount_of(&id), Call::Cancel, move |book| d.cancel(book, &id)).await
}

async fn stripe_refund(State(double): State<Double>, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    let (intent, amount) = (field(&form, "payment_intent"), field(&form, "amount"));
    double.refund_call(&headers, intent, amount, field(&form, "metadata[refund_id]")).await
}

async fn stripe_refunds(State(double): State<Double>, Query(query): Query<Fields>) -> Response {
    let intent: String = field(&query, "payment_intent");
    let book = double.0.book.lock().unwrap();
    let data: Vec<Value> =
        book.refunds.iter().rev().filter(|r| r.payment == intent).map(|r| double.render_refund(r)).collect();
    json_answer(200, json!({ "object": "list", "data": data, "has_more": false }))
}

async fn stripe_refund_get(State(double): State<Double>, Path(id): Path<String>) -> Response {
    let object = double.0.book.lock().unwrap().refunds.iter().find(|r| r.id == id).map(|r| double.render_refund(r));
    found(&double, object)
}

// ---- the plugin's shape ----------------------------------------------------------------------

fn plugin_routes() -> Router<Double> {
    Router::new()
        .route("/payments", post(plugin_create))
        .route("/payments/by-reference/{reference}", get(plugin_payment_by_reference))
        .route("/payments/{id}/capture", post(plugin_capture))
        .route("/payments/{id}/cancel", post(cancel))
        .route("/refunds", post(plugin_refund))
        .route("/refunds/by-reference/{reference}", get(plugin_refund_by_reference))
}

async fn plugin_create(State(double): State<Double>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let text = |name: &str| body[name].as_str().unwrap_or_default().to_string();
    let (amount, manual) = (body["amount"].as_i64().unwrap_or_default(), body["capture"] == "manual");
    double.create_call(&headers, (text("reference"), text("payment_id")), amount, manual).await
}

async fn plugin_payment_by_reference(State(double): State<Double>, Path(reference): Path<String>) -> Response {
    let book = double.0.book.lock().unwrap();
    let object = book.payments.iter().find(|p| p.attempt_id == reference).map(|p| double.render_payment(p));
    found(&double, object)
}

async fn plugin_capture(
    State(double): State<Double>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    double.capture_call(&headers, id, body["amount"].as_i64().unwrap_or_default()).await
}

async fn plugin_refund(State(double): State<Double>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let text = |name: &str| body[name].as_str().unwrap_or_default().to_string();
    let amount = body["amount"].as_i64().unwrap_or_default();
    double.refund_call(&headers, text("payment"), amount, text("reference")).await
}

async fn plugin_refund_by_reference(State(double): State<Double>, Path(reference): Path<String>) -> Response {
    let book = double.0.book.lock().unwrap();
    let object = book.refunds.iter().find(|r| r.refund_id == reference).map(|r| double.render_refund(r));
    found(&double, object)
}
