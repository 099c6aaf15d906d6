//! The credential cache: single flight, refresh-ahead, stale-on-error.
//!
//! Owns every decision about *when* to call the upstream. It knows nothing of
//! HTTP, routes or tokens: it takes a [`DataAccessRequest`] and gives back
//! [`Vended`] credentials or a typed [`CacheError`].
//!
//! - Entries live in a bounded `moka` cache. `Privilege=Default` entries are
//!   keyed by the grant that matched (`MatchedGrantTarget`), and a grant index
//!   finds the entry whose grant contains a new target, so scopes inside one
//!   grant share one entry and one upstream call.
//! - A miss starts one detached load per request key; concurrent callers join
//!   it, and a caller that gives up (client timeout) does not cancel it.
//! - Each entry is renewed, with jitter, early enough that a client is always
//!   served 15 minutes of life (half the lifetime when that is under 20
//!   minutes; see [`refresh_plan`]), but only if someone asked for it since
//!   the last renewal: an unused scope is dropped instead. One task wakes
//!   every entry at its time (`schedule`). Renewals share a budget of their
//!   own; one over the budget waits its turn, never past the last moment it
//!   can be made. On a transient failure the entry keeps the last good
//!   credentials (served while more than 60 s remain) and retries with
//!   exponential backoff and jitter; on a terminal answer it is evicted. A
//!   renewal that matches another grant moves the entry to that grant.
//! - Terminal answers are remembered for a short while; transient ones never.
//! - Every upstream call passes a circuit breaker: after a run of transient
//!   failures calls fail fast for a cool-down, then one probe goes through.
//! - All freshness decisions use the injected [`Clock`](crate::clock::Clock);
//!   all waiting uses `tokio::time`, so tests run on a paused clock.
//!
//! This module holds the [`Cache`] API and the glue between the parts: lookup,
//! single-flight loads, installing entries, keeping the grant index in step.
//! The parts, one file each: `entry` ([`Vended`] and the cached entry),
//! `grant_index`, `refresh` (the policy, [`refresh_plan`], and the step it
//! takes when an entry's time comes), `schedule` (the queue of those times
//! and its one task), `denials` (the memory of terminal answers), `limiter`
//! (the budgets of new loads and of refreshes), `breaker` (the circuit
//! breaker), `error` ([`CacheError`]) and [`settings`] ([`CacheSettings`]).

mod breaker;
mod denials;
mod entry;
mod error;
mod grant_index;
mod limiter;
mod refresh;
mod schedule;
pub mod settings;
mod status;

pub use breaker::{BREAKER_COOLDOWN, BREAKER_THRESHOLD};
pub use entry::Vended;
pub use error::{CacheError, CacheErrorKind};
pub use refresh::{REFRESH_SLACK_MAX, RefreshPlan, fresh_floor, refresh_plan, refresh_time};
pub use settings::CacheSettings;
pub use status::{CacheStatus, CircuitStatus, ScopeState, ScopeStatus};

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use moka::ops::compute::Op;
use tracing::{debug, info, warn};

use self::breaker::{Admit, Breaker};
use self::denials::Denials;
use self::entry::Entry;
use self::grant_index::GrantIndex;
use self::limiter::LoadLimiter;
use self::schedule::{Job, Next, Schedule};
use crate::clock::SharedClock;
use crate::credentials::format_timestamp;
use crate::metrics::{Metrics, ScopeExpiry};
use crate::scope::{DataAccessRequest, Privilege};
use crate::upstream::{ErrorKind, Upstream, UpstreamError};

type Load = Shared<BoxFuture<'static, Result<Arc<Vended>, CacheError>>>;

/// The hasher of the cache's and the grant index's keys, hashed on every
/// warm vend: foldhash is several times cheaper than the standard SipHash on
/// these 60-byte keys, and its seed is random per process, so a local caller
/// cannot pick keys that collide.
pub(super) type KeyHasher = foldhash::quality::RandomState;

