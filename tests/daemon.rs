//! The real `grantd serve` against the real `grantd emulate`, over loopback.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn query(prefix: &str, permission: &str) -> String {
    format!("/v1/credentials?target=s3://{BUCKET}/{prefix}&permission={permission}")
}

#[test]
fn serves_profiles_and_scopes_in_the_container_format() {
    let emu = emulator(None);
    let d = daemon(&emu, PROFILES);
    let token = token(&d);
    let by_default = get(d.addr, "/v1/credentials", Some(&token));
    assert_eq!(by_default.status, 200, "{}", by_default.body);
    assert_eq!(
        by_default.header("content-type").as_deref(),
        Some("application/json")
    );
    let v = by_default.json();
    for field in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(
            v[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} missing: {v}"
        );
    }
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(v["AccountId"], "111122223333");
    assert_eq!(v["MatchedGrantTarget"], format!("s3://{BUCKET}/UserA/*"));
    let exp = v["Expiration"].as_str().unwrap();
    assert_eq!(exp.len(), 20, "{exp}");
    assert!(exp.ends_with('Z') && exp.as_bytes()[10] == b'T', "{exp}");

    let by_name = get(d.addr, "/v1/credentials/usera", Some(&token)).json();
    let inside = get(d.addr, &query("UserA/output/*", "READWRITE"), Some(&token)).json();
    assert_eq!(by_name["AccessKeyId"], v["AccessKeyId"]);
    assert_eq!(
        inside["AccessKeyId"], v["AccessKeyId"],
        "a scope inside the grant reuses its entry"
    );
    let product = get(d.addr, "/v1/credentials/product", Some(&token)).json();
    assert_ne!(product["AccessKeyId"], v["AccessKeyId"]);
    // Two profiles warmed at start, at once; nothing since.
    assert_eq!(upstream_calls(&emu, "GetDataAccess"), 2);
    assert_eq!(
        upstream_calls(&emu, "GetAccessGrantsInstanceForPrefix"),
        1,
        "one owner lookup per bucket"
    );
}

#[test]
fn errors_follow_the_contract() {
    let emu = emulator(None);
    let d = daemon(&emu, PROFILES);
    let token = token(&d);
    let cases: Vec<(Reply, u16, &str)> = vec![
        (get(d.addr, "/v1/credentials", None), 401, "MissingToken"),
        (
            get(d.addr, "/v1/credentials", Some("wrong-token-wrong-token")),
            403,
            "InvalidToken",
        ),
        (
            get(d.addr, &query("UserB/*", "READ"), Some(&token)),
            403,
            "AccessDenied",
        ),
        (
            get(
                d.addr,
                "/v1/credentials?target=bucket/x&permission=READ",
                Some(&token),
            ),
            400,
            "InvalidTarget",
        ),
        (
            get(d.addr, &query("UserA/*", "ALL"), Some(&token)),
            400,
            "InvalidPermission",
        ),
        (
            get(
                d.addr,
                &format!("{}&duration=5", query("UserA/*", "READ")),
                Some(&token),
            ),
            400,
            "InvalidRequest",
        ),
        (
            get(d.addr, "/v1/credentials/nobody", Some(&token)),
            404,
            "UnknownProfile",
        ),
        (get(d.addr, "/v2/anything", Some(&token)), 404, "NotFound"),
        (
            request(
                d.addr,
                "POST",
                "/v1/credentials",
                &[("Authorization", &token)],
            ),
            405,
            "InvalidRequest",
        ),
    ];
    for (reply, status, code) in cases {
        assert_eq!(reply.status, status, "{code}: {}", reply.body);
        let v = reply.json();
        assert_eq!(v["code"], code, "{v}");
        assert_eq!(v["Code"], code, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(v["message"], v["Message"]);
    }
    let denied = get(d.addr, &query("UserB/*", "READ"), Some(&token)).json();
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .contains("You do not have READ permissions"),
        "{denied}"
    );
}

