//! Over-the-wire tests: `run()` on `127.0.0.1:0`, driven with raw HTTP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;
use grantd_common::clock::Clock;
use grantd_common::credentials::parse_timestamp;

/// 2026-11-23T12:00:00Z.
const T0_SECS: u64 = 1_795_435_200;
const ROLE_A: &str = "arn:aws:iam::111122223333:role/access-grants-blog-RoleA";
const ROLE_B_KEY: &str = DEMO_ROLE_B_KEY_ID;

#[derive(Debug)]
struct FixedClock(SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0_SECS)
}

/// A running emulator and the means to stop it.
struct Harness {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Harness {
    async fn start(scenario: Scenario) -> Harness {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let emulator = Emulator::new(scenario, Arc::new(FixedClock(t0())));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, emulator, async {
            let _ = stopped.await;
        }));
        Harness {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn demo() -> Harness {
        Harness::start(Scenario::demo()).await
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        send_raw(self.addr, method, path, headers, body).await
    }

    /// `GetDataAccess` signed with `key`, owner account = the demo account.
    async fn data_access(&self, key: &str, query: &str) -> Reply {
        let auth = sigv4(key);
        self.data_access_with(
            query,
            &[("authorization", &auth), ("x-amz-account-id", DEMO_ACCOUNT)],
        )
        .await
    }

    /// `GetDataAccess` with exactly these headers.
    async fn data_access_with(&self, query: &str, headers: &[(&str, &str)]) -> Reply {
        let path = format!("/v20180820/accessgrantsinstance/dataaccess?{query}");
        self.send("GET", &path, headers, "").await
    }

    async fn control(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let reply = self
            .send(method, &format!("/_emulator{path}"), &[], body)
            .await;
        let json =
            serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.body));
        (reply.status, json)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("run() returns after shutdown")
            .unwrap();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Text of the first `<name>` element.
    fn xml(&self, name: &str) -> Option<&str> {
        let open = format!("<{name}>");
        let start = self.body.find(&open)? + open.len();
        let end = start + self.body[start..].find(&format!("</{name}>"))?;
        Some(&self.body[start..end])
    }

    fn code(&self) -> Option<&str> {
        self.xml("Code")
    }
}

/// One request on a fresh connection, `Connection: close`, read to the end.
async fn send_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn sigv4(key: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261123/us-east-1/s3/aws4_request, \
         SignedHeaders=host;x-amz-account-id;x-amz-date, Signature=0123456789abcdef"
    )
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn demo_target(key: &str) -> String {
    enc(&format!("s3://{DEMO_BUCKET}/{key}"))
}

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text).unwrap_or_else(|p| panic!("{p:#?}"))
}

// ---- GetDataAccess ----

#[tokio::test]
async fn get_data_access_vends_keys_for_the_matched_grant() {
    let h = Harness::demo().await;
    let reply = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={}&permission=READ", demo_target("UserA/data/x.csv")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/xml"));
    assert!(reply.header("x-amz-request-id").is_some());
    assert!(reply.body.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><GetDataAccessResult xmlns="http://awss3control.amazonaws.com/doc/2018-08-20/">"#));
    let key = reply.xml("AccessKeyId").unwrap();
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert_eq!(reply.xml("SecretAccessKey").unwrap().len(), 40);
    assert_eq!(reply.xml("SessionToken").unwrap().len(), 300);
    assert_eq!(reply.xml("Expiration"), Some("2026-11-23T13:00:00Z"));
    assert_eq!(
        reply.xml("MatchedGrantTarget").map(str::to_string),
        Some(format!("s3://{DEMO_BUCKET}/UserA/*"))
    );
    assert_eq!(reply.xml("GranteeType"), Some("IAM"));
    assert_eq!(reply.xml("GranteeIdentifier"), Some(ROLE_A));
    h.stop().await;
}

#[tokio::test]
async fn every_vend_gets_fresh_keys() {
    let h = Harness::demo().await;
    let query = format!("target={}&permission=READ", demo_target("Product/*"));
    let first = h.data_access(DEMO_ROLE_A_KEY_ID, &query).await;
    let second = h.data_access(DEMO_ROLE_A_KEY_ID, &query).await;
    assert_ne!(first.xml("AccessKeyId"), second.xml("AccessKeyId"));
    assert_ne!(first.xml("SecretAccessKey"), second.xml("SecretAccessKey"));
    assert_ne!(first.xml("SessionToken"), second.xml("SessionToken"));
    h.stop().await;
}

#[tokio::test]
async fn duration_seconds_sets_the_lifetime() {
    let h = Harness::demo().await;
    let reply = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!(
                "target={}&permission=WRITE&durationSeconds=900",
                demo_target("UserA/*")
            ),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.xml("Expiration"), Some("2026-11-23T12:15:00Z"));
    h.stop().await;
}

