//! The short memory of terminal answers (AccessDenied and the like), so a
//! client retrying a refused scope does not reach the upstream each time.
//! Transient failures never come here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::CacheError;
use crate::scope::DataAccessRequest;

#[derive(Clone)]
struct Denial {
    error: CacheError,
    /// On the injected clock: moka's own TTL runs on real time, so it only
    /// bounds memory, while this decides whether the denial still answers.
    until: SystemTime,
    /// Requests it answered, the refused one included.
    served: Arc<AtomicU64>,
}

/// A remembered refusal as `grantd status` shows it.
pub(super) struct Remembered {
    pub(super) request: DataAccessRequest,
    pub(super) error: CacheError,
    pub(super) until: SystemTime,
    pub(super) served: u64,
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

    /// The refusal remembered for `request`, while it is younger than the
    /// TTL at `now`; `counted` as a request it answered.
    pub(super) fn get(
        &self,
        request: &DataAccessRequest,
        now: SystemTime,
        counted: bool,
    ) -> Option<CacheError> {
        let denial = self.remembered.get(request).filter(|d| d.until > now)?;
        if counted {
            denial.served.fetch_add(1, Ordering::Relaxed);
        }
        Some(denial.error)
    }

    /// Every refusal still remembered at `now`.
    pub(super) fn remembered(&self, now: SystemTime) -> Vec<Remembered> {
        self.remembered
            .iter()
            .filter(|(_, d)| d.until > now)
            .map(|(request, d)| Remembered {
                request: DataAccessRequest::clone(&request),
                error: d.error,
                until: d.until,
                served: d.served.load(Ordering::Relaxed),
            })
            .collect()
    }

    pub(super) fn remember(&self, request: &DataAccessRequest, error: CacheError, now: SystemTime) {
        let until = now + self.ttl;
        let denial = Denial {
            error,
            until,
            served: Arc::new(AtomicU64::new(0)),
        };
        self.remembered.insert(request.clone(), denial);
    }

    /// Drops the refusal of a scope the upstream has since granted.
    pub(super) fn forget(&self, request: &DataAccessRequest) {
        self.remembered.invalidate(request);
    }
}
