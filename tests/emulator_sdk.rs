//! The emulator's wire format, proved with the official AWS SDK clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3control::config::retry::RetryConfig;
use aws_sdk_s3control::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3control::error::ProvideErrorMetadata;
use aws_sdk_s3control::types::Permission;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use grantd::clock::{Clock, SystemClock};
use grantd::credentials::parse_timestamp;
use grantd::upstream::aws::FixedEndpoint;
use grantd_emulator::{
    DEMO_ACCOUNT, DEMO_BUCKET, DEMO_ROLE_A_KEY_ID, DEMO_ROLE_A_SECRET, Emulator, Scenario, run,
};

struct Running {
    url: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start() -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let emulator = Emulator::new(Scenario::demo(), Arc::new(SystemClock));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, emulator, async {
        let _ = stopped.await;
    }));
    Running {
        url: format!("http://{addr}"),
        stop,
        task,
    }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

fn base_credentials() -> Credentials {
    Credentials::new(
        DEMO_ROLE_A_KEY_ID,
        DEMO_ROLE_A_SECRET,
        None,
        None,
        "emulator-test",
    )
}

fn s3control(url: &str) -> aws_sdk_s3control::Client {
    let config = aws_sdk_s3control::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(base_credentials())
        .endpoint_resolver(FixedEndpoint(url.to_string()))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_s3control::Client::from_conf(config)
}

#[tokio::test]
async fn sdk_get_data_access_parses_the_emulator_answer() {
    let emu = start().await;
    let out = s3control(&emu.url)
        .get_data_access()
        .account_id(DEMO_ACCOUNT)
        .target(format!("s3://{DEMO_BUCKET}/UserA/output/part-0"))
        .permission(Permission::Read)
        .duration_seconds(900)
        .send()
        .await
        .expect("GetDataAccess succeeds");
    let creds = out.credentials().expect("credentials");
    assert!(creds.access_key_id().unwrap().starts_with("ASIA"));
    assert_eq!(creds.secret_access_key().unwrap().len(), 40);
    assert!(creds.session_token().unwrap().len() >= 300);
    let expiration = SystemTime::try_from(*creds.expiration().unwrap()).unwrap();
    let remaining = expiration.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let now = SystemClock
        .now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    assert!(
        remaining > now + Duration::from_secs(890) && remaining <= now + Duration::from_secs(901)
    );
    // The same text parses with grantd's own parser.
    assert!(parse_timestamp(&creds.expiration().unwrap().to_string()).is_some());
    assert_eq!(
        out.matched_grant_target(),
        Some(format!("s3://{DEMO_BUCKET}/UserA/*").as_str())
    );
    let grantee = out.grantee().unwrap();
    assert_eq!(grantee.grantee_type().map(|t| t.as_str()), Some("IAM"));
    assert_eq!(
        grantee.grantee_identifier(),
        Some("arn:aws:iam::111122223333:role/access-grants-blog-RoleA")
    );
    emu.stop().await;
}

#[tokio::test]
async fn sdk_maps_access_denied_to_a_service_error_with_code_and_message() {
    let emu = start().await;
    let target = format!("s3://{DEMO_BUCKET}/UserB/x");
    let err = s3control(&emu.url)
        .get_data_access()
        .account_id(DEMO_ACCOUNT)
        .target(&target)
        .permission(Permission::Read)
        .send()
        .await
        .expect_err("RoleA has no grant on UserB");
    let service = err
        .as_service_error()
        .expect("a service error, not a transport one");
    assert_eq!(service.code(), Some("AccessDenied"));
    assert_eq!(
        service.message(),
        Some(
            format!("You do not have READ permissions to the requested S3 Prefix: {target}")
                .as_str()
        )
    );
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    emu.stop().await;
}

#[tokio::test]
async fn sdk_reads_the_instance_for_a_prefix() {
    let emu = start().await;
    let out = s3control(&emu.url)
        .get_access_grants_instance_for_prefix()
        .account_id(DEMO_ACCOUNT)
        .s3_prefix(format!("s3://{DEMO_BUCKET}/Product/"))
        .send()
        .await
        .expect("GetAccessGrantsInstanceForPrefix succeeds");
    assert_eq!(
        out.access_grants_instance_arn(),
        Some("arn:aws:s3:us-east-1:111122223333:access-grants/default")
    );
    assert_eq!(out.access_grants_instance_id(), Some("default"));
    emu.stop().await;
}

#[tokio::test]
async fn sdk_sts_get_caller_identity_works_with_endpoint_url() {
    let emu = start().await;
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .credentials_provider(base_credentials())
        .endpoint_url(&emu.url)
        .build();
    let out = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity succeeds");
    assert_eq!(
        out.arn(),
        Some("arn:aws:iam::111122223333:role/access-grants-blog-RoleA")
    );
    assert_eq!(out.account(), Some(DEMO_ACCOUNT));
    assert!(out.user_id().unwrap().starts_with("AROA"));
    emu.stop().await;
}
