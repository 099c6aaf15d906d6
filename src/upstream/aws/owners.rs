//! The owner account of each S3 prefix, as `GetAccessGrantsInstanceForPrefix`
//! found it: bounded, expiring, and looked up once however many ask at once.
//!
//! The service answers for a prefix, not a bucket: two prefixes of one bucket
//! can be locations of different accounts' instances. The answer does not
//! say which location matched, so it is not stretched to other prefixes, not
//! even narrower ones (a narrower location may sit in another instance): an
//! answer is remembered for exactly the prefix asked about. Requests inside a
//! cached grant never get here (the cache serves them), and refreshes repeat
//! their prefix, so lookups stay at about one per new prefix per hour.
//!
//! Each (prefix, region) maps to a slot in a bounded [`moka`] cache; the slot's
//! async lock is held by the one caller that looks the owner up, and the
//! others wait for it and read its answer. Whether an answer is still fresh is
//! decided by tokio time, so tests pause it; moka's own time-to-live only
//! drops slots from memory, in real time, after the longest freshness.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::scope::DataAccessRequest;

/// How long the owner account of a prefix is remembered. Defaults to an hour.
pub const OWNER_TTL: Duration = Duration::from_secs(3600);
/// How long "no instance found for this prefix, use our own account" is
/// remembered. Defaults to five minutes.
pub const OWNER_FALLBACK_TTL: Duration = Duration::from_secs(300);
/// Prefixes (per region) whose owner is remembered at once; past it the least
/// used are dropped first. Defaults to 10 000.
pub const OWNER_CAPACITY: u64 = 10_000;

/// (S3 prefix as asked, region).
pub type OwnerKey = (String, String);

/// The key of the owner of `request`'s target in `region`: what
/// `GetAccessGrantsInstanceForPrefix` is asked about.
pub fn owner_key(request: &DataAccessRequest, region: &str) -> OwnerKey {
    (request.target.as_str().to_string(), region.to_string())
}

/// A prefix's owner account and until when it holds; `None` until found.
type Slot = tokio::sync::Mutex<Option<(String, Instant)>>;

pub struct Owners {
    slots: moka::sync::Cache<OwnerKey, Arc<Slot>>,
}

impl Owners {
    /// A map of at most `capacity` prefixes.
    pub fn new(capacity: u64) -> Owners {
        Owners {
            slots: moka::sync::Cache::builder()
                .max_capacity(capacity)
                // No answer is fresh for longer, so an older slot is dead weight.
                .time_to_live(OWNER_TTL.max(OWNER_FALLBACK_TTL))
                .build(),
        }
    }

    /// The remembered owner of `key`, or the one `lookup` finds (with how long
    /// to remember it). A failed lookup is not remembered: the next caller
    /// tries again.
    pub async fn get_or_lookup<E, F, Fut>(&self, key: OwnerKey, lookup: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, Duration), E>>,
    {
        // `get_with` hands concurrent first callers one and the same slot.
        let slot = self.slots.get_with(key, Arc::default);
        let mut slot = slot.lock().await;
        let now = Instant::now();
        if let Some((owner, until)) = &*slot
            && *until > now
        {
            return Ok(owner.clone());
        }
        let (owner, ttl) = lookup().await?;
        *slot = Some((owner.clone(), now + ttl));
        Ok(owner)
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.slots.run_pending_tasks();
        self.slots.entry_count()
    }
}

impl Default for Owners {
    fn default() -> Owners {
        Owners::new(OWNER_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    use crate::scope::{Permission, S3Target};

    fn key(bucket: &str) -> OwnerKey {
        (bucket.to_string(), "us-east-1".to_string())
    }

    fn request(target: &str, permission: Permission) -> DataAccessRequest {
        DataAccessRequest::new(S3Target::parse(target).unwrap(), permission)
    }

    #[test]
    fn the_owner_is_keyed_by_the_prefix_asked_about() {
        let key = |target, permission| owner_key(&request(target, permission), "us-east-1");
        assert_eq!(
            key("s3://bkt/team/*", Permission::Read),
            key("s3://bkt/team/*", Permission::ReadWrite),
            "one prefix, one owner, whatever the permission"
        );
        assert_ne!(
            key("s3://bkt/team/*", Permission::Read),
            key("s3://bkt/home/*", Permission::Read),
            "two prefixes of one bucket may have two owners"
        );
        assert_ne!(
            key("s3://bkt/team/*", Permission::Read),
            key("s3://bkt/team/x/*", Permission::Read),
            "a narrower prefix may be another instance's location"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn two_prefixes_of_one_bucket_keep_their_own_owners() {
        let owners = Owners::default();
        let calls = AtomicUsize::new(0);
        let home = key("s3://b/home/*");
        let team = key("s3://b/team/*");
        let found = |k: OwnerKey, owner: &'static str| {
            owners.get_or_lookup(k, || counted(&calls, owner, OWNER_TTL))
        };
        assert_eq!(
            found(home.clone(), "111122223333").await.unwrap(),
            "111122223333"
        );
        assert_eq!(
            found(team.clone(), "444455556666").await.unwrap(),
            "444455556666"
        );
        assert_eq!(found(home, "000000000000").await.unwrap(), "111122223333");
        assert_eq!(found(team, "000000000000").await.unwrap(), "444455556666");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    /// A lookup that counts its calls, takes a second, and finds `owner`.
    async fn counted(
        calls: &AtomicUsize,
        owner: &str,
        ttl: Duration,
    ) -> Result<(String, Duration), String> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok((owner.to_string(), ttl))
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_first_requests_share_one_lookup() {
        let owners = Owners::default();
        let calls = AtomicUsize::new(0);
        let lookup = || counted(&calls, "444455556666", OWNER_TTL);
        let (a, b) = tokio::join!(
            owners.get_or_lookup(key("b"), lookup),
            owners.get_or_lookup(key("b"), lookup),
        );
        assert_eq!(a.unwrap(), "444455556666");
        assert_eq!(b.unwrap(), "444455556666");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_owner_is_looked_up_again_once_its_ttl_has_passed() {
        let owners = Owners::default();
        let calls = AtomicUsize::new(0);
        let lookup = || counted(&calls, "111122223333", OWNER_FALLBACK_TTL);
        owners.get_or_lookup(key("b"), lookup).await.unwrap();
        tokio::time::advance(OWNER_FALLBACK_TTL - Duration::from_secs(2)).await;
        owners.get_or_lookup(key("b"), lookup).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "still fresh");
        tokio::time::advance(Duration::from_secs(2)).await;
        owners.get_or_lookup(key("b"), lookup).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "expired, looked up again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_lookup_is_not_remembered() {
        let owners = Owners::default();
        let failed = owners
            .get_or_lookup(key("b"), || async { Err::<(String, Duration), _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
        let calls = AtomicUsize::new(0);
        let found = owners
            .get_or_lookup(key("b"), || counted(&calls, "444455556666", OWNER_TTL))
            .await;
        assert_eq!(found.as_deref(), Ok("444455556666"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn holds_no_more_buckets_than_its_capacity() {
        let owners = Owners::new(8);
        let calls = AtomicUsize::new(0);
        for i in 0..100 {
            owners
                .get_or_lookup(key(&format!("bucket-{i}")), || {
                    counted(&calls, "444455556666", OWNER_TTL)
                })
                .await
                .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 100);
        assert!(owners.len() <= 8, "{} slots kept", owners.len());
    }
}
