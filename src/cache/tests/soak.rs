//! A 12-hour soak on the paused clock: 200 scopes, clients asking at random
//! (seeded) times, an upstream that fails one call in ten.
//!
//! Expectations:
//! - a request for a warm scope (one with valid cached credentials) never fails;
//! - every credential served has at least 15 minutes left when its lifetime
//!   is 20 minutes or more, else half its lifetime, and never 60 s or less;
//! - one-hour scopes in steady use cost about 2 GetDataAccess calls an hour
//!   (renewal from half-life, plus the retries of the failed tenth).
//!
//! Print the figures with
//! `cargo test -p grantd --lib cache::tests::soak -- --nocapture`.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use super::*;
use crate::upstream::DataAccess;

/// How long the soak runs on the paused clock.
const SPAN: Duration = Duration::from_secs(12 * 3600);
const SCOPES: usize = 200;
/// One upstream call in this many fails (throttled or unavailable).
const FAIL_ONE_IN: u32 = 10;
/// Seeds the clients' times, the upstream's failures and the cache's jitter.
const SEED: u64 = 0x5EED_0008;
/// Scopes `0..STEADY` ask every 1 to 20 minutes; the rest are bursty.
const STEADY: usize = 160;

/// What a scope's credentials last: its index picks one, mostly an hour.
fn lifetime_of(scope: usize) -> Duration {
    Duration::from_secs(match scope % 10 {
        7 => 900,
        8 => 1800,
        9 => 43_200,
        _ => 3600,
    })
}

/// The request for a scope: a prefix inside its own grant, with its lifetime.
fn request(scope: usize, key: u32) -> DataAccessRequest {
    let mut r = req(&format!("s3://bucket/s{scope}/k{key}/*"), Permission::Read);
    r.duration_seconds = Some(lifetime_of(scope).as_secs() as u32);
    r
}

/// Fails one call in [`FAIL_ONE_IN`] before it reaches the scripted service;
/// counts every call per scope (the first path segment of the target).
struct Flaky {
    upstream: ScriptedUpstream,
    rng: Mutex<fastrand::Rng>,
    calls: Mutex<HashMap<String, u32>>,
    failed: Mutex<u32>,
}

impl Upstream for Flaky {
    fn get_data_access<'a>(
        &'a self,
        request: &'a DataAccessRequest,
    ) -> BoxFuture<'a, Result<DataAccess, UpstreamError>> {
        let scope = request.target.as_str().split('/').nth(3).unwrap_or("");
        *self.calls.lock().unwrap().entry(scope.into()).or_default() += 1;
        let roll = self.rng.lock().unwrap().u32(0..FAIL_ONE_IN * 2);
        let error = match roll {
            0 => Some(UpstreamError::new(ErrorKind::Throttled, "SlowDown", "soak")),
            1 => Some(unavailable()),
            _ => None,
        };
        Box::pin(async move {
            match error {
                Some(error) => {
                    *self.failed.lock().unwrap() += 1;
                    Err(error)
                }
                None => self.upstream.get_data_access(request).await,
            }
        })
    }

    fn resolve_identity(&self) -> BoxFuture<'_, Result<String, UpstreamError>> {
        self.upstream.resolve_identity()
    }
}

/// When each client asks, over the whole span: steady scopes every 1 to 20
/// minutes; bursty ones every 1 to 10 minutes, but one gap in ten is an idle
/// stretch of 1 to 3 hours, after which the scope is cold again.
fn schedule(rng: &mut fastrand::Rng) -> Vec<(Duration, usize, u32)> {
    let mut events = Vec::new();
    for scope in 0..SCOPES {
        let mut at = Duration::from_secs(rng.u64(0..600));
        while at < SPAN {
            events.push((at, scope, rng.u32(0..4)));
            let gap = if scope < STEADY {
                rng.u64(60..1200)
            } else if rng.u32(0..10) == 0 {
                rng.u64(3600..3 * 3600)
            } else {
                rng.u64(60..600)
            };
            at += Duration::from_secs(gap);
        }
    }
    events.sort();
    events
}

#[derive(Debug, Default)]
struct Figures {
    warm: u32,
    warm_failed: u32,
    cold: u32,
    cold_failed: u32,
    /// Served with less than the freshness rule asks (but more than 60 s).
    below_fresh_floor: u32,
    least_left_long: Option<Duration>,
    least_left_short: Option<Duration>,
}

fn least(slot: &mut Option<Duration>, left: Duration) {
    *slot = Some(slot.map_or(left, |l| l.min(left)));
}

