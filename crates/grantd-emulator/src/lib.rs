//! `grantd emulate`: a local stand-in for S3 Access Grants and STS.
//!
//! AWS is out of reach in development and CI, so grantd ships an emulator of
//! the calls it makes: S3 Control `GetDataAccess`,
//! `GetAccessGrantsInstanceForPrefix` and `ListCallerAccessGrants`, and STS
//! `GetCallerIdentity`, on one
//! listener, in the wire format the official SDKs parse. A JSON control API
//! under `/_emulator` lets tests inject faults, read the call log and look up
//! what issued keys cover.
//!
//! The emulator is an outside party that happens to ship in the same binary:
//! it depends only on `grantd-common` (scopes, credentials, the clock, atomic
//! files, the shutdown signal), never on the daemon's server, cache or config.
//!
//! Requests are attributed to a principal by the access key id of their
//! SigV4 `Authorization` header. **Signatures are not verified**: any secret
//! signs as the identity that owns the key id.
//!
//! Modules:
//! - `scenario`: the scenario file (identities, grants, faults) and the demo.
//! - `matching`: which grant allows a request; which instance owns a prefix.
//! - `operations`: request validation and the AWS operations.
//! - `listing`: `ListCallerAccessGrants`: its filters and pages.
//! - `wire`: SigV4 header parsing, XML bodies, random key material.
//! - `faults`: scripted errors, latency and malformed answers.
//! - `assume`: assume-role mode, minting keys with STS `AssumeRole`.
//! - `state`: call log, issued-key registry, runtime settings.
//! - `server`: connections, routing, the path of one call.
//! - `control`: the `/_emulator` JSON API.
//! - `fuzzing`: ways in for the fuzz targets (feature `fuzzing` only).

#![forbid(unsafe_code)]

mod assume;
mod control;
mod faults;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod listing;
mod matching;
mod operations;
mod scenario;
mod server;
mod state;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use grantd_common::clock::{SharedClock, SystemClock};

pub use scenario::{
    DEMO_ACCOUNT, DEMO_BUCKET, DEMO_ROLE_A_KEY_ID, DEMO_ROLE_A_SECRET, DEMO_ROLE_B_KEY_ID,
    DEMO_SCENARIO_TOML, LIFETIME_OVERRIDE_RANGE, Scenario,
};

/// Exit code for a grants file that cannot be read or is invalid (`EX_USAGE`).
pub const EXIT_BAD_GRANTS: i32 = 64;
/// Exit code for any other failure (binding, writing the address file).
pub const EXIT_FAILURE: i32 = 1;

/// How long connections may take to finish after shutdown begins.
/// Defaults to 5 seconds.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Arguments of `grantd emulate`.
#[derive(clap::Args, Debug)]
pub struct EmulateArgs {
    /// Grants file (TOML); default: the built-in demo scenario
    #[arg(long)]
    pub grants: Option<PathBuf>,
    /// Address to bind; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:7912")]
    pub listen: SocketAddr,
    /// After binding, write the bound host:port here
    #[arg(long)]
    pub addr_file: Option<PathBuf>,
    /// Override the lifetime of every vended credential (seconds, >= 1)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=43_200))]
    pub credential_lifetime: Option<u64>,
}

