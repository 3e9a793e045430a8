//! Payment intents and attempts: insert, read, and the compare-and-set updates the flows use.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::{LazyLock, OnceLock};

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::events::insert_event;
use super::query::{Conditions, Value as Bound};
use super::{json_col, millis, parse_col, time_col, Json, Owner, Result, Statement, Store, StoreError, Write};
use crate::domain::decision::Decision;
use crate::domain::event::NewEvent;
use crate::domain::payment::{IntentDetails, PaymentAttempt, PaymentIntent};
use crate::domain::status::IntentStatus;

/// The changes an intent undergoes when one of its operations settles.
#[derive(Debug, Clone)]
pub struct IntentUpdate {
    pub status: IntentStatus,
    pub amount_captured: Option<i64>,
    pub active_attempt_id: Option<String>,
    /// Replaces the intent's details (a confirmation may bring a `return_url`).
    pub details: Option<IntentDetails>,
    pub modified_at: DateTime<Utc>,
    /// Set while the writer's own connector call is under way (until when it may last);
    /// cleared otherwise.
    pub in_flight_until: Option<DateTime<Utc>>,
    /// Applies only if no other call is under way at this time: how a sync or a notification
    /// leaves a payment to the call that holds it.
    pub unless_in_flight_at: Option<DateTime<Utc>>,
    /// Applies only if the intent is as it was read, unchanged since this time: how a
    /// confirmation charges the amount it read, never one an update wrote meanwhile.
    pub unchanged_since: Option<DateTime<Utc>>,
}

impl IntentUpdate {
    /// A change of status alone.
    pub fn status(status: IntentStatus, modified_at: DateTime<Utc>) -> Self {
        Self {
            status,
            amount_captured: None,
            active_attempt_id: None,
            details: None,
            modified_at,
            in_flight_until: None,
            unless_in_flight_at: None,
            unchanged_since: None,
        }
    }
}

