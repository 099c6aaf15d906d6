//! Exponential backoff with a cap, shared by every retry loop of the daemon:
//! the cache's refresh retries and the wait for the upstream identity at start.
//!
//! Jitter is a number in `0..1` the caller passes in (`fastrand::f64()` in
//! production), so tests choose it and get exact delays.

use std::time::Duration;

/// Doublings past this add nothing: any sane base has reached its cap by then,
/// and the multiplier stays clear of overflow.
const MAX_DOUBLINGS: u32 = 16;

/// Delays that double from `base` after each failure, up to `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap }
    }

    /// The delay after `failures` consecutive failures (counted from 1):
    /// `base × 2^(failures − 1)`, at most `cap`.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(MAX_DOUBLINGS);
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }

    /// [`delay`](Self::delay) with "equal jitter": half of it fixed, half
    /// scaled by `jitter` (0..1), so retries spread out yet never bunch at zero.
    pub fn jittered(&self, failures: u32, jitter: f64) -> Duration {
        let delay = self.delay(failures);
        delay / 2 + delay.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn delays_double_from_the_base_up_to_the_cap() {
        let b = Backoff::new(SECOND, 30 * SECOND);
        let delays: Vec<u64> = (1..=7).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.delay(0), SECOND, "no failure yet counts as the first");
        assert_eq!(b.delay(u32::MAX), 30 * SECOND);
    }

    #[test]
    fn a_sub_second_base_doubles_too() {
        let b = Backoff::new(Duration::from_millis(250), 30 * SECOND);
        let delays: Vec<u128> = (1..=9).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(
            delays,
            [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]
        );
    }

    #[test]
    fn equal_jitter_keeps_between_half_and_the_whole_delay() {
        let b = Backoff::new(SECOND, 30 * SECOND);
        assert_eq!(b.jittered(4, 0.0), 4 * SECOND);
        assert_eq!(b.jittered(4, 0.5), 6 * SECOND);
        assert_eq!(b.jittered(4, 1.0), 8 * SECOND);
        assert_eq!(b.jittered(9, 1.0), 30 * SECOND);
        // Out-of-range jitter is held to the range rather than trusted.
        assert_eq!(b.jittered(4, 7.0), 8 * SECOND);
        assert_eq!(b.jittered(4, -1.0), 4 * SECOND);
    }
}
