//! The loopback HTTP server of the credential routes.
//!
//! Owns the state every handler shares ([`AppState`]) and the two steps both
//! credential routes take: naming a profile, and asking the cache within the
//! in-flight limit. The life of each connection (peer lookup, per-user
//! places, timeouts, drain) is [`listener`]'s, shared with the S3 endpoint.
//!
//! A request goes through [`routes`] (parse the path once into a `Route`,
//! dispatch on it), [`auth`] (peer, Host, bearer token), [`query`] (the scope a
//! query names), [`limit`] (the in-flight limit), the cache, and comes back
//! through [`response`], which alone maps a failure onto the contract's
//! status and JSON. [`imds`] is the IMDSv2 emulation beside `routes`.

pub mod auth;
pub mod imds;
pub mod limit;
pub mod listener;
pub mod peer;
pub mod query;
pub mod refusals;
pub mod response;
pub mod routes;
pub mod settings;
pub mod slots;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::OnceLock;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tracing::info;

use self::auth::{Peer, PeerPolicy};
use self::limit::InflightLimit;
pub use self::listener::Handler;
use self::peer::PeerLookup;
use self::response::ApiError;
pub use self::settings::*;
use crate::base::BaseIdentity;
use crate::cache::{Cache, CacheErrorKind, Vended};
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::profile::Profile;
use crate::scope::DataAccessRequest;
use crate::token::Token;

/// Everything a request handler needs; shared by all connections.
pub struct AppState {
    pub cache: Cache,
    pub token: Token,
    /// Default profile first; swapped whole by a reload ([`AppState::set_profiles`]).
    profiles: ArcSwap<Vec<Profile>>,
    /// IMDS sessions, when `--imds` is on.
    pub imds: Option<imds::Sessions>,
    pub metrics: Arc<Metrics>,
    /// The instance account once the upstream identity is resolved; `/readyz` waits for it.
    pub ready: Arc<OnceLock<String>>,
    /// With `--allow-remote`, any `Host` is accepted.
    pub allow_remote: bool,
    /// Which local users are served credentials: the owner and `allowed_uids`.
    pub peers: PeerPolicy,
    pub clock: SharedClock,
    pub limits: Limits,
    /// Credential requests being answered now, against `limits.max_inflight`.
    inflight: InflightLimit,
    /// Paces the warning logged for each refused peer.
    refusals: refusals::RefusalLog,
    pub base: BaseAccess,
    /// `/v1/status` and `/v1/reload`; `None` in tests of other routes.
    pub operator: Option<Arc<dyn Operator>>,
}

/// What the daemon does for its own user beyond vending: reloading the
/// configuration, and telling what it runs with. Implemented by
/// [`crate::reload::Reloader`]; a trait, so the server does not import it.
pub trait Operator: Send + Sync {
    /// Re-reads the configuration and puts what may change in force: what
    /// it did as JSON, or every problem of a configuration it refused.
    fn reload_json(&self, state: &AppState) -> Result<String, Vec<String>>;
    /// What the daemon holds now, as JSON, for `/v1/status`.
    fn status_json<'a>(
        &'a self,
        state: &'a AppState,
    ) -> futures_util::future::BoxFuture<'a, String>;
}

/// What the server shares with the rest of the daemon, by name: the parts
/// of [`AppState`] that are not settings.
pub struct Shared {
    pub cache: Cache,
    pub token: Token,
    /// Default profile first.
    pub profiles: Vec<Profile>,
    /// Set to the instance account once the upstream identity is resolved.
    pub ready: Arc<OnceLock<String>>,
    pub clock: SharedClock,
    /// The daemon's own identity, served at `/v1/base-credentials`; `None`
    /// where there is none to serve (tests of the grant routes).
    pub base: Option<Arc<BaseIdentity>>,
    /// Where the S3 endpoint listens, when it is on.
    pub s3_endpoint: Option<SocketAddr>,
}

/// The base identity, and what `/readyz` tells of the S3 endpoint.
pub struct BaseAccess {
    pub identity: Option<Arc<BaseIdentity>>,
    pub s3_endpoint: Option<SocketAddr>,
}

/// A scope to vend: a profile's, held with the profile list it came from
/// (a reload cannot take it away mid-request, and nothing is copied), or
/// one a query named.
pub enum Scope {
    Profile(Arc<Vec<Profile>>, usize),
    Query(DataAccessRequest),
}

impl Deref for Scope {
    type Target = DataAccessRequest;

    fn deref(&self) -> &DataAccessRequest {
        match self {
            Scope::Profile(list, i) => &list[*i].request,
            Scope::Query(request) => request,
        }
    }
}

