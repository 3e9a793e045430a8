//! An account's call metrics (`switchyard_connector_requests_total`,
//! `switchyard_connector_request_duration_seconds`), by flow and outcome. Each kind is registered
//! on the account's first call of it and kept with the account, which lives as long as its
//! configuration version: a call then counts itself without building, hashing and looking up its
//! five labels twice.

use std::time::Duration;

use arc_swap::ArcSwap;
use metrics::{Counter, Histogram, Label};

use super::Account;

/// The metrics of one kind of call: its flow and its outcome.
#[derive(Clone)]
struct Meter {
    flow: &'static str,
    outcome: &'static str,
    requests: Counter,
    duration: Histogram,
}

impl Meter {
    fn record(&self, took: Duration) {
        self.requests.increment(1);
        self.duration.record(took.as_secs_f64());
    }
}

/// The kinds of call an account has made so far; a handful at most. Read without a lock, as
/// every call to the account reads them; a new kind replaces the list.
#[derive(Default)]
pub struct Meters(ArcSwap<Vec<Meter>>);

impl std::fmt::Debug for Meters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meters")
    }
}

impl Meters {
    /// Counts a call of `flow` to `account` that ended in `outcome` after `took`.
    pub fn record(&self, account: &Account, flow: &'static str, outcome: &'static str, took: Duration) {
        if let Some(meter) = self.0.load().iter().find(|m| m.flow == flow && m.outcome == outcome) {
            return meter.record(took);
        }
        // Flow and outcome are static: only the names from config are copied.
        let labels = vec![
            Label::new("profile", account.profile.clone()),
            Label::new("connector", account.connector.clone()),
            Label::new("account", account.name.clone()),
            Label::from_static_parts("flow", flow),
            Label::from_static_parts("outcome", outcome),
        ];
        let meter = Meter {
            flow,
            outcome,
            requests: metrics::counter!("switchyard_connector_requests_total", labels.clone()),
            duration: metrics::histogram!("switchyard_connector_request_duration_seconds", labels),
        };
        meter.record(took);
        // Two calls of a new kind at once may both register it: the same metrics, found twice.
        self.0.rcu(|kinds| {
            let mut kinds = Vec::clone(kinds);
            kinds.push(meter.clone());
            kinds
        });
    }
}
