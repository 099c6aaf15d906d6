//! Cache behaviour on a paused tokio clock with a scripted upstream.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::clock::{Clock, TokioClock};
use crate::scope::{Permission, S3Target};
use crate::upstream::fake::ScriptedUpstream;

const MIN: Duration = Duration::from_secs(60);

struct Harness {
    cache: Cache,
    upstream: Arc<ScriptedUpstream>,
    clock: Arc<TokioClock>,
}

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_435_200)
}

fn harness_with(settings: CacheSettings) -> Harness {
    let clock = Arc::new(TokioClock::starting_at(start()));
    let upstream = Arc::new(
        ScriptedUpstream::new(clock.clone())
            .grant("s3://bucket/UserA/*", Permission::ReadWrite)
            .grant("s3://bucket/Product/*", Permission::Read)
            .grant("s3://bucket/Product/special/*", Permission::Read),
    );
    let cache = Cache::new(upstream.clone(), clock.clone(), settings, Arc::default());
    Harness {
        cache,
        upstream,
        clock,
    }
}

fn harness() -> Harness {
    harness_with(CacheSettings::default())
}

fn req(target: &str, permission: Permission) -> DataAccessRequest {
    DataAccessRequest::new(S3Target::parse(target).unwrap(), permission)
}

fn user_a() -> DataAccessRequest {
    req("s3://bucket/UserA/*", Permission::ReadWrite)
}

fn unavailable() -> UpstreamError {
    UpstreamError::new(ErrorKind::Unavailable, "InternalError", "boom")
}

fn denied() -> UpstreamError {
    UpstreamError::new(
        ErrorKind::Denied,
        "AccessDenied",
        "You do not have READWRITE permissions",
    )
}

/// Lets spawned tasks run without moving the clock.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_for_one_scope_make_one_upstream_call() {
    let h = harness();
    h.upstream.set_latency(Duration::from_millis(200));
    let gets = (0..50).map(|_| {
        let cache = h.cache.clone();
        tokio::spawn(async move { cache.get(&user_a()).await })
    });
    let results = futures_util::future::join_all(gets).await;
    let keys: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap().unwrap().credentials.access_key_id.clone())
        .collect();
    assert_eq!(h.upstream.calls(), 1);
    assert!(keys.iter().all(|k| k == &keys[0]));
}

#[tokio::test(start_paused = true)]
async fn default_privilege_entry_serves_scopes_inside_the_grant() {
    let h = harness();
    let first = h
        .cache
        .get(&req("s3://bucket/UserA/2024/*", Permission::ReadWrite))
        .await
        .unwrap();
    assert_eq!(
        first.info.matched_grant_target.as_deref(),
        Some("s3://bucket/UserA/*")
    );
    let inside = h
        .cache
        .get(&req(
            "s3://bucket/UserA/output/part-0",
            Permission::ReadWrite,
        ))
        .await
        .unwrap();
    let grant = h.cache.get(&user_a()).await.unwrap();
    assert_eq!(h.upstream.calls(), 1);
    assert_eq!(
        inside.credentials.access_key_id,
        first.credentials.access_key_id
    );
    assert_eq!(
        grant.credentials.access_key_id,
        first.credentials.access_key_id
    );
}

