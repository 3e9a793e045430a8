//! Keeping card data and secrets out of what providers answer and connectors report.
//!
//! A provider may echo the request it was sent — card number, security code, credentials — in an
//! error, and a connector (a plugin especially) may pass that message on. A `Scrubber` knows the
//! values of one call that must not come back (the account's credentials, an access token, the
//! card) and masks them. Free text (messages, codes, reasons) is masked also of anything that
//! looks like a card number; identifiers are not, because a provider's numeric reference passes
//! the Luhn check one time in ten and must stay whole.

use serde_json::Value;

use crate::card::{card_numbers_in, looks_like_card_number};
use crate::connectors::{Account, ConnectorError, ConnectorResult};
use crate::domain::outcome::{PaymentOutcome, RefundOutcome};
use crate::domain::payment::PaymentError;
use crate::domain::payment_method::{CardDetails, ProviderToken};

/// What stands where a card number was.
pub const CARD_MASK: &str = "[card number]";
/// What stands where a security code or a secret was.
pub const SECRET_MASK: &str = "[redacted]";
/// Shorter credential values are not masked: they would match ordinary words and numbers, and a
/// value that short protects nothing.
const SECRET_MIN: usize = 6;
/// The longest reason a connector's failure is reported with.
pub const REASON_MAX: usize = 500;

/// What a masking looks for beyond the call's card number and secrets.
#[derive(Debug, Clone, Copy)]
struct Mask {
    /// Any number that looks like a card's, not only the call's.
    any_card: bool,
    /// The call's security code where it stands alone.
    cvc: bool,
}

/// The values one connector call must never give back.
#[derive(Debug, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
    card_number: Option<String>,
    cvc: Option<String>,
}

impl Scrubber {
    /// Masks every credential value of `account`.
    pub fn for_account(account: &Account) -> Self {
        Self::default().secrets(account.credentials.values().map(|v| v.expose().as_str()))
    }

    /// Masks `values` too (credentials, access tokens).
    pub fn secrets<'a>(mut self, values: impl IntoIterator<Item = &'a str>) -> Self {
        self.secrets.extend(values.into_iter().filter(|v| v.len() >= SECRET_MIN).map(str::to_string));
        // The longest first, so a secret containing another is masked whole.
        self.secrets.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self
    }

    /// Masks `card`'s number, however it is written, and its security code.
    pub fn card(mut self, card: Option<&CardDetails>) -> Self {
        if let Some(card) = card {
            self.card_number = Some(card.number.expose().to_string());
            self.cvc = card.cvc.as_ref().map(|c| c.expose().to_string());
        }
        self
    }

    /// `text` without this call's card number and secrets: for identifiers and URLs, which must
    /// stay whole. The security code is not looked for: its three or four digits stand alone in
    /// many a provider's id (`ch_123`), which masking would make point elsewhere.
    pub fn exact(&self, text: &str) -> String {
        self.masked(text, Mask { any_card: false, cvc: false })
    }

    /// `text` without this call's values or anything that looks like a card number: for
    /// messages, codes and reasons.
    pub fn text(&self, text: &str) -> String {
        self.masked(text, Mask { any_card: true, cvc: true })
    }

    /// A string of a provider's answer: prose (it has white space) loses the call's values, the
    /// security code included; a word (an id, a code) the card number and secrets, or all of it
    /// when it is the security code.
    fn answer_string(&self, text: &str) -> String {
        if self.cvc.as_deref() == Some(text.trim()) {
            return SECRET_MASK.into();
        }
        self.masked(text, Mask { any_card: false, cvc: text.contains(char::is_whitespace) })
    }

    /// Whether `text` holds one of this call's values: an identifier or URL that does is refused,
    /// since masking it would make it point elsewhere.
    pub fn finds(&self, text: &str) -> bool {
        self.exact(text) != text
    }

    /// `value` with every string in it masked (`answer_string`), keys included, and a number
    /// that is the card number masked. Other numbers are left alone: amounts would match a
    /// security code.
    pub fn json(&self, mut value: Value) -> Value {
        self.json_in_place(&mut value);
        value
    }

    /// `json`, changing only what it masks.
    fn json_in_place(&self, value: &mut Value) {
        match value {
            Value::String(s) if !self.untouched(s) => *s = self.answer_string(s),
            Value::Number(n) if self.card_number.as_ref().is_some_and(|card| *card == n.to_string()) => {
                *value = CARD_MASK.into()
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json_in_place(v)),
            Value::Object(fields) => {
                if fields.keys().any(|k| !self.untouched(k)) {
                    *fields = std::mem::take(fields).into_iter().map(|(k, v)| (self.exact(&k), v)).collect();
                }
                fields.values_mut().for_each(|v| self.json_in_place(v));
            }
            _ => {}
        }
    }

    /// Whether masking leaves `text` as it is, seen without copying it: every card number and
    /// security code is written in ASCII digits, and a secret is found only whole.
    fn untouched(&self, text: &str) -> bool {
        !text.bytes().any(|b| b.is_ascii_digit()) && !self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    fn masked(&self, text: &str, Mask { any_card, cvc }: Mask) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), SECRET_MASK);
            }
        }
        let is_card =
            |digits: &str| self.card_number.as_deref() == Some(digits) || (any_card && looks_like_card_number(digits));
        text = replace_ranges(&text, card_numbers_in(&text, is_card), CARD_MASK);
        if let Some(code) = self.cvc.as_ref().filter(|_| cvc) {
            text = replace_ranges(&text, standalone(&text, code), SECRET_MASK);
        }
        text
    }

    fn error(&self, error: PaymentError) -> PaymentError {
        let text = |s: Option<String>| s.map(|s| self.text(&s));
        PaymentError {
            code: self.text(&error.code),
            message: self.text(&error.message),
            reason: text(error.reason),
            unified_code: text(error.unified_code),
            unified_message: text(error.unified_message),
            network_decline_code: text(error.network_decline_code),
        }
    }
}

