//! IMDSv2-compatible routes (`--imds`), for clients that only read instance metadata.
//!
//! Owns the session tokens of `PUT /latest/api/token` and the two
//! security-credentials routes. Profiles are the role names, default first.
//! A token is random, bound to nothing but its expiry, and held in a bounded
//! map so a flood of PUTs cannot grow memory without limit.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};

use super::AppState;
use super::routes::{ApiError, Resp, json, profile, text, truncate, vend};
use crate::credentials::imds_json;

pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Longest session IMDS grants (6 hours).
pub const MAX_TTL_SECONDS: u64 = 21_600;
/// Most live sessions.
pub const MAX_SESSIONS: u64 = 10_000;

const CREDS_PREFIX: &str = "/latest/meta-data/iam/security-credentials/";

/// What `GET /latest/meta-data/iam/security-credentials/` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RoleList {
    /// The default profile alone, as EC2 lists its one role. botocore, the JS
    /// SDK and the Rust SDK use the whole body as one role name, so this is the
    /// only form they can read. Other profiles stay reachable by name.
    #[default]
    DefaultOnly,
    /// Every profile, default first, one per line (only Java v1 reads past the
    /// first line); `imds_list_all_profiles = true`.
    All,
}

/// Live IMDS session tokens and their expiry.
pub struct Sessions {
    tokens: moka::sync::Cache<String, SystemTime>,
    roles: RoleList,
}

impl Sessions {
    pub fn new(roles: RoleList) -> Sessions {
        Sessions {
            tokens: moka::sync::Cache::builder()
                .max_capacity(MAX_SESSIONS)
                .time_to_live(Duration::from_secs(MAX_TTL_SECONDS))
                .build(),
            roles,
        }
    }
}

fn unauthorized(message: &str) -> Resp {
    ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message).into_response()
}

/// Collapses `//` (Java builds `endpoint + "/latest/…"`).
fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

pub async fn route(
    state: &AppState,
    sessions: &Sessions,
    req: &Request<Incoming>,
) -> (&'static str, Resp) {
    let path = normalize(req.uri().path());
    if path == "/latest/api/token" {
        return ("imds_token", put_token(state, sessions, req));
    }
    if let Some(rest) = path.strip_prefix(CREDS_PREFIX) {
        let route = if rest.is_empty() {
            "imds_roles"
        } else {
            "imds_credentials"
        };
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let e = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "InvalidRequest",
                "instance metadata takes GET",
            );
            return (route, e.into_response());
        }
        if let Err(why) = check_session(state, sessions, req) {
            return (route, unauthorized(why));
        }
        let resp = if rest.is_empty() {
            role_list(state, sessions.roles)
        } else {
            credentials(state, rest.trim_end_matches('/')).await
        };
        return (route, resp);
    }
    let e = ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("no metadata at {}", truncate(&path, 200)),
    );
    ("imds_not_found", e.into_response())
}

fn put_token(state: &AppState, sessions: &Sessions, req: &Request<Incoming>) -> Resp {
    if req.method() != Method::PUT {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "InvalidRequest",
            "the token route takes PUT",
        )
        .into_response();
    }
    if req.headers().contains_key("x-forwarded-for") {
        // As on EC2: a request relayed through a proxy must not mint a session.
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "requests carrying X-Forwarded-For are refused",
        )
        .into_response();
    }
    let ttl = req
        .headers()
        .get(TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|t| (1..=MAX_TTL_SECONDS).contains(t));
    let Some(ttl) = ttl else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "X-aws-ec2-metadata-token-ttl-seconds must be a whole number from 1 to 21600",
        )
        .into_response();
    };
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "no randomness",
        )
        .into_response();
    }
    let token = URL_SAFE_NO_PAD.encode(bytes);
    sessions
        .tokens
        .insert(token.clone(), state.clock.now() + Duration::from_secs(ttl));
    let mut resp = text(StatusCode::OK, token, "text/plain");
    resp.headers_mut()
        .insert(TTL_HEADER, HeaderValue::from(ttl));
    resp
}

/// `Err` carries why the session is refused (a 401).
fn check_session(
    state: &AppState,
    sessions: &Sessions,
    req: &Request<Incoming>,
) -> Result<(), &'static str> {
    let token = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or("missing X-aws-ec2-metadata-token; PUT /latest/api/token first")?;
    match sessions.tokens.get(token) {
        Some(until) if until > state.clock.now() => Ok(()),
        Some(_) => {
            sessions.tokens.invalidate(token);
            Err("the metadata token has expired")
        }
        None => Err("unknown metadata token"),
    }
}

fn role_list(state: &AppState, roles: RoleList) -> Resp {
    if state.profiles.is_empty() {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no profiles are configured",
        )
        .into_response();
    }
    let shown = match roles {
        RoleList::DefaultOnly => 1,
        RoleList::All => state.profiles.len(),
    };
    let names: Vec<&str> = state
        .profiles
        .iter()
        .take(shown)
        .map(|p| p.name.as_str())
        .collect();
    // Used verbatim by botocore and Rust: no trailing newline.
    text(StatusCode::OK, names.join("\n"), "text/plain")
}

async fn credentials(state: &AppState, name: &str) -> Resp {
    let result = async {
        let request = profile(state, name)?;
        vend(state, &request).await
    }
    .await;
    match result {
        Ok(v) => json(StatusCode::OK, imds_json(&v.credentials, v.issued_at)),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn collapses_double_slashes() {
        assert_eq!(
            super::normalize("//latest//meta-data/iam/"),
            "/latest/meta-data/iam/"
        );
    }
}
