//! The token file, its directory and the address file cannot be planted or
//! redirected by another local user: the real binary refuses to start (exit
//! 64, a message naming the path, the problem and the fix) instead of using
//! them, and its clients dial only loopback from an address file.
//!
//! The tests run as root; "another user" is a uid the files are given to
//! (4242, the attacker) or `nobody` (65534) that the daemon is dropped to.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt, chown, symlink};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// The uid the daemon is dropped to, to be a user other than root.
const NOBODY: u32 = 65534;
/// The other local user who plants files.
const ATTACKER: u32 = 4242;
/// A token a client would accept.
const PLANTED: &str = "planted-token-the-attacker-knows";

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn give(path: &Path, uid: u32) {
    chown(path, Some(uid), Some(uid)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// `grantd ARGS` with a clean environment: no runtime directory, `TMPDIR` =
/// `tmp`, no `GRANTD_*`, and AWS pointed nowhere (these tests never vend).
fn grantd(tmp: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    client_env(&mut cmd);
    for var in ["XDG_RUNTIME_DIR", "GRANTD_ADDR_FILE", "GRANTD_ALLOW_REMOTE"] {
        cmd.env_remove(var);
    }
    cmd.env("TMPDIR", tmp).args(args).stdin(Stdio::null());
    cmd
}

/// `grantd serve` on port 0 writing its address to `addr_file`.
fn serve(tmp: &Path, addr_file: &Path, extra: &[&str]) -> Command {
    let mut cmd = grantd(tmp, &["serve", "--listen", "127.0.0.1:0", "--addr-file"]);
    cmd.arg(addr_file).args(extra);
    cmd
}

/// Asserts a configuration refusal (exit 64) whose message holds every one of `needles`.
fn assert_refused(outcome: Outcome, needles: &[&str]) {
    let stderr = match outcome {
        Outcome::Exited(64, stderr) => stderr,
        Outcome::Exited(code, stderr) => panic!("expected exit 64, got {code}:\n{stderr}"),
        Outcome::Started(logs) => panic!("it started instead of refusing:\n{logs}"),
    };
    assert!(stderr.contains("invalid configuration"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing:\n{stderr}");
    }
}

/// A scratch directory shared as `/tmp` is (everyone may write, sticky), for
/// runs as `nobody`.
fn open_scratch(name: &str) -> tempfile::TempDir {
    let dir = scratch(name);
    chmod(dir.path(), 0o1777);
    dir
}

/// A directory of `nobody`'s for its address file.
fn run_dir_of_nobody(tmp: &Path) -> std::path::PathBuf {
    let run = tmp.join("run");
    std::fs::create_dir(&run).unwrap();
    chmod(&run, 0o700);
    give(&run, NOBODY);
    run
}

#[test]
fn a_fallback_directory_squatted_by_another_user_stops_the_daemon() {
    let tmp = open_scratch("squat");
    // The attacker makes the directory nobody's daemon will look for, and a
    // token they know in it.
    let squat = tmp.path().join(format!("grantd-{NOBODY}"));
    std::fs::create_dir(&squat).unwrap();
    chmod(&squat, 0o755);
    let planted = squat.join("token");
    std::fs::write(&planted, PLANTED).unwrap();
    chmod(&planted, 0o644);
    give(&planted, ATTACKER);
    give(&squat, ATTACKER);
    let addr = run_dir_of_nobody(tmp.path()).join("addr");
    let mut cmd = serve(tmp.path(), &addr, &[]);
    cmd.uid(NOBODY).gid(NOBODY);
    assert_refused(
        outcome(cmd, &addr, tmp.path()),
        &[
            &squat.display().to_string(),
            &format!("owned by uid {ATTACKER}"),
            "--token-file",
            "XDG_RUNTIME_DIR",
        ],
    );
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), PLANTED);
}

#[test]
fn a_token_directory_of_another_user_is_refused() {
    let d = scratch("foreign-dir");
    let foreign = d.path().join("theirs");
    std::fs::create_dir(&foreign).unwrap();
    chmod(&foreign, 0o700);
    give(&foreign, NOBODY);
    let token = foreign.join("token");
    let addr = d.path().join("addr");
    let cmd = serve(d.path(), &addr, &["--token-file", token.to_str().unwrap()]);
    assert_refused(
        outcome(cmd, &addr, d.path()),
        &[&format!("owned by uid {NOBODY}"), "remove it"],
    );
    assert!(!token.exists(), "no token written into their directory");
}

#[test]
fn a_token_file_others_can_read_is_refused() {
    let d = scratch("readable-token");
    let token = d.path().join("token");
    std::fs::write(&token, PLANTED).unwrap();
    chmod(&token, 0o644);
    let addr = d.path().join("addr");
    let cmd = serve(d.path(), &addr, &["--token-file", token.to_str().unwrap()]);
    assert_refused(
        outcome(cmd, &addr, d.path()),
        &[&token.display().to_string(), "mode 644", "chmod 600"],
    );
}

#[test]
fn a_symlinked_token_file_is_refused_and_its_target_left_untouched() {
    let d = scratch("token-link");
    let target = d.path().join("victim");
    std::fs::write(&target, PLANTED).unwrap();
    chmod(&target, 0o600);
    let token = d.path().join("token");
    symlink(&target, &token).unwrap();
    let addr = d.path().join("addr");
    let cmd = serve(d.path(), &addr, &["--token-file", token.to_str().unwrap()]);
    assert_refused(outcome(cmd, &addr, d.path()), &["symbolic link"]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), PLANTED);
    assert_eq!(mode(&target), 0o600);
    assert!(std::fs::symlink_metadata(&token).unwrap().is_symlink());
}