/// Where `digits` stands in `text` as a number of its own, not as part of a longer one.
fn standalone(text: &str, digits: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    text.match_indices(digits)
        .map(|(start, _)| start..start + digits.len())
        .filter(|r| (r.start == 0 || !digit_at(r.start - 1)) && !digit_at(r.end))
        .collect()
}

/// `text` with each of `ranges` (in order, not overlapping) replaced by `mask`.
fn replace_ranges(text: &str, ranges: Vec<std::ops::Range<usize>>, mask: &str) -> String {
    if ranges.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for range in ranges {
        out.push_str(&text[from..range.start]);
        out.push_str(mask);
        from = range.end;
    }
    out.push_str(&text[from..]);
    out
}

/// What a connector call gives back, scrubbed of one call's values before anything keeps it.
pub trait Scrub {
    fn scrub(self, scrubber: &Scrubber) -> Self;

    /// Whether it holds any text to scrub: most answers (a charge, a token) hold none, and
    /// need no scrubber made for them.
    fn has_text(&self) -> bool {
        true
    }
}

impl<T: Scrub> Scrub for ConnectorResult<T> {
    fn scrub(self, scrubber: &Scrubber) -> Self {
        self.map(|t| t.scrub(scrubber)).map_err(|e| e.scrub(scrubber))
    }

    fn has_text(&self) -> bool {
        self.as_ref().map_or(true, Scrub::has_text)
    }
}

impl Scrub for ConnectorError {
    fn scrub(self, scrubber: &Scrubber) -> Self {
        let reason = |r: String| crate::text::clip(&scrubber.text(&r), REASON_MAX);
        match self {
            ConnectorError::NotSupported { connector, what } => ConnectorError::NotSupported { connector, what },
            ConnectorError::Unavailable { connector, reason: r } => {
                ConnectorError::Unavailable { connector, reason: reason(r) }
            }
            ConnectorError::Refused { connector, reason: r } => {
                ConnectorError::Refused { connector, reason: reason(r) }
            }
            ConnectorError::Ambiguous { connector, reason: r, unclear } => {
                ConnectorError::Ambiguous { connector, reason: reason(r), unclear }
            }
        }
    }
}

/// Only the error's texts: identifiers and a redirect must stay whole (a plugin's are checked
/// whole instead, and refused when they carry one of the call's values).
impl Scrub for PaymentOutcome {
    fn scrub(self, scrubber: &Scrubber) -> Self {
        Self { error: self.error.map(|e| scrubber.error(e)), ..self }
    }

    fn has_text(&self) -> bool {
        self.error.is_some()
    }
}

impl Scrub for RefundOutcome {
    fn scrub(self, scrubber: &Scrubber) -> Self {
        Self { error: self.error.map(|e| scrubber.error(e)), ..self }
    }

    fn has_text(&self) -> bool {
        self.error.is_some()
    }
}

/// A provider's token for a card is an identifier, kept whole.
impl Scrub for ProviderToken {
    fn scrub(self, _: &Scrubber) -> Self {
        self
    }

    fn has_text(&self) -> bool {
        false
    }
}

/// Session tokens are made by the connector from the account and the payment, for the payer's
/// browser; no provider answer goes into them.
impl Scrub for super::session::SessionToken {
    fn scrub(self, _: &Scrubber) -> Self {
        self
    }

