//! `GetDataAccess`: the matched grant, lifetimes, refusals and privilege.

use super::*;

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