/// How a provider's notification names an attempt.
#[derive(Debug, Clone, Copy)]
pub enum AttemptKey<'a> {
    /// By the provider's own id for it.
    ConnectorPaymentId(&'a str),
    /// By the id switchyard gave it, which the provider echoes back.
    AttemptId(&'a str),
}

const INTENT_COLUMNS: &str = "id, merchant_id, profile_id, merchant_reference_id, status, currency, net_amount, \
    amount_details, capture_method, authentication_type, customer_id, client_secret, expires_at, amount_captured, \
    amount_refunded, active_attempt_id, details, created_at, modified_at";

const ATTEMPT_COLUMNS: &str = "id, payment_id, connector_account, connector, status, net_amount, payment_method_type, \
    payment_method_subtype, card, payment_method_billing, authentication_type, connector_payment_id, \
    connector_reference_id, next_action, error, cancellation_reason, routing, created_at, modified_at";

impl Store {
    /// Stores a new intent, and its first attempt when it is confirmed at once, in one
    /// transaction. A reused merchant reference stores nothing and names the payment that has it.
    /// A confirmed intent's attempt is under way from the start, `in_flight_until` then.
    pub async fn insert_intent(
        &self,
        intent: &PaymentIntent,
        attempt: Option<(&PaymentAttempt, DateTime<Utc>)>,
    ) -> Result<()> {
        static INSERT: LazyLock<String> = LazyLock::new(|| {
            format!(
                "INSERT INTO payment_intents ({INTENT_COLUMNS}, in_flight_until) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
            )
        });
        let mut write = Write::of(
            Statement::new(INSERT.as_str())
                .bind(&intent.id)
                .bind(&intent.merchant_id)
                .bind(&intent.profile_id)
                .bind(&intent.merchant_reference_id)
                .bind(intent.status.as_str())
                .bind(intent.amount.currency.code())
                .bind(intent.amount.net_amount())
                .bind(Json(&intent.amount))
                .bind(intent.capture_method.as_str())
                .bind(intent.authentication_type.as_str())
                .bind(&intent.customer_id)
                .bind(&intent.client_secret)
                .bind(millis(intent.expires_at))
                .bind(intent.amount_captured)
                .bind(intent.amount_refunded)
                .bind(&intent.active_attempt_id)
                .bind(Json(&intent.details))
                .bind(millis(intent.created_at))
                .bind(millis(intent.modified_at))
                .bind(attempt.map(|(_, until)| millis(until))),
        );
        if let Some((attempt, _)) = attempt {
            write.then(insert_attempt(attempt));
        }
        match self.write(write).await {
            Err(e) if e.is_unique_violation() => Err(self.duplicate_reference(intent).await),
            other => other.map(drop),
        }
    }

    async fn duplicate_reference(&self, intent: &PaymentIntent) -> StoreError {
        let existing: std::result::Result<Option<String>, _> = sqlx::query_scalar(
            "SELECT id FROM payment_intents WHERE merchant_id = $1 AND profile_id = $2 AND merchant_reference_id = $3",
        )
        .bind(&intent.merchant_id)
        .bind(&intent.profile_id)
        .bind(&intent.merchant_reference_id)
        .fetch_optional(&self.pool)
        .await;
        let reference = intent.merchant_reference_id.as_deref().unwrap_or_default();
        match existing {
            Ok(Some(id)) => StoreError::Duplicate(format!(
                "merchant_reference_id `{reference}` is already used by payment {id} in this profile"
            )),
            Ok(None) => {
                StoreError::Duplicate(format!("merchant_reference_id `{reference}` is already used in this profile"))
            }
            Err(e) => e.into(),
        }
    }

    /// An intent, seen only by the merchant that owns it — and, when one is given, by that
    /// profile alone.
    pub async fn find_intent(
        &self,
        id: &str,
        merchant_id: &str,
        profile_id: Option<&str>,
    ) -> Result<Option<PaymentIntent>> {
        let row = sqlx::query(&format!(
            "SELECT {INTENT_COLUMNS} FROM payment_intents WHERE id = $1 AND merchant_id = $2 \
             AND ($3 IS NULL OR profile_id = $3)"
        ))
        .bind(id)
        .bind(merchant_id)
        .bind(profile_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(intent_from_row).transpose()
    }

    /// An intent by id alone, for callers that prove their right to it otherwise (a redirect
    /// return carries the payment id the daemon itself handed out).
    pub async fn find_intent_by_id(&self, id: &str) -> Result<Option<PaymentIntent>> {
        let row = sqlx::query(&format!("SELECT {INTENT_COLUMNS} FROM payment_intents WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(intent_from_row).transpose()
    }

    pub async fn attempts(&self, payment_id: &str) -> Result<Vec<PaymentAttempt>> {
        let rows = sqlx::query(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM payment_attempts WHERE payment_id = $1 ORDER BY created_at, id"
        ))
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attempt_from_row).collect()
    }

    /// Moves an intent from one of `from` to the update's status, storing `attempt` as pending in
    /// the same transaction. Returns false, changing nothing, when another request moved the
    /// intent first.
    pub async fn begin_attempt(
        &self,
        payment_id: &str,
        from: &[IntentStatus],
        update: &IntentUpdate,
        attempt: Option<&PaymentAttempt>,
    ) -> Result<bool> {
        let mut write = Write::only(update_intent(payment_id, from, update));
        if let Some(attempt) = attempt {
            write.then(insert_attempt(attempt));
        }
        self.write(write).await
    }

    /// Stores a connector's answer: the attempt as it now stands and the intent it settles, and
    /// the event that tells the merchant, all or nothing.
    pub async fn settle_attempt(
        &self,
        attempt: &PaymentAttempt,
        from: &[IntentStatus],
        update: &IntentUpdate,
        event: Option<&NewEvent>,
    ) -> Result<bool> {
        let mut write = Write::of(
            Statement::new(
                "UPDATE payment_attempts SET status = $2, connector_payment_id = $3, connector_reference_id = $4, \
             next_action = $5, error = $6, cancellation_reason = $7, authentication_type = $8, modified_at = $9 \
             WHERE id = $1",
            )
            .bind(&attempt.id)
            .bind(attempt.status.as_str())
            .bind(&attempt.connector_payment_id)
            .bind(&attempt.connector_reference_id)
            .bind(attempt.next_action.as_ref().map(Json))
            .bind(attempt.error.as_ref().map(Json))
            .bind(&attempt.cancellation_reason)
            .bind(attempt.authentication_type.as_str())
            .bind(millis(attempt.modified_at)),
        );
        write.only_if(update_intent(&attempt.payment_id, from, update));
        if let Some(event) = event {
            write.then(insert_event(event));
        }
        self.write(write).await
    }

    /// Changes an intent's status without an attempt (cancelling an unconfirmed intent, or
    /// marking one whose session ran out), with the event that tells the merchant, if any.
    pub async fn transition_intent(
        &self,
        payment_id: &str,
        from: &[IntentStatus],
        update: &IntentUpdate,
        event: Option<&NewEvent>,
    ) -> Result<bool> {
        let mut write = Write::only(update_intent(payment_id, from, update));
        if let Some(event) = event {
            write.then(insert_event(event));
        }
        self.write(write).await
    }
}

impl Store {
    /// The attempt a profile's connector account knows by `key`, with its intent.
    pub async fn find_account_attempt(
        &self,
        owner: &Owner<'_>,
        key: AttemptKey<'_>,
    ) -> Result<Option<(PaymentIntent, PaymentAttempt)>> {
        let columns: Vec<String> = ATTEMPT_COLUMNS.split(", ").map(|c| format!("a.{}", c.trim())).collect();
        let (column, value) = match key {
            AttemptKey::ConnectorPaymentId(id) => ("connector_payment_id", id),
            AttemptKey::AttemptId(id) => ("id", id),
        };
        let row = sqlx::query(&format!(
            "SELECT {} FROM payment_attempts a JOIN payment_intents i ON i.id = a.payment_id \
             WHERE i.merchant_id = $1 AND i.profile_id = $2 AND a.connector_account = $3 AND a.{column} = $4 \
             ORDER BY a.created_at DESC LIMIT 1",
            columns.join(", ")
        ))
        .bind(owner.merchant_id)
        .bind(owner.profile_id)
        .bind(owner.connector_account)
        .bind(value)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let attempt = attempt_from_row(&row)?;
        let intent = self.find_intent_by_id(&attempt.payment_id).await?;
        Ok(intent.map(|intent| (intent, attempt)))
    }

    /// The routing decisions of the payments `filter` picks, one per payment (the decision of its
    /// first attempt), oldest first; with a limit, the most recent that many.
    pub async fn decisions(&self, filter: &DecisionFilter) -> Result<Vec<StoredDecision>> {
        // Only a payment's first decided attempt is a row, so that the limit counts payments.
        let mut sql = String::from(
            "SELECT a.payment_id, i.merchant_id, i.profile_id, a.routing \
             FROM payment_attempts a JOIN payment_intents i ON i.id = a.payment_id \
             WHERE a.routing IS NOT NULL AND NOT EXISTS (SELECT 1 FROM payment_attempts b \
                 WHERE b.payment_id = a.payment_id AND b.routing IS NOT NULL \
                 AND (b.created_at < a.created_at OR (b.created_at = a.created_at AND b.id < a.id)))",
        );
        let mut values: Vec<Value> = Vec::new();
        let mut condition = |sql: &mut String, column: &str, operator: &str, value: Value| {
            values.push(value);
            let _ = write!(sql, " AND {column} {operator} ${}", values.len());
        };
        let text = |s: &Option<String>| s.clone().map(Value::Text);
        let optional = [
            ("i.merchant_id", "=", text(&filter.merchant_id)),
            ("i.profile_id", "=", text(&filter.profile_id)),
            ("a.created_at", ">=", filter.since.map(|t| Value::Int(millis(t)))),
            ("a.created_at", "<", filter.until.map(|t| Value::Int(millis(t)))),
            ("i.status", "=", filter.status.map(|s| Value::Text(s.as_str().into()))),
            ("i.currency", "=", text(&filter.currency)),
        ];
        for (column, operator, value) in optional {
            if let Some(value) = value {
                condition(&mut sql, column, operator, value);
            }
        }
        sql.push_str(" ORDER BY a.created_at DESC, a.id DESC");
        if let Some(limit) = filter.limit {
            values.push(Value::Int(i64::from(limit)));
            let _ = write!(sql, " LIMIT ${}", values.len());
        }
        let query = values.into_iter().fold(sqlx::query(&sql), |query, value| match value {
            Value::Text(s) => query.bind(s),
            Value::Int(n) => query.bind(n),
        });
        let rows = query.fetch_all(&self.pool).await?;
        let mut decisions = Vec::with_capacity(rows.len());
        for row in rows.iter().rev() {
            let Some(decision) = json_col::<Decision>(row, "routing")? else { continue };
            decisions.push(StoredDecision {
                payment_id: row.try_get("payment_id")?,
                merchant_id: row.try_get("merchant_id")?,
                profile_id: row.try_get("profile_id")?,
                decision,
            });
        }
        Ok(decisions)
    }
}

impl Store {
    /// A page of a profile's intents that `filter` picks, in its order, and how many it picks in
    /// all.
    pub async fn list_intents(&self, filter: &IntentFilter) -> Result<(Vec<PaymentIntent>, i64)> {
        let text = |s: &Option<String>| s.as_deref().map(Bound::from);
        let texts = |list: &[String]| list.iter().map(|s| Bound::from(s.as_str())).collect::<Vec<_>>();
        let time = |t: Option<DateTime<Utc>>| t.map(|t| Bound::Int(millis(t)));
        let on_attempt =
            |column: &str| format!("active_attempt_id IN (SELECT id FROM payment_attempts WHERE {column} IN ({{}}))");
        let mut page = Conditions::default();
        page.compare("merchant_id", "=", Some(Bound::from(filter.merchant_id.as_str())))
            .compare("profile_id", "=", Some(Bound::from(filter.profile_id.as_str())))
            .compare("id", "=", text(&filter.payment_id))
            .compare("customer_id", "=", text(&filter.customer_id))
            .compare("merchant_reference_id", "=", text(&filter.merchant_reference_id))
            .compare("created_at", "=", time(filter.created.at))
            .compare("created_at", "<", time(filter.created.before))
            .compare("created_at", ">", time(filter.created.after))
            .compare("created_at", "<=", time(filter.created.until))
            .compare("created_at", ">=", time(filter.created.since))
            .compare("net_amount", ">=", filter.amount_at_least.map(Bound::Int))
            .compare("net_amount", "<=", filter.amount_at_most.map(Bound::Int))
            .any_of("status IN ({})", filter.statuses.iter().map(|s| Bound::from(s.as_str())))
            .any_of("currency IN ({})", texts(&filter.currencies))
            .any_of("authentication_type IN ({})", texts(&filter.authentication_types))
            .any_of(&on_attempt("connector"), texts(&filter.connectors))
            .any_of(&on_attempt("connector_account"), texts(&filter.accounts))
            .any_of(&on_attempt("payment_method_type"), texts(&filter.payment_method_types))
            .any_of(&on_attempt("payment_method_subtype"), texts(&filter.payment_method_subtypes));
        let total = page.count(&self.pool, "payment_intents").await?;
        let column = match filter.order.on {
            SortOn::Created => "created_at",
            SortOn::Modified => "modified_at",
            SortOn::Amount => "net_amount",
        };
        // Walking back from a cursor reads the other way, then turns the page around.
        let backwards = filter.cursor.as_ref().is_some_and(|c| c.before);
        let descending = filter.order.descending != backwards;
        if let Some(cursor) = &filter.cursor {
            let operator = if descending { "<" } else { ">" };
            page.after((column, "id"), operator, (Bound::Int(cursor.key), Bound::from(cursor.id.as_str())));
        }
        let direction = if descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {INTENT_COLUMNS} FROM payment_intents WHERE 1 = 1{} ORDER BY {column} {direction}, id {direction} \
             LIMIT ${} OFFSET ${}",
            page.sql(),
            page.next(),
            page.next() + 1
        );
        let rows = page.fetch_all(&self.pool, &sql, &[i64::from(filter.limit), i64::from(filter.offset)]).await?;
        let mut intents = rows.iter().map(intent_from_row).collect::<Result<Vec<_>>>()?;
        if backwards {
            intents.reverse();
        }
        Ok((intents, total))
    }

    /// Replaces what an unconfirmed intent holds with `intent`'s: false, changing nothing, when it
    /// is no longer `requires_payment_method` or has changed since `read_at` (its `modified_at`
    /// when it was read).
    pub async fn update_unconfirmed_intent(&self, intent: &PaymentIntent, read_at: DateTime<Utc>) -> Result<bool> {
        self.write(Write::only(
            Statement::new(
                "UPDATE payment_intents SET currency = $2, net_amount = $3, amount_details = $4, capture_method = $5, \
                 authentication_type = $6, expires_at = $7, details = $8, modified_at = $9 WHERE id = $1 AND status = $10 \
                 AND modified_at = $11",
            )
            .bind(&intent.id)
            .bind(intent.amount.currency.code())
            .bind(intent.amount.net_amount())
            .bind(Json(&intent.amount))
            .bind(intent.capture_method.as_str())
            .bind(intent.authentication_type.as_str())
            .bind(millis(intent.expires_at))
            .bind(Json(&intent.details))
            .bind(millis(intent.modified_at))
            .bind(IntentStatus::RequiresPaymentMethod.as_str())
            .bind(millis(read_at)),
        ))
        .await
    }
}

/// A page of a profile's payments: which, in what order, from where.
#[derive(Debug, Clone, Default)]
pub struct IntentFilter {
    pub merchant_id: String,
    pub profile_id: String,
    pub payment_id: Option<String>,
    pub customer_id: Option<String>,
    pub merchant_reference_id: Option<String>,
    pub created: TimeBounds,
    /// Bounds of the net amount, both inclusive.
    pub amount_at_least: Option<i64>,
    pub amount_at_most: Option<i64>,
    /// Each list lets through any of its values; an empty one lets all through.
    pub statuses: Vec<IntentStatus>,
    /// ISO 4217 codes.
    pub currencies: Vec<String>,
    pub authentication_types: Vec<String>,
    /// Of the active attempt: its connector, account, payment method type and subtype.
    pub connectors: Vec<String>,
    pub accounts: Vec<String>,
    pub payment_method_types: Vec<String>,
    pub payment_method_subtypes: Vec<String>,
    pub order: IntentOrder,
    pub cursor: Option<Cursor>,
    pub limit: u32,
    pub offset: u32,
}

/// Bounds on a time; each left out lets all through.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeBounds {
    pub at: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct IntentOrder {
    pub on: SortOn,
    pub descending: bool,
}

/// What a list of payments is ordered by (then by id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOn {
    #[default]
    Created,
    Modified,
    /// The net amount.
    Amount,
}

