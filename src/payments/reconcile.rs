//! The reconciler: a background task that settles what a crash or an unclear answer left
//! unsettled. Every attempt is stored as pending before its provider is called, so after a
//! `kill -9` the database knows of every call that may have reached a provider; a payment still
//! `processing` (or a refund still `pending`) long after any call could still be under way is
//! synced with its provider, which says whether it charged — or, for connectors that look the
//! attempt up by its own id, that it never heard of it.
//!
//! Each record is taken on under a lease in the database, so several daemons sharing it never
//! ask about the same payment at once; one that stays unsettled is looked at again after a wait
//! that doubles each time, up to `max_backoff_ms`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::{JoinHandle, JoinSet};

use crate::backoff::{doubling, millis};
use crate::config::ReconcilerConfig;
use crate::domain::status::{IntentStatus, RefundStatus};
use crate::payments::{self, refunds, Context, Core, Scope};
use crate::store::{Recheck, Unsettled};

/// Runs the reconciler every `every_ms` until aborted.
pub fn spawn(core: Arc<Core>, settings: ReconcilerConfig) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(settings.every_ms));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            run(&core, &settings).await;
        }
    })
}

/// One round: takes on what is unsettled and syncs it, all of a round at once, on the
/// configuration version serving when it began. Returns how many it settled.
pub async fn run(core: &Arc<Core>, config: &ReconcilerConfig) -> usize {
    let cx = core.now();
    let mut checks = JoinSet::new();
    let mut backlog = 0;
    for kind in [Unsettled::Payments, Unsettled::Refunds] {
        let now = Utc::now();
        let quiet_since = now - millis(config.after_ms);
        measure(&cx, kind, now).await;
        match cx.store.due(kind, quiet_since, now).await {
            Ok(due) => backlog += due,
            Err(e) => tracing::warn!(error = %e, kind = kind.as_str(), "reconciler cannot count what is due"),
        }
        let records = match cx.store.unsettled(kind, quiet_since, now, config.batch).await {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(error = %e, kind = kind.as_str(), "reconciler cannot list unsettled records");
                continue;
            }
        };
        for record in records {
            // Left alone for `after_ms` after its first look, twice that after its second, …
            let until = now + doubling(config.after_ms, config.max_backoff_ms, record.rechecks);
            match cx.store.lease(kind, &record, until).await {
                Ok(true) => drop(checks.spawn(check(cx.clone(), kind, record))),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, id = %record.id, "reconciler cannot take a record on"),
            }
        }
    }
    metrics::gauge!("switchyard_reconciler_backlog").set(backlog as f64);
    checks.join_all().await.into_iter().filter(|settled| *settled).count()
}

/// Sets the gauges of what stands unsettled, by profile: how many, and how long the oldest has
/// stood unchanged. Every profile served gets a value, 0 when it has none.
async fn measure(cx: &Context, kind: Unsettled, now: chrono::DateTime<Utc>) {
    let (count, oldest) = match kind {
        Unsettled::Payments => ("switchyard_payments_processing", "switchyard_payments_processing_oldest_seconds"),
        Unsettled::Refunds => ("switchyard_refunds_pending", "switchyard_refunds_pending_oldest_seconds"),
    };
    let standing = match cx.store.unsettled_by_profile(kind).await {
        Ok(standing) => standing,
        Err(e) => {
            tracing::warn!(error = %e, kind = kind.as_str(), "reconciler cannot count unsettled records");
            return;
        }
    };
    for profile in cx.snapshot.directory.profiles() {
        let found = standing.iter().find(|(id, ..)| *id == profile.id);
        let (n, age) =
            found.map_or((0, 0.0), |(_, n, since)| (*n, (now - *since).to_std().unwrap_or_default().as_secs_f64()));
        metrics::gauge!(count, "profile" => profile.id.clone()).set(n as f64);
        metrics::gauge!(oldest, "profile" => profile.id.clone()).set(age);
    }
}

/// Syncs one record with its provider; true when that settled it.
async fn check(cx: Context, kind: Unsettled, record: Recheck) -> bool {
    // The record's own merchant and profile: the reconciler acts for whoever owns the payment.
    let scope = Scope::new(record.merchant_id, record.profile_id);
    let result = match kind {
        Unsettled::Payments => {
            payments::sync(&cx, &scope, &record.id).await.map(|p| p.intent.status != IntentStatus::Processing)
        }
        Unsettled::Refunds => refunds::sync(&cx, &scope, &record.id).await.map(|r| r.status != RefundStatus::Pending),
    };
    let outcome = match &result {
        Ok(true) => "settled",
        Ok(false) => "unsettled",
        Err(_) => "error",
    };
    match &result {
        Ok(settled) => {
            tracing::info!(kind = kind.as_str(), id = %record.id, settled, rechecks = record.rechecks, "reconciled")
        }
        Err(e) => tracing::warn!(kind = kind.as_str(), id = %record.id, error = %e, "reconciler could not sync"),
    }
    metrics::counter!("switchyard_reconciler_checks_total", "kind" => kind.as_str(), "outcome" => outcome).increment(1);
    result.unwrap_or(false)
}