#[tokio::test]
async fn lifetime_override_beats_duration_seconds_until_cleared() {
    let h = Harness::demo().await;
    let query = format!(
        "target={}&permission=READ&durationSeconds=7200",
        demo_target("UserA/x")
    );
    let (status, body) = h
        .control(
            "POST",
            "/settings",
            r#"{"credential_lifetime_seconds": 120}"#,
        )
        .await;
    assert_eq!(
        (status, &body["credential_lifetime_seconds"]),
        (200, &serde_json::json!(120))
    );
    assert_eq!(
        h.data_access(DEMO_ROLE_A_KEY_ID, &query)
            .await
            .xml("Expiration"),
        Some("2026-11-23T12:02:00Z")
    );
    h.control(
        "POST",
        "/settings",
        r#"{"credential_lifetime_seconds": null}"#,
    )
    .await;
    assert_eq!(
        h.data_access(DEMO_ROLE_A_KEY_ID, &query)
            .await
            .xml("Expiration"),
        Some("2026-11-23T14:00:00Z")
    );
    h.stop().await;
}

#[tokio::test]
async fn scenario_lifetime_override_applies_from_the_start() {
    let mut s = Scenario::demo();
    s.credential_lifetime_seconds = Some(5);
    let h = Harness::start(s).await;
    let reply = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={}&permission=READ", demo_target("UserA/x")),
        )
        .await;
    assert_eq!(reply.xml("Expiration"), Some("2026-11-23T12:00:05Z"));
    h.stop().await;
}

#[tokio::test]
async fn access_denied_names_the_permission_and_target() {
    let h = Harness::demo().await;
    let reply = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={}&permission=READ", demo_target("UserB/x")),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.code(), Some("AccessDenied"));
    assert_eq!(
        reply.xml("Message").map(str::to_string),
        Some(format!(
            "You do not have READ permissions to the requested S3 Prefix: s3://{DEMO_BUCKET}/UserB/x"
        ))
    );
    assert!(
        reply
            .body
            .contains("<ErrorResponse><Error><Type>Sender</Type>")
    );
    assert!(reply.xml("RequestId").is_some());
    h.stop().await;
}

#[tokio::test]
async fn role_b_is_refused_user_a_prefix() {
    let h = Harness::demo().await;
    let reply = h
        .data_access(
            ROLE_B_KEY,
            &format!("target={}&permission=READ", demo_target("UserA/*")),
        )
        .await;
    assert_eq!(reply.status, 403);
    h.stop().await;
}

#[tokio::test]
async fn unknown_instance_account_is_instance_not_exists() {
    let h = Harness::demo().await;
    let auth = sigv4(DEMO_ROLE_A_KEY_ID);
    let reply = h
        .data_access_with(
            &format!("target={}&permission=READ", demo_target("UserA/x")),
            &[
                ("authorization", &auth),
                ("x-amz-account-id", "999999999999"),
            ],
        )
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), Some("AccessGrantsInstanceNotExistsError"));
    h.stop().await;
}

#[tokio::test]
async fn missing_authorization_is_access_denied() {
    let h = Harness::demo().await;
    let reply = h
        .data_access_with(
            &format!("target={}&permission=READ", demo_target("UserA/x")),
            &[("x-amz-account-id", DEMO_ACCOUNT)],
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.code(), Some("AccessDenied"));
    assert!(
        reply
            .xml("Message")
            .unwrap()
            .contains("missing authentication")
    );
    h.stop().await;
}

#[tokio::test]
async fn malformed_authorization_is_invalid_request() {
    let h = Harness::demo().await;
    let reply = h
        .data_access_with(
            &format!("target={}&permission=READ", demo_target("UserA/x")),
            &[
                ("authorization", "AWS4-HMAC-SHA256 Credential=garbage"),
                ("x-amz-account-id", DEMO_ACCOUNT),
            ],
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), Some("InvalidRequest"));
    h.stop().await;
}

#[tokio::test]
async fn unknown_access_key_is_invalid_access_key_id() {
    let h = Harness::demo().await;
    let reply = h
        .data_access(
            "AKIAUNKNOWNUNKNOWN",
            &format!("target={}&permission=READ", demo_target("UserA/x")),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.code(), Some("InvalidAccessKeyId"));
    h.stop().await;
}

