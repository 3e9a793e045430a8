//! A connector account's health kept in Redis, shared by every daemon: the window of recent
//! calls, and the circuit with its one probe. Each step is a script Redis runs atomically,
//! following the rules of the local `Health` with its thresholds passed in, so the two cannot
//! drift apart in what they count.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;

use super::{p95, Circuit, HealthSnapshot, COOL_DOWN, HEALTHY_RATE, MIN_CALLS, SLOW, WINDOW};
use crate::shared::{Part, Shared, Unavailable};

static RECORD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("record.lua")));
static ALLOW: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("allow.lua")));
static PEEK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("peek.lua")));

/// How long an account's keys outlive its last call: an account removed from the configuration
/// leaves nothing behind for long.
const KEEP: Duration = Duration::from_secs(24 * 3600);

/// One account's keys in Redis.
pub struct SharedWindow {
    shared: Arc<Shared>,
    state: String,
    calls: String,
}

impl std::fmt::Debug for SharedWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedWindow").field("key", &self.state).finish()
    }
}

fn circuit(name: &str) -> Result<Circuit, Unavailable> {
    match name {
        "closed" => Ok(Circuit::Closed),
        "open" => Ok(Circuit::Open),
        "half_open" => Ok(Circuit::HalfOpen),
        other => Err(Unavailable::Failed(format!("an account's circuit in Redis is `{other}`"))),
    }
}

impl SharedWindow {
    /// The keys of the account `id` names (merchant, profile, account and its connector: the
    /// same name on another connector is another account's health).
    pub fn new(shared: Arc<Shared>, id: &str) -> Self {
        let state = shared.key(&format!("health:{id}"));
        let calls = format!("{state}:calls");
        Self { shared, state, calls }
    }

    /// Records a call; gives the circuit after it, the calls the window holds and how many
    /// succeeded.
    pub async fn record(&self, ok: bool, took: Duration) -> Result<(Circuit, usize, usize), Unavailable> {
        let (state, calls): (String, (usize, usize)) = self
            .shared
            .run(Part::Health, |mut connection| async move {
                let (state, calls, oks): (String, usize, usize) = RECORD
                    .key(&self.state)
                    .key(&self.calls)
                    .arg(u8::from(ok))
                    .arg(micros(took))
                    .arg(WINDOW)
                    .arg(MIN_CALLS)
                    .arg(HEALTHY_RATE)
                    .arg(micros(SLOW))
                    .arg(KEEP.as_millis() as u64)
                    .invoke_async(&mut connection)
                    .await?;
                Ok((state, (calls, oks)))
            })
            .await?;
        Ok((circuit(&state)?, calls.0, calls.1))
    }

    /// Whether a call may go now, and the circuit after asking.
    pub async fn allow(&self) -> Result<(bool, Circuit), Unavailable> {
        let (allowed, state): (u8, String) = self
            .shared
            .run(Part::Health, |mut connection| async move {
                ALLOW.key(&self.state).arg(COOL_DOWN.as_millis() as u64).invoke_async(&mut connection).await
            })
            .await?;
        Ok((allowed == 1, circuit(&state)?))
    }

    /// The account's health as every daemon sees it.
    pub async fn peek(&self) -> Result<HealthSnapshot, Unavailable> {
        let (state, oks, window): (String, usize, Vec<String>) = self
            .shared
            .run(Part::Health, |mut connection| async move {
                PEEK.key(&self.state).key(&self.calls).invoke_async(&mut connection).await
            })
            .await?;
        let took = window.iter().filter_map(|call| call.split_once(',')?.1.parse().ok()).map(Duration::from_micros);
        Ok(HealthSnapshot::of(window.len(), oks, p95(took), circuit(&state)?))
    }
}

fn micros(took: Duration) -> u64 {
    u64::try_from(took.as_micros()).unwrap_or(u64::MAX)
}
