//! Delivery of events to merchants. Each due event is posted to its profile's `webhook_url`, its
//! body signed with the profile's `payment_response_hash_key`, until the endpoint answers 2xx.
//! A failed try is retried after a wait that doubles from `retry_base_ms`; after `max_attempts`
//! the event is given up on, so the later events of its payment may go. Only the oldest pending
//! event of a payment or refund is ever sent, so a merchant sees its changes in order. Every try
//! is kept, and each event is taken on under a lease, so daemons sharing a database send it once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::backoff::{doubling, millis};
use crate::config::OutgoingWebhooksConfig;
use crate::domain::event::{sign, Delivery, Event, SIGNATURE_HEADER};
use crate::snapshot::Live;
use crate::store::{AfterTry, Store};
use crate::text::clip;

/// How much of a merchant's answer is kept with a try.
const KEPT_ANSWER: usize = 1000;

/// What delivery works with.
pub struct Courier {
    pub store: Store,
    /// Where each profile's webhooks go: as the version serving at the delivery says.
    pub live: Live,
    /// The daemon's one pooled client.
    pub http: reqwest::Client,
    pub settings: OutgoingWebhooksConfig,
    /// Woken when an event is written, so it goes out at once.
    pub due: Arc<Notify>,
}

/// Sends due events until none is left, then waits for a new one (or `every_ms`), until aborted.
pub fn spawn(courier: Arc<Courier>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_millis(courier.settings.every_ms);
        loop {
            // A delivered event may make the next one of its payment due at once.
            if run(&courier).await > 0 {
                continue;
            }
            tokio::select! {
                () = courier.due.notified() => {}
                () = tokio::time::sleep(every) => {}
            }
        }
    })
}

/// One round: takes on the due events and tries each once, all at once. Returns how many it tried.
pub async fn run(courier: &Arc<Courier>) -> usize {
    let config = &courier.settings;
    let now = Utc::now();
    let due = match courier.store.due_events(now, config.batch).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the webhook outbox");
            return 0;
        }
    };
    // Held long enough for the try to end, so no other daemon takes the event meanwhile.
    let lease = now + millis(config.timeout_ms.saturating_mul(2));
    let mut tries = JoinSet::new();
    for mut event in due {
        match courier.store.lease_event(&mut event, lease).await {
            Ok(true) => drop(tries.spawn(deliver(courier.clone(), event))),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, event_id = %event.id, "cannot take an event on"),
        }
    }
    let tried = tries.join_all().await.len();
    if let Ok(pending) = courier.store.pending_events().await {
        metrics::gauge!("switchyard_webhook_events_pending").set(pending as f64);
    }
    tried
}

/// One try at one event, kept with what became of it.
async fn deliver(courier: Arc<Courier>, event: Event) {
    let config = &courier.settings;
    let attempt = event.attempts + 1;
    let target =
        courier.live.load().directory.profile(&event.merchant_id, &event.profile_id).and_then(|p| p.webhook.clone());
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let answer = match &target {
        None => Err(("other", "the profile has no webhook_url any more".to_string())),
        Some(target) => {
            headers.push((SIGNATURE_HEADER.into(), sign(target.key.expose().as_bytes(), event.body.as_bytes())));
            let mut request = courier.http.post(&target.url).timeout(Duration::from_millis(config.timeout_ms));
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let started = Instant::now();
            let sent = request.body(event.body.clone()).send().await;
            metrics::histogram!("switchyard_webhook_delivery_duration_seconds").record(started.elapsed().as_secs_f64());
            match sent {
                Ok(res) => {
                    let code = res.status().as_u16();
                    Ok((code, res.text().await.map(|body| clip(&body, KEPT_ANSWER)).ok()))
                }
                Err(e) => {
                    let cause = match () {
                        () if e.is_timeout() => "timeout",
                        () if e.is_connect() => "connect",
                        () => "other",
                    };
                    Err((cause, clip(&e.to_string(), KEPT_ANSWER)))
                }
            }
        }
    };
    let now = Utc::now();
    let delivered = matches!(answer, Ok((code, _)) if (200..300).contains(&code));
    let after = match () {
        () if delivered => AfterTry::Delivered,
        () if target.is_none() || attempt >= i64::from(config.max_attempts) => AfterTry::GiveUp,
        () => AfterTry::RetryAt(now + doubling(config.retry_base_ms, config.retry_max_ms, attempt - 1)),
    };
    let (status_code, response_body, error_message, cause) = match answer {
        Ok((code, body)) => {
            let cause = match code {
                200..=299 => "none",
                400..=499 => "status_4xx",
                500..=599 => "status_5xx",
                _ => "other",
            };
            (Some(code), body, None, cause)
        }
        Err((cause, error)) => (None, None, Some(error), cause),
    };
    let outcome = match after {
        AfterTry::Delivered => "delivered",
        AfterTry::RetryAt(_) => "retrying",
        AfterTry::GiveUp => "given_up",
    };
    // A number when the endpoint answered, else left out (the error says why).
    tracing::info!(event_id = %event.id, event_type = %event.event_type, attempt, status_code, outcome = %outcome, "webhook sent");
    metrics::counter!("switchyard_webhook_deliveries_total", "outcome" => outcome, "cause" => cause).increment(1);
    if delivered {
        let lag = (now - event.created_at).to_std().unwrap_or_default();
        metrics::histogram!("switchyard_webhook_delivery_lag_seconds").record(lag.as_secs_f64());
    }
    let delivery = Delivery {
        id: format!("{}_{attempt}", event.id),
        event_id: event.id,
        attempt,
        request_headers: headers,
        status_code,
        response_body,
        error_message,
        created_at: now,
    };
    match courier.store.record_delivery(&delivery, event.next_attempt_at, after).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(event_id = %delivery.event_id, "a webhook try outlasted its lease; not recorded"),
        // The lease runs out and the event is tried again: a merchant may see it twice, never lose it.
        Err(e) => tracing::warn!(error = %e, event_id = %delivery.event_id, "cannot record a webhook try"),
    }
}
