//! Amounts in minor units and ISO 4217 currencies, as the wire format carries them.
//!
//! An `Amount` is always positive and bounded, so sums of captures and refunds never overflow
//! and a zero or negative charge cannot be represented.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// The largest amount accepted, in minor units: far beyond any real payment, far below `i64::MAX`.
pub const MAX_AMOUNT: i64 = 999_999_999_999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    pub fn new(minor: i64) -> Result<Self, String> {
        if minor <= 0 {
            Err(format!("must be a positive amount in minor units, got {minor}"))
        } else if minor > MAX_AMOUNT {
            Err(format!("must be at most {MAX_AMOUNT}, got {minor}"))
        } else {
            Ok(Self(minor))
        }
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let minor = i64::deserialize(d)?;
        Amount::new(minor).map_err(de::Error::custom)
    }
}

/// A non-negative amount in minor units, for the parts of a payment that may be zero
/// (shipping, taxes, surcharges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct MinorUnit(i64);

impl MinorUnit {
    pub fn minor(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for MinorUnit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match i64::deserialize(d)? {
            minor @ 0..=MAX_AMOUNT => Ok(MinorUnit(minor)),
            minor => Err(de::Error::custom(format!("must be between 0 and {MAX_AMOUNT}, got {minor}"))),
        }
    }
}

/// The currencies of Hyperswitch's `Currency` enum, sorted so lookups can bisect.
const CODES: [&str; 160] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLF", "CLP", "CNY", "COP",
    "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "IQD",
    "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG",
    "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD",
    "SSP", "STD", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "UYU", "UZS", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWL",
];

/// An ISO 4217 currency that the wire format knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(&'static str);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, String> {
        CODES
            .binary_search(&code)
            .map(|i| Currency(CODES[i]))
            .map_err(|_| format!("`{code}` is not a supported ISO 4217 currency code"))
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    /// How many digits the minor unit has: 2 for most currencies, 0 for the yen and its kind,
    /// 3 for the dinars.
    pub fn exponent(self) -> u32 {
        match self.0 {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "VND" | "VUV"
            | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }

    /// An amount in minor units written in major units, as some providers want it: 6540 → "65.40".
    pub fn decimal(self, minor: i64) -> String {
        let exponent = self.exponent();
        if exponent == 0 {
            return minor.to_string();
        }
        let unit = 10i64.pow(exponent);
        let sign = if minor < 0 { "-" } else { "" };
        let (major, fraction) = (minor.abs() / unit, minor.abs() % unit);
        format!("{sign}{major}.{fraction:0width$}", width = exponent as usize)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::parse(&code).map_err(de::Error::custom)
    }
}

impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::integer(
            "An amount in the currency's minor units (cents for USD), more than zero.",
            1,
            MAX_AMOUNT,
            6540,
        )
    }
}

impl utoipa::ToSchema for Amount {}

impl utoipa::PartialSchema for MinorUnit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::integer("An amount in the currency's minor units that may be zero.", 0, MAX_AMOUNT, 500)
    }
}

impl utoipa::ToSchema for MinorUnit {}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::string_enum("The three-letter ISO 4217 currency code.", &CODES)
    }
}

impl utoipa::ToSchema for Currency {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_for_bisection() {
        assert!(CODES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn currency_accepts_known_and_refuses_unknown_codes() {
        assert_eq!(Currency::parse("USD").unwrap().code(), "USD");
        assert!(Currency::parse("usd").is_err());
        assert!(Currency::parse("XYZ").is_err());
    }

    #[test]
    fn decimals_follow_the_currency() {
        let c = |code| Currency::parse(code).unwrap();
        assert_eq!(c("EUR").decimal(6540), "65.40");
        assert_eq!(c("EUR").decimal(5), "0.05");
        assert_eq!(c("JPY").decimal(6540), "6540");
        assert_eq!(c("KWD").decimal(6540), "6.540");
    }

    #[test]
    fn amount_is_positive_and_bounded() {
        assert!(Amount::new(0).is_err());
        assert!(Amount::new(-5).is_err());
        assert!(Amount::new(MAX_AMOUNT + 1).is_err());
        assert_eq!(Amount::new(6540).unwrap().minor(), 6540);
    }
}
