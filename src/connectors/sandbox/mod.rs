//! The sandbox connector: a provider simulated inside the daemon, so a fresh install takes
//! payments with no credentials. Its answers follow the card number, like a provider's test
//! mode: 4242424242424242 succeeds, 4000000000000002 and a few others decline with the codes
//! providers use, and 4000002760003184 (or any card with `authentication_type: three_ds`) sends
//! the customer to an authentication page this daemon serves (`api::sandbox`). Other valid cards succeed.
//! An account with `metadata = { simulate = "unavailable" }` answers nothing but outages, as a
//! provider that refuses connections would: a way to watch routing fail over.
//!
//! It gives Google Pay and Apple Pay session tokens from its metadata like any connector, naming
//! Google's test gateway (`example`), so a checkout page can be built against the demo set-up.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::session::{self, SessionToken, SessionTokenRequest};
use crate::connectors::{
    Account, AuthorizeRequest, CaptureRequest, CompleteAuthorizeRequest, Connector, ConnectorError, ConnectorResult,
    RefundRequest, VoidRequest,
};
use crate::domain::outcome::{PaymentOutcome, RefundOutcome};
use crate::domain::payment::{NextAction, PaymentError};
use crate::domain::payment_method::PaymentMethod;
use crate::domain::status::{AttemptStatus, AuthenticationType, CaptureMethod, RefundStatus};

/// Card numbers the sandbox declines, with the code and message it declines them with.
const DECLINES: [(&str, &str, &str); 4] = [
    ("4000000000000002", "card_declined", "Your card was declined."),
    ("4000000000009995", "insufficient_funds", "Your card has insufficient funds."),
    ("4000000000000069", "expired_card", "Your card has expired."),
    ("4000000000000127", "incorrect_cvc", "Your card's security code is incorrect."),
];

/// The card that always asks for authentication.
pub const THREE_DS_CARD: &str = "4000002760003184";

pub struct Sandbox {
    public_url: String,
}

impl Sandbox {
    pub fn new(public_url: &str) -> Self {
        Self { public_url: public_url.trim_end_matches('/').to_string() }
    }
}

/// The attempt's status once the customer's funds are secured, as the capture method asks.
fn authorized(capture_method: CaptureMethod) -> AttemptStatus {
    match capture_method {
        CaptureMethod::Automatic => AttemptStatus::Charged,
        CaptureMethod::Manual => AttemptStatus::Authorized,
    }
}

fn outcome(status: AttemptStatus, connector_payment_id: Option<&str>) -> PaymentOutcome {
    PaymentOutcome {
        status,
        amount_captured: None,
        connector_payment_id: connector_payment_id.map(str::to_string),
        connector_reference_id: None,
        next_action: None,
        error: None,
    }
}

#[async_trait]
impl Connector for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn required_credentials(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Its answers follow the card and the attempt, as a provider's idempotency would.
    fn repeats_safely(&self) -> bool {
        true
    }

    fn session_wallets(&self) -> Vec<String> {
        vec!["google_pay".into(), "apple_pay".into()]
    }

    async fn session_token(&self, account: &Account, req: &SessionTokenRequest<'_>) -> ConnectorResult<SessionToken> {
        match req.wallet {
            // The gateway Google's documentation names for tests: its tokens charge nothing.
            "google_pay" => session::google_pay(
                account,
                req,
                BTreeMap::from([
                    ("gateway".to_string(), "example".to_string()),
                    ("gateway_merchant_id".to_string(), "exampleGatewayMerchantId".to_string()),
                ]),
            ),
            "apple_pay" => session::apple_pay(account, req),
            other => Err(self.not_supported(&format!("{other} session tokens"))),
        }
    }

    async fn authorize(&self, account: &Account, req: &AuthorizeRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        if account.metadata.get("simulate").and_then(|v| v.as_str()) == Some("unavailable") {
            return Err(ConnectorError::Unavailable {
                connector: self.name().into(),
                reason: "simulated outage (metadata.simulate)".into(),
            });
        }
        let PaymentMethod::Card(card) = req.payment_method else {
            return Err(self.not_supported("payments other than cards"));
        };
        let id = format!("sandbox_{}", req.attempt_id);
        let number = card.number.expose();
        if let Some((_, code, message)) = DECLINES.iter().find(|(pan, _, _)| *pan == number) {
            return Ok(PaymentOutcome {
                error: Some(PaymentError::new(code, *message)),
                ..outcome(AttemptStatus::Failure, Some(&id))
            });
        }
        if number == THREE_DS_CARD || req.authentication_type == AuthenticationType::ThreeDs {
            let redirect_to_url = format!("{}/sandbox/authenticate/{}", self.public_url, req.payment_id);
            return Ok(PaymentOutcome {
                next_action: Some(NextAction::RedirectToUrl { redirect_to_url }),
                ..outcome(AttemptStatus::AuthenticationPending, Some(&id))
            });
        }
        Ok(outcome(authorized(req.capture_method), Some(&id)))
    }

    async fn complete_authorize(
        &self,
        _account: &Account,
        req: &CompleteAuthorizeRequest<'_>,
    ) -> ConnectorResult<PaymentOutcome> {
        Ok(match req.params.get("outcome").map(String::as_str) {
            Some("success") => outcome(authorized(req.capture_method), req.connector_payment_id),
            _ => PaymentOutcome {
                error: Some(PaymentError::new(
                    "authentication_failed",
                    "The customer did not complete authentication.",
                )),
                ..outcome(AttemptStatus::AuthenticationFailed, req.connector_payment_id)
            },
        })
    }

    async fn capture(&self, _account: &Account, req: &CaptureRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        let status = if req.amount_to_capture < req.amount_authorized {
            AttemptStatus::PartialCharged
        } else {
            AttemptStatus::Charged
        };
        Ok(outcome(status, req.connector_payment_id))
    }

    async fn void(&self, _account: &Account, req: &VoidRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        Ok(outcome(AttemptStatus::Voided, req.connector_payment_id))
    }

    async fn refund(&self, _account: &Account, req: &RefundRequest<'_>) -> ConnectorResult<RefundOutcome> {
        Ok(RefundOutcome {
            status: RefundStatus::Succeeded,
            connector_refund_id: Some(format!("sandbox_{}", req.refund_id)),
            error: None,
        })
    }
}
