//! The vault: saved cards sealed with AES-256-GCM under a key from configuration (in practice the
//! environment), never stored beside them. Each card is sealed with a fresh nonce and bound to its
//! payment method's id, so a sealed card copied onto another row does not open.
//!
//! Security codes are never stored with cards: a `volatile` payment method's code is kept for a
//! while, apart (`codes`).

mod codes;

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;

use self::codes::Codes;
pub use self::codes::{CvcUse, KeptCvc};
use crate::card::{CardNumber, Expiry, ExpiryMonth, ExpiryYear};
use crate::shared::{Shared, Unavailable};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// What the key-check row seals: opening it proves the configured key is the vault's.
const KEY_CHECK: &[u8] = b"switchyard vault key check";
const KEY_CHECK_AAD: &[u8] = b"key-check";
/// AES-GCM's nonce: 96 bits.
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no vault key is configured (vault.key), so cards cannot be saved")]
    NoKey,
    #[error("a sealed card does not open with the configured key")]
    Unopenable,
    /// Redis, where the daemons keep security codes, did not answer: whether a code is kept
    /// cannot be told, and none can be kept.
    #[error("the security code store is unavailable: {0}")]
    CodesUnavailable(#[from] Unavailable),
}

/// A key as configured: 64 hex digits.
pub fn parse_key(hex_key: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(hex_key.trim()).map_err(|_| "must be 64 hex digits".to_string())?;
    bytes.try_into().map_err(|_| "must be 64 hex digits (32 bytes)".to_string())
}

/// A fresh random key, as `switchyard keys new --vault` prints it.
pub fn new_key() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    hex::encode(key)
}

/// A card as sealed: everything needed to charge it again except its security code.
#[derive(Debug, Clone)]
pub struct VaultCard {
    pub number: CardNumber,
    pub expiry: Expiry,
    pub holder_name: Option<String>,
}

#[derive(Deserialize)]
struct Plain {
    card_number: CardNumber,
    card_exp_month: ExpiryMonth,
    card_exp_year: ExpiryYear,
    card_holder_name: Option<String>,
}

/// A sealed card as stored: nonce and ciphertext, base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: String,
    pub ciphertext: String,
}

pub struct Vault {
    cipher: Option<Aes256Gcm>,
    cvc_ttl: chrono::Duration,
    /// Security codes of volatile payment methods, until their expiry or their use. Touched only
    /// when such a method is saved, shown or used, never on the path of a card payment.
    codes: Codes,
}

impl Vault {
    /// The vault for `key`; with `shared`, security codes are kept in Redis rather than here.
    pub fn new(key: Option<[u8; 32]>, cvc_ttl_secs: u32, shared: Option<Arc<Shared>>) -> Self {
        Self {
            cipher: key.map(|k| Aes256Gcm::new(&k.into())),
            cvc_ttl: chrono::Duration::seconds(i64::from(cvc_ttl_secs)),
            codes: Codes::new(shared),
        }
    }

    pub fn has_key(&self) -> bool {
        self.cipher.is_some()
    }

    fn cipher(&self) -> Result<&Aes256Gcm, VaultError> {
        self.cipher.as_ref().ok_or(VaultError::NoKey)
    }