#[tokio::test(start_paused = true)]
async fn a_sibling_prefix_is_not_inside_the_grant() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    let err = h
        .cache
        .get(&req("s3://bucket/UserAB/x", Permission::ReadWrite))
        .await
        .unwrap_err();
    assert_eq!(err.kind, CacheErrorKind::Denied);
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_most_specific_cached_grant_answers() {
    let h = harness();
    let special = h
        .cache
        .get(&req("s3://bucket/Product/special/b", Permission::Read))
        .await
        .unwrap();
    let broad = h
        .cache
        .get(&req("s3://bucket/Product/a", Permission::Read))
        .await
        .unwrap();
    assert_eq!(h.upstream.calls(), 2);
    assert_ne!(
        broad.credentials.access_key_id,
        special.credentials.access_key_id
    );
    // Both cached grants contain this target; the narrower one answers.
    let again = h
        .cache
        .get(&req("s3://bucket/Product/special/c", Permission::Read))
        .await
        .unwrap();
    assert_eq!(
        again.credentials.access_key_id,
        special.credentials.access_key_id
    );
    let other = h
        .cache
        .get(&req("s3://bucket/Product/other/d", Permission::Read))
        .await
        .unwrap();
    assert_eq!(
        other.credentials.access_key_id,
        broad.credentials.access_key_id
    );
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn another_permission_is_another_entry() {
    let h = harness();
    h.cache
        .get(&req("s3://bucket/UserA/x", Permission::ReadWrite))
        .await
        .unwrap();
    h.cache
        .get(&req("s3://bucket/UserA/x", Permission::Read))
        .await
        .unwrap();
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn minimal_privilege_entries_are_per_target() {
    let h = harness();
    let mut a = req("s3://bucket/UserA/a/*", Permission::ReadWrite);
    a.privilege = Privilege::Minimal;
    let b = a.with_target(S3Target::parse("s3://bucket/UserA/a/b/*").unwrap());
    h.cache.get(&a).await.unwrap();
    h.cache.get(&a).await.unwrap();
    h.cache.get(&b).await.unwrap();
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn refreshes_in_the_background_after_half_life_before_twenty_minutes_remain() {
    let h = harness();
    let first = h.cache.get(&user_a()).await.unwrap();
    tokio::time::sleep(29 * MIN).await;
    assert_eq!(h.upstream.calls(), 1, "no refresh before half-life");
    tokio::time::sleep(11 * MIN).await; // 40 min after issue: 20 min left
    assert_eq!(
        h.upstream.calls(),
        2,
        "refreshed once, before 20 min remained"
    );
    let now = h.clock.now();
    let second = h.cache.get(&user_a()).await.unwrap();
    assert_ne!(
        second.credentials.access_key_id,
        first.credentials.access_key_id
    );
    assert!(second.credentials.remaining(now) > 50 * MIN);
    let refreshed_at = second.issued_at.duration_since(first.issued_at).unwrap();
    assert!(
        refreshed_at >= 30 * MIN && refreshed_at <= 36 * MIN,
        "{refreshed_at:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_never_waits_for_a_refresh_of_a_scope_it_used() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    h.upstream.set_latency(Duration::from_secs(3));
    tokio::time::sleep(36 * MIN).await; // refresh has started and is waiting on upstream
    let before = tokio::time::Instant::now();
    let served = h.cache.get(&user_a()).await.unwrap();
    assert_eq!(before.elapsed(), Duration::ZERO);
    assert!(served.credentials.remaining(h.clock.now()) > 15 * MIN);
}

#[tokio::test(start_paused = true)]
async fn serves_stale_credentials_while_upstream_fails() {
    let h = harness();
    let first = h.cache.get(&user_a()).await.unwrap();
    h.upstream.fail_always(unavailable());
    tokio::time::sleep(55 * MIN).await;
    let served = h.cache.get(&user_a()).await.unwrap();
    assert_eq!(
        served.credentials.access_key_id,
        first.credentials.access_key_id
    );
    assert!(
        h.upstream.calls() > 3,
        "refresh retried: {}",
        h.upstream.calls()
    );
}

#[tokio::test(start_paused = true)]
async fn never_serves_credentials_within_sixty_seconds_of_expiry() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    h.upstream.fail_always(unavailable());
    tokio::time::sleep(60 * MIN - Duration::from_secs(59)).await;
    let err = h.cache.get(&user_a()).await.unwrap_err();
    assert_eq!(err.kind, CacheErrorKind::Unavailable);
    h.upstream.recover();
    let fresh = h.cache.get(&user_a()).await.unwrap();
    assert!(fresh.credentials.remaining(h.clock.now()) > 59 * MIN);
}

#[tokio::test(start_paused = true)]
async fn failed_refreshes_back_off_exponentially() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    h.upstream.fail_always(unavailable());
    tokio::time::sleep(37 * MIN).await; // first refresh attempt has happened
    let start = h.upstream.calls();
    tokio::time::sleep(2 * MIN).await;
    let in_two_minutes = h.upstream.calls() - start;
    // 1,2,4,8,16,30,30.. s (±jitter) gives about 6 to 12 attempts in two minutes, not hundreds.
    assert!(
        (4..=14).contains(&in_two_minutes),
        "{in_two_minutes} attempts"
    );
    h.upstream.recover();
    tokio::time::sleep(Duration::from_secs(31)).await;
    let served = h.cache.get(&user_a()).await.unwrap();
    assert!(served.credentials.remaining(h.clock.now()) > 55 * MIN);
}

#[tokio::test(start_paused = true)]
async fn a_terminal_refresh_answer_evicts_the_entry() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    h.upstream.fail_always(denied());
    tokio::time::sleep(37 * MIN).await;
    settle().await;
    assert_eq!(h.cache.len(), 0);
    let err = h.cache.get(&user_a()).await.unwrap_err();
    assert_eq!(err.kind, CacheErrorKind::Denied);
}

#[tokio::test(start_paused = true)]
async fn access_denied_is_remembered_briefly() {
    let h = harness();
    let scope = req("s3://bucket/UserB/*", Permission::Read);
    let first = h.cache.get(&scope).await.unwrap_err();
    assert_eq!(first.kind, CacheErrorKind::Denied);
    assert!(
        first.message.contains("You do not have READ permissions"),
        "{}",
        first.message
    );
    let second = h.cache.get(&scope).await.unwrap_err();
    assert_eq!(second, first);
    assert_eq!(h.upstream.calls(), 1);
    tokio::time::sleep(Duration::from_secs(31)).await;
    h.cache.get(&scope).await.unwrap_err();
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_never_cached() {
    let h = harness();
    h.upstream.fail_next(UpstreamError::new(
        ErrorKind::Throttled,
        "SlowDown",
        "Please reduce",
    ));
    let err = h.cache.get(&user_a()).await.unwrap_err();
    assert_eq!(err.kind, CacheErrorKind::Throttled);
    h.cache.get(&user_a()).await.unwrap();
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn idle_scopes_are_dropped_and_no_longer_refreshed() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    tokio::time::sleep(4 * 60 * MIN).await;
    settle().await;
    assert_eq!(h.cache.len(), 0);
    let calls = h.upstream.calls();
    assert!(calls <= 4, "refreshed an idle scope {calls} times");
    tokio::time::sleep(4 * 60 * MIN).await;
    assert_eq!(h.upstream.calls(), calls);
}

#[tokio::test(start_paused = true)]
async fn a_scope_in_use_keeps_being_refreshed() {
    let h = harness();
    for _ in 0..12 {
        // A boto3-like client: comes back when 15 minutes are left.
        let v = h.cache.get(&user_a()).await.unwrap();
        let left = v.credentials.remaining(h.clock.now());
        assert!(left > 15 * MIN, "served with {left:?} left");
        tokio::time::sleep(left - 15 * MIN).await;
    }
    assert_eq!(h.cache.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_cache_is_bounded() {
    let h = harness_with(CacheSettings {
        max_entries: 3,
        ..CacheSettings::default()
    });
    for i in 0..10 {
        let mut r = req(&format!("s3://bucket/UserA/{i}/*"), Permission::ReadWrite);
        r.privilege = Privilege::Minimal;
        h.cache.get(&r).await.unwrap();
    }
    assert!(h.cache.len() <= 3, "{} entries", h.cache.len());
}

#[tokio::test(start_paused = true)]
async fn a_slow_cold_load_goes_on_after_the_caller_gives_up() {
    let h = harness();
    h.upstream.set_latency(Duration::from_secs(8));
    let err = h.cache.get(&user_a()).await.unwrap_err();
    assert_eq!(err.kind, CacheErrorKind::Unavailable);
    tokio::time::sleep(Duration::from_secs(4)).await;
    h.upstream.set_latency(Duration::ZERO);
    h.cache.get(&user_a()).await.unwrap();
    assert_eq!(
        h.upstream.calls(),
        1,
        "the retry found the first load's answer"
    );
}

#[tokio::test(start_paused = true)]
async fn credentials_expiring_within_the_floor_are_refused() {
    let h = harness();
    h.upstream.set_lifetime(Duration::from_secs(30));
    let err = h.cache.get(&user_a()).await.unwrap_err();
    assert_eq!(err.kind, CacheErrorKind::Unavailable);
    assert!(err.message.contains("within 60 s"), "{}", err.message);
    assert_eq!(h.cache.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn new_upstream_loads_are_rate_limited() {
    let h = harness_with(CacheSettings {
        loads_per_second: 1.0,
        load_burst: 2.0,
        ..CacheSettings::default()
    });
    let minimal = |i: u32| {
        let mut r = req(&format!("s3://bucket/UserA/{i}"), Permission::Read);
        r.privilege = Privilege::Minimal;
        r
    };
    h.cache.get(&minimal(1)).await.unwrap();
    h.cache.get(&minimal(2)).await.unwrap();
    let err = h.cache.get(&minimal(3)).await.unwrap_err();
    assert_eq!(err.kind, CacheErrorKind::RateLimited);
    tokio::time::sleep(Duration::from_secs(1)).await;
    h.cache.get(&minimal(3)).await.unwrap();
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

#[tokio::test(start_paused = true)]
async fn grants_not_ending_in_a_slash_are_found_too() {
    let clock = Arc::new(TokioClock::starting_at(start()));
    let upstream = Arc::new(
        ScriptedUpstream::new(clock.clone())
            .grant("s3://bucket/User*", Permission::Read)
            .grant("s3://bucket/UserA/report.csv", Permission::Read),
    );
    let cache = Cache::new(
        upstream.clone(),
        clock,
        CacheSettings::default(),
        Arc::default(),
    );
    let object = cache
        .get(&req("s3://bucket/UserA/report.csv", Permission::Read))
        .await
        .unwrap();
    assert_eq!(
        object.info.matched_grant_target.as_deref(),
        Some("s3://bucket/UserA/report.csv")
    );
    let broad = cache
        .get(&req("s3://bucket/UserZ/x", Permission::Read))
        .await
        .unwrap();
    assert_eq!(
        broad.info.matched_grant_target.as_deref(),
        Some("s3://bucket/User*")
    );
    cache
        .get(&req("s3://bucket/UserQ/deep/y", Permission::Read))
        .await
        .unwrap();
    // Both cached grants contain the object; the object grant is the narrower.
    let again = cache
        .get(&req("s3://bucket/UserA/report.csv", Permission::Read))
        .await
        .unwrap();
    assert_eq!(
        again.credentials.access_key_id,
        object.credentials.access_key_id
    );
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn evicted_grants_leave_the_index() {
    let h = harness_with(CacheSettings {
        max_entries: 1,
        ..CacheSettings::default()
    });
    h.cache.get(&user_a()).await.unwrap();
    h.cache
        .get(&req("s3://bucket/Product/a", Permission::Read))
        .await
        .unwrap();
    assert_eq!(h.cache.len(), 1);
    h.cache
        .get(&req("s3://bucket/UserA/b", Permission::ReadWrite))
        .await
        .unwrap();
    h.cache
        .get(&req("s3://bucket/Product/c", Permission::Read))
        .await
        .unwrap();
    assert!(h.cache.len() <= 1);
    assert!(
        h.upstream.calls() >= 3,
        "an evicted grant was served from the index"
    );
}