struct Inner {
    upstream: Arc<dyn Upstream>,
    clock: SharedClock,
    settings: CacheSettings,
    metrics: Arc<Metrics>,
    /// Keyed by the entry's own `Arc`: the key is stored once per scope,
    /// shared by moka and the [`Entry`], not copied into each.
    entries: moka::sync::Cache<Arc<DataAccessRequest>, Arc<Entry>, KeyHasher>,
    /// Shared with the eviction listener, which keeps it in step with `entries`.
    grants: Arc<RwLock<GrantIndex>>,
    /// Loads under way, by request. Held only to look up or insert, never across an await.
    inflight: Mutex<HashMap<DataAccessRequest, Load>>,
    denials: Denials,
    /// New loads: refused when spent.
    limiter: LoadLimiter,
    /// Refreshes and their retries: booked, each waits its turn.
    refreshes: LoadLimiter,
    /// Fails calls fast while the upstream keeps failing; every call passes it.
    breaker: Breaker,
    /// When each entry's refresh wakes next; one task for all of them.
    schedule: Schedule,
}

/// The credential cache. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl Cache {
    pub fn new(
        upstream: Arc<dyn Upstream>,
        clock: SharedClock,
        settings: CacheSettings,
        metrics: Arc<Metrics>,
    ) -> Cache {
        let grants: Arc<RwLock<GrantIndex>> = Arc::default();
        let index = grants.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.max_entries)
            .eviction_listener(
                move |key: Arc<Arc<DataAccessRequest>>, entry: Arc<Entry>, cause| {
                    grant_index::unindex_removed(&index, &key, entry.id, cause)
                },
            )
            .build_with_hasher(KeyHasher::default());
        let denials = Denials::new(settings.max_denials, settings.denial_ttl);
        let limiter = LoadLimiter::new(settings.loads_per_second, settings.load_burst, clock.now());
        let refreshes = LoadLimiter::new(
            settings.refreshes_per_second,
            settings.refresh_burst,
            clock.now(),
        );
        Cache {
            inner: Arc::new(Inner {
                upstream,
                clock,
                settings,
                metrics,
                entries,
                grants,
                inflight: Mutex::default(),
                denials,
                limiter,
                refreshes,
                breaker: Breaker::new(BREAKER_THRESHOLD, BREAKER_COOLDOWN),
                schedule: Schedule::default(),
            }),
        }
    }

    /// Credentials for `request`: from the cache when fresh enough, else from
    /// one shared upstream load.
    pub async fn get(&self, request: &DataAccessRequest) -> Result<Arc<Vended>, CacheError> {
        self.ask(request, true).await
    }

    /// Loads `request` ahead of any client (a profile, at start or after a
    /// reload), as [`get`](Self::get) but not counted as a request served.
    pub async fn warm(&self, request: &DataAccessRequest) -> Result<Arc<Vended>, CacheError> {
        self.ask(request, false).await
    }

    async fn ask(
        &self,
        request: &DataAccessRequest,
        counted: bool,
    ) -> Result<Arc<Vended>, CacheError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let existing = inner.lookup(request);
        if let Some(entry) = &existing
            && counted
        {
            // Asked for, even if too old to serve: its refresh keeps at it.
            entry.mark_used();
        }
        if let Some(entry) = &existing {
            let vended = entry.current();
            if vended.credentials.remaining(now) > inner.settings.serve_floor {
                inner.metrics.hit();
                debug!(scope = %request, source = "cache", "vend");
                return Ok(vended);
            }
        }
        if let Some(denial) = inner.denials.get(request, now, counted) {
            inner.metrics.denials_served.fetch_add(1, Ordering::Relaxed);
            debug!(scope = %request, "denial served from cache");
            return Err(denial);
        }
        inner.metrics.miss();
        let load = self.load(request)?;
        match tokio::time::timeout(inner.settings.miss_wait, load).await {
            Ok(result) => {
                if counted {
                    inner.count_answer(request, existing.is_none(), &result);
                }
                result
            }
            Err(_) => Err(CacheError::new(
                CacheErrorKind::Unavailable,
                "S3 Access Grants is slow to answer; the request goes on in the background, retry shortly",
            )),
        }
    }

    /// Joins the load under way for `request`, or starts one.
    fn load(&self, request: &DataAccessRequest) -> Result<Load, CacheError> {
        let inner = &self.inner;
        let mut inflight = inner.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(load) = inflight.get(request) {
            inner
                .metrics
                .coalesced_waits
                .fetch_add(1, Ordering::Relaxed);
            return Ok(load.clone());
        }
        if !inner.limiter.take(inner.clock.now()) {
            inner.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
            warn!(scope = %request, "upstream load refused by the daemon's rate limit");
            return Err(CacheError::new(
                CacheErrorKind::RateLimited,
                "too many new scopes at once; retry shortly",
            ));
        }
        let task_inner = inner.clone();
        let task_request = request.clone();
        // Detached, so a client that gives up does not cancel the load.
        let handle = tokio::spawn(async move {
            let result = task_inner.load_now(&task_request).await;
            task_inner
                .inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&task_request);
            result
        });
        let load = async move {
            handle.await.unwrap_or_else(|e| {
                Err(
                    CacheError::new(CacheErrorKind::Internal, format!("load task failed: {e}"))
                        .with_cause(e),
                )
            })
        }
        .boxed()
        .shared();
        inflight.insert(request.clone(), load.clone());
        Ok(load)
    }

    /// Number of cached scopes.
    pub fn len(&self) -> usize {
        self.inner.entries.run_pending_tasks();
        self.inner.entries.entry_count() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Seconds to expiry of each cached scope, for `/metrics`.
    pub fn expiries(&self) -> Vec<ScopeExpiry> {
        let now = self.inner.clock.now();
        self.inner
            .entries
            .iter()
            .take(crate::metrics::MAX_SCOPE_SERIES)
            .map(|(key, entry)| ScopeExpiry {
                target: key.target.to_string(),
                permission: key.permission.as_str(),
                privilege: key.privilege.as_str(),
                seconds_left: entry.current().credentials.remaining(now).as_secs(),
            })
            .collect()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }
}

