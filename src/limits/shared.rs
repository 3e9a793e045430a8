//! Buckets in Redis, which every daemon naming the same `[shared]` Redis draws on: one call
//! (`gcra.lua`, atomic in Redis) takes a unit from each bucket a request is limited by, or from
//! none. A bucket is named by its limit as well as by what it limits, so a configuration version
//! that leaves a limit alone goes on with its bucket, and an edited limit starts a new one, as
//! the daemon's own buckets do. Redis's clock times every bucket, so the daemons' clocks never
//! matter.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;

use super::{Rate, Refused, Scope};
use crate::shared::{Part, Shared, Unavailable};

static GCRA: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("gcra.lua")));

pub(super) struct SharedBuckets {
    shared: Arc<Shared>,
}

/// How often a bucket at `rate` gets a unit back, in whole microseconds (Redis's clock's unit): a
/// rate above a million a second is counted as a million.
fn interval_us(rate: Rate) -> u64 {
    (1_000_000 / u64::from(rate.per_second.get())).max(1)
}

impl SharedBuckets {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The key in Redis of `scope`'s bucket at `rate` for `id` (an identity, never a secret).
    fn name(&self, scope: Scope, rate: Rate, id: &str) -> String {
        self.shared.key(&format!("limit:{}:{}/s:{}:{id}", scope.as_str(), rate.per_second, rate.burst))
    }

    /// Takes a unit from each of `buckets` if each has one, else from none and names the first
    /// that had none; `Unavailable` when Redis did not answer, and nothing is known.
    pub(super) async fn take(&self, buckets: &[(Scope, Rate, &str)]) -> Result<Result<(), Refused>, Unavailable> {
        let mut call = GCRA.prepare_invoke();
        for &(scope, rate, id) in buckets {
            call.key(self.name(scope, rate, id)).arg(interval_us(rate)).arg(rate.burst.get());
        }
        let (refusing, wait_us): (usize, u64) = self
            .shared
            .run(Part::Limits, |mut connection| async move { call.invoke_async(&mut connection).await })
            .await?;
        match refusing.checked_sub(1).map(|i| buckets.get(i)) {
            None => Ok(Ok(())),
            Some(Some((scope, _, _))) => Ok(Err(scope.refused(Duration::from_micros(wait_us)))),
            Some(None) => Err(Unavailable::Failed(format!("the limits script named bucket {refusing}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SecretValue, SharedConfig};

    fn buckets(prefix: &str) -> SharedBuckets {
        let config = SharedConfig {
            url: Some(SecretValue::Literal("redis://127.0.0.1:1".into())),
            prefix: prefix.into(),
            ..SharedConfig::default()
        };
        SharedBuckets::new(Shared::new(&config).unwrap().unwrap())
    }

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate::of(crate::config::RateConfig { per_second, burst }).unwrap()
    }

    #[tokio::test]
    async fn a_bucket_is_named_by_its_limit_and_what_it_limits() {
        let buckets = buckets("pay-eu");
        assert_eq!(buckets.name(Scope::ApiKey, rate(20, 40), "sk:acme:0"), "pay-eu:limit:api_key:20/s:40:sk:acme:0");
        assert_eq!(buckets.name(Scope::Merchant, rate(5, 0), "acme"), "pay-eu:limit:merchant:5/s:5:acme");
        assert_eq!(
            buckets.name(Scope::ConnectorAccount, rate(1, 3), "acme/web/first"),
            "pay-eu:limit:connector_account:1/s:3:acme/web/first"
        );
        assert_ne!(
            buckets.name(Scope::ApiKey, rate(20, 40), "sk:acme:0"),
            buckets.name(Scope::ApiKey, rate(20, 41), "sk:acme:0"),
            "an edited limit starts a new bucket"
        );
    }

    #[test]
    fn a_units_interval_is_whole_microseconds_and_never_zero() {
        assert_eq!(interval_us(rate(1, 1)), 1_000_000);
        assert_eq!(interval_us(rate(3, 1)), 333_333);
        assert_eq!(interval_us(rate(u32::MAX, 1)), 1);
    }
}
