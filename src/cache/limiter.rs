//! The daemon's own limit on new upstream loads: a token bucket on the
//! injected clock, so a burst of new scopes cannot spend GetDataAccess quota
//! that refreshes of scopes in use will need.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A token bucket refilled at `rate` per second up to `burst`.
pub(super) struct LoadLimiter {
    rate: f64,
    burst: f64,
    /// Taken only to refill and spend, never across an await.
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    last: SystemTime,
}

impl LoadLimiter {
    /// A full bucket at `now`.
    pub(super) fn new(rate: f64, burst: f64, now: SystemTime) -> LoadLimiter {
        LoadLimiter {
            rate,
            burst,
            bucket: Mutex::new(Bucket {
                tokens: burst,
                last: now,
            }),
        }
    }

    /// Spends one token if there is one.
    pub(super) fn take(&self, now: SystemTime) -> bool {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.duration_since(b.last).unwrap_or(Duration::ZERO);
        b.last = now;
        b.tokens = (b.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_refills() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let limiter = LoadLimiter::new(2.0, 3.0, t0);
        assert!((0..3).all(|_| limiter.take(t0)));
        assert!(!limiter.take(t0));
        let later = t0 + Duration::from_millis(500);
        assert!(limiter.take(later));
        assert!(!limiter.take(later));
        // Refill stops at the burst, however long the bucket sat idle.
        let much_later = t0 + Duration::from_secs(3_600);
        assert_eq!((0..10).filter(|_| limiter.take(much_later)).count(), 3);
    }
}
