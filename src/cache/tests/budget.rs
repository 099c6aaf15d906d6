//! What the cache costs upstream: GetDataAccess calls per scope per hour over
//! 12 simulated hours, for a scope used once and for one used all the time.
//!
//! Print the figures with
//! `cargo test -p grantd --lib cache::tests::budget -- --nocapture`.

use std::sync::atomic::Ordering;

use futures_util::future::BoxFuture;

use super::*;

/// How long each measurement runs on the paused clock.
const SPAN: Duration = Duration::from_secs(12 * 3600);

/// Upstream calls per scope per hour for credentials of `lifetime`, with a
/// client that asks once (`every = None`) or every `every`.
async fn calls_per_hour(lifetime: Duration, every: Option<Duration>) -> (usize, f64) {
    let h = harness();
    h.upstream.set_lifetime(lifetime);
    let started = tokio::time::Instant::now();
    h.cache.get(&user_a()).await.unwrap();
    while started.elapsed() < SPAN {
        match every {
            Some(step) => {
                tokio::time::sleep(step).await;
                h.cache.get(&user_a()).await.unwrap();
            }
            None => tokio::time::sleep(SPAN).await,
        }
    }
    let calls = h.upstream.calls();
    (calls, calls as f64 / (SPAN.as_secs_f64() / 3600.0))
}

#[tokio::test(start_paused = true)]
async fn upstream_calls_per_scope_per_hour() {
    let hour = Duration::from_secs(3600);
    let two_minutes = Duration::from_secs(120);
    let rows = [
        ("1 h, used once", hour, None),
        ("1 h, used every minute", hour, Some(MIN)),
        ("120 s, used once", two_minutes, None),
        (
            "120 s, used every 10 s",
            two_minutes,
            Some(Duration::from_secs(10)),
        ),
    ];
    for (name, lifetime, every) in rows {
        let (calls, per_hour) = calls_per_hour(lifetime, every).await;
        println!("{name}: {calls} GetDataAccess calls in 12 h, {per_hour:.2} per hour");
    }
}

/// An upstream that notes when each call was made.
struct Timed {
    upstream: Arc<ScriptedUpstream>,
    clock: Arc<TokioClock>,
    times: std::sync::Mutex<Vec<SystemTime>>,
}

impl Upstream for Timed {
    fn get_data_access<'a>(
        &'a self,
        request: &'a DataAccessRequest,
    ) -> BoxFuture<'a, Result<crate::upstream::DataAccess, UpstreamError>> {
        self.times.lock().unwrap().push(self.clock.now());
        self.upstream.get_data_access(request)
    }

    fn resolve_identity(&self) -> BoxFuture<'_, Result<String, UpstreamError>> {
        self.upstream.resolve_identity()
    }
}

/// 30 scopes of one-hour credentials, all loaded at once, so their
/// refreshes fall due within the same six minutes, each used every minute
/// for four hours under a refresh budget of `per_second`: the cold loads
/// (cache misses) and the times of the refreshes. Fails if a client is ever
/// served credentials within 60 s of expiry.
async fn thirty_scopes_in_use(per_second: f64) -> (u64, Vec<SystemTime>) {
    let clock = Arc::new(TokioClock::starting_at(start()));
    let timed = Arc::new(Timed {
        upstream: Arc::new(
            ScriptedUpstream::new(clock.clone()).grant("s3://bucket/*", Permission::Read),
        ),
        clock: clock.clone(),
        times: Default::default(),
    });
    let settings = CacheSettings {
        refreshes_per_second: per_second,
        refresh_burst: 1.0,
        ..CacheSettings::default()
    };
    let cache = Cache::new(timed.clone(), clock.clone(), settings, Arc::default());
    let scopes: Vec<DataAccessRequest> = (0..30)
        .map(|i| {
            let mut r = req(&format!("s3://bucket/{i}/*"), Permission::Read);
            r.privilege = Privilege::Minimal;
            r
        })
        .collect();
    let started = tokio::time::Instant::now();
    while started.elapsed() < 4 * 60 * MIN {
        for scope in &scopes {
            let served = cache.get(scope).await.unwrap();
            let left = served.credentials.remaining(clock.now());
            assert!(left > MIN, "served with {left:?} left");
        }
        tokio::time::sleep(MIN).await;
    }
    let times = timed.times.lock().unwrap().clone();
    let misses = cache.metrics().cache_misses.load(Ordering::Relaxed);
    (misses, times.into_iter().filter(|t| *t > start()).collect())
}

#[tokio::test(start_paused = true)]
async fn refreshes_beyond_the_budget_are_spread_and_none_is_lost() {
    // One refresh per 30 s: 15 minutes to renew all 30.
    let (misses, refreshes) = thirty_scopes_in_use(1.0 / 30.0).await;
    assert_eq!(misses, 30, "no scope lapsed into a cold load");
    assert!(refreshes.len() >= 30 * 4, "{} refreshes", refreshes.len());
    for pair in refreshes.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap();
        assert!(gap >= Duration::from_secs(29), "refreshes {gap:?} apart");
    }
}

#[tokio::test(start_paused = true)]
async fn a_scope_in_use_never_lapses_however_small_the_budget() {
    // One refresh per 10 minutes cannot renew 30 scopes an hour: each
    // refresh waits its turn until its last moment, then goes anyway.
    let (misses, refreshes) = thirty_scopes_in_use(1.0 / 600.0).await;
    assert_eq!(misses, 30, "no scope lapsed into a cold load");
    assert!(refreshes.len() >= 30 * 3, "{} refreshes", refreshes.len());
}
