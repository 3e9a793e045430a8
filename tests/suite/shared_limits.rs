//! Rate limits shared through Redis by three daemons on one database: an API key's limit and a
//! connector account's quota are held once for all of them; a request takes from its key's and
//! its merchant's buckets together or from neither; and while Redis is down or stalled, each
//! daemon answers at once and limits by its own buckets, going back to Redis's once it answers.

use crate::common;
use crate::limits::{assert_limited, rate, send};

use std::time::{Duration, Instant};

use common::redis::Redis;
use common::*;
use reqwest::StatusCode;
use switchyard::config::{Config, ConnectorAccountConfig, SecretValue};
use tempfile::TempDir;

const LIST: &str = "/v2/payments/list";

/// Three daemons on one database, sharing `redis` when it is given. Calls to Redis may take up to
/// `timeout_ms`: where a test is not about a slow Redis, that is long enough that no call on a
/// loaded machine gives up and counts in a daemon's own bucket instead.
async fn three(mut config: Config, dir: TempDir, redis: Option<&Redis>, timeout_ms: u64) -> [TestApp; 3] {
    config.shared.url = redis.map(|r| SecretValue::Literal(r.url.clone()));
    config.shared.timeout_ms = timeout_ms;
    config.shared.retry_ms = 300;
    let a = TestApp::start_with(dir, config).await;
    let (b, c) = (a.another().await, a.another().await);
    assert_eq!(
        b.config.shared.url.as_ref().map(|u| u.resolve().unwrap().expose().clone()),
        redis.map(|r| r.url.clone())
    );
    [a, b, c]
}

async fn with_limits(redis: Option<&Redis>, per_key: (u32, u32), timeout_ms: u64) -> [TestApp; 3] {
    let dir = TempDir::new().unwrap();
    let mut config = config(dir.path());
    config.limits.per_key = rate(per_key.0, per_key.1);
    three(config, dir, redis, timeout_ms).await
}

/// `n` requests as acme at once, spread over `apps` in turn: how many were admitted, and how long
/// they all took. Each is answered 200 or 429 in the wire format, never anything else.
async fn requests(apps: &[&TestApp], n: usize) -> (usize, Duration) {
    let started = Instant::now();
    let answers = join_all((0..n).map(|i| send(apps[i % apps.len()], ACME_KEY, Some("web"), LIST, None))).await;
    let elapsed = started.elapsed();
    let mut admitted = 0;
    for res in answers {
        match res.status() {
            StatusCode::OK => admitted += 1,
            _ => assert_limited(res, "api_key").await,
        }
    }
    (admitted, elapsed)
}

/// What a bucket refilling `per_second` gives back over `elapsed`: a run that took that long may
/// rightly admit that many more than the burst.
fn refilled(per_second: u32, elapsed: Duration) -> usize {
    (f64::from(per_second) * elapsed.as_secs_f64()).ceil() as usize
}

