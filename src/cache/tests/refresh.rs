//! Refresh-ahead, stale-on-error, backoff, and dropping idle or refused scopes.

use super::*;

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
    // The body a vend sends is the refreshed credentials', not the first ones'.
    let body = |v: &crate::cache::Vended| {
        crate::wire::container_json_prepared(&v.credentials, &v.info, &v.container)
    };
    assert_eq!(
        body(&second),
        crate::wire::container_json(&second.credentials, &second.info).into_bytes()
    );
    assert_ne!(body(&second), body(&first));
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
    // An hour of failures opened the circuit: the next probe goes after its cool-down.
    tokio::time::sleep(BREAKER_COOLDOWN).await;
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

/// The least life a credential served on the normal path may have: 15
/// minutes when the lifetime is at least 20, else half, never under 60 s.
fn fresh_enough(lifetime: Duration) -> Duration {
    if lifetime >= 20 * MIN {
        15 * MIN
    } else {
        (lifetime / 2).max(MIN)
    }
}

#[tokio::test(start_paused = true)]
async fn every_lifetime_is_served_fresh_enough() {
    for secs in [
        900, 1000, 1199, 1200, 1500, 1800, 2000, 2400, 2700, 3600, 7200, 21600, 43200,
    ] {
        let lifetime = Duration::from_secs(secs);
        let h = harness();
        h.upstream.set_lifetime(lifetime);
        let span = (lifetime * 3).max(120 * MIN);
        let started = tokio::time::Instant::now();
        let mut step = 0;
        while started.elapsed() < span {
            let served = h.cache.get(&user_a()).await.unwrap();
            let left = served.credentials.remaining(h.clock.now());
            assert!(
                left >= fresh_enough(lifetime) && left > MIN,
                "lifetime {secs} s: served with {left:?} left after {:?}",
                started.elapsed()
            );
            // A client asking at uneven times, every 7 to 19 s.
            step = (step + 1) % 3;
            tokio::time::sleep(Duration::from_secs([7, 13, 19][step])).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_scope_used_once_is_refreshed_at_most_once() {
    for secs in [120, 900, 1800, 3600, 21600] {
        let h = harness();
        h.upstream.set_lifetime(Duration::from_secs(secs));
        h.cache.get(&user_a()).await.unwrap();
        tokio::time::sleep(12 * 60 * MIN).await;
        settle().await;
        let calls = h.upstream.calls();
        assert!(calls <= 2, "lifetime {secs} s: {calls} upstream calls");
        assert_eq!(h.cache.len(), 0, "lifetime {secs} s: dropped once unused");
    }
}
