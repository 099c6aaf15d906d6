//! Vending: the real `grantd serve` against the real `grantd emulate`, over
//! loopback — the container format, the cache seen from outside, upstream
//! trouble, an AWS SDK as the client, and the metrics of it all.

mod common;

use std::process::Command;

use common::*;

#[test]
fn serves_the_default_profile_in_the_container_format() {
    let s = stack(PROFILES);
    let v = assert_credentials(&get(s.daemon.addr, "/v1/credentials", Some(&s.token)));
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(v["AccountId"], "111122223333");
    assert_eq!(v["MatchedGrantTarget"], format!("s3://{BUCKET}/UserA/*"));
    let exp = v["Expiration"].as_str().unwrap();
    assert_eq!(exp.len(), 20, "{exp}");
    assert!(exp.ends_with('Z') && exp.as_bytes()[10] == b'T', "{exp}");
}

#[test]
fn a_profile_by_name_is_the_same_entry_as_the_default() {
    let s = stack(PROFILES);
    let by_default = get(s.daemon.addr, "/v1/credentials", Some(&s.token)).json();
    let by_name = get(s.daemon.addr, "/v1/credentials/usera", Some(&s.token)).json();
    assert_eq!(by_name["AccessKeyId"], by_default["AccessKeyId"]);
}

#[test]
fn a_scope_inside_a_grant_reuses_its_entry() {
    let s = stack(PROFILES);
    let grant = get(s.daemon.addr, "/v1/credentials/usera", Some(&s.token)).json();
    let inside = get(
        s.daemon.addr,
        &query("UserA/output/*", "READWRITE"),
        Some(&s.token),
    )
    .json();
    assert_eq!(
        inside["AccessKeyId"], grant["AccessKeyId"],
        "a scope inside the grant reuses its entry"
    );
}

#[test]
fn each_profile_has_its_own_credentials() {
    let s = stack(PROFILES);
    let usera = get(s.daemon.addr, "/v1/credentials/usera", Some(&s.token)).json();
    let product = get(s.daemon.addr, "/v1/credentials/product", Some(&s.token)).json();
    assert_ne!(product["AccessKeyId"], usera["AccessKeyId"]);
}

#[test]
fn warmed_profiles_and_scopes_inside_their_grants_need_no_upstream_call() {
    let s = stack(PROFILES);
    let d = s.daemon.addr;
    for path in [
        "/v1/credentials",
        "/v1/credentials/usera",
        &query("UserA/output/*", "READWRITE"),
        "/v1/credentials/product",
    ] {
        assert_eq!(get(d, path, Some(&s.token)).status, 200, "{path}");
    }
    // Two profiles warmed at start, at once; nothing since. The owner is
    // found per prefix asked for, as the service answers per prefix.
    assert_eq!(upstream_calls(&s.emu, "GetDataAccess"), 2);
    assert_eq!(
        upstream_calls(&s.emu, "GetAccessGrantsInstanceForPrefix"),
        2,
        "one owner lookup per prefix"
    );
}

#[test]
fn scopes_on_one_prefix_share_one_owner_lookup() {
    let s = stack(&format!(
        r#"
[profiles.read]
target = "s3://{BUCKET}/UserA/*"
permission = "READ"

[profiles.write]
target = "s3://{BUCKET}/UserA/*"
permission = "READWRITE"
"#
    ));
    for path in ["/v1/credentials/read", "/v1/credentials/write"] {
        assert_eq!(
            get(s.daemon.addr, path, Some(&s.token)).status,
            200,
            "{path}"
        );
    }
    assert_eq!(upstream_calls(&s.emu, "GetDataAccess"), 2);
    assert_eq!(
        upstream_calls(&s.emu, "GetAccessGrantsInstanceForPrefix"),
        1,
        "one owner lookup for the two profiles on one prefix"
    );
}

/// One bucket whose two prefixes are locations of different accounts' instances.
const SPLIT_BUCKET: &str = r#"
[[identities]]
arn = "arn:aws:iam::111122223333:role/RoleA"
access_key_id = "AKIAGRANTDDEMOROLEA"

[[grants]]
grantee = "arn:aws:iam::111122223333:role/RoleA"
target = "s3://shared-bucket/home/*"
permission = "READ"

[[grants]]
grantee = "arn:aws:iam::111122223333:role/RoleA"
target = "s3://shared-bucket/team/*"
permission = "READ"
account_id = "444455556666"
"#;

