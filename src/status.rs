//! `grantd status`: what the running daemon holds now, for its own user.
//!
//! The daemon gathers a [`Status`] at `GET /v1/status` (the owner only, with
//! the token): each cached scope and remembered refusal with its state, the
//! upstream circuits, the base identity's ARN and time left, and the
//! configuration in force with the outcome of the last reload. The client
//! prints it as JSON or as a table ([`render`]). Nothing in it is a secret:
//! no key, no session token, no bearer token, not even an access key id.

pub mod render;

use std::time::Duration;

use serde::Serialize;

use crate::cache::{CacheStatus, CircuitStatus, ScopeStatus};
use crate::credentials::format_timestamp;
use crate::server::AppState;

/// How long `/v1/status` waits for STS to name the base identity the first
/// time (it is asked once, then remembered). Defaults to 5 s.
pub const ARN_TIMEOUT: Duration = Duration::from_secs(5);

/// The whole answer of `/v1/status`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub daemon: DaemonStatus,
    pub config: ConfigStatus,
    pub base_identity: BaseStatus,
    pub upstream: UpstreamStatus,
    /// Cached scopes and remembered refusals, by scope.
    pub scopes: Vec<ScopeStatus>,
}

/// The process and where it listens.
#[derive(Clone, Debug, Serialize)]
pub struct DaemonStatus {
    pub version: String,
    pub pid: u32,
    pub started_at: String,
    pub uptime_seconds: u64,
    pub listen: String,
    pub s3_listen: Option<String>,
    pub region: String,
    /// The Access Grants instance account, once resolved.
    pub account_id: Option<String>,
    pub ready: bool,
}

/// The configuration in force and how it got there.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigStatus {
    pub file: Option<String>,
    /// When the configuration in force was read.
    pub loaded_at: String,
    /// Reloads asked for (SIGHUP or `grantd reload`), refused ones included.
    pub reloads: u64,
    pub last_reload: Option<ReloadReport>,
    pub log_level: String,
    pub allowed_uids: Vec<u32>,
    pub base_allowed_uids: Vec<u32>,
    pub profiles: Vec<ProfileStatus>,
}

/// One profile in force.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileStatus {
    pub name: String,
    pub target: String,
    pub permission: String,
    pub privilege: String,
    pub default: bool,
}

/// What one reload did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReloadReport {
    pub at: String,
    /// Whether the configuration read was put in force (what may change
    /// without a restart); `false`: it failed its checks and the one in
    /// force stays.
    pub ok: bool,
    /// Every problem of a refused configuration.
    pub problems: Vec<String>,
    /// Settings put in force, by name (`allowed_uids`, `profile NAME`, ...).
    pub changed: Vec<String>,
    /// Settings that changed in the file but take a restart, by name.
    pub needs_restart: Vec<String>,
}

/// The daemon's own identity.
#[derive(Clone, Debug, Serialize)]
pub struct BaseStatus {
    /// From STS `GetCallerIdentity`; `None` when it cannot be asked.
    pub arn: Option<String>,
    /// Why there is no ARN.
    pub arn_error: Option<String>,
    /// `session` (temporary credentials), `long-term` (keys with no
    /// expiry), or `none` (the credential chain gave nothing).
    pub kind: &'static str,
    pub expiration: Option<String>,
    pub seconds_left: Option<u64>,
    /// Why the credential chain gave nothing.
    pub error: Option<String>,
}

/// S3 Access Grants as the daemon sees it.
#[derive(Clone, Debug, Serialize)]
pub struct UpstreamStatus {
    /// The worst circuit: `open`, else `half-open`, else `closed`.
    pub circuit: &'static str,
    /// Every circuit a call has passed, by region (`null`: the daemon's own).
    pub circuits: Vec<CircuitStatus>,
    pub loads_in_flight: usize,
}

/// The daemon's status now. `daemon` and `config` come from its operator.
pub async fn gather(
    state: &AppState,
    daemon: DaemonStatus,
    config: ConfigStatus,
    arn: Result<String, String>,
) -> Status {
    let CacheStatus {
        scopes,
        circuits,
        loads_in_flight,
    } = state.cache.status();
    let now = state.clock.now();
    let (arn, arn_error) = match arn {
        Ok(arn) => (Some(arn), None),
        Err(e) => (None, Some(e)),
    };
    let mut base = BaseStatus {
        arn,
        arn_error,
        kind: "none",
        expiration: None,
        seconds_left: None,
        error: None,
    };
    match &state.base.identity {
        None => base.error = Some("the AWS credential chain gave no credentials".into()),
        Some(identity) => match identity.current().await {
            Ok(session) => match session.expires {
                Some(t) => {
                    base.kind = "session";
                    base.expiration = Some(format_timestamp(t));
                    base.seconds_left = Some(t.duration_since(now).unwrap_or_default().as_secs());
                }
                None => base.kind = "long-term",
            },
            Err(e) => base.error = Some(e.to_string()),
        },
    }
    Status {
        daemon,
        config,
        base_identity: base,
        upstream: UpstreamStatus {
            circuit: worst(&circuits),
            circuits,
            loads_in_flight,
        },
        scopes,
    }
}

/// The worst state of `circuits`.
fn worst(circuits: &[CircuitStatus]) -> &'static str {
    ["open", "half-open"]
        .into_iter()
        .find(|s| circuits.iter().any(|c| c.state == *s))
        .unwrap_or("closed")
}

#[cfg(test)]
mod tests;
