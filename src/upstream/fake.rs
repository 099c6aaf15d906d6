//! A scripted [`Upstream`] for unit tests and benchmarks.
//!
//! It answers like a tiny Access Grants service (most specific grant wins),
//! mints numbered credentials with a chosen lifetime against an injected clock,
//! and can be told to fail: once per queued error, or until told otherwise.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{DataAccess, ErrorKind, Upstream, UpstreamError};
use crate::clock::SharedClock;
use crate::credentials::{Credentials, Secret};
use crate::scope::DataAccessRequest;
use crate::scope::{Permission, S3Target};

pub const FAKE_ACCOUNT: &str = "111122223333";

pub struct ScriptedUpstream {
    clock: SharedClock,
    state: Mutex<State>,
}

struct State {
    grants: Vec<(S3Target, Permission)>,
    lifetime: Duration,
    latency: Duration,
    queued: VecDeque<UpstreamError>,
    failing: Option<UpstreamError>,
    calls: Vec<DataAccessRequest>,
    minted: u64,
}

impl ScriptedUpstream {
    /// A service with one-hour credentials and no grants yet.
    pub fn new(clock: SharedClock) -> ScriptedUpstream {
        ScriptedUpstream {
            clock,
            state: Mutex::new(State {
                grants: Vec::new(),
                lifetime: Duration::from_secs(3600),
                latency: Duration::ZERO,
                queued: VecDeque::new(),
                failing: None,
                calls: Vec::new(),
                minted: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn grant(self, target: &str, permission: Permission) -> Self {
        let target = S3Target::parse(target).expect("valid grant target");
        self.state().grants.push((target, permission));
        self
    }

    /// Adds a grant to the running service, as an administrator would.
    pub fn add_grant(&self, target: &str, permission: Permission) {
        let target = S3Target::parse(target).expect("valid grant target");
        self.state().grants.push((target, permission));
    }

    /// Removes a grant from the running service, as an administrator would.
    pub fn remove_grant(&self, target: &str) {
        let target = S3Target::parse(target).expect("valid grant target");
        self.state().grants.retain(|(g, _)| *g != target);
    }

    pub fn with_lifetime(self, lifetime: Duration) -> Self {
        self.state().lifetime = lifetime;
        self
    }

    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state().lifetime = lifetime;
    }

    /// Each call sleeps this long (in tokio time) before answering.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// The next call fails with `error`; later calls are unaffected.
    pub fn fail_next(&self, error: UpstreamError) {
        self.state().queued.push_back(error);
    }

    /// Every call fails with `error` until `recover`.
    pub fn fail_always(&self, error: UpstreamError) {
        self.state().failing = Some(error);
    }

    pub fn recover(&self) {
        self.state().failing = None;
    }

    pub fn calls(&self) -> usize {
        self.state().calls.len()
    }

    pub fn call_log(&self) -> Vec<DataAccessRequest> {
        self.state().calls.clone()
    }

    fn answer(&self, request: &DataAccessRequest) -> Result<DataAccess, UpstreamError> {
        let mut state = self.state();
        state.calls.push(request.clone());
        if let Some(error) = state.queued.pop_front() {
            return Err(error);
        }
        if let Some(error) = &state.failing {
            return Err(error.clone());
        }
        let matched = state
            .grants
            .iter()
            .filter(|(g, p)| g.contains(&request.target) && p.covers(request.permission))
            .max_by_key(|(g, _)| g.as_str().len())
            .map(|(g, _)| g.clone());
        let Some(matched) = matched else {
            return Err(UpstreamError::new(
                ErrorKind::Denied,
                "AccessDenied",
                format!(
                    "You do not have {} permissions to the requested S3 Prefix: {}",
                    request.permission, request.target
                ),
            ));
        };
        state.minted += 1;
        let n = state.minted;
        let lifetime = request
            .duration_seconds
            .map(|d| Duration::from_secs(d.into()))
            .unwrap_or(state.lifetime);
        Ok(DataAccess {
            credentials: Credentials {
                access_key_id: format!("ASIAFAKE{n:08}"),
                secret_access_key: Secret::new(format!("fake-secret-{n}")),
                session_token: Secret::new(format!("fake-token-{n}")),
                expiration: self.clock.now() + lifetime,
            },
            matched_grant_target: Some(matched),
            account_id: FAKE_ACCOUNT.to_string(),
        })
    }
}

impl Upstream for ScriptedUpstream {
    fn get_data_access<'a>(
        &'a self,
        request: &'a DataAccessRequest,
    ) -> BoxFuture<'a, Result<DataAccess, UpstreamError>> {
        Box::pin(async move {
            let latency = self.state().latency;
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            self.answer(request)
        })
    }

    fn resolve_identity(&self) -> BoxFuture<'_, Result<String, UpstreamError>> {
        Box::pin(async { Ok(FAKE_ACCOUNT.to_string()) })
    }

    fn caller_arn(&self) -> BoxFuture<'_, Result<String, UpstreamError>> {
        Box::pin(async { Ok(format!("arn:aws:iam::{FAKE_ACCOUNT}:role/grantd-test")) })
    }
}
