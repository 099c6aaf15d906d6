//! The fault suite's time-heavy scenarios, on the paused clock with the
//! scripted upstream: minutes of throttling, outages, credentials that
//! arrive expiring, AccessDenied that comes and goes, grants added and
//! removed mid-life. The wire-level ones (stalls, resets, broken XML, STS
//! down at start) run against the real daemon in `tests/faults.rs`.
//!
//! Each test's doc states what is expected. Throughout: a client is never
//! refused while valid cached credentials exist, and the upstream is never
//! hammered. The upstream cost of ten minutes of throttling is printed by
//! `cargo test -p grantd --lib cache::tests::faults -- --nocapture`.

use std::sync::atomic::Ordering;

use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn throttled() -> UpstreamError {
    UpstreamError::new(
        ErrorKind::Throttled,
        "SlowDown",
        "Please reduce your request rate",
    )
}

/// The `n`th of many scopes, each its own entry.
fn scope(n: usize) -> DataAccessRequest {
    let mut r = req(&format!("s3://bucket/UserA/n{n}/*"), Permission::Read);
    r.privilege = Privilege::Minimal;
    r
}

/// Asks for `scopes` scopes every `step` for `span`: each must be served
/// with more than 60 s left. Returns the least life served.
async fn clients(h: &Harness, scopes: usize, step: Duration, span: Duration) -> Duration {
    let until = tokio::time::Instant::now() + span;
    let mut least = Duration::MAX;
    while tokio::time::Instant::now() < until {
        for n in 0..scopes {
            let served = h.cache.get(&scope(n)).await.unwrap_or_else(|e| {
                panic!(
                    "scope {n} refused after {:?}: {e}",
                    h.clock.now().duration_since(start())
                )
            });
            let left = served.credentials.remaining(h.clock.now());
            assert!(left > MIN, "scope {n} served with {left:?} left");
            least = least.min(left);
        }
        tokio::time::sleep(step).await;
    }
    least
}

/// Expected: S3 Control throttling (SlowDown) for ten minutes while 50
/// scopes fall due for renewal. Every client is served the cached
/// credentials throughout; the upstream sees the circuit breaker's
/// threshold, then one probe per cool-down, not a retry per scope (which
/// would be over a thousand calls); once it recovers every scope is renewed
/// within a minute, none lapsing into a cold load.
#[tokio::test(start_paused = true)]
async fn ten_minutes_of_throttling_serve_every_warm_scope_and_spare_the_upstream() {
    let h = harness();
    clients(&h, 50, SECOND, SECOND).await;
    tokio::time::sleep(29 * MIN).await;
    h.upstream.fail_always(throttled());
    let before = h.upstream.calls();
    clients(&h, 50, 10 * SECOND, 10 * MIN).await;
    let during = h.upstream.calls() - before;
    println!("50 warm scopes, 10 min of throttling: {during} upstream calls");
    let most = breaker::BREAKER_THRESHOLD as usize
        + (10 * MIN).as_secs() as usize / breaker::BREAKER_COOLDOWN.as_secs() as usize
        + 2;
    assert!(
        during <= most,
        "{during} upstream calls in 10 minutes of throttling"
    );
    h.upstream.recover();
    tokio::time::sleep(MIN).await;
    let least = clients(&h, 50, SECOND, SECOND).await;
    assert!(least > 55 * MIN, "not all renewed: {least:?} left");
    assert_eq!(h.cache.metrics().cache_misses.load(Ordering::Relaxed), 50);
}

/// Expected: with S3 Control down (5xx, timeouts), a request for a scope
/// not cached fails at once with 503 UpstreamUnavailable. After the
/// breaker's threshold of failures such requests cost no upstream call;
/// after the cool-down one probe goes through, and once the service is back
/// the next request is served.
#[tokio::test(start_paused = true)]
async fn cold_scopes_fail_fast_while_the_upstream_is_down() {
    let h = harness();
    h.upstream.fail_always(unavailable());
    for n in 0..20 {
        let asked = tokio::time::Instant::now();
        let err = h.cache.get(&scope(n)).await.unwrap_err();
        assert_eq!(err.kind, CacheErrorKind::Unavailable);
        assert_eq!(asked.elapsed(), Duration::ZERO, "no waiting");
    }
    assert_eq!(h.upstream.calls(), breaker::BREAKER_THRESHOLD as usize);
    let metrics = h.cache.metrics();
    assert_eq!(metrics.circuit_opened.load(Ordering::Relaxed), 1);
    let refused = 20 - breaker::BREAKER_THRESHOLD as u64;
    assert_eq!(metrics.circuit_refused.load(Ordering::Relaxed), refused);
    let text = metrics.render(0, &[], true);
    assert!(
        text.contains("grantd_upstream_circuit_opened_total 1"),
        "{text}"
    );
    assert!(
        text.contains(&format!("grantd_upstream_circuit_refused_total {refused}")),
        "{text}"
    );
    h.upstream.recover();
    assert!(h.cache.get(&scope(0)).await.is_err(), "still cooling down");
    tokio::time::sleep(breaker::BREAKER_COOLDOWN).await;
    h.cache.get(&scope(0)).await.unwrap();
    h.cache.get(&scope(1)).await.unwrap();
}