#[tokio::test(start_paused = true)]
async fn twelve_hours_of_two_hundred_scopes_with_a_flaky_upstream() {
    fastrand::seed(SEED); // the cache's jitter: this runtime has one thread
    let mut rng = fastrand::Rng::with_seed(SEED);
    let clock = Arc::new(TokioClock::starting_at(start()));
    let mut service = ScriptedUpstream::new(clock.clone());
    for scope in 0..SCOPES {
        service = service.grant(&format!("s3://bucket/s{scope}/*"), Permission::Read);
    }
    service.set_latency(Duration::from_millis(100));
    let flaky = Arc::new(Flaky {
        upstream: service,
        rng: Mutex::new(fastrand::Rng::with_seed(SEED + 1)),
        calls: Mutex::default(),
        failed: Mutex::default(),
    });
    let cache = Cache::new(
        flaky.clone(),
        clock.clone(),
        CacheSettings::default(),
        Arc::default(),
    );
    let settings = CacheSettings::default();
    let events = schedule(&mut rng);
    let started = tokio::time::Instant::now();
    let mut f = Figures::default();
    for (at, scope, key) in &events {
        tokio::time::sleep_until(started + *at).await;
        let r = request(*scope, *key);
        let now = clock.now();
        let warm = cache
            .inner
            .lookup(&r)
            .is_some_and(|e| e.current().credentials.remaining(now) > settings.serve_floor);
        let result = cache.get(&r).await;
        match (&result, warm) {
            (Ok(_), true) => f.warm += 1,
            (Ok(_), false) => f.cold += 1,
            (Err(e), true) => {
                f.warm += 1;
                f.warm_failed += 1;
                eprintln!("warm scope s{scope} failed at {at:?}: {e}");
            }
            (Err(_), false) => (f.cold, f.cold_failed) = (f.cold + 1, f.cold_failed + 1),
        }
        let Ok(served) = result else { continue };
        let now = clock.now();
        let left = served.credentials.remaining(now);
        let lifetime = lifetime_of(*scope);
        assert!(
            left > settings.serve_floor,
            "s{scope} served with {left:?} left"
        );
        if left < fresh_floor(lifetime, &settings) {
            f.below_fresh_floor += 1;
            eprintln!("s{scope} ({lifetime:?}) served with {left:?} left at {at:?}");
        }
        if lifetime >= settings.fresh_lifetime {
            least(&mut f.least_left_long, left);
        } else {
            least(&mut f.least_left_short, left);
        }
    }
    let hours = SPAN.as_secs_f64() / 3600.0;
    let calls = flaky.calls.lock().unwrap().clone();
    let per_hour = |scope: usize| f64::from(calls[&format!("s{scope}")]) / hours;
    let group = |pick: &dyn Fn(usize) -> bool| -> (usize, f64, f64) {
        let rates: Vec<f64> = (0..SCOPES).filter(|s| pick(*s)).map(per_hour).collect();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        (rates.len(), mean, rates.iter().cloned().fold(0.0, f64::max))
    };
    let total: u32 = calls.values().sum();
    println!(
        "soak: {SCOPES} scopes, 12 h on the paused clock, 1 upstream call in {FAIL_ONE_IN} failing (seed {SEED:#x})"
    );
    println!(
        "requests: {} warm ({} failed), {} cold ({} failed)",
        f.warm, f.warm_failed, f.cold, f.cold_failed
    );
    println!(
        "upstream: {total} GetDataAccess calls, {} failed by design",
        flaky.failed.lock().unwrap()
    );
    println!(
        "least life served: {:?} (lifetimes >= 20 min), {:?} (shorter); {} below the freshness rule",
        f.least_left_long, f.least_left_short, f.below_fresh_floor
    );
    let steady_hour = group(&|s| s < STEADY && lifetime_of(s) == Duration::from_secs(3600));
    for (name, (n, mean, max)) in [
        ("1 h, steady", steady_hour),
        (
            "1 h, bursty",
            group(&|s| s >= STEADY && lifetime_of(s) == Duration::from_secs(3600)),
        ),
        ("900 s", group(&|s| lifetime_of(s).as_secs() == 900)),
        ("1800 s", group(&|s| lifetime_of(s).as_secs() == 1800)),
        ("12 h", group(&|s| lifetime_of(s).as_secs() == 43_200)),
    ] {
        println!("calls per scope per hour, {name} ({n} scopes): mean {mean:.2}, max {max:.2}");
    }
    assert_eq!(f.warm_failed, 0, "a warm scope failed");
    assert_eq!(f.below_fresh_floor, 0, "served below the freshness rule");
    let (_, mean, max) = steady_hour;
    assert!(mean <= 2.5, "1 h steady scopes: {mean:.2} calls per hour");
    assert!(
        max <= 3.0,
        "1 h steady scopes: up to {max:.2} calls per hour"
    );
}
