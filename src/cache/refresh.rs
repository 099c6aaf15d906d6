//! The refresh policy and the step that carries it out when an entry's
//! wake-up comes due in the schedule (`schedule`): when each entry is
//! renewed, which entries are worth renewing (those used since the last
//! refresh), how renewals share the refresh budget, how failed renewals back
//! off, and when an entry is dropped instead (unused, or refused).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing::{debug, info, warn};

use super::entry::{Entry, Failure, Vended};
use super::schedule::{Job, Next};
use super::{CacheSettings, Inner, entry_key};
use crate::backoff::Backoff;
use crate::credentials::format_timestamp;

/// Most time kept between the latest normal refresh and the moment the
/// served credentials would break the freshness rule, for the upstream's
/// answer, a queued turn in the refresh budget, or a quick retry. It is a
/// twentieth of the lifetime when that is less.
pub const REFRESH_SLACK_MAX: Duration = Duration::from_secs(5 * 60);

/// When credentials issued at `issued` that expire at `expiration` are renewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshPlan {
    /// When they are renewed.
    pub at: SystemTime,
    /// The latest normal renewal: until then every served credential has the
    /// life [`fresh_floor`] asks. An unused entry is dropped here.
    pub by: SystemTime,
    /// The latest renewal at all, for one kept waiting by the refresh budget:
    /// a slack before the serve floor.
    pub last: SystemTime,
}

/// The least life a credential served on the normal path has: the settings'
/// `fresh_floor` (15 min) when the lifetime is at least `fresh_lifetime` (20
/// min), else half the lifetime; never less than the serve floor (60 s).
pub fn fresh_floor(lifetime: Duration, settings: &CacheSettings) -> Duration {
    let floor = if lifetime >= settings.fresh_lifetime {
        settings.fresh_floor
    } else {
        lifetime / 2
    };
    floor.max(settings.serve_floor)
}

/// The renewal plan of credentials issued at `issued` expiring at `expiration`.
///
/// `by` lies a slack (a twentieth of the lifetime, at most
/// [`REFRESH_SLACK_MAX`]) before the credentials fall to [`fresh_floor`].
/// `at` is spread by `jitter` (0..1) over a window ending at `by`: from
/// half-life over a tenth of the lifetime when the lifetime is long enough,
/// else over the twentieth of the lifetime before `by`.
pub fn refresh_plan(
    issued: SystemTime,
    expiration: SystemTime,
    jitter: f64,
    settings: &CacheSettings,
) -> RefreshPlan {
    let life = expiration.duration_since(issued).unwrap_or(Duration::ZERO);
    let slack = (life / 20).min(REFRESH_SLACK_MAX);
    let earliest = issued + Duration::from_secs(1);
    let before_expiry = |d: Duration| expiration.checked_sub(d).unwrap_or(issued).max(earliest);
    let by = before_expiry(fresh_floor(life, settings) + slack);
    let half = issued + life / 2;
    let start = half
        .min(by.checked_sub(life / 20).unwrap_or(issued))
        .max(earliest);
    let end = (half + life / 10).min(by).max(start);
    let window = end.duration_since(start).unwrap_or(Duration::ZERO);
    RefreshPlan {
        at: start + window.mul_f64(jitter.clamp(0.0, 1.0)),
        by,
        last: before_expiry(settings.serve_floor + slack).max(by),
    }
}

/// When to renew credentials issued at `issued` that expire at `expiration`:
/// the `at` of their [`refresh_plan`].
pub fn refresh_time(
    issued: SystemTime,
    expiration: SystemTime,
    jitter: f64,
    settings: &CacheSettings,
) -> SystemTime {
    refresh_plan(issued, expiration, jitter, settings).at
}

/// Carries out one due wake-up of an entry's refresh, run by the schedule's
/// task: replans, drops the entry, books a turn in the refresh budget, or
/// starts a renewal. Never waits: a renewal runs as a task of its own and
/// queues the entry's next wake-up when the upstream has answered.
pub(super) fn step(inner: &Arc<Inner>, job: Job) {
    let Some(entry) = job.entry.upgrade() else {
        return; // Evicted: its secrets are gone already.
    };
    if !inner.holds(&entry) {
        return; // Evicted, or replaced by an entry with a schedule of its own.
    }
    let last = {
        let current = entry.current();
        if !std::ptr::eq(Arc::as_ptr(&current), job.planned.as_ptr()) {
            // A cold load renewed it meanwhile: plan afresh from its credentials.
            return inner.plan_refresh(&entry, Next::Due, 0);
        }
        current.refresh_last
    };
    let now = inner.clock.now();
    match job.next {
        Next::Due if !entry.take_used() => {
            return inner.plan_refresh(&entry, Next::Dormant, job.failures);
        }
        Next::Dormant if !entry.take_used() => return inner.evict(&entry, "idle"),
        // Past the last renewal and nobody asked since: stop retrying.
        Next::Retry(_) if now >= last && !entry.take_used() => {
            return inner.evict(&entry, "idle");
        }
        Next::Turn(_) => {}
        _ => {
            // Wait for a turn in the refresh budget, never past the last renewal.
            let turn = inner.refreshes.reserve(now);
            if !turn.is_zero() {
                let at = (now + turn).min(last).max(now);
                debug!(scope = %entry.key, wait_ms = at.duration_since(now).unwrap_or_default().as_millis() as u64, "refresh waits its turn in the refresh budget");
                return inner.plan_refresh(&entry, Next::Turn(at), job.failures);
            }
        }
    }
    let inner = inner.clone();
    let mut failures = job.failures;
    entry.set_renewing(true);
    tokio::spawn(async move {
        if let Some(next) = renew(&inner, &entry, &mut failures).await {
            inner.plan_refresh(&entry, next, failures);
        }
    });
}

