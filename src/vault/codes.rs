//! Security codes of `volatile` payment methods: kept for `[vault] cvc_ttl_secs`, and forgotten
//! once a payment has sent one to a provider — a code serves one payment. Never in the database.
//!
//! Without `[shared]`, codes live in this process's memory and a restart forgets them. With it,
//! they live in Redis, so that a code any daemon took charges through every other: sealed with
//! AES-256-GCM under the vault key and bound to the method's id (what Redis holds opens nowhere
//! else, and never under another method), their time left as the key's expiry.
//!
//! When Redis does not answer, nothing here guesses: keeping, reading, showing fail with
//! `VaultError::CodesUnavailable` and the caller decides. No code is kept in this process
//! instead: a code only one daemon holds is missing on the others.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::{Vault, VaultError, NONCE_LEN};
use crate::card::Cvc;
use crate::shared::{Part, Shared};

/// Reads a code's sealed bytes and its time left at one instant.
static READ: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("cvc_read.lua")));
/// Deletes a code only while it is still the one read.
static FORGET_USED: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("cvc_forget_used.lua")));

/// Where codes are kept.
pub(super) enum Codes {
    Memory(Mutex<HashMap<String, (Cvc, DateTime<Utc>)>>),
    Redis(Arc<Shared>),
}

impl Codes {
    pub(super) fn new(shared: Option<Arc<Shared>>) -> Self {
        match shared {
            Some(shared) => Codes::Redis(shared),
            None => Codes::Memory(Mutex::default()),
        }
    }
}

/// A kept code, as read to pay with.
#[derive(Debug, Clone)]
pub struct KeptCvc {
    pub cvc: Cvc,
    pub until: DateTime<Utc>,
    pub used: CvcUse,
}

/// Which kept code a payment carries: forgetting it once used (`Vault::forget_used`) leaves a
/// code given since in place.
#[derive(Debug, Clone)]
pub struct CvcUse {
    id: String,
    which: Which,
}

#[derive(Debug, Clone)]
enum Which {
    /// In Redis: its sealed bytes, which a fresh nonce makes unique.
    Sealed(Vec<u8>),
    /// In memory: its expiry.
    Until(DateTime<Utc>),
}

impl CvcUse {
    pub fn payment_method_id(&self) -> &str {
        &self.id
    }
}

fn key(shared: &Shared, id: &str) -> String {
    shared.key(&format!("cvc:{id}"))
}

/// What a code is bound to: its method, and being a code (a sealed card of the same method
/// does not open as one).
fn aad(id: &str) -> Vec<u8> {
    format!("cvc:{id}").into_bytes()
}

/// The time left to a key in milliseconds, as a moment; none for a key gone (or, never written
/// here, without an expiry).
fn expiry(now: DateTime<Utc>, pttl_ms: i64) -> Option<DateTime<Utc>> {
    (pttl_ms > 0).then(|| now + Duration::milliseconds(pttl_ms))
}

impl Vault {
    /// `cvc` sealed for payment method `id`: the nonce, then the ciphertext.
    fn seal_cvc(&self, id: &str, cvc: &Cvc) -> Result<Vec<u8>, VaultError> {
        let (nonce, ciphertext) = self.encrypt(cvc.expose().as_bytes(), &aad(id))?;
        Ok([nonce.as_slice(), &ciphertext].concat())
    }

