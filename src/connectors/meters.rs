//! An account's metrics: its calls (`switchyard_connector_requests_total`,
//! `switchyard_connector_request_duration_seconds`, by flow and outcome) and the payments it took
//! (`switchyard_payments_total`, by payment method, status and decline code). Each kind is
//! registered on the account's first use of it and kept with the account, which lives as long as
//! its configuration version: a call or a payment then counts itself without building, hashing
//! and looking up its labels.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use metrics::{Counter, Histogram, Label};

use super::Account;

/// Things of a few kinds, each made on its first use and found again by what tells it apart.
/// Read without a lock; a new kind replaces the list.
pub struct Kinds<T>(ArcSwap<Vec<Arc<T>>>);

impl<T> Default for Kinds<T> {
    fn default() -> Self {
        Self(ArcSwap::from_pointee(Vec::new()))
    }
}

impl<T> Kinds<T> {
    /// Uses the kind `is` finds, made by `make` if there is none yet. A kind known is used where
    /// it stands, without a count of its own taken and given back.
    pub fn with<R>(&self, is: impl Fn(&T) -> bool, make: impl FnOnce() -> T, then: impl FnOnce(&T) -> R) -> R {
        if let Some(known) = self.0.load().iter().find(|k| is(k)) {
            return then(known);
        }
        let made = Arc::new(make());
        // Two first uses at once may both make it: the same metrics, registered twice, found twice.
        self.0.rcu(|kinds| {
            let mut kinds = Vec::clone(kinds);
            kinds.push(Arc::clone(&made));
            kinds
        });
        then(&made)
    }
}

/// The metrics of one kind of call: its flow and its outcome.
struct Meter {
    flow: &'static str,
    outcome: &'static str,
    requests: Counter,
    duration: Histogram,
}

/// The count of the payments of one kind an account took.
struct Payments {
    payment_method: Box<str>,
    status: &'static str,
    decline_code: &'static str,
    count: Counter,
}

/// The kinds of call and of payment an account has seen so far; a handful each.
#[derive(Default)]
pub struct Meters {
    calls: Kinds<Meter>,
    payments: Kinds<Payments>,
}

impl std::fmt::Debug for Meters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meters")
    }
}

impl Meters {
    /// Counts a call of `flow` to `account` that ended in `outcome` after `took`.
    pub fn record(&self, account: &Account, flow: &'static str, outcome: &'static str, took: Duration) {
        self.calls.with(
            |m| m.flow == flow && m.outcome == outcome,
            || {
                // Flow and outcome are static: only the names from config are copied.
                let labels = vec![
                    Label::new("profile", account.profile.clone()),
                    Label::new("connector", account.connector.clone()),
                    Label::new("account", account.name.clone()),
                    Label::from_static_parts("flow", flow),
                    Label::from_static_parts("outcome", outcome),
                ];
                Meter {
                    flow,
                    outcome,
                    requests: metrics::counter!("switchyard_connector_requests_total", labels.clone()),
                    duration: metrics::histogram!("switchyard_connector_request_duration_seconds", labels),
                }
            },
            |meter| {
                meter.requests.increment(1);
                meter.duration.record(took.as_secs_f64());
            },
        );
    }

    /// Counts a payment through `account`, paid by `payment_method`, that reached `status`, with
    /// its decline code (`none` unless refused).
    pub fn count_payment(
        &self,
        account: &Account,
        payment_method: &str,
        status: &'static str,
        decline_code: &'static str,
    ) {
        self.payments.with(
            |p| p.status == status && p.decline_code == decline_code && *p.payment_method == *payment_method,
            || Payments {
                payment_method: payment_method.into(),
                status,
                decline_code,
                count: metrics::counter!("switchyard_payments_total", "profile" => account.profile.clone(),
                    "account" => account.name.clone(), "connector" => account.connector.clone(),
                    "payment_method" => payment_method.to_string(), "status" => status,
                    "decline_code" => decline_code),
            },
            |payments| payments.count.increment(1),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::Kinds;

    #[test]
    fn a_kind_is_made_on_its_first_use_only_and_found_again() {
        let kinds = Kinds::<(&str, Cell<u32>)>::default();
        let made = Cell::new(0);
        let count = |name: &'static str| {
            kinds.with(
                |k| k.0 == name,
                || {
                    made.set(made.get() + 1);
                    (name, Cell::new(0))
                },
                |k| {
                    k.1.set(k.1.get() + 1);
                    k.1.get()
                },
            )
        };
        assert_eq!([count("a"), count("b"), count("a"), count("a")], [1, 1, 2, 3]);
        assert_eq!(made.get(), 2, "one make for each kind");
    }
}
