//! `grantd ls` against `grantd emulate`: the caller's grants as a table,
//! JSON and profiles `grantd check` takes, every page, and clear failures.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// `grantd ls ARGS` with the daemon's environment pointed at `emu`, signed as RoleA.
fn ls(emu: &Proc, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("ls").args(args);
    client_env(&mut cmd);
    cmd.env("AWS_ENDPOINT_URL_S3_CONTROL", emu.url())
        .env("AWS_ENDPOINT_URL_STS", emu.url())
        .env("AWS_ACCESS_KEY_ID", ROLE_A_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROLE_A_SECRET);
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn json_lists_the_callers_scopes_and_permissions() {
    let emu = emulator(None);
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&stdout_of_success(&ls(&emu, &["--format", "json"]))).unwrap();
    let scopes: Vec<(&str, &str)> = list
        .iter()
        .map(|g| {
            (
                g["scope"].as_str().unwrap(),
                g["permission"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scopes,
        [
            (format!("s3://{BUCKET}/Product/*").as_str(), "READWRITE"),
            (format!("s3://{BUCKET}/UserA/*").as_str(), "READWRITE"),
        ]
    );
    assert_eq!(list[0]["account_id"], "111122223333");
    assert_eq!(upstream_calls(&emu, "ListCallerAccessGrants"), 1);
    assert_eq!(
        upstream_calls(&emu, "GetCallerIdentity"),
        1,
        "the account from STS"
    );
}

#[test]
fn the_table_names_scope_permission_and_application() {
    let emu = emulator(None);
    let out = stdout_of_success(&ls(&emu, &[]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("SCOPE"), "{out}");
    assert!(lines[0].contains("PERMISSION") && lines[0].contains("APPLICATION"));
    assert!(lines[1].contains("/Product/*") && lines[1].contains("READWRITE"));
    assert_eq!(lines.len(), 3, "{out}");
}

#[test]
fn scope_narrows_to_grants_under_a_path_or_its_first_characters() {
    let emu = emulator(None);
    let scopes = |scope: &str| -> Vec<String> {
        let out = stdout_of_success(&ls(&emu, &["--scope", scope, "--format", "json"]));
        let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        list.iter()
            .map(|g| g["scope"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        scopes(&format!("s3://{BUCKET}/Us")),
        [format!("s3://{BUCKET}/UserA/*")]
    );
    assert_eq!(
        scopes(&format!("s3://{BUCKET}/UserA/output/")),
        [format!("s3://{BUCKET}/UserA/*")],
        "the grant that applies there"
    );
    assert!(scopes("s3://no-such-bucket/").is_empty());
    let bad = ls(&emu, &["--scope", "bucket/x"]);
    assert_eq!(bad.status.code(), Some(64), "{}", stderr(&bad));
}

#[test]
fn toml_profiles_pass_check_as_they_are() {
    let emu = emulator(None);
    let out = stdout_of_success(&ls(&emu, &["--format", "toml"]));
    assert!(
        out.contains("[profiles.product]") && out.contains("[profiles.usera]"),
        "{out}"
    );
    let dir = scratch("ls-toml");
    let config = dir.path().join("grantd.toml");
    std::fs::write(&config, &out).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("check").arg("--config").arg(&config);
    cmd.arg("--token-file").arg(dir.path().join("token"));
    client_env(&mut cmd);
    let checked = stdout_of_success(&cmd.output().unwrap());
    let line = |name: &str| {
        checked
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .collect::<Vec<_>>()
                    .starts_with(&["profile", name])
            })
            .unwrap_or_else(|| panic!("no profile {name}: {checked}"))
            .to_string()
    };
    assert!(
        line("usera").ends_with(&format!("s3://{BUCKET}/UserA/* READWRITE Default")),
        "{checked}"
    );
    assert!(
        line("product").contains("/Product/* READWRITE"),
        "{checked}"
    );
    let default = checked
        .lines()
        .find(|l| l.starts_with("default_profile"))
        .unwrap();
    assert!(default.ends_with(" product"), "{checked}");
}

/// A scenario where RoleA holds `n` grants.
fn many_grants(n: usize) -> String {
    let mut text = String::from(
        "[[identities]]\narn = \"arn:aws:iam::111122223333:role/A\"\naccess_key_id = \"AKIAGRANTDDEMOROLEA\"\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[grants]]\ngrantee = \"arn:aws:iam::111122223333:role/A\"\ntarget = \"s3://bucket/p{i:05}/*\"\npermission = \"READ\"\n"
        ));
    }
    text
}

#[test]
fn every_page_is_followed_to_the_end() {
    let emu = emulator(Some(&many_grants(2100)));
    let out = stdout_of_success(&ls(&emu, &["--format", "json"]));
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list.len(), 2100);
    assert_eq!(list[2099]["scope"], "s3://bucket/p02099/*");
    assert_eq!(
        upstream_calls(&emu, "ListCallerAccessGrants"),
        3,
        "1000 a page"
    );
}

#[test]
fn access_denied_is_explained_and_exits_1() {
    let emu = emulator(None);
    add_fault(
        &emu,
        r#"{"operation":"ListCallerAccessGrants","status":403,"code":"AccessDenied","message":"Access Denied"}"#,
    );
    let out = ls(&emu, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("AccessDenied: Access Denied"), "{err}");
    assert!(err.contains("needs s3:ListCallerAccessGrants"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn throttling_is_retried_then_reported_and_exits_69() {
    let emu = emulator(None);
    add_fault(
        &emu,
        r#"{"operation":"ListCallerAccessGrants","status":503,"code":"SlowDown","message":"Please reduce your request rate."}"#,
    );
    let out = ls(&emu, &[]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("throttling"), "{}", stderr(&out));
    assert_eq!(
        upstream_calls(&emu, "ListCallerAccessGrants"),
        3,
        "the SDK's 3 attempts"
    );
}

#[test]
fn an_account_without_an_instance_is_named_and_exits_1() {
    let emu = emulator(None);
    let out = ls(
        &emu,
        &["--account-id", "999999999999", "--region", "eu-west-1"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("account 999999999999 has no Access Grants instance in eu-west-1"),
        "{err}"
    );
}

#[test]
fn an_s3_control_endpoint_that_never_answers_is_named_within_seconds() {
    let emu = emulator(None);
    // Accepts connections and never answers: an endpoint in a black hole.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let mut cmd = Command::new(BIN);
    cmd.args(["ls", "--account-id", "111122223333"]);
    client_env(&mut cmd);
    cmd.env("AWS_ENDPOINT_URL_S3_CONTROL", &url)
        .env("AWS_ENDPOINT_URL_STS", emu.url())
        .env("AWS_ACCESS_KEY_ID", ROLE_A_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROLE_A_SECRET);
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("S3 Control at {url} did not answer in time")),
        "{err}"
    );
    assert!(err.contains("com.amazonaws.us-east-1.s3"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    drop(silent);
}
