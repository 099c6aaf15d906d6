//! Wiring for `grantd serve`: settings → token → upstream → cache → server.
//!
//! Everything that can be wrong with the configuration is found before the
//! listener binds; [`DaemonError::exit_code`] tells the binary what to return.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::FutureExt;
use grantd_common::fs::{self, Owners, PathError};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::base::{BaseIdentity, ChainSource};
use crate::cache::Cache;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::reload::{self, ConfigOrigin, Place, Reloader};
use crate::s3::upstream::{BadEndpoint, Upstream};
use crate::s3::{S3Settings, S3State};
use crate::server::peer::{LookupMode, PeerLookup};
use crate::server::{self, AppState, Shared};
use crate::token::{self, Origin, Token, TokenError};
use crate::upstream::Upstream as GrantsUpstream;
use crate::upstream::audit::Origin as AuditOrigin;
use crate::upstream::aws::{AwsUpstream, LoadError};
use crate::userns::{OverflowOwner, UserNamespace};

/// Exit code for bad configuration (EX_USAGE).
pub const EXIT_CONFIG: i32 = 64;

/// Why `grantd serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The token file is unusable; a configuration problem.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The upstream cannot be set up (no region); a configuration problem.
    #[error(transparent)]
    Upstream(#[from] LoadError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the bound address")]
    BoundAddr(#[source] std::io::Error),
    /// The S3 endpoint's upstream is unusable; a configuration problem.
    #[error(transparent)]
    S3Endpoint(#[from] BadEndpoint),
    /// A configuration problem.
    #[error(
        "AWS_ENDPOINT_URL_S3 ({endpoint}) is grantd's own S3 endpoint: every request would \
         come back to it; unset it in the daemon's environment, or point it at S3"
    )]
    S3Loop { endpoint: String },
    /// A configuration problem.
    #[error(
        "the S3 endpoint needs the daemon's own AWS credentials to check signatures, and the \
         credential chain gave none"
    )]
    S3NoBase,
    /// The address file's directory is not this user's alone; a configuration problem.
    #[error(
        "{}: refusing to write the address file there (choose another with --addr-file or \
         GRANTD_ADDR_FILE)",
        path.display()
    )]
    UntrustedAddrFile {
        path: PathBuf,
        #[source]
        source: PathError,
    },
    #[error("{}: cannot write address file", path.display())]
    AddrFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The daemon's own uid stands for every unmapped user; a configuration problem.
    #[error(transparent)]
    OverflowOwner(#[from] OverflowOwner),
    /// No way to find connections' users works here.
    #[error(
        "cannot find the Unix user of connections through {} (GRANTD_PEER_LOOKUP={}), so no \
         one could be served",
        source_name,
        mode.as_str()
    )]
    PeerLookup {
        mode: LookupMode,
        source_name: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl DaemonError {
    /// The process exit code: [`EXIT_CONFIG`] for configuration problems, else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Token(_)
            | DaemonError::Upstream(_)
            | DaemonError::UntrustedAddrFile { .. }
            | DaemonError::S3Endpoint(_)
            | DaemonError::S3Loop { .. }
            | DaemonError::S3NoBase
            | DaemonError::OverflowOwner(_) => EXIT_CONFIG,
            DaemonError::Bind { .. }
            | DaemonError::BoundAddr(_)
            | DaemonError::AddrFile { .. }
            | DaemonError::PeerLookup { .. } => 1,
        }
    }
}

