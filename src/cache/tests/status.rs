//! What `grantd status` reads of the cache: each scope's state, requests
//! and times, remembered refusals, the circuits; on the paused clock.

use super::*;
use crate::cache::{ScopeState, ScopeStatus};

fn only(h: &Harness) -> ScopeStatus {
    let scopes = h.cache.status().scopes;
    assert_eq!(scopes.len(), 1, "{scopes:?}");
    scopes.into_iter().next().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_loaded_scope_is_fresh_and_counts_the_requests_it_served() {
    let h = harness();
    h.cache.warm(&user_a()).await.unwrap();
    assert_eq!(only(&h).requests, 0, "a warm load is no client's request");
    for _ in 0..3 {
        h.cache.get(&user_a()).await.unwrap();
    }
    // A scope inside the grant is served by the grant's entry.
    h.cache
        .get(&req("s3://bucket/UserA/deep/*", Permission::ReadWrite))
        .await
        .unwrap();
    let s = only(&h);
    assert_eq!(s.scope, "s3://bucket/UserA/*");
    assert_eq!((s.permission, s.privilege), ("READWRITE", "Default"));
    assert_eq!(s.state, ScopeState::Fresh);
    assert_eq!(s.requests, 4);
    assert_eq!(s.seconds_left, 3600);
    assert_eq!(s.last_refresh.as_deref(), Some("2026-11-23T12:00:00Z"));
    assert!(s.next_refresh.is_some() && s.error.is_none() && s.failures == 0);
    assert_eq!(
        s.account_id.as_deref(),
        Some(crate::upstream::fake::FAKE_ACCOUNT)
    );

    let cold = harness();
    cold.cache.get(&user_a()).await.unwrap();
    assert_eq!(only(&cold).requests, 1, "the request that loaded it counts");
}

#[tokio::test(start_paused = true)]
async fn a_renewal_waiting_on_the_upstream_is_refreshing() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    let first = only(&h).last_refresh;
    // The renewal starts 30 to 36 minutes in, and waits 10 minutes for its answer.
    h.upstream.set_latency(10 * MIN);
    tokio::time::sleep(36 * MIN + Duration::from_secs(1)).await;
    let s = only(&h);
    assert_eq!(s.state, ScopeState::Refreshing, "{s:?}");
    assert_eq!(
        s.last_refresh, first,
        "the current credentials are still served"
    );
    tokio::time::sleep(10 * MIN).await;
    let s = only(&h);
    assert_eq!(s.state, ScopeState::Fresh, "{s:?}");
    assert_ne!(s.last_refresh, first, "renewed");
}

#[tokio::test(start_paused = true)]
async fn a_failed_renewal_is_stale_on_error_with_its_reason_until_one_succeeds() {
    let h = harness();
    let first = h.cache.get(&user_a()).await.unwrap();
    h.upstream.fail_always(unavailable());
    tokio::time::sleep(37 * MIN).await;
    h.cache.get(&user_a()).await.unwrap();
    let s = only(&h);
    assert_eq!(s.state, ScopeState::StaleOnError, "{s:?}");
    assert!(s.failures >= 1);
    assert_eq!(s.error.as_deref(), Some("InternalError: boom"));
    let left = first.credentials.remaining(h.clock.now()).as_secs();
    assert_eq!(
        s.seconds_left, left,
        "the last good credentials, still served"
    );
    h.upstream.recover();
    tokio::time::sleep(5 * MIN).await;
    let s = only(&h);
    assert_eq!((s.state, s.failures, s.error), (ScopeState::Fresh, 0, None));
}

#[tokio::test(start_paused = true)]
async fn a_refusal_shows_as_denied_with_its_reason_and_the_requests_it_answered() {
    let h = harness();
    let refused = req("s3://bucket/Nope/*", Permission::Read);
    h.cache.warm(&refused).await.unwrap_err();
    assert_eq!(only(&h).requests, 0, "a warm load is no client's request");
    for _ in 0..3 {
        h.cache.get(&refused).await.unwrap_err();
    }
    let s = only(&h);
    assert_eq!(s.state, ScopeState::Denied);
    assert_eq!(
        (s.scope.as_str(), s.permission),
        ("s3://bucket/Nope/*", "READ")
    );
    assert_eq!(s.requests, 3);
    assert_eq!(s.seconds_left, h.cache.inner.settings.denial_ttl.as_secs());
    let error = s.error.unwrap();
    assert!(
        error.starts_with("AccessDenied: You do not have READ"),
        "{error}"
    );
    assert!(s.last_refresh.is_none() && s.account_id.is_none());
    tokio::time::sleep(h.cache.inner.settings.denial_ttl).await;
    assert!(
        h.cache.status().scopes.is_empty(),
        "forgotten with the refusal"
    );
}

#[tokio::test(start_paused = true)]
async fn the_circuits_and_loads_in_flight_are_shown() {
    let h = harness();
    assert!(h.cache.status().circuits.is_empty());
    h.cache.get(&user_a()).await.unwrap();
    let circuits = h.cache.status().circuits;
    assert_eq!(circuits.len(), 1);
    assert_eq!((circuits[0].state, circuits[0].failures), ("closed", 0));
    assert_eq!(circuits[0].region, None);
    h.upstream.fail_always(unavailable());
    for n in 0..breaker::BREAKER_THRESHOLD {
        let scope = req(&format!("s3://bucket/UserA/n{n}/*"), Permission::Read);
        let mut scope = scope;
        scope.privilege = Privilege::Minimal;
        let _ = h.cache.get(&scope).await;
    }
    let open = &h.cache.status().circuits[0];
    assert_eq!(open.state, "open");
    assert!(open.probe_at.is_some());
    h.upstream.recover();
    h.upstream.set_latency(Duration::from_secs(60));
    tokio::time::sleep(breaker::BREAKER_COOLDOWN).await;
    let cache = h.cache.clone();
    let pending = tokio::spawn(async move {
        cache
            .get(&req("s3://bucket/Product/*", Permission::Read))
            .await
    });
    settle().await;
    let status = h.cache.status();
    assert_eq!(status.loads_in_flight, 1);
    assert_eq!(status.circuits[0].state, "half-open");
    pending.abort();
}

#[tokio::test(start_paused = true)]
async fn nothing_secret_is_in_the_status() {
    let h = harness();
    let served = h.cache.get(&user_a()).await.unwrap();
    let shown = serde_json::to_string(&h.cache.status()).unwrap();
    assert!(!shown.contains(served.credentials.secret_access_key.expose()));
    assert!(!shown.contains(served.credentials.session_token.expose()));
    assert!(
        !shown.contains(&served.credentials.access_key_id),
        "{shown}"
    );
}