/// One renewal of `entry`: what its refresh waits for next, `None` when the
/// entry is gone.
async fn renew(inner: &Arc<Inner>, entry: &Arc<Entry>, failures: &mut u32) -> Option<Next> {
    let now = inner.clock.now();
    let result = inner.fetch(&entry.origin).await;
    entry.set_renewing(false);
    if result.is_ok() {
        entry.set_failure(None);
    }
    match result {
        Ok(vended) => {
            inner.metrics.refresh("ok");
            let key = entry_key(&entry.origin, &vended);
            log_renewal(entry, &vended, *failures);
            *failures = 0;
            if key != *entry.key {
                // The request now matches another grant: its credentials
                // belong under that grant, and requests that fell under the
                // old one are served by its entry or load afresh.
                info!(scope = %entry.key, matched_grant = %key.target, "refresh matched another grant; the entry moves to it");
                inner.install(&entry.origin, vended);
                inner.evict(entry, "regranted");
                return None;
            }
            entry.replace(vended);
            Some(Next::Due)
        }
        Err(e) if e.is_terminal() => {
            inner.metrics.refresh("terminal");
            warn!(scope = %entry.key, code = %e.code, reason = %e.message, "refresh refused; evicting");
            inner.remember_denial(&entry.origin, e.into());
            inner.evict(entry, "refused");
            None
        }
        Err(e) => {
            inner.metrics.refresh("failed");
            *failures += 1;
            let delay = Backoff::new(inner.settings.retry_base, inner.settings.retry_max)
                .jittered(*failures, fastrand::f64());
            let left = entry.current().credentials.remaining(now);
            entry.set_failure(Some(Failure {
                failures: *failures,
                error: e.to_string(),
                retry_at: now + delay,
            }));
            warn!(
                scope = %entry.key,
                code = %e.code,
                error = %e.message,
                failures = *failures,
                retry_in_ms = delay.as_millis() as u64,
                seconds_left = left.as_secs(),
                "refresh failed; serving the last good credentials while valid"
            );
            Some(Next::Retry(now + delay))
        }
    }
}

fn log_renewal(entry: &Entry, vended: &Vended, failures: u32) {
    info!(
        scope = %entry.key,
        access_key_id = %vended.credentials.access_key_id,
        expiration = %format_timestamp(vended.credentials.expiration),
        after_failures = failures,
        "refresh"
    );
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_435_200)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn long_lifetimes_refresh_from_half_life_over_a_tenth_of_it() {
        let s = CacheSettings::default();
        let issued = start();
        let hour = issued + 60 * MIN;
        assert_eq!(refresh_time(issued, hour, 0.0, &s), issued + 30 * MIN);
        assert_eq!(refresh_time(issued, hour, 1.0, &s), issued + 36 * MIN);
        let plan = refresh_plan(issued, hour, 0.5, &s);
        assert_eq!(plan.by, hour - 18 * MIN, "15 min plus a 3 min slack");
        assert_eq!(plan.last, hour - 4 * MIN, "60 s plus the slack");
        let twelve_hours = issued + 720 * MIN;
        assert_eq!(
            refresh_time(issued, twelve_hours, 1.0, &s),
            issued + 432 * MIN
        );
    }

    #[test]
    fn lifetimes_under_forty_minutes_refresh_before_the_fresh_floor_and_a_slack() {
        let s = CacheSettings::default();
        let issued = start();
        // (lifetime, earliest and latest refresh), all in seconds.
        for (life, earliest, latest) in [
            (2400, 1200, 1380), // 40 min: half-life, up to 15 min + 2 min left
            (1800, 720, 810),   // 30 min: 15 min + 90 s left at the latest
            (1200, 180, 240),   // 20 min: 15 min + 60 s left at the latest
            (1000, 400, 450),   // under 20 min: half + 50 s left
            (900, 360, 405),    // 15 min: half + 45 s left
            (120, 48, 54),      // 2 min: 60 s + 6 s left
        ] {
            let expiration = issued + secs(life);
            let plan = |jitter| refresh_plan(issued, expiration, jitter, &s);
            assert_eq!(plan(0.0).at, issued + secs(earliest), "{life} s, earliest");
            assert_eq!(plan(1.0).at, issued + secs(latest), "{life} s, latest");
            assert_eq!(plan(1.0).by, issued + secs(latest), "{life} s, by");
            assert!(plan(0.5).last >= plan(0.5).by, "{life} s");
            assert!(plan(0.5).last <= expiration - MIN, "{life} s");
        }
    }

    #[test]
    fn the_fresh_floor_is_fifteen_minutes_from_twenty_else_half() {
        let s = CacheSettings::default();
        assert_eq!(fresh_floor(secs(43_200), &s), 15 * MIN);
        assert_eq!(fresh_floor(20 * MIN, &s), 15 * MIN);
        assert_eq!(fresh_floor(secs(1199), &s), secs(1199) / 2);
        assert_eq!(fresh_floor(secs(900), &s), secs(450));
        assert_eq!(
            fresh_floor(secs(100), &s),
            MIN,
            "never under the serve floor"
        );
    }

    #[test]
    fn a_plan_never_lies_before_issue_or_past_the_serve_floor() {
        let s = CacheSettings::default();
        let issued = start();
        let short = issued + secs(100);
        let plan = refresh_plan(issued, short, 1.0, &s);
        assert!(plan.last <= short - MIN);
        for expiration in [issued, issued + secs(30), issued + secs(61)] {
            let plan = refresh_plan(issued, expiration, 0.5, &s);
            assert!(plan.at > issued && plan.at <= plan.by && plan.by <= plan.last);
        }
    }
}