#[tokio::test(flavor = "multi_thread")]
async fn three_daemons_hold_one_api_limit_together() {
    let redis = Redis::start().await;
    let [a, b, c] = with_limits(Some(&redis), (20, 20), 1000).await;
    let (admitted, elapsed) = requests(&[&a, &b, &c], 60).await;
    // Three buckets of their own would admit all 60; one shared admits 20, and 20 a second more
    // for as long as the requests took. A run too slow to tell the two apart proves nothing.
    let refill = refilled(20, elapsed);
    assert!(22 + refill < 60, "60 requests took {elapsed:?}: too slow to tell one bucket from three");
    assert!((18..=22 + refill).contains(&admitted), "{admitted} of 60 admitted in {elapsed:?}");
    // Redis holds the bucket under the key's identity, never the key.
    let keys = redis.keys("*").await;
    assert!(keys.iter().any(|k| k.starts_with("switchyard:limit:api_key:20/s:20:sk:acme:")), "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains(ACME_KEY)), "{keys:?}");
    for app in [a, b, c] {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_takes_from_its_keys_and_its_merchants_buckets_together_or_from_neither() {
    let redis = Redis::start().await;
    let dir = TempDir::new().unwrap();
    let mut config = config(dir.path());
    config.limits.per_key = rate(1, 3);
    config.limits.per_merchant = rate(1, 2);
    let [a, b, c] = three(config, dir, Some(&redis), 1000).await;
    assert_eq!(send(&a, ACME_KEY, Some("web"), LIST, None).await.status(), 200);
    assert_eq!(send(&b, ACME_KEY, Some("web"), LIST, None).await.status(), 200);
    let key = redis.keys("switchyard:limit:api_key:*").await.pop().expect("the key's bucket");
    let before = redis.get(&key).await;
    assert_limited(send(&c, ACME_KEY, Some("web"), LIST, None).await, "merchant").await;
    assert_eq!(redis.get(&key).await, before, "the merchant refused, yet the key's bucket was taken from");
    for app in [a, b, c] {
        app.stop().await;
    }
}

/// Nine payments at once over `apps`, acme/web routing to `account` (1 a second, 3 at once) and
/// then `sandbox`: how many `account` took, how long they took, and how many times routing passed
/// `account` over for its quota (`switchyard_failovers_total`, which `account` alone counts in).
async fn nine_payments(apps: &[TestApp; 3], account: &str) -> (usize, Duration, f64) {
    let started = Instant::now();
    let paid = join_all((0..9).map(|i| pay(&apps[i % 3], payment("4242424242424242")))).await;
    let elapsed = started.elapsed();
    let mut taken = 0;
    for body in &paid {
        assert_eq!(body["status"], "succeeded", "{body}");
        assert_eq!(attempts(body).len(), 1, "no attempt on an account out of quota: {body}");
        taken += usize::from(body["merchant_connector_id"] == account);
    }
    let metrics = apps[0].client.get(format!("{}/metrics", apps[0].base)).send().await.unwrap().text().await.unwrap();
    let passed_over = metrics
        .lines()
        .find(|l| {
            l.starts_with("switchyard_failovers_total{")
                && l.contains(&format!("account=\"{account}\""))
                && l.contains("cause=\"quota_exhausted\"")
        })
        .map_or(0.0, |l| l.rsplit(' ').next().unwrap().parse().unwrap());
    (taken, elapsed, passed_over)
}

async fn with_quota(redis: Option<&Redis>, account: &str) -> [TestApp; 3] {
    let dir = TempDir::new().unwrap();
    let quota = ConnectorAccountConfig { rate_limit: rate(1, 3), ..sandbox_account(account) };
    let config = config_with(dir.path(), vec![quota, sandbox_account("sandbox")], &[account, "sandbox"]);
    three(config, dir, redis, 1000).await
}

#[tokio::test(flavor = "multi_thread")]
async fn three_daemons_hold_one_connector_accounts_quota_together() {
    let redis = Redis::start().await;
    let apps = with_quota(Some(&redis), "shared_quota").await;
    let (taken, elapsed, passed_over) = nine_payments(&apps, "shared_quota").await;
    let refill = refilled(1, elapsed);
    assert!(3 + refill < 9, "9 payments took {elapsed:?}: too slow to tell one quota from three");
    assert!((3..=3 + refill).contains(&taken), "the account took {taken} of 9 payments in {elapsed:?}");
    assert_eq!(passed_over as usize, 9 - taken, "the others fall through for the account's quota");
    for app in apps {
        app.stop().await;
    }

    // Each daemon on its own would let the account take its whole burst: all nine.
    let apps = with_quota(None, "own_quota").await;
    let (taken, _, passed_over) = nine_payments(&apps, "own_quota").await;
    assert_eq!((taken, passed_over), (9, 0.0));
    for app in apps {
        app.stop().await;
    }
}

/// Sends `n` requests one after the other to `app`: how many were admitted, and how long they took.
async fn one_by_one(app: &TestApp, key: &str, n: usize) -> (usize, Duration) {
    let started = Instant::now();
    let mut admitted = 0;
    for _ in 0..n {
        let res = send(app, key, Some("web"), LIST, None).await;
        match res.status() {
            StatusCode::OK => admitted += 1,
            _ => assert_limited(res, "api_key").await,
        }
    }
    (admitted, started.elapsed())
}

/// What Redis holds of globex's key's bucket.
async fn globex_bucket(redis: &Redis) -> Option<Vec<u8>> {
    let key = redis.keys("switchyard:limit:api_key:*:sk:globex:*").await.pop()?;
    redis.get(&key).await
}

/// Waits until `app`'s requests take from Redis's buckets again: a request as globex changes
/// globex's bucket there. (Globex's bucket never runs out here: each daemon takes from it once.)
async fn until_shared(app: &TestApp, redis: &Redis) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = globex_bucket(redis).await;
        let res = send(app, GLOBEX_KEY, Some("web"), LIST, None).await;
        assert!([StatusCode::OK, StatusCode::TOO_MANY_REQUESTS].contains(&res.status()), "{}", res.status());
        let after = globex_bucket(redis).await;
        if after.is_some() && after != before {
            return;
        }
        assert!(Instant::now() < deadline, "the daemon never went back to Redis's buckets");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn while_redis_is_down_or_stalled_each_daemon_limits_alone_and_answers_at_once() {
    let mut redis = Redis::start().await;
    // A call to Redis gives up after 200 ms and leaves it alone for 300 ms.
    let [a, b, c] = with_limits(Some(&redis), (1, 5), 200).await;
    for app in [&a, &b, &c] {
        until_shared(app, &redis).await;
    }

    // Down: every request is answered, and a daemon holds the limit by its own bucket, which
    // refuses past its burst; another daemon's bucket is its own.
    redis.kill();
    let (admitted, elapsed) = one_by_one(&a, ACME_KEY, 8).await;
    let refill = refilled(1, elapsed);
    assert!(5 + refill < 8, "8 requests took {elapsed:?}: too slow to see the burst refused");
    assert!((5..=5 + refill).contains(&admitted), "{admitted} of 8 admitted in {elapsed:?}");
    assert_eq!(one_by_one(&b, ACME_KEY, 1).await.0, 1);

    // Back: each daemon takes from Redis's buckets again, a fresh one for acme's key, which the
    // three daemons hold together (their own buckets would admit more: b's and c's are nearly full).
    redis.restart().await;
    for app in [&a, &b, &c] {
        until_shared(app, &redis).await;
    }
    let (admitted, elapsed) = requests(&[&a, &b, &c], 15).await;
    let refill = refilled(1, elapsed);
    assert!(5 + refill < 9, "15 requests took {elapsed:?}: too slow to tell one bucket from three");
    assert!((5..=5 + refill).contains(&admitted), "{admitted} of 15 admitted in {elapsed:?}");

    // Stalled for 3 s: a request is answered once the call to Redis gives up, long before Redis
    // answers, and c limits by its own bucket, full, where Redis's is spent.
    redis.stall(3).await;
    let started = Instant::now();
    let res = send(&c, ACME_KEY, Some("web"), LIST, None).await;
    let first = started.elapsed();
    assert_eq!(res.status(), 200);
    assert!(first < Duration::from_secs(1), "answered after {first:?}, while Redis stalled");
    let (admitted, elapsed) = one_by_one(&c, ACME_KEY, 6).await;
    let refill = refilled(1, first + elapsed);
    assert!(first + elapsed < Duration::from_millis(2500), "the stall was over before the requests were");
    assert!((4..=4 + refill).contains(&admitted), "{admitted} of 6 more admitted in {elapsed:?}");
    for app in [a, b, c] {
        app.stop().await;
    }
}
