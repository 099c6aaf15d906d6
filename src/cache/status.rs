//! What the cache holds now, for `grantd status`: each cached scope with its
//! state, remembered denials, the upstream circuits. Read without stopping
//! anything: each entry is looked at on its own, never all under one lock.
//! Holds no secret: no key, no token, not even an access key id. Also here:
//! counting a request a cold load answered, in its entry or its refusal.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::breaker::Circuit;
use super::{Cache, CacheError, Inner, Vended};
use crate::credentials::format_timestamp;
use crate::scope::DataAccessRequest;

/// What a cached scope is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeState {
    /// Served from the cache; its last renewal, if any, succeeded.
    Fresh,
    /// A renewal is waiting for S3 Access Grants now; the current
    /// credentials are served meanwhile.
    Refreshing,
    /// Its last renewal failed for a passing reason: the last good
    /// credentials are served while they last, and the renewal is retried.
    StaleOnError,
    /// Access Grants refused it; the refusal is remembered for a while.
    Denied,
}

impl ScopeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeState::Fresh => "fresh",
            ScopeState::Refreshing => "refreshing",
            ScopeState::StaleOnError => "stale-on-error",
            ScopeState::Denied => "denied",
        }
    }
}

/// One cached scope or remembered refusal.
#[derive(Clone, Debug, Serialize)]
pub struct ScopeStatus {
    /// The scope credentials are cached for: with `Default`, the grant that matched.
    pub scope: String,
    pub permission: &'static str,
    pub privilege: &'static str,
    /// What was asked, when it is not `scope` (a prefix inside the grant).
    pub requested: Option<String>,
    pub state: ScopeState,
    /// When the credentials expire; for a denial, when it is forgotten.
    pub expiration: String,
    /// Seconds until `expiration`.
    pub seconds_left: u64,
    /// Requests answered from it (with a denial: refused).
    pub requests: u64,
    /// When the credentials served now were received; `None` for a denial.
    pub last_refresh: Option<String>,
    /// When it is renewed next (the plan; after a failure, the retry; a
    /// time past means due, waiting its turn in the refresh budget, or
    /// dormant: unused since its last renewal and dropped unless asked for
    /// by its latest renewal time); `None` for a denial.
    pub next_refresh: Option<String>,
    /// Renewals failed in a row.
    pub failures: u32,
    /// The last failure or the refusal: code and message, no secret.
    pub error: Option<String>,
    /// The Access Grants instance account that answered.
    pub account_id: Option<String>,
}

/// One upstream circuit.
#[derive(Clone, Debug, Serialize)]
pub struct CircuitStatus {
    /// `None`: the daemon's own region.
    pub region: Option<String>,
    /// `closed`, `open` or `half-open`.
    pub state: &'static str,
    /// Transient failures in a row while closed.
    pub failures: u32,
    /// While open: when one probe may go through.
    pub probe_at: Option<String>,
}

/// The cache's part of `grantd status`.
#[derive(Clone, Debug, Serialize)]
pub struct CacheStatus {
    /// Cached scopes and remembered refusals, by scope.
    pub scopes: Vec<ScopeStatus>,
    /// Every circuit a call has passed, by region.
    pub circuits: Vec<CircuitStatus>,
    /// Cold loads waiting for the upstream now.
    pub loads_in_flight: usize,
}

impl Cache {
    /// What the cache holds at its clock's now.
    pub fn status(&self) -> CacheStatus {
        let inner = &self.inner;
        let now = inner.clock.now();
        let left = |t: SystemTime| t.duration_since(now).unwrap_or_default().as_secs();
        let mut scopes: Vec<ScopeStatus> = inner
            .entries
            .iter()
            .map(|(key, entry)| {
                let vended = entry.current();
                let failure = entry.failure();
                let state = match (entry.renewing(), &failure) {
                    (true, _) => ScopeState::Refreshing,
                    (false, Some(_)) => ScopeState::StaleOnError,
                    (false, None) => ScopeState::Fresh,
                };
                let expiration = vended.credentials.expiration;
                ScopeStatus {
                    requested: requested(&key, &entry.origin),
                    scope: key.target.to_string(),
                    permission: key.permission.as_str(),
                    privilege: key.privilege.as_str(),
                    state,
                    expiration: format_timestamp(expiration),
                    seconds_left: left(expiration),
                    requests: entry.served(),
                    last_refresh: Some(format_timestamp(vended.issued_at)),
                    next_refresh: Some(format_timestamp(
                        failure.as_ref().map_or(vended.refresh_at, |f| f.retry_at),
                    )),
                    failures: failure.as_ref().map_or(0, |f| f.failures),
                    error: failure.map(|f| f.error),
                    account_id: vended.info.account_id.clone(),
                }
            })
            .collect();
        scopes.extend(
            inner
                .denials
                .remembered(now)
                .into_iter()
                .map(|denial| ScopeStatus {
                    scope: denial.request.target.to_string(),
                    permission: denial.request.permission.as_str(),
                    privilege: denial.request.privilege.as_str(),
                    requested: None,
                    state: ScopeState::Denied,
                    expiration: format_timestamp(denial.until),
                    seconds_left: left(denial.until),
                    requests: denial.served,
                    last_refresh: None,
                    next_refresh: None,
                    failures: 0,
                    error: Some(format!(
                        "{}: {}",
                        denial.error.kind.code(),
                        denial.error.message
                    )),
                    account_id: None,
                }),
        );
        scopes.sort_by(|a, b| {
            (&a.scope, a.permission, a.privilege).cmp(&(&b.scope, b.permission, b.privilege))
        });
        let circuits = inner
            .breaker
            .circuits(now)
            .into_iter()
            .map(|c: Circuit| CircuitStatus {
                region: c.region,
                state: c.state,
                failures: c.failures,
                probe_at: c.probe_at.map(format_timestamp),
            })
            .collect();
        let loads_in_flight = inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        CacheStatus {
            scopes,
            circuits,
            loads_in_flight,
        }
    }
}

impl Inner {
    /// Counts a request the load answered, in the entry it filled (unless
    /// the lookup before the load counted it already) or in the refusal it
    /// remembered, for `grantd status`.
    pub(super) fn count_answer(
        &self,
        request: &DataAccessRequest,
        uncounted: bool,
        result: &Result<Arc<Vended>, CacheError>,
    ) {
        match result {
            Ok(_) if uncounted => {
                if let Some(entry) = self.lookup(request) {
                    entry.mark_used();
                }
            }
            Ok(_) => {}
            Err(_) => {
                self.denials.get(request, self.clock.now(), true);
            }
        }
    }
}

/// The request that made an entry, when it is not the entry's own key.
fn requested(key: &DataAccessRequest, origin: &DataAccessRequest) -> Option<String> {
    (origin.target != key.target).then(|| origin.target.to_string())
}