#[tokio::test]
async fn default_identity_stands_in_for_unknown_keys() {
    let h = Harness::start(scenario(
        r#"
        default_identity = "arn:aws:iam::111122223333:role/Dev"
        [[grants]]
        grantee = "arn:aws:iam::111122223333:role/Dev"
        target = "s3://dev-bucket/*"
        permission = "READ"
        "#,
    ))
    .await;
    let auth = sigv4("AKIAANYTHINGATALL");
    let reply = h
        .data_access_with(
            &format!("target={}&permission=READ", enc("s3://dev-bucket/k")),
            &[("authorization", &auth), ("x-amz-account-id", DEMO_ACCOUNT)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.xml("GranteeIdentifier"),
        Some("arn:aws:iam::111122223333:role/Dev")
    );
    h.stop().await;
}

#[tokio::test]
async fn missing_or_bad_account_header_is_invalid_request() {
    let h = Harness::demo().await;
    let auth = sigv4(DEMO_ROLE_A_KEY_ID);
    let path = format!(
        "/v20180820/accessgrantsinstance/dataaccess?target={}&permission=READ",
        demo_target("UserA/x")
    );
    let missing = h.send("GET", &path, &[("authorization", &auth)], "").await;
    assert_eq!(
        (missing.status, missing.code()),
        (400, Some("InvalidRequest"))
    );
    let bad = h
        .send(
            "GET",
            &path,
            &[("authorization", &auth), ("x-amz-account-id", "1234")],
            "",
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, Some("InvalidRequest")));
    h.stop().await;
}

#[tokio::test]
async fn malformed_queries_are_invalid_requests() {
    let h = Harness::demo().await;
    let target = demo_target("UserA/x");
    let prefix = demo_target("UserA/*");
    for (query, needle) in [
        ("permission=READ".to_string(), "'target'"),
        (
            format!("target={}&permission=READ", enc("https://x/y")),
            "must start with s3://",
        ),
        (
            format!("target={}&permission=READ", enc("s3://b")),
            "bucket name",
        ),
        (format!("target={target}"), "'permission'"),
        (
            format!("target={target}&permission=ALL"),
            "invalid permission",
        ),
        (
            format!("target={target}&permission=READ&durationSeconds=abc"),
            "must be an integer",
        ),
        (
            format!("target={target}&permission=READ&durationSeconds=100"),
            "greater than or equal to 900",
        ),
        (
            format!("target={target}&permission=READ&durationSeconds=50000"),
            "less than or equal to 43200",
        ),
        (
            format!("target={target}&permission=READ&privilege=Max"),
            "invalid privilege",
        ),
        (
            format!("target={target}&permission=READ&targetType=Prefix"),
            "targetType",
        ),
        (
            format!("target={prefix}&permission=READ&targetType=Object"),
            "targetType Object",
        ),
    ] {
        let reply = h.data_access(DEMO_ROLE_A_KEY_ID, &query).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert_eq!(reply.code(), Some("InvalidRequest"), "{query}");
        assert!(
            reply.xml("Message").unwrap().contains(needle),
            "{query}: {}",
            reply.body
        );
    }
    let object = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={target}&permission=READ&targetType=Object"),
        )
        .await;
    assert_eq!(object.status, 200, "{}", object.body);
    h.stop().await;
}

#[tokio::test]
async fn duration_above_the_role_maximum_is_refused() {
    let mut s = Scenario::demo();
    s.max_duration_seconds = 3600;
    let h = Harness::start(s).await;
    let reply = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!(
                "target={}&permission=READ&durationSeconds=7200",
                demo_target("UserA/x")
            ),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (400, Some("InvalidRequest")));
    assert!(
        reply
            .xml("Message")
            .unwrap()
            .contains("maximum session duration"),
        "{}",
        reply.body
    );
    h.stop().await;
}

#[tokio::test]
async fn minimal_privilege_scopes_issued_keys_to_the_target() {
    let h = Harness::demo().await;
    let target = format!("s3://{DEMO_BUCKET}/UserA/data/*");
    let minimal = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={}&permission=READ&privilege=Minimal", enc(&target)),
        )
        .await;
    let default = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={}&permission=READ", enc(&target)),
        )
        .await;
    let (status, issued) = h
        .control(
            "GET",
            &format!("/issued/{}", minimal.xml("AccessKeyId").unwrap()),
            "",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(issued["scope"], target.as_str());
    assert_eq!(issued["privilege"], "Minimal");
    assert_eq!(
        issued["matched_grant_target"],
        format!("s3://{DEMO_BUCKET}/UserA/*")
    );
    assert_eq!(issued["grantee"], ROLE_A);
    assert_eq!(issued["permission"], "READ");
    assert_eq!(issued["expiration"], "2026-11-23T13:00:00Z");
    let (_, issued) = h
        .control(
            "GET",
            &format!("/issued/{}", default.xml("AccessKeyId").unwrap()),
            "",
        )
        .await;
    assert_eq!(issued["scope"], format!("s3://{DEMO_BUCKET}/UserA/*"));
    assert_eq!(issued["privilege"], "Default");
    h.stop().await;
}

