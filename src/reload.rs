//! Reloading the configuration of a running daemon (`SIGHUP`, `grantd
//! reload`), and the daemon's side of `grantd status`.
//!
//! A reload resolves the settings again exactly as `serve` did at start:
//! the same flags, the same environment, the config file read afresh. A
//! configuration that fails its checks is refused whole, every problem
//! logged, and the one in force stays. Otherwise what can change in a
//! running daemon is put in force at once: the profiles (new ones warmed),
//! `allowed_uids` and `base_allowed_uids` (for open connections too, from
//! their next request), and the log filter. The cache, the token, the
//! listeners and the open connections stay. Every other setting that
//! changed is named as taking a restart, at each reload until then.
//!
//! The [`Reloader`] is the server's [`Operator`]: the server calls it for
//! `/v1/reload` and `/v1/status`, and the daemon on `SIGHUP`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use tracing::{error, info, warn};

use crate::cache::Cache;
use crate::clock::SharedClock;
use crate::config::{self, Flags, Settings, Source};
use crate::credentials::format_timestamp;
use crate::logging;
use crate::profile::Profile;
use crate::server::auth::AllowedUids;
use crate::server::{AppState, Operator};
use crate::status::{self, ConfigStatus, DaemonStatus, ProfileStatus, ReloadReport, Status};
use crate::upstream::Upstream;
use crate::userns::{self, UserNamespace};

/// The settings a running daemon puts in force on a reload, by the names
/// `grantd check` prints them under (`profile NAME` for each profile).
pub const RELOADABLE: &[&str] = &[
    "allowed_uids",
    "base_allowed_uids",
    "log_level",
    "default_profile",
];

/// Whether the setting `grantd check` names `name` changes without a restart.
fn reloadable(name: &str) -> bool {
    RELOADABLE.contains(&name) || name.starts_with("profile ")
}

/// Where the daemon runs, fixed for its life.
pub struct Place {
    pub listen: SocketAddr,
    pub s3_listen: Option<SocketAddr>,
    pub region: String,
}

/// What the daemon's settings were resolved from, to resolve them again.
pub struct ConfigOrigin {
    pub flags: Flags,
    pub env: Box<dyn Source + Send + Sync>,
}

/// The settings in force and how they came to be.
struct InForce {
    settings: Settings,
    loaded_at: SystemTime,
    reloads: u64,
    last: Option<ReloadReport>,
}

/// Re-reads the configuration on demand; see the module docs.
pub struct Reloader {
    /// Where the settings came from; `None` for settings made in code (the demo).
    origin: Option<ConfigOrigin>,
    namespace: UserNamespace,
    upstream: Arc<dyn Upstream>,
    clock: SharedClock,
    started: SystemTime,
    place: Place,
    /// Held for a whole reload: one at a time, and never across an await.
    in_force: Mutex<InForce>,
}

impl Reloader {
    /// A reloader of the daemon whose settings came from `origin`, now
    /// running with `settings` (already settled for `namespace`).
    pub fn new(
        origin: Option<ConfigOrigin>,
        settings: Settings,
        namespace: UserNamespace,
        upstream: Arc<dyn Upstream>,
        clock: SharedClock,
        place: Place,
    ) -> Reloader {
        let now = clock.now();
        Reloader {
            origin,
            namespace,
            upstream,
            started: now,
            clock,
            place,
            in_force: Mutex::new(InForce {
                settings,
                loaded_at: now,
                reloads: 0,
                last: None,
            }),
        }
    }

    fn in_force(&self) -> std::sync::MutexGuard<'_, InForce> {
        self.in_force.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration as it would be read now, settled as `serve` settles it.
    fn read(&self) -> Result<Settings, Vec<String>> {
        let Some(origin) = &self.origin else {
            return Err(vec![
                "this daemon's settings were made in code, not read from a configuration".into(),
            ]);
        };
        let mut settings = config::resolve(&origin.flags, origin.env.as_ref())?;
        settle(&mut settings, &self.namespace).map_err(|e| vec![e.to_string()])?;
        Ok(settings)
    }
}

