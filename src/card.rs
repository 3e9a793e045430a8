//! Card data: validated when it is decoded, masked everywhere after.
//!
//! A `CardNumber` has passed the Luhn check and knows its network; it prints only its last four
//! digits, and its decoding errors never echo what was sent, so a mistyped PAN cannot leak into an
//! error message or a log line. The security code lives in a `Secret`. What may be kept and shown
//! is a `CardSummary`: last four, BIN, network, expiry, holder.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{de, Deserialize, Deserializer, Serialize};

use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CardNetwork {
    Visa,
    Mastercard,
    AmericanExpress,
    #[serde(rename = "JCB")]
    Jcb,
    DinersClub,
    Discover,
    UnionPay,
    Maestro,
}

impl CardNetwork {
    /// Every network a card number is recognised as.
    pub const ALL: [Self; 8] = [
        Self::Visa,
        Self::Mastercard,
        Self::AmericanExpress,
        Self::Jcb,
        Self::DinersClub,
        Self::Discover,
        Self::UnionPay,
        Self::Maestro,
    ];

    /// The network a card number belongs to, read from its leading digits (the IIN ranges the
    /// networks publish). Ranges that overlap are tested most specific first.
    fn detect(digits: &str) -> Option<Self> {
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        let in_range = |n: usize, lo: u32, hi: u32| prefix(n).is_some_and(|p| (lo..=hi).contains(&p));
        use CardNetwork::*;
        if in_range(2, 34, 34) || in_range(2, 37, 37) {
            Some(AmericanExpress)
        } else if in_range(4, 3528, 3589) {
            Some(Jcb)
        } else if in_range(3, 300, 305) || in_range(4, 3095, 3095) || in_range(2, 36, 36) || in_range(2, 38, 39) {
            Some(DinersClub)
        } else if digits.starts_with('4') {
            Some(Visa)
        } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
            Some(Mastercard)
        } else if in_range(4, 6011, 6011) || in_range(3, 644, 649) || in_range(2, 65, 65) || in_range(6, 622126, 622925)
        {
            Some(Discover)
        } else if in_range(2, 62, 62) || in_range(2, 81, 81) {
            Some(UnionPay)
        } else if in_range(2, 50, 50) || in_range(2, 56, 58) || in_range(1, 6, 6) {
            Some(Maestro)
        } else {
            None
        }
    }
}

/// Decodes a string of digits without ever repeating the input in an error message.
struct Digits {
    what: &'static str,
    lengths: (usize, usize),
    allow_spaces: bool,
}

impl<'de> de::Visitor<'de> for Digits {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} as a string of {}-{} digits", self.what, self.lengths.0, self.lengths.1)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        let mut digits = String::with_capacity(v.len());
        digits.extend(v.chars().filter(|c| !(self.allow_spaces && *c == ' ')));
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(format!("{} must contain only digits", self.what)));
        }
        let (lo, hi) = self.lengths;
        if !(lo..=hi).contains(&digits.len()) {
            return Err(E::custom(format!("{} must have {lo} to {hi} digits, got {}", self.what, digits.len())));
        }
        Ok(digits)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(E::custom(format!("{} must be sent as a string, not a number", self.what)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_u64(v.unsigned_abs())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        self.visit_u64(0)
    }
}

/// A primary account number that passed the Luhn check.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

const CARD_NUMBER: Digits = Digits { what: "card number", lengths: (12, 19), allow_spaces: true };

impl CardNumber {
    pub fn parse(digits: &str) -> Result<Self, String> {
        let digits = de::Visitor::visit_str::<de::value::Error>(CARD_NUMBER, digits).map_err(|e| e.to_string())?;
        Self::checked(digits)
    }

    /// Digits that are a card number's length, when they pass the Luhn check.
    fn checked(digits: String) -> Result<Self, String> {
        if !luhn_ok(&digits) {
            return Err("card number fails the Luhn check".into());
        }
        Ok(Self(digits))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    pub fn bin(&self) -> &str {
        &self.0[..6]
    }

    pub fn network(&self) -> Option<CardNetwork> {
        CardNetwork::detect(&self.0)
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(****{})", self.last4())
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "****{}", self.last4())
    }
}