// ---- GetAccessGrantsInstanceForPrefix ----

const CROSS_ACCOUNT: &str = r#"
    [[identities]]
    arn = "arn:aws:iam::111122223333:role/A"
    access_key_id = "AKIACROSSACCOUNTAA"
    [[grants]]
    grantee = "arn:aws:iam::111122223333:role/A"
    target = "s3://home-bucket/*"
    permission = "READ"
    [[grants]]
    grantee = "arn:aws:iam::111122223333:role/A"
    target = "s3://shared-bucket/team/*"
    permission = "READWRITE"
    account_id = "444455556666"
"#;

async fn instance_for(h: &Harness, prefix: &str) -> Reply {
    let auth = sigv4("AKIACROSSACCOUNTAA");
    h.send(
        "GET",
        &format!(
            "/v20180820/accessgrantsinstance/prefix?s3prefix={}",
            enc(prefix)
        ),
        &[
            ("authorization", &auth),
            ("x-amz-account-id", "111122223333"),
        ],
        "",
    )
    .await
}

#[tokio::test]
async fn instance_for_prefix_names_the_owning_account() {
    let h = Harness::start(scenario(CROSS_ACCOUNT)).await;
    let reply = instance_for(&h, "s3://shared-bucket/team/x/").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains(r#"<GetAccessGrantsInstanceForPrefixResult xmlns="http://awss3control.amazonaws.com/doc/2018-08-20/">"#));
    assert_eq!(
        reply.xml("AccessGrantsInstanceArn"),
        Some("arn:aws:s3:us-east-1:444455556666:access-grants/default")
    );
    assert_eq!(reply.xml("AccessGrantsInstanceId"), Some("default"));
    let home = instance_for(&h, "s3://home-bucket/any/").await;
    assert_eq!(
        home.xml("AccessGrantsInstanceArn"),
        Some("arn:aws:s3:us-east-1:111122223333:access-grants/default")
    );
    h.stop().await;
}

#[tokio::test]
async fn instance_for_prefix_in_an_unknown_bucket_is_not_found() {
    let h = Harness::start(scenario(CROSS_ACCOUNT)).await;
    let reply = instance_for(&h, "s3://nobody-bucket/x").await;
    assert_eq!(
        (reply.status, reply.code()),
        (404, Some("AccessGrantsInstanceNotExistsError"))
    );
    let bad = instance_for(&h, "bucket/x").await;
    assert_eq!((bad.status, bad.code()), (400, Some("InvalidRequest")));
    h.stop().await;
}

#[tokio::test]
async fn cross_account_grant_needs_its_owner_account_header() {
    let h = Harness::start(scenario(CROSS_ACCOUNT)).await;
    let auth = sigv4("AKIACROSSACCOUNTAA");
    let path = format!(
        "/v20180820/accessgrantsinstance/dataaccess?target={}&permission=WRITE",
        enc("s3://shared-bucket/team/f")
    );
    let right = h
        .send(
            "GET",
            &path,
            &[
                ("authorization", &auth),
                ("x-amz-account-id", "444455556666"),
            ],
            "",
        )
        .await;
    assert_eq!(right.status, 200, "{}", right.body);
    let wrong = h
        .send(
            "GET",
            &path,
            &[
                ("authorization", &auth),
                ("x-amz-account-id", "111122223333"),
            ],
            "",
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (403, Some("AccessDenied")));
    h.stop().await;
}

// ---- STS ----

async fn sts(h: &Harness, key: &str, body: &str) -> Reply {
    let auth = sigv4(key).replace("/s3/", "/sts/");
    h.send(
        "POST",
        "/",
        &[
            ("authorization", &auth),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        body,
    )
    .await
}

#[tokio::test]
async fn get_caller_identity_returns_the_principal() {
    let h = Harness::demo().await;
    let reply = sts(
        &h,
        DEMO_ROLE_A_KEY_ID,
        "Action=GetCallerIdentity&Version=2011-06-15",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains(
        r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#
    ));
    assert_eq!(reply.xml("Arn"), Some(ROLE_A));
    assert_eq!(reply.xml("Account"), Some(DEMO_ACCOUNT));
    assert!(reply.xml("UserId").unwrap().starts_with("AROA"));
    assert!(reply.xml("RequestId").is_some());
    h.stop().await;
}

#[tokio::test]
async fn get_caller_identity_with_an_unknown_key_is_invalid_client_token() {
    let h = Harness::demo().await;
    let reply = sts(
        &h,
        "AKIAUNKNOWNUNKNOWN",
        "Action=GetCallerIdentity&Version=2011-06-15",
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (403, Some("InvalidClientTokenId"))
    );
    h.stop().await;
}

#[tokio::test]
async fn other_sts_actions_are_invalid_action() {
    let h = Harness::demo().await;
    let reply = sts(
        &h,
        DEMO_ROLE_A_KEY_ID,
        "Action=AssumeRole&Version=2011-06-15",
    )
    .await;
    assert_eq!((reply.status, reply.code()), (400, Some("InvalidAction")));
    h.stop().await;
}

// ---- Routing and limits ----

#[tokio::test]
async fn unknown_route_is_not_found_in_aws_error_form() {
    let h = Harness::demo().await;
    let reply = h.send("GET", "/nothing/here", &[], "").await;
    assert_eq!((reply.status, reply.code()), (404, Some("NotFound")));
    assert!(reply.body.contains("<ErrorResponse>"));
    assert!(reply.header("x-amz-request-id").is_some());
    h.stop().await;
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let h = Harness::demo().await;
    let big = "A".repeat(server::MAX_BODY_BYTES + 1);
    let reply = h
        .send(
            "POST",
            "/",
            &[("authorization", &sigv4(DEMO_ROLE_A_KEY_ID))],
            &big,
        )
        .await;
    assert_eq!(reply.status, 413);
    h.stop().await;
}

// ---- Faults ----

#[tokio::test]
async fn error_fault_answers_its_status_until_its_times_run_out() {
    let h = Harness::demo().await;
    let (status, added) = h
        .control(
            "POST",
            "/faults",
            r#"{"operation": "GetDataAccess", "status": 503, "code": "SlowDown", "message": "slow", "times": 2}"#,
        )
        .await;
    assert_eq!((status, &added["added"]), (200, &serde_json::json!(1)));
    let query = format!("target={}&permission=READ", demo_target("UserA/x"));
    for _ in 0..2 {
        let reply = h.data_access(DEMO_ROLE_A_KEY_ID, &query).await;
        assert_eq!(
            (reply.status, reply.code(), reply.xml("Message")),
            (503, Some("SlowDown"), Some("slow"))
        );
        assert!(reply.body.contains("<Type>Receiver</Type>"));
    }
    assert_eq!(h.data_access(DEMO_ROLE_A_KEY_ID, &query).await.status, 200);
    let (_, faults) = h.control("GET", "/faults", "").await;
    assert_eq!(faults["faults"], serde_json::json!([]));
    h.stop().await;
}

#[tokio::test]
async fn fault_target_prefix_only_hits_matching_targets() {
    let h = Harness::demo().await;
    let prefix = format!("s3://{DEMO_BUCKET}/Product/");
    h.control(
        "POST",
        "/faults",
        &serde_json::json!([{"operation": "GetDataAccess", "target_prefix": prefix, "status": 500, "code": "InternalError"}]).to_string(),
    )
    .await;
    let product = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={}&permission=READ", demo_target("Product/x")),
        )
        .await;
    assert_eq!(product.status, 500);
    let user = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={}&permission=READ", demo_target("UserA/x")),
        )
        .await;
    assert_eq!(user.status, 200);
    h.stop().await;
}