impl Inner {
    fn lookup(&self, request: &DataAccessRequest) -> Option<Arc<Entry>> {
        if request.privilege == Privilege::Default {
            let key = self
                .grants
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .find(request)?;
            self.entries.get(&key)
        } else {
            self.entries.get(request)
        }
    }

    /// One upstream call, timed and checked; `Err` carries the upstream's
    /// verdict, or the circuit breaker's when it refuses the call.
    async fn fetch(&self, request: &DataAccessRequest) -> Result<Arc<Vended>, UpstreamError> {
        let region = request.region.as_deref();
        if let Admit::Refuse(kind) = self.breaker.admit(region, self.clock.now()) {
            self.metrics.circuit_refused.fetch_add(1, Ordering::Relaxed);
            return Err(UpstreamError::new(
                kind,
                "CircuitOpen",
                format!(
                    "{BREAKER_THRESHOLD} calls in a row failed; calls are paused for up to {} s",
                    BREAKER_COOLDOWN.as_secs()
                ),
            ));
        }
        let started = tokio::time::Instant::now();
        let result = self.upstream.get_data_access(request).await;
        let failure = result
            .as_ref()
            .err()
            .map(|e| e.kind)
            .filter(|k| breaker::trips(*k));
        if self.breaker.record(region, failure, self.clock.now()) {
            self.metrics.circuit_opened.fetch_add(1, Ordering::Relaxed);
            warn!(
                scope = %request,
                cooldown_s = BREAKER_COOLDOWN.as_secs(),
                "upstream failing: circuit open, calls fail fast until a probe succeeds"
            );
        }
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => match e.kind {
                ErrorKind::Denied => "denied",
                ErrorKind::InvalidRequest => "invalid",
                ErrorKind::Throttled => "throttled",
                ErrorKind::Unavailable => "unavailable",
                ErrorKind::Malformed => "malformed",
            },
        };
        self.metrics
            .upstream_call("GetDataAccess", outcome, started.elapsed());
        let access = result?;
        let now = self.clock.now();
        if access.credentials.remaining(now) <= self.settings.serve_floor {
            return Err(UpstreamError::new(
                ErrorKind::Malformed,
                "ExpiringCredentials",
                format!(
                    "GetDataAccess returned credentials expiring at {}, within {} s",
                    format_timestamp(access.credentials.expiration),
                    self.settings.serve_floor.as_secs()
                ),
            ));
        }
        Ok(Arc::new(Vended::new(access, now, &self.settings)))
    }

    /// The body of a cold load: call, then install the entry or remember the denial.
    async fn load_now(
        self: &Arc<Self>,
        request: &DataAccessRequest,
    ) -> Result<Arc<Vended>, CacheError> {
        match self.fetch(request).await {
            Ok(vended) => {
                info!(
                    scope = %request,
                    matched_grant = vended.info.matched_grant_target.as_deref().unwrap_or("-"),
                    access_key_id = %vended.credentials.access_key_id,
                    expiration = %format_timestamp(vended.credentials.expiration),
                    source = "upstream",
                    "vend"
                );
                self.install(request, vended.clone());
                Ok(vended)
            }
            Err(e) => {
                let terminal = e.is_terminal();
                if terminal {
                    info!(scope = %request, code = %e.code, reason = %e.message, "denied");
                } else {
                    warn!(scope = %request, code = %e.code, error = %e.message, "upstream error");
                }
                let error = CacheError::from(e);
                if terminal {
                    self.remember_denial(request, error.clone());
                }
                Err(error)
            }
        }
    }

    fn remember_denial(&self, request: &DataAccessRequest, error: CacheError) {
        self.denials.remember(request, error, self.clock.now());
    }

    /// Stores fresh credentials under their entry key, scheduling its
    /// refresh when the entry is new.
    fn install(self: &Arc<Self>, request: &DataAccessRequest, vended: Arc<Vended>) {
        let key = Arc::new(entry_key(request, &vended));
        self.denials.forget(request);
        let entry = self.entries.entry(key.clone()).or_insert_with(|| {
            // Nearly always the request is its own key: one copy for both.
            let origin = if *key == *request {
                key.clone()
            } else {
                Arc::new(request.clone())
            };
            Arc::new(Entry::new(key.clone(), origin, vended.clone()))
        });
        let fresh = entry.is_fresh();
        let entry = entry.into_value();
        if !fresh {
            entry.replace(vended);
        }
        // Every install indexes, not only the first: a key the index lost
        // comes back with the next load of its grant.
        if key.privilege == Privilege::Default {
            self.index(&entry);
        }
        if fresh {
            self.plan_refresh(&entry, Next::Due, 0);
        }
    }

    /// Queues `entry`'s next refresh wake-up, planned from its current credentials.
    fn plan_refresh(self: &Arc<Self>, entry: &Arc<Entry>, next: Next, failures: u32) {
        let (at, job) = Job::plan(entry, next, failures);
        self.schedule.push(self, at, job);
    }

    /// Adds a live `Default` entry's grant to the index.
    fn index(&self, entry: &Arc<Entry>) {
        let grants = || self.grants.write().unwrap_or_else(|p| p.into_inner());
        grants().add(&entry.key, entry.id);
        // moka may have dropped the entry between the insert and the add, its
        // listener finding nothing to remove: take the key back out, or the
        // index keeps a key with no entry. (Checked outside the lock: moka
        // may run the listener on this thread.)
        if !self.holds(entry) {
            grants().remove_entry(&entry.key, entry.id);
        }
    }

    /// Whether `entry` is the one cached under its key.
    fn holds(&self, entry: &Arc<Entry>) -> bool {
        self.entries
            .get(&entry.key)
            .is_some_and(|cached| Arc::ptr_eq(&cached, entry))
    }

    /// Drops `entry`, and only it: a newer entry under the same key stays.
    fn evict(&self, entry: &Arc<Entry>, reason: &'static str) {
        self.entries
            .entry(entry.key.clone())
            .and_compute_with(|cached| match cached {
                Some(cached) if Arc::ptr_eq(cached.value(), entry) => Op::Remove,
                _ => Op::Nop,
            });
        self.metrics.eviction(reason);
        info!(scope = %entry.key, reason, "scope dropped");
    }
}

/// The key credentials for `request` are cached under: for `Default`, the
/// request with the matched grant as target, when that grant contains what
/// was asked; else the request itself.
fn entry_key(request: &DataAccessRequest, vended: &Vended) -> DataAccessRequest {
    match (&request.privilege, &vended.info.matched_grant_target) {
        (Privilege::Default, Some(grant)) => match crate::scope::S3Target::parse(grant) {
            // Trust the grant only if it contains what was asked.
            Ok(grant) if grant.contains(&request.target) => request.with_target(grant),
            _ => request.clone(),
        },
        _ => request.clone(),
    }
}

#[cfg(test)]
mod tests;
