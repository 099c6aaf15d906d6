//! User namespaces: a daemon started with `unshare --user` shares the
//! host's network, and every host user its namespace cannot map shows in
//! the socket table as the overflow uid (65534). Such a peer is unknown,
//! never the owner or an allowed user, and a daemon that itself runs as the
//! overflow uid refuses to start unless told otherwise. The suite runs as
//! root, which may create user namespaces; the other user is `nobody`.

mod common;

use common::*;

/// The daemon's command run in a new user namespace made by `unshare ARGS`.
fn in_namespace(emu: &Proc, dir: &std::path::Path, unshare: &[&str]) -> std::process::Command {
    let cmd = daemon_command(emu, dir, PROFILES);
    let mut prefix = vec!["unshare", "--user"];
    prefix.extend_from_slice(unshare);
    wrap(&cmd, &prefix)
}

#[test]
fn a_daemon_that_runs_as_the_overflow_uid_refuses_to_start() {
    let emu = emulator(None);
    let dir = scratch("userns-overflow");
    let cmd = in_namespace(&emu, dir.path(), &["--map-user=65534"]);
    let (code, stderr) = outcome(cmd, &dir.path().join("addr"), dir.path()).exited();
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("overflow uid"), "{stderr}");
    assert!(stderr.contains("GRANTD_ALLOW_OVERFLOW_UID"), "{stderr}");
    assert!(!dir.path().join("addr").exists(), "nothing was bound");
}

#[test]
fn an_overflow_uid_daemon_starts_when_told_and_says_where_it_runs() {
    let emu = emulator(None);
    let dir = scratch("userns-allowed");
    let mut cmd = in_namespace(&emu, dir.path(), &["--map-user=65534"]);
    cmd.env("GRANTD_ALLOW_OVERFLOW_UID", "true");
    let d = spawn_daemon(cmd, dir);
    let logs = plain(&d.logs());
    assert!(logs.contains("user_namespace=\"own\""), "{logs}");
    assert_credentials(&get(d.addr, "/v1/credentials", Some(&token(&d))));
}

#[test]
fn an_unmapped_host_user_is_unknown_even_when_the_overflow_uid_is_allowed() {
    // The daemon is root in its namespace (host root mapped to 0); nobody
    // is not mapped, so it shows as 65534, which allowed_uids names.
    let emu = emulator(None);
    let dir = scratch("userns-unmapped");
    let mut cmd = in_namespace(&emu, dir.path(), &["--map-root-user"]);
    cmd.env("GRANTD_ALLOWED_UIDS", "65534");
    let d = spawn_daemon(cmd, dir);
    let token = token(&d);
    let reply = get_as_nobody(
        d.addr,
        "GET",
        "/v1/credentials",
        &[("Authorization", &token)],
    );
    assert_contract_error(&reply, 403, "PeerNotAllowed");
    assert!(!reply.body.contains("SecretAccessKey"));
    // The owner, root of the namespace and of the host, is served.
    assert_credentials(&get(d.addr, "/v1/credentials", Some(&token)));
    let logs = plain(&d.logs());
    assert!(logs.contains("overflow uid"), "{logs}");
}