impl<'de> Deserialize<'de> for CardNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        CardNumber::checked(d.deserialize_any(CARD_NUMBER)?).map_err(de::Error::custom)
    }
}

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match i % 2 {
                0 => d,
                _ if d * 2 > 9 => d * 2 - 9,
                _ => d * 2,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether `digits` could be a card number: a length cards have, a network's leading digits and a
/// passing Luhn check. One random digit string in ten passes Luhn, so this marks free text only,
/// never an identifier a provider chose.
pub fn looks_like_card_number(digits: &str) -> bool {
    (13..=19).contains(&digits.len()) && CardNetwork::detect(digits).is_some() && luhn_ok(digits)
}

/// Where `text` writes a card number as `is_card` recognises one (given the bare digits): a run of
/// 12 to 19 digits standing alone, whole or in groups split by single spaces or dashes
/// (`4111 1111 1111 1111`, `4111-1111-1111-1111`). Of overlapping candidates the longest wins.
pub fn card_numbers_in(text: &str, is_card: impl Fn(&str) -> bool) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    // Maximal runs of digits, and whether each continues the one before it after one separator.
    let mut groups: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let joined = groups.last().is_some_and(|&(_, end, _)| start == end + 1 && matches!(bytes[end], b' ' | b'-'));
        groups.push((start, i, joined));
    }
    let mut found = Vec::new();
    let mut first = 0;
    while first < groups.len() {
        let mut digits = String::new();
        let mut longest = None;
        for (last, &(start, end, joined)) in groups.iter().enumerate().skip(first) {
            if (last > first && !joined) || digits.len() + (end - start) > 19 {
                break;
            }
            digits.push_str(&text[start..end]);
            if digits.len() >= 12 && is_card(&digits) {
                longest = Some(last);
            }
        }
        match longest {
            Some(last) => {
                found.push(groups[first].0..groups[last].1);
                first = last + 1;
            }
            None => first += 1,
        }
    }
    found
}

/// The card security code: three or four digits, never shown.
#[derive(Debug, Clone)]
pub struct Cvc(Secret<String>);

impl Cvc {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl<'de> Deserialize<'de> for Cvc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let digits = d.deserialize_any(Digits { what: "card security code", lengths: (3, 4), allow_spaces: false })?;
        Ok(Cvc(Secret::new(digits)))
    }
}

/// The month of a card's expiry, 1 to 12 (sent as "1", "01" … "12").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryMonth(u8);

impl<'de> Deserialize<'de> for ExpiryMonth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = d.deserialize_any(Digits { what: "expiry month", lengths: (1, 2), allow_spaces: false })?;
        match s.parse::<u8>() {
            Ok(m @ 1..=12) => Ok(ExpiryMonth(m)),
            _ => Err(de::Error::custom("expiry month must be between 01 and 12")),
        }
    }
}

/// The year of a card's expiry; two-digit years are in this century, as printed on cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryYear(u16);

impl<'de> Deserialize<'de> for ExpiryYear {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = d.deserialize_any(Digits { what: "expiry year", lengths: (2, 4), allow_spaces: false })?;
        match (s.len(), s.parse::<u16>()) {
            (2, Ok(y)) => Ok(ExpiryYear(2000 + y)),
            (4, Ok(y)) if y >= 2000 => Ok(ExpiryYear(y)),
            _ => Err(de::Error::custom("expiry year must be YY or YYYY")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub month: ExpiryMonth,
    pub year: ExpiryYear,
}

impl Expiry {
    /// A card is valid through the last day of its expiry month.
    pub fn is_expired(&self, today: NaiveDate) -> bool {
        (self.year.0 as i32, self.month.0 as u32) < (today.year(), today.month())
    }

    pub fn month_str(&self) -> String {
        format!("{:02}", self.month.0)
    }

    pub fn year_str(&self) -> String {
        format!("{:04}", self.year.0)
    }
}

/// What may be stored and shown of a card: never the number, never the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSummary {
    pub last4: String,
    pub card_isin: String,
    pub card_network: Option<CardNetwork>,
    pub card_exp_month: String,
    pub card_exp_year: String,
    pub card_holder_name: Option<String>,
}

impl CardSummary {
    pub fn of(number: &CardNumber, expiry: Expiry, holder: Option<String>) -> Self {
        Self {
            last4: number.last4().to_string(),
            card_isin: number.bin().to_string(),
            card_network: number.network(),
            card_exp_month: expiry.month_str(),
            card_exp_year: expiry.year_str(),
            card_holder_name: holder,
        }
    }
}

// The schemas say what the decoders above accept, short of the Luhn check and the month range
// a pattern states only loosely.
macro_rules! string_schema {
    ($t:ty, $what:literal, $min:literal, $max:expr, $pattern:literal) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::schema::string($what, $min, $max, Some($pattern))
            }
        }

        impl utoipa::ToSchema for $t {}
    };
}

