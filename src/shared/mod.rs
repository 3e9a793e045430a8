//! State several daemons share through Redis when `[shared] url` is set: rate-limit buckets
//! (`limits`), connector accounts' health and circuits (`connectors::health`) and volatile
//! security codes (`vault`). Each part asks Redis through `Shared::run`, bounded by
//! `timeout_ms`. When Redis fails or is slow, the part goes on with what this process has (the
//! README's "Running several instances" says what each part does then), and the daemon leaves
//! Redis alone for `retry_ms` before it asks again: an outage costs a request nothing once the
//! first call has failed.
//!
//! One connection, multiplexed: every request's call is pipelined on it, and it reconnects by
//! itself. What runs in Redis runs as scripts, each one atomic there and sent by its hash once
//! loaded.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;

use crate::config::SharedConfig;

/// Which part of the daemon a call to Redis is for (the `part` label of its metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Limits,
    Health,
    Codes,
}

impl Part {
    fn as_str(self) -> &'static str {
        match self {
            Part::Limits => "limits",
            Part::Health => "health",
            Part::Codes => "codes",
        }
    }
}

/// Why Redis gave no answer: the part goes on without it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    #[error("Redis is left alone for a while after a failed call")]
    Resting,
    #[error("Redis took longer than shared.timeout_ms")]
    Timeout,
    #[error("Redis failed: {0}")]
    Failed(String),
}

pub struct Shared {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    retry: Duration,
    /// Until when (milliseconds after `epoch`) Redis is left alone; 0 while it answers.
    resting_until: AtomicU64,
    epoch: Instant,
}

/// What `[shared]` must be: a `redis://` URL the client takes, and timings of at least 1 ms.
pub fn check(config: &SharedConfig) -> Result<(), String> {
    if config.timeout_ms == 0 || config.retry_ms == 0 {
        return Err("timeout_ms and retry_ms must be at least 1".into());
    }
    if config.prefix.is_empty() || config.prefix.contains(char::is_whitespace) {
        return Err("prefix must be a word without spaces".into());
    }
    match &config.url {
        None => Ok(()),
        Some(url) => client(&url.resolve()?.expose().clone()).map(drop),
    }
}

fn client(url: &str) -> Result<redis::Client, String> {
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err("url must be a redis:// or rediss:// URL".into());
    }
    // The client's own message may repeat the URL, and with it a password.
    redis::Client::open(url).map_err(|_| "url is not a Redis URL the client can use".to_string())
}

impl Shared {
    /// The shared state `config` names, or `None` when it names none. Nothing is connected yet:
    /// the first call connects, so a daemon starts while Redis is down, and works alone.
    pub fn new(config: &SharedConfig) -> Result<Option<Arc<Shared>>, String> {
        check(config)?;
        let Some(url) = &config.url else { return Ok(None) };
        let timeout = Duration::from_millis(config.timeout_ms);
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // A call never waits for reconnection attempts: it fails, and the part goes on alone.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(config.retry_ms));
        let connection = ConnectionManager::new_lazy_with_config(client(url.resolve()?.expose())?, settings)
            .map_err(|_| "the Redis connection could not be set up".to_string())?;
        metrics::gauge!("switchyard_shared_state_up").set(1.0);
        Ok(Some(Arc::new(Shared {
            connection,
            prefix: config.prefix.clone(),
            timeout,
            retry: Duration::from_millis(config.retry_ms),
            resting_until: AtomicU64::new(0),
            epoch: Instant::now(),
        })))
    }

    /// The key of `what`, under the configured prefix.
    pub fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    /// Runs `call` on the connection for `part`, within the timeout; a failure or a timeout
    /// leaves Redis alone for `retry_ms`, during which every call is `Resting` at once.
    pub async fn run<T, F, Fut>(&self, part: Part, call: F) -> Result<T, Unavailable>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let now = self.epoch.elapsed().as_millis() as u64;
        if now < self.resting_until.load(Ordering::Relaxed) {
            count(part, "resting");
            return Err(Unavailable::Resting);
        }
        let result = match tokio::time::timeout(self.timeout, call(self.connection.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Unavailable::Failed(e.to_string())),
            Err(_) => Err(Unavailable::Timeout),
        };
        match &result {
            Ok(_) => {
                count(part, "ok");
                if self.resting_until.swap(0, Ordering::Relaxed) != 0 {
                    metrics::gauge!("switchyard_shared_state_up").set(1.0);
                    tracing::info!(part = part.as_str(), "shared state answers again");
                }
            }
            Err(e) => {
                count(part, if matches!(e, Unavailable::Timeout) { "timeout" } else { "error" });
                let until = self.epoch.elapsed().as_millis() as u64 + self.retry.as_millis() as u64;
                if self.resting_until.swap(until, Ordering::Relaxed) == 0 {
                    metrics::gauge!("switchyard_shared_state_up").set(0.0);
                    tracing::warn!(part = part.as_str(), error = %e, retry_ms = self.retry.as_millis() as u64,
                        "shared state unavailable; working alone");
                }
            }
        }
        result
    }
}

fn count(part: Part, outcome: &'static str) {
    metrics::counter!("switchyard_shared_state_calls_total", "part" => part.as_str(), "outcome" => outcome)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretValue;

    fn with_url(url: &str) -> SharedConfig {
        SharedConfig { url: Some(SecretValue::Literal(url.into())), ..SharedConfig::default() }
    }

    #[test]
    fn a_redis_url_and_timings_of_at_least_a_millisecond_are_taken() {
        assert!(check(&SharedConfig::default()).is_ok(), "nothing shared");
        assert!(check(&with_url("redis://:pw@10.0.0.5:6379/2")).is_ok());
        let refused = check(&with_url("http://10.0.0.5:6379")).unwrap_err();
        assert!(refused.contains("redis://"), "{refused}");
        let refused = check(&with_url("redis://:s3cret@[bad")).unwrap_err();
        assert!(!refused.contains("s3cret"), "the password is not repeated: {refused}");
        assert!(check(&SharedConfig { timeout_ms: 0, ..SharedConfig::default() }).is_err());
        assert!(check(&SharedConfig { prefix: "two words".into(), ..SharedConfig::default() }).is_err());
    }
}