/// Runs the daemon until `shutdown` completes. `on_bound` learns the bound
/// address (and may print it).
///
/// `config_origin` is what `settings` were resolved from, so that `SIGHUP` and
/// `grantd reload` can read them again (see [`crate::reload`]); `None` for
/// settings made in code, which a reload then leaves as they are.
pub async fn serve(
    mut settings: Settings,
    config_origin: Option<ConfigOrigin>,
    shutdown: impl Future<Output = ()>,
    on_bound: impl FnOnce(SocketAddr, &Token),
) -> Result<(), DaemonError> {
    // Before anything else: SIGHUP's default action ends the process.
    let hangups = signal(SignalKind::hangup())
        .inspect_err(|e| warn!(error = %e, "cannot handle SIGHUP; use grantd reload to reload"))
        .ok();
    let namespace = UserNamespace::current();
    reload::settle(&mut settings, &namespace)?;
    let settings = settings;
    let files = &settings.files;
    let (token, origin) = match &files.token {
        Some(given) => {
            token::install(&files.token_file, given)?;
            (given.clone(), Origin::Given)
        }
        None => token::load_or_create(&files.token_file)?,
    };
    if let Some(path) = &files.addr_file {
        check_addr_file_dir(path)?;
    }
    let metrics = Arc::new(Metrics::default());
    let upstream = AwsUpstream::load(settings.upstream.clone(), metrics.clone()).await?;
    let region = upstream.region().to_string();

    let base = upstream
        .credentials_provider()
        .map(|chain| Arc::new(BaseIdentity::new(ChainSource(chain), Arc::new(SystemClock))));

    let listen = settings.server.listen;
    let listener = server::listener::bind(listen).map_err(|source| DaemonError::Bind {
        addr: listen,
        source,
    })?;
    let bound = listener.local_addr().map_err(DaemonError::BoundAddr)?;
    let mode = settings.server.peer_lookup;
    let lookup = PeerLookup::start(mode, bound).map_err(|source| DaemonError::PeerLookup {
        mode,
        source_name: match mode {
            LookupMode::Netlink => "sock_diag netlink",
            LookupMode::Proc => "/proc/net/tcp",
            LookupMode::Auto => "sock_diag netlink or /proc/net/tcp",
        },
        source,
    })?;
    if let Some(refused) = &lookup.netlink_refused {
        warn!(
            error = %refused,
            "the kernel refuses sock_diag netlink here; connections' users are found in \
             /proc/net/tcp instead, which costs more per connection (set GRANTD_PEER_LOOKUP=proc \
             to say so)"
        );
    }
    let lookup = lookup.lookup;
    let s3 = match settings.s3.listen {
        Some(addr) => Some(bind_s3(addr, &settings.s3, upstream.region(), base.clone()).await?),
        None => None,
    };
    let s3_bound = s3.as_ref().map(|(_, _, bound)| *bound);
    if let Some(path) = &files.addr_file {
        fs::write_atomic(path, bound.to_string().as_bytes(), 0o644).map_err(|source| {
            DaemonError::AddrFile {
                path: path.clone(),
                source,
            }
        })?;
    }
    info!(
        listen = %bound,
        token_file = %files.token_file.display(),
        token = origin.as_str(),
        region = %region,
        s3control_endpoint = settings.upstream.s3control_endpoint.as_deref().unwrap_or("default"),
        profiles = settings.profiles.list.len(),
        imds = settings.server.imds,
        allowed_uids = ?settings.server.allowed_uids,
        peer_lookup = lookup.source().as_str(),
        user_namespace = if namespace.initial { "initial" } else { "own" },
        s3_listen = ?s3_bound,
        s3_fallback = settings.s3.fallback.as_str(),
        audit_context = settings.upstream.audit_context.as_ref().map_or("none", |c| c.value()),
        "grantd serving"
    );
    if let Some(context) = &settings.upstream.audit_context
        && matches!(context.origin(), AuditOrigin::Setting { changed: true })
    {
        warn!(
            audit_context = context.value(),
            "the audit context was cut or had characters CloudTrail does not take replaced"
        );
    }
    on_bound(bound, &token);

    let clock: SharedClock = Arc::new(SystemClock);
    let upstream: Arc<dyn GrantsUpstream> = Arc::new(upstream);
    let cache = Cache::new(
        upstream.clone(),
        clock.clone(),
        settings.cache.clone(),
        metrics,
    );
    let ready = Arc::new(OnceLock::new());
    let mut state = AppState::new(
        Shared {
            cache: cache.clone(),
            token,
            profiles: settings.profiles.list.clone(),
            ready: ready.clone(),
            clock,
            base,
            s3_endpoint: s3_bound,
        },
        &settings.server,
    );
    state.peers = state.peers.with_lookup(lookup);
    let reloader = Arc::new(Reloader::new(
        config_origin,
        settings.clone(),
        namespace,
        upstream.clone(),
        state.clock.clone(),
        Place {
            listen: bound,
            s3_listen: s3_bound,
            region,
        },
    ));
    state.operator = Some(reloader.clone());
    let state = Arc::new(state);
    let readiness = tokio::spawn(become_ready(
        upstream,
        ready,
        cache.clone(),
        settings.clone(),
    ));
    let reloads =
        hangups.map(|hangups| tokio::spawn(reload_on_hangup(hangups, reloader, state.clone())));
    let shutdown = shutdown.shared();
    let s3_server = async {
        if let Some((listener, upstream, _)) = s3 {
            let state = Arc::new(S3State {
                cache,
                base: state.base.identity.clone().expect("bind_s3 checked it"),
                settings: settings.s3.clone(),
                upstream,
                peers: state.peers.clone(),
                limits: s3_limits(&settings.server),
                metrics: state.metrics.clone(),
                clock: state.clock.clone(),
            });
            server::listener::run(listener, state, shutdown.clone()).await;
        }
    };
    tokio::join!(
        server::run(listener, state.clone(), shutdown.clone()),
        s3_server
    );
    readiness.abort();
    if let Some(reloads) = reloads {
        reloads.abort();
    }
    if let Some(path) = &settings.files.addr_file {
        let _ = std::fs::remove_file(path);
    }
    info!("grantd stopped");
    Ok(())
}

