//! Injected faults: errors, latency and malformed answers.

use super::*;

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

#[tokio::test]
async fn reset_fault_resets_the_connection_unanswered_and_counts_the_call() {
    let h = Harness::demo().await;
    h.control(
        "POST",
        "/faults",
        r#"{"operation": "GetDataAccess", "reset": true, "times": 1}"#,
    )
    .await;
    let path = format!(
        "/v20180820/accessgrantsinstance/dataaccess?target={}&permission=READ",
        demo_target("UserA/x")
    );
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\nauthorization: {}\r\nx-amz-account-id: {DEMO_ACCOUNT}\r\n\r\n",
        h.addr,
        sigv4(DEMO_ROLE_A_KEY_ID)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw).await;
    let error = read.expect_err("a reset, not an answer or a clean close");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(raw.is_empty(), "nothing was answered");
    let (_, calls) = h.control("GET", "/calls", "").await;
    assert_eq!(calls["counts"]["GetDataAccess"], 1);
    let query = format!("target={}&permission=READ", demo_target("UserA/x"));
    assert_eq!(h.data_access(DEMO_ROLE_A_KEY_ID, &query).await.status, 200);
    h.stop().await;
}
