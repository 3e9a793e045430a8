//! API keys: how a merchant's keys are made and how a presented one is recognised.
//!
//! Keys are never stored: config holds `hmac-sha256:<hex>` of each key under a server secret.
//! A presented key is hashed the same way and compared with every stored hash in constant time,
//! so neither the comparison nor its position in the list tells an attacker anything.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const HASH_PREFIX: &str = "hmac-sha256:";

pub struct Keyring {
    /// The server secret, taken into the HMAC once: each key presented is hashed on a copy, which
    /// spares two of the four rounds of SHA-256 that hashing it afresh takes.
    keyed: Hmac<Sha256>,
    keys: Vec<([u8; 32], String)>,
}

impl Keyring {
    pub fn new(secret: &[u8]) -> Self {
        Self { keyed: keyed(secret), keys: Vec::new() }
    }

    /// Adds a stored key hash; malformed hashes are `switchyard check` errors and never match.
    pub fn add(&mut self, hash: &str, merchant_id: &str) {
        if let Some(hash) = parse_key_hash(hash) {
            self.keys.push((hash, merchant_id.to_string()));
        }
    }

    /// The key's position among the configured ones, and its merchant.
    pub fn find(&self, key: &str) -> Option<(usize, &str)> {
        let presented = digest(self.keyed.clone(), key);
        let mut found = None;
        for (i, (hash, merchant)) in self.keys.iter().enumerate() {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some((i, merchant.as_str()));
            }
        }
        found
    }
}

fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::new_from_slice(secret).expect("HMAC takes keys of any length")
}

fn digest(mut keyed: Hmac<Sha256>, key: &str) -> [u8; 32] {
    keyed.update(key.as_bytes());
    keyed.finalize().into_bytes().into()
}

/// The config form of a key's hash.
pub fn key_hash(secret: &[u8], key: &str) -> String {
    format!("{HASH_PREFIX}{}", hex::encode(digest(keyed(secret), key)))
}

pub fn parse_key_hash(s: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(s.strip_prefix(HASH_PREFIX)?).ok()?;
    bytes.try_into().ok()
}

/// A fresh secret key: 32 random letters and digits after the `sy_sk_` prefix.
pub fn new_secret_key() -> String {
    random_key("sy_sk_")
}

/// A fresh publishable key, for client-side code: `sy_pk_` and 32 random letters and digits.
pub fn new_publishable_key() -> String {
    random_key("sy_pk_")
}

fn random_key(prefix: &str) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!("{prefix}{}", Alphanumeric.sample_string(&mut rand::rng(), 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_only_their_own_hash() {
        let mut ring = Keyring::new(b"a secret of some length");
        let (k1, k2) = (new_secret_key(), new_secret_key());
        ring.add(&key_hash(b"a secret of some length", &k1), "acme");
        ring.add(&key_hash(b"a secret of some length", &k2), "globex");
        ring.add("hmac-sha256:nothex", "broken");
        assert_eq!(ring.find(&k1).map(|(_, m)| m), Some("acme"));
        assert_eq!(ring.find(&k2).map(|(_, m)| m), Some("globex"));
        assert_eq!(ring.find("sy_sk_guess"), None);
        let other = Keyring::new(b"another secret");
        assert_eq!(other.find(&k1), None);
    }

    #[test]
    fn a_key_hashes_as_hmac_sha256_under_the_secret_however_often_it_is_presented() {
        // The demo merchant's key and hash in config/switchyard.toml.
        let (secret, key) = (b"demo-only-9dVeeqxhkp0IXdA3aaRalOUU", "sy_sk_EcUKnRGm9ycfbQOyR2PYq322lLfeY3hm");
        let hash = "hmac-sha256:29c47b1e12b6fca2b94c4143b7e0a1e07322c2d2472b2159e0d93db6c61e8c16";
        assert_eq!(key_hash(secret, key), hash);
        let mut ring = Keyring::new(secret);
        ring.add(hash, "demo");
        for _ in 0..3 {
            assert_eq!(ring.find(key), Some((0, "demo")));
        }
    }
}
