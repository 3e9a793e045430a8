//! Live health of one connector account: how its recent calls went and how long they took, over a
//! sliding window. Routing scripts read it (`ctx.health`, `ctx.first_healthy`) to steer payments
//! away from an account that is failing. A decline is a healthy answer; only calls the provider
//! did not answer properly count as failures.
//!
//! Each account has its own small lock, held for a few instructions; there is no lock shared
//! between accounts.

use std::sync::Mutex;
use std::time::Duration;

/// How many recent calls the window keeps.
const WINDOW: usize = 128;
/// Fewer calls than this say too little to call an account unhealthy.
const MIN_CALLS: usize = 10;
/// Below this success rate an account with enough calls is unhealthy.
const HEALTHY_RATE: f64 = 0.5;

#[derive(Debug, Default)]
pub struct Health {
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    calls: Vec<(bool, Duration)>,
    next: usize,
    /// How many of `calls` succeeded, kept as calls come and go so `is_healthy` costs nothing.
    ok: usize,
}

fn healthy(calls: usize, success_rate: f64) -> bool {
    calls < MIN_CALLS || success_rate >= HEALTHY_RATE
}

/// A moment's view of an account's health.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthSnapshot {
    pub calls: usize,
    pub success_rate: f64,
    pub p95: Duration,
}

impl HealthSnapshot {
    /// An account nothing is known about yet.
    pub const UNKNOWN: HealthSnapshot = HealthSnapshot { calls: 0, success_rate: 1.0, p95: Duration::ZERO };

    pub fn is_healthy(&self) -> bool {
        healthy(self.calls, self.success_rate)
    }
}

impl Health {
    pub fn record(&self, ok: bool, took: Duration) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.calls.len() < WINDOW {
            w.calls.push((ok, took));
        } else {
            let i = w.next;
            let (was_ok, _) = std::mem::replace(&mut w.calls[i], (ok, took));
            w.ok -= usize::from(was_ok);
        }
        w.ok += usize::from(ok);
        w.next = (w.next + 1) % WINDOW;
    }

    /// Whether the account is healthy, without the cost of a full snapshot.
    pub fn is_healthy(&self) -> bool {
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let calls = w.calls.len();
        calls == 0 || healthy(calls, w.ok as f64 / calls as f64)
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let calls = w.calls.len();
        if calls == 0 {
            return HealthSnapshot::UNKNOWN;
        }
        let ok = w.ok;
        let mut took: Vec<Duration> = w.calls.iter().map(|(_, t)| *t).collect();
        took.sort_unstable();
        let p95 = took[(calls * 95).div_ceil(100) - 1];
        HealthSnapshot { calls, success_rate: ok as f64 / calls as f64, p95 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_account_turns_unhealthy_once_there_is_evidence() {
        let h = Health::default();
        for _ in 0..MIN_CALLS - 1 {
            h.record(false, Duration::from_millis(5));
        }
        assert!(h.snapshot().is_healthy() && h.is_healthy(), "too few calls to judge");
        h.record(false, Duration::from_millis(5));
        assert!(!h.snapshot().is_healthy() && !h.is_healthy());
        for _ in 0..WINDOW {
            h.record(true, Duration::from_millis(1));
        }
        let s = h.snapshot();
        assert_eq!((s.calls, s.success_rate), (WINDOW, 1.0), "the window forgets old failures");
        assert!(h.is_healthy());
    }

    #[test]
    fn p95_is_read_from_the_window() {
        let h = Health::default();
        for ms in 1..=100 {
            h.record(true, Duration::from_millis(ms));
        }
        assert_eq!(h.snapshot().p95, Duration::from_millis(95));
    }
}
