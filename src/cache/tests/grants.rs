//! `Privilege=Default` entries shared by every scope inside the matched grant.

use super::*;

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

/// Targets in the grant index and targets of the cached entries, each sorted,
/// after the cache has run its pending evictions.
fn index_and_entries(cache: &Cache) -> (Vec<String>, Vec<String>) {
    cache.inner.entries.run_pending_tasks();
    let mut indexed: Vec<String> = (cache.inner.grants.read().unwrap())
        .keys()
        .map(|k| k.target.to_string())
        .collect();
    let mut cached: Vec<String> = (cache.inner.entries.iter())
        .map(|(k, _)| k.target.to_string())
        .collect();
    indexed.sort();
    cached.sort();
    (indexed, cached)
}

#[tokio::test(start_paused = true)]
async fn evicted_grants_leave_the_index() {
    let h = harness_with(CacheSettings {
        max_entries: 1,
        ..CacheSettings::default()
    });
    for (target, permission) in [
        ("s3://bucket/UserA/x", Permission::ReadWrite),
        // The narrower grant first, so the broader one cannot answer for it.
        ("s3://bucket/Product/special/b", Permission::Read),
        ("s3://bucket/Product/a", Permission::Read),
    ] {
        h.cache.get(&req(target, permission)).await.unwrap();
    }
    let (indexed, cached) = index_and_entries(&h.cache);
    assert_eq!(h.upstream.calls(), 3, "three grants were cached");
    assert!(cached.len() <= 1, "the bound evicted: {cached:?}");
    assert_eq!(indexed, cached, "the index holds exactly the live entries");
}

#[tokio::test(start_paused = true)]
async fn a_refused_grant_leaves_the_index() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    assert_eq!(index_and_entries(&h.cache).0, ["s3://bucket/UserA/*"]);
    h.upstream.fail_always(denied());
    tokio::time::sleep(37 * MIN).await;
    settle().await;
    assert_eq!(index_and_entries(&h.cache), (vec![], vec![]));
}

/// The reproduction: an entry keyed `UserA/*` made by a request for
/// `UserA/x/file`; the grant `UserA/x/*` appears; the refresh must not file
/// `UserA/x/*` credentials under `UserA/*`.
#[tokio::test(start_paused = true)]
async fn a_refresh_that_matches_another_grant_moves_to_that_grant() {
    let h = harness();
    let file = req("s3://bucket/UserA/x/file", Permission::ReadWrite);
    let first = h.cache.get(&file).await.unwrap();
    assert_eq!(
        first.info.matched_grant_target.as_deref(),
        Some("s3://bucket/UserA/*")
    );
    h.upstream
        .add_grant("s3://bucket/UserA/x/*", Permission::ReadWrite);
    tokio::time::sleep(37 * MIN).await;
    settle().await;
    assert_eq!(h.upstream.calls(), 2, "refreshed once");
    let other = h
        .cache
        .get(&req("s3://bucket/UserA/y/other", Permission::ReadWrite))
        .await
        .unwrap();
    assert_eq!(
        other.info.matched_grant_target.as_deref(),
        Some("s3://bucket/UserA/*"),
        "a scope outside the new grant gets credentials for the grant it is in"
    );
    let again = h.cache.get(&file).await.unwrap();
    assert_eq!(
        again.info.matched_grant_target.as_deref(),
        Some("s3://bucket/UserA/x/*")
    );
    assert_eq!(
        h.upstream.calls(),
        3,
        "only the scope outside loaded afresh"
    );
    let (indexed, cached) = index_and_entries(&h.cache);
    assert_eq!(cached, ["s3://bucket/UserA/*", "s3://bucket/UserA/x/*"]);
    assert_eq!(indexed, cached, "the index holds exactly the live entries");
}

#[tokio::test(start_paused = true)]
async fn a_grant_lost_from_the_index_is_indexed_again_by_its_next_load() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    // What a late eviction notice did: the entry lives, its key is gone.
    h.cache.inner.grants.write().unwrap().remove(&user_a());
    let inside = |name: &str| {
        req(
            &format!("s3://bucket/UserA/in/{name}"),
            Permission::ReadWrite,
        )
    };
    h.cache.get(&inside("x")).await.unwrap();
    assert_eq!(h.upstream.calls(), 2, "the lost key costs one load");
    h.cache.get(&inside("y")).await.unwrap();
    h.cache.get(&inside("z")).await.unwrap();
    assert_eq!(
        h.upstream.calls(),
        2,
        "and no more: the load indexed it again"
    );
    let (indexed, cached) = index_and_entries(&h.cache);
    assert_eq!(indexed, cached);
}

/// The race of the issue, played in order: moka drops an entry for size, a
/// load caches the grant again, then the drop's notice arrives.
#[tokio::test(start_paused = true)]
async fn a_late_eviction_notice_leaves_the_newer_entry_indexed() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    let dropped = h.cache.inner.entries.get(&user_a()).unwrap();
    h.cache.inner.entries.invalidate(&user_a());
    let inside = |name: &str| req(&format!("s3://bucket/UserA/{name}"), Permission::ReadWrite);
    h.cache.get(&inside("x")).await.unwrap();
    assert_eq!(h.upstream.calls(), 2, "the grant was cached again");
    grant_index::unindex_removed(
        &h.cache.inner.grants,
        &user_a(),
        dropped.id,
        moka::notification::RemovalCause::Size,
    );
    h.cache.get(&inside("y")).await.unwrap();
    assert_eq!(h.upstream.calls(), 2, "the newer entry is still found");
    let (indexed, cached) = index_and_entries(&h.cache);
    assert_eq!(indexed, cached);
}

/// A scope's key is stored once: moka's key and the entry's are one
/// allocation, and so is the origin when the request was its own key. A
/// request that matched a wider grant keeps its own origin: that is what
/// refreshes repeat.
#[tokio::test(start_paused = true)]
async fn an_entry_shares_one_key_allocation_and_keeps_a_wider_grants_origin() {
    let h = harness();
    h.cache.get(&user_a()).await.unwrap();
    let (key, entry) = h.cache.inner.entries.iter().next().unwrap();
    assert!(Arc::ptr_eq(&*key, &entry.key), "moka holds the entry's key");
    assert!(Arc::ptr_eq(&entry.key, &entry.origin), "one copy for both");

    h.cache.inner.entries.invalidate(&user_a());
    let inside = req("s3://bucket/UserA/x", Permission::ReadWrite);
    h.cache.get(&inside).await.unwrap();
    let (key, entry) = h.cache.inner.entries.iter().next().unwrap();
    assert!(Arc::ptr_eq(&*key, &entry.key));
    assert_eq!(*entry.key, user_a(), "cached under the grant");
    assert_eq!(*entry.origin, inside, "refreshes repeat the request");
}
