//! Cold loads: single flight, entry keys, the bound, the miss wait and the load limit.

use super::*;

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