    fn has_text(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{CardNumber, Cvc, Expiry};
    use serde_json::json;

    fn card(number: &str, cvc: &str) -> CardDetails {
        CardDetails {
            number: CardNumber::parse(number).unwrap(),
            cvc: Some(serde_json::from_value::<Cvc>(json!(cvc)).unwrap()),
            expiry: Expiry {
                month: serde_json::from_value(json!("10")).unwrap(),
                year: serde_json::from_value(json!("35")).unwrap(),
            },
            holder_name: None,
            issuing_country: None,
            connector_tokens: Default::default(),
        }
    }

    fn scrubber() -> Scrubber {
        let card = card("4000002760003184", "987");
        Scrubber::default().secrets(["sk_live_topsecret", "tok_abcdef123", "short"]).card(Some(&card))
    }

    #[test]
    fn the_calls_card_and_secrets_are_masked_however_written() {
        let s = scrubber();
        let echoed = r#"bad request {"number":"4000002760003184","cvc":"987"} 4000 0027 6000 3184 4000-0027-6000-3184"#;
        assert_eq!(
            s.text(echoed),
            r#"bad request {"number":"[card number]","cvc":"[redacted]"} [card number] [card number]"#
        );
        assert_eq!(s.exact("key sk_live_topsecret, token tok_abcdef123"), "key [redacted], token [redacted]");
        // Too short to be told from ordinary words.
        assert_eq!(s.exact("a short answer"), "a short answer");
        // The security code only where it stands alone in text: an amount or id with it inside
        // stays, and identifiers keep it whole.
        assert_eq!(s.text("amount 19870, ref pi_9876, cvc=987."), "amount 19870, ref pi_9876, cvc=[redacted].");
        assert_eq!(s.exact("ch_987"), "ch_987");
        assert!(s.finds("pi_4000002760003184") && s.finds("https://x.example/?k=sk_live_topsecret"));
        assert!(!s.finds("pi_3Nq8abc") && !s.finds("ch_987"));
    }

    #[test]
    fn free_text_loses_any_card_number_identifiers_keep_theirs() {
        let s = scrubber();
        let text = "declined 4111 1111 1111 1111 (order 8835296650153317 ref 12345)";
        assert_eq!(s.text(text), "declined [card number] (order 8835296650153317 ref 12345)");
        // A provider's 16-digit reference that happens to pass Luhn is kept in what a plugin reads.
        assert_eq!(s.exact("psp 4111111111111111"), "psp 4111111111111111");
        assert_eq!(s.text("psp 4111111111111111"), "psp [card number]");
    }

    #[test]
    fn json_answers_are_masked_in_strings_keys_and_the_card_number_as_a_number() {
        let s = scrubber();
        let answer = json!({
            "error": { "message": "card 4000002760003184 cvc 987", "param": "sk_live_topsecret" },
            "echo": [4000002760003184u64, 987, "987"],
            "4000002760003184": true,
            "amount": 987,
            "id": "ch_987",
        });
        assert_eq!(
            s.json(answer),
            json!({
                "error": { "message": "card [card number] cvc [redacted]", "param": "[redacted]" },
                "echo": ["[card number]", 987, "[redacted]"],
                "[card number]": true,
                "amount": 987,
                "id": "ch_987",
            })
        );
    }

    #[test]
    fn outcomes_and_errors_are_scrubbed_and_reasons_bounded() {
        let s = scrubber();
        let outcome = PaymentOutcome {
            status: crate::domain::status::AttemptStatus::Failure,
            amount_captured: None,
            connector_payment_id: Some("pi_1".into()),
            connector_reference_id: None,
            next_action: None,
            error: Some(PaymentError::new("card_declined", "the card 4000002760003184 with 987 was declined")),
        };
        let scrubbed = outcome.scrub(&s);
        let error = scrubbed.error.unwrap();
        assert_eq!(error.message, "the card [card number] with [redacted] was declined");
        assert_eq!(error.unified_message.as_deref(), Some(error.message.as_str()));
        assert_eq!(scrubbed.connector_payment_id.as_deref(), Some("pi_1"));

        let failed: ConnectorResult<PaymentOutcome> = Err(ConnectorError::Refused {
            connector: "p".into(),
            reason: format!("sk_live_topsecret {}", "x".repeat(9999)),
        });
        match failed.scrub(&s) {
            Err(ConnectorError::Refused { reason, .. }) => {
                assert!(reason.starts_with("[redacted] xxx") && reason.len() < REASON_MAX + 40, "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
