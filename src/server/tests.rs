//! The server over real loopback connections, in process: what a peer that
//! may not get credentials sees, and how long an idle connection lives.
//! (This process is the owner; a policy naming another owner makes it a
//! stranger.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::*;
use crate::cache::CacheSettings;
use crate::clock::SystemClock;
use crate::scope::{Permission, S3Target};
use crate::upstream::fake::ScriptedUpstream;

const TOKEN: &str = "in-process-token-0123456789";
const TARGET: &str = "s3://secret-bucket-111122223333/TeamPrefix/*";
/// A uid this test process does not run as.
const SOMEONE_ELSE: u32 = u32::MAX - 7;

/// A served daemon (one profile, warm and ready) whose owner is `owner`.
async fn serve(owner: Option<u32>, limits: Limits) -> SocketAddr {
    let clock: SharedClock = Arc::new(SystemClock);
    let upstream = Arc::new(ScriptedUpstream::new(clock.clone()).grant(TARGET, Permission::Read));
    let cache = Cache::new(
        upstream,
        clock.clone(),
        CacheSettings::default(),
        Arc::default(),
    );
    let request = DataAccessRequest::new(S3Target::parse(TARGET).unwrap(), Permission::Read);
    cache.get(&request).await.unwrap();
    let ready = Arc::new(OnceLock::new());
    let _ = ready.set("111122223333".to_string());
    let profiles = vec![Profile {
        name: "team".into(),
        request,
    }];
    let defaults = ServerSettings::default();
    let settings = ServerSettings {
        owner: owner.unwrap_or(defaults.owner),
        imds: true,
        limits,
        ..defaults
    };
    let state = AppState::new(
        Shared {
            cache,
            token: Token::new(TOKEN),
            profiles,
            ready,
            clock,
            base: None,
            s3_endpoint: None,
        },
        &settings,
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(run(listener, Arc::new(state), std::future::pending()));
    addr
}

/// One request on a new connection (blocking, off the runtime); the reply as text.
async fn ask(addr: SocketAddr, method: &'static str, path: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {TOKEN}\r\n\
             X-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n"
        )
        .unwrap();
        // Kept alive unless the server closes: read until the body is complete.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).unwrap_or(0);
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                head.lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .is_some_and(|len| body.len() >= len)
            });
            if n == 0 || complete {
                return text.into_owned();
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_owner_gets_credentials_and_the_full_operations_routes() {
    let addr = serve(None, Limits::default()).await;
    assert!(
        ask(addr, "GET", "/v1/credentials")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let metrics = ask(addr, "GET", "/metrics").await;
    assert!(
        metrics.contains("secret-bucket-111122223333/TeamPrefix"),
        "{metrics}"
    );
    assert!(ask(addr, "GET", "/readyz").await.contains("111122223333"));
}

#[tokio::test]
async fn another_user_gets_403_on_every_credential_route_and_its_connection_closed() {
    let addr = serve(Some(SOMEONE_ELSE), Limits::default()).await;
    for (method, path) in [
        ("GET", "/v1/credentials"),
        ("GET", "/v1/credentials/team"),
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/iam/security-credentials/"),
        ("GET", "/latest/meta-data/iam/security-credentials/team"),
    ] {
        let reply = ask(addr, method, path).await;
        assert!(reply.starts_with("HTTP/1.1 403"), "{path}: {reply}");
        assert!(
            reply.contains("\"code\":\"PeerNotAllowed\""),
            "{path}: {reply}"
        );
        assert!(reply.contains("connection: close"), "{path}: {reply}");
        assert!(!reply.contains("SecretAccessKey"), "{path}: {reply}");
    }
}

#[tokio::test]
async fn another_user_sees_counts_but_no_bucket_prefix_or_account() {
    let addr = serve(Some(SOMEONE_ELSE), Limits::default()).await;
    let metrics = ask(addr, "GET", "/metrics").await;
    let readyz = ask(addr, "GET", "/readyz").await;
    assert!(metrics.starts_with("HTTP/1.1 200") && readyz.starts_with("HTTP/1.1 200"));
    assert!(metrics.contains("grantd_cache_entries 1"), "{metrics}");
    assert!(readyz.contains("\"status\":\"ready\""), "{readyz}");
    for secret in ["secret-bucket", "TeamPrefix", "111122223333"] {
        assert!(!metrics.contains(secret), "{secret} in {metrics}");
        assert!(!readyz.contains(secret), "{secret} in {readyz}");
    }
    assert!(
        ask(addr, "GET", "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(300);
    let addr = serve(
        None,
        Limits {
            header_read_timeout: timeout,
            ..Limits::default()
        },
    )
    .await;
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        let idle_since = Instant::now();
        // The next read ends when the server closes the idle connection.
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
        idle_since.elapsed()
    })
    .await
    .unwrap();
    assert!(closed_after >= timeout / 2, "{closed_after:?}");
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");
}