/// Runs `grantd emulate` until SIGTERM/SIGINT. Returns the process exit
/// code: 0 ok, [`EXIT_BAD_GRANTS`] (64) for a bad grants file,
/// [`EXIT_FAILURE`] (1) for anything else.
pub async fn main(args: EmulateArgs) -> i32 {
    let mut scenario = match &args.grants {
        None => Scenario::demo(),
        Some(path) => match load_scenario(path).await {
            Ok(scenario) => scenario,
            Err(problems) => {
                for problem in &problems {
                    tracing::error!(file = %path.display(), "bad grants file: {problem}");
                }
                return EXIT_BAD_GRANTS;
            }
        },
    };
    if let Some(lifetime) = args.credential_lifetime {
        if !LIFETIME_OVERRIDE_RANGE.contains(&lifetime) {
            tracing::error!(
                "--credential-lifetime {lifetime}: expected {}..={} seconds",
                LIFETIME_OVERRIDE_RANGE.start(),
                LIFETIME_OVERRIDE_RANGE.end()
            );
            return EXIT_BAD_GRANTS;
        }
        scenario.credential_lifetime_seconds = Some(lifetime);
    }

    // Before the address is published, so a prompt SIGTERM is handled
    // rather than killing the process.
    let shutdown = match grantd_common::shutdown::signal() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return EXIT_FAILURE;
        }
    };
    let listener = match TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(listen = %args.listen, error = %e, "cannot bind the emulator");
            return EXIT_FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the bound address");
            return EXIT_FAILURE;
        }
    };
    if let Some(path) = &args.addr_file
        && let Err(e) = grantd_common::fs::write_atomic(path, addr.to_string().as_bytes(), 0o644)
    {
        tracing::error!(file = %path.display(), error = %e, "cannot write the address file");
        return EXIT_FAILURE;
    }
    tracing::info!(
        identities = scenario.identities.len(),
        grants = scenario.grants.len(),
        "grantd emulator listening on {addr}"
    );
    let emulator = Emulator::new(scenario, Arc::new(SystemClock));
    run(listener, emulator, shutdown).await;
    tracing::info!("grantd emulator stopped");
    0
}

async fn load_scenario(path: &Path) -> Result<Scenario, Vec<String>> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    Scenario::from_toml(&text)
}

/// Serves on an already-bound listener until `shutdown` completes, then
/// stops accepting, lets requests in flight finish (up to
/// [`SHUTDOWN_GRACE`]) and returns.
pub async fn run(
    listener: TcpListener,
    emulator: Arc<Emulator>,
    shutdown: impl Future<Output = ()>,
) {
    // Tells every connection to close once its request in flight is answered.
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(server::serve_connection(stream, Arc::clone(&emulator), stopping.clone()));
                }
                Err(e) => {
                    // Usually out of file descriptors: back off rather than spin.
                    tracing::warn!(error = %e, "emulator cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "emulator connections still busy after the shutdown grace period; closing them"
        );
        connections.shutdown().await;
    }
}

/// The AWS operations the emulator answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)] // The AWS operation names, verbatim.
enum Operation {
    GetDataAccess,
    GetAccessGrantsInstanceForPrefix,
    ListCallerAccessGrants,
    GetCallerIdentity,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::GetDataAccess => "GetDataAccess",
            Operation::GetAccessGrantsInstanceForPrefix => "GetAccessGrantsInstanceForPrefix",
            Operation::ListCallerAccessGrants => "ListCallerAccessGrants",
            Operation::GetCallerIdentity => "GetCallerIdentity",
        }
    }

    fn from_name(name: &str) -> Option<Operation> {
        [
            Operation::GetDataAccess,
            Operation::GetAccessGrantsInstanceForPrefix,
            Operation::ListCallerAccessGrants,
            Operation::GetCallerIdentity,
        ]
        .into_iter()
        .find(|op| op.as_str() == name)
    }
}

/// Shared emulator state: the scenario, faults, call log and settings.
pub struct Emulator {
    /// Immutable once loaded, so read without a lock.
    scenario: Scenario,
    /// Wall time for `Expiration`; tests inject a fixed or tokio-driven clock.
    clock: SharedClock,
    /// Present when the scenario has an `[assume_role]` section.
    minter: Option<assume::Minter>,
    /// Everything that changes at runtime. A std mutex: each critical
    /// section is a few map or vector operations and none awaits.
    state: Mutex<state::State>,
}

impl Emulator {
    pub fn new(scenario: Scenario, clock: SharedClock) -> Arc<Emulator> {
        let mut state = state::State {
            lifetime_override: scenario.credential_lifetime_seconds,
            ..state::State::default()
        };
        state.faults.extend(scenario.faults.iter().cloned());
        Arc::new(Emulator {
            minter: scenario.assume_role.as_ref().map(assume::Minter::new),
            scenario,
            clock,
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> MutexGuard<'_, state::State> {
        // A panic elsewhere cannot leave this state half-updated in a way
        // that matters to a test double; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lifetime of a vend: the override if set, else what the caller asked
    /// for, else the scenario's default.
    fn lifetime(&self, requested: Option<u64>) -> u64 {
        self.state()
            .lifetime_override
            .or(requested)
            .unwrap_or(self.scenario.default_duration_seconds)
    }
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("scenario", &self.scenario)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
