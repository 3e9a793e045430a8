//! The status machine of a payment: intent, attempt and refund statuses as Hyperswitch names
//! them, which operations each intent status allows, and how an attempt's outcome settles its
//! intent.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $wire)] $variant),+ }

        impl $name {
            /// Every value's wire name.
            pub const WORDS: &'static [&'static str] = &[$($wire),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::schema::string_enum("", &[$($wire),+])
            }
        }

        impl utoipa::ToSchema for $name {}

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Where a payment intent stands, as the merchant sees it.
    IntentStatus {
        RequiresPaymentMethod = "requires_payment_method",
        Processing = "processing",
        RequiresCustomerAction = "requires_customer_action",
        RequiresCapture = "requires_capture",
        PartiallyCaptured = "partially_captured",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        Expired = "expired",
    }
);

wire_enum!(
    /// Where one attempt with one connector stands.
    AttemptStatus {
        Pending = "pending",
        AuthenticationPending = "authentication_pending",
        AuthenticationFailed = "authentication_failed",
        Authorized = "authorized",
        Charged = "charged",
        PartialCharged = "partial_charged",
        Failure = "failure",
        Voided = "voided",
    }
);

wire_enum!(
    RefundStatus {
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
    }
);

wire_enum!(
    CaptureMethod {
        Automatic = "automatic",
        Manual = "manual",
    }
);

wire_enum!(
    AuthenticationType {
        ThreeDs = "three_ds",
        NoThreeDs = "no_three_ds",
    }
);

/// What a client can ask of an existing payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Confirm,
    CompleteAuthentication,
    Capture,
    Cancel,
    Refund,
    Sync,
    /// Changing what an unconfirmed intent holds.
    Update,
    /// Telling the payer's client how it may pay.
    ListPaymentMethods,
}

impl Operation {
    /// The intent statuses from which this operation may start.
    pub fn allowed_from(self) -> &'static [IntentStatus] {
        use IntentStatus::*;
        match self {
            Operation::Confirm => &[RequiresPaymentMethod],
            Operation::CompleteAuthentication => &[RequiresCustomerAction],
            Operation::Capture => &[RequiresCapture],
            Operation::Cancel => &[RequiresPaymentMethod, RequiresCustomerAction, RequiresCapture],
            Operation::Refund => &[Succeeded, PartiallyCaptured],
            Operation::Sync => &[Processing, RequiresCustomerAction, RequiresCapture, Succeeded, PartiallyCaptured],
            Operation::Update | Operation::ListPaymentMethods => &[RequiresPaymentMethod],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::Confirm => "confirmed",
            Operation::CompleteAuthentication => "authenticated",
            Operation::Capture => "captured",
            Operation::Cancel => "cancelled",
            Operation::Refund => "refunded",
            Operation::Sync => "synced",
            Operation::Update => "updated",
            Operation::ListPaymentMethods => "offered payment methods",
        }
    }
}

impl IntentStatus {
    pub fn allows(self, op: Operation) -> bool {
        op.allowed_from().contains(&self)
    }
}

impl AttemptStatus {
    /// The intent status an attempt's outcome settles the intent in.
    pub fn intent_status(self) -> IntentStatus {
        use AttemptStatus::*;
        match self {
            Pending => IntentStatus::Processing,
            AuthenticationPending => IntentStatus::RequiresCustomerAction,
            Authorized => IntentStatus::RequiresCapture,
            Charged => IntentStatus::Succeeded,
            PartialCharged => IntentStatus::PartiallyCaptured,
            Failure | AuthenticationFailed => IntentStatus::Failed,
            Voided => IntentStatus::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in [IntentStatus::RequiresCapture, IntentStatus::PartiallyCaptured, IntentStatus::Expired] {
            assert_eq!(s.as_str().parse::<IntentStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("nonsense".parse::<AttemptStatus>().is_err());
    }

    #[test]
    fn terminal_statuses_allow_nothing_but_refunds_after_success() {
        use IntentStatus::*;
        let ops = [Operation::Confirm, Operation::Capture, Operation::Cancel, Operation::CompleteAuthentication];
        for status in [Succeeded, Failed, Cancelled, Expired] {
            assert!(ops.iter().all(|op| !status.allows(*op)), "{status}");
        }
        assert!(Succeeded.allows(Operation::Refund));
        assert!(!RequiresCapture.allows(Operation::Refund));
        assert!(RequiresCapture.allows(Operation::Capture) && RequiresCapture.allows(Operation::Cancel));
    }

    #[test]
    fn attempt_outcomes_settle_the_intent() {
        assert_eq!(AttemptStatus::Authorized.intent_status(), IntentStatus::RequiresCapture);
        assert_eq!(AttemptStatus::Charged.intent_status(), IntentStatus::Succeeded);
        assert_eq!(AttemptStatus::AuthenticationPending.intent_status(), IntentStatus::RequiresCustomerAction);
        assert_eq!(AttemptStatus::Failure.intent_status(), IntentStatus::Failed);
    }
}
