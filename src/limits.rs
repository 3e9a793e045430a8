//! Rate limits: token buckets (governor) per API key and per merchant on the API, and per
//! connector account on calls to providers (their quotas). The limiters are swapped as a whole
//! when the configuration file is reloaded; a check never takes a lock. Keyed limiters forget
//! keys that have been idle long enough to have refilled, so they never grow without bound.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
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

/// One configuration's limiters.
struct LimitSet {
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    per_merchant: Option<DefaultKeyedRateLimiter<String>>,
    /// By `merchant/profile/account`.
    accounts: HashMap<String, DefaultDirectRateLimiter>,
}

impl LimitSet {
    fn from_config(config: &Config) -> Self {
        let mut accounts = HashMap::new();
        for (merchant_id, merchant) in &config.merchants {
            for (profile_id, profile) in &merchant.profiles {
                for account in &profile.connector_accounts {
                    if let Some(quota) = account.rate_limit.and_then(quota) {
                        let key = account_key(merchant_id, profile_id, &account.name);
                        accounts.insert(key, RateLimiter::direct(quota));
                    }
                }
            }
        }
        Self {
            per_key: config.limits.per_key.and_then(quota).map(RateLimiter::keyed),
            per_merchant: config.limits.per_merchant.and_then(quota).map(RateLimiter::keyed),
            accounts,
        }
    }
}

fn account_key(merchant_id: &str, profile_id: &str, account: &str) -> String {
    format!("{merchant_id}/{profile_id}/{account}")
}

fn refused(scope: &'static str, not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> Refused {
    metrics::counter!("switchyard_rate_limited_total", "scope" => scope).increment(1);
    Refused { scope, retry_after: not_until.wait_time_from(DefaultClock::default().now()) }
}

pub struct Limits {
    current: ArcSwap<LimitSet>,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        Self { current: ArcSwap::from_pointee(LimitSet::from_config(config)) }
    }

    /// Replaces every limiter with the configuration's; buckets start full.
    pub fn reload(&self, config: &Config) {
        self.current.store(Arc::new(LimitSet::from_config(config)));
    }

    /// An API request with key `key` (an identity of it, never the key itself) of `merchant_id`.
    pub fn check_api(&self, key: &str, merchant_id: &str) -> Result<(), Refused> {
        let set = self.current.load();
        if let Some(limiter) = &set.per_key {
            limiter.check_key(&key.to_string()).map_err(|n| refused("api_key", n))?;
        }
        if let Some(limiter) = &set.per_merchant {
            limiter.check_key(&merchant_id.to_string()).map_err(|n| refused("merchant", n))?;
        }
        Ok(())
    }

    /// A call to a connector account, which takes one unit of its quota if it has one left.
    pub fn check_account(&self, merchant_id: &str, profile_id: &str, account: &str) -> Result<(), Refused> {
        let set = self.current.load();
        match set.accounts.get(&account_key(merchant_id, profile_id, account)) {
            Some(limiter) => limiter.check().map_err(|n| refused("connector_account", n)),
            None => Ok(()),
        }
    }

    /// Forgets keys whose buckets have refilled: they behave as new keys would.
    pub fn evict_idle(&self) {
        let set = self.current.load();
        for limiter in [&set.per_key, &set.per_merchant].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many keys the API limiters hold now.
    #[cfg(test)]
    fn tracked_keys(&self) -> usize {
        let set = self.current.load();
        [&set.per_key, &set.per_merchant].into_iter().flatten().map(|l| l.len()).sum()
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
        let limits = Limits::new(&config(Some(RateConfig { per_second: 1, burst: 2 })));
        assert!(limits.check_api("k1", "m").is_ok());
        assert!(limits.check_api("k1", "m").is_ok());
        let refused = limits.check_api("k1", "m").unwrap_err();
        assert_eq!(refused.scope, "api_key");
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1));
        assert!(limits.check_api("k2", "m").is_ok(), "keys have buckets of their own");
    }

    #[test]
    fn no_limit_configured_refuses_nothing_and_a_reload_applies_new_ones() {
        let limits = Limits::new(&config(None));
        for _ in 0..100 {
            assert!(limits.check_api("k", "m").is_ok());
        }
        limits.reload(&config(Some(RateConfig { per_second: 1, burst: 1 })));
        assert!(limits.check_api("k", "m").is_ok());
        assert!(limits.check_api("k", "m").is_err());
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let limits = Limits::new(&config(Some(RateConfig { per_second: 1000, burst: 1 })));
        for i in 0..50 {
            limits.check_api(&format!("k{i}"), "m").unwrap();
        }
        assert_eq!(limits.tracked_keys(), 50);
        std::thread::sleep(Duration::from_millis(20));
        limits.evict_idle();
        assert_eq!(limits.tracked_keys(), 0);
    }
}