/// Works out, for a daemon in `namespace`, which peer uid is unknown, and
/// refuses an owner that is the overflow uid unless allowed. Done at start
/// and at every reload.
pub fn settle(
    settings: &mut Settings,
    namespace: &UserNamespace,
) -> Result<(), userns::OverflowOwner> {
    let server = &mut settings.server;
    userns::check_owner(namespace, server.owner, server.allow_overflow_uid)?;
    server.unknown_uid =
        userns::unknown_peer_uid(namespace, server.owner, server.allow_overflow_uid);
    if let Some(uid) = server.unknown_uid
        && server.allowed_uids.contains(&uid)
    {
        warn!(
            uid,
            "allowed_uids names the overflow uid of this user namespace, which stands for every \
             user the namespace cannot map; peers with it are refused"
        );
    }
    Ok(())
}

impl Operator for Reloader {
    fn reload_json(&self, state: &AppState) -> Result<String, Vec<String>> {
        let report = self.reload(state);
        if report.ok {
            Ok(serde_json::to_string(&report).unwrap_or_default())
        } else {
            Err(report.problems)
        }
    }

    fn status_json<'a>(&'a self, state: &'a AppState) -> BoxFuture<'a, String> {
        Box::pin(
            async move { serde_json::to_string(&self.status(state).await).unwrap_or_default() },
        )
    }
}

impl Reloader {
    /// Re-reads the configuration; see the module docs.
    pub fn reload(&self, state: &AppState) -> ReloadReport {
        let mut in_force = self.in_force();
        in_force.reloads += 1;
        let at = format_timestamp(self.clock.now());
        let report = match self.read() {
            Err(problems) => {
                error!(
                    problems = problems.len(),
                    "configuration refused; the one in force stays"
                );
                for problem in &problems {
                    error!(problem = %problem, "configuration problem");
                }
                ReloadReport {
                    at,
                    ok: false,
                    problems,
                    ..ReloadReport::default()
                }
            }
            Ok(read) => {
                let (changed, needs_restart) = compare(&in_force.settings, &read);
                apply(state, &mut in_force.settings, read, &changed);
                in_force.loaded_at = self.clock.now();
                if changed.is_empty() {
                    info!("configuration reloaded; nothing that a reload changes has changed");
                } else {
                    info!(changed = ?changed, "configuration reloaded");
                }
                if !needs_restart.is_empty() {
                    warn!(
                        settings = ?needs_restart,
                        "these settings changed in the configuration but take effect only \
                         when grantd restarts"
                    );
                }
                ReloadReport {
                    at,
                    ok: true,
                    problems: Vec::new(),
                    changed,
                    needs_restart,
                }
            }
        };
        state
            .metrics
            .reload(if report.ok { "applied" } else { "refused" });
        in_force.last = Some(report.clone());
        report
    }

    /// What the daemon holds now.
    pub async fn status(&self, state: &AppState) -> Status {
        let now = self.clock.now();
        let (daemon, config) = {
            let in_force = self.in_force();
            (self.daemon(state, now), config_status(&in_force, state))
        };
        let arn = tokio::time::timeout(status::ARN_TIMEOUT, self.upstream.caller_arn())
            .await
            .map_err(|_| {
                format!(
                    "STS GetCallerIdentity did not answer within {} s",
                    status::ARN_TIMEOUT.as_secs()
                )
            })
            .and_then(|r| r.map_err(|e| e.to_string()));
        status::gather(state, daemon, config, arn).await
    }

    fn daemon(&self, state: &AppState, now: SystemTime) -> DaemonStatus {
        DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            started_at: format_timestamp(self.started),
            uptime_seconds: now
                .duration_since(self.started)
                .unwrap_or_default()
                .as_secs(),
            listen: self.place.listen.to_string(),
            s3_listen: self.place.s3_listen.map(|a| a.to_string()),
            region: self.place.region.clone(),
            account_id: state.ready.get().cloned(),
            ready: state.ready.get().is_some(),
        }
    }
}

