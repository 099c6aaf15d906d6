//! One cached scope: the [`Vended`] credentials served for it and the
//! [`Entry`] that holds them between refreshes and tracks when it was last used.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::CacheSettings;
use super::refresh::refresh_time;
use crate::credentials::{Credentials, GrantInfo};
use crate::scope::DataAccessRequest;
use crate::upstream::DataAccess;

/// Credentials as served, with what the daemon knows about them.
#[derive(Debug)]
pub struct Vended {
    pub credentials: Credentials,
    pub info: GrantInfo,
    /// When the daemon received them.
    pub issued_at: SystemTime,
    /// When the refresher renews them (half-life plus jitter).
    pub refresh_at: SystemTime,
}

impl Vended {
    pub(super) fn new(
        access: DataAccess,
        issued_at: SystemTime,
        settings: &CacheSettings,
    ) -> Vended {
        let refresh_at = refresh_time(
            issued_at,
            access.credentials.expiration,
            fastrand::f64(),
            settings,
        );
        Vended {
            info: GrantInfo {
                account_id: Some(access.account_id),
                matched_grant_target: access.matched_grant_target.map(|t| t.to_string()),
            },
            credentials: access.credentials,
            issued_at,
            refresh_at,
        }
    }
}

pub(super) struct Entry {
    /// What this entry answers: for `Default`, the request with the matched grant as target.
    pub(super) key: DataAccessRequest,
    /// The request that created it; refreshes repeat exactly what succeeded.
    pub(super) origin: DataAccessRequest,
    /// Swapped whole on refresh; readers clone the `Arc` and let go at once.
    current: RwLock<Arc<Vended>>,
    /// Unix seconds of the last request served from this entry.
    last_used: AtomicU64,
}

impl Entry {
    pub(super) fn new(
        key: DataAccessRequest,
        origin: DataAccessRequest,
        vended: Arc<Vended>,
        now: SystemTime,
    ) -> Entry {
        Entry {
            key,
            origin,
            current: RwLock::new(vended),
            last_used: AtomicU64::new(unix_secs(now)),
        }
    }

    pub(super) fn current(&self) -> Arc<Vended> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn replace(&self, vended: Arc<Vended>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = vended;
    }

    pub(super) fn touch(&self, now: SystemTime) {
        self.last_used.store(unix_secs(now), Ordering::Relaxed);
    }

    /// Nobody asked during a whole lifetime of the current credentials (plus grace):
    /// every client that fetched earlier holds credentials that have expired.
    pub(super) fn idle(&self, now: SystemTime, grace: Duration) -> bool {
        let v = self.current();
        let life = v
            .credentials
            .expiration
            .duration_since(v.issued_at)
            .unwrap_or(Duration::ZERO);
        let unused = unix_secs(now).saturating_sub(self.last_used.load(Ordering::Relaxed));
        unused > (life + grace).as_secs()
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
