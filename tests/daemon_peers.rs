//! Who may connect: credentials (token routes and IMDS) only for the
//! daemon's own Unix user and the users named in `allowed_uids`; the
//! operations routes for everyone, without bucket, prefix or account for
//! other users. The suite runs as root; the other user is `nobody`.

mod common;

use std::process::{Command, Stdio};

use common::*;

const ACCOUNT: &str = "111122223333";

#[test]
fn another_user_with_the_token_gets_403_peer_not_allowed() {
    let s = stack(PROFILES);
    let reply = get_as_nobody(
        s.daemon.addr,
        "GET",
        "/v1/credentials",
        &[("Authorization", &s.token)],
    );
    let refused = assert_contract_error(&reply, 403, "PeerNotAllowed");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("65534") && message.contains("allowed_uids"),
        "{message}"
    );
    assert!(!reply.body.contains("SecretAccessKey"));
    assert_eq!(reply.header("connection").as_deref(), Some("close"));
    let logs = s.daemon.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains("refused a peer") && l.contains("65534")),
        "{logs}"
    );
    assert!(!logs.contains(&s.token), "the token is never logged");
    // The owner, with the same token, is served.
    assert_credentials(&get(s.daemon.addr, "/v1/credentials", Some(&s.token)));
}

#[test]
fn another_user_gets_no_imds_session_and_no_imds_credentials() {
    let emu = emulator(None);
    let dir = scratch("peers-imds");
    let mut cmd = daemon_command(&emu, dir.path(), PROFILES);
    cmd.arg("--imds");
    let d = spawn_daemon(cmd, dir);
    let put = get_as_nobody(
        d.addr,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    );
    assert_contract_error(&put, 403, "PeerNotAllowed");
    // Even a session the owner got is of no use to another user.
    let session = imds_session(d.addr);
    for path in [
        "/latest/meta-data/iam/security-credentials/",
        "/latest/meta-data/iam/security-credentials/usera",
    ] {
        let reply = get_as_nobody(
            d.addr,
            "GET",
            path,
            &[("X-aws-ec2-metadata-token", &session)],
        );
        assert_contract_error(&reply, 403, "PeerNotAllowed");
    }
    let own = imds_get(
        d.addr,
        &session,
        "/latest/meta-data/iam/security-credentials/usera",
    );
    assert_eq!(own.status, 200, "{}", own.body);
}

#[test]
fn allowed_uids_lets_another_user_in() {
    let emu = emulator(None);
    let dir = scratch("peers-allowed");
    let mut cmd = daemon_command(&emu, dir.path(), PROFILES);
    cmd.env("GRANTD_ALLOWED_UIDS", "1000,65534");
    let d = spawn_daemon(cmd, dir);
    let token = token(&d);
    let reply = get_as_nobody(
        d.addr,
        "GET",
        "/v1/credentials",
        &[("Authorization", &token)],
    );
    assert_credentials(&reply);
    let readyz = get_as_nobody(d.addr, "GET", "/readyz", &[]);
    assert!(readyz.body.contains(ACCOUNT), "{}", readyz.body);
}

#[test]
fn another_user_sees_health_and_counts_but_no_bucket_prefix_or_account() {
    let s = stack(PROFILES);
    // The profiles are warm: the cache holds UserA and Product.
    let own_metrics = get(s.daemon.addr, "/metrics", None);
    assert!(own_metrics.body.contains(BUCKET), "{}", own_metrics.body);
    assert!(get(s.daemon.addr, "/readyz", None).body.contains(ACCOUNT));

    let health = get_as_nobody(s.daemon.addr, "GET", "/healthz", &[]);
    assert_eq!(health.status, 200);
    let metrics = get_as_nobody(s.daemon.addr, "GET", "/metrics", &[]);
    let readyz = get_as_nobody(s.daemon.addr, "GET", "/readyz", &[]);
    assert_eq!((metrics.status, readyz.status), (200, 200));
    assert!(
        metrics.body.contains("grantd_cache_entries 2"),
        "{}",
        metrics.body
    );
    assert_eq!(readyz.json()["status"], "ready");
    for secret in [BUCKET, "UserA", "Product", ACCOUNT, "usera"] {
        assert!(
            !metrics.body.contains(secret),
            "{secret} in {}",
            metrics.body
        );
        assert!(!readyz.body.contains(secret), "{secret} in {}", readyz.body);
    }
}

#[test]
fn malformed_allowed_uids_are_a_configuration_error() {
    for (flag, env) in [(Some("1000,alice"), None), (None, Some("-5"))] {
        let mut cmd = Command::new(BIN);
        client_env(&mut cmd);
        cmd.arg("check");
        if let Some(value) = flag {
            cmd.args(["--allowed-uids", value]);
        }
        if let Some(value) = env {
            cmd.env("GRANTD_ALLOWED_UIDS", value);
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        let origin = if flag.is_some() {
            "--allowed-uids: \"alice\""
        } else {
            "GRANTD_ALLOWED_UIDS: \"-5\""
        };
        assert!(stderr.contains(origin), "{stderr}");
    }
}

#[test]
fn the_s3_endpoint_refuses_another_user_whichever_way_peers_are_looked_up() {
    for lookup in ["netlink", "proc"] {
        let emu = emulator(None);
        let dir = scratch("peers-s3");
        let mut cmd = daemon_command(&emu, dir.path(), PROFILES);
        cmd.args(["--s3-listen", "127.0.0.1:0"])
            .env("GRANTD_PEER_LOOKUP", lookup);
        let d = spawn_daemon(cmd, dir);
        let logs = plain(&d.logs());
        assert!(
            logs.contains(&format!("peer_lookup=\"{lookup}\"")),
            "{logs}"
        );
        let readyz = get(d.addr, "/readyz", None).json();
        let endpoint = readyz["s3_endpoint"].as_str().unwrap().to_string();
        let s3: std::net::SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
        let reply = get_as_nobody(s3, "GET", &format!("/{BUCKET}/UserA/x"), &[]);
        assert_eq!(reply.status, 403, "{lookup}: {}", reply.body);
        assert!(reply.body.contains("AccessDenied"), "{}", reply.body);
        assert!(reply.body.contains("65534"), "{lookup}: {}", reply.body);
    }
}

#[test]
fn a_daemon_told_to_use_netlink_where_it_is_refused_does_not_start() {
    let emu = emulator(None);
    let dir = scratch("peers-no-netlink");
    let mut cmd = wrap(&daemon_command(&emu, dir.path(), PROFILES), &no_netlink());
    cmd.env("GRANTD_PEER_LOOKUP", "netlink");
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sock_diag netlink"), "{stderr}");
    assert!(!dir.path().join("addr").exists(), "{stderr}");
}