#[tokio::test]
async fn latency_fault_delays_then_answers_normally() {
    let h = Harness::demo().await;
    h.control(
        "POST",
        "/faults",
        r#"{"operation": "*", "latency_ms": 300, "times": 1}"#,
    )
    .await;
    let started = std::time::Instant::now();
    let reply = sts(&h, DEMO_ROLE_A_KEY_ID, "Action=GetCallerIdentity").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    let started = std::time::Instant::now();
    sts(&h, DEMO_ROLE_A_KEY_ID, "Action=GetCallerIdentity").await;
    assert!(started.elapsed() < Duration::from_millis(300));
    h.stop().await;
}

/// A `GetDataAccess` answer broken by a `malformed` fault of `kind`.
async fn malformed_answer(kind: &str) -> Reply {
    let h = Harness::demo().await;
    let fault = format!(r#"{{"operation": "GetDataAccess", "malformed": "{kind}", "times": 1}}"#);
    let (status, _) = h.control("POST", "/faults", &fault).await;
    assert_eq!(status, 200);
    let reply = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={}&permission=READ", demo_target("UserA/x")),
        )
        .await;
    h.stop().await;
    reply
}

#[tokio::test]
async fn malformed_truncated_cuts_the_xml_in_half() {
    let reply = malformed_answer("truncated").await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.starts_with("<?xml"));
    assert!(!reply.body.contains("</GetDataAccessResult>"));
}

#[tokio::test]
async fn malformed_not_xml_sends_plain_text() {
    let reply = malformed_answer("not-xml").await;
    assert_eq!(reply.status, 200);
    assert!(!reply.body.contains('<'));
    assert_eq!(reply.header("content-type"), Some("text/plain"));
}

