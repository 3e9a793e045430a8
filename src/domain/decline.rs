//! Why a provider declined a payment, in a small fixed set modelled on Hyperswitch's unified
//! codes. Providers, the sandbox and plugins report codes of their own; metrics and logs group
//! them by this set, so a label's values stay few whatever a provider sends.

use crate::domain::payment::PaymentError;

/// A decline's cause; `Other` for every code this set does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineCode {
    CardDeclined,
    InsufficientFunds,
    ExpiredCard,
    IncorrectCvc,
    IncorrectNumber,
    DoNotHonor,
    FraudSuspected,
    LostOrStolen,
    LimitExceeded,
    AuthenticationFailed,
    ProcessingError,
    Other,
}

impl DeclineCode {
    /// The cause `error` names: the provider's specific decline reason first (Stripe's
    /// `decline_code`), then the card network's code, then the error's own code.
    pub fn of(error: &PaymentError) -> Self {
        [error.reason.as_deref(), error.network_decline_code.as_deref(), Some(error.code.as_str())]
            .into_iter()
            .flatten()
            .map(Self::from_code)
            .find(|code| *code != Self::Other)
            .unwrap_or(Self::Other)
    }

    /// One provider code: Stripe's codes and decline codes (which the sandbox uses too),
    /// Adyen's refusal reasons, and the ISO 8583 response codes card networks answer.
    fn from_code(code: &str) -> Self {
        let code = code.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        match code.as_str() {
            "card_declined" | "generic_decline" | "refused" | "declined" | "declined_non_generic" => Self::CardDeclined,
            "insufficient_funds" | "not_enough_balance" | "51" => Self::InsufficientFunds,
            "expired_card" | "54" => Self::ExpiredCard,
            "incorrect_cvc" | "invalid_cvc" | "cvc_declined" | "82" | "n7" => Self::IncorrectCvc,
            "incorrect_number" | "invalid_number" | "invalid_card_number" | "14" => Self::IncorrectNumber,
            "do_not_honor" | "05" => Self::DoNotHonor,
            "fraudulent" | "fraud" | "issuer_suspected_fraud" | "suspected_fraud" | "59" => Self::FraudSuspected,
            "lost_card" | "stolen_card" | "pickup_card" | "41" | "43" => Self::LostOrStolen,
            "card_velocity_exceeded" | "withdrawal_amount_exceeded" | "withdrawal_count_exceeded" | "61" | "65" => {
                Self::LimitExceeded
            }
            "authentication_failed" | "authentication_required" | "3d_not_authenticated" => Self::AuthenticationFailed,
            "processing_error" | "acquirer_error" | "issuer_unavailable" | "91" | "96" => Self::ProcessingError,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardDeclined => "card_declined",
            Self::InsufficientFunds => "insufficient_funds",
            Self::ExpiredCard => "expired_card",
            Self::IncorrectCvc => "incorrect_cvc",
            Self::IncorrectNumber => "incorrect_number",
            Self::DoNotHonor => "do_not_honor",
            Self::FraudSuspected => "fraud_suspected",
            Self::LostOrStolen => "lost_or_stolen",
            Self::LimitExceeded => "limit_exceeded",
            Self::AuthenticationFailed => "authentication_failed",
            Self::ProcessingError => "processing_error",
            Self::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_codes_map_to_the_bounded_set() {
        let stripe =
            PaymentError { reason: Some("insufficient_funds".into()), ..PaymentError::new("card_declined", "x") };
        assert_eq!(DeclineCode::of(&stripe), DeclineCode::InsufficientFunds, "the specific reason wins");
        assert_eq!(DeclineCode::of(&PaymentError::new("expired_card", "x")), DeclineCode::ExpiredCard);
        assert_eq!(DeclineCode::of(&PaymentError::new("Not enough balance", "x")), DeclineCode::InsufficientFunds);
        let network = PaymentError { network_decline_code: Some("05".into()), ..PaymentError::new("refused", "x") };
        assert_eq!(DeclineCode::of(&network), DeclineCode::DoNotHonor);
        assert_eq!(DeclineCode::of(&PaymentError::new("sy_pay_1234 something", "x")).as_str(), "other");
    }
}
