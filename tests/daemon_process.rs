//! The daemon as a process: configuration checked before binding (exit 64),
//! the `check`, `env` and `creds` commands, SIGTERM, and what
//! reaches its logs.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

const BAD_CONFIG: &str =
    "colour = \"blue\"\n[profiles.x]\ntarget = \"nope\"\npermission = \"READ\"\n";

/// `grantd serve` with [`BAD_CONFIG`] and a bad `--account-id`, run to exit.
fn serve_with_a_bad_configuration() -> (Output, tempfile::TempDir) {
    let emu = emulator(None);
    let dir = scratch("badconfig");
    let mut cmd = daemon_command(&emu, dir.path(), BAD_CONFIG);
    cmd.args(["--account-id", "12"]);
    (cmd.output().unwrap(), dir)
}

#[test]
fn bad_configuration_exits_64_naming_every_problem() {
    let (out, _dir) = serve_with_a_bad_configuration();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "unknown key \"colour\"",
        "profiles.x.target",
        "--account-id",
    ] {
        assert!(err.contains(needle), "{needle} missing from:\n{err}");
    }
}

#[test]
fn bad_configuration_binds_nothing() {
    let (_, dir) = serve_with_a_bad_configuration();
    assert!(
        !dir.path().join("addr").exists(),
        "nothing may bind with a bad configuration"
    );
}

#[test]
fn a_non_loopback_listen_address_exits_64() {
    let remote = Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(remote.status.code(), Some(64));
}

#[test]
fn check_exits_64_on_a_bad_configuration() {
    let dir = scratch("badcheck");
    std::fs::write(dir.path().join("grantd.toml"), BAD_CONFIG).unwrap();
    let check = Command::new(BIN)
        .args(["check", "--config"])
        .arg(dir.path().join("grantd.toml"))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(64));
}

