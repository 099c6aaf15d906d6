//! The refresh schedule: one task for every entry, woken early for an earlier
//! job, holding entries only weakly, and gone with the cache.

use super::*;

/// A scope of its own per `i`: Minimal, so each is its own entry.
fn scope(i: usize) -> DataAccessRequest {
    let mut r = req(&format!("s3://bucket/UserA/k{i}/*"), Permission::Read);
    r.privilege = Privilege::Minimal;
    r
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(start_paused = true)]
async fn one_task_schedules_every_entry_and_ends_with_the_cache() {
    let h = harness();
    let before = alive_tasks();
    for i in 0..50 {
        h.cache.get(&scope(i)).await.unwrap();
    }
    settle().await;
    assert_eq!(h.cache.len(), 50);
    assert_eq!(h.cache.inner.schedule.len(), 50, "one job per entry");
    assert_eq!(alive_tasks(), before + 1, "one task for all 50 entries");
    // Every entry is renewed on time by that one task.
    tokio::time::sleep(40 * MIN).await;
    settle().await;
    assert_eq!(h.upstream.calls(), 100, "each of the 50 renewed once");
    assert_eq!(alive_tasks(), before + 1);
    drop(h);
    settle().await;
    assert_eq!(alive_tasks(), before, "the task ends with the cache");
}

#[tokio::test(start_paused = true)]
async fn a_job_earlier_than_the_next_wakes_the_schedule() {
    let h = harness();
    h.upstream.set_lifetime(12 * 60 * MIN);
    h.cache.get(&scope(1)).await.unwrap();
    settle().await; // The task now sleeps towards the 12-hour scope's renewal.
    h.upstream.set_lifetime(15 * MIN);
    let short = h.cache.get(&scope(2)).await.unwrap();
    tokio::time::sleep(7 * MIN).await;
    settle().await;
    assert_eq!(h.upstream.calls(), 3, "the 15-minute scope renewed at once");
    let renewed = h.cache.get(&scope(2)).await.unwrap();
    assert_ne!(
        renewed.credentials.access_key_id,
        short.credentials.access_key_id
    );
}

#[tokio::test(start_paused = true)]
async fn an_evicted_entry_is_freed_before_its_wake_up() {
    let h = harness();
    let vended = Arc::downgrade(&h.cache.get(&scope(1)).await.unwrap());
    settle().await;
    let entry = h.cache.inner.lookup(&scope(1)).unwrap();
    h.cache.inner.evict(&entry, "test");
    drop(entry);
    // moka lets go of a removed value in its upkeep, which may take a few runs.
    for _ in 0..8 {
        h.cache.inner.entries.run_pending_tasks();
        if vended.strong_count() == 0 {
            break;
        }
    }
    assert_eq!(h.cache.inner.schedule.len(), 1, "its job is still queued");
    assert!(vended.upgrade().is_none(), "the queue keeps no credentials");
    // At its wake-up the job is dropped, not renewed.
    tokio::time::sleep(40 * MIN).await;
    settle().await;
    assert_eq!(h.upstream.calls(), 1, "an evicted scope is not renewed");
    assert_eq!(h.cache.inner.schedule.len(), 0);
}
