//! Identifiers: the ones switchyard mints (payment, attempt, refund, customer, client secret) and the ones
//! merchants send (references, customer ids), which are bounded and checked on decode.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize};

/// Mints globally unique, time-ordered ids in Hyperswitch's shape: `{cell}_{kind}_{uuid v7}`.
#[derive(Debug, Clone)]
pub struct IdMinter {
    cell: String,
}

impl IdMinter {
    pub fn new(cell: &str) -> Self {
        Self { cell: cell.to_string() }
    }

    pub fn payment(&self) -> String {
        self.mint("pay")
    }

    pub fn attempt(&self) -> String {
        self.mint("att")
    }

    pub fn refund(&self) -> String {
        self.mint("ref")
    }

    pub fn event(&self) -> String {
        self.mint("evt")
    }

    pub fn customer(&self) -> String {
        self.mint("cus")
    }

    pub fn payment_method(&self) -> String {
        self.mint("pm")
    }

    pub fn payment_method_session(&self) -> String {
        self.mint("pms")
    }

    fn mint(&self, kind: &str) -> String {
        let mut uuid = uuid::Uuid::encode_buffer();
        let uuid = uuid::Uuid::now_v7().simple().encode_lower(&mut uuid);
        [self.cell.as_str(), "_", kind, "_", uuid].concat()
    }
}

/// A client secret: handed to the merchant's front end, valid until the intent's session expires.
pub fn client_secret() -> String {
    let mut uuid = uuid::Uuid::encode_buffer();
    ["cs_", uuid::Uuid::new_v4().simple().encode_lower(&mut uuid)].concat()
}

/// The reference a customer gets when the merchant gives none.
pub fn customer_reference() -> String {
    format!("cus_{}", uuid::Uuid::new_v4().simple())
}

/// A merchant-chosen identifier of `MIN` to `MAX` characters from `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Identifier<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Identifier<MIN, MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MIN: usize, const MAX: usize> fmt::Display for Identifier<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Identifier<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if !(MIN..=MAX).contains(&s.len()) {
            return Err(de::Error::custom(format!("must be {MIN} to {MAX} characters long, got {}", s.len())));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(de::Error::custom("may contain only letters, digits, `_` and `-`"));
        }
        Ok(Self(s))
    }
}

/// The merchant's own reference for a payment, unique per profile.
/// Inlined where used (`#[schema(inline)]`): one schema per pair of bounds.
impl<const MIN: usize, const MAX: usize> utoipa::PartialSchema for Identifier<MIN, MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let what = format!("{MIN} to {MAX} letters, digits, `_` or `-`.");
        crate::schema::string(&what, MIN, Some(MAX), Some("^[A-Za-z0-9_-]+$"))
    }
}

impl<const MIN: usize, const MAX: usize> utoipa::ToSchema for Identifier<MIN, MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("Identifier_{MIN}_{MAX}").into()
    }
}

pub type MerchantReferenceId = Identifier<1, 30>;
/// The merchant's own reference for a refund, unique per profile.
pub type RefundReferenceId = Identifier<1, 64>;
pub type CustomerId = Identifier<1, 64>;
/// An id switchyard minted, as the API documents them: 32 to 64 characters.
pub type MintedId = Identifier<32, 64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_have_the_documented_shape() {
        let ids = IdMinter::new("sy");
        let id = ids.payment();
        assert!(id.starts_with("sy_pay_") && (32..=64).contains(&id.len()), "{id}");
        assert_ne!(ids.payment(), id);
        let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        assert!(id.strip_prefix("sy_pay_").is_some_and(hex), "{id}");
        let secret = client_secret();
        assert!(secret.strip_prefix("cs_").is_some_and(hex), "{secret}");
    }

    #[test]
    fn identifiers_are_bounded() {
        let ok: Result<MerchantReferenceId, _> = serde_json::from_str("\"order_1\"");
        assert!(ok.is_ok());
        let long = format!("\"{}\"", "a".repeat(31));
        assert!(serde_json::from_str::<MerchantReferenceId>(&long).is_err());
        assert!(serde_json::from_str::<MerchantReferenceId>("\"has space\"").is_err());
        assert!(serde_json::from_str::<MerchantReferenceId>("\"\"").is_err());
    }
}