#[test]
fn a_group_writable_token_directory_is_refused() {
    let d = scratch("shared-dir");
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o770);
    let token = shared.join("token");
    let addr = d.path().join("addr");
    let cmd = serve(d.path(), &addr, &["--token-file", token.to_str().unwrap()]);
    assert_refused(
        outcome(cmd, &addr, d.path()),
        &["writable by group or others", "mode 770"],
    );
    assert!(!token.exists());
}

#[test]
fn a_symlink_in_place_of_the_token_directory_is_refused() {
    let d = scratch("dir-link");
    let real = d.path().join("real");
    std::fs::create_dir(&real).unwrap();
    chmod(&real, 0o700);
    let dir = d.path().join("grantd");
    symlink(&real, &dir).unwrap();
    let addr = d.path().join("addr");
    let token = dir.join("token");
    let cmd = serve(d.path(), &addr, &["--token-file", token.to_str().unwrap()]);
    assert_refused(outcome(cmd, &addr, d.path()), &["symbolic link"]);
    assert!(
        !real.join("token").exists(),
        "nothing written through the link"
    );
}

#[test]
fn an_address_file_in_a_directory_others_can_write_is_refused() {
    let d = scratch("addr-dir");
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o777);
    let addr = shared.join("addr");
    let token = d.path().join("token");
    let cmd = serve(d.path(), &addr, &["--token-file", token.to_str().unwrap()]);
    assert_refused(
        outcome(cmd, &addr, d.path()),
        &["address file", "--addr-file", "writable by group or others"],
    );
}

