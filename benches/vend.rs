//! What a vend costs: the cache hit path, the in-grant lookup among many
//! grants, a cold load against the scripted upstream, and a full loopback
//! HTTP request through the real server, on a kept-alive connection and on a
//! new connection each (which pays the per-connection peer uid lookup).
//!
//! Run: `cargo bench --bench vend`. Compare the hit and HTTP numbers with the
//! cold-load one: the ratio is what the cache saves per request.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use grantd::cache::{Cache, CacheSettings};
use grantd::clock::{SharedClock, SystemClock};
use grantd::profile::Profile;
use grantd::scope::{DataAccessRequest, Permission, Privilege, S3Target};
use grantd::server::{AppState, ServerSettings, Shared};
use grantd::token::Token;
use grantd::upstream::fake::ScriptedUpstream;

fn req(target: &str, permission: Permission) -> DataAccessRequest {
    DataAccessRequest::new(S3Target::parse(target).unwrap(), permission)
}

fn cache_with(grants: usize) -> (Cache, Arc<ScriptedUpstream>) {
    let clock: SharedClock = Arc::new(SystemClock);
    let mut upstream = ScriptedUpstream::new(clock.clone());
    for i in 0..grants {
        upstream = upstream.grant(&format!("s3://bucket/team{i}/*"), Permission::Read);
    }
    let upstream = Arc::new(upstream);
    // Setup loads many scopes at once; the daemon's load rate limit is not what is measured here.
    let settings = CacheSettings {
        loads_per_second: 1e9,
        load_burst: 1e9,
        ..CacheSettings::default()
    };
    let cache = Cache::new(upstream.clone(), clock, settings, Arc::default());
    (cache, upstream)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // 1. Hit: an exact Minimal entry.
    let (cache, _) = cache_with(1);
    let mut minimal = req("s3://bucket/team0/data.csv", Permission::Read);
    minimal.privilege = Privilege::Minimal;
    rt.block_on(cache.get(&minimal)).unwrap();
    c.bench_function("cache_hit_exact", |b| {
        b.to_async(&rt)
            .iter(|| async { cache.get(&minimal).await.unwrap() })
    });

    // 2. Hit through the grant index, with 1,000 grants cached in one bucket.
    let (cache, upstream) = cache_with(1000);
    rt.block_on(async {
        for i in 0..1000 {
            cache
                .get(&req(&format!("s3://bucket/team{i}/x"), Permission::Read))
                .await
                .unwrap();
        }
    });
    let inside = req(
        "s3://bucket/team777/2026/11/part-00042.parquet",
        Permission::Read,
    );
    rt.block_on(cache.get(&inside)).unwrap();
    assert_eq!(
        upstream.calls(),
        1000,
        "the index answered without an upstream call"
    );
    c.bench_function("cache_hit_inside_grant_of_1000", |b| {
        b.to_async(&rt)
            .iter(|| async { cache.get(&inside).await.unwrap() })
    });

    // 3. Cold: a new scope each time, against a scripted upstream with no latency.
    let clock: SharedClock = Arc::new(SystemClock);
    let upstream =
        Arc::new(ScriptedUpstream::new(clock.clone()).grant("s3://bucket/*", Permission::Read));
    let cold = Cache::new(
        upstream,
        clock,
        CacheSettings {
            loads_per_second: 1e9,
            load_burst: 1e9,
            max_entries: 1_000_000,
            ..CacheSettings::default()
        },
        Arc::default(),
    );
    let mut n = 0u64;
    c.bench_function("cache_cold_load", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let mut r = req(&format!("s3://bucket/k{n}"), Permission::Read);
            r.privilege = Privilege::Minimal;
            let cold = cold.clone();
            async move { cold.get(&r).await.unwrap() }
        })
    });

    // 4. A whole HTTP request on a kept-alive loopback connection.
    let (cache, _) = cache_with(1);
    let profile = Profile {
        name: "team0".into(),
        request: req("s3://bucket/team0/*", Permission::Read),
    };
    let ready = Arc::new(OnceLock::new());
    let _ = ready.set("111122223333".to_string());
    let token = "bench-token-0123456789abcdef";
    let state = Arc::new(AppState::new(
        Shared {
            cache,
            token: Token::new(token),
            profiles: vec![profile],
            ready,
            clock: Arc::new(SystemClock),
            base: None,
            s3_endpoint: None,
        },
        &ServerSettings::default(),
    ));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(grantd::server::run(listener, state, std::future::pending()));
    let mut sender = rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        sender
    });
    c.bench_function("http_vend_keepalive", |b| {
        b.iter(|| {
            rt.block_on(async {
                use http_body_util::BodyExt;
                let req = hyper::Request::get("/v1/credentials")
                    .header("host", "127.0.0.1")
                    .header("authorization", token)
                    .body(http_body_util::Empty::<bytes::Bytes>::new())
                    .unwrap();
                sender.ready().await.unwrap();
                let resp = sender.send_request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                resp.into_body().collect().await.unwrap().to_bytes()
            })
        })
    });

    // 5. The same request on a new connection each time, as the AWS CLI makes it.
    c.bench_function("http_vend_new_connection", |b| {
        b.iter(|| {
            rt.block_on(async {
                use http_body_util::BodyExt;
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .unwrap();
                let conn = tokio::spawn(conn);
                let req = hyper::Request::get("/v1/credentials")
                    .header("host", "127.0.0.1")
                    .header("authorization", token)
                    .header("connection", "close")
                    .body(http_body_util::Empty::<bytes::Bytes>::new())
                    .unwrap();
                let resp = sender.send_request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let _ = conn.await;
                body
            })
        })
    });
}

criterion_group! {
    name = vend;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(vend);
