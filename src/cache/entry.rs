//! One cached scope: the [`Vended`] credentials served for it and the
//! [`Entry`] that holds them between refreshes and tracks whether anyone
//! asked for it since the last refresh.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use super::CacheSettings;
use super::refresh::refresh_plan;
use crate::credentials::Credentials;
use crate::scope::DataAccessRequest;
use crate::upstream::DataAccess;
use crate::wire::{ContainerPrep, GrantInfo};

/// Credentials as served, with what the daemon knows about them.
#[derive(Debug)]
pub struct Vended {
    pub credentials: Credentials,
    pub info: GrantInfo,
    /// When the daemon received them.
    pub issued_at: SystemTime,
    /// When they are renewed (see [`refresh_plan`]).
    pub refresh_at: SystemTime,
    /// The latest normal renewal: later, a client would be served less than
    /// the freshness rule asks. An entry nobody used is dropped here.
    pub refresh_by: SystemTime,
    /// The latest renewal at all, for one delayed by the refresh budget.
    pub refresh_last: SystemTime,
    /// What the container body of `credentials` and `info` needs, worked
    /// out once: a warm vend only copies bytes.
    pub container: ContainerPrep,
}

impl Vended {
    pub(super) fn new(
        access: DataAccess,
        issued_at: SystemTime,
        settings: &CacheSettings,
    ) -> Vended {
        let plan = refresh_plan(
            issued_at,
            access.credentials.expiration,
            fastrand::f64(),
            settings,
        );
        let info = GrantInfo {
            account_id: Some(access.account_id),
            matched_grant_target: access.matched_grant_target.map(|t| t.to_string()),
        };
        Vended {
            container: ContainerPrep::new(&access.credentials, &info),
            info,
            credentials: access.credentials,
            issued_at,
            refresh_at: plan.at,
            refresh_by: plan.by,
            refresh_last: plan.last,
        }
    }
}

/// Tells entries apart when one key is cached, dropped and cached again.
static NEXT_ENTRY_ID: AtomicU64 = AtomicU64::new(1);

pub(super) struct Entry {
    /// What this entry answers: for `Default`, the request with the matched grant as target.
    pub(super) key: Arc<DataAccessRequest>,
    /// The request that created it; refreshes repeat exactly what succeeded.
    /// The same allocation as `key` when the request was its own key.
    pub(super) origin: Arc<DataAccessRequest>,
    /// Unique among entries, so the grant index forgets a key only for the
    /// entry it indexed, not for a later one under the same key.
    pub(super) id: u64,
    /// Swapped whole on refresh; readers clone the `Arc` and let go at once.
    current: RwLock<Arc<Vended>>,
    /// Requests served from this entry, the one that made it included.
    served: AtomicU64,
    /// The low 32 bits of `served` when the refresh last looked: someone
    /// asked for this scope since then when they differ, and only such
    /// scopes are refreshed. Starts apart, for the request that made the
    /// entry. (A wrap to the same bits would take 2^32 requests between two
    /// looks, half an hour apart.)
    seen: AtomicU32,
    /// A renewal is waiting for the upstream now.
    renewing: AtomicBool,
    /// How the last renewal failed, until one succeeds. Boxed: most entries
    /// never see a failure, and each of 30,000 scopes pays for the slot.
    failure: Mutex<Option<Box<Failure>>>,
}

/// A renewal that failed for a passing reason, and what comes of it.
#[derive(Clone, Debug)]
pub(super) struct Failure {
    /// Renewals that failed in a row since the last success.
    pub(super) failures: u32,
    /// The last failure's code and message.
    pub(super) error: String,
    /// When the renewal is retried.
    pub(super) retry_at: SystemTime,
}

impl Entry {
    pub(super) fn new(
        key: Arc<DataAccessRequest>,
        origin: Arc<DataAccessRequest>,
        vended: Arc<Vended>,
    ) -> Entry {
        Entry {
            key,
            origin,
            id: NEXT_ENTRY_ID.fetch_add(1, Ordering::Relaxed),
            current: RwLock::new(vended),
            served: AtomicU64::new(0),
            seen: AtomicU32::new(u32::MAX),
            renewing: AtomicBool::new(false),
            failure: Mutex::new(None),
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

    /// Someone asked for this scope.
    pub(super) fn mark_used(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests served from this entry.
    pub(super) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Whether anyone asked since the last call.
    pub(super) fn take_used(&self) -> bool {
        let served = self.served.load(Ordering::Relaxed) as u32;
        self.seen.swap(served, Ordering::Relaxed) != served
    }

    /// Whether a renewal is waiting for the upstream now.
    pub(super) fn renewing(&self) -> bool {
        self.renewing.load(Ordering::Relaxed)
    }

    pub(super) fn set_renewing(&self, renewing: bool) {
        self.renewing.store(renewing, Ordering::Relaxed);
    }

    /// How the last renewal failed, `None` after a success.
    pub(super) fn failure(&self) -> Option<Failure> {
        self.failure_slot().as_deref().cloned()
    }

    /// Notes the outcome of a renewal: `None` for a success.
    pub(super) fn set_failure(&self, failure: Option<Failure>) {
        *self.failure_slot() = failure.map(Box::new);
    }

    fn failure_slot(&self) -> std::sync::MutexGuard<'_, Option<Box<Failure>>> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner())
    }
}