#[test]
fn env_and_creds_refuse_a_remote_address_in_the_address_file() {
    let d = scratch("remote-addr");
    let addr = d.path().join("addr");
    std::fs::write(&addr, "10.1.2.3:7911").unwrap();
    let token = d.path().join("token");
    std::fs::write(&token, PLANTED).unwrap();
    chmod(&token, 0o600);
    for command in ["env", "creds"] {
        let out: Output = grantd(d.path(), &[command, "--listen", "127.0.0.1:0"])
            .arg("--addr-file")
            .arg(&addr)
            .arg("--token-file")
            .arg(&token)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}: {stderr}");
        assert!(out.stdout.is_empty(), "{command} printed something");
        assert!(
            stderr.contains("10.1.2.3:7911") && stderr.contains("not a loopback address"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn a_fresh_fallback_directory_is_made_private_and_env_finds_the_same_token() {
    let tmp = open_scratch("fresh");
    let addr = run_dir_of_nobody(tmp.path()).join("addr");
    let mut cmd = serve(tmp.path(), &addr, &[]);
    cmd.uid(NOBODY).gid(NOBODY);
    let started = outcome_keeping(cmd, &addr, tmp.path());
    let dir = tmp.path().join(format!("grantd-{NOBODY}"));
    let token = dir.join("token");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&token), 0o600);
    assert_eq!(std::fs::metadata(&token).unwrap().uid(), NOBODY);
    // `env` of the same user and environment computes the same default path.
    let mut env = grantd(tmp.path(), &["env"]);
    env.arg("--addr-file").arg(&addr).uid(NOBODY).gid(NOBODY);
    let out = env.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE='{}'",
            token.display()
        )),
        "{text}"
    );
    drop(started);
}

#[test]
fn root_defaults_to_run_grantd_and_other_users_to_their_tmpdir() {
    let tmp = open_scratch("defaults");
    let line = |uid: Option<u32>| {
        let mut check = grantd(tmp.path(), &["check"]);
        if let Some(uid) = uid {
            check.uid(uid).gid(uid);
        }
        let out = check.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines()
            .find(|l| l.starts_with("token_file"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(line(None), "/run/grantd/token");
    let nobody = tmp.path().join(format!("grantd-{NOBODY}")).join("token");
    assert_eq!(line(Some(NOBODY)), nobody.display().to_string());
}

/// Like [`outcome`], but the started daemon keeps running until the returned
/// guard drops; fails the test if it exits instead.
fn outcome_keeping(mut cmd: Command, addr_file: &Path, log_dir: &Path) -> KillOnDrop {
    let log = log_dir.join("serve.log");
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for(
        "grantd serve to write its address file",
        || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "exited with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            addr_file.exists().then_some(())
        },
        String::new,
    );
    KillOnDrop(child)
}

#[test]
fn a_config_file_another_user_could_write_is_refused() {
    // The config file says whom the daemon serves (allowed_uids): a user
    // who can write it, or plant a link to it, can name themselves.
    let tmp = scratch("config-shared");
    let config = tmp.path().join("grantd.toml");
    std::fs::write(&config, "allowed_uids = [4242]\n").unwrap();
    let config_arg = config.to_str().unwrap();
    let check = |needles: &[&str]| {
        let out = grantd(tmp.path(), &["check", "--config", config_arg])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        for needle in needles {
            assert!(stderr.contains(needle), "{needle:?} missing:\n{stderr}");
        }
    };
    chmod(&config, 0o666);
    check(&["refusing the config file", "chmod go-w"]);
    let addr = tmp.path().join("addr");
    let token = tmp.path().join("token");
    let serve = serve(
        tmp.path(),
        &addr,
        &[
            "--config",
            config_arg,
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    assert_refused(
        outcome(serve, &addr, tmp.path()),
        &["refusing the config file", "chmod go-w"],
    );
    chmod(&config, 0o644);
    give(&config, ATTACKER);
    check(&["refusing the config file", "owned by uid 4242"]);
    // A link another user planted where the config is looked for.
    give(&config, 0);
    let shared = open_scratch("config-link");
    let planted = shared.path().join("grantd.toml");
    symlink(&config, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(ATTACKER), Some(ATTACKER)).unwrap();
    let out = grantd(
        tmp.path(),
        &["check", "--config", planted.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("owned by uid 4242"), "{stderr}");
    // Ours, not writable by others: used.
    let ok = grantd(tmp.path(), &["check", "--config", config_arg])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
}
