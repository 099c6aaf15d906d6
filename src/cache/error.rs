//! What the cache answers when it has no credentials to give: a transport-free
//! [`CacheErrorKind`] the server maps to an HTTP status, and the message.

use std::fmt;

use crate::upstream::{ErrorKind, UpstreamError};

/// How a request failed, independent of any transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheErrorKind {
    /// Access Grants refused the scope.
    Denied,
    /// Access Grants refused the request as malformed.
    InvalidRequest,
    /// The upstream throttled us and nothing valid is cached.
    Throttled,
    /// The upstream failed (or is still loading) and nothing valid is cached.
    Unavailable,
    /// The daemon's own limit on new upstream loads.
    RateLimited,
    /// A bug.
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheError {
    pub kind: CacheErrorKind,
    pub message: String,
}

impl CacheError {
    pub(super) fn new(kind: CacheErrorKind, message: impl Into<String>) -> Self {
        CacheError {
            kind,
            message: message.into(),
        }
    }
}

impl From<UpstreamError> for CacheError {
    fn from(e: UpstreamError) -> Self {
        let kind = match e.kind {
            ErrorKind::Denied => CacheErrorKind::Denied,
            ErrorKind::InvalidRequest => CacheErrorKind::InvalidRequest,
            ErrorKind::Throttled => CacheErrorKind::Throttled,
            ErrorKind::Unavailable | ErrorKind::Malformed => CacheErrorKind::Unavailable,
        };
        let message = match e.kind {
            // The service's own reason, as the contract asks.
            ErrorKind::Denied | ErrorKind::InvalidRequest => e.message,
            _ => format!(
                "S3 Access Grants is unavailable ({}: {})",
                e.code, e.message
            ),
        };
        CacheError { kind, message }
    }
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CacheError {}
