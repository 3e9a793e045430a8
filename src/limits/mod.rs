//! Rate limits: token buckets (governor) per API key and per merchant on the API, and per
//! connector account on calls to providers (their quotas). A set of limits belongs to one
//! configuration version; a new version keeps each bucket whose limit it did not change, so an
//! edit elsewhere never refills a bucket. A check never takes a lock. Keyed limiters forget keys
//! that have been idle long enough to have refilled, so they never grow without bound.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{Config, RateConfig};

/// What was refused, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub scope: &'static str,
    pub retry_after: Duration,
}

fn quota(rate: RateConfig) -> Option<Quota> {
    let per_second = NonZeroU32::new(rate.per_second)?;
    let burst = NonZeroU32::new(rate.burst).unwrap_or(per_second);
    Some(Quota::per_second(per_second).allow_burst(burst))
}

/// A limiter with the quota it was made for, so a later version can tell whether to keep it.
struct Bucket<L> {
    quota: Quota,
    limiter: Arc<L>,
}

impl<L> Clone for Bucket<L> {
    fn clone(&self) -> Self {
        Self { quota: self.quota, limiter: self.limiter.clone() }
    }
}

impl<L> Bucket<L> {
    /// The bucket for `rate`: `kept`'s when its quota is the same, else a new one.
    fn of(rate: Option<RateConfig>, kept: Option<&Bucket<L>>, make: impl FnOnce(Quota) -> L) -> Option<Self> {
        let quota = rate.and_then(quota)?;
        match kept {
            Some(bucket) if bucket.quota == quota => Some(bucket.clone()),
            _ => Some(Self { quota, limiter: Arc::new(make(quota)) }),
        }
    }
}

/// One configuration version's limiters.
pub struct Limits {
    per_key: Option<Bucket<DefaultKeyedRateLimiter<String>>>,
    per_merchant: Option<Bucket<DefaultKeyedRateLimiter<String>>>,
    /// By `merchant/profile/account`.
    accounts: HashMap<String, Bucket<DefaultDirectRateLimiter>>,
}

fn account_key(merchant_id: &str, profile_id: &str, account: &str) -> String {
    format!("{merchant_id}/{profile_id}/{account}")
}

fn refused(scope: &'static str, not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> Refused {
    metrics::counter!("switchyard_rate_limited_total", "scope" => scope).increment(1);
    Refused { scope, retry_after: not_until.wait_time_from(DefaultClock::default().now()) }
}

impl Limits {
    /// The limits `config` sets, keeping `previous`'s buckets where the limit is unchanged.
    pub fn new(config: &Config, previous: Option<&Limits>) -> Self {
        let mut accounts = HashMap::new();
        for (merchant_id, merchant) in &config.merchants {
            for (profile_id, profile) in &merchant.profiles {
                for account in &profile.connector_accounts {
                    let key = account_key(merchant_id, profile_id, &account.name);
                    let kept = previous.and_then(|p| p.accounts.get(&key));
                    if let Some(bucket) = Bucket::of(account.rate_limit, kept, RateLimiter::direct) {
                        accounts.insert(key, bucket);
                    }
                }
            }
        }
        let limits = &config.limits;
        Self {
            per_key: Bucket::of(limits.per_key, previous.and_then(|p| p.per_key.as_ref()), RateLimiter::keyed),
            per_merchant: Bucket::of(
                limits.per_merchant,
                previous.and_then(|p| p.per_merchant.as_ref()),
                RateLimiter::keyed,
            ),
            accounts,
        }
    }

    /// An API request with key `key` (an identity of it, never the key itself) of `merchant_id`.
    pub fn check_api(&self, key: &str, merchant_id: &str) -> Result<(), Refused> {
        if let Some(bucket) = &self.per_key {
            bucket.limiter.check_key(&key.to_string()).map_err(|n| refused("api_key", n))?;
        }
        if let Some(bucket) = &self.per_merchant {
            bucket.limiter.check_key(&merchant_id.to_string()).map_err(|n| refused("merchant", n))?;
        }
        Ok(())
    }

    /// A call to a connector account, which takes one unit of its quota if it has one left.
    pub fn check_account(&self, merchant_id: &str, profile_id: &str, account: &str) -> Result<(), Refused> {
        match self.accounts.get(&account_key(merchant_id, profile_id, account)) {
            Some(bucket) => bucket.limiter.check().map_err(|n| refused("connector_account", n)),
            None => Ok(()),
        }
    }

    /// Forgets keys whose buckets have refilled: they behave as new keys would.
    pub fn evict_idle(&self) {
        for bucket in [&self.per_key, &self.per_merchant].into_iter().flatten() {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
    }

    /// How many keys the API limiters hold now.
    #[cfg(test)]
    fn tracked_keys(&self) -> usize {
        [&self.per_key, &self.per_merchant].into_iter().flatten().map(|b| b.limiter.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(per_key: Option<RateConfig>) -> Config {
        let mut config = Config::default();
        config.limits.per_key = per_key;
        config
    }

    #[test]
    fn a_key_past_its_burst_is_refused_with_a_retry_after() {
        let limits = Limits::new(&config(Some(RateConfig { per_second: 1, burst: 2 })), None);
        assert!(limits.check_api("k1", "m").is_ok());
        assert!(limits.check_api("k1", "m").is_ok());
        let refused = limits.check_api("k1", "m").unwrap_err();
        assert_eq!(refused.scope, "api_key");
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1));
        assert!(limits.check_api("k2", "m").is_ok(), "keys have buckets of their own");
    }

    #[test]
    fn a_new_version_applies_new_limits_and_keeps_the_buckets_of_unchanged_ones() {
        let limits = Limits::new(&config(None), None);
        for _ in 0..100 {
            assert!(limits.check_api("k", "m").is_ok());
        }
        let one = Some(RateConfig { per_second: 1, burst: 1 });
        let limits = Limits::new(&config(one), Some(&limits));
        assert!(limits.check_api("k", "m").is_ok());
        assert!(limits.check_api("k", "m").is_err());
        // The same limit in the next version: the spent bucket stays spent.
        let limits = Limits::new(&config(one), Some(&limits));
        assert!(limits.check_api("k", "m").is_err());
        // Another limit starts a new bucket.
        let limits = Limits::new(&config(Some(RateConfig { per_second: 1, burst: 2 })), Some(&limits));
        assert!(limits.check_api("k", "m").is_ok());
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let limits = Limits::new(&config(Some(RateConfig { per_second: 1000, burst: 1 })), None);
        for i in 0..50 {
            limits.check_api(&format!("k{i}"), "m").unwrap();
        }
        assert_eq!(limits.tracked_keys(), 50);
        std::thread::sleep(Duration::from_millis(20));
        limits.evict_idle();
        assert_eq!(limits.tracked_keys(), 0);
    }
}