#[tokio::test]
async fn malformed_missing_field_drops_the_session_token() {
    let reply = malformed_answer("missing-field").await;
    assert!(reply.xml("AccessKeyId").is_some());
    assert!(reply.xml("SessionToken").is_none());
    assert!(!reply.body.contains("SessionToken"));
}

#[tokio::test]
async fn malformed_bad_expiration_says_soon() {
    let reply = malformed_answer("bad-expiration").await;
    assert_eq!(reply.xml("Expiration"), Some("soon"));
}

#[tokio::test]
async fn malformed_expired_sends_an_expiration_ten_minutes_past() {
    let reply = malformed_answer("expired").await;
    let expiration = parse_timestamp(reply.xml("Expiration").unwrap()).unwrap();
    assert_eq!(expiration, t0() - Duration::from_secs(600));
}

#[tokio::test]
async fn scenario_faults_are_active_from_the_start() {
    let mut text = DEMO_SCENARIO_TOML.to_string();
    text.push_str(
        "[[faults]]\noperation = \"GetCallerIdentity\"\nstatus = 500\ncode = \"InternalFailure\"\n",
    );
    let h = Harness::start(scenario(&text)).await;
    let reply = sts(&h, DEMO_ROLE_A_KEY_ID, "Action=GetCallerIdentity").await;
    assert_eq!((reply.status, reply.code()), (500, Some("InternalFailure")));
    h.stop().await;
}

#[tokio::test]
async fn bad_fault_json_is_refused_with_a_json_error() {
    let h = Harness::demo().await;
    for body in [
        "not json",
        r#"{"operation": "GetDataAccess", "status": 503}"#,
        r#"[{"operation": "X", "latency_ms": 1}]"#,
    ] {
        let (status, error) = h.control("POST", "/faults", body).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{error}"
        );
    }
    let (_, faults) = h.control("GET", "/faults", "").await;
    assert_eq!(faults["faults"], serde_json::json!([]));
    h.stop().await;
}

#[tokio::test]
async fn deleting_faults_clears_them() {
    let h = Harness::demo().await;
    h.control(
        "POST",
        "/faults",
        r#"{"operation": "*", "status": 503, "code": "SlowDown"}"#,
    )
    .await;
    let (status, cleared) = h.control("DELETE", "/faults", "").await;
    assert_eq!((status, &cleared["cleared"]), (200, &serde_json::json!(1)));
    assert_eq!(
        sts(&h, DEMO_ROLE_A_KEY_ID, "Action=GetCallerIdentity")
            .await
            .status,
        200
    );
    h.stop().await;
}

// ---- Control API ----

#[tokio::test]
async fn calls_are_counted_and_recorded_as_sent() {
    let h = Harness::demo().await;
    let target = format!("s3://{DEMO_BUCKET}/UserA/x");
    h.data_access(
        DEMO_ROLE_A_KEY_ID,
        &format!(
            "target={}&permission=READ&durationSeconds=900&privilege=Minimal",
            enc(&target)
        ),
    )
    .await;
    h.data_access(
        ROLE_B_KEY,
        &format!("target={}&permission=WRITE", enc(&target)),
    )
    .await;
    sts(&h, DEMO_ROLE_A_KEY_ID, "Action=GetCallerIdentity").await;
    let (status, log) = h.control("GET", "/calls", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        log["counts"],
        serde_json::json!({"GetDataAccess": 2, "GetAccessGrantsInstanceForPrefix": 0, "GetCallerIdentity": 1})
    );
    assert_eq!(
        log["calls"][0],
        serde_json::json!({
            "operation": "GetDataAccess", "access_key_id": DEMO_ROLE_A_KEY_ID, "account_id": DEMO_ACCOUNT,
            "target": target, "permission": "READ", "privilege": "Minimal", "duration_seconds": 900, "status": 200
        })
    );
    assert_eq!(log["calls"][1]["status"], 403);
    assert_eq!(log["calls"][2]["operation"], "GetCallerIdentity");
    h.stop().await;
}

