//! Upstream economy: an 8-hour working day on the paused clock for one host,
//! 50 processes sharing 5 scopes with one-hour credentials, against the
//! Access Grants plugins' model, where every process keeps its own copy of
//! each scope's credentials and calls GetDataAccess whenever its copy is
//! missing or expired when it asks (refresh only after expiry).
//!
//! Both counts come from the same request trace: grantd's are the calls the
//! scripted upstream saw, the plugins' are computed from the trace.
//!
//! Print the figures with
//! `cargo test -p grantd --lib cache::tests::economy -- --nocapture`.

use super::*;

/// The working day.
const DAY: Duration = Duration::from_secs(8 * 3600);
const PROCESSES: usize = 50;
const SCOPES: usize = 5;
const LIFETIME: Duration = Duration::from_secs(3600);
/// Seeds the processes' habits and the cache's jitter.
const SEED: u64 = 0x5EED_0011;

fn request(scope: usize) -> DataAccessRequest {
    let mut r = req(&format!("s3://bucket/s{scope}/*"), Permission::Read);
    r.duration_seconds = Some(LIFETIME.as_secs() as u32);
    r
}

/// When each process asks for which scope, over the day. Each process uses
/// 1 to 5 of the scopes; it alternates stretches of work (30 minutes to
/// 3 hours) with idle ones (10 to 90 minutes), and while working asks for
/// each of its scopes every 1 to 10 minutes.
fn trace(rng: &mut fastrand::Rng) -> Vec<(Duration, usize, usize)> {
    let mut events = Vec::new();
    for process in 0..PROCESSES {
        let mut scopes: Vec<usize> = (0..SCOPES).collect();
        rng.shuffle(&mut scopes);
        scopes.truncate(rng.usize(1..=SCOPES));
        let mut at = Duration::from_secs(rng.u64(0..1800));
        while at < DAY {
            let end = (at + Duration::from_secs(rng.u64(1800..3 * 3600))).min(DAY);
            for &scope in &scopes {
                let mut t = at + Duration::from_secs(rng.u64(0..600));
                while t < end {
                    events.push((t, process, scope));
                    t += Duration::from_secs(rng.u64(60..=600));
                }
            }
            at = end + Duration::from_secs(rng.u64(600..=5400));
        }
    }
    events.sort();
    events
}

/// The plugins' calls for `events`: one per process per scope whenever that
/// process's copy is missing or expired when it asks.
fn plugin_calls(events: &[(Duration, usize, usize)]) -> usize {
    let mut expiry: Vec<Option<Duration>> = vec![None; PROCESSES * SCOPES];
    let mut calls = 0;
    for &(at, process, scope) in events {
        let copy = &mut expiry[process * SCOPES + scope];
        if copy.is_none_or(|e| at >= e) {
            calls += 1;
            *copy = Some(at + LIFETIME);
        }
    }
    calls
}

#[tokio::test(start_paused = true)]
async fn a_working_day_of_fifty_processes_on_five_scopes() {
    fastrand::seed(SEED); // the cache's jitter: this runtime has one thread
    let mut rng = fastrand::Rng::with_seed(SEED);
    let clock = Arc::new(TokioClock::starting_at(start()));
    let mut service = ScriptedUpstream::new(clock.clone()).with_lifetime(LIFETIME);
    for scope in 0..SCOPES {
        service = service.grant(&format!("s3://bucket/s{scope}/*"), Permission::Read);
    }
    service.set_latency(Duration::from_millis(100));
    let upstream = Arc::new(service);
    let cache = Cache::new(
        upstream.clone(),
        clock.clone(),
        CacheSettings::default(),
        Arc::default(),
    );
    let events = trace(&mut rng);
    let started = tokio::time::Instant::now();
    for &(at, _, scope) in &events {
        tokio::time::sleep_until(started + at).await;
        cache.get(&request(scope)).await.unwrap();
    }
    let grantd = upstream.calls();
    let plugins = plugin_calls(&events);
    let ratio = plugins as f64 / grantd as f64;
    let hours = DAY.as_secs_f64() / 3600.0;
    println!(
        "economy: {PROCESSES} processes, {SCOPES} scopes, {} h day, {} s credentials, {} requests (seed {SEED:#x})",
        hours,
        LIFETIME.as_secs(),
        events.len()
    );
    println!(
        "grantd: {grantd} GetDataAccess calls ({:.2} per scope per hour)",
        grantd as f64 / SCOPES as f64 / hours
    );
    println!("plugins' model: {plugins} GetDataAccess calls");
    println!("ratio: {ratio:.1}x fewer calls through grantd");
    assert!(
        ratio >= 10.0,
        "grantd made {grantd} calls against the plugins' {plugins}: only {ratio:.1}x"
    );
}