#[test]
fn prefixes_of_one_bucket_in_different_accounts_instances_both_vend() {
    let emu = emulator(Some(SPLIT_BUCKET));
    let daemon = daemon(&emu, "");
    let token = token(&daemon);
    for (prefix, account) in [("home", "111122223333"), ("team", "444455556666")] {
        let path =
            format!("/v1/credentials?target=s3://shared-bucket/{prefix}/x/*&permission=READ");
        let reply = get(daemon.addr, &path, Some(&token));
        assert_eq!(reply.status, 200, "{prefix}: {}", reply.body);
        assert_eq!(reply.json()["AccountId"], account, "{prefix}");
    }
}

#[test]
fn concurrent_clients_cause_one_upstream_call() {
    let s = stack("");
    add_fault(&s.emu, r#"{"operation":"GetDataAccess","latency_ms":300}"#);
    let path = query("Product/data/*", "READ");
    let threads: Vec<_> = (0..24)
        .map(|_| {
            let (addr, token, path) = (s.daemon.addr, s.token.clone(), path.clone());
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
    assert_eq!(upstream_calls(&s.emu, "GetDataAccess"), 1);
}

#[test]
fn throttling_upstream_is_a_503_throttled_with_retry_after() {
    let s = stack(PROFILES);
    add_fault(
        &s.emu,
        r#"{"operation":"*","status":503,"code":"SlowDown","message":"Please reduce your request rate"}"#,
    );
    let throttled = get(
        s.daemon.addr,
        &query("Product/new/*", "WRITE"),
        Some(&s.token),
    );
    assert_eq!(throttled.status, 503, "{}", throttled.body);
    assert_eq!(throttled.json()["code"], "Throttled");
    assert_eq!(throttled.header("retry-after").as_deref(), Some("1"));
}

#[test]
fn cached_scopes_keep_serving_while_upstream_throttles() {
    let s = stack(PROFILES);
    let before = get(s.daemon.addr, "/v1/credentials/usera", Some(&s.token)).json();
    add_fault(
        &s.emu,
        r#"{"operation":"*","status":503,"code":"SlowDown","message":"Please reduce your request rate"}"#,
    );
    let cached = get(s.daemon.addr, "/v1/credentials/usera", Some(&s.token));
    assert_eq!(cached.status, 200);
    assert_eq!(cached.json()["AccessKeyId"], before["AccessKeyId"]);
}

#[test]
fn failing_upstream_is_a_503_upstream_unavailable() {
    let s = stack(PROFILES);
    add_fault(
        &s.emu,
        r#"{"operation":"GetDataAccess","status":500,"code":"InternalError"}"#,
    );
    let failing = get(
        s.daemon.addr,
        &query("Product/other/*", "WRITE"),
        Some(&s.token),
    );
    assert_eq!(
        (failing.status, failing.json()["code"].clone()),
        (503, "UpstreamUnavailable".into())
    );
}

/// One behaviour over every kind of broken answer: each is a clean 503,
/// and none of them stops the next good answer from being served.
#[test]
fn malformed_upstream_answers_are_refused_cleanly() {
    let s = stack("");
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
        add_fault(
            &s.emu,
            &format!(r#"{{"operation":"GetDataAccess","malformed":"{kind}","times":5}}"#),
        );
        let reply = get(
            s.daemon.addr,
            &query(&format!("UserA/m{i}/*"), "READ"),
            Some(&s.token),
        );
        assert_eq!(reply.status, 503, "{kind}: {}", reply.body);
        assert_eq!(reply.json()["code"], "UpstreamUnavailable", "{kind}");
        clear_faults(&s.emu);
    }
    assert_eq!(
        get(s.daemon.addr, &query("UserA/ok/*", "READ"), Some(&s.token)).status,
        200
    );
}

#[test]
fn the_rust_sdk_default_chain_reads_the_container_endpoint() {
    let s = stack(PROFILES);
    let expected = get(s.daemon.addr, "/v1/credentials/usera", Some(&s.token)).json();
    let mut probe = Command::new(BIN);
    client_env(&mut probe);
    let out = probe
        .arg("sdk-probe")
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://{}/v1/credentials/usera", s.daemon.addr),
        )
        .env(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            s.daemon.dir().join("token"),
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
fn metrics_report_requests_cache_and_upstream() {
    let s = stack(PROFILES);
    get(s.daemon.addr, "/v1/credentials", Some(&s.token));
    get(s.daemon.addr, "/v1/credentials", None);
    let text = get(s.daemon.addr, "/metrics", None).body;
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
    assert!(!text.contains(&s.token));
}
