//! The daemon's own limits on upstream calls: token buckets on the injected
//! clock. New loads have one and are refused when it is empty; refreshes have
//! another and wait their turn in it. Two budgets, so a burst of new scopes
//! cannot spend the GetDataAccess quota that refreshes of scopes in use need,
//! nor a wave of refreshes refuse new scopes.

use std::sync::{Mutex, MutexGuard};
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
        let mut b = self.refilled(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Books the next token, which may lie in the future: how long to wait
    /// before using it. Callers that book at once get successive turns, one
    /// every `1 / rate` seconds once the burst is spent; none is refused.
    pub(super) fn reserve(&self, now: SystemTime) -> Duration {
        let mut b = self.refilled(now);
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.rate)
        }
    }

    /// The bucket, refilled for the time since it was last looked at.
    fn refilled(&self, now: SystemTime) -> MutexGuard<'_, Bucket> {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.duration_since(b.last).unwrap_or(Duration::ZERO);
        b.last = b.last.max(now);
        b.tokens = (b.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        b
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

    #[test]
    fn reservations_past_the_burst_are_spread_at_the_rate() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let limiter = LoadLimiter::new(2.0, 2.0, t0);
        let waits: Vec<Duration> = (0..5).map(|_| limiter.reserve(t0)).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(waits, [ms(0), ms(0), ms(500), ms(1000), ms(1500)]);
        // The booked turns are owed: a second later one is still queued.
        assert_eq!(limiter.reserve(t0 + ms(1000)), ms(1000));
    }
}
