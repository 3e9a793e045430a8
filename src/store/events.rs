//! The outbox of events for merchants and the record of every try to deliver them.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{json_col, millis, parse_col, time_col, Json, Result, Statement, Store, Write};
use crate::domain::event::{Delivery, Event, EventStatus, NewEvent};

const EVENT_COLUMNS: &str = "id, merchant_id, profile_id, object_id, event_class, event_type, body, status, attempts, \
    next_attempt_at, created_at";

/// Which of a profile's events to list.
#[derive(Debug, Default)]
pub struct EventFilter {
    pub object_id: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// What becomes of an event after a try.
#[derive(Debug, Clone, Copy)]
pub enum AfterTry {
    Delivered,
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// Writes `event` as part of the change it reports.
pub(super) fn insert_event(event: &NewEvent) -> Statement {
    Statement::new(format!("INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9)"))
        .bind(&event.id)
        .bind(&event.merchant_id)
        .bind(&event.profile_id)
        .bind(&event.object_id)
        .bind(event.class)
        .bind(event.event_type)
        .bind(&event.body)
        .bind(EventStatus::Pending.as_str())
        .bind(millis(event.created_at))
}

impl Store {
    /// Up to `batch` events due at `now`, each the oldest still pending of its object, so that a
    /// payment's events go out in the order its changes happened.
    pub async fn due_events(&self, now: DateTime<Utc>, batch: u32) -> Result<Vec<Event>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE status = $1 AND next_attempt_at <= $2 \
             AND NOT EXISTS (SELECT 1 FROM events o WHERE o.object_id = e.object_id AND o.status = $1 \
                 AND (o.created_at < e.created_at OR (o.created_at = e.created_at AND o.id < e.id))) \
             ORDER BY created_at, id LIMIT $3"
        ))
        .bind(EventStatus::Pending.as_str())
        .bind(millis(now))
        .bind(i64::from(batch))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Takes `event` on until `until`, which it then holds as its `next_attempt_at`; false when
    /// another daemon took it first.
    pub async fn lease_event(&self, event: &mut Event, until: DateTime<Utc>) -> Result<bool> {
        let taken = self
            .write(Write::only(
                Statement::new(
                    "UPDATE events SET next_attempt_at = $2 WHERE id = $1 AND status = $3 AND next_attempt_at = $4",
                )
                .bind(&event.id)
                .bind(millis(until))
                .bind(EventStatus::Pending.as_str())
                .bind(event.next_attempt_at),
            ))
            .await?;
        if taken {
            event.next_attempt_at = millis(until);
        }
        Ok(taken)
    }

    /// Keeps a try and moves its event on, together, if the event is still held under the lease
    /// the try was made under (`held_until`); false when the lease ran out and another try took
    /// the event on, which then records its own.
    pub async fn record_delivery(&self, delivery: &Delivery, held_until: i64, after: AfterTry) -> Result<bool> {
        let (status, next) = match after {
            AfterTry::Delivered => (EventStatus::Delivered, delivery.created_at),
            AfterTry::RetryAt(at) => (EventStatus::Pending, at),
            AfterTry::GiveUp => (EventStatus::Failed, delivery.created_at),
        };
        let mut write = Write::only(
            Statement::new(
                "UPDATE events SET status = $2, attempts = $3, next_attempt_at = $4 \
                 WHERE id = $1 AND status = $5 AND next_attempt_at = $6",
            )
            .bind(&delivery.event_id)
            .bind(status.as_str())
            .bind(delivery.attempt)
            .bind(millis(next))
            .bind(EventStatus::Pending.as_str())
            .bind(held_until),
        );
        write.then(
            Statement::new(
                "INSERT INTO event_deliveries (id, event_id, attempt, request_headers, status_code, response_body, \
             error_message, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&delivery.id)
            .bind(&delivery.event_id)
            .bind(delivery.attempt)
            .bind(Json(&delivery.request_headers))
            .bind(delivery.status_code.map(i64::from))
            .bind(&delivery.response_body)
            .bind(&delivery.error_message)
            .bind(millis(delivery.created_at)),
        );
        self.write(write).await
    }

    /// A merchant's events — a profile's alone when one is given — newest first.
    pub async fn events(
        &self,
        merchant_id: &str,
        profile_id: Option<&str>,
        filter: &EventFilter,
    ) -> Result<Vec<Event>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE merchant_id = $1 AND ($2 IS NULL OR profile_id = $2) \
             AND ($3 IS NULL OR object_id = $3) ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
        ))
        .bind(merchant_id)
        .bind(profile_id)
        .bind(&filter.object_id)
        .bind(i64::from(filter.limit))
        .bind(i64::from(filter.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub async fn find_event(&self, id: &str, merchant_id: &str, profile_id: Option<&str>) -> Result<Option<Event>> {
        let row = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND merchant_id = $2 \
             AND ($3 IS NULL OR profile_id = $3)"
        ))
        .bind(id)
        .bind(merchant_id)
        .bind(profile_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// The tries at delivering an event, first first.
    pub async fn deliveries(&self, event_id: &str) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT id, event_id, attempt, request_headers, status_code, response_body, error_message, created_at \
             FROM event_deliveries WHERE event_id = $1 ORDER BY attempt",
        )
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status_code: Option<i64> = row.try_get("status_code")?;
                Ok(Delivery {
                    id: row.try_get("id")?,
                    event_id: row.try_get("event_id")?,
                    attempt: row.try_get("attempt")?,
                    request_headers: json_col(row, "request_headers")?.unwrap_or_default(),
                    status_code: status_code.and_then(|c| u16::try_from(c).ok()),
                    response_body: row.try_get("response_body")?,
                    error_message: row.try_get("error_message")?,
                    created_at: time_col(row, "created_at")?,
                })
            })
            .collect()
    }

    /// How many events wait to be delivered.
    pub async fn pending_events(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE status = $1")
            .bind(EventStatus::Pending.as_str())
            .fetch_one(&self.pool)
            .await?)
    }
}

