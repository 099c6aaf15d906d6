//! Why a request's authentication was refused, as S3 words it.
//!
//! Every message is S3's own text or built from validated, short request
//! parts: never a secret, a signature or a session token.

use std::borrow::Cow;
use std::time::SystemTime;

use http::StatusCode;

/// A refused request: each variant knows S3's error code and status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No auth at all, a presigned URL out of its window, no usable date.
    #[error("{message}")]
    AccessDenied { message: Cow<'static, str> },
    /// `x-amz-*` headers outside `SignedHeaders` (S3's code: `AccessDenied`).
    #[error("There were headers present in the request which were not signed")]
    HeadersNotSigned { headers: Vec<String> },
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your key and signing method."
    )]
    SignatureDoesNotMatch,
    /// The lookup did not know the key (or a temporary key came without its
    /// token). A caller may refresh its keys and retry once.
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId { access_key_id: String },
    /// The session token is not the key's.
    #[error("The provided token is malformed or otherwise invalid.")]
    InvalidToken,
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed {
        request_time: SystemTime,
        server_time: SystemTime,
    },
    #[error("{message}")]
    AuthorizationHeaderMalformed { message: Cow<'static, str> },
    #[error("{message}")]
    AuthorizationQueryParametersError { message: Cow<'static, str> },
    /// An unsupported mechanism (SigV2, SigV4a), no `x-amz-content-sha256`.
    #[error("{message}")]
    InvalidRequest { message: Cow<'static, str> },
    /// An unknown `Authorization` scheme or `x-amz-content-sha256` value,
    /// two auth mechanisms at once.
    #[error("{message}")]
    InvalidArgument { message: Cow<'static, str> },
    /// The body does not hash to `x-amz-content-sha256`.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    XAmzContentSHA256Mismatch,
}

impl AuthError {
    /// S3's `<Code>`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::AccessDenied { .. } | AuthError::HeadersNotSigned { .. } => "AccessDenied",
            AuthError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            AuthError::InvalidAccessKeyId { .. } => "InvalidAccessKeyId",
            AuthError::InvalidToken => "InvalidToken",
            AuthError::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            AuthError::AuthorizationHeaderMalformed { .. } => "AuthorizationHeaderMalformed",
            AuthError::AuthorizationQueryParametersError { .. } => {
                "AuthorizationQueryParametersError"
            }
            AuthError::InvalidRequest { .. } => "InvalidRequest",
            AuthError::InvalidArgument { .. } => "InvalidArgument",
            AuthError::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// S3's HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::AccessDenied { .. }
            | AuthError::HeadersNotSigned { .. }
            | AuthError::SignatureDoesNotMatch
            | AuthError::InvalidAccessKeyId { .. }
            | AuthError::RequestTimeTooSkewed { .. } => StatusCode::FORBIDDEN,
            AuthError::InvalidToken
            | AuthError::AuthorizationHeaderMalformed { .. }
            | AuthError::AuthorizationQueryParametersError { .. }
            | AuthError::InvalidRequest { .. }
            | AuthError::InvalidArgument { .. }
            | AuthError::XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
        }
    }
}
