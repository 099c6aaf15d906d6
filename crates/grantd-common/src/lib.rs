//! What the grantd daemon and its S3 Control emulator share.
//!
//! The daemon and the emulator are two parties on either side of the S3
//! Control wire; this crate holds the little they must agree on and nothing
//! that belongs to one side alone:
//!
//! - [`scope`]: S3 URIs, `Permission`, `Privilege`, the grant containment rule,
//!   and [`scope::DataAccessRequest`], the one question a `GetDataAccess` asks.
//! - [`credentials`]: the redacting credentials type and its timestamps.
//! - [`clock`]: injectable wall time (the one sanctioned `SystemTime::now`).
//! - [`fields`]: reading TOML/JSON tables and settings while collecting every problem.
//! - [`fs`]: writing a small file atomically, without following links, and
//!   refusing files and directories another user could plant or change.
//! - [`shutdown`]: the SIGTERM/SIGINT future both servers stop on.

#![forbid(unsafe_code)]

pub mod clock;
pub mod credentials;
pub mod fields;
pub mod fs;
pub mod scope;
pub mod shutdown;