/// Where a page starts: after (or, `before`, ending before) the payment `id`, whose value in the
/// list's order (its net amount, or a time in milliseconds) is `key`.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub id: String,
    pub key: i64,
    pub before: bool,
}

/// Which payments' stored decisions to read; every field left out lets all through.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub merchant_id: Option<String>,
    pub profile_id: Option<String>,
    /// Decided at or after.
    pub since: Option<DateTime<Utc>>,
    /// Decided before.
    pub until: Option<DateTime<Utc>>,
    /// The payment's status now.
    pub status: Option<IntentStatus>,
    /// An ISO 4217 code, as stored.
    pub currency: Option<String>,
    /// The most recent this many payments.
    pub limit: Option<u32>,
}

/// A payment's first routing decision, with whose payment it is.
#[derive(Debug, Clone)]
pub struct StoredDecision {
    pub payment_id: String,
    pub merchant_id: String,
    pub profile_id: String,
    pub decision: Decision,
}

/// A value bound to a query built at run time.
enum Value {
    Text(String),
    Int(i64),
}

fn insert_attempt(a: &PaymentAttempt) -> Statement {
    static INSERT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO payment_attempts ({ATTEMPT_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        )
    });
    Statement::new(INSERT.as_str())
        .bind(&a.id)
        .bind(&a.payment_id)
        .bind(&a.connector_account)
        .bind(&a.connector)
        .bind(a.status.as_str())
        .bind(a.net_amount)
        .bind(&a.payment_method_type)
        .bind(&a.payment_method_subtype)
        .bind(a.card.as_ref().map(Json))
        .bind(a.payment_method_billing.as_ref().map(Json))
        .bind(a.authentication_type.as_str())
        .bind(&a.connector_payment_id)
        .bind(&a.connector_reference_id)
        .bind(a.next_action.as_ref().map(Json))
        .bind(a.error.as_ref().map(Json))
        .bind(&a.cancellation_reason)
        .bind(a.routing.as_ref().map(Json))
        .bind(millis(a.created_at))
        .bind(millis(a.modified_at))
}

