//! Routes: the container-credentials endpoint, IMDS, and operations.
//!
//! Owns request checks (Host, method, token), query parsing, and the mapping
//! of cache errors onto the contract's status codes and two-casing JSON.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tracing::{debug, info};

use super::{AppState, imds};
use crate::cache::{CacheError, CacheErrorKind, Vended};
use crate::credentials::{container_json, error_json};
use crate::scope::{DURATION_RANGE, DataAccessRequest, Permission, Privilege, S3Target};

pub type Resp = Response<Full<Bytes>>;

/// A failed request: status, contract error code and message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn into_response(self) -> Resp {
        let mut resp = json(self.status, error_json(self.code, &self.message));
        if matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

impl From<CacheError> for ApiError {
    fn from(e: CacheError) -> ApiError {
        let (status, code) = match e.kind {
            CacheErrorKind::Denied => (StatusCode::FORBIDDEN, "AccessDenied"),
            CacheErrorKind::InvalidRequest => (StatusCode::BAD_REQUEST, "InvalidRequest"),
            CacheErrorKind::Throttled => (StatusCode::SERVICE_UNAVAILABLE, "Throttled"),
            CacheErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "UpstreamUnavailable"),
            CacheErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
            CacheErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        ApiError::new(status, code, e.message)
    }
}

pub fn json(status: StatusCode, body: String) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub fn text(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Answers one request and records it in the metrics.
pub async fn handle(state: &AppState, req: Request<Incoming>) -> Resp {
    let started = tokio::time::Instant::now();
    let (route, resp) = route(state, &req).await;
    let status = resp.status().as_u16();
    state.metrics.request(route, status);
    debug!(method = %req.method(), path = req.uri().path(), route, status, micros = started.elapsed().as_micros() as u64, "request");
    resp
}

async fn route(state: &AppState, req: &Request<Incoming>) -> (&'static str, Resp) {
    if !state.allow_remote && !host_is_loopback(req) {
        let e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Host header must name a loopback address",
        );
        return ("bad_host", e.into_response());
    }
    let path = req.uri().path();
    if path.starts_with("/latest/") || path.starts_with("//latest/") {
        return match &state.imds {
            Some(sessions) => imds::route(state, sessions, req).await,
            None => (
                "not_found",
                not_found("IMDS routes are off; start grantd with --imds"),
            ),
        };
    }
    let route = match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/v1/credentials" | "/v1/credentials/" => "credentials",
        p if p.starts_with("/v1/credentials/") => "credentials_profile",
        _ => {
            return (
                "not_found",
                not_found(&format!("no route for {}", truncate(path, 200))),
            );
        }
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let e = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "InvalidRequest",
            format!("{} takes GET", truncate(path, 200)),
        );
        let mut resp = e.into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return (route, resp);
    }
    let resp = match route {
        "healthz" => text(StatusCode::OK, "ok", "text/plain; charset=utf-8"),
        "readyz" => readyz(state),
        "metrics" => {
            let body = state.metrics.render(
                state.cache.len(),
                &state.cache.expiries(),
                state.ready.get().is_some(),
            );
            text(
                StatusCode::OK,
                body,
                "text/plain; version=0.0.4; charset=utf-8",
            )
        }
        _ => credentials(state, req, route)
            .await
            .unwrap_or_else(ApiError::into_response),
    };
    (route, resp)
}

fn not_found(message: &str) -> Resp {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", message).into_response()
}

fn readyz(state: &AppState) -> Resp {
    match state.ready.get() {
        Some(account) => json(
            StatusCode::OK,
            serde_json::json!({"status": "ready", "account_id": account}).to_string(),
        ),
        None => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "starting", "message": "resolving the upstream identity"})
                .to_string(),
        ),
    }
}

/// DNS-rebinding guard: a browser tricked into calling us sends its own site as Host.
fn host_is_loopback(req: &Request<Incoming>) -> bool {
    let Some(host) = req.headers().get(header::HOST) else {
        return true; // HTTP/1.0 clients; a browser always sends Host.
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check_token(state: &AppState, req: &Request<Incoming>) -> Result<(), ApiError> {
    let Some(presented) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "MissingToken",
            "send the grantd token in the Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, or AWS_CONTAINER_AUTHORIZATION_TOKEN for Java SDK v1 (Hadoop 3.3)",
        ));
    };
    if state.token.matches(presented.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "InvalidToken",
            "the Authorization token is not this daemon's",
        ))
    }
}

async fn credentials(
    state: &AppState,
    req: &Request<Incoming>,
    route: &str,
) -> Result<Resp, ApiError> {
    check_token(state, req)?;
    let request = scope_of(state, req, route)?;
    let vended = vend(state, &request).await?;
    Ok(json(
        StatusCode::OK,
        container_json(&vended.credentials, &vended.info),
    ))
}

