//! `ListCallerAccessGrants` over the wire, and the account label of a host
//! name on every S3 Control call.

use super::*;

const GRANTS: &str = r#"
    [[identities]]
    arn = "arn:aws:iam::111122223333:role/A"
    access_key_id = "AKIALISTINGROLEAAA"
    [[identities]]
    arn = "arn:aws:iam::111122223333:role/B"
    access_key_id = "AKIALISTINGROLEBBB"
    [[grants]]
    grantee = "arn:aws:iam::111122223333:role/A"
    target = "s3://bucket/UserA/*"
    permission = "READWRITE"
    [[grants]]
    grantee = "arn:aws:iam::111122223333:role/A"
    target = "s3://bucket/Product/*"
    permission = "READ"
    application_arn = "arn:aws:sso::111122223333:application/ssoins-1/apl-1"
    [[grants]]
    grantee = "arn:aws:iam::111122223333:role/B"
    target = "s3://bucket/UserB/*"
    permission = "READWRITE"
    [[grants]]
    grantee = "arn:aws:iam::111122223333:role/A"
    target = "s3://reports/2026/*"
    permission = "READ"
"#;

async fn list(h: &Harness, key: &str, query: &str, extra: &[(&str, &str)]) -> Reply {
    let auth = sigv4(key);
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("x-amz-account-id", "111122223333"),
    ];
    headers.extend_from_slice(extra);
    h.send(
        "GET",
        &format!("/v20180820/accessgrantsinstance/caller/grants?{query}"),
        &headers,
        "",
    )
    .await
}

/// Every `(GrantScope, Permission, ApplicationArn)` of an answer.
fn entries(reply: &Reply) -> Vec<(String, String, Option<String>)> {
    reply
        .body
        .split("<AccessGrant>")
        .skip(1)
        .map(|entry| {
            let field = |name: &str| {
                let open = format!("<{name}>");
                let start = entry.find(&open)? + open.len();
                let end = start + entry[start..].find(&format!("</{name}>"))?;
                Some(entry[start..end].to_string())
            };
            (
                field("GrantScope").unwrap(),
                field("Permission").unwrap(),
                field("ApplicationArn"),
            )
        })
        .collect()
}

