//! Assume-role mode, against a scripted STS.

use super::*;

/// A fake STS that answers every `AssumeRole` with fixed keys and keeps
/// the form bodies it received.
pub(super) async fn fake_sts() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
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

pub(super) fn assume_role_scenario(endpoint: &str) -> Scenario {
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

pub(super) async fn assume_vend(h: &Harness, target: &str, extra: &str) -> Reply {
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