/// Expected: while the circuit is open after throttling, a cold request is
/// answered Throttled (503 with Retry-After), as the upstream said.
#[tokio::test(start_paused = true)]
async fn an_open_circuit_answers_with_the_kind_of_failure_that_opened_it() {
    let h = harness();
    h.upstream.fail_always(throttled());
    for n in 0..=breaker::BREAKER_THRESHOLD as usize {
        let err = h.cache.get(&scope(n)).await.unwrap_err();
        assert_eq!(err.kind, CacheErrorKind::Throttled, "scope {n}");
    }
}

/// Expected: credentials that arrive already expired, or expiring within
/// 60 s (the issuer's clock ahead of ours), are never served: a cold load
/// is a 503, a refresh keeps the last good credentials and retries until
/// the answers are sound again.
#[tokio::test(start_paused = true)]
async fn credentials_arriving_expired_or_expiring_are_never_served() {
    for lifetime in [0, 30, 59] {
        let h = harness();
        let first = h.cache.get(&user_a()).await.unwrap();
        h.upstream.set_lifetime(Duration::from_secs(lifetime));
        let err = h.cache.get(&scope(1)).await.unwrap_err();
        assert_eq!(err.kind, CacheErrorKind::Unavailable, "{lifetime} s");
        tokio::time::sleep(40 * MIN).await; // the refresh has failed, more than once
        assert!(h.upstream.calls() > 3, "{lifetime} s: refresh retried");
        let served = h.cache.get(&user_a()).await.unwrap();
        assert_eq!(
            served.credentials.access_key_id, first.credentials.access_key_id,
            "{lifetime} s: the last good credentials"
        );
        h.upstream.set_lifetime(60 * MIN);
        tokio::time::sleep(MIN).await;
        let served = h.cache.get(&user_a()).await.unwrap();
        assert!(served.credentials.remaining(h.clock.now()) > 55 * MIN);
    }
}

/// Expected: malformed answers (a broken body, a missing field) at renewal
/// time are transient: the cached credentials keep being served, and the
/// next sound answer renews them.
#[tokio::test(start_paused = true)]
async fn malformed_answers_at_renewal_keep_the_cached_credentials() {
    let h = harness();
    let first = h.cache.get(&user_a()).await.unwrap();
    h.upstream.fail_always(UpstreamError::new(
        ErrorKind::Malformed,
        "MalformedResponse",
        "the upstream's answer could not be read",
    ));
    tokio::time::sleep(45 * MIN).await;
    let served = h.cache.get(&user_a()).await.unwrap();
    assert_eq!(
        served.credentials.access_key_id,
        first.credentials.access_key_id
    );
    h.upstream.recover();
    tokio::time::sleep(MIN).await;
    let served = h.cache.get(&user_a()).await.unwrap();
    assert!(served.credentials.remaining(h.clock.now()) > 55 * MIN);
}

/// Expected: AccessDenied appearing for a scope at its renewal evicts it,
/// and clients get 403 AccessDenied (the grant is gone: its credentials
/// would be refused by S3 too). The denial is remembered for the denial TTL
/// (30 s), so clients asking every second cost one upstream call per TTL.
/// When the denial disappears, the next request after the TTL is served.
#[tokio::test(start_paused = true)]
async fn access_denied_appearing_and_disappearing_for_a_scope() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    h.upstream.fail_always(denied());
    tokio::time::sleep(37 * MIN).await;
    let before = h.upstream.calls();
    for _ in 0..120 {
        let err = h.cache.get(&user_a()).await.unwrap_err();
        assert_eq!(err.kind, CacheErrorKind::Denied);
        tokio::time::sleep(SECOND).await;
    }
    let calls = h.upstream.calls() - before;
    assert!(calls <= 5, "{calls} upstream calls in 2 minutes of denials");
    h.upstream.recover();
    tokio::time::sleep(31 * SECOND).await;
    h.cache.get(&user_a()).await.unwrap();
}

/// Expected: a grant removed mid-life keeps its scope served until the
/// next renewal learns of it (the credentials are valid until then), then
/// 403 AccessDenied; a grant added for a denied scope serves it once the
/// remembered denial has expired.
#[tokio::test(start_paused = true)]
async fn a_grant_removed_then_added_mid_life() {
    let h = harness();
    let product = req("s3://bucket/Product/x/*", Permission::Read);
    h.cache.get(&product).await.unwrap();
    h.upstream.remove_grant("s3://bucket/Product/*");
    tokio::time::sleep(20 * MIN).await;
    h.cache
        .get(&product)
        .await
        .expect("served until the renewal");
    tokio::time::sleep(20 * MIN).await;
    let err = h.cache.get(&product).await.unwrap_err();
    assert_eq!(err.kind, CacheErrorKind::Denied);
    assert_eq!(h.cache.len(), 0, "the refused scope is gone");

    h.upstream
        .add_grant("s3://bucket/Product/*", Permission::Read);
    let err = h.cache.get(&product).await.unwrap_err();
    assert_eq!(err.kind, CacheErrorKind::Denied, "remembered briefly");
    tokio::time::sleep(31 * SECOND).await;
    h.cache.get(&product).await.unwrap();
}
