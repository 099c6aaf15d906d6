//! Dispatch: each request's path parsed once into a [`Route`], then answered.
//!
//! Owns the route table of the container-credentials endpoint and the
//! operations routes, and the order of checks on a credentials request
//! (method, then the peer's user, then token, then scope, then the cache).
//! Every route that vends or describes credentials, the IMDS ones included,
//! asks the peer first; the operations routes answer anyone, but a peer that
//! may not get credentials sees no account, bucket or prefix in them, and
//! its connection is closed after each answer. A route carries the label
//! `/metrics` counts it under, so the table is written once.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use tracing::{debug, warn};

use super::auth::{self, AuthError, Peer};
use super::imds::{self, Sessions};
use super::query::{QueryError, parse_query, percent_decode};
use super::response::{ApiError, Resp, json, text};
use super::{AppState, Scope, truncate};
use crate::wire::{base_json, container_json_prepared};

const CREDENTIALS_PROFILE_PREFIX: &str = "/v1/credentials/";

/// What a request asks for, decided once from its Host and path.
pub(super) enum Route<'a> {
    /// Refused before routing: the Host names no loopback address.
    BadHost,
    Healthz,
    Readyz,
    Metrics,
    /// `/v1/credentials`: the scope of its query, or the default profile.
    Credentials,
    /// `/v1/credentials/<name>`, the name still percent-encoded.
    CredentialsProfile(&'a str),
    /// `/v1/base-credentials`: the daemon's own identity, for the S3 endpoint's clients.
    BaseCredentials,
    /// `/v1/status`: what the daemon holds now (`grantd status`), for its own user.
    Status,
    /// `/v1/reload`: re-read the configuration (`grantd reload`), for its own user.
    Reload,
    /// `/latest/…` while IMDS is off.
    ImdsOff,
    Imds(&'a Sessions, imds::Route),
    NotFound,
}

impl<'a> Route<'a> {
    /// The route of `path`; `/latest/…` goes to IMDS when `imds` is on.
    pub(super) fn parse(path: &'a str, imds: Option<&'a Sessions>) -> Route<'a> {
        if path.starts_with("/latest/") || path.starts_with("//latest/") {
            return match imds {
                Some(sessions) => Route::Imds(sessions, imds::Route::parse(path)),
                None => Route::ImdsOff,
            };
        }
        match path {
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/metrics" => Route::Metrics,
            "/v1/credentials" | "/v1/credentials/" => Route::Credentials,
            "/v1/base-credentials" => Route::BaseCredentials,
            "/v1/status" => Route::Status,
            "/v1/reload" => Route::Reload,
            p => match p.strip_prefix(CREDENTIALS_PROFILE_PREFIX) {
                Some(name) => Route::CredentialsProfile(name),
                None => Route::NotFound,
            },
        }
    }

    /// Whether the route vends or describes credentials, so only users
    /// allowed to get them may ask. Every IMDS route does: a session is the
    /// only thing between its holder and every profile.
    pub(super) fn serves_credentials(&self) -> bool {
        matches!(
            self,
            Route::Credentials
                | Route::CredentialsProfile(_)
                | Route::BaseCredentials
                | Route::Status
                | Route::Reload
                | Route::Imds(..)
        )
    }

    /// The `route` label of `grantd_http_requests_total`.
    pub(super) fn label(&self) -> &'static str {
        match self {
            Route::BadHost => "bad_host",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::Credentials => "credentials",
            Route::CredentialsProfile(_) => "credentials_profile",
            Route::BaseCredentials => "base_credentials",
            Route::Status => "status",
            Route::Reload => "reload",
            Route::ImdsOff | Route::NotFound => "not_found",
            Route::Imds(_, route) => route.label(),
        }
    }
}

