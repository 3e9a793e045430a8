//! Session tokens: what a checkout page asks for, with the merchant's publishable key and the
//! payment's client secret, before the payer picks how to pay.
//!
//! For each wallet asked for, the profile's routing script chooses among the accounts whose
//! connector gives that wallet's token (the script sees `payment_method_type = "wallet"` and the
//! wallet as subtype), and the first that gives one wins. Pay by bank is different: its "token" is
//! the bank-selection page of a payment session the provider opens, so asking for `open_banking`
//! confirms the payment by bank (an attempt stored like any other, settled by webhook, return or
//! sync) and hands back that page.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::{Map, Value};

use crate::connectors::session::{OpenBankingSession, SessionToken, SessionTokenRequest};
use crate::connectors::{metered, Account};
use crate::domain::payment::{NextAction, PaymentIntent};
use crate::domain::payment_method::PaymentMethod;
use crate::domain::status::IntentStatus;
use crate::merchants::Profile;
use crate::money::Amount;
use crate::payments::routing_view::wallet_view;
use crate::payments::{self, Confirmation, Context, Error, Scope};
use crate::secret::Secret;

/// The wallet names that ask for a pay-by-bank session.
const OPEN_BANKING: [&str; 2] = ["open_banking", "open_banking_pis"];

/// Credentials and metadata the caller sends for this call only, over those configured.
#[derive(Debug, Default)]
pub struct ConnectorOverride {
    pub credentials: BTreeMap<String, Secret<String>>,
    pub metadata: Map<String, Value>,
}

impl ConnectorOverride {
    fn apply(&self, account: &Account) -> Account {
        let mut account = account.clone();
        account.credentials.extend(self.credentials.iter().map(|(k, v)| (k.clone(), v.clone())));
        account.metadata.extend(self.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        account
    }
}

#[derive(Debug)]
pub struct SessionTokensRequest {
    pub payment_id: String,
    pub client_secret: Option<String>,
    /// Distinct, in the order asked.
    pub wallets: Vec<String>,
    pub connector_override: Option<ConnectorOverride>,
}

/// The tokens for `req.wallets`, one per wallet, in order; `no_session_token_received` for a
/// wallet no account could give.
pub async fn session_tokens(
    cx: &Context,
    merchant_id: &str,
    req: &SessionTokensRequest,
) -> Result<(PaymentIntent, Vec<SessionToken>), Error> {
    let intent = payments::open(cx, merchant_id, req.client_secret.as_deref(), &req.payment_id).await?;
    if intent.status != IntentStatus::RequiresPaymentMethod {
        return Err(Error::InvalidState(format!(
            "payment {} has no session tokens while its status is `{}` (it must be requires_payment_method)",
            intent.id, intent.status
        )));
    }
    let profile = cx
        .snapshot
        .directory
        .profile(&intent.merchant_id, &intent.profile_id)
        .ok_or_else(|| Error::NotFound(format!("profile `{}`", intent.profile_id)))?;
    let overrides = req.connector_override.as_ref();
    let mut tokens = Vec::with_capacity(req.wallets.len());
    let mut opened_by_bank = false;
    for wallet in &req.wallets {
        let token = match OPEN_BANKING.contains(&wallet.as_str()) {
            true => {
                opened_by_bank = true;
                open_banking(cx, &intent).await?
            }
            false => wallet_token(cx, profile, &intent, wallet, overrides).await?,
        };
        let outcome = if token.is_some() { "given" } else { "none" };
        metrics::counter!("switchyard_session_tokens_total", "wallet" => wallet.clone(), "outcome" => outcome)
            .increment(1);
        tokens.push(token.unwrap_or(SessionToken::NoSessionTokenReceived));
    }
    // Confirming by bank moved the payment on: the answer shows it as it is now.
    let intent = match opened_by_bank {
        true => payments::retrieve_intent(cx, &scope(&intent), &intent.id).await?,
        false => intent,
    };
    Ok((intent, tokens))
}

fn scope(intent: &PaymentIntent) -> Scope {
    Scope::new(&intent.merchant_id, &intent.profile_id)
}

/// The first token the routed accounts give for `wallet`.
async fn wallet_token(
    cx: &Context,
    profile: &std::sync::Arc<Profile>,
    intent: &PaymentIntent,
    wallet: &str,
    overrides: Option<&ConnectorOverride>,
) -> Result<Option<SessionToken>, Error> {
    let gives = |a: &&Account| {
        a.enabled
            && cx.snapshot.registry.get(&a.connector).is_some_and(|c| c.session_wallets().iter().any(|w| w == wallet))
    };
    let able: Vec<&Account> = profile.accounts.iter().filter(gives).collect();
    if able.is_empty() {
        return Ok(None);
    }
    let decision =
        cx.decider.decide_among(&cx.snapshot.scripts, profile, Some(&able), wallet_view(intent, wallet), Utc::now());
    let amount = Amount::new(intent.amount.net_amount()).map_err(Error::InvalidRequest)?;
    let request = SessionTokenRequest { payment_id: &intent.id, wallet, amount, currency: intent.amount.currency };
    for name in &decision.candidates {
        let Some(configured) = profile.account(name) else { continue };
        let Some(connector) = cx.snapshot.registry.get(&configured.connector) else { continue };
        let account = match overrides {
            Some(o) => o.apply(configured),
            None => configured.clone(),
        };
        match metered(&account, "session_token", connector.session_token(&account, &request)).await {
            Ok(token) => return Ok(Some(token)),
            Err(e) => tracing::warn!(payment_id = %intent.id, account = %name, wallet, error = %e, "no session token"),
        }
    }
    Ok(None)
}

/// Confirms the payment by bank and answers the page the payer picks their bank on.
async fn open_banking(cx: &Context, intent: &PaymentIntent) -> Result<Option<SessionToken>, Error> {
    let confirmation = Confirmation {
        payment_method: PaymentMethod::OpenBanking,
        payment_method_type: "open_banking".into(),
        payment_method_subtype: Some("open_banking_pis".into()),
        billing: None,
        return_url: None,
        kept_code: None,
    };
    let view = match payments::confirm(cx, &scope(intent), &intent.id, confirmation).await {
        Ok(view) => view,
        // No account takes payments by bank, or the payment has moved on (a second ask in the
        // same request): there is no page to give, and nothing changed.
        Err(Error::NotSupported(reason) | Error::InvalidState(reason)) => {
            tracing::info!(payment_id = %intent.id, %reason, "no open banking session");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(match view.active_attempt().and_then(|a| a.next_action.as_ref()) {
        Some(NextAction::RedirectToUrl { redirect_to_url }) => {
            Some(SessionToken::OpenBanking(OpenBankingSession { open_banking_session_token: redirect_to_url.clone() }))
        }
        _ => None,
    })
}
