//! grantd: a per-host credential-vending sidecar for S3 Access Grants.
//!
//! The daemon holds the host's base AWS identity, calls S3 Control
//! `GetDataAccess` for the S3 scopes local processes ask for, caches the scoped
//! credentials, refreshes them before they expire, and serves them on loopback
//! in the container-credentials and IMDSv2 formats every AWS SDK reads.
//!
//! The data path, module by module:
//!
//! - [`config`]: flags, `GRANTD_*` variables and the TOML file, checked up front.
//! - [`server`]: the loopback listener, routes, token check, IMDS emulation.
//! - [`cache`]: single flight, refresh-ahead, stale-on-error, denials.
//! - [`upstream`]: `GetDataAccess` behind a trait; the AWS SDK implementation.
//! - [`wire`]: the bodies the routes answer with (container, IMDS,
//!   `credential_process`, errors).
//!
//! Beside it: [`socket_table`] (who owns a loopback socket, asked of the
//! kernel; the server's peer check and the clients' listener check),
//! [`userns`] (whether uids are what they seem in this user namespace),
//! [`profile`] (named scopes), [`metrics`], [`token`], [`daemon`]
//! (wiring for `grantd serve`), [`client`] (`grantd env` / `grantd creds`),
//! [`ls`] (`grantd ls`: the caller's grants, as a table, JSON or profiles),
//! [`reload`] (`SIGHUP` and `grantd reload`), [`status`] (`grantd status`),
//! [`logging`] (the stderr subscriber), [`report`] (an error and its causes,
//! for a person), [`cli`], [`demo`], and `backoff` (the one retry-delay rule
//! of the cache's refresh retries and the daemon's start).
//!
//! Two crates of the workspace sit beside this one. `grantd-common` holds what
//! the daemon shares with the emulator, re-exported here as [`scope`] (S3 URIs,
//! grant containment, [`scope::DataAccessRequest`]), [`credentials`] and
//! [`clock`]. `grantd-emulator` is the S3 Control + STS stand-in that ships in
//! the same binary; only [`cli`] and [`demo`] reach it.

#![forbid(unsafe_code)]

mod backoff;
pub mod base;
pub mod cache;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod demo;
mod error;
pub mod logging;
pub mod ls;
pub mod metrics;
pub mod profile;
pub mod reload;
pub mod report;
pub mod s3;
pub mod server;
pub mod socket_table;
pub mod status;
pub mod token;
pub mod upstream;
pub mod userns;
pub mod wire;

pub use grantd_common::{clock, credentials, scope};