/// The compare-and-set every intent change goes through: it applies only while the intent is
/// still in one of the `from` statuses.
fn update_intent(payment_id: &str, from: &[IntentStatus], update: &IntentUpdate) -> Statement {
    let guards = [update.unless_in_flight_at, update.unchanged_since];
    let mut statement = Statement::new(update_intent_sql(guards.map(|g| g.is_some()), from.len()))
        .bind(payment_id)
        .bind(update.status.as_str())
        .bind(update.amount_captured)
        .bind(&update.active_attempt_id)
        .bind(update.details.as_ref().map(Json))
        .bind(millis(update.modified_at))
        .bind(update.in_flight_until.map(millis));
    for at in guards.into_iter().flatten() {
        statement = statement.bind(millis(at));
    }
    from.iter().fold(statement, |statement, status| statement.bind(status.as_str()))
}

/// The text of `update_intent` with the guards given and `from` statuses: the same few shapes
/// on every change, so each is made once.
fn update_intent_sql(guards: [bool; 2], from: usize) -> Cow<'static, str> {
    const MOST_FROM: usize = 8;
    static SHAPES: [[OnceLock<String>; MOST_FROM]; 4] = [const { [const { OnceLock::new() }; MOST_FROM] }; 4];
    let make = || {
        let mut conditions = String::new();
        let mut next = 8;
        for (column, given) in [("COALESCE(in_flight_until, 0) <=", guards[0]), ("modified_at =", guards[1])] {
            if given {
                let _ = write!(conditions, "AND {column} ${next} ");
                next += 1;
            }
        }
        format!(
            "UPDATE payment_intents SET status = $2, amount_captured = COALESCE($3, amount_captured), \
             active_attempt_id = COALESCE($4, active_attempt_id), details = COALESCE($5, details), modified_at = $6, \
             in_flight_until = $7 WHERE id = $1 {conditions}AND status IN ({})",
            placeholders(next, from)
        )
    };
    match SHAPES[usize::from(guards[0]) | usize::from(guards[1]) << 1].get(from) {
        Some(shape) => Cow::Borrowed(shape.get_or_init(make)),
        None => Cow::Owned(make()),
    }
}