/// Asks the cache, within the daemon's limit on requests being answered.
pub(super) async fn vend(
    state: &AppState,
    request: &DataAccessRequest,
) -> Result<std::sync::Arc<Vended>, ApiError> {
    let inflight = state.inflight.fetch_add(1, Ordering::AcqRel);
    let _guard = Decrement(&state.inflight);
    if inflight >= state.limits.max_inflight {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "too many requests at once; retry shortly",
        ));
    }
    match state.cache.get(request).await {
        Ok(v) => Ok(v),
        Err(e) => {
            if e.kind == CacheErrorKind::Denied {
                info!(scope = %request, reason = %e.message, "request denied");
            }
            Err(e.into())
        }
    }
}

struct Decrement<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The scope a credentials request names: query, profile path, or the default profile.
fn scope_of(
    state: &AppState,
    req: &Request<Incoming>,
    route: &str,
) -> Result<DataAccessRequest, ApiError> {
    let query = req.uri().query().unwrap_or("");
    if route == "credentials_profile" {
        let raw = &req.uri().path()["/v1/credentials/".len()..];
        let name = percent_decode(raw);
        if !query.is_empty() {
            return Err(bad(
                "InvalidRequest",
                "a profile route takes no query; use /v1/credentials?target=…&permission=…",
            ));
        }
        return profile(state, &name);
    }
    if query.is_empty() {
        return match state.profiles.first() {
            Some(p) => Ok(p.request.clone()),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "UnknownProfile",
                "no default profile is configured; ask /v1/credentials?target=s3://bucket/prefix/*&permission=READ",
            )),
        };
    }
    parse_query(query)
}

pub(super) fn profile(state: &AppState, name: &str) -> Result<DataAccessRequest, ApiError> {
    state
        .profiles
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.request.clone())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "UnknownProfile",
                format!("no profile named {:?}", truncate(name, 100)),
            )
        })
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// `target=S3URI&permission=P[&privilege=…][&duration=SECONDS]`, strictly.
pub fn parse_query(query: &str) -> Result<DataAccessRequest, ApiError> {
    let (mut target, mut permission, mut privilege, mut duration) = (None, None, None, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "target" => &mut target,
            "permission" => &mut permission,
            "privilege" => &mut privilege,
            "duration" => &mut duration,
            other => {
                return Err(bad(
                    "InvalidRequest",
                    format!(
                        "unknown query parameter {:?}; expected target, permission, privilege, duration",
                        truncate(other, 50)
                    ),
                ));
            }
        };
        if slot.is_some() {
            return Err(bad(
                "InvalidRequest",
                format!("query parameter {key} given twice"),
            ));
        }
        *slot = Some(value);
    }
    let target: Cow<str> = target.ok_or_else(|| {
        bad(
            "InvalidTarget",
            "missing target, e.g. target=s3://bucket/prefix/*",
        )
    })?;
    let target = S3Target::parse(&target).map_err(|e| bad("InvalidTarget", e.to_string()))?;
    let permission = permission
        .ok_or_else(|| {
            bad(
                "InvalidPermission",
                "missing permission: READ, WRITE or READWRITE",
            )
        })?
        .parse::<Permission>()
        .map_err(|e| bad("InvalidPermission", e.to_string()))?;
    let privilege = match privilege {
        Some(p) => p
            .parse::<Privilege>()
            .map_err(|e| bad("InvalidRequest", e.to_string()))?,
        None => Privilege::Default,
    };
    let duration_seconds = match duration {
        Some(d) => Some(
            d.parse::<u32>()
                .ok()
                .filter(|d| DURATION_RANGE.contains(d))
                .ok_or_else(|| {
                    bad(
                        "InvalidRequest",
                        format!(
                            "duration must be whole seconds from 900 to 43200, got {:?}",
                            truncate(&d, 20)
                        ),
                    )
                })?,
        ),
        None => None,
    };
    Ok(DataAccessRequest {
        target,
        permission,
        privilege,
        duration_seconds,
        account_id: None,
        region: None,
    })
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("n={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub(super) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_query() {
        let r = parse_query("target=s3%3A%2F%2Fbucket%2FUserA%2F*&permission=readwrite&privilege=Minimal&duration=3600").unwrap();
        assert_eq!(r.target.as_str(), "s3://bucket/UserA/*");
        assert_eq!(r.permission, Permission::ReadWrite);
        assert_eq!(r.privilege, Privilege::Minimal);
        assert_eq!(r.duration_seconds, Some(3600));
        let plain = parse_query("target=s3://bucket/UserA/*&permission=READ").unwrap();
        assert_eq!(plain.target.as_str(), "s3://bucket/UserA/*");
    }

    #[test]
    fn refuses_malformed_queries_with_the_contract_codes() {
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
        ] {
            let e = parse_query(query).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, code),
                "{query}: {}",
                e.message
            );
        }
    }

    #[test]
    fn profile_names_are_percent_decoded() {
        assert_eq!(percent_decode("user%2Da"), "user-a");
        assert_eq!(percent_decode("a+b"), "a+b");
    }
}