    /// `plain` sealed under a fresh nonce, bound to `aad`: the nonce, and the ciphertext.
    fn encrypt(&self, plain: &[u8], aad: &[u8]) -> Result<([u8; NONCE_LEN], Vec<u8>), VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher()?
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .map_err(|_| VaultError::Unopenable)?;
        Ok((nonce, sealed))
    }

    fn decrypt(&self, nonce: &[u8], ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        if nonce.len() != NONCE_LEN {
            return Err(VaultError::Unopenable);
        }
        self.cipher()?
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
            .map_err(|_| VaultError::Unopenable)
    }

    fn seal_bytes(&self, plain: &[u8], aad: &[u8]) -> Result<Sealed, VaultError> {
        let (nonce, ciphertext) = self.encrypt(plain, aad)?;
        Ok(Sealed { nonce: B64.encode(nonce), ciphertext: B64.encode(ciphertext) })
    }

    fn open_bytes(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        let nonce = B64.decode(&sealed.nonce).map_err(|_| VaultError::Unopenable)?;
        let ciphertext = B64.decode(&sealed.ciphertext).map_err(|_| VaultError::Unopenable)?;
        self.decrypt(&nonce, &ciphertext, aad)
    }

    /// Seals `card` for payment method `id`.
    pub fn seal(&self, id: &str, card: &VaultCard) -> Result<Sealed, VaultError> {
        let plain = json!({
            "card_number": card.number.expose(),
            "card_exp_month": card.expiry.month_str(),
            "card_exp_year": card.expiry.year_str(),
            "card_holder_name": card.holder_name,
        });
        self.seal_bytes(plain.to_string().as_bytes(), id.as_bytes())
    }

    /// Opens the card sealed for payment method `id`.
    pub fn open(&self, id: &str, sealed: &Sealed) -> Result<VaultCard, VaultError> {
        let plain = self.open_bytes(sealed, id.as_bytes())?;
        let plain: Plain = serde_json::from_slice(&plain).map_err(|_| VaultError::Unopenable)?;
        Ok(VaultCard {
            number: plain.card_number,
            expiry: Expiry { month: plain.card_exp_month, year: plain.card_exp_year },
            holder_name: plain.card_holder_name,
        })
    }

    /// What the key-check row holds for this key.
    pub fn key_check(&self) -> Result<Sealed, VaultError> {
        self.seal_bytes(KEY_CHECK, KEY_CHECK_AAD)
    }

    /// Whether `sealed` is a key check made with this key.
    pub fn opens_key_check(&self, sealed: &Sealed) -> bool {
        self.open_bytes(sealed, KEY_CHECK_AAD).is_ok_and(|plain| plain == KEY_CHECK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> VaultCard {
        let parsed: Plain = serde_json::from_value(json!({
            "card_number": "4242424242424242", "card_exp_month": "10", "card_exp_year": "30", "card_holder_name": "Jo"
        }))
        .unwrap();
        VaultCard {
            number: parsed.card_number,
            expiry: Expiry { month: parsed.card_exp_month, year: parsed.card_exp_year },
            holder_name: parsed.card_holder_name,
        }
    }

    pub(super) fn vault() -> Vault {
        Vault::new(Some(parse_key(&new_key()).unwrap()), 60, None)
    }

    #[test]
    fn a_sealed_card_opens_only_with_its_key_and_for_its_id() {
        let vault = vault();
        let sealed = vault.seal("sy_pm_1", &card()).unwrap();
        assert!(!sealed.ciphertext.contains("4242"), "the number is not in clear");
        let opened = vault.open("sy_pm_1", &sealed).unwrap();
        assert_eq!(opened.number.expose(), "4242424242424242");
        assert_eq!((opened.expiry.month_str(), opened.expiry.year_str()), ("10".into(), "2030".into()));
        assert!(matches!(vault.open("sy_pm_2", &sealed), Err(VaultError::Unopenable)), "bound to its id");
        assert!(matches!(self::vault().open("sy_pm_1", &sealed), Err(VaultError::Unopenable)), "another key");
        assert_ne!(vault.seal("sy_pm_1", &card()).unwrap().nonce, sealed.nonce, "a fresh nonce each time");
        assert!(matches!(Vault::new(None, 60, None).seal("sy_pm_1", &card()), Err(VaultError::NoKey)));
    }

    #[test]
    fn the_key_check_tells_the_right_key_from_another() {
        let vault = vault();
        let check = vault.key_check().unwrap();
        assert!(vault.opens_key_check(&check));
        assert!(!self::vault().opens_key_check(&check));
    }

    #[test]
    fn keys_are_64_hex_digits() {
        assert_eq!(new_key().len(), 64);
        assert!(parse_key(&new_key()).is_ok());
        assert!(parse_key("abcd").is_err());
        assert!(parse_key(&"zz".repeat(32)).is_err());
    }
}
