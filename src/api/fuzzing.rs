//! What the fuzz targets (`fuzz/`) reach of the API: every request body it takes, decoded the way
//! its handler decodes it before acting on it. Hidden from the documentation; not an interface.

use super::extract::decode;
use super::{customers, payment_method_sessions, payment_methods, types};
use crate::payment_methods::sessions::NewSession;
use crate::payments::sessions::SessionTokensRequest;

/// Decodes `bytes` as each request body the API takes, with the checks its handler makes before
/// it reads or writes anything; answers how many took them. Whatever the bytes, it returns.
pub fn decode_every_body(bytes: &[u8], max_depth: usize) -> usize {
    let taken = [
        decode::<types::PaymentsRequest>(bytes, max_depth).and_then(|r| r.into_parts()).is_ok(),
        decode::<types::CreateIntentRequest>(bytes, max_depth).and_then(|r| r.into_new_intent()).is_ok(),
        decode::<types::ConfirmIntentRequest>(bytes, max_depth).and_then(|r| r.into_choice()).is_ok(),
        decode::<types::PaymentsCaptureRequest>(bytes, max_depth).is_ok(),
        decode::<types::CancelRequest>(bytes, max_depth).is_ok(),
        decode::<types::RefundsCreateRequest>(bytes, max_depth).and_then(|r| r.into_new_refund("acme")).is_ok(),
        decode::<customers::CustomerRequest>(bytes, max_depth).is_ok(),
        decode::<customers::CustomerUpdateRequest>(bytes, max_depth).is_ok(),
        decode::<payment_methods::PaymentMethodIntentCreate>(bytes, max_depth).is_ok(),
        decode::<payment_methods::ConfirmRequest>(bytes, max_depth).is_ok(),
        decode::<payment_methods::CreateRequest>(bytes, max_depth).is_ok(),
        decode::<payment_method_sessions::SessionConfirmRequest>(bytes, max_depth).is_ok(),
        decode::<NewSession>(bytes, max_depth).is_ok(),
        decode::<SessionTokensRequest>(bytes, max_depth).is_ok(),
    ];
    taken.iter().filter(|t| **t).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_is_taken_as_a_payment_and_garbage_as_nothing() {
        let payment = br#"{"amount_details":{"currency":"USD","order_amount":6540},"payment_method_type":"card",
            "payment_method_data":{"card":{"card_number":"4242424242424242","card_exp_month":"10",
            "card_exp_year":"35","card_cvc":"123","card_holder_name":"joseph Doe"}}}"#;
        assert_eq!(decode_every_body(payment, 32), 1);
        assert_eq!(decode_every_body(b"\xff{[", 32), 0);
        assert_eq!(decode_every_body(&[b'['; 10_000], 32), 0);
    }
}