#[tokio::test]
async fn reset_clears_calls_faults_and_issued_keys() {
    let h = Harness::demo().await;
    let reply = h
        .data_access(
            DEMO_ROLE_A_KEY_ID,
            &format!("target={}&permission=READ", demo_target("UserA/x")),
        )
        .await;
    let key = reply.xml("AccessKeyId").unwrap().to_string();
    h.control("POST", "/faults", r#"{"operation": "*", "latency_ms": 1}"#)
        .await;
    let (status, _) = h.control("POST", "/reset", "").await;
    assert_eq!(status, 200);
    let (_, log) = h.control("GET", "/calls", "").await;
    assert_eq!(log["calls"], serde_json::json!([]));
    assert_eq!(log["counts"]["GetDataAccess"], 0);
    let (_, faults) = h.control("GET", "/faults", "").await;
    assert_eq!(faults["faults"], serde_json::json!([]));
    let (status, _) = h.control("GET", &format!("/issued/{key}"), "").await;
    assert_eq!(status, 404);
    h.stop().await;
}

#[tokio::test]
async fn unknown_issued_key_is_not_found() {
    let h = Harness::demo().await;
    let (status, body) = h.control("GET", "/issued/ASIANOSUCHKEY", "").await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("ASIANOSUCHKEY"));
    h.stop().await;
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let h = Harness::demo().await;
    for body in [
        r#"{"credential_lifetime_seconds": 0}"#,
        r#"{"credential_lifetime_seconds": "60"}"#,
        r#"{"lifetime": 60}"#,
        "{}",
        "[]",
    ] {
        let (status, error) = h.control("POST", "/settings", body).await;
        assert_eq!(status, 400, "{body}");
        assert!(error["error"].is_string(), "{body}");
    }
    let (_, settings) = h.control("GET", "/settings", "").await;
    assert_eq!(
        settings["credential_lifetime_seconds"],
        serde_json::Value::Null
    );
    h.stop().await;
}

#[tokio::test]
async fn unknown_control_route_is_a_json_404() {
    let h = Harness::demo().await;
    let (status, body) = h.control("GET", "/nope", "").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    let (status, _) = h.control("PUT", "/calls", "").await;
    assert_eq!(status, 405);
    h.stop().await;
}

// ---- Lifecycle ----

#[tokio::test]
async fn run_returns_after_shutdown_and_stops_listening() {
    let h = Harness::demo().await;
    let addr = h.addr;
    h.stop().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let h = Harness::demo().await;
    h.control(
        "POST",
        "/faults",
        r#"{"operation": "*", "latency_ms": 300}"#,
    )
    .await;
    let addr = h.addr;
    let in_flight = tokio::spawn(async move {
        send_raw(
            addr,
            "POST",
            "/",
            &[("authorization", &sigv4(DEMO_ROLE_A_KEY_ID))],
            "Action=GetCallerIdentity",
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;
    assert_eq!(in_flight.await.unwrap().status, 200);
}

#[tokio::test]
async fn main_exits_64_on_a_bad_grants_file() {
    let path = std::env::temp_dir().join(format!("grantd-emu-bad-{}.toml", std::process::id()));
    tokio::fs::write(&path, "colour = \"blue\"\n")
        .await
        .unwrap();
    let args = EmulateArgs {
        grants: Some(path.clone()),
        listen: "127.0.0.1:0".parse().unwrap(),
        addr_file: None,
        credential_lifetime: None,
    };
    assert_eq!(main(args).await, EXIT_BAD_GRANTS);
    let missing = EmulateArgs {
        grants: Some(path.with_extension("absent")),
        listen: "127.0.0.1:0".parse().unwrap(),
        addr_file: None,
        credential_lifetime: None,
    };
    assert_eq!(main(missing).await, EXIT_BAD_GRANTS);
    tokio::fs::remove_file(&path).await.unwrap();
}

// ---- Assume-role mode, against a scripted STS ----

/// A fake STS that answers every `AssumeRole` with fixed keys and keeps
/// the form bodies it received.
async fn fake_sts() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    use http_body_util::{BodyExt, Full};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let log = Arc::clone(&log);
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            log.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&body).into_owned());
                            let xml = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIAFROMFAKESTS0001</AccessKeyId><SecretAccessKey>STS-SECRET-MARKER</SecretAccessKey><SessionToken>STS-TOKEN-MARKER</SessionToken><Expiration>2026-11-23T12:15:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/grant-a/s</Arn><AssumedRoleId>AROAFAKE:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>"#;
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                bytes::Bytes::from(xml),
                            )))
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn assume_role_scenario(endpoint: &str) -> Scenario {
    scenario(&format!(
        r#"
        credential_lifetime_seconds = 120
        [assume_role]
        endpoint = "{endpoint}"
        access_key_id = "testing"
        secret_access_key = "ASSUME-ROLE-SECRET-MARKER"
        [[identities]]
        arn = "arn:aws:iam::111122223333:role/A"
        access_key_id = "AKIAASSUMEROLEMODE"
        [[grants]]
        grantee = "arn:aws:iam::111122223333:role/A"
        target = "s3://assume-bucket/A/*"
        permission = "READWRITE"
        role_arn = "arn:aws:iam::111122223333:role/grant-a"
        [[grants]]
        grantee = "arn:aws:iam::111122223333:role/A"
        target = "s3://assume-bucket/plain/*"
        permission = "READ"
        "#
    ))
}