fn event_from_row(row: &AnyRow) -> Result<Event> {
    Ok(Event {
        id: row.try_get("id")?,
        merchant_id: row.try_get("merchant_id")?,
        profile_id: row.try_get("profile_id")?,
        object_id: row.try_get("object_id")?,
        class: row.try_get("event_class")?,
        event_type: row.try_get("event_type")?,
        body: row.try_get("body")?,
        status: parse_col(row, "status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        created_at: time_col(row, "created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(event_id: &str, attempt: i64) -> Delivery {
        Delivery {
            id: format!("try_{attempt}"),
            event_id: event_id.into(),
            attempt,
            request_headers: Vec::new(),
            status_code: Some(200),
            response_body: None,
            error_message: None,
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_try_that_outlasted_its_lease_is_not_recorded_over_the_next_one() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("e.db").display()), 2).await.unwrap();
        let new = NewEvent {
            id: "evt_1".into(),
            merchant_id: "m".into(),
            profile_id: "p".into(),
            object_id: "pay_1".into(),
            class: "payments",
            event_type: "payment_succeeded",
            body: "{}".into(),
            created_at: Utc::now(),
        };
        assert!(store.write(Write::of(insert_event(&new))).await.unwrap());
        let mut event = store.due_events(Utc::now(), 10).await.unwrap().pop().expect("the event is due");

        // One daemon takes it on; its lease runs out and another takes it on.
        let first = Utc::now() + chrono::Duration::seconds(10);
        assert!(store.lease_event(&mut event, first).await.unwrap());
        let mut taken_again =
            store.due_events(first, 10).await.unwrap().pop().expect("due again once the lease ran out");
        let second = first + chrono::Duration::seconds(10);
        assert!(store.lease_event(&mut taken_again, second).await.unwrap());
        assert!(!store.lease_event(&mut event.clone(), second).await.unwrap(), "held by the other");

        // The first try ends late: it does not move the event on, nor keep its record.
        let late = store.record_delivery(&delivery("evt_1", 1), event.next_attempt_at, AfterTry::GiveUp).await;
        assert!(!late.unwrap());
        assert!(store.deliveries("evt_1").await.unwrap().is_empty());
        assert_eq!(store.pending_events().await.unwrap(), 1);

        // The second try, still within its lease, is recorded.
        let held = store.record_delivery(&delivery("evt_1", 1), taken_again.next_attempt_at, AfterTry::Delivered).await;
        assert!(held.unwrap());
        assert_eq!(store.deliveries("evt_1").await.unwrap().len(), 1);
        assert_eq!(store.pending_events().await.unwrap(), 0);
        store.close().await;
    }
}
