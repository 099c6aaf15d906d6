//! What the server is told: where it listens, whom it serves, its limits.
//!
//! Every default is a named constant. [`crate::config`] reads these from
//! flags, environment and file; tests and the demo build them directly.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::peer::LookupMode;
pub use super::slots::DEFAULT_MAX_CONNECTIONS_PER_UID;

/// Address the daemon binds. Defaults to 127.0.0.1:7911.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7911);
/// Most open client connections. Defaults to 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// How long a client has to send its request headers, and how long a
/// kept-alive connection may wait idle for its next request. Defaults to 5 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of request head hyper buffers. Defaults to 16 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most credential requests answered at once. Defaults to 1,024.
pub const DEFAULT_MAX_INFLIGHT: usize = 1024;
/// How long shutdown waits for open requests. Defaults to 10 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The server's settings.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Where to listen. Defaults to [`DEFAULT_LISTEN`].
    pub listen: SocketAddr,
    /// Accept a non-loopback `listen` and any `Host`. Defaults to off.
    pub allow_remote: bool,
    /// The Unix user served as the owner: the daemon's own. Only tests set
    /// another, to see the server as a stranger would.
    pub owner: u32,
    /// Unix users besides the owner that are served credentials. Defaults to none.
    pub allowed_uids: Vec<u32>,
    /// Unix users besides the owner that are served the base identity
    /// (`/v1/base-credentials`); `allowed_uids` does not reach it. Defaults to none.
    pub base_allowed_uids: Vec<u32>,
    /// Serve the IMDSv2 routes. Defaults to off.
    pub imds: bool,
    /// Name every profile at the IMDS role list, not the default alone. Defaults to off.
    pub imds_list_all_profiles: bool,
    /// How each connection's Unix user is found. Defaults to `auto`.
    pub peer_lookup: LookupMode,
    /// Run even as the overflow uid of a user namespace other than the
    /// initial one, serving as the owner every user it cannot map.
    /// Defaults to off.
    pub allow_overflow_uid: bool,
    /// Peers with this uid are unknown: the overflow uid outside the initial
    /// user namespace (see [`crate::userns`]). Not a setting; the daemon
    /// sets it from what it finds at start. Defaults to none.
    pub unknown_uid: Option<u32>,
    pub limits: Limits,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: DEFAULT_LISTEN,
            allow_remote: false,
            owner: grantd_common::fs::own_uid(),
            allowed_uids: Vec::new(),
            base_allowed_uids: Vec::new(),
            imds: false,
            imds_list_all_profiles: false,
            peer_lookup: LookupMode::Auto,
            allow_overflow_uid: false,
            unknown_uid: None,
            limits: Limits::default(),
        }
    }
}

/// Limits of the listener.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Most open connections; further connections are closed at once.
    /// Defaults to [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Most open connections of one user other than the daemon's own.
    /// Defaults to [`DEFAULT_MAX_CONNECTIONS_PER_UID`].
    pub max_connections_per_uid: usize,
    /// A client must send its request headers within this, and an idle
    /// kept-alive connection is closed after it.
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
            max_connections_per_uid: DEFAULT_MAX_CONNECTIONS_PER_UID,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            grace: DEFAULT_GRACE,
        }
    }
}
