//! What the cache answers when it has no credentials to give: a transport-free
//! [`CacheErrorKind`] the server maps to an HTTP status, and the message.

use crate::error::SharedCause;
use std::error::Error;

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

impl CacheErrorKind {
    /// The contract's error code of a request that failed so; `grantd
    /// status` shows a remembered refusal with it too.
    pub fn code(self) -> &'static str {
        match self {
            CacheErrorKind::Denied => "AccessDenied",
            CacheErrorKind::InvalidRequest => "InvalidRequest",
            CacheErrorKind::Throttled => "Throttled",
            CacheErrorKind::Unavailable => "UpstreamUnavailable",
            CacheErrorKind::RateLimited => "TooManyRequests",
            CacheErrorKind::Internal => "InternalError",
        }
    }
}

/// Why the cache has no credentials to give: the [`kind`](Self::kind) the
/// server maps to a status, the [`message`](Self::message) it shows the
/// client, and the failure behind it (an [`UpstreamError`], a failed load
/// task) as [`source`](std::error::Error::source).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct CacheError {
    pub kind: CacheErrorKind,
    pub message: String,
    #[source]
    cause: Option<SharedCause>,
}

impl CacheError {
    /// An error of this layer alone, with no cause behind it.
    pub fn new(kind: CacheErrorKind, message: impl Into<String>) -> Self {
        CacheError {
            kind,
            message: message.into(),
            cause: None,
        }
    }

    /// Keeps `cause` as the error's source.
    pub(super) fn with_cause(mut self, cause: impl Error + Send + Sync + 'static) -> Self {
        self.cause = Some(SharedCause::new(cause));
        self
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
            ErrorKind::Denied | ErrorKind::InvalidRequest => e.message.clone(),
            _ => format!(
                "S3 Access Grants is unavailable ({}: {})",
                e.code, e.message
            ),
        };
        CacheError::new(kind, message).with_cause(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream_cause(e: &CacheError) -> &UpstreamError {
        e.source()
            .and_then(|s| s.downcast_ref::<UpstreamError>())
            .expect("the upstream error is the source")
    }

    #[test]
    fn a_denial_keeps_the_service_reason_and_its_upstream_error() {
        let e = CacheError::from(UpstreamError::new(
            ErrorKind::Denied,
            "AccessDenied",
            "You do not have READ permissions",
        ));
        assert_eq!(e.kind, CacheErrorKind::Denied);
        assert_eq!(e.to_string(), "You do not have READ permissions");
        let cause = upstream_cause(&e);
        assert_eq!(
            (cause.kind, cause.code.as_str()),
            (ErrorKind::Denied, "AccessDenied")
        );
    }

    #[test]
    fn an_outage_names_the_service_code_and_keeps_its_upstream_error() {
        let e = CacheError::from(UpstreamError::new(
            ErrorKind::Malformed,
            "ExpiringCredentials",
            "too short",
        ));
        assert_eq!(e.kind, CacheErrorKind::Unavailable);
        assert_eq!(
            e.message,
            "S3 Access Grants is unavailable (ExpiringCredentials: too short)"
        );
        // Clones share the cause: one load's answer goes to every waiter.
        assert_eq!(upstream_cause(&e.clone()).code, "ExpiringCredentials");
    }

    #[test]
    fn an_error_of_the_cache_alone_has_no_source() {
        let e = CacheError::new(CacheErrorKind::RateLimited, "too many");
        assert!(e.source().is_none());
    }
}