async fn assume_vend(h: &Harness, target: &str, extra: &str) -> Reply {
    let auth = sigv4("AKIAASSUMEROLEMODE");
    h.data_access_with(
        &format!("target={}&permission=READ{extra}", enc(target)),
        &[("authorization", &auth), ("x-amz-account-id", DEMO_ACCOUNT)],
    )
    .await
}

#[tokio::test]
async fn assume_role_mode_mints_keys_with_sts() {
    let (sts_addr, seen) = fake_sts().await;
    let h = Harness::start(assume_role_scenario(&format!("http://{sts_addr}"))).await;
    let reply = assume_vend(&h, "s3://assume-bucket/A/data/*", "&privilege=Minimal").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.xml("AccessKeyId"), Some("ASIAFROMFAKESTS0001"));
    assert_eq!(reply.xml("SessionToken"), Some("STS-TOKEN-MARKER"));
    // The emulator's lifetime, not STS's 900 s minimum.
    assert_eq!(reply.xml("Expiration"), Some("2026-11-23T12:02:00Z"));

    let form: Vec<(String, String)> = {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        form_urlencoded::parse(seen[0].as_bytes())
            .into_owned()
            .collect()
    };
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(field("Action").as_deref(), Some("AssumeRole"));
    assert_eq!(
        field("RoleArn").as_deref(),
        Some("arn:aws:iam::111122223333:role/grant-a")
    );
    assert_eq!(field("DurationSeconds").as_deref(), Some("900"));
    assert!(
        field("RoleSessionName")
            .unwrap()
            .starts_with("grantd-emulator-")
    );
    let policy: serde_json::Value = serde_json::from_str(&field("Policy").unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Resource"],
        "arn:aws:s3:::assume-bucket/A/data/*"
    );
    h.stop().await;
}

#[tokio::test]
async fn assume_role_mode_sends_no_policy_for_default_privilege() {
    let (sts_addr, seen) = fake_sts().await;
    let h = Harness::start(assume_role_scenario(&format!("http://{sts_addr}"))).await;
    assert_eq!(
        assume_vend(&h, "s3://assume-bucket/A/x", "").await.status,
        200
    );
    assert!(!seen.lock().unwrap()[0].contains("Policy="));
    h.stop().await;
}

#[tokio::test]
async fn grants_without_role_arn_keep_random_keys_in_assume_role_mode() {
    let (sts_addr, seen) = fake_sts().await;
    let h = Harness::start(assume_role_scenario(&format!("http://{sts_addr}"))).await;
    let reply = assume_vend(&h, "s3://assume-bucket/plain/x", "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_ne!(reply.xml("AccessKeyId"), Some("ASIAFROMFAKESTS0001"));
    assert!(seen.lock().unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn assume_role_failure_is_service_unavailable() {
    // A port that was free a moment ago: nothing answers there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let h = Harness::start(assume_role_scenario(&format!("http://{closed}"))).await;
    let reply = assume_vend(&h, "s3://assume-bucket/A/x", "").await;
    assert_eq!(
        (reply.status, reply.code()),
        (503, Some("ServiceUnavailable")),
        "{}",
        reply.body
    );
    assert!(
        reply.xml("Message").unwrap().contains("AssumeRole"),
        "{}",
        reply.body
    );
    h.stop().await;
}

// ---- Logs ----

/// Collects the text of every event and span field, at every level.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<String>>);

impl tracing::field::Visit for CapturedLogs {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let line = format!("{}={:?} ", field.name(), value);
        self.0.lock().unwrap().push_str(&line);
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut self.clone());
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut self.clone());
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut self.clone());
        self.0.lock().unwrap().push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn logs_never_contain_secrets_or_tokens() {
    let logs = CapturedLogs::default();
    // A current-thread runtime: every task of this test logs on this thread.
    let _guard = tracing::subscriber::set_default(logs.clone());
    let (sts_addr, _) = fake_sts().await;
    let h = Harness::start(assume_role_scenario(&format!("http://{sts_addr}"))).await;
    let minted = assume_vend(&h, "s3://assume-bucket/A/x", "").await;
    let random = assume_vend(&h, "s3://assume-bucket/plain/x", "").await;
    h.control(
        "GET",
        &format!("/issued/{}", random.xml("AccessKeyId").unwrap()),
        "",
    )
    .await;
    h.stop().await;

    let text = logs.0.lock().unwrap().clone();
    assert!(
        text.contains("ASIAFROMFAKESTS0001"),
        "access key ids are logged:\n{text}"
    );
    for secret in [
        "STS-SECRET-MARKER",
        "STS-TOKEN-MARKER",
        "ASSUME-ROLE-SECRET-MARKER",
        random.xml("SecretAccessKey").unwrap(),
        random.xml("SessionToken").unwrap(),
    ] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into the logs:\n{text}"
        );
    }
    assert_eq!(minted.status, 200);
}
