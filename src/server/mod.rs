//! The loopback HTTP server: connection handling, limits and shutdown.
//!
//! Owns the accept loop ([`run`]) and each connection's life: the peer's uid
//! is looked up once at accept ([`peer`]) and decided once ([`auth`]), the
//! connection is admitted or shed at once ([`slots`]: per-user caps, never a
//! wait in the kernel backlog), then served under a header-read timeout
//! (which hyper also applies while a kept-alive connection waits for its
//! next request, so idle connections close after it) and a header size
//! limit, and drained gracefully on shutdown. Also owns the state every
//! handler shares ([`AppState`]) and the two steps both credential routes
//! take: naming a profile, and asking the cache within the in-flight limit.
//!
//! A request goes through [`routes`] (parse the path once into a `Route`,
//! dispatch on it), [`auth`] (peer, Host, bearer token), [`query`] (the scope a
//! query names), [`limit`] (the in-flight limit), the cache, and comes back
//! through [`response`], which alone maps a failure onto the contract's
//! status and JSON. [`imds`] is the IMDSv2 emulation beside `routes`.

pub mod auth;
pub mod imds;
pub mod limit;
pub mod peer;
pub mod query;
pub mod refusals;
pub mod response;
pub mod routes;
pub mod settings;
pub mod slots;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use self::auth::{Peer, PeerPolicy};
use self::limit::InflightLimit;
use self::response::ApiError;
pub use self::settings::*;
use self::slots::Slots;
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
    /// Default profile first.
    pub profiles: Vec<Profile>,
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

/// Who is served the base identity, and what `/readyz` tells of the S3 endpoint.
pub struct BaseAccess {
    pub identity: Option<Arc<BaseIdentity>>,
    owner: u32,
    uids: Vec<u32>,
    pub s3_endpoint: Option<SocketAddr>,
}

impl BaseAccess {
    /// The owner, or a user named in `base_allowed_uids`; `allowed_uids` alone is not enough.
    pub fn serves(&self, peer: &Peer) -> bool {
        peer.trusted()
            && peer
                .uid
                .is_some_and(|uid| uid == self.owner || self.uids.contains(&uid))
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
            profiles,
            ready,
            allow_remote: settings.allow_remote,
            peers: PeerPolicy::new(settings.owner, settings.allowed_uids.iter().copied()),
            clock,
            inflight: InflightLimit::new(settings.limits.max_inflight),
            refusals: refusals::RefusalLog::default(),
            limits: settings.limits.clone(),
            base: BaseAccess {
                identity: base,
                owner: settings.owner,
                uids: settings.base_allowed_uids.clone(),
                s3_endpoint,
            },
        }
    }

    /// The scope of the profile called `name`, borrowed: a vend by profile
    /// copies nothing.
    pub fn profile(&self, name: &str) -> Result<&DataAccessRequest, ApiError> {
        self.profiles
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.request)
            .ok_or_else(|| ApiError::UnknownProfile(truncate(name, 100).into()))
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

/// At most `max` characters of `s`: client input echoed in a message is
/// bounded, so a long path cannot inflate an error body or a log line.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Serves `listener` until `shutdown` completes, then stops accepting and
/// drains open requests for up to `limits.grace`.
pub async fn run(listener: TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()>) {
    let slots = Slots::new(
        state.limits.max_connections,
        state.limits.max_connections_per_uid,
    );
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(state.limits.header_read_timeout)
        .max_buf_size(state.limits.max_header_bytes.max(8192))
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Never wait for a free place before accepting: a connection that
        // finds none is closed at once, so a flood cannot hold the owner's
        // clients in the kernel backlog.
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            addr,
            state.clone(),
            slots.clone(),
            http.clone(),
            graceful.watcher(),
        ));
    }
    drop(listener);
    info!("stopped accepting; draining open requests");
    tokio::select! {
        _ = graceful.shutdown() => info!("drained"),
        _ = tokio::time::sleep(state.limits.grace) => {
            warn!(grace_s = state.limits.grace.as_secs(), "grace period ran out; closing open connections")
        }
    }
}

/// One connection: its peer looked up and decided once, a place taken or
/// the connection closed, then its requests served.
async fn connection(
    stream: TcpStream,
    addr: std::net::SocketAddr,
    state: Arc<AppState>,
    slots: Arc<Slots>,
    http: http1::Builder,
    watcher: Watcher,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let peer = state.peers.decide(addr, peer::lookup(addr, local).await);
    let _slot = match slots.admit(peer.uid, peer.is_owner) {
        Ok(slot) => slot,
        Err(shed) => {
            state.metrics.shed(shed.label());
            debug!(peer = %addr, uid = ?peer.uid, reason = %shed, "connection shed");
            return;
        }
    };
    debug!(peer = %addr, uid = ?peer.uid, "connection");
    let peer = Arc::new(peer);
    let service = service_fn(move |req| {
        let (state, peer) = (state.clone(), peer.clone());
        async move { Ok::<_, Infallible>(routes::handle(&state, &peer, req).await) }
    });
    let conn = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
    if let Err(e) = conn.await {
        debug!(peer = %addr, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests;