/// The configuration part of the status: what is in force now.
fn config_status(in_force: &InForce, state: &AppState) -> ConfigStatus {
    let settings = &in_force.settings;
    let allowed = state.peers.allowed();
    ConfigStatus {
        file: settings
            .config_file
            .as_ref()
            .map(|p| p.display().to_string()),
        loaded_at: format_timestamp(in_force.loaded_at),
        reloads: in_force.reloads,
        last_reload: in_force.last.clone(),
        log_level: settings
            .logging
            .level
            .clone()
            .unwrap_or_else(|| "RUST_LOG or info".into()),
        allowed_uids: allowed.credentials.iter().copied().collect(),
        base_allowed_uids: allowed.base.iter().copied().collect(),
        profiles: state
            .profiles()
            .iter()
            .enumerate()
            .map(|(i, p)| ProfileStatus {
                name: p.name.clone(),
                target: p.request.target.to_string(),
                permission: p.request.permission.as_str().into(),
                privilege: p.request.privilege.as_str().into(),
                default: i == 0,
            })
            .collect(),
    }
}

/// The settings that differ between `old` and `new`, by `grantd check`'s
/// names: those a reload puts in force, and those that take a restart.
fn compare(old: &Settings, new: &Settings) -> (Vec<String>, Vec<String>) {
    let old = config::described(old);
    let new = config::described(new);
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (name, value) in &new {
        if !old.iter().any(|(n, v)| n == name && v == value) {
            names.insert(name);
        }
    }
    for (name, _) in &old {
        if !new.iter().any(|(n, _)| n == name) {
            names.insert(name); // a profile taken out
        }
    }
    let (changed, restart): (Vec<&str>, Vec<&str>) = names.into_iter().partition(|n| reloadable(n));
    let owned = |v: Vec<&str>| v.into_iter().map(str::to_string).collect();
    (owned(changed), owned(restart))
}

/// Puts the reloadable part of `read` in force: in `state` (profiles,
/// allowed uids), the log filter, and `in_force`, whose other settings stay
/// as the daemon runs with them.
fn apply(state: &AppState, in_force: &mut Settings, read: Settings, changed: &[String]) {
    if changed
        .iter()
        .any(|n| n == "allowed_uids" || n == "base_allowed_uids")
    {
        state.peers.set_allowed(AllowedUids {
            credentials: read.server.allowed_uids.iter().copied().collect(),
            base: read.server.base_allowed_uids.iter().copied().collect(),
        });
        in_force.server.allowed_uids = read.server.allowed_uids;
        in_force.server.base_allowed_uids = read.server.base_allowed_uids;
    }
    if changed.iter().any(|n| n == "log_level") {
        match logging::set_level(read.logging.level.as_deref(), "info") {
            Ok(_) => in_force.logging.level = read.logging.level,
            // The filter was checked when read; a subscriber that will not
            // take it keeps the old one, and says so.
            Err(e) => error!(error = %e, "cannot change the log filter; the old one stays"),
        }
    }
    if changed
        .iter()
        .any(|n| n == "default_profile" || n.starts_with("profile "))
    {
        warm(state, &state.profiles(), &read.profiles.list);
        state.set_profiles(read.profiles.list.clone());
        in_force.profiles = read.profiles;
    }
}

/// Loads the credentials of profiles new in `new`, in the background, as a
/// daemon warms its profiles at start: a client asking right after the
/// reload finds them cached. A failure is logged, as at start.
fn warm(state: &AppState, old: &[Profile], new: &[Profile]) {
    for profile in new
        .iter()
        .filter(|p| !old.iter().any(|o| o.request == p.request))
    {
        let cache = state.cache.clone();
        let profile = profile.clone();
        tokio::spawn(async move { warm_profile(&cache, &profile).await });
    }
}

/// Loads `profile`'s credentials ahead of any client, at start and after a
/// reload; a failure is logged, not fatal.
pub(crate) async fn warm_profile(cache: &Cache, profile: &Profile) {
    if let Err(e) = cache.warm(&profile.request).await {
        warn!(profile = %profile.name, scope = %profile.request, error = %e, "could not warm profile");
    }
}

#[cfg(test)]
mod tests;
