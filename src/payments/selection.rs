//! Which accounts a payment tries: routing's decision, narrowed to the accounts whose connector
//! takes the payment's method and currency, whose circuit lets a call through and whose quota has
//! one left; and the account and connector an existing attempt goes back to.

use std::sync::Arc;

use chrono::Utc;

use crate::connectors::{Account, Connector, ConnectorError};
use crate::domain::decision::Decision;
use crate::domain::payment::{PaymentAttempt, PaymentIntent};
use crate::merchants::{Profile, RoutingOutcome};
use crate::payments::input::Confirmation;
use crate::payments::intents::profile;
use crate::payments::routing_view::intent_view;
use crate::payments::{Context, Error};

/// Asks routing which accounts to try, in order, keeping those whose connector takes the
/// payment's method and currency.
pub(super) async fn route<'a>(
    cx: &Context,
    profile: &'a Arc<Profile>,
    intent: &PaymentIntent,
    confirmation: &Confirmation,
) -> Result<(Arc<Decision>, Vec<&'a Account>), Error> {
    let mut decision = cx.decider.decide(&cx.snapshot.scripts, profile, intent_view(intent, confirmation), Utc::now());
    decision.config_version = Some(cx.snapshot.version.shared());
    let takes = |a: &&Account| {
        cx.snapshot
            .registry
            .get(&a.connector)
            .is_some_and(|c| c.takes(&confirmation.payment_method, intent.amount.currency))
    };
    let mut accounts = Vec::new();
    for account in decision.candidates.iter().filter_map(|name| profile.account(name)) {
        match takes(&account) {
            true => accounts.push(account),
            false => passed_over(account, Cause::NotSupported),
        }
    }
    // The first account that takes calls (its circuit is not open) and has quota left takes the
    // payment; those before it are passed over. Later accounts are asked only if the payment
    // reaches them.
    let (mut circuit_open, mut out_of_quota) = (false, None);
    while let Some(first) = accounts.first() {
        match barred(cx, &profile.merchant_id, &profile.id, first).await {
            None => break,
            Some(barred) => {
                passed_over(first, barred.cause());
                match barred {
                    Barred::CircuitOpen => circuit_open = true,
                    Barred::OutOfQuota(refused) => out_of_quota = Some(refused),
                }
            }
        }
        accounts.remove(0);
    }
    // The static order serves a profile without a script as it serves one whose script failed.
    let outcome = match (accounts.is_empty(), decision.script.is_some() && decision.fallback.is_none()) {
        (true, _) => RoutingOutcome::NoAccount,
        (false, true) => RoutingOutcome::Script,
        (false, false) => RoutingOutcome::Fallback,
    };
    profile.count_outcome(outcome);
    if let (true, Some(refused)) = (accounts.is_empty(), out_of_quota) {
        return Err(Error::RateLimited(refused));
    }
    if accounts.is_empty() && circuit_open {
        return Err(Error::ConnectorUnavailable(
            "every connector account that could take this payment is failing (circuit open); nothing was stored".into(),
        ));
    }
    if accounts.is_empty() {
        return Err(Error::NotSupported("no enabled connector account can take this payment".into()));
    }
    Ok((Arc::new(decision), accounts))
}

/// Why an account takes no call now.
pub(super) enum Barred {
    CircuitOpen,
    OutOfQuota(crate::limits::Refused),
}

impl Barred {
    pub(super) fn cause(&self) -> Cause {
        match self {
            Barred::CircuitOpen => Cause::CircuitOpen,
            Barred::OutOfQuota(_) => Cause::QuotaExhausted,
        }
    }
}

/// Why a payment passed an account over for the next (`switchyard_failovers_total`'s `cause`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Cause {
    CircuitOpen,
    QuotaExhausted,
    /// The call failed and nothing was charged (or the payment's time was spent before it).
    Unavailable,
    NotSupported,
}

impl Cause {
    /// Why a connector call that did not take the payment failed.
    pub(super) fn of(e: &ConnectorError) -> Self {
        match e {
            ConnectorError::NotSupported { .. } => Cause::NotSupported,
            _ => Cause::Unavailable,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Cause::CircuitOpen => "circuit_open",
            Cause::QuotaExhausted => "quota_exhausted",
            Cause::Unavailable => "unavailable",
            Cause::NotSupported => "not_supported",
        }
    }
}

/// Counts an account a payment fell through or skipped.
pub(super) fn passed_over(account: &Account, cause: Cause) {
    metrics::counter!("switchyard_failovers_total", "profile" => account.profile.clone(),
        "account" => account.name.clone(), "cause" => cause.as_str())
    .increment(1);
}

impl std::fmt::Display for Barred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Barred::CircuitOpen => f.write_str("its circuit is open"),
            Barred::OutOfQuota(refused) => write!(f, "its rate limit is reached (retry in {:?})", refused.retry_after),
        }
    }
}

/// Whether `account` takes a payment now: its circuit lets a call through and its quota has one
/// left (which the call then takes).
pub(super) async fn barred(cx: &Context, merchant_id: &str, profile_id: &str, account: &Account) -> Option<Barred> {
    if !account.allow().await {
        return Some(Barred::CircuitOpen);
    }
    cx.snapshot.limits.check_account(merchant_id, profile_id, &account.name).await.err().map(Barred::OutOfQuota)
}

/// The account and connector an existing attempt went through, for the calls that follow it.
pub(crate) fn attempt_connector<'a>(
    cx: &'a Context,
    intent: &PaymentIntent,
    attempt: &PaymentAttempt,
) -> Result<(&'a Account, &'a dyn Connector), Error> {
    let profile = profile(cx, &intent.merchant_id, &intent.profile_id)?;
    let account = profile.account(&attempt.connector_account).ok_or_else(|| {
        Error::ConnectorUnavailable(format!(
            "connector account `{}` of this payment is no longer configured",
            attempt.connector_account
        ))
    })?;
    Ok((account, connector_for(cx, account)?))
}

/// An account whose connector is not registered (its plugin did not load) is out of service:
/// its payments wait, unchanged, until it is back.
pub(super) fn connector_for<'a>(cx: &'a Context, account: &Account) -> Result<&'a dyn Connector, Error> {
    cx.snapshot.registry.get(&account.connector).map(|c| c.as_ref()).ok_or_else(|| {
        Error::ConnectorUnavailable(format!(
            "connector `{}` of account `{}` is out of service",
            account.connector, account.name
        ))
    })
}
