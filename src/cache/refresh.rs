//! The refresh policy and the refresher task that carries it out: when each
//! entry is renewed, how failed renewals back off, and when an entry is
//! dropped instead (idle, or refused).

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use super::entry::Entry;
use super::{CacheSettings, Inner};
use crate::backoff::Backoff;
use crate::credentials::format_timestamp;

/// When to renew credentials issued at `issued` that expire at `expiration`.
///
/// Once half the lifetime has passed, spread by `jitter` (0..1) over a window
/// that ends `refresh_floor` before expiry when the lifetime allows (at most a
/// tenth of the lifetime), else over a twentieth of the lifetime. Never later
/// than just before the serve floor.
pub fn refresh_time(
    issued: SystemTime,
    expiration: SystemTime,
    jitter: f64,
    settings: &CacheSettings,
) -> SystemTime {
    let life = expiration.duration_since(issued).unwrap_or(Duration::ZERO);
    let half = life / 2;
    let window = if half > settings.refresh_floor {
        (half - settings.refresh_floor).min(life / 10)
    } else {
        life / 20
    };
    let candidate = issued + half + window.mul_f64(jitter.clamp(0.0, 1.0));
    let latest = expiration
        .checked_sub(settings.serve_floor + Duration::from_secs(5))
        .unwrap_or(issued);
    candidate.min(latest).max(issued + Duration::from_secs(1))
}

/// Renews one entry until it is evicted, found idle, or terminally refused.
pub(super) async fn refresher(inner: Weak<Inner>, entry: Weak<Entry>) {
    let mut failures: u32 = 0;
    let mut retry_at: Option<SystemTime> = None;
    loop {
        let (Some(i), Some(e)) = (inner.upgrade(), entry.upgrade()) else {
            return;
        };
        let due = retry_at.unwrap_or_else(|| e.current().refresh_at);
        let wait = due.duration_since(i.clock.now()).unwrap_or(Duration::ZERO);
        // Hold no strong references while sleeping, so eviction ends this task.
        drop((i, e));
        tokio::time::sleep(wait).await;

        let (Some(inner), Some(entry)) = (inner.upgrade(), entry.upgrade()) else {
            return;
        };
        let now = inner.clock.now();
        // A replaced entry has its own refresher; this one stops.
        if !inner
            .entries
            .get(&entry.key)
            .is_some_and(|current| Arc::ptr_eq(&current, &entry))
        {
            return;
        }
        if retry_at.is_none() && now < entry.current().refresh_at {
            continue; // A cold load replaced the credentials meanwhile.
        }
        if entry.idle(now, inner.settings.idle_grace) {
            inner.evict(&entry, "idle");
            return;
        }
        match inner.fetch(&entry.origin).await {
            Ok(vended) => {
                info!(
                    scope = %entry.key,
                    access_key_id = %vended.credentials.access_key_id,
                    expiration = %format_timestamp(vended.credentials.expiration),
                    after_failures = failures,
                    "refresh"
                );
                entry.replace(vended);
                inner.metrics.refresh("ok");
                failures = 0;
                retry_at = None;
            }
            Err(e) if e.is_terminal() => {
                inner.metrics.refresh("terminal");
                warn!(scope = %entry.key, code = %e.code, reason = %e.message, "refresh refused; evicting");
                inner.remember_denial(&entry.origin, e.into());
                inner.evict(&entry, "refused");
                return;
            }
            Err(e) => {
                inner.metrics.refresh("failed");
                failures += 1;
                let delay = Backoff::new(inner.settings.retry_base, inner.settings.retry_max)
                    .jittered(failures, fastrand::f64());
                let left = entry.current().credentials.remaining(now);
                warn!(
                    scope = %entry.key,
                    code = %e.code,
                    error = %e.message,
                    failures,
                    retry_in_ms = delay.as_millis() as u64,
                    seconds_left = left.as_secs(),
                    "refresh failed; serving the last good credentials while valid"
                );
                retry_at = Some(now + delay);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_435_200)
    }

    #[test]
    fn refresh_time_lies_between_half_life_and_twenty_minutes_left() {
        let s = CacheSettings::default();
        let issued = start();
        let hour = issued + 60 * MIN;
        assert_eq!(refresh_time(issued, hour, 0.0, &s), issued + 30 * MIN);
        assert_eq!(refresh_time(issued, hour, 1.0, &s), issued + 36 * MIN);
        let twelve_hours = issued + 720 * MIN;
        assert_eq!(
            refresh_time(issued, twelve_hours, 1.0, &s),
            issued + 432 * MIN
        );
        // Too short to refresh before 20 minutes remain: half-life plus a little.
        let quarter = issued + 15 * MIN;
        let at = refresh_time(issued, quarter, 1.0, &s);
        assert!(at >= issued + Duration::from_secs(450) && at <= issued + Duration::from_secs(495));
        // Never past the serve floor, never before issue.
        let short = issued + Duration::from_secs(100);
        assert!(refresh_time(issued, short, 1.0, &s) <= short - Duration::from_secs(60));
        assert!(refresh_time(issued, issued, 0.5, &s) > issued);
    }
}
