//! Shared helpers of the integration tests, which drive the real `grantd`
//! binary (the daemon and `grantd emulate`) over loopback.
//!
//! - `process`: starting, signalling and stopping the two processes, each in
//!   its own scratch directory; running a client command with a daemon's
//!   settings; a run that must refuse to start (`outcome`).
//! - `http`: a small raw HTTP/1.1 client and the contract's error shape.
//! - `control`: the emulator's `/_emulator` control API (faults, call log).
//! - `fake_s3`: a recording fake S3 for the S3 endpoint to forward to.
//! - `s3`: the S3 endpoint's stack, and requests signed as SDKs sign them.
//! - `nobody`: requests, a connection flood and a port squatter from
//!   another Unix user.
//! - `flood`: the owner's requests during a flood, what they took, and the
//!   assertions both flood tests make of them.
//!
//! Each file in `tests/` is its own binary using a part of this.

#![allow(dead_code)]

mod control;
mod fake_s3;
mod flood;
mod http;
mod nobody;
mod process;
mod s3;

// Each test binary uses a part of these.
#[allow(unused_imports)]
pub use control::*;
#[allow(unused_imports)]
pub use fake_s3::*;
#[allow(unused_imports)]
pub use flood::*;
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use nobody::*;
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use s3::*;

use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_grantd");
pub const BUCKET: &str = "blog-access-grants-111122223333-us-east-1";
pub const ROLE_A_KEY: &str = "AKIAGRANTDDEMOROLEA";
pub const ROLE_A_SECRET: &str = "grantd-demo-secret-not-a-real-key";

/// Two profiles in the demo bucket; `usera` is the default.
pub const PROFILES: &str = r#"
[profiles.usera]
target = "s3://blog-access-grants-111122223333-us-east-1/UserA/*"
permission = "READWRITE"

[profiles.product]
target = "s3://blog-access-grants-111122223333-us-east-1/Product/*"
permission = "READ"
"#;

/// How long a helper waits for a process to do what it should before the
/// test fails. Defaults to 20 s: generous, as the machine is shared.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Pause between two looks at something a process will do.
const POLL: Duration = Duration::from_millis(20);

/// A fresh directory for one test's files, removed when dropped.
pub fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("grantd-it-{name}-"))
        .tempdir()
        .unwrap()
}

/// Polls `ready` until it gives a value; fails the test after [`PATIENCE`],
/// naming `what` and adding `context()` (e.g. a process's log).
pub fn wait_for<T>(
    what: &str,
    mut ready: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            context()
        );
        std::thread::sleep(POLL);
    }
}

/// The credentials route for a scope in the demo bucket.
pub fn query(prefix: &str, permission: &str) -> String {
    format!("/v1/credentials?target=s3://{BUCKET}/{prefix}&permission={permission}")
}

/// `text` without its ANSI colour sequences (the daemon's text logs have
/// them), so a test can look for `field="value"`.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ … final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