/// `$first, $first+1, …`: the placeholders of a `status IN (…)` list.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn intent_from_row(row: &AnyRow) -> Result<PaymentIntent> {
    Ok(PaymentIntent {
        id: row.try_get("id")?,
        merchant_id: row.try_get("merchant_id")?,
        profile_id: row.try_get("profile_id")?,
        merchant_reference_id: row.try_get("merchant_reference_id")?,
        status: parse_col(row, "status")?,
        amount: json_col(row, "amount_details")?
            .ok_or_else(|| StoreError::Corrupt("amount_details is empty".into()))?,
        capture_method: parse_col(row, "capture_method")?,
        authentication_type: parse_col(row, "authentication_type")?,
        customer_id: row.try_get("customer_id")?,
        client_secret: row.try_get("client_secret")?,
        expires_at: time_col(row, "expires_at")?,
        amount_captured: row.try_get("amount_captured")?,
        amount_refunded: row.try_get("amount_refunded")?,
        active_attempt_id: row.try_get("active_attempt_id")?,
        details: json_col(row, "details")?.unwrap_or_default(),
        created_at: time_col(row, "created_at")?,
        modified_at: time_col(row, "modified_at")?,
    })
}

fn attempt_from_row(row: &AnyRow) -> Result<PaymentAttempt> {
    Ok(PaymentAttempt {
        id: row.try_get("id")?,
        payment_id: row.try_get("payment_id")?,
        connector_account: row.try_get("connector_account")?,
        connector: row.try_get("connector")?,
        status: parse_col(row, "status")?,
        net_amount: row.try_get("net_amount")?,
        payment_method_type: row.try_get("payment_method_type")?,
        payment_method_subtype: row.try_get("payment_method_subtype")?,
        card: json_col(row, "card")?,
        payment_method_billing: json_col(row, "payment_method_billing")?,
        authentication_type: parse_col(row, "authentication_type")?,
        connector_payment_id: row.try_get("connector_payment_id")?,
        connector_reference_id: row.try_get("connector_reference_id")?,
        next_action: json_col(row, "next_action")?,
        error: json_col(row, "error")?,
        cancellation_reason: row.try_get("cancellation_reason")?,
        routing: json_col(row, "routing")?,
        created_at: time_col(row, "created_at")?,
        modified_at: time_col(row, "modified_at")?,
    })
}
