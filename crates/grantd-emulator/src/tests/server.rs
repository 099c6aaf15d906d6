//! Routing, body limits, shutdown and the exit codes of `main`.

use super::*;

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
    let big = "A".repeat(crate::server::MAX_BODY_BYTES + 1);
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
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
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
}
