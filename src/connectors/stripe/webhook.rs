//! Stripe's notifications: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<raw body>"` with the endpoint's secret, and an event whose `data.object` is the payment
//! intent or refund as it now stands.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::transformers::{PaymentIntent, Refund};
use crate::connectors::{WebhookError, WebhookEvent, WebhookRequest};

/// How far the signed time may be from now, either way, in seconds.
const TOLERANCE: i64 = 300;

/// Checks the signature against every `v1` in the header, in constant time, and the signed time.
pub fn verify(secret: &str, req: &WebhookRequest<'_>, now: i64) -> Result<(), WebhookError> {
    let bad = |why: &str| WebhookError::BadSignature(why.to_string());
    let header = req.header("stripe-signature").ok_or_else(|| bad("no Stripe-Signature header"))?;
    let mut time = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => time = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let time = time.ok_or_else(|| bad("no time in the signature"))?;
    if (now - time).abs() > TOLERANCE {
        return Err(bad("the signed time is more than five minutes away"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| bad("unusable secret"))?;
    mac.update(format!("{time}.").as_bytes());
    mac.update(req.body);
    let expected = mac.finalize().into_bytes();
    // Every candidate is compared, matched or not, so timing says nothing about which.
    let matched = signatures.iter().fold(false, |found, s| found | bool::from(s.as_slice().ct_eq(expected.as_slice())));
    if matched {
        Ok(())
    } else {
        Err(bad("no v1 signature matches"))
    }
}

#[derive(Deserialize)]
struct Event {
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// What a verified event reports: the payment intent or refund it carries, as it now stands.
pub fn event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let unreadable = |e: serde_json::Error| WebhookError::Unreadable(e.to_string());
    let event: Event = serde_json::from_slice(body).map_err(unreadable)?;
    let object = event.data.object;
    match object.get("object").and_then(|o| o.as_str()) {
        Some("payment_intent") => {
            let intent: PaymentIntent = serde_json::from_value(object).map_err(unreadable)?;
            let attempt_id = intent.metadata.get("attempt_id").and_then(|v| v.as_str()).map(str::to_string);
            Ok(WebhookEvent::Payment { connector_payment_id: intent.id.clone(), attempt_id, outcome: intent.outcome() })
        }
        Some("refund") => {
            let refund: Refund = serde_json::from_value(object).map_err(unreadable)?;
            let refund_id = refund.metadata.get("refund_id").and_then(|v| v.as_str()).map(str::to_string);
            Ok(WebhookEvent::Refund { connector_refund_id: refund.id.clone(), refund_id, outcome: refund.outcome() })
        }
        _ => Ok(WebhookEvent::Ignored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &str, time: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{time}.").as_bytes());
        mac.update(body);
        format!("t={time},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn check(header: &str, body: &[u8], now: i64) -> Result<(), WebhookError> {
        let headers = vec![("Stripe-Signature".to_string(), header.to_string())];
        verify("whsec_test", &WebhookRequest { headers: &headers, body }, now)
    }

    #[test]
    fn only_a_fresh_signature_over_the_exact_body_verifies() {
        let body = br#"{"data":{"object":{"object":"payment_intent","id":"pi_1","status":"succeeded"}}}"#;
        let now = 1_700_000_000;
        assert!(check(&signed("whsec_test", now, body), body, now).is_ok());
        assert!(check(&signed("whsec_test", now, body), b"{}", now).is_err(), "another body");
        assert!(check(&signed("whsec_other", now, body), body, now).is_err(), "another secret");
        assert!(check(&signed("whsec_test", now - 301, body), body, now).is_err(), "too old");
        assert!(check(&format!("t={now},v1=00,{}", &signed("whsec_test", now, body)[13..]), body, now).is_ok());
        assert!(check("v1=abc", body, now).is_err(), "no time");
    }

    #[test]
    fn events_carry_the_intent_or_refund_as_it_stands() {
        let body = br#"{"type":"payment_intent.succeeded","data":{"object":{"object":"payment_intent","id":"pi_1","status":"succeeded","amount":100,"amount_received":100,"metadata":{"payment_id":"sy_pay_1","attempt_id":"sy_att_1"}}}}"#;
        match event(body).unwrap() {
            WebhookEvent::Payment { connector_payment_id, attempt_id, outcome } => {
                assert_eq!(connector_payment_id, "pi_1");
                assert_eq!(attempt_id.as_deref(), Some("sy_att_1"));
                assert_eq!(outcome.status, crate::domain::status::AttemptStatus::Charged);
            }
            other => panic!("{other:?}"),
        }
        let body = br#"{"data":{"object":{"object":"refund","id":"re_1","status":"succeeded","metadata":{"refund_id":"sy_ref_1"}}}}"#;
        match event(body).unwrap() {
            WebhookEvent::Refund { connector_refund_id, refund_id, outcome } => {
                assert_eq!((connector_refund_id.as_str(), refund_id.as_deref()), ("re_1", Some("sy_ref_1")));
                assert_eq!(outcome.status, crate::domain::status::RefundStatus::Succeeded);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(event(br#"{"data":{"object":{"object":"charge"}}}"#).unwrap(), WebhookEvent::Ignored));
    }
}
