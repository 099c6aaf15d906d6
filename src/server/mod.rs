//! The loopback HTTP server: connection handling, limits and shutdown.
//!
//! Owns the accept loop ([`run`]) and the per-connection limits: at most
//! `max_connections` open at once (further clients wait in the kernel backlog),
//! a header-read timeout, a header size limit, and graceful draining on
//! shutdown. Also owns the state every handler shares ([`AppState`]) and the
//! two steps both credential routes take: naming a profile, and asking the
//! cache within the in-flight limit.
//!
//! A request goes through [`routes`] (parse the path once into a `Route`,
//! dispatch on it), [`auth`] (Host, bearer token), [`query`] (the scope a
//! query names), [`limit`] (the in-flight limit), the cache, and comes back
//! through [`response`], which alone maps a failure onto the contract's
//! status and JSON. [`imds`] is the IMDSv2 emulation beside `routes`.

pub mod auth;
pub mod imds;
pub mod limit;
pub mod query;
pub mod response;
pub mod routes;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use self::limit::InflightLimit;
use self::response::ApiError;
use crate::cache::{Cache, CacheErrorKind, Vended};
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::profile::Profile;
use crate::scope::DataAccessRequest;
use crate::token::Token;

/// Most open client connections. Defaults to 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// How long a client has to send its request headers. Defaults to 5 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of request head hyper buffers. Defaults to 16 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most credential requests answered at once. Defaults to 1,024.
pub const DEFAULT_MAX_INFLIGHT: usize = 1024;
/// How long shutdown waits for open requests. Defaults to 10 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Limits of the listener.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Most open connections; further clients wait in the kernel backlog.
    /// Defaults to [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// A client must send its request headers within this.
    /// Defaults to [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Larger request heads get 431. Defaults to [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// More credential requests than this at once get 429.
    /// Defaults to [`DEFAULT_MAX_INFLIGHT`].
    pub max_inflight: usize,
    /// How long shutdown waits for open requests. Defaults to [`DEFAULT_GRACE`].
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            grace: DEFAULT_GRACE,
        }
    }
}

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
    pub clock: SharedClock,
    pub limits: Limits,
    /// Credential requests being answered now, against `limits.max_inflight`.
    inflight: InflightLimit,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cache: Cache,
        token: Token,
        profiles: Vec<Profile>,
        imds: Option<imds::RoleList>,
        ready: Arc<OnceLock<String>>,
        allow_remote: bool,
        clock: SharedClock,
        limits: Limits,
    ) -> AppState {
        AppState {
            metrics: cache.metrics().clone(),
            imds: imds.map(imds::Sessions::new),
            cache,
            token,
            profiles,
            ready,
            allow_remote,
            clock,
            inflight: InflightLimit::new(limits.max_inflight),
            limits,
        }
    }

    /// The scope of the profile called `name`.
    pub fn profile(&self, name: &str) -> Result<DataAccessRequest, ApiError> {
        self.profiles
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.request.clone())
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
    let connections = Arc::new(Semaphore::new(state.limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(state.limits.header_read_timeout)
        .max_buf_size(state.limits.max_header_bytes.max(8192))
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
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
        debug!(%peer, "connection");
        let state = state.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(routes::handle(&state, req).await) }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
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