/// Answers one request from `peer` and records it in the metrics.
pub async fn handle(state: &AppState, peer: &Peer, req: Request<Incoming>) -> Resp {
    let started = tokio::time::Instant::now();
    let route = if state.allow_remote || auth::check_host(req.headers()).is_ok() {
        Route::parse(req.uri().path(), state.imds.as_ref())
    } else {
        Route::BadHost
    };
    let label = route.label();
    let mut resp = dispatch(state, peer, route, &req)
        .await
        .unwrap_or_else(ApiError::into_response);
    if !peer.trusted() {
        // No keep-alive for users who may not get credentials: each of their
        // connections serves one answer, then its place is free again.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let status = resp.status().as_u16();
    state.metrics.request(label, status);
    debug!(method = %req.method(), path = req.uri().path(), route = label, status, micros = started.elapsed().as_micros() as u64, "request");
    resp
}

async fn dispatch(
    state: &AppState,
    peer: &Peer,
    route: Route<'_>,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    let path = req.uri().path();
    let get_only = matches!(
        route,
        Route::Healthz
            | Route::Readyz
            | Route::Metrics
            | Route::Credentials
            | Route::CredentialsProfile(_)
            | Route::BaseCredentials
            | Route::Status
    );
    if get_only && req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::WrongMethod {
            message: format!("{} takes GET", truncate(path, 200)),
            allow: Some("GET, HEAD"),
        });
    }
    if matches!(route, Route::Reload) && req.method() != Method::POST {
        return Err(ApiError::WrongMethod {
            message: format!("{} takes POST", truncate(path, 200)),
            allow: Some("POST"),
        });
    }
    if route.serves_credentials() {
        check_peer(state, peer, route.label())?;
    }
    match route {
        Route::BadHost => Err(AuthError::NonLoopbackHost.into()),
        Route::Healthz => Ok(text(StatusCode::OK, "ok", "text/plain; charset=utf-8")),
        Route::Readyz => Ok(readyz(state, peer.trusted())),
        Route::Metrics => Ok(metrics(state, peer.trusted())),
        Route::Credentials => credentials(state, req, |query| queried_scope(state, query)).await,
        Route::CredentialsProfile(name) => {
            credentials(state, req, |query| named_scope(state, name, query)).await
        }
        Route::BaseCredentials => base_credentials(state, peer, req).await,
        Route::Status | Route::Reload => operate(state, peer, &route, req).await,
        Route::ImdsOff => Err(ApiError::NotFound(
            "IMDS routes are off; start grantd with --imds".into(),
        )),
        Route::Imds(sessions, route) => imds::answer(state, sessions, route, req).await,
        Route::NotFound => Err(ApiError::NotFound(format!(
            "no route for {}",
            truncate(path, 200)
        ))),
    }
}

/// The peer's user may be served credentials; see [`refused`].
fn check_peer(state: &AppState, peer: &Peer, route: &'static str) -> Result<(), ApiError> {
    peer.check()
        .map_err(|e| refused(state, peer, route, ApiError::from(e)))
}

/// `error`, for a peer refused for who it is, logged with its uid at most
/// once a minute per uid (see [`super::refusals`]).
fn refused(state: &AppState, peer: &Peer, route: &'static str, error: ApiError) -> ApiError {
    if let Some(unlogged) = state.refusals.admit(peer.uid, state.clock.now()) {
        warn!(uid = peer.uid, peer = %peer.addr, route, reason = %error, unlogged, "refused a peer");
    }
    error
}

/// The token first, so that a caller without it learns nothing of scopes or profiles.
async fn credentials(
    state: &AppState,
    req: &Request<Incoming>,
    scope: impl FnOnce(&str) -> Result<Scope, ApiError>,
) -> Result<Resp, ApiError> {
    auth::check_token(&state.token, req.headers())?;
    let request = scope(req.uri().query().unwrap_or(""))?;
    let vended = state.vend(&request).await?;
    Ok(json(
        StatusCode::OK,
        container_json_prepared(&vended.credentials, &vended.info, &vended.container),
    ))
}

/// The base identity, to the owner and `base_allowed_uids` only (the peer
/// was already allowed credentials), then the token, as every credential route.
async fn base_credentials(
    state: &AppState,
    peer: &Peer,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    // The owner, or a user in `base_allowed_uids`: `allowed_uids` alone is not enough.
    if !peer.may_have_base() {
        let error = ApiError::BaseNotAllowed(peer.uid.unwrap_or(u32::MAX));
        return Err(refused(state, peer, "base_credentials", error));
    }
    auth::check_token(&state.token, req.headers())?;
    let Some(identity) = &state.base.identity else {
        return Err(ApiError::NotFound(
            "this daemon serves no base identity".into(),
        ));
    };
    let session = identity.current().await.map_err(ApiError::Base)?;
    let expiration = session.served_expiration(state.clock.now());
    Ok(json(
        StatusCode::OK,
        base_json(&session, expiration, state.ready.get().map(String::as_str)),
    ))
}

/// `/v1/status` and `/v1/reload`: the owner only (not `allowed_uids`), then
/// the token, as every credential route.
async fn operate(
    state: &AppState,
    peer: &Peer,
    route: &Route<'_>,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    if !peer.is_owner {
        let error = ApiError::OwnerOnly {
            uid: peer.uid.unwrap_or(u32::MAX),
            owner: state.peers.owner(),
        };
        return Err(refused(state, peer, route.label(), error));
    }
    auth::check_token(&state.token, req.headers())?;
    let Some(operator) = &state.operator else {
        return Err(ApiError::NotFound(
            "this server has no operator routes".into(),
        ));
    };
    if matches!(route, Route::Reload) {
        let report = operator
            .reload_json(state)
            .map_err(ApiError::InvalidConfiguration)?;
        return Ok(json(StatusCode::OK, report));
    }
    Ok(json(StatusCode::OK, operator.status_json(state).await))
}

