//! `GetAccessGrantsInstanceForPrefix` and grants held in another account.

use super::*;

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