impl AppState {
    /// The state of a server with `settings`. The peer policy is built here,
    /// from the settings' owner and `allowed_uids`, so no server can be made
    /// that ignores them.
    pub fn new(shared: Shared, settings: &ServerSettings) -> AppState {
        let Shared {
            cache,
            token,
            profiles,
            ready,
            clock,
            base,
            s3_endpoint,
        } = shared;
        let imds = settings.imds.then_some(if settings.imds_list_all_profiles {
            imds::RoleList::All
        } else {
            imds::RoleList::DefaultOnly
        });
        AppState {
            metrics: cache.metrics().clone(),
            imds: imds.map(imds::Sessions::new),
            cache,
            token,
            profiles: ArcSwap::from_pointee(profiles),
            ready,
            allow_remote: settings.allow_remote,
            peers: PeerPolicy::new(settings.owner, settings.allowed_uids.iter().copied())
                .with_base(settings.base_allowed_uids.iter().copied())
                .with_unmapped(settings.unknown_uid)
                .with_lookup(PeerLookup::new(settings.peer_lookup)),
            clock,
            inflight: InflightLimit::new(settings.limits.max_inflight),
            refusals: refusals::RefusalLog::default(),
            limits: settings.limits.clone(),
            base: BaseAccess {
                identity: base,
                s3_endpoint,
            },
            operator: None,
        }
    }

    /// The scope of the profile called `name`: a vend by profile copies nothing.
    pub fn profile(&self, name: &str) -> Result<Scope, ApiError> {
        let list = self.profiles.load_full();
        match list.iter().position(|p| p.name == name) {
            Some(i) => Ok(Scope::Profile(list, i)),
            None => Err(ApiError::UnknownProfile(truncate(name, 100).into())),
        }
    }

    /// The default profile's scope, when there are profiles.
    pub fn default_profile(&self) -> Option<Scope> {
        let list = self.profiles.load_full();
        (!list.is_empty()).then_some(Scope::Profile(list, 0))
    }

    /// Every profile, default first, as in force now.
    pub fn profiles(&self) -> Arc<Vec<Profile>> {
        self.profiles.load_full()
    }

    /// Puts `profiles` (default first) in force for the next request.
    pub fn set_profiles(&self, profiles: Vec<Profile>) {
        self.profiles.store(Arc::new(profiles));
    }

    /// Asks the cache, within the daemon's limit on requests being answered.
    pub async fn vend(&self, request: &DataAccessRequest) -> Result<Arc<Vended>, ApiError> {
        let _permit = self.inflight.try_acquire()?;
        self.cache.get(request).await.map_err(|e| {
            if e.kind == CacheErrorKind::Denied {
                info!(scope = %request, reason = %e.message, "request denied");
            }
            ApiError::from(e)
        })
    }
}

#[cfg(test)]
impl AppState {
    /// A server's state for unit tests: a cache over `upstream` on the
    /// system clock, `profiles` (default first), the token
    /// `a-token-of-sixteen-or-more`, not ready, no S3 endpoint.
    pub(crate) fn for_tests(
        upstream: Arc<dyn crate::upstream::Upstream>,
        cache: &crate::cache::CacheSettings,
        server: &ServerSettings,
        profiles: Vec<Profile>,
        base: Option<Arc<BaseIdentity>>,
    ) -> AppState {
        let clock: SharedClock = Arc::new(crate::clock::SystemClock);
        AppState::new(
            Shared {
                cache: Cache::new(upstream, clock.clone(), cache.clone(), Arc::default()),
                token: Token::new("a-token-of-sixteen-or-more"),
                profiles,
                ready: Arc::new(OnceLock::new()),
                clock,
                base,
                s3_endpoint: None,
            },
            server,
        )
    }
}

/// At most `max` characters of `s`: client input echoed in a message is
/// bounded, so a long path cannot inflate an error body or a log line.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Serves `listener` with the credential routes until `shutdown`
/// completes, then drains open requests for up to `limits.grace`.
pub async fn run(listener: TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()>) {
    listener::run(listener, state, shutdown).await
}

impl Handler for AppState {
    type Body = Full<Bytes>;

    fn peers(&self) -> &PeerPolicy {
        &self.peers
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    async fn handle(
        self: Arc<Self>,
        peer: Arc<Peer>,
        req: Request<Incoming>,
    ) -> Response<Full<Bytes>> {
        routes::handle(&self, &peer, req).await
    }
}

#[cfg(test)]
mod tests;