#[test]
fn check_prints_the_resolved_settings() {
    let dir = scratch("check");
    std::fs::write(dir.path().join("grantd.toml"), PROFILES).unwrap();
    let mut cmd = Command::new(BIN);
    client_env(&mut cmd);
    let out = cmd
        .args(["check", "--config"])
        .arg(dir.path().join("grantd.toml"))
        .arg("--token-file")
        .arg(dir.path().join("token"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("listen               127.0.0.1:7911"),
        "{text}"
    );
    assert!(text.contains("default_profile      usera"), "{text}");
    assert!(text.contains("profile product"), "{text}");
}

/// Runs `grantd ARGS` with the daemon's own settings (config, address and
/// token files), as a shell sharing its environment would.
fn with_daemon_settings(d: &Proc, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    client_env(&mut cmd);
    cmd.args(args)
        .arg("--config")
        .arg(d.dir().join("grantd.toml"))
        .env("GRANTD_ADDR_FILE", d.dir().join("addr"))
        .env("GRANTD_TOKEN_FILE", d.dir().join("token"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout_of_success(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn env_prints_the_client_settings_of_the_running_daemon() {
    let s = stack(PROFILES);
    let text = stdout_of_success(&with_daemon_settings(
        &s.daemon,
        &["env", "--profile", "product"],
    ));
    assert!(
        text.contains(&format!(
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI='http://{}/v1/credentials/product'",
            s.daemon.addr
        )),
        "{text}"
    );
    assert!(
        text.contains("export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="),
        "{text}"
    );
    assert!(
        text.contains("unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        "{text}"
    );
}

#[test]
fn env_never_prints_the_token() {
    let s = stack(PROFILES);
    let text = stdout_of_success(&with_daemon_settings(
        &s.daemon,
        &["env", "--profile", "product"],
    ));
    assert!(
        !text.contains(&s.token),
        "env must not print the token itself"
    );
}

#[test]
fn creds_in_process_format_is_a_credential_process_document() {
    let s = stack(PROFILES);
    let process = with_daemon_settings(&s.daemon, &["creds", "--format", "process"]);
    stdout_of_success(&process);
    let v: serde_json::Value = serde_json::from_slice(&process.stdout).unwrap();
    assert_eq!(v["Version"], 1);
    assert!(v["SessionToken"].as_str().is_some_and(|t| !t.is_empty()));
}

#[test]
fn creds_in_env_format_exports_a_session_token_for_a_scope() {
    let s = stack(PROFILES);
    let scoped = with_daemon_settings(
        &s.daemon,
        &[
            "creds",
            "--target",
            &format!("s3://{BUCKET}/UserA/x/*"),
            "--permission",
            "READ",
            "--format",
            "env",
        ],
    );
    assert!(String::from_utf8_lossy(&scoped.stdout).contains("export AWS_SESSION_TOKEN="));
}

#[test]
fn creds_without_the_config_lets_the_daemon_resolve_the_profile() {
    let s = stack(PROFILES);
    let mut bare = Command::new(BIN);
    client_env(&mut bare);
    let without_config = bare
        .args(["creds", "--profile", "product", "--addr-file"])
        .arg(s.daemon.dir().join("addr"))
        .arg("--token-file")
        .arg(s.daemon.dir().join("token"))
        .output()
        .unwrap();
    assert!(
        without_config.status.success(),
        "the daemon resolves profile names: {}",
        String::from_utf8_lossy(&without_config.stderr)
    );
}

#[test]
fn creds_for_an_unknown_profile_exits_1_naming_the_error() {
    let s = stack(PROFILES);
    let unknown = with_daemon_settings(&s.daemon, &["creds", "--profile", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("UnknownProfile (HTTP 404)"));
}

#[test]
fn creds_for_a_denied_scope_exits_1_naming_the_error() {
    let s = stack(PROFILES);
    let denied = with_daemon_settings(
        &s.daemon,
        &[
            "creds",
            "--target",
            &format!("s3://{BUCKET}/UserB/*"),
            "--permission",
            "READ",
        ],
    );
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("AccessDenied (HTTP 403)"));
}

#[test]
fn sigterm_exits_zero_and_logs_the_stop() {
    let mut s = stack(PROFILES);
    assert_eq!(s.daemon.terminate(), 0);
    assert!(s.daemon.logs().contains("grantd stopped"));
}

#[test]
fn the_address_file_is_removed_on_exit() {
    let mut s = stack(PROFILES);
    s.daemon.terminate();
    assert!(
        !s.daemon.dir().join("addr").exists(),
        "address file removed on exit"
    );
}

#[test]
fn logs_never_contain_a_secret_or_the_token() {
    let emu = emulator(None);
    let dir = scratch("secrets");
    let mut cmd = daemon_command(&emu, dir.path(), PROFILES);
    cmd.args(["--imds", "--log-level", "trace"]);
    let d = spawn_daemon(cmd, dir);
    let token = token(&d);
    let mut secrets = vec![token.clone(), ROLE_A_SECRET.to_string()];
    for path in [
        "/v1/credentials",
        "/v1/credentials/product",
        &query("UserA/deep/*", "READWRITE"),
    ] {
        let v = get(d.addr, path, Some(&token)).json();
        secrets.push(v["SecretAccessKey"].as_str().unwrap().to_string());
        secrets.push(v["Token"].as_str().unwrap().to_string());
    }
    get(d.addr, &query("UserB/*", "READ"), Some(&token));
    get(d.addr, "/v1/credentials", Some("a-wrong-token-attempt"));
    let session = request(
        d.addr,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    )
    .body;
    request(
        d.addr,
        "GET",
        "/latest/meta-data/iam/security-credentials/usera",
        &[("X-aws-ec2-metadata-token", &session)],
    );
    get(d.addr, "/metrics", None);
    std::thread::sleep(Duration::from_millis(200));
    let mut d = d;
    d.terminate();
    let logs = d.logs() + &emu.logs();
    assert!(logs.contains("vend"), "the run was logged at all:\n{logs}");
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "a secret reached the logs");
    }
    let metrics_text = get(emu.addr, "/_emulator/calls", None).body;
    assert!(!metrics_text.contains(ROLE_A_SECRET));
}
