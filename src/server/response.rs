//! Responses: the JSON and text bodies the server sends, and [`ApiError`].
//!
//! Owns the one mapping from a failure (refused auth, a bad query, the
//! in-flight limit, a cache error, a missing route or profile) onto the
//! contract's status, error code and two-casing JSON body. Handlers return
//! `Result<Resp, ApiError>` and never pick a status for a failure themselves.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::auth::AuthError;
use super::limit::Busy;
use super::query::QueryError;
use crate::cache::{CacheError, CacheErrorKind};
use crate::wire::error_json;

pub type Resp = Response<Full<Bytes>>;

/// A request the server refuses or cannot answer. Its `Display` is the
/// message of the JSON body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The name as asked for, already bounded.
    #[error("no profile named {0:?}")]
    UnknownProfile(String),
    #[error(
        "no default profile is configured; ask /v1/credentials?target=s3://bucket/prefix/*&permission=READ"
    )]
    NoDefaultProfile,
    /// 400 `InvalidRequest` for a malformed request outside the credentials query.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// `allow` becomes the `Allow` header when set.
    #[error("{message}")]
    WrongMethod {
        message: String,
        allow: Option<&'static str>,
    },
    #[error("{0}")]
    Internal(&'static str),
    /// The peer may have grant credentials but not the base identity.
    #[error(
        "uid {0} may not have the daemon's own identity; to allow it, add {0} to \
         base_allowed_uids (GRANTD_BASE_ALLOWED_UIDS)"
    )]
    BaseNotAllowed(u32),
    #[error(transparent)]
    Base(crate::base::BaseError),
    /// `/v1/status` and `/v1/reload` are the daemon's own user's alone.
    #[error(
        "only the daemon's own user (uid {owner}) may ask for its status or a reload; uid {uid} may not"
    )]
    OwnerOnly { uid: u32, owner: u32 },
    /// A reload read a configuration that fails its checks: every problem.
    #[error("the configuration has {} problem(s); the one in force stays: {}", .0.len(), .0.join("; "))]
    InvalidConfiguration(Vec<String>),
}

