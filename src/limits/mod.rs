//! Rate limits: token buckets per API key and per merchant on the API, and per connector account
//! on calls to providers (their quotas). A set of limits belongs to one configuration version; a
//! new version keeps each bucket whose limit it did not change, so an edit elsewhere never
//! refills a bucket. A check never takes a lock.
//!
//! Each daemon holds buckets of its own (governor); keyed limiters forget keys that have been idle
//! long enough to have refilled, so they never grow without bound. With `[shared]`, a check takes
//! from buckets in Redis instead (`shared`), which every daemon behind the load balancer draws on:
//! a limit is one limit however many daemons serve it, and so is a provider's quota, which the
//! provider counts for all of them.
//!
//! When Redis does not answer in time, or is being left alone after a failure, a check takes from
//! its daemon's own bucket: limits fail open to per-daemon limits. A limiter's outage must not
//! become a payment outage. Each daemon's bucket holds the whole limit, so while Redis is away a
//! client gets at most N times its limit from N daemons. A provider's quota may be overrun as much;
//! the provider then refuses calls itself (Stripe with a 429), and a refused call is one that did
//! not take the payment, which routing passes over to the next account. The daemon's buckets are
//! drawn on only while Redis is away.

mod shared;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use self::shared::SharedBuckets;
use crate::config::{Config, RateConfig};
use crate::shared::Shared;

/// What was refused, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub scope: &'static str,
    pub retry_after: Duration,
}

/// A limit: `per_second` units come back each second, up to `burst` held at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rate {
    per_second: NonZeroU32,
    burst: NonZeroU32,
}

impl Rate {
    /// The limit `config` sets; none for a rate of 0, and a burst of 0 is one second's worth.
    fn of(config: RateConfig) -> Option<Self> {
        let per_second = NonZeroU32::new(config.per_second)?;
        Some(Self { per_second, burst: NonZeroU32::new(config.burst).unwrap_or(per_second) })
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// What a limit refuses as, in `Refused` and the `scope` label of `switchyard_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    ApiKey,
    Merchant,
    ConnectorAccount,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::ApiKey => "api_key",
            Scope::Merchant => "merchant",
            Scope::ConnectorAccount => "connector_account",
        }
    }

    fn refused(self, retry_after: Duration) -> Refused {
        metrics::counter!("switchyard_rate_limited_total", "scope" => self.as_str()).increment(1);
        Refused { scope: self.as_str(), retry_after }
    }
}

/// A limiter with the rate it was made for, so a later version can tell whether to keep it.
struct Bucket<L> {
    rate: Rate,
    limiter: Arc<L>,
}

impl<L> Clone for Bucket<L> {
    fn clone(&self) -> Self {
        Self { rate: self.rate, limiter: self.limiter.clone() }
    }
}

impl<L> Bucket<L> {
    /// The bucket for `rate`: `kept`'s when its rate is the same, else a new one.
    fn of(rate: Option<RateConfig>, kept: Option<&Bucket<L>>, make: impl FnOnce(Quota) -> L) -> Option<Self> {
        let rate = rate.and_then(Rate::of)?;
        match kept {
            Some(bucket) if bucket.rate == rate => Some(bucket.clone()),
            _ => Some(Self { rate, limiter: Arc::new(make(rate.quota())) }),
        }
    }
}

/// One configuration version's limiters.
pub struct Limits {
    per_key: Option<Bucket<DefaultKeyedRateLimiter<String>>>,
    per_merchant: Option<Bucket<DefaultKeyedRateLimiter<String>>>,
    /// By `merchant/profile/account`.
    accounts: HashMap<String, Bucket<DefaultDirectRateLimiter>>,
    /// The buckets in Redis, when `[shared]` names one.
    shared: Option<SharedBuckets>,
}

fn account_key(merchant_id: &str, profile_id: &str, account: &str) -> String {
    format!("{merchant_id}/{profile_id}/{account}")
}

