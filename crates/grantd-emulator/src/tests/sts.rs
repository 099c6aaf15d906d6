//! STS: `GetCallerIdentity` and the actions the emulator refuses.

use super::*;

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