impl ApiError {
    /// The contract's status and error code for this failure.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Auth(e) => match e {
                AuthError::PeerNotAllowed { .. } | AuthError::PeerUnknown => {
                    (StatusCode::FORBIDDEN, "PeerNotAllowed")
                }
                AuthError::NonLoopbackHost => (StatusCode::BAD_REQUEST, "InvalidRequest"),
                AuthError::MissingToken => (StatusCode::UNAUTHORIZED, "MissingToken"),
                AuthError::InvalidToken => (StatusCode::FORBIDDEN, "InvalidToken"),
                AuthError::MissingSession
                | AuthError::ExpiredSession
                | AuthError::UnknownSession => (StatusCode::UNAUTHORIZED, "Unauthorized"),
                AuthError::Forwarded => (StatusCode::FORBIDDEN, "Forbidden"),
            },
            ApiError::Query(e) => {
                let code = match e {
                    QueryError::MissingTarget | QueryError::Target(_) => "InvalidTarget",
                    QueryError::MissingPermission | QueryError::Permission(_) => {
                        "InvalidPermission"
                    }
                    QueryError::UnknownParameter(_)
                    | QueryError::Repeated(_)
                    | QueryError::Privilege(_)
                    | QueryError::Duration(_)
                    | QueryError::ProfileTakesNoQuery
                    | QueryError::NotUtf8 => "InvalidRequest",
                };
                (StatusCode::BAD_REQUEST, code)
            }
            ApiError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
            ApiError::Cache(e) => {
                let status = match e.kind {
                    CacheErrorKind::Denied => StatusCode::FORBIDDEN,
                    CacheErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
                    CacheErrorKind::Throttled | CacheErrorKind::Unavailable => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                    CacheErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                    CacheErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (status, e.kind.code())
            }
            ApiError::UnknownProfile(_) | ApiError::NoDefaultProfile => {
                (StatusCode::NOT_FOUND, "UnknownProfile")
            }
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "InvalidRequest"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::WrongMethod { .. } => (StatusCode::METHOD_NOT_ALLOWED, "InvalidRequest"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
            ApiError::BaseNotAllowed(_) => (StatusCode::FORBIDDEN, "PeerNotAllowed"),
            ApiError::Base(_) => (StatusCode::SERVICE_UNAVAILABLE, "UpstreamUnavailable"),
            ApiError::OwnerOnly { .. } => (StatusCode::FORBIDDEN, "PeerNotAllowed"),
            ApiError::InvalidConfiguration(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "InvalidConfiguration")
            }
        }
    }

    /// The JSON error body; 429 and 503 also say when to retry.
    pub fn into_response(self) -> Resp {
        let (status, code) = self.status_and_code();
        let body = match &self {
            // The problems one by one too, for `grantd reload` to list.
            ApiError::InvalidConfiguration(problems) => {
                let mut body: serde_json::Value =
                    serde_json::from_str(&error_json(code, &self.to_string())).unwrap_or_default();
                body["problems"] = problems.clone().into();
                body.to_string()
            }
            _ => error_json(code, &self.to_string()),
        };
        let mut resp = json(status, body);
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::WrongMethod {
            allow: Some(allow), ..
        } = self
        {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

/// A JSON body; nothing the server sends may be cached.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    text(status, body, "application/json")
}

pub fn text(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::query::parse_query;
    use http_body_util::BodyExt;

    async fn body(resp: Resp) -> serde_json::Value {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn malformed_queries_get_the_contract_codes() {
        for (query, code) in [
            ("permission=READ", "InvalidTarget"),
            ("target=bucket/x&permission=READ", "InvalidTarget"),
            ("target=s3://bucket/x", "InvalidPermission"),
            ("target=s3://bucket/x&permission=ALL", "InvalidPermission"),
            (
                "target=s3://bucket/x&permission=READ&privilege=Max",
                "InvalidRequest",
            ),
            (
                "target=s3://bucket/x&permission=READ&duration=60",
                "InvalidRequest",
            ),
            (
                "target=s3://bucket/x&permission=READ&duration=abc",
                "InvalidRequest",
            ),
            (
                "target=s3://bucket/x&permission=READ&permission=WRITE",
                "InvalidRequest",
            ),
            (
                "target=s3://bucket/x&permission=READ&colour=blue",
                "InvalidRequest",
            ),
            ("target=s3://bucket/%FF&permission=READ", "InvalidRequest"),
        ] {
            let e = ApiError::from(parse_query(query).unwrap_err());
            assert_eq!(
                e.status_and_code(),
                (StatusCode::BAD_REQUEST, code),
                "{query}: {e}"
            );
        }
    }

    #[test]
    fn cache_errors_get_the_contract_codes() {
        for (kind, status, code) in [
            (CacheErrorKind::Denied, 403, "AccessDenied"),
            (CacheErrorKind::InvalidRequest, 400, "InvalidRequest"),
            (CacheErrorKind::Throttled, 503, "Throttled"),
            (CacheErrorKind::Unavailable, 503, "UpstreamUnavailable"),
            (CacheErrorKind::RateLimited, 429, "TooManyRequests"),
            (CacheErrorKind::Internal, 500, "InternalError"),
        ] {
            let e = ApiError::from(CacheError::new(kind, "why"));
            let (s, c) = e.status_and_code();
            assert_eq!((s.as_u16(), c), (status, code), "{kind:?}");
        }
    }

    #[tokio::test]
    async fn error_bodies_carry_both_casings_and_the_passed_on_message() {
        let denied = ApiError::from(CacheError::new(
            CacheErrorKind::Denied,
            "You do not have access",
        ));
        let resp = denied.into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        assert!(!resp.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(
            body(resp).await,
            serde_json::json!({
                "code": "AccessDenied", "message": "You do not have access",
                "Code": "AccessDenied", "Message": "You do not have access",
            })
        );
    }

    #[tokio::test]
    async fn a_refused_peer_gets_403_peer_not_allowed_naming_its_uid() {
        let refused = ApiError::from(AuthError::PeerNotAllowed {
            uid: 65_534,
            owner: 1000,
        });
        let resp = refused.into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let v = body(resp).await;
        assert_eq!(
            (&v["code"], &v["Code"]),
            (&"PeerNotAllowed".into(), &"PeerNotAllowed".into())
        );
        let message = v["message"].as_str().unwrap();
        assert!(message.contains("Unix user 65534"), "{message}");
        assert!(message.contains("allowed_uids"), "{message}");
        assert_eq!(v["message"], v["Message"]);

        let unknown = ApiError::from(AuthError::PeerUnknown);
        assert_eq!(
            unknown.status_and_code(),
            (StatusCode::FORBIDDEN, "PeerNotAllowed")
        );
        assert!(unknown.to_string().contains("cannot tell which local user"));
    }

    #[tokio::test]
    async fn busy_and_unavailable_say_when_to_retry() {
        let resp = ApiError::from(Busy).into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            body(resp).await["message"],
            "too many requests at once; retry shortly"
        );
    }

    #[test]
    fn a_wrong_method_names_the_allowed_ones_only_when_told() {
        let with = ApiError::WrongMethod {
            message: "/healthz takes GET".into(),
            allow: Some("GET, HEAD"),
        }
        .into_response();
        assert_eq!(with.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(with.headers()[header::ALLOW], "GET, HEAD");
        let without = ApiError::WrongMethod {
            message: "instance metadata takes GET".into(),
            allow: None,
        }
        .into_response();
        assert!(!without.headers().contains_key(header::ALLOW));
    }
}
