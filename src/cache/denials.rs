//! The short memory of terminal answers (AccessDenied and the like), so a
//! client retrying a refused scope does not reach the upstream each time.
//! Transient failures never come here.

use std::time::{Duration, SystemTime};

use super::CacheError;
use crate::scope::DataAccessRequest;

#[derive(Clone)]
struct Denial {
    error: CacheError,
    /// On the injected clock: moka's own TTL runs on real time, so it only
    /// bounds memory, while this decides whether the denial still answers.
    until: SystemTime,
}

/// Remembered refusals by request, bounded in number and age.
pub(super) struct Denials {
    remembered: moka::sync::Cache<DataAccessRequest, Denial>,
    ttl: Duration,
}

impl Denials {
    /// Holds at most `capacity` refusals, each for `ttl`.
    pub(super) fn new(capacity: u64, ttl: Duration) -> Denials {
        Denials {
            remembered: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            ttl,
        }
    }

    /// The refusal remembered for `request`, while it is younger than the TTL at `now`.
    pub(super) fn get(&self, request: &DataAccessRequest, now: SystemTime) -> Option<CacheError> {
        self.remembered
            .get(request)
            .filter(|denial| denial.until > now)
            .map(|denial| denial.error)
    }

    pub(super) fn remember(&self, request: &DataAccessRequest, error: CacheError, now: SystemTime) {
        let until = now + self.ttl;
        self.remembered
            .insert(request.clone(), Denial { error, until });
    }

    /// Drops the refusal of a scope the upstream has since granted.
    pub(super) fn forget(&self, request: &DataAccessRequest) {
        self.remembered.invalidate(request);
    }
}
