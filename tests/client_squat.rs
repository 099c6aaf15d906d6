//! grantd's clients check whom they talk to: `creds`, `ready` and `env`
//! send nothing (the token least of all) to a listener of another user,
//! such as one squatting grantd's port while the daemon is down, and a
//! configured address file that is missing is an error, not a reason to
//! dial the default port. The suite runs as root; the squatter is `nobody`.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

const TOKEN: &str = "a-client-token-of-the-owner-0123456789";

/// A token file of ours in a private directory of `dir`.
fn token_file(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("token");
    std::fs::write(&path, TOKEN).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `grantd ARGS` as a client with the token file, run to its end.
fn client(args: &[&str], token: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    client_env(&mut cmd);
    cmd.args(args)
        .arg("--token-file")
        .arg(token)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn refused_with(out: &Output, says: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(69),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains(says),
        "stderr should say {says:?}: {stderr}"
    );
    assert!(!stdout.contains(SQUATTER_KEY), "{stdout}");
    assert!(
        !stdout.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        "{stdout}"
    );
}

#[test]
fn creds_ready_and_env_send_nothing_to_a_port_another_user_holds() {
    let dir = scratch("squat");
    let token = token_file(dir.path());
    let squatter = Squatter::start(0);
    let listen = squatter.addr.to_string();
    let creds = client(
        &["creds", "--listen", &listen, "--profile", "usera"],
        &token,
    );
    refused_with(&creds, "runs as uid 65534");
    let ready = client(&["ready", "--listen", &listen, "--wait", "1"], &token);
    refused_with(&ready, "runs as uid 65534");
    let env = client(&["env", "--listen", &listen, "--profile", "usera"], &token);
    refused_with(&env, "runs as uid 65534");
    let received = squatter.received();
    assert!(
        received.iter().all(|r| !r.contains(TOKEN)),
        "the token reached the squatter: {received:?}"
    );
    // It saw connections (each client checked who it had reached), no bytes.
    assert!(
        received.iter().all(String::is_empty),
        "nothing at all is sent: {received:?}"
    );
}

#[test]
fn a_missing_address_file_is_an_error_not_the_configured_port() {
    // A supervisor between two daemons: the address file is gone, and
    // another user holds the port the settings name.
    let dir = scratch("squat-addr");
    let token = token_file(dir.path());
    let squatter = Squatter::start(0);
    let listen = squatter.addr.to_string();
    let addr_file = dir.path().join("addr");
    let addr_file = addr_file.to_str().unwrap();
    let creds = client(
        &["creds", "--listen", &listen, "--addr-file", addr_file],
        &token,
    );
    refused_with(&creds, "cannot read the daemon's address");
    assert!(squatter.received().is_empty(), "it was not even dialled");
}

#[test]
fn the_clients_still_talk_to_a_daemon_of_their_own_user() {
    let s = stack(PROFILES);
    let dir = s.daemon.dir();
    let out = client(
        &[
            "creds",
            "--addr-file",
            dir.join("addr").to_str().unwrap(),
            "--profile",
            "usera",
            "--format",
            "process",
        ],
        &dir.join("token"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"Version\":1"));
    for proc_lookup in [false, true] {
        let mut cmd = Command::new(BIN);
        client_env(&mut cmd);
        if proc_lookup {
            cmd.env("GRANTD_PEER_LOOKUP", "proc");
        }
        let ready = cmd
            .args(["ready", "--wait", "5", "--addr-file"])
            .arg(dir.join("addr"))
            .arg("--token-file")
            .arg(dir.join("token"))
            .output()
            .unwrap();
        assert!(ready.status.success(), "{ready:?}");
    }
}
