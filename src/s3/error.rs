//! Every way the S3 endpoint refuses or fails a request, as S3 would say it.
//!
//! Each [`S3Error`] carries S3's code, status and message; [`S3Error::into_response`]
//! writes S3's XML error document. Messages name scopes and operations,
//! never a signature, a secret or a token.

use grantd_s3::chunked::ChunkError;
use grantd_s3::ops::OpError;
use grantd_s3::sigv4::AuthError;
use grantd_s3::xml::{XmlError, error_body};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::body::S3Body;
use super::forward::own_answer;
use crate::metrics::s3::Outcome;

/// A refusal or failure, with S3's words for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum S3Error {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Body(#[from] ChunkError),
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// No grant covers the scope and the fallback is `deny`, or Access
    /// Grants refused it; the message names the scope.
    #[error("{0}")]
    AccessDenied(String),
    /// The peer's Unix user may not use this endpoint.
    #[error("{0}")]
    PeerNotAllowed(String),
    /// A request S3 itself would refuse as malformed.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    EntityTooLarge(String),
    /// Access Grants or the base identity is unavailable for now.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// S3 could not be reached.
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    Internal(String),
}

impl S3Error {
    pub fn code(&self) -> &'static str {
        match self {
            S3Error::Auth(e) => e.code(),
            S3Error::Body(e) => e.code(),
            S3Error::Op(e) => e.code(),
            S3Error::Xml(e) => e.code(),
            S3Error::AccessDenied(_) | S3Error::PeerNotAllowed(_) => "AccessDenied",
            S3Error::InvalidRequest(_) => "InvalidRequest",
            S3Error::EntityTooLarge(_) => "EntityTooLarge",
            S3Error::ServiceUnavailable(_) => "ServiceUnavailable",
            S3Error::BadGateway(_) => "InternalError",
            S3Error::Internal(_) => "InternalError",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            S3Error::Auth(e) => e.status(),
            S3Error::Body(e) => e.status(),
            S3Error::Op(e) => e.status(),
            S3Error::Xml(e) => e.status(),
            S3Error::AccessDenied(_) | S3Error::PeerNotAllowed(_) => StatusCode::FORBIDDEN,
            S3Error::InvalidRequest(_) | S3Error::EntityTooLarge(_) => StatusCode::BAD_REQUEST,
            S3Error::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            S3Error::BadGateway(_) => StatusCode::BAD_GATEWAY,
            S3Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// How the metrics count it.
    pub fn outcome(&self) -> Outcome {
        match self {
            S3Error::AccessDenied(_) => Outcome::Denied,
            S3Error::ServiceUnavailable(_) | S3Error::BadGateway(_) | S3Error::Internal(_) => {
                Outcome::Failed
            }
            _ => Outcome::Refused,
        }
    }

    /// S3's XML error document, with the request id in the header too.
    pub fn into_response(self, resource: Option<&str>, request_id: &str) -> Response<S3Body> {
        let body = error_body(self.code(), &self.to_string(), resource, request_id);
        let mut resp = own_answer(self.status(), body, request_id);
        let headers = resp.headers_mut();
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
