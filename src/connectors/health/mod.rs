//! Live health of one connector account: how its recent calls went and how long they took, over a
//! sliding window, and the circuit breaker that follows from it. Routing scripts read it
//! (`ctx.health`, `ctx.first_healthy`) to steer payments away from an account that is failing. A
//! decline is a healthy answer; only calls the provider did not answer properly count as failures.
//!
//! The circuit opens when, over enough recent calls, fewer than half succeeded or half took longer
//! than `SLOW`; an open circuit takes no calls. After `COOL_DOWN` one call goes through as a probe
//! (half-open): its success closes the circuit with a fresh window, its failure opens it again.
//!
//! Each account has its own small lock, held for a few instructions; there is no lock shared
//! between accounts.
//!
//! With `[shared]` set, the window and the circuit that count are the ones in Redis (`shared`),
//! which every daemon records into and asks: the circuit opens after the configured number of
//! failures in total, and one probe goes out for all. Each daemon keeps its own window too, and
//! goes by it whenever Redis does not answer.

mod shared;

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use shared::SharedWindow;

/// How many recent calls the window keeps.
const WINDOW: usize = 128;
/// Fewer calls than this say too little to call an account unhealthy.
const MIN_CALLS: usize = 10;
/// Below this success rate an account with enough calls is unhealthy.
const HEALTHY_RATE: f64 = 0.5;
/// A call slower than this counts against the circuit, however it ended.
const SLOW: Duration = Duration::from_secs(5);
/// How long an open circuit waits before it lets a probe through; also how long a probe may
/// stay unanswered before another may go.
const COOL_DOWN: Duration = Duration::from_secs(30);

/// Whether an account takes calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Circuit {
    Closed,
    /// Failing: no calls until the cool-down has passed.
    Open,
    /// One probe call decides.
    HalfOpen,
}

