//! Waits that double: how the reconciler spaces its looks at a payment that stays unsettled, and
//! how webhook delivery spaces its tries at an endpoint that keeps failing.

/// The wait after `n` earlier waits: `base_ms`, doubled `n` times, never above `max_ms` (nor
/// below `base_ms`).
pub fn doubling(base_ms: u64, max_ms: u64, n: i64) -> chrono::Duration {
    let doublings = u32::try_from(n.clamp(0, 32)).unwrap_or(32);
    millis(base_ms.saturating_mul(1u64 << doublings).min(max_ms.max(base_ms)))
}

/// A configured number of milliseconds as a span of time.
pub fn millis(ms: u64) -> chrono::Duration {
    chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_ceiling() {
        let waits: Vec<i64> = (0..6).map(|n| doubling(1_000, 10_000, n).num_milliseconds()).collect();
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(doubling(1_000, 10_000, i64::MAX).num_milliseconds(), 10_000);
        assert_eq!(doubling(1_000, 10, 3).num_milliseconds(), 1_000, "never below the base");
    }
}
