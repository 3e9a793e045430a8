//! A payment as the merchant asks for it, validated by the API: what a new intent holds, and how
//! the customer pays when it is confirmed.

use crate::domain::payment::{Address, AmountDetails, IntentDetails};
use crate::domain::payment_method::PaymentMethod;
use crate::domain::status::{AuthenticationType, CaptureMethod};

/// A payment as the merchant asked for it, validated.
#[derive(Debug)]
pub struct NewIntent {
    pub amount: AmountDetails,
    pub merchant_reference_id: Option<String>,
    pub capture_method: CaptureMethod,
    pub authentication_type: AuthenticationType,
    pub customer_id: Option<String>,
    pub session_expiry_secs: Option<u32>,
    pub details: IntentDetails,
}

/// How the customer pays, validated; the card itself lives only as long as the request.
#[derive(Debug)]
pub struct Confirmation {
    pub payment_method: PaymentMethod,
    pub payment_method_type: String,
    pub payment_method_subtype: Option<String>,
    pub billing: Option<Address>,
    pub return_url: Option<String>,
}
