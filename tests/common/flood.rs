//! The owner's side of a connection flood: credential requests on new
//! connections, each with the budget an SDK gives it, and how long each
//! one's connect took (a SYN the kernel dropped costs a 1 s retry).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{Flooder, Reply, get};

/// Connections `nobody` holds open, more than the daemon's 512 places.
pub const FLOOD: usize = 600;
/// The owner's requests during the flood.
pub const REQUESTS: usize = 40;
/// What an SDK would wait for the credentials endpoint.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// The Java SDK's connect timeout: a connect that takes this long failed.
pub const CONNECT_BUDGET: Duration = Duration::from_secs(1);

/// What the owner saw during a flood.
#[derive(Debug)]
pub struct OwnerRun {
    pub served: usize,
    pub requests: usize,
    pub slowest_connect: Duration,
    pub took: Duration,
}

/// One credentials request on a new connection, all within
/// [`CLIENT_TIMEOUT`]: whether it was answered 200, and its connect time.
fn vend_within_timeout(addr: SocketAddr, token: &str) -> (bool, Duration) {
    let started = Instant::now();
    let deadline = started + CLIENT_TIMEOUT;
    let Ok(mut s) = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT) else {
        return (false, started.elapsed());
    };
    let connect = started.elapsed();
    let request = format!(
        "GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(request.as_bytes()).is_err() {
        return (false, connect);
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return (false, connect);
        }
        match s.read(&mut chunk) {
            Ok(0) => return (Reply::parse(&buf).status == 200, connect),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (false, connect),
        }
    }
}

/// [`REQUESTS`] owner requests, 50 ms apart, while `nobody` holds
/// [`FLOOD`] connections to the daemon at `addr`.
pub fn owner_during_flood(addr: SocketAddr, token: &str) -> OwnerRun {
    let flood = Flooder::start(addr, FLOOD);
    let started = Instant::now();
    let mut run = OwnerRun {
        served: 0,
        requests: REQUESTS,
        slowest_connect: Duration::ZERO,
        took: Duration::ZERO,
    };
    for _ in 0..REQUESTS {
        let (ok, connect) = vend_within_timeout(addr, token);
        run.served += usize::from(ok);
        run.slowest_connect = run.slowest_connect.max(connect);
        std::thread::sleep(Duration::from_millis(50));
    }
    run.took = started.elapsed();
    drop(flood);
    eprintln!("during the flood: {run:?}");
    run
}

/// Floods the daemon at `addr` from `nobody` ([`owner_during_flood`]) and
/// asserts that the owner was served through it: 95 of 100 requests within
/// [`CLIENT_TIMEOUT`], no connect as slow as [`CONNECT_BUDGET`] (a full
/// accept queue drops SYNs, and a client retries after 1 s); then that the
/// daemon is healthy and counted the connections it shed.
pub fn assert_owner_served_through_a_flood(addr: SocketAddr, token: &str) {
    let run = owner_during_flood(addr, token);
    assert!(
        run.served * 100 >= run.requests * 95,
        "only {} of {} owner requests were served within {CLIENT_TIMEOUT:?}",
        run.served,
        run.requests
    );
    assert!(
        run.slowest_connect < CONNECT_BUDGET,
        "an owner's connect took {:?}",
        run.slowest_connect
    );
    assert_eq!(get(addr, "/healthz", None).status, 200);
    assert!(
        shed_count(addr) > 0,
        "the flood's surplus connections were counted"
    );
}

/// The connections shed so far, from `/metrics`.
pub fn shed_count(addr: SocketAddr) -> u64 {
    get(addr, "/metrics", None)
        .body
        .lines()
        .filter(|l| l.starts_with("grantd_connections_shed_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
