//! The upstream: S3 Access Grants `GetDataAccess`, behind one trait.
//!
//! The cache asks an [`Upstream`] for credentials and learns from a typed
//! [`UpstreamError`] whether a failure is the caller's (terminal: remember the
//! denial, evict) or passing (transient: keep serving what we have, retry).
//! [`aws::AwsUpstream`] is the real implementation through the AWS SDK;
//! [`fake::ScriptedUpstream`] is the scripted double for tests and benches.
//! [`audit`] decides the `AuditContext` every `GetDataAccess` carries.

pub mod audit;
pub mod aws;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;

use crate::error::SharedCause;
use std::error::Error;

use futures_util::future::BoxFuture;

use crate::credentials::Credentials;
use crate::scope::{DataAccessRequest, S3Target};

/// A successful `GetDataAccess` answer.
#[derive(Clone, Debug)]
pub struct DataAccess {
    pub credentials: Credentials,
    /// `MatchedGrantTarget`, when the service named one that parses.
    pub matched_grant_target: Option<S3Target>,
    /// Account of the Access Grants instance that answered.
    pub account_id: String,
}

/// How an upstream failure should be treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Access Grants refused the scope (AccessDenied, no instance). Terminal.
    Denied,
    /// The service refused the request as malformed (e.g. duration too long). Terminal.
    InvalidRequest,
    /// Throttling or SlowDown. Transient.
    Throttled,
    /// 5xx, timeouts, connection errors, our own identity failing. Transient.
    Unavailable,
    /// A 200 answer we cannot use (missing fields, bad expiration). Transient.
    Malformed,
}

/// An upstream failure: its kind, the service's error code and its message.
///
/// `Display` is this layer's verdict (`code: message`); what the SDK reported
/// underneath (a connection error, a timeout, the service's modeled error) is
/// the [`source`](std::error::Error::source), never folded into `message`.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct UpstreamError {
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
    #[source]
    cause: Option<SharedCause>,
}

impl UpstreamError {
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        UpstreamError {
            kind,
            code: code.into(),
            message: message.into(),
            cause: None,
        }
    }

    /// The same failure, caused by `source`.
    pub fn with_source(mut self, source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        self.cause = Some(SharedCause::new(source));
        self
    }

    /// Terminal answers are about the scope itself; retrying will not help.
    pub fn is_terminal(&self) -> bool {
        matches!(self.kind, ErrorKind::Denied | ErrorKind::InvalidRequest)
    }
}

/// Two failures are the same verdict when kind, code and message agree; the
/// causes underneath are not comparable.
impl PartialEq for UpstreamError {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, &self.code, &self.message) == (other.kind, &other.code, &other.message)
    }
}

impl Eq for UpstreamError {}

/// Classifies a service error code (and HTTP status, when known).
pub fn classify(code: &str, status: Option<u16>) -> ErrorKind {
    match code {
        "AccessDenied"
        | "AccessGrantsInstanceNotExistsError"
        | "AccessGrantsLocationNotFoundError"
        | "NoSuchAccessGrantError"
        | "AccessDeniedException" => ErrorKind::Denied,
        "InvalidRequest" | "ValidationException" | "InvalidParameterValue" | "InvalidArgument" => {
            ErrorKind::InvalidRequest
        }
        "SlowDown"
        | "Throttling"
        | "ThrottlingException"
        | "TooManyRequests"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => ErrorKind::Throttled,
        _ => match status {
            Some(429) => ErrorKind::Throttled,
            Some(403) if code.is_empty() => ErrorKind::Denied,
            _ => ErrorKind::Unavailable,
        },
    }
}

/// Where credentials come from.
pub trait Upstream: Send + Sync + 'static {
    /// Calls `GetDataAccess` (finding the instance account if needed).
    fn get_data_access<'a>(
        &'a self,
        request: &'a DataAccessRequest,
    ) -> BoxFuture<'a, Result<DataAccess, UpstreamError>>;

    /// Resolves the daemon's own identity (account id); `/readyz` waits for it.
    fn resolve_identity(&self) -> BoxFuture<'_, Result<String, UpstreamError>>;

    /// The ARN of the daemon's own identity (STS `GetCallerIdentity`, asked
    /// once), for `grantd status`.
    fn caller_arn(&self) -> BoxFuture<'_, Result<String, UpstreamError>> {
        Box::pin(async {
            Err(UpstreamError::new(
                ErrorKind::Unavailable,
                "NotKnown",
                "this upstream does not tell its caller's ARN",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_denials_throttling_and_outages() {
        assert_eq!(classify("AccessDenied", Some(403)), ErrorKind::Denied);
        assert_eq!(
            classify("AccessGrantsInstanceNotExistsError", Some(404)),
            ErrorKind::Denied
        );
        assert_eq!(
            classify("InvalidRequest", Some(400)),
            ErrorKind::InvalidRequest
        );
        assert_eq!(classify("SlowDown", Some(503)), ErrorKind::Throttled);
        assert_eq!(classify("", Some(429)), ErrorKind::Throttled);
        assert_eq!(classify("InternalError", Some(500)), ErrorKind::Unavailable);
        assert_eq!(classify("ExpiredToken", Some(400)), ErrorKind::Unavailable);
        assert!(!UpstreamError::new(ErrorKind::Throttled, "SlowDown", "x").is_terminal());
        assert!(UpstreamError::new(ErrorKind::Denied, "AccessDenied", "x").is_terminal());
    }

    #[test]
    fn keeps_its_cause_as_the_source_and_out_of_display() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = UpstreamError::new(ErrorKind::Unavailable, "DispatchFailure", "no connection")
            .with_source(io);
        assert_eq!(e.to_string(), "DispatchFailure: no connection");
        let source = e.source().expect("the cause is kept");
        let io = source.downcast_ref::<std::io::Error>().expect("as itself");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(e.clone().source().is_some(), "clones share the cause");
        assert!(
            UpstreamError::new(ErrorKind::Denied, "AccessDenied", "x")
                .source()
                .is_none()
        );
    }
}
