//! The S3 endpoint across grants and around its edges, end to end:
//! DeleteObjects split by grant, copies within one grant and refused across
//! two, no secret in the log, a silent S3 given up on, and a daemon that
//! would forward to itself refusing to start.

mod common;
mod s3_support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use s3_support::*;

// ---- DeleteObjects and copies across grants ----

#[test]
fn delete_objects_across_grants_sends_the_granted_keys_and_denies_the_rest() {
    let s = s3_stack(&["--s3-fallback", "deny"]);
    let keys = ["UserA/one", "UserB/two", "UserA/three", "UserB/four"];
    let reply = post_delete(&s, delete_xml(&keys).as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());

    let bucket_path = format!("/{BUCKET}");
    let up = one(&s.fake, &bucket_path);
    assert_eq!((up.method.as_str(), up.query.as_str()), ("POST", "delete"));
    assert_signed_by_grant(&s, &up, "UserA/one", "WRITE");
    let sent = String::from_utf8_lossy(&up.body);
    assert!(
        sent.contains("<Key>UserA/one</Key>") && sent.contains("<Key>UserA/three</Key>"),
        "{sent}"
    );
    assert!(!sent.contains("UserB"), "a denied key went to S3: {sent}");
    assert_eq!(
        up.header("content-md5"),
        Some(grantd_s3::xml::content_md5(&up.body).as_str())
    );
    assert_eq!(
        up.header("x-amz-content-sha256"),
        Some(sha256_hex(&up.body).as_str())
    );

    let result = grantd_s3::xml::parse_delete_result(&reply.body).unwrap();
    let mut deleted: Vec<&str> = result.deleted.iter().map(|d| d.key.as_str()).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["UserA/one", "UserA/three"]);
    let mut refused: Vec<(&str, &str)> = result
        .errors
        .iter()
        .map(|e| (e.key.as_str(), e.code.as_str()))
        .collect();
    refused.sort_unstable();
    assert_eq!(
        refused,
        [
            ("UserB/four", "AccessDenied"),
            ("UserB/two", "AccessDenied")
        ]
    );
}

#[test]
fn delete_objects_of_only_denied_keys_answers_them_all_without_calling_s3() {
    let s = s3_stack(&["--s3-fallback", "deny"]);
    let reply = post_delete(&s, delete_xml(&["UserB/x", "UserB/y"]).as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    let result = grantd_s3::xml::parse_delete_result(&reply.body).unwrap();
    assert!(result.deleted.is_empty());
    assert_eq!(result.errors.len(), 2, "{}", reply.text());
    assert!(result.errors.iter().all(|e| e.code == "AccessDenied"));
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn a_copy_within_one_grant_goes_as_one_request_signed_by_that_grant() {
    let s = s3_stack(&[]);
    s.fake.put_object(&obj("UserA/a"), b"copied bytes");
    let source = format!("/{BUCKET}/UserA/a");
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &obj("UserA/b"),
        &[("x-amz-copy-source", &source)],
        Payload::Signed(b""),
    );
    let reply = send(s.s3, &req, b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.text().contains("<CopyObjectResult>"),
        "{}",
        reply.text()
    );

    assert_eq!(s.fake.records().len(), 1, "{:#?}", s.fake.records());
    let up = one(&s.fake, &obj("UserA/b"));
    assert_signed_by_grant(&s, &up, "UserA/*", "READWRITE");
    assert_eq!(up.header("x-amz-copy-source"), Some(source.as_str()));
    assert_eq!(
        s.fake.object(&obj("UserA/b")).as_deref(),
        Some(&b"copied bytes"[..])
    );
}

/// READWRITE on the common prefix (`s3://bucket/*`) is denied; READ on
/// Product and WRITE on UserA come from two grants, whose credentials
/// cannot sign one request together.
#[test]
fn a_copy_across_two_grants_is_access_denied_naming_both_scopes() {
    let s = s3_stack(&[]);
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &obj("UserA/y"),
        &[("x-amz-copy-source", &format!("/{BUCKET}/Product/x"))],
        Payload::Signed(b""),
    );
    let reply = send(s.s3, &req, b"");
    reply.assert_error(403, "AccessDenied");
    let text = reply.text();
    for scope in [
        format!("READ on s3://{BUCKET}/Product/x"),
        format!("WRITE on s3://{BUCKET}/UserA/y"),
    ] {
        assert!(text.contains(&scope), "{scope} not named: {text}");
    }
    assert_s3_saw_nothing(&s.fake);
}

