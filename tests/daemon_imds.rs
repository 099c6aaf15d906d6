//! The IMDSv2-compatible routes (`--imds`): session tokens, the role list
//! and per-profile credentials, as the EC2 metadata service answers them.

mod common;

use common::*;

const ROLES: &str = "/latest/meta-data/iam/security-credentials/";

/// A ready daemon with `--imds` and `config`, in front of the demo emulator.
fn imds_daemon(emu: &Proc, config: &str) -> Proc {
    let dir = scratch("imds");
    let mut cmd = daemon_command(emu, dir.path(), config);
    cmd.arg("--imds");
    spawn_daemon(cmd, dir)
}

fn put_token(d: &Proc, ttl: &str) -> Reply {
    request(
        d.addr,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", ttl)],
    )
}

#[test]
fn imds_token_put_echoes_the_ttl() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, PROFILES);
    let put = put_token(&d, "21600");
    assert_eq!(put.status, 200);
    assert_eq!(
        put.header("x-aws-ec2-metadata-token-ttl-seconds")
            .as_deref(),
        Some("21600")
    );
}

#[test]
fn imds_role_list_is_the_default_profile_alone() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, PROFILES);
    let roles = imds_get(d.addr, &imds_session(d.addr), ROLES);
    // botocore, JS and Rust read the whole list as one role name: the default alone.
    assert_eq!((roles.status, roles.body.as_str()), (200, "usera"));
}

#[test]
fn imds_answers_the_role_list_without_the_trailing_slash_as_the_cpp_sdk_asks() {
    // The AWS SDK for C++ (pyarrow, DuckDB's aws extension) asks for the list
    // without the last `/`, then for the role it read; EC2 answers both forms.
    let emu = emulator(None);
    let d = imds_daemon(&emu, PROFILES);
    let session = imds_session(d.addr);
    let roles = imds_get(d.addr, &session, ROLES.trim_end_matches('/'));
    assert_eq!((roles.status, roles.body.as_str()), (200, "usera"));
    let creds = imds_get(d.addr, &session, &format!("{ROLES}{}", roles.body)).json();
    assert_eq!(creds["Code"], "Success");
}

#[test]
fn imds_serves_a_profile_as_a_role_even_with_a_double_slash() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, PROFILES);
    let creds = imds_get(
        d.addr,
        &imds_session(d.addr),
        "//latest/meta-data/iam/security-credentials/usera",
    )
    .json();
    assert_eq!(creds["Code"], "Success");
    assert_eq!(creds["Type"], "AWS-HMAC");
    assert!(creds["Token"].as_str().is_some_and(|t| !t.is_empty()));
}

#[test]
fn imds_token_is_required_for_credentials() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, PROFILES);
    assert_eq!(request(d.addr, "GET", ROLES, &[]).status, 401);
}

#[test]
fn imds_rejects_an_unknown_session_token() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, PROFILES);
    assert_eq!(imds_get(d.addr, "bogus", ROLES).status, 401);
}

#[test]
fn imds_refuses_a_token_request_with_x_forwarded_for() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, PROFILES);
    let forwarded = request(
        d.addr,
        "PUT",
        "/latest/api/token",
        &[
            ("X-aws-ec2-metadata-token-ttl-seconds", "60"),
            ("X-Forwarded-For", "10.0.0.1"),
        ],
    );
    assert_eq!(forwarded.status, 403);
}

#[test]
fn imds_refuses_a_token_ttl_out_of_range() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, PROFILES);
    for ttl in ["0", "21601", "soon"] {
        assert_eq!(put_token(&d, ttl).status, 400, "ttl {ttl}");
    }
}

#[test]
fn imds_answers_an_unknown_role_with_404() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, PROFILES);
    let session = imds_session(d.addr);
    let unknown = imds_get(
        d.addr,
        &session,
        "/latest/meta-data/iam/security-credentials/nobody",
    );
    assert_eq!(unknown.status, 404);
}

#[test]
fn imds_lists_every_profile_when_asked() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, &format!("imds_list_all_profiles = true\n{PROFILES}"));
    let roles = imds_get(d.addr, &imds_session(d.addr), ROLES);
    assert_eq!((roles.status, roles.body.as_str()), (200, "usera\nproduct"));
}

#[test]
fn imds_serves_a_listed_profile_other_than_the_default() {
    let emu = emulator(None);
    let d = imds_daemon(&emu, &format!("imds_list_all_profiles = true\n{PROFILES}"));
    let other = imds_get(
        d.addr,
        &imds_session(d.addr),
        "/latest/meta-data/iam/security-credentials/product",
    );
    assert_eq!(other.status, 200);
}

#[test]
fn imds_routes_are_off_without_the_flag() {
    let s = stack(PROFILES);
    assert_eq!(put_token(&s.daemon, "60").status, 404);
}
