//! What is remembered of a failure: terminal answers briefly, transient ones never.

use super::*;

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
    assert_eq!((second.kind, &second.message), (first.kind, &first.message));
    let cause = std::error::Error::source(&second).and_then(|s| s.downcast_ref::<UpstreamError>());
    assert_eq!(cause.map(|c| c.code.as_str()), Some("AccessDenied"));
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