#[tokio::test]
async fn lists_the_callers_grants_with_scope_permission_and_application() {
    let h = Harness::start(scenario(GRANTS)).await;
    let reply = list(&h, "AKIALISTINGROLEAAA", "", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains(r#"<ListCallerAccessGrantsResult xmlns="http://awss3control.amazonaws.com/doc/2018-08-20/">"#));
    assert_eq!(
        entries(&reply),
        [
            ("s3://bucket/UserA/*".into(), "READWRITE".into(), None),
            (
                "s3://bucket/Product/*".into(),
                "READ".into(),
                Some("arn:aws:sso::111122223333:application/ssoins-1/apl-1".into())
            ),
            ("s3://reports/2026/*".into(), "READ".into(), None),
        ]
    );
    assert_eq!(reply.xml("NextToken"), None);
    h.stop().await;
}

#[tokio::test]
async fn pages_are_followed_by_next_token_to_the_end() {
    let h = Harness::start(scenario(GRANTS)).await;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..5 {
        let query = match &token {
            None => "maxResults=1".to_string(),
            Some(t) => format!("maxResults=1&nextToken={}", enc(t)),
        };
        let reply = list(&h, "AKIALISTINGROLEAAA", &query, &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        seen.extend(entries(&reply).into_iter().map(|e| e.0));
        token = reply.xml("NextToken").map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "s3://bucket/UserA/*",
            "s3://bucket/Product/*",
            "s3://reports/2026/*"
        ]
    );
    h.stop().await;
}

#[tokio::test]
async fn a_token_from_another_query_is_refused() {
    let h = Harness::start(scenario(GRANTS)).await;
    let first = list(&h, "AKIALISTINGROLEAAA", "maxResults=1", &[]).await;
    let token = enc(first.xml("NextToken").unwrap());
    let reply = list(
        &h,
        "AKIALISTINGROLEBBB",
        &format!("maxResults=1&nextToken={token}"),
        &[],
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.code(), Some("InvalidRequest"));
    h.stop().await;
}

#[tokio::test]
async fn grantscope_filters_by_the_beginning_of_the_path() {
    let h = Harness::start(scenario(GRANTS)).await;
    let scopes =
        |reply: &Reply| -> Vec<String> { entries(reply).into_iter().map(|e| e.0).collect() };
    let reply = list(
        &h,
        "AKIALISTINGROLEAAA",
        &format!("grantscope={}", enc("s3://bucket/U")),
        &[],
    )
    .await;
    assert_eq!(scopes(&reply), ["s3://bucket/UserA/*"]);
    let reply = list(
        &h,
        "AKIALISTINGROLEAAA",
        &format!("grantscope={}", enc("s3://rep")),
        &[],
    )
    .await;
    assert_eq!(scopes(&reply), ["s3://reports/2026/*"]);
    let reply = list(
        &h,
        "AKIALISTINGROLEAAA",
        &format!("grantscope={}", enc("bucket/")),
        &[],
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = list(&h, "AKIALISTINGROLEAAA", "allowedByApplication=true", &[]).await;
    assert_eq!(scopes(&reply), ["s3://bucket/Product/*"]);
    let reply = list(&h, "AKIALISTINGROLEAAA", "maxResults=1001", &[]).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    h.stop().await;
}

#[tokio::test]
async fn the_instance_account_is_checked() {
    let h = Harness::start(scenario(GRANTS)).await;
    let auth = sigv4("AKIALISTINGROLEAAA");
    let path = "/v20180820/accessgrantsinstance/caller/grants";
    let missing = h.send("GET", path, &[("authorization", &auth)], "").await;
    assert_eq!(missing.status, 400);
    assert!(
        missing.body.contains("x-amz-account-id"),
        "{}",
        missing.body
    );
    let other = h
        .send(
            "GET",
            path,
            &[
                ("authorization", &auth),
                ("x-amz-account-id", "999999999999"),
            ],
            "",
        )
        .await;
    assert_eq!(other.status, 404);
    assert_eq!(other.code(), Some("AccessGrantsInstanceNotExistsError"));
    let unsigned = h
        .send("GET", path, &[("x-amz-account-id", "111122223333")], "")
        .await;
    assert_eq!(unsigned.status, 403);
    h.stop().await;
}

#[tokio::test]
async fn a_host_name_must_carry_the_account_label() {
    let h = Harness::start(scenario(GRANTS)).await;
    let key = "AKIALISTINGROLEAAA";
    let labelled = list(
        &h,
        key,
        "",
        &[("host", "111122223333.s3-control.example:443")],
    )
    .await;
    assert_eq!(labelled.status, 200, "{}", labelled.body);
    let bare = list(&h, key, "", &[("host", "s3-control.example")]).await;
    assert_eq!(bare.status, 400);
    assert!(
        bare.body.contains("lacks the account id label"),
        "{}",
        bare.body
    );
    let wrong = list(&h, key, "", &[("host", "444455556666.s3-control.example")]).await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("does not match"), "{}", wrong.body);
    for plain in ["localhost:7912", "127.0.0.1:7912", "[::1]:7912"] {
        let reply = list(&h, key, "", &[("host", plain)]).await;
        assert_eq!(reply.status, 200, "{plain}: {}", reply.body);
    }
    h.stop().await;
}

#[tokio::test]
async fn the_call_log_shows_the_host_and_audit_context_sent() {
    let h = Harness::demo().await;
    let query = format!(
        "target={}&permission=READ&auditContext={}",
        demo_target("UserA/x"),
        enc("sagemaker-processing job=nightly")
    );
    let reply = h.data_access(DEMO_ROLE_A_KEY_ID, &query).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let bad = format!(
        "target={}&permission=READ&auditContext=",
        demo_target("UserA/x")
    );
    assert_eq!(h.data_access(DEMO_ROLE_A_KEY_ID, &bad).await.status, 400);
    let (_, calls) = h.control("GET", "/calls", "").await;
    let call = &calls["calls"][0];
    assert_eq!(call["audit_context"], "sagemaker-processing job=nightly");
    assert_eq!(call["host"], h.addr.to_string());
    h.stop().await;
}