string_schema!(
    CardNumber,
    "The card number: 12 to 19 digits, spaces allowed between them, passing the Luhn check.",
    12,
    None,
    "^ *([0-9] *){12,19}$"
);
string_schema!(Cvc, "The card security code: 3 or 4 digits.", 3, Some(4), "^[0-9]{3,4}$");
string_schema!(
    ExpiryMonth,
    "The expiry month: 1 to 12, with or without a leading zero.",
    1,
    Some(2),
    "^(0?[1-9]|1[0-2])$"
);
string_schema!(ExpiryYear, "The expiry year: YY, or YYYY from 2000.", 2, Some(4), "^([0-9]{2}|[2-9][0-9]{3})$");

#[cfg(test)]
mod tests {
    use super::*;

    fn number(s: &str) -> Result<CardNumber, String> {
        serde_json::from_value::<CardNumber>(serde_json::json!(s)).map_err(|e| e.to_string())
    }

    #[test]
    fn luhn_accepts_test_cards_and_refuses_a_typo() {
        assert!(number("4242424242424242").is_ok());
        assert!(number("4242 4242 4242 4242").is_ok());
        let err = number("4242424242424241").unwrap_err();
        assert!(err.contains("Luhn"), "{err}");
    }

    #[test]
    fn networks_are_detected_from_the_bin() {
        let cases = [
            ("4242424242424242", CardNetwork::Visa),
            ("5555555555554444", CardNetwork::Mastercard),
            ("2223003122003222", CardNetwork::Mastercard),
            ("378282246310005", CardNetwork::AmericanExpress),
            ("6011111111111117", CardNetwork::Discover),
            ("3566002020360505", CardNetwork::Jcb),
            ("36227206271667", CardNetwork::DinersClub),
            ("6200000000000005", CardNetwork::UnionPay),
        ];
        for (pan, network) in cases {
            assert_eq!(number(pan).unwrap().network(), Some(network), "{pan}");
        }
    }

    #[test]
    fn errors_and_debug_never_echo_the_number() {
        let err = serde_json::from_str::<CardNumber>("4242424242424241").unwrap_err().to_string();
        assert!(!err.contains("4242424242424241"), "{err}");
        let err = number("4242424242424241").unwrap_err();
        assert!(!err.contains("424242424242"), "{err}");
        let n = number("4242424242424242").unwrap();
        assert_eq!(format!("{n:?} {n}"), "CardNumber(****4242) ****4242");
        let cvc: Cvc = serde_json::from_str("\"123\"").unwrap();
        assert!(!format!("{cvc:?}").contains("123"));
        let err = serde_json::from_str::<Cvc>("1234567").unwrap_err().to_string();
        assert!(!err.contains("1234567"), "{err}");
    }

    fn found(text: &str, is_card: impl Fn(&str) -> bool) -> Vec<&str> {
        card_numbers_in(text, is_card).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn card_numbers_are_found_in_text_whole_or_grouped() {
        let text = "card 4111111111111111, or 4111 1111 1111 1111, or 4111-1111-1111-1111; order 1234";
        assert_eq!(
            found(text, looks_like_card_number),
            ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111"]
        );
        // Amex's 4-6-5 grouping; a number inside a longer run of digits is no card number.
        assert_eq!(found("3782 822463 10005 and 004111111111111111", looks_like_card_number), ["3782 822463 10005"]);
        // Failing Luhn, or no network's digits: not a card.
        assert!(found("4111111111111112 and 1000000000000008", looks_like_card_number).is_empty());
        // One exact number, however it is written.
        let is_it = |d: &str| d == "4000002760003184";
        assert_eq!(found("x 4000 0027 6000 3184 y 4111111111111111", is_it), ["4000 0027 6000 3184"]);
    }

    #[test]
    fn expiry_parses_and_knows_when_it_has_passed() {
        let month: ExpiryMonth = serde_json::from_str("\"10\"").unwrap();
        let year: ExpiryYear = serde_json::from_str("\"25\"").unwrap();
        let e = Expiry { month, year };
        assert_eq!((e.month_str(), e.year_str()), ("10".into(), "2025".into()));
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(!e.is_expired(day(2025, 10, 31)));
        assert!(e.is_expired(day(2025, 11, 1)));
        assert!(serde_json::from_str::<ExpiryMonth>("\"13\"").is_err());
        assert!(serde_json::from_str::<ExpiryMonth>("\"0\"").is_err());
        assert!(serde_json::from_str::<ExpiryYear>("\"202\"").is_err());
    }
}