#[test]
fn refuses_foreign_hosts_and_oversized_heads() {
    let emu = emulator(None);
    let d = daemon(&emu, PROFILES);
    let token = token(&d);
    let rebinding = format!(
        "GET /v1/credentials HTTP/1.1\r\nHost: evil.example:{}\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n",
        d.addr.port()
    );
    let reply = raw(d.addr, rebinding.as_bytes());
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(!reply.body.contains("SecretAccessKey"));
    let localhost = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        d.addr.port()
    );
    assert_eq!(raw(d.addr, localhost.as_bytes()).status, 200);
    let big = "x".repeat(64 * 1024);
    let reply = request(
        d.addr,
        "GET",
        "/v1/credentials",
        &[("Authorization", &token), ("X-Big", &big)],
    );
    assert_eq!(reply.status, 431);
    let garbage = raw(d.addr, b"NOT HTTP AT ALL\r\n\r\n");
    assert_eq!(garbage.status, 400);
    // Still serving after all of it.
    assert_eq!(get(d.addr, "/v1/credentials", Some(&token)).status, 200);
}

#[test]
fn concurrent_clients_cause_one_upstream_call() {
    let emu = emulator(None);
    let d = daemon(&emu, "");
    let token = token(&d);
    post_json(
        emu.addr,
        "/_emulator/faults",
        r#"{"operation":"GetDataAccess","latency_ms":300}"#,
    );
    let path = query("Product/data/*", "READ");
    let threads: Vec<_> = (0..24)
        .map(|_| {
            let (addr, token, path) = (d.addr, token.clone(), path.clone());
            std::thread::spawn(move || {
                get(addr, &path, Some(&token)).json()["AccessKeyId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
        })
        .collect();
    let keys: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(keys.iter().all(|k| k == &keys[0]));
    assert_eq!(upstream_calls(&emu, "GetDataAccess"), 1);
}

#[test]
fn upstream_trouble_is_a_503_and_cached_scopes_keep_serving() {
    let emu = emulator(None);
    let d = daemon(&emu, PROFILES);
    let token = token(&d);
    let before = get(d.addr, "/v1/credentials/usera", Some(&token)).json();
    post_json(
        emu.addr,
        "/_emulator/faults",
        r#"{"operation":"*","status":503,"code":"SlowDown","message":"Please reduce your request rate"}"#,
    );
    let throttled = get(d.addr, &query("Product/new/*", "WRITE"), Some(&token));
    assert_eq!(throttled.status, 503, "{}", throttled.body);
    assert_eq!(throttled.json()["code"], "Throttled");
    assert_eq!(throttled.header("retry-after").as_deref(), Some("1"));
    let cached = get(d.addr, "/v1/credentials/usera", Some(&token));
    assert_eq!(cached.status, 200);
    assert_eq!(cached.json()["AccessKeyId"], before["AccessKeyId"]);

    raw(
        emu.addr,
        b"DELETE /_emulator/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    post_json(
        emu.addr,
        "/_emulator/faults",
        r#"{"operation":"GetDataAccess","status":500,"code":"InternalError"}"#,
    );
    let failing = get(d.addr, &query("Product/other/*", "WRITE"), Some(&token));
    assert_eq!(
        (failing.status, failing.json()["code"].clone()),
        (503, "UpstreamUnavailable".into())
    );
}

#[test]
fn malformed_upstream_answers_are_refused_cleanly() {
    let emu = emulator(None);
    let d = daemon(&emu, "");
    let token = token(&d);
    for (i, kind) in [
        "truncated",
        "not-xml",
        "missing-field",
        "bad-expiration",
        "expired",
    ]
    .iter()
    .enumerate()
    {
        post_json(
            emu.addr,
            "/_emulator/faults",
            &format!(r#"{{"operation":"GetDataAccess","malformed":"{kind}","times":5}}"#),
        );
        let reply = get(
            d.addr,
            &query(&format!("UserA/m{i}/*"), "READ"),
            Some(&token),
        );
        assert_eq!(reply.status, 503, "{kind}: {}", reply.body);
        assert_eq!(reply.json()["code"], "UpstreamUnavailable", "{kind}");
        raw(
            emu.addr,
            b"DELETE /_emulator/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
    }
    assert_eq!(
        get(d.addr, &query("UserA/ok/*", "READ"), Some(&token)).status,
        200
    );
}

#[test]
fn the_rust_sdk_default_chain_reads_the_container_endpoint() {
    let emu = emulator(None);
    let d = daemon(&emu, PROFILES);
    let expected = get(d.addr, "/v1/credentials/usera", Some(&token(&d))).json();
    let mut probe = Command::new(BIN);
    client_env(&mut probe);
    let out = probe
        .arg("sdk-probe")
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://{}/v1/credentials/usera", d.addr),
        )
        .env(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            d.dir.join("token"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["access_key_id"], expected["AccessKeyId"]);
    assert_eq!(got["expiration"], expected["Expiration"]);
}

#[test]
fn imds_v2_flow_serves_profiles_as_roles() {
    let emu = emulator(None);
    let dir = scratch("imds");
    let mut cmd = daemon_command(&emu, &dir, PROFILES);
    cmd.arg("--imds");
    let d = spawn_daemon(cmd, &dir);
    let put = request(
        d.addr,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "21600")],
    );
    assert_eq!(put.status, 200);
    assert_eq!(
        put.header("x-aws-ec2-metadata-token-ttl-seconds")
            .as_deref(),
        Some("21600")
    );
    let session = put.body.clone();
    let tok = [("X-aws-ec2-metadata-token", session.as_str())];
    let roles = request(
        d.addr,
        "GET",
        "/latest/meta-data/iam/security-credentials/",
        &tok,
    );
    // botocore, JS and Rust read the whole list as one role name: the default alone.
    assert_eq!((roles.status, roles.body.as_str()), (200, "usera"));
    let creds = request(
        d.addr,
        "GET",
        "//latest/meta-data/iam/security-credentials/usera",
        &tok,
    )
    .json();
    assert_eq!(creds["Code"], "Success");
    assert_eq!(creds["Type"], "AWS-HMAC");
    assert!(creds["Token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(
        request(
            d.addr,
            "GET",
            "/latest/meta-data/iam/security-credentials/",
            &[]
        )
        .status,
        401
    );
    assert_eq!(
        request(
            d.addr,
            "GET",
            "/latest/meta-data/iam/security-credentials/",
            &[("X-aws-ec2-metadata-token", "bogus")]
        )
        .status,
        401
    );
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
    for ttl in ["0", "21601", "soon"] {
        assert_eq!(
            request(
                d.addr,
                "PUT",
                "/latest/api/token",
                &[("X-aws-ec2-metadata-token-ttl-seconds", ttl)]
            )
            .status,
            400,
            "ttl {ttl}"
        );
    }
    assert_eq!(
        request(
            d.addr,
            "GET",
            "/latest/meta-data/iam/security-credentials/nobody",
            &tok
        )
        .status,
        404
    );
}

#[test]
fn imds_can_list_every_profile_when_asked() {
    let emu = emulator(None);
    let dir = scratch("imds-all");
    let mut cmd = daemon_command(
        &emu,
        &dir,
        &format!("imds_list_all_profiles = true\n{PROFILES}"),
    );
    cmd.arg("--imds");
    let d = spawn_daemon(cmd, &dir);
    let session = imds_session(d.addr);
    let roles = imds_get(
        d.addr,
        &session,
        "/latest/meta-data/iam/security-credentials/",
    );
    assert_eq!((roles.status, roles.body.as_str()), (200, "usera\nproduct"));
    let other = imds_get(
        d.addr,
        &session,
        "/latest/meta-data/iam/security-credentials/product",
    );
    assert_eq!(other.status, 200);
}

#[test]
fn imds_routes_are_off_without_the_flag() {
    let emu = emulator(None);
    let d = daemon(&emu, PROFILES);
    assert_eq!(
        request(
            d.addr,
            "PUT",
            "/latest/api/token",
            &[("X-aws-ec2-metadata-token-ttl-seconds", "60")]
        )
        .status,
        404
    );
}

#[test]
fn bad_configuration_exits_64_before_binding() {
    let emu = emulator(None);
    let dir = scratch("badconfig");
    let mut cmd = daemon_command(
        &emu,
        &dir,
        "colour = \"blue\"\n[profiles.x]\ntarget = \"nope\"\npermission = \"READ\"\n",
    );
    cmd.args(["--account-id", "12"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "unknown key \"colour\"",
        "profiles.x.target",
        "--account-id",
    ] {
        assert!(err.contains(needle), "{needle} missing from:\n{err}");
    }
    assert!(
        !dir.join("addr").exists(),
        "nothing may bind with a bad configuration"
    );
    let remote = Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(remote.status.code(), Some(64));
    let check = Command::new(BIN)
        .args(["check", "--config"])
        .arg(dir.join("grantd.toml"))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(64));
}

#[test]
fn check_prints_the_resolved_settings() {
    let dir = scratch("check");
    std::fs::write(dir.join("grantd.toml"), PROFILES).unwrap();
    let mut cmd = Command::new(BIN);
    client_env(&mut cmd);
    let out = cmd
        .args(["check", "--config"])
        .arg(dir.join("grantd.toml"))
        .arg("--token-file")
        .arg(dir.join("token"))
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
fn sigterm_drains_and_exits_zero() {
    let emu = emulator(None);
    let mut d = daemon(&emu, PROFILES);
    assert_eq!(d.terminate(), 0);
    assert!(!d.dir.join("addr").exists(), "address file removed on exit");
    assert!(d.logs().contains("grantd stopped"));
}

#[test]
fn env_and_creds_commands_use_the_running_daemon() {
    let emu = emulator(None);
    let d = daemon(&emu, PROFILES);
    let with_daemon_settings = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        client_env(&mut cmd);
        cmd.args(args)
            .arg("--config")
            .arg(d.dir.join("grantd.toml"))
            .env("GRANTD_ADDR_FILE", d.dir.join("addr"))
            .env("GRANTD_TOKEN_FILE", d.dir.join("token"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let env = with_daemon_settings(&["env", "--profile", "product"]);
    assert!(
        env.status.success(),
        "{}",
        String::from_utf8_lossy(&env.stderr)
    );
    let text = String::from_utf8_lossy(&env.stdout);
    assert!(
        text.contains(&format!(
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI='http://{}/v1/credentials/product'",
            d.addr
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
    assert!(
        !text.contains(&token(&d)),
        "env must not print the token itself"
    );

    let process = with_daemon_settings(&["creds", "--format", "process"]);
    assert!(
        process.status.success(),
        "{}",
        String::from_utf8_lossy(&process.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&process.stdout).unwrap();
    assert_eq!(v["Version"], 1);
    assert!(v["SessionToken"].as_str().is_some_and(|t| !t.is_empty()));

    let scoped = with_daemon_settings(&[
        "creds",
        "--target",
        &format!("s3://{BUCKET}/UserA/x/*"),
        "--permission",
        "READ",
        "--format",
        "env",
    ]);
    assert!(String::from_utf8_lossy(&scoped.stdout).contains("export AWS_SESSION_TOKEN="));
    let mut bare = Command::new(BIN);
    client_env(&mut bare);
    let without_config = bare
        .args(["creds", "--profile", "product", "--addr-file"])
        .arg(d.dir.join("addr"))
        .arg("--token-file")
        .arg(d.dir.join("token"))
        .output()
        .unwrap();
    assert!(
        without_config.status.success(),
        "the daemon resolves profile names: {}",
        String::from_utf8_lossy(&without_config.stderr)
    );
    let unknown = with_daemon_settings(&["creds", "--profile", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("UnknownProfile (HTTP 404)"));

    let denied = with_daemon_settings(&[
        "creds",
        "--target",
        &format!("s3://{BUCKET}/UserB/*"),
        "--permission",
        "READ",
    ]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("AccessDenied (HTTP 403)"));
}

#[test]
fn logs_never_contain_a_secret_or_the_token() {
    let emu = emulator(None);
    let dir = scratch("secrets");
    let mut cmd = daemon_command(&emu, &dir, PROFILES);
    cmd.args(["--imds", "--log-level", "trace"]);
    let d = spawn_daemon(cmd, &dir);
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

#[test]
fn metrics_report_requests_cache_and_upstream() {
    let emu = emulator(None);
    let d = daemon(&emu, PROFILES);
    let token = token(&d);
    get(d.addr, "/v1/credentials", Some(&token));
    get(d.addr, "/v1/credentials", None);
    let text = get(d.addr, "/metrics", None).body;
    for needle in [
        "grantd_http_requests_total{route=\"credentials\",status=\"200\"} 1",
        "grantd_http_requests_total{route=\"credentials\",status=\"401\"} 1",
        "grantd_cache_hits_total 1",
        "grantd_upstream_request_duration_seconds_count{operation=\"GetDataAccess\",outcome=\"ok\"} 2",
        "grantd_upstream_request_duration_seconds_count{operation=\"GetCallerIdentity\",outcome=\"ok\"} 1",
        "grantd_credentials_seconds_to_expiry{scope=\"s3://blog-access-grants-111122223333-us-east-1/UserA/*\"",
        "grantd_ready 1",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(!text.contains(&token));
}
