//! The daemon as a process: configuration checked before binding (exit 64),
//! the `check`, `env` and `creds` commands, SIGTERM and draining, and what
//! reaches its logs.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// `AWS_REGION=""` (or a misspelt one) reaches the daemon through the
/// standard region chain, not through its own settings: it must still stop
/// with exit 64, not retry the identity lookup for ever.
#[test]
fn a_region_chain_that_names_no_region_exits_64() {
    let emu = emulator(None);
    for region in ["", "Mars 1"] {
        let dir = scratch("badregion");
        let mut cmd = daemon_command(&emu, dir.path(), PROFILES);
        cmd.env("AWS_REGION", region);
        let (code, stderr) = outcome(cmd, &dir.path().join("addr"), dir.path()).exited();
        assert_eq!(code, 64, "{region:?}: {stderr}");
        assert!(stderr.contains("not a region"), "{region:?}: {stderr}");
    }
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

/// How long shutdown waits for open requests: the daemon's built-in grace
/// period (`server::Limits::grace`). The contract names no flag or
/// variable for it. Defaults to 10 s.
const GRACE: Duration = Duration::from_secs(10);

/// How long the emulator holds the `GetDataAccess` call in flight at
/// SIGTERM: long enough to signal and probe while it waits, and under the
/// daemon's 2 s upstream attempt timeout so the call is not retried.
const HELD_FOR_MS: u64 = 1_500;

/// What a daemon did when SIGTERM came with one request in flight.
struct Drain {
    /// The answer to the request that was in flight.
    in_flight: Reply,
    /// A new connection was refused while the daemon was still running and
    /// the emulator still held the upstream call of the request in flight.
    refused_while_draining: bool,
    exit_code: i32,
    /// From SIGTERM to the process's exit.
    exit_after: Duration,
    logs: String,
}

/// Starts a credentials request that the emulator holds, sends SIGTERM
/// once the call has reached the emulator, probes for new connections and
/// waits for the daemon to exit.
fn sigterm_with_a_request_in_flight() -> Drain {
    let mut s = stack("");
    add_fault(
        &s.emu,
        &format!(r#"{{"operation":"GetDataAccess","latency_ms":{HELD_FOR_MS},"times":1}}"#),
    );
    let in_flight: JoinHandle<Reply> = {
        let (addr, token) = (s.daemon.addr, s.token.clone());
        std::thread::spawn(move || get(addr, &query("UserA/drain/*", "READ"), Some(&token)))
    };
    wait_for_faults_spent(&s.emu);

    let signalled = Instant::now();
    s.daemon.signal_term();
    assert!(
        !in_flight.is_finished(),
        "the request finished before SIGTERM; the test proves nothing"
    );
    let refused_while_draining = first_refusal(&mut s.daemon, &s.emu);
    let exit_code = s.daemon.wait_exit(GRACE + PATIENCE);
    let exit_after = signalled.elapsed();
    Drain {
        in_flight: in_flight.join().unwrap(),
        refused_while_draining,
        exit_code,
        exit_after,
        logs: s.daemon.logs(),
    }
}

/// Connects until the daemon refuses (its listener is closed once the
/// signal is handled); whether it was then still draining.
fn first_refusal(daemon: &mut Proc, emu: &Proc) -> bool {
    let addr: SocketAddr = daemon.addr;
    wait_for(
        "a new connection to be refused",
        || match TcpStream::connect(addr) {
            // Accepted before the signal was handled; closed again at once.
            Ok(_) => None,
            // Caught in the backlog as the listener closed: the kernel resets
            // it. The next try meets the closed port.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                // The emulator logs a call only once it answers, so none
                // logged means the request in flight is still unanswered.
                // `running` alone could race: an exiting process closes its
                // sockets a moment before it can be reaped.
                let held = upstream_calls(emu, "GetDataAccess") == 0;
                Some(held && daemon.running())
            }
            Err(e) => panic!("connecting failed otherwise: {e}"),
        },
        String::new,
    )
}

#[test]
fn a_request_in_flight_at_sigterm_completes_with_credentials() {
    let drain = sigterm_with_a_request_in_flight();
    let v = assert_credentials(&drain.in_flight);
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(v["MatchedGrantTarget"], format!("s3://{BUCKET}/UserA/*"));
}

#[test]
fn new_connections_are_refused_while_draining() {
    let drain = sigterm_with_a_request_in_flight();
    assert!(
        drain.refused_while_draining,
        "new connections were accepted until the request in flight was answered:\n{}",
        drain.logs
    );
    // Answered after the refusal: the daemon was alive when it refused.
    assert_eq!(drain.in_flight.status, 200, "{}", drain.in_flight.body);
}

#[test]
fn the_daemon_exits_zero_within_its_grace_period_after_draining() {
    let drain = sigterm_with_a_request_in_flight();
    assert_eq!(drain.exit_code, 0, "{}", drain.logs);
    assert!(
        drain.exit_after < GRACE,
        "exited {:?} after SIGTERM, grace is {GRACE:?}",
        drain.exit_after
    );
    assert!(drain.logs.contains("drained"), "{}", drain.logs);
    assert!(
        !drain.logs.contains("grace period ran out"),
        "{}",
        drain.logs
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
    // Everything an operator or another process can read back: the daemon's
    // metrics, the emulator's call log (which records each request the
    // daemon made, and must not echo what it answered), and both logs.
    let metrics = get(d.addr, "/metrics", None).body;
    let calls = get(emu.addr, "/_emulator/calls", None).body;
    assert!(
        calls.contains("GetDataAccess"),
        "the call log recorded the run:\n{calls}"
    );
    let mut d = d;
    d.terminate();
    let logs = d.logs() + &emu.logs();
    assert!(logs.contains("vend"), "the run was logged at all:\n{logs}");
    for (what, text) in [
        ("logs", &logs),
        ("/metrics", &metrics),
        ("call log", &calls),
    ] {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret reached the {what}");
        }
    }
}

#[test]
fn the_daemon_is_not_dumpable_so_its_proc_files_stay_root_s_as_another_user() {
    // prctl(PR_SET_DUMPABLE, 0): no core file holds a credential, no process
    // of the daemon's user may ptrace it or read its memory or environment,
    // and the kernel keeps its /proc files root's.
    use std::os::unix::fs::MetadataExt;
    let emu = emulator(None);
    let dir = scratch("undumpable");
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let cmd = daemon_command(&emu, dir.path(), PROFILES);
    let cmd = wrap(
        &cmd,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
    );
    let d = spawn_daemon(cmd, dir);
    let proc = format!("/proc/{}", d.child.id());
    let status = std::fs::read_to_string(format!("{proc}/status")).unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t65534")),
        "{status}"
    );
    for file in ["environ", "mem", "maps"] {
        let owner = std::fs::metadata(format!("{proc}/{file}")).unwrap().uid();
        assert_eq!(owner, 0, "{proc}/{file} belongs to uid {owner}");
    }
}
