//! Who signs a request on its way to S3: a grant's credentials, the base
//! identity, or nobody.
//!
//! A need (READ or WRITE on a scope) is asked of the cache exactly as a
//! credential route asks it (`privilege=Default`, so one grant's credentials
//! serve every key inside it, and its denials are remembered). A need Access
//! Grants does not cover (no grant matches, AccessDenied, a scope it cannot
//! name, an operation its credentials cannot perform) goes to the fallback:
//! the base identity, or a refusal that names the scope. Access Grants being
//! unavailable is neither: the client gets `ServiceUnavailable` and retries.

use std::sync::Arc;

use grantd_s3::ops::{Access, CopyNeeds, Need};

use super::S3State;
use super::error::S3Error;
use super::settings::Fallback;
use crate::base::BaseSession;
use crate::cache::{CacheErrorKind, Vended};
use crate::metrics::s3::Outcome;
use crate::scope::{DataAccessRequest, Permission, S3Target};

/// The identity a request is signed with.
#[derive(Clone)]
pub enum Identity {
    Grant(Arc<Vended>),
    Base(Arc<BaseSession>),
}

impl Identity {
    pub fn access_key_id(&self) -> &str {
        match self {
            Identity::Grant(v) => &v.credentials.access_key_id,
            Identity::Base(b) => &b.access_key_id,
        }
    }

    pub fn secret(&self) -> &str {
        match self {
            Identity::Grant(v) => v.credentials.secret_access_key.expose(),
            Identity::Base(b) => b.secret_access_key.expose(),
        }
    }

    pub fn session_token(&self) -> Option<&str> {
        match self {
            Identity::Grant(v) => Some(v.credentials.session_token.expose()),
            Identity::Base(b) => b.session_token.as_ref().map(|t| t.expose()),
        }
    }

    pub fn outcome(&self) -> Outcome {
        match self {
            Identity::Grant(_) => Outcome::Grant,
            Identity::Base(_) => Outcome::Base,
        }
    }

    /// For the debug log: the matched grant, or `base`.
    pub fn describe(&self) -> String {
        match self {
            Identity::Grant(v) => v
                .info
                .matched_grant_target
                .clone()
                .unwrap_or_else(|| "grant".into()),
            Identity::Base(_) => "base".into(),
        }
    }
}

/// What Access Grants said of one need.
enum Found {
    Grant(Arc<Vended>),
    /// Why no grant covers it.
    None(String),
}

fn permission(access: Access) -> Permission {
    match access {
        Access::Read => Permission::Read,
        Access::Write => Permission::Write,
        Access::ReadWrite => Permission::ReadWrite,
    }
}

async fn find(state: &S3State, need: &Need) -> Result<Found, S3Error> {
    let target = match S3Target::parse(&need.target) {
        Ok(t) => t,
        Err(e) => return Ok(Found::None(format!("Access Grants cannot name it: {e}"))),
    };
    let request = DataAccessRequest::new(target, permission(need.access));
    match state.cache.get(&request).await {
        Ok(vended) => Ok(Found::Grant(vended)),
        Err(e) => match e.kind {
            CacheErrorKind::Denied | CacheErrorKind::InvalidRequest => Ok(Found::None(e.message)),
            CacheErrorKind::Throttled
            | CacheErrorKind::Unavailable
            | CacheErrorKind::RateLimited
            | CacheErrorKind::Internal => Err(S3Error::ServiceUnavailable(format!(
                "cannot get Access Grants credentials for {} {} now: {}",
                need.access, need.target, e.message
            ))),
        },
    }
}

/// What a need that no grant covers gets.
pub async fn fallback(state: &S3State, what: &str, why: &str) -> Result<Identity, S3Error> {
    match state.settings.fallback {
        Fallback::Base => state
            .base
            .current()
            .await
            .map(Identity::Base)
            .map_err(|e| S3Error::ServiceUnavailable(e.to_string())),
        Fallback::Deny => Err(S3Error::AccessDenied(format!(
            "no Access Grant covers {what} ({why}), and grantd's S3 fallback is deny"
        ))),
    }
}

/// The identity for one need.
pub async fn for_need(state: &S3State, need: &Need) -> Result<Identity, S3Error> {
    match find(state, need).await? {
        Found::Grant(v) => Ok(Identity::Grant(v)),
        Found::None(why) => {
            fallback(state, &format!("{} on {}", need.access, need.target), &why).await
        }
    }
}

/// The one identity for a copy: READ on the source and WRITE on the
/// destination, from one grant (READWRITE on their common prefix first),
/// or the fallback when no grant covers either.
pub async fn for_copy(state: &S3State, copy: &CopyNeeds) -> Result<Identity, S3Error> {
    if let Some(both) = &copy.both
        && let Found::Grant(v) = find(state, both).await?
    {
        return Ok(Identity::Grant(v));
    }
    let read = find(state, &copy.read).await?;
    let write = find(state, &copy.write).await?;
    let scopes = format!(
        "{} on {} and {} on {}",
        copy.read.access, copy.read.target, copy.write.access, copy.write.target
    );
    match (read, write) {
        (Found::Grant(r), Found::Grant(w))
            if r.credentials.access_key_id == w.credentials.access_key_id =>
        {
            Ok(Identity::Grant(r))
        }
        (Found::None(why), Found::None(_)) => fallback(state, &scopes, &why).await,
        _ => Err(S3Error::AccessDenied(format!(
            "a copy needs {scopes} in one request, and no single grant covers both; \
             copy through the client (GET, then PUT) instead"
        ))),
    }
}