// ---- Secrets and start-up ----

#[test]
fn the_log_never_holds_a_secret_a_session_token_or_the_bearer_token() {
    let s = s3_stack(&["--log-level", "debug"]);
    let granted = obj("UserA/logged.bin");
    assert_eq!(signed_put(&s, &granted, b"granted").status, 200);
    let fallback = obj("UserB/logged.bin");
    assert_eq!(signed_put(&s, &fallback, b"base").status, 200);
    // Refusals log too.
    let wrong = Signer::new(ROLE_A_KEY, "wrong-secret-wrong-secret-wrong-secret0");
    let req = sign_headers(s.s3, &wrong, "GET", &granted, &[], Payload::Unsigned);
    send(s.s3, &req, b"").assert_error(403, "SignatureDoesNotMatch");
    let (req, mut chain) = streaming_signed_head(&s, &obj("UserA/forged-log.bin"), 5);
    let mut body = framed_chunk(b"12345", &"0".repeat(64));
    body.extend(final_chunk(&mut chain));
    send(s.s3, &req, &body).assert_error(403, "SignatureDoesNotMatch");

    // The grant's credentials the endpoint used, as the credential route
    // serves them for the same scope.
    let up = one(&s.fake, &granted);
    let creds = assert_credentials(&get(
        s.daemon.addr,
        &query("UserA/logged.bin", "WRITE"),
        Some(&s.token),
    ));
    assert_eq!(up.access_key_id(), creds["AccessKeyId"].as_str());
    let mut secrets = vec![
        ROLE_A_SECRET.to_string(),
        s.token.trim().to_string(),
        creds["SecretAccessKey"].as_str().unwrap().to_string(),
        creds["Token"].as_str().unwrap().to_string(),
    ];
    for r in s.fake.records() {
        secrets.extend(r.header("x-amz-security-token").map(String::from));
    }
    let logs = s.daemon.logs();
    assert!(logs.contains("s3 request"), "debug logs expected:\n{logs}");
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the log:\n{logs}"
        );
    }
}

#[test]
fn an_s3_upstream_that_is_the_s3_listener_itself_refuses_to_start_with_exit_64() {
    let emu = emulator(None);
    for host in ["127.0.0.1", "localhost"] {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let dir = scratch("s3-loop");
        let mut cmd = daemon_command(&emu, dir.path(), "");
        cmd.args(["--s3-listen", &format!("127.0.0.1:{port}")])
            .env("AWS_ENDPOINT_URL_S3", format!("http://{host}:{port}"));
        let (code, stderr) = outcome(cmd, &dir.path().join("addr"), dir.path()).exited();
        assert_eq!(code, 64, "{host}: {stderr}");
        assert!(
            stderr.contains("AWS_ENDPOINT_URL_S3")
                && stderr.contains(&format!("{host}:{port}"))
                && stderr.contains("own S3 endpoint"),
            "{stderr}"
        );
        assert!(!dir.path().join("addr").exists(), "it never served");
    }
}

#[test]
fn an_s3_that_accepts_and_never_answers_is_given_up_on_after_the_upstream_timeout() {
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let s = s3_stack_with(
        &[],
        &[
            ("AWS_ENDPOINT_URL_S3", url.as_str()),
            ("GRANTD_S3_UPSTREAM_TIMEOUT", "1"),
        ],
    );
    let started = Instant::now();
    let reply = signed_put(&s, &obj("UserA/silent.bin"), &bytes(10));
    reply.assert_error(502, "InternalError");
    assert!(
        reply.text().contains("did not answer within 1 s"),
        "{}",
        reply.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}