impl Circuit {
    pub fn as_str(self) -> &'static str {
        match self {
            Circuit::Closed => "closed",
            Circuit::Open => "open",
            Circuit::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
enum State {
    #[default]
    Closed,
    Open {
        since: Instant,
    },
    HalfOpen {
        probe_sent: Option<Instant>,
    },
}

#[derive(Debug, Default)]
pub struct Health {
    window: Mutex<Window>,
    shared: Option<SharedWindow>,
    /// The shared health as last read from Redis; `None` while Redis does not answer, when this
    /// daemon's own window is what counts.
    view: Mutex<Option<HealthSnapshot>>,
}

#[derive(Debug, Default)]
struct Window {
    calls: Vec<(bool, Duration)>,
    next: usize,
    /// How many of `calls` succeeded, kept as calls come and go so `is_healthy` costs nothing.
    ok: usize,
    /// How many of `calls` were slower than `SLOW`, kept the same way.
    slow: usize,
    state: State,
}

impl Window {
    fn failing(&self) -> bool {
        let calls = self.calls.len();
        calls >= MIN_CALLS && (!healthy(calls, self.ok as f64 / calls as f64) || self.slow * 2 >= calls)
    }

    fn circuit(&self) -> Circuit {
        match self.state {
            State::Closed => Circuit::Closed,
            State::Open { .. } => Circuit::Open,
            State::HalfOpen { .. } => Circuit::HalfOpen,
        }
    }
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
    pub circuit: Circuit,
}

impl HealthSnapshot {
    fn of(calls: usize, ok: usize, p95: Duration, circuit: Circuit) -> Self {
        match calls {
            0 => HealthSnapshot { circuit, ..HealthSnapshot::UNKNOWN },
            _ => HealthSnapshot { calls, success_rate: ok as f64 / calls as f64, p95, circuit },
        }
    }

    /// An account nothing is known about yet.
    pub const UNKNOWN: HealthSnapshot =
        HealthSnapshot { calls: 0, success_rate: 1.0, p95: Duration::ZERO, circuit: Circuit::Closed };

    pub fn is_healthy(&self) -> bool {
        self.circuit == Circuit::Closed && healthy(self.calls, self.success_rate)
    }

    /// The 95th percentile in milliseconds, as `/health` and a routing script's `health()` read
    /// it: whole nanoseconds over a million, which reads as its decimals (`12.345678`), where
    /// seconds times a thousand carries the float's rounding (`12.345678000000001`).
    pub fn p95_ms(&self) -> f64 {
        self.p95.as_nanos() as f64 / 1e6
    }
}

/// The 95th percentile of `took`.
fn p95(took: impl Iterator<Item = Duration>) -> Duration {
    let mut took: Vec<Duration> = took.collect();
    if took.is_empty() {
        return Duration::ZERO;
    }
    took.sort_unstable();
    took[(took.len() * 95).div_ceil(100) - 1]
}

impl Health {
    /// An account's health, shared through `shared` when given.
    pub fn new(shared: Option<SharedWindow>) -> Self {
        Self { shared, ..Self::default() }
    }

    /// Records a call's outcome; gives the circuit's new state when the call changed it.
    pub async fn record(&self, ok: bool, took: Duration) -> Option<Circuit> {
        let here = self.record_here(ok, took);
        let Some(shared) = &self.shared else { return here };
        match shared.record(ok, took).await {
            Ok((circuit, calls, oks)) => {
                // The percentile needs the whole window: it comes with the next refresh.
                let p95 = self.view().map_or(Duration::ZERO, |v| v.p95);
                self.see(Some(HealthSnapshot::of(calls, oks, p95, circuit)))
            }
            Err(_) => self.see(None).or(here),
        }
    }

    /// Whether a call may go to the account now (see `allow_here`); with the circuit's new state
    /// when asking changed it.
    pub async fn allow(&self) -> (bool, Option<Circuit>) {
        let Some(shared) = &self.shared else { return self.allow_here() };
        match shared.allow().await {
            Ok((allowed, circuit)) => {
                let view = self.view().unwrap_or(HealthSnapshot::UNKNOWN);
                (allowed, self.see(Some(HealthSnapshot { circuit, ..view })))
            }
            Err(_) => {
                let (allowed, changed) = self.allow_here();
                (allowed, self.see(None).or(changed))
            }
        }
    }

    /// Reads the shared health again, as other daemons have moved it; the circuit's new state
    /// when that changed it here.
    pub async fn refresh(&self) -> Option<Circuit> {
        let shared = self.shared.as_ref()?;
        self.see(shared.peek().await.ok())
    }

    fn view(&self) -> Option<HealthSnapshot> {
        // Without a shared window there is never a view: routing's reads take no second lock.
        self.shared.as_ref()?;
        *self.view.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `view` as what counts now (`None`: this daemon's own window); gives the circuit when
    /// that differs from what counted before.
    fn see(&self, view: Option<HealthSnapshot>) -> Option<Circuit> {
        let before = self.circuit();
        *self.view.lock().unwrap_or_else(|e| e.into_inner()) = view;
        Some(self.circuit()).filter(|now| *now != before)
    }

    /// Records a call's outcome in this daemon's own window.
    fn record_here(&self, ok: bool, took: Duration) -> Option<Circuit> {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let was = w.circuit();
        let slow = took > SLOW;
        if w.calls.len() < WINDOW {
            w.calls.push((ok, took));
        } else {
            let i = w.next;
            let (was_ok, was_took) = std::mem::replace(&mut w.calls[i], (ok, took));
            w.ok -= usize::from(was_ok);
            w.slow -= usize::from(was_took > SLOW);
        }
        w.ok += usize::from(ok);
        w.slow += usize::from(slow);
        w.next = (w.next + 1) % WINDOW;
        w.state = match w.state {
            State::HalfOpen { .. } if ok && !slow => {
                // The probe went through: a fresh start, the failures that opened it forgotten.
                *w = Window::default();
                State::Closed
            }
            State::HalfOpen { .. } => State::Open { since: Instant::now() },
            State::Closed if w.failing() => State::Open { since: Instant::now() },
            state => state,
        };
        Some(w.circuit()).filter(|now| *now != was)
    }

    /// Whether a call may go to the account now. A closed circuit takes every call; an open one
    /// none until its cool-down has passed, then one probe, and no other until the probe's
    /// outcome is recorded (or it has gone unanswered for a cool-down).
    /// Gives whether it may, and the circuit's new state when this let a probe through an open one.
    fn allow_here(&self) -> (bool, Option<Circuit>) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match w.state {
            State::Closed => (true, None),
            State::Open { since } if now.duration_since(since) < COOL_DOWN => (false, None),
            State::HalfOpen { probe_sent: Some(sent) } if now.duration_since(sent) < COOL_DOWN => (false, None),
            State::Open { .. } => {
                w.state = State::HalfOpen { probe_sent: Some(now) };
                (true, Some(Circuit::HalfOpen))
            }
            State::HalfOpen { .. } => {
                w.state = State::HalfOpen { probe_sent: Some(now) };
                (true, None)
            }
        }
    }

    /// The circuit as routing sees it (see `snapshot`).
    fn circuit(&self) -> Circuit {
        match self.view() {
            Some(view) => view.circuit,
            None => self.window.lock().unwrap_or_else(|e| e.into_inner()).circuit(),
        }
    }

    /// Whether the account is healthy, without the cost of a full snapshot.
    pub fn is_healthy(&self) -> bool {
        if let Some(view) = self.view() {
            return view.is_healthy();
        }
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let calls = w.calls.len();
        w.circuit() == Circuit::Closed && (calls == 0 || healthy(calls, w.ok as f64 / calls as f64))
    }

    /// The account's health as routing sees it: the shared one while Redis answers, else this
    /// daemon's own.
    pub fn snapshot(&self) -> HealthSnapshot {
        if let Some(view) = self.view() {
            return view;
        }
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        HealthSnapshot::of(w.calls.len(), w.ok, p95(w.calls.iter().map(|(_, t)| *t)), w.circuit())
    }

    /// Ends the cool-down now, as if it had passed (tests of the half-open state).
    #[cfg(test)]
    fn expire_cool_down(&self) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let past = Instant::now() - COOL_DOWN;
        w.state = match w.state {
            State::Open { .. } => State::Open { since: past },
            State::HalfOpen { .. } => State::HalfOpen { probe_sent: Some(past) },
            state => state,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_reads_as_whole_nanoseconds_in_milliseconds() {
        for (nanos, text) in [(12_345_678, "12.345678"), (7_652_000, "7.652"), (250_000, "0.25"), (0, "0.0")] {
            let snapshot = HealthSnapshot { p95: Duration::from_nanos(nanos), ..HealthSnapshot::UNKNOWN };
            assert_eq!(serde_json::to_string(&snapshot.p95_ms()).unwrap(), text);
        }
    }

    #[test]
    fn a_failing_account_turns_unhealthy_once_there_is_evidence() {
        let h = Health::default();
        for _ in 0..MIN_CALLS - 1 {
            h.record_here(false, Duration::from_millis(5));
        }
        assert!(h.snapshot().is_healthy() && h.is_healthy(), "too few calls to judge");
        h.record_here(false, Duration::from_millis(5));
        assert!(!h.snapshot().is_healthy() && !h.is_healthy());

        // Failures among enough successes never open it, and the window forgets them.
        let h = Health::default();
        for ok in [true; 20].into_iter().chain([false; MIN_CALLS]) {
            h.record_here(ok, Duration::from_millis(5));
        }
        assert_eq!(h.circuit(), Circuit::Closed);
        for _ in 0..WINDOW {
            h.record_here(true, Duration::from_millis(1));
        }
        let s = h.snapshot();
        assert_eq!(
            (s.calls, s.success_rate, s.circuit),
            (WINDOW, 1.0, Circuit::Closed),
            "the window forgets old failures"
        );
        assert!(h.is_healthy());
    }

    #[test]
    fn the_circuit_opens_on_failures_probes_after_its_cool_down_and_closes_on_success() {
        let h = Health::default();
        for _ in 0..MIN_CALLS {
            assert!(h.allow_here().0);
            h.record_here(false, Duration::from_millis(5));
        }
        assert_eq!(h.circuit(), Circuit::Open);
        assert!(!h.allow_here().0, "an open circuit takes no calls");
        assert_eq!(h.snapshot().circuit, Circuit::Open);
        h.expire_cool_down();
        assert!(h.allow_here().0, "one probe after the cool-down");
        assert_eq!(h.circuit(), Circuit::HalfOpen);
        assert!(!h.allow_here().0, "and only one");
        h.record_here(false, Duration::from_millis(5));
        assert_eq!(h.circuit(), Circuit::Open, "a failed probe opens it again");
        h.expire_cool_down();
        assert!(h.allow_here().0);
        h.record_here(true, Duration::from_millis(5));
        assert_eq!(h.circuit(), Circuit::Closed);
        assert!(h.is_healthy() && h.allow_here().0);
        assert_eq!(h.snapshot().calls, 0, "the failures that opened it are forgotten");
    }

    #[test]
    fn slow_calls_open_the_circuit_too_and_an_unanswered_probe_is_replaced() {
        let h = Health::default();
        for _ in 0..MIN_CALLS {
            h.record_here(true, SLOW + Duration::from_millis(1));
        }
        assert_eq!(h.circuit(), Circuit::Open, "half or more of the calls were slow");
        h.expire_cool_down();
        assert!(h.allow_here().0);
        assert!(!h.allow_here().0);
        h.expire_cool_down();
        assert!(h.allow_here().0, "a probe unanswered for a cool-down is replaced");
    }

    #[test]
    fn p95_is_read_from_the_window() {
        let h = Health::default();
        for ms in 1..=100 {
            h.record_here(true, Duration::from_millis(ms));
        }
        assert_eq!(h.snapshot().p95, Duration::from_millis(95));
    }
}