    fn open_cvc(&self, id: &str, sealed: &[u8]) -> Result<Cvc, VaultError> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or(VaultError::Unopenable)?;
        let plain = self.decrypt(nonce, ciphertext, &aad(id))?;
        let text = String::from_utf8(plain).map_err(|_| VaultError::Unopenable)?;
        serde_json::from_value(serde_json::Value::String(text)).map_err(|_| VaultError::Unopenable)
    }

    /// Keeps `cvc` for payment method `id` for the configured time, in place of any it held;
    /// answers until when (none when that time is zero: nothing is kept).
    pub async fn keep_cvc(&self, id: &str, cvc: &Cvc, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, VaultError> {
        if self.cvc_ttl <= Duration::zero() {
            return Ok(None);
        }
        let until = now + self.cvc_ttl;
        match &self.codes {
            Codes::Memory(codes) => {
                let mut codes = codes.lock().unwrap_or_else(|e| e.into_inner());
                codes.retain(|_, (_, expiry)| *expiry > now);
                codes.insert(id.to_string(), (cvc.clone(), until));
            }
            Codes::Redis(shared) => {
                let (key, sealed, ttl_ms) = (key(shared, id), self.seal_cvc(id, cvc)?, self.cvc_ttl.num_milliseconds());
                shared
                    .run(Part::Codes, |mut redis| async move {
                        redis::cmd("SET").arg(key).arg(sealed).arg("PX").arg(ttl_ms).query_async::<()>(&mut redis).await
                    })
                    .await?;
            }
        }
        Ok(Some(until))
    }

    /// The code kept for `id`, while it lasts.
    pub async fn cvc(&self, id: &str, now: DateTime<Utc>) -> Result<Option<KeptCvc>, VaultError> {
        match &self.codes {
            Codes::Memory(codes) => {
                let codes = codes.lock().unwrap_or_else(|e| e.into_inner());
                Ok(codes.get(id).filter(|(_, until)| *until > now).map(|(cvc, until)| KeptCvc {
                    cvc: cvc.clone(),
                    until: *until,
                    used: CvcUse { id: id.to_string(), which: Which::Until(*until) },
                }))
            }
            Codes::Redis(shared) => {
                let key = key(shared, id);
                let read: Option<(Vec<u8>, i64)> = shared
                    .run(Part::Codes, |mut redis| async move { READ.key(key).invoke_async(&mut redis).await })
                    .await?;
                let Some((sealed, until)) = read.and_then(|(sealed, pttl)| Some((sealed, expiry(now, pttl)?))) else {
                    return Ok(None);
                };
                match self.open_cvc(id, &sealed) {
                    Ok(cvc) => Ok(Some(KeptCvc {
                        cvc,
                        until,
                        used: CvcUse { id: id.to_string(), which: Which::Sealed(sealed) },
                    })),
                    // Sealed under another key, or not by a daemon: no code to pay with.
                    Err(_) => {
                        tracing::warn!(payment_method_id = %id, "a kept security code does not open with the vault key; paying without it");
                        Ok(None)
                    }
                }
            }
        }
    }

    /// Until when each of `ids` holds a code, in their order; Redis is asked once for them all.
    pub async fn cvc_expiries(
        &self,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<DateTime<Utc>>>, VaultError> {
        match &self.codes {
            Codes::Memory(codes) => {
                let codes = codes.lock().unwrap_or_else(|e| e.into_inner());
                Ok(ids.iter().map(|id| codes.get(*id).map(|(_, until)| *until).filter(|until| *until > now)).collect())
            }
            Codes::Redis(_) if ids.is_empty() => Ok(Vec::new()),
            Codes::Redis(shared) => {
                let mut pipe = redis::pipe();
                for id in ids {
                    pipe.cmd("PTTL").arg(key(shared, id));
                }
                let pttls: Vec<i64> =
                    shared.run(Part::Codes, |mut redis| async move { pipe.query_async(&mut redis).await }).await?;
                Ok(pttls.into_iter().map(|pttl| expiry(now, pttl)).collect())
            }
        }
    }

    /// Forgets the code kept for `id`, whichever it is.
    pub async fn forget_cvc(&self, id: &str) -> Result<(), VaultError> {
        match &self.codes {
            Codes::Memory(codes) => {
                codes.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
            }
            Codes::Redis(shared) => {
                let key = key(shared, id);
                shared
                    .run(Part::Codes, |mut redis| async move {
                        redis::cmd("DEL").arg(key).query_async::<()>(&mut redis).await
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// Forgets the code a payment sent to a provider, unless another was given since.
    pub async fn forget_used(&self, used: &CvcUse) -> Result<(), VaultError> {
        match (&self.codes, &used.which) {
            (Codes::Memory(codes), Which::Until(read)) => {
                let mut codes = codes.lock().unwrap_or_else(|e| e.into_inner());
                if codes.get(&used.id).is_some_and(|(_, until)| until == read) {
                    codes.remove(&used.id);
                }
            }
            (Codes::Redis(shared), Which::Sealed(sealed)) => {
                let key = key(shared, &used.id);
                shared
                    .run(Part::Codes, |mut redis| async move {
                        FORGET_USED.key(key).arg(sealed.as_slice()).invoke_async::<()>(&mut redis).await
                    })
                    .await?;
            }
            // A use is always of the codes it was read from.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::vault;
    use super::*;

    fn cvc(digits: &str) -> Cvc {
        serde_json::from_value(serde_json::json!(digits)).unwrap()
    }

    #[test]
    fn a_sealed_code_opens_only_for_its_method_and_with_its_key() {
        let vault = vault();
        let sealed = vault.seal_cvc("sy_pm_1", &cvc("7373")).unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"7373"), "the code is not in clear");
        assert_eq!(vault.open_cvc("sy_pm_1", &sealed).unwrap().expose(), "7373");
        assert!(matches!(vault.open_cvc("sy_pm_2", &sealed), Err(VaultError::Unopenable)), "bound to its method");
        assert!(matches!(self::vault().open_cvc("sy_pm_1", &sealed), Err(VaultError::Unopenable)), "another key");
        assert_ne!(vault.seal_cvc("sy_pm_1", &cvc("7373")).unwrap(), sealed, "a fresh nonce each time");
        assert!(matches!(vault.open_cvc("sy_pm_1", &sealed[..NONCE_LEN]), Err(VaultError::Unopenable)), "cut short");
        assert!(matches!(Vault::new(None, 60, None).seal_cvc("sy_pm_1", &cvc("737")), Err(VaultError::NoKey)));
    }

    #[test]
    fn a_sealed_card_does_not_open_as_a_code_of_its_method() {
        let vault = vault();
        let (nonce, ciphertext) = vault.encrypt(b"737", b"sy_pm_1").unwrap();
        let as_card = [nonce.as_slice(), &ciphertext].concat();
        assert!(matches!(vault.open_cvc("sy_pm_1", &as_card), Err(VaultError::Unopenable)));
    }

    #[tokio::test]
    async fn a_kept_code_lasts_until_its_expiry_or_its_use() {
        let vault = vault();
        let now = Utc::now();
        let until = vault.keep_cvc("sy_pm_1", &cvc("123"), now).await.unwrap().expect("kept");
        assert_eq!(until, now + Duration::seconds(60));
        let kept = vault.cvc("sy_pm_1", now).await.unwrap().expect("a code");
        assert_eq!((kept.cvc.expose(), kept.until), ("123", until));
        assert!(vault.cvc("sy_pm_1", until).await.unwrap().is_none(), "gone at its expiry");
        assert_eq!(vault.cvc_expiries(&["sy_pm_1", "sy_pm_2"], now).await.unwrap(), vec![Some(until), None]);

        // A code given while a payment was under way is not the one it used.
        let later = now + Duration::seconds(1);
        vault.keep_cvc("sy_pm_1", &cvc("456"), later).await.unwrap();
        vault.forget_used(&kept.used).await.unwrap();
        let again = vault.cvc("sy_pm_1", later).await.unwrap().expect("the newer code stays");
        assert_eq!(again.cvc.expose(), "456");
        vault.forget_used(&again.used).await.unwrap();
        assert!(vault.cvc("sy_pm_1", later).await.unwrap().is_none(), "used, so forgotten");

        vault.keep_cvc("sy_pm_1", &cvc("789"), later).await.unwrap();
        vault.forget_cvc("sy_pm_1").await.unwrap();
        assert!(vault.cvc("sy_pm_1", later).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn with_no_time_to_keep_a_code_none_is_kept() {
        let vault = Vault::new(None, 0, None);
        assert_eq!(vault.keep_cvc("sy_pm_1", &cvc("123"), Utc::now()).await.unwrap(), None);
        assert!(vault.cvc("sy_pm_1", Utc::now()).await.unwrap().is_none());
    }
}
