//! The `/_emulator` control API: call log, reset, issued keys, settings.

use super::*;

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
        serde_json::json!({"GetDataAccess": 2, "GetAccessGrantsInstanceForPrefix": 0,
            "ListCallerAccessGrants": 0, "GetCallerIdentity": 1})
    );
    assert_eq!(
        log["calls"][0],
        serde_json::json!({
            "operation": "GetDataAccess", "access_key_id": DEMO_ROLE_A_KEY_ID, "account_id": DEMO_ACCOUNT,
            "target": target, "permission": "READ", "privilege": "Minimal", "duration_seconds": 900,
            "audit_context": null, "host": h.addr.to_string(), "status": 200
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
