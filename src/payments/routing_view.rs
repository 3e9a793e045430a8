//! What routing is shown of a payment: a few fields of the intent and of how it is paid, never
//! the card number.

use crate::domain::decision::{CardView, RoutingView};
use crate::domain::payment::{Address, AmountDetails, IntentDetails, PaymentIntent};
use crate::domain::payment_method::PaymentMethod;
use crate::payments::input::Confirmation;

/// What routing is shown of a payment about to be confirmed.
pub fn routing_view(
    id: &str,
    profile_id: &str,
    amount: &AmountDetails,
    customer_id: Option<&str>,
    details: &IntentDetails,
    c: &Confirmation,
) -> RoutingView {
    let base = base_view(id, profile_id, amount, customer_id, details);
    RoutingView {
        payment_method_type: c.payment_method_type.clone(),
        payment_method_subtype: c.payment_method_subtype.clone(),
        card: match &c.payment_method {
            PaymentMethod::Card(card) => Some(CardView {
                network: card.number.network().map(|n| format!("{n:?}")),
                bin: Some(card.number.bin().to_string()),
                issuing_country: card.issuing_country.clone(),
            }),
            PaymentMethod::OpenBanking => None,
        },
        billing_country: country_of(c.billing.as_ref()).or(base.billing_country.clone()),
        ..base
    }
}

/// What routing is shown when choosing who gives `wallet`'s session token for a payment.
pub fn wallet_view(intent: &PaymentIntent, wallet: &str) -> RoutingView {
    let base =
        base_view(&intent.id, &intent.profile_id, &intent.amount, intent.customer_id.as_deref(), &intent.details);
    RoutingView { payment_method_type: "wallet".into(), payment_method_subtype: Some(wallet.to_string()), ..base }
}

/// A payment as routing sees it before its method is known.
pub(super) fn base_view(
    id: &str,
    profile_id: &str,
    amount: &AmountDetails,
    customer_id: Option<&str>,
    details: &IntentDetails,
) -> RoutingView {
    RoutingView {
        id: id.to_string(),
        amount: amount.net_amount(),
        currency: amount.currency.code().to_string(),
        payment_method_type: String::new(),
        payment_method_subtype: None,
        card: None,
        billing_country: country_of(details.billing.as_ref()),
        customer_id: customer_id.map(str::to_string),
        profile_id: profile_id.to_string(),
        metadata: details.metadata.clone(),
        attempt: 1,
    }
}

pub(super) fn country_of(address: Option<&Address>) -> Option<String> {
    address.and_then(|b| b.address.as_ref()).and_then(|a| a.country.as_ref()).map(|c| c.as_str().to_string())
}

pub(super) fn intent_view(intent: &PaymentIntent, c: &Confirmation) -> RoutingView {
    routing_view(&intent.id, &intent.profile_id, &intent.amount, intent.customer_id.as_deref(), &intent.details, c)
}
