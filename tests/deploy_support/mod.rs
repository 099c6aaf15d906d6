//! What the deploy-script tests share: the scripts' environment (the real
//! binary pointed at the emulator), finding and stopping the daemons a script
//! left running, and another Unix user for the cases where one is involved.
//! `jobs`: the processing entrypoint as a background process (signals, exit
//! codes, the daemon it leaves or not).

#![allow(dead_code)]

pub mod jobs;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{BIN, NOBODY, Proc, ROLE_A_KEY, ROLE_A_SECRET, client_env};

/// Variables a script reads that the test runner's own environment must not
/// leak into it.
const SCRIPT_VARS: &[&str] = &[
    "GRANTD_ADDR_FILE",
    "GRANTD_RUN_DIR",
    "GRANTD_CLIENT_PROFILE",
    "GRANTD_READY_TIMEOUT",
    "GRANTD_TOKEN",
    "GRANTD_BINARY_S3",
    "GRANTD_MODE",
    "GRANTD_S3_LISTEN",
    "SPARK_CONF_DIR",
    "SPARK_HOME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "XDG_RUNTIME_DIR",
    "TMPDIR",
];

/// The path of a script in `deploy/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

/// `bash SCRIPT` with the daemon's identity (static keys of role A), the
/// emulator as S3 Control and STS, and port 0.
pub fn script_command(name: &str, emu: &Proc) -> Command {
    let mut cmd = Command::new("bash");
    client_env(&mut cmd);
    for var in SCRIPT_VARS {
        cmd.env_remove(var);
    }
    cmd.arg(script(name))
        .env("AWS_ENDPOINT_URL_S3_CONTROL", emu.url())
        .env("AWS_ENDPOINT_URL_STS", emu.url())
        .env("AWS_ACCESS_KEY_ID", ROLE_A_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROLE_A_SECRET)
        .env("GRANTD_BIN", BIN)
        .env("GRANTD_LISTEN", "127.0.0.1:0");
    cmd
}

/// The same command run as [`NOBODY`], through `setpriv`.
pub fn as_nobody(cmd: &Command) -> Command {
    let mut other = Command::new("setpriv");
    other
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => other.env(key, value),
            None => other.env_remove(key),
        };
    }
    other
}

/// Gives `path` (and nothing below it) to `uid`.
pub fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
}

pub fn owner(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().uid()
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

/// PIDs of the `grantd serve` processes whose environment has `HOME=home`:
/// the daemons a script run with that home started, and only those.
pub fn daemons_with_home(home: &Path) -> Vec<u32> {
    processes_with_home(home, |args| {
        args.len() >= 2 && args[0] == BIN && args[1] == "serve"
    })
}

/// PIDs of the processes whose environment has `HOME=home` and whose
/// arguments satisfy `matches`.
pub fn processes_with_home(home: &Path, matches: impl Fn(&[String]) -> bool) -> Vec<u32> {
    let want = format!("HOME={}", home.display());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let read = |what: &str| std::fs::read(entry.path().join(what)).unwrap_or_default();
        let args: Vec<String> = read("cmdline")
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if matches(&args)
            && read("environ")
                .split(|b| *b == 0)
                .any(|var| var == want.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

/// Stops the daemons started with `home` (by PID); see [`daemons_with_home`].
pub fn stop_daemons_with_home(home: &Path) {
    for pid in daemons_with_home(home) {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
}

/// Stops the process named in a pid file, if any.
pub fn kill_pid_file(path: &Path) {
    if let Ok(pid) = std::fs::read_to_string(path) {
        let _ = Command::new("kill")
            .arg(pid.trim())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// stdout and stderr of a script run, for assertion messages.
pub fn transcript(out: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
