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

use super::auth::AuthError;
use super::response::{ApiError, Resp, json, text};
use super::{AppState, truncate};
use crate::wire::imds_json;

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

/// An IMDS path, `//` collapsed (Java builds `endpoint + "/latest/…"`).
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/latest/api/token`
    Token,
    /// `/latest/meta-data/iam/security-credentials/`, or without the last `/`
    Roles,
    /// `/latest/meta-data/iam/security-credentials/<profile>`
    Credentials(String),
    /// Anything else under `/latest/`, as normalised.
    NotFound(String),
}

impl Route {
    pub fn parse(path: &str) -> Route {
        let path = normalize(path);
        if path == "/latest/api/token" {
            return Route::Token;
        }
        // EC2 answers the role list with and without the trailing slash.
        if path == CREDS_PREFIX.trim_end_matches('/') {
            return Route::Roles;
        }
        match path.strip_prefix(CREDS_PREFIX) {
            Some("") => Route::Roles,
            Some(rest) => Route::Credentials(rest.trim_end_matches('/').to_owned()),
            None => Route::NotFound(path),
        }
    }

    /// The `route` label of `grantd_http_requests_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Token => "imds_token",
            Route::Roles => "imds_roles",
            Route::Credentials(_) => "imds_credentials",
            Route::NotFound(_) => "imds_not_found",
        }
    }
}

fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// Answers an IMDS request; the session is checked before anything is read.
pub(super) async fn answer(
    state: &AppState,
    sessions: &Sessions,
    route: Route,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    let name = match route {
        Route::Token => return put_token(state, sessions, req),
        Route::NotFound(path) => {
            return Err(ApiError::NotFound(format!(
                "no metadata at {}",
                truncate(&path, 200)
            )));
        }
        Route::Roles => None,
        Route::Credentials(name) => Some(name),
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::WrongMethod {
            message: "instance metadata takes GET".into(),
            allow: None,
        });
    }
    check_session(state, sessions, req)?;
    match name {
        None => role_list(state, sessions.roles),
        Some(name) => {
            let scope = state.profile(&name)?;
            let vended = state.vend(&scope).await?;
            Ok(json(
                StatusCode::OK,
                imds_json(&vended.credentials, vended.issued_at),
            ))
        }
    }
}

fn put_token(
    state: &AppState,
    sessions: &Sessions,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    if req.method() != Method::PUT {
        return Err(ApiError::WrongMethod {
            message: "the token route takes PUT".into(),
            allow: None,
        });
    }
    if req.headers().contains_key("x-forwarded-for") {
        return Err(AuthError::Forwarded.into());
    }
    let ttl = req
        .headers()
        .get(TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|t| (1..=MAX_TTL_SECONDS).contains(t))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "X-aws-ec2-metadata-token-ttl-seconds must be a whole number from 1 to {MAX_TTL_SECONDS}"
            ))
        })?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::Internal("no randomness"))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    sessions
        .tokens
        .insert(token.clone(), state.clock.now() + Duration::from_secs(ttl));
    let mut resp = text(StatusCode::OK, token, "text/plain");
    resp.headers_mut()
        .insert(TTL_HEADER, HeaderValue::from(ttl));
    Ok(resp)
}

fn check_session(
    state: &AppState,
    sessions: &Sessions,
    req: &Request<Incoming>,
) -> Result<(), AuthError> {
    let token = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::MissingSession)?;
    match sessions.tokens.get(token) {
        Some(until) if until > state.clock.now() => Ok(()),
        Some(_) => {
            sessions.tokens.invalidate(token);
            Err(AuthError::ExpiredSession)
        }
        None => Err(AuthError::UnknownSession),
    }
}

fn role_list(state: &AppState, roles: RoleList) -> Result<Resp, ApiError> {
    let profiles = state.profiles();
    if profiles.is_empty() {
        return Err(ApiError::NotFound("no profiles are configured".into()));
    }
    let shown = match roles {
        RoleList::DefaultOnly => 1,
        RoleList::All => profiles.len(),
    };
    let names: Vec<&str> = profiles
        .iter()
        .take(shown)
        .map(|p| p.name.as_str())
        .collect();
    // Used verbatim by botocore and Rust: no trailing newline.
    Ok(text(StatusCode::OK, names.join("\n"), "text/plain"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_double_slashes() {
        assert_eq!(
            normalize("//latest//meta-data/iam/"),
            "/latest/meta-data/iam/"
        );
    }

    #[test]
    fn parses_the_metadata_paths() {
        assert_eq!(Route::parse("/latest/api/token"), Route::Token);
        assert_eq!(Route::parse("//latest/api/token"), Route::Token);
        assert_eq!(Route::parse(CREDS_PREFIX), Route::Roles);
        assert_eq!(
            Route::parse("/latest/meta-data/iam/security-credentials"),
            Route::Roles
        );
        assert_eq!(
            Route::parse("/latest/meta-data/iam/security-credentials/usera/"),
            Route::Credentials("usera".into())
        );
        assert_eq!(
            Route::parse("/latest//meta-data/ami-id"),
            Route::NotFound("/latest/meta-data/ami-id".into())
        );
    }
}