/// Reloads the configuration at each `SIGHUP` (see [`crate::reload`]).
async fn reload_on_hangup(
    mut hangups: tokio::signal::unix::Signal,
    reloader: Arc<Reloader>,
    state: Arc<AppState>,
) {
    while hangups.recv().await.is_some() {
        info!("SIGHUP: reloading the configuration");
        reloader.reload(&state);
    }
}

/// The S3 endpoint's listener and upstream. Refuses to start without a base
/// identity to check signatures against, and an upstream that is this very
/// listener (every request would come back to it).
async fn bind_s3(
    addr: SocketAddr,
    s3: &S3Settings,
    region: &str,
    base: Option<Arc<BaseIdentity>>,
) -> Result<(TcpListener, Upstream, SocketAddr), DaemonError> {
    if base.is_none() {
        return Err(DaemonError::S3NoBase);
    }
    let upstream = Upstream::new(s3.upstream_endpoint.as_deref(), region.to_string())?;
    let listener =
        server::listener::bind(addr).map_err(|source| DaemonError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(DaemonError::BoundAddr)?;
    if let Some(authority) = upstream.endpoint_authority()
        && is_same_listener(authority, bound)
    {
        return Err(DaemonError::S3Loop {
            endpoint: authority.to_string(),
        });
    }
    Ok((listener, upstream, bound))
}

/// Whether `authority` (`host:port` of a URL) names the listener at `bound`.
fn is_same_listener(authority: &str, bound: SocketAddr) -> bool {
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    if port.parse::<u16>() != Ok(bound.port()) {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = |ip: std::net::IpAddr| ip.is_loopback() || ip.is_unspecified();
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip == bound.ip() || (local(ip) && local(bound.ip())),
        Err(_) => host.eq_ignore_ascii_case("localhost") && local(bound.ip()),
    }
}

/// The S3 endpoint's limits: the server's, with S3's idle time and header size.
fn s3_limits(server: &crate::server::ServerSettings) -> server::Limits {
    server::Limits {
        header_read_timeout: crate::s3::settings::DEFAULT_IDLE_TIMEOUT,
        max_header_bytes: crate::s3::settings::DEFAULT_MAX_HEADER_BYTES,
        ..server.limits.clone()
    }
}

/// Checks, before anything binds, that the address file goes into an
/// existing directory of this user's that nobody else can write: clients
/// send the token to whatever address they find there, so another user must
/// not be able to plant or replace it. Checked once: nobody else can change
/// such a directory afterwards. (The file itself is replaced by a rename.)
fn check_addr_file_dir(path: &Path) -> Result<(), DaemonError> {
    let dir = fs::dir_of(path);
    let untrusted = |source| DaemonError::UntrustedAddrFile {
        path: path.to_path_buf(),
        source,
    };
    match fs::check_dir(dir, Owners::only(fs::own_uid())) {
        Ok(true) => Ok(()),
        Ok(false) => Err(untrusted(PathError::Inspect {
            path: dir.to_path_buf(),
            source: std::io::ErrorKind::NotFound.into(),
        })),
        Err(e) => Err(untrusted(e)),
    }
}

/// Resolves the upstream identity (retrying with backoff), warms every
/// profile, then marks the daemon ready.
async fn become_ready(
    upstream: Arc<dyn GrantsUpstream>,
    ready: Arc<OnceLock<String>>,
    cache: Cache,
    settings: Settings,
) {
    /// 250 ms doubling to 30 s: a daemon started before its network or role is
    /// up becomes ready soon after, without spinning on STS meanwhile.
    const IDENTITY_RETRY: Backoff =
        Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
    let mut failures = 0;
    let account = loop {
        match upstream.resolve_identity().await {
            Ok(account) => break account,
            Err(e) => {
                failures += 1;
                let delay = IDENTITY_RETRY.delay(failures);
                warn!(code = %e.code, error = %e.message, retry_in_ms = delay.as_millis() as u64, "cannot resolve the upstream identity yet");
                tokio::time::sleep(delay).await;
            }
        }
    };
    // Warm every profile before declaring readiness, so a client that waited
    // for /readyz never waits for a cold load. Failures are logged, not fatal.
    let warm = settings
        .profiles
        .list
        .iter()
        .map(|profile| reload::warm_profile(&cache, profile));
    futures_util::future::join_all(warm).await;
    info!(account_id = %account, "ready");
    let _ = ready.set(account);
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::io;

    use super::*;
    use crate::report::Report;

    #[test]
    fn an_s3_upstream_on_the_s3_listener_itself_is_recognised() {
        let bound: SocketAddr = "127.0.0.1:7913".parse().unwrap();
        for same in [
            "127.0.0.1:7913",
            "localhost:7913",
            "LOCALHOST:7913",
            "127.0.0.2:7913",
            "[::1]:7913",
        ] {
            assert!(is_same_listener(same, bound), "{same}");
        }
        for other in [
            "127.0.0.1:7914",
            "s3.amazonaws.com:7913",
            "10.0.0.1:7913",
            "127.0.0.1",
            "localhost:x",
        ] {
            assert!(!is_same_listener(other, bound), "{other}");
        }
        let any: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        assert!(is_same_listener("127.0.0.1:9000", any));
    }

    #[test]
    fn a_failed_bind_exits_1_and_keeps_the_io_error_as_its_source() {
        let e = DaemonError::Bind {
            addr: "127.0.0.1:7911".parse().unwrap(),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "cannot listen on 127.0.0.1:7911");
        let io = e.source().and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(io.map(io::Error::kind), Some(io::ErrorKind::AddrInUse));
    }

    #[test]
    fn an_address_file_in_a_directory_others_can_write_is_a_configuration_error() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("addr");
        check_addr_file_dir(&path).unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_addr_file_dir(&path).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_CONFIG);
        let shown = Report(&e).to_string();
        assert!(shown.contains("writable by group or others"), "{shown}");
        let missing = d.path().join("none").join("addr");
        let e = check_addr_file_dir(&missing).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_CONFIG);
    }

    #[test]
    fn a_bad_token_file_is_a_configuration_error_told_in_the_token_s_words() {
        let token = TokenError::Read {
            path: "/run/grantd/token".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        let shown = Report(&token).to_string();
        let e = DaemonError::from(token);
        assert_eq!(e.exit_code(), EXIT_CONFIG);
        assert_eq!(Report(&e).to_string(), shown);
        assert!(e.source().is_some_and(|s| s.is::<io::Error>()));
        assert_eq!(
            DaemonError::from(LoadError::NoRegion).exit_code(),
            EXIT_CONFIG
        );
    }
}
