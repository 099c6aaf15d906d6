//! What the S3 endpoint is told: where it listens and what a request that
//! no grant covers gets.

use std::net::SocketAddr;
use std::time::Duration;

/// What a request that no grant covers gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fallback {
    /// Sent on with the daemon's base identity, as it would go without
    /// grantd (the plugins call this fallback). The default.
    #[default]
    Base,
    /// Refused with S3's `AccessDenied`, naming the scope; S3 is not called.
    Deny,
}

impl Fallback {
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::Base => "base",
            Fallback::Deny => "deny",
        }
    }
}

/// How long a client has to send its request headers, and how long an idle
/// kept-alive connection stays open. Defaults to 20 s: SDK connection pools
/// keep connections idle between calls, and S3 itself waits about as long.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bytes of request head accepted: S3 allows 8 KiB of headers plus 2 KiB of
/// user metadata. Defaults to 32 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// How long S3 has to begin its answer once a request's body is sent.
/// Defaults to 60 s.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// The S3 endpoint's settings.
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// Where to listen; `None` (the default) = no S3 endpoint.
    pub listen: Option<SocketAddr>,
    pub fallback: Fallback,
    /// Where to send requests instead of AWS's regional S3 endpoints: the
    /// daemon's own `AWS_ENDPOINT_URL_S3`.
    pub upstream_endpoint: Option<String>,
    /// How long S3 has to begin its answer once a request's body is sent.
    /// Defaults to [`DEFAULT_UPSTREAM_TIMEOUT`].
    pub upstream_timeout: Duration,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            listen: None,
            fallback: Fallback::default(),
            upstream_endpoint: None,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
        }
    }
}