fn refused(scope: Scope, not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> Refused {
    scope.refused(not_until.wait_time_from(DefaultClock::default().now()))
}

impl Limits {
    /// The limits `config` sets, keeping `previous`'s buckets where the limit is unchanged, and
    /// taken from buckets in Redis when `shared` is there (the buckets there are named by their
    /// limit, so they are kept the same way).
    pub fn new(config: &Config, previous: Option<&Limits>, shared: Option<Arc<Shared>>) -> Self {
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
            shared: shared.map(SharedBuckets::new),
        }
    }

    /// An API request with key `key` (an identity of it, never the key itself) of `merchant_id`.
    /// Shared, its key's and its merchant's buckets are taken from together or not at all.
    pub async fn check_api(&self, key: &str, merchant_id: &str) -> Result<(), Refused> {
        let limited = [(Scope::ApiKey, &self.per_key, key), (Scope::Merchant, &self.per_merchant, merchant_id)]
            .into_iter()
            .filter_map(|(scope, bucket, id)| Some((scope, bucket.as_ref()?, id)));
        if let Some(shared) = &self.shared {
            let buckets: Vec<_> = limited.clone().map(|(scope, bucket, id)| (scope, bucket.rate, id)).collect();
            if buckets.is_empty() {
                return Ok(());
            }
            if let Ok(taken) = shared.take(&buckets).await {
                return taken;
            }
        }
        for (scope, bucket, id) in limited {
            bucket.limiter.check_key(&id.to_string()).map_err(|n| refused(scope, n))?;
        }
        Ok(())
    }

    /// A call to a connector account, which takes one unit of its quota if it has one left.
    pub async fn check_account(&self, merchant_id: &str, profile_id: &str, account: &str) -> Result<(), Refused> {
        let key = account_key(merchant_id, profile_id, account);
        let Some(bucket) = self.accounts.get(&key) else { return Ok(()) };
        if let Some(shared) = &self.shared {
            if let Ok(taken) = shared.take(&[(Scope::ConnectorAccount, bucket.rate, &key)]).await {
                return taken;
            }
        }
        bucket.limiter.check().map_err(|n| refused(Scope::ConnectorAccount, n))
    }

    /// Forgets keys whose buckets have refilled: they behave as new keys would. (Redis forgets
    /// its own: each key expires once its bucket would be full.)
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

    #[tokio::test]
    async fn a_key_past_its_burst_is_refused_with_a_retry_after() {
        let limits = Limits::new(&config(Some(RateConfig { per_second: 1, burst: 2 })), None, None);
        assert!(limits.check_api("k1", "m").await.is_ok());
        assert!(limits.check_api("k1", "m").await.is_ok());
        let refused = limits.check_api("k1", "m").await.unwrap_err();
        assert_eq!(refused.scope, "api_key");
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1));
        assert!(limits.check_api("k2", "m").await.is_ok(), "keys have buckets of their own");
    }

    #[tokio::test]
    async fn a_new_version_applies_new_limits_and_keeps_the_buckets_of_unchanged_ones() {
        let limits = Limits::new(&config(None), None, None);
        for _ in 0..100 {
            assert!(limits.check_api("k", "m").await.is_ok());
        }
        let one = Some(RateConfig { per_second: 1, burst: 1 });
        let limits = Limits::new(&config(one), Some(&limits), None);
        assert!(limits.check_api("k", "m").await.is_ok());
        assert!(limits.check_api("k", "m").await.is_err());
        // The same limit in the next version: the spent bucket stays spent.
        let limits = Limits::new(&config(one), Some(&limits), None);
        assert!(limits.check_api("k", "m").await.is_err());
        // Another limit starts a new bucket.
        let limits = Limits::new(&config(Some(RateConfig { per_second: 1, burst: 2 })), Some(&limits), None);
        assert!(limits.check_api("k", "m").await.is_ok());
    }

    #[tokio::test]
    async fn idle_keys_are_forgotten() {
        let limits = Limits::new(&config(Some(RateConfig { per_second: 1000, burst: 1 })), None, None);
        for i in 0..50 {
            limits.check_api(&format!("k{i}"), "m").await.unwrap();
        }
        assert_eq!(limits.tracked_keys(), 50);
        std::thread::sleep(Duration::from_millis(20));
        limits.evict_idle();
        assert_eq!(limits.tracked_keys(), 0);
    }

    #[tokio::test]
    async fn while_redis_does_not_answer_the_daemons_own_buckets_limit() {
        let mut config = config(Some(RateConfig { per_second: 1, burst: 2 }));
        // Nothing listens on port 1 of the loopback.
        config.shared.url = Some(crate::config::SecretValue::Literal("redis://127.0.0.1:1".into()));
        let shared = Shared::new(&config.shared).unwrap();
        assert!(shared.is_some());
        let limits = Limits::new(&config, None, shared);
        assert!(limits.check_api("k", "m").await.is_ok());
        assert!(limits.check_api("k", "m").await.is_ok());
        assert_eq!(limits.check_api("k", "m").await.unwrap_err().scope, "api_key");
    }
}
