//! A payment as the merchant asks for it, validated by the API: what a new intent holds, and how
//! the customer pays when it is confirmed.

use crate::domain::payment::{Address, AmountDetails, CalculationOverride, IntentDetails};
use crate::domain::payment_method::PaymentMethod;
use crate::domain::status::{AuthenticationType, CaptureMethod};
use crate::money::{Amount, Currency, MinorUnit};
use crate::payments::Context;
use crate::vault::CvcUse;

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
    /// The kept security code of a saved method the card carries: a code serves one payment.
    pub kept_code: Option<CvcUse>,
}

impl Confirmation {
    /// Forgets the kept code the card carried, once the payment has been sent to a provider with
    /// it (the attempts have run: the first routed account is called before anything else can
    /// fail), whatever the provider answered. A payment refused before any provider was called
    /// leaves it, to be paid with. Should Redis not answer, the code lapses at its expiry.
    pub(crate) async fn code_sent(&self, cx: &Context) {
        let Some(used) = &self.kept_code else { return };
        if let Err(e) = cx.vault.forget_used(used).await {
            tracing::warn!(payment_method_id = %used.payment_method_id(), error = %e,
                "a used security code could not be forgotten; it lapses at its expiry");
        }
    }
}

/// What an update changes in an intent not yet confirmed: each field given replaces the intent's.
#[derive(Debug, Default)]
pub struct IntentChange {
    pub amount: AmountChange,
    pub capture_method: Option<CaptureMethod>,
    pub authentication_type: Option<AuthenticationType>,
    /// Seconds from the intent's creation it may wait to be confirmed.
    pub session_expiry_secs: Option<u32>,
    /// The details given; those left out stay as they are.
    pub details: IntentDetails,
}

/// The amounts an update gives; those left out stay as they are.
#[derive(Debug, Default)]
pub struct AmountChange {
    pub order_amount: Option<Amount>,
    pub currency: Option<Currency>,
    pub shipping_cost: Option<MinorUnit>,
    pub order_tax_amount: Option<MinorUnit>,
    pub surcharge_amount: Option<MinorUnit>,
    pub tax_on_surcharge: Option<MinorUnit>,
    pub external_tax_calculation: Option<CalculationOverride>,
    pub surcharge_calculation: Option<CalculationOverride>,
}

impl AmountChange {
    pub fn apply(self, to: &mut AmountDetails) {
        fn set<T>(field: &mut T, given: Option<T>) {
            if let Some(value) = given {
                *field = value;
            }
        }
        set(&mut to.order_amount, self.order_amount);
        set(&mut to.currency, self.currency);
        set(&mut to.external_tax_calculation, self.external_tax_calculation);
        set(&mut to.surcharge_calculation, self.surcharge_calculation);
        for (field, given) in [
            (&mut to.shipping_cost, self.shipping_cost),
            (&mut to.order_tax_amount, self.order_tax_amount),
            (&mut to.surcharge_amount, self.surcharge_amount),
            (&mut to.tax_on_surcharge, self.tax_on_surcharge),
        ] {
            if given.is_some() {
                *field = given;
            }
        }
    }
}