/// The account id and the S3 endpoint only for a `trusted` peer.
fn readyz(state: &AppState, trusted: bool) -> Resp {
    match state.ready.get() {
        Some(account) if trusted => {
            let mut body = serde_json::json!({"status": "ready", "account_id": account});
            if let Some(s3) = state.base.s3_endpoint {
                body["s3_endpoint"] = format!("http://{s3}").into();
            }
            json(StatusCode::OK, body.to_string())
        }
        Some(_) => json(
            StatusCode::OK,
            serde_json::json!({"status": "ready"}).to_string(),
        ),
        None => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "starting", "message": "resolving the upstream identity"})
                .to_string(),
        ),
    }
}

/// The per-scope series, which name buckets and prefixes, only for a
/// `trusted` peer; the counts for everyone.
fn metrics(state: &AppState, trusted: bool) -> Resp {
    let scopes = if trusted {
        state.cache.expiries()
    } else {
        Vec::new()
    };
    let body = state
        .metrics
        .render(state.cache.len(), &scopes, state.ready.get().is_some());
    text(
        StatusCode::OK,
        body,
        "text/plain; version=0.0.4; charset=utf-8",
    )
}

/// `/v1/credentials/<name>`: the profile's scope; a query would be ignored, so it is refused.
fn named_scope(state: &AppState, raw: &str, query: &str) -> Result<Scope, ApiError> {
    if !query.is_empty() {
        return Err(QueryError::ProfileTakesNoQuery.into());
    }
    state.profile(&percent_decode(raw)?)
}

/// `/v1/credentials[?…]`: the query's scope, or the default profile without one.
fn queried_scope(state: &AppState, query: &str) -> Result<Scope, ApiError> {
    if query.is_empty() {
        return state.default_profile().ok_or(ApiError::NoDefaultProfile);
    }
    Ok(Scope::Query(parse_query(query)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(path: &str) -> &'static str {
        Route::parse(path, None).label()
    }

    #[test]
    fn parses_each_path_once_into_its_route_and_label() {
        for (path, expected) in [
            ("/healthz", "healthz"),
            ("/readyz", "readyz"),
            ("/metrics", "metrics"),
            ("/v1/credentials", "credentials"),
            ("/v1/credentials/", "credentials"),
            ("/v1/credentials/usera", "credentials_profile"),
            ("/v1/credentialsx", "not_found"),
            ("/", "not_found"),
            ("/healthz/", "not_found"),
        ] {
            assert_eq!(label(path), expected, "{path}");
        }
    }

    #[test]
    fn every_credential_and_imds_route_asks_who_the_peer_is_and_no_other() {
        let sessions = Sessions::new(imds::RoleList::DefaultOnly);
        for path in [
            "/v1/credentials",
            "/v1/credentials/usera",
            "/latest/api/token",
            "/latest/meta-data/iam/security-credentials/",
            "/latest/meta-data/ami-id",
        ] {
            assert!(
                Route::parse(path, Some(&sessions)).serves_credentials(),
                "{path}"
            );
        }
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/latest/api/token",
            "/nope",
        ] {
            assert!(!Route::parse(path, None).serves_credentials(), "{path}");
        }
    }

    #[test]
    fn a_profile_route_keeps_the_name_as_sent() {
        assert!(matches!(
            Route::parse("/v1/credentials/user%2Da", None),
            Route::CredentialsProfile("user%2Da")
        ));
    }

    #[test]
    fn imds_paths_are_not_found_while_imds_is_off() {
        for path in ["/latest/api/token", "//latest/meta-data/"] {
            assert!(matches!(Route::parse(path, None), Route::ImdsOff), "{path}");
            assert_eq!(label(path), "not_found");
        }
    }

    #[test]
    fn imds_paths_carry_the_imds_labels_while_imds_is_on() {
        let sessions = Sessions::new(imds::RoleList::DefaultOnly);
        for (path, expected) in [
            ("/latest/api/token", "imds_token"),
            (
                "//latest//meta-data/iam/security-credentials/",
                "imds_roles",
            ),
            (
                "/latest/meta-data/iam/security-credentials/usera",
                "imds_credentials",
            ),
            ("/latest/meta-data/ami-id", "imds_not_found"),
        ] {
            assert_eq!(
                Route::parse(path, Some(&sessions)).label(),
                expected,
                "{path}"
            );
        }
    }
}
