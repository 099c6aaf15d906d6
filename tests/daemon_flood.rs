//! A connection flood from another Unix user: the owner's clients are still
//! served. (Its own test binary, so no other test shares the machine with
//! the flood.)

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// Connections `nobody` holds open, more than the daemon's 512 places.
const FLOOD: usize = 600;
/// The owner's requests during the flood.
const REQUESTS: usize = 40;
/// What an SDK would wait for the credentials endpoint.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// One credentials request on a new connection, all within [`CLIENT_TIMEOUT`]:
/// whether it was answered 200.
fn vend_within_timeout(addr: SocketAddr, token: &str) -> bool {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let Ok(mut s) = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT) else {
        return false;
    };
    let request = format!(
        "GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match s.read(&mut chunk) {
            Ok(0) => return Reply::parse(&buf).status == 200,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return false,
        }
    }
}

#[test]
fn the_owner_is_served_while_another_user_floods_connections() {
    let s = stack(PROFILES);
    let flood = Flooder::start(s.daemon.addr, FLOOD);
    let started = Instant::now();
    let served = (0..REQUESTS)
        .filter(|_| {
            let ok = vend_within_timeout(s.daemon.addr, &s.token);
            std::thread::sleep(Duration::from_millis(50));
            ok
        })
        .count();
    let took = started.elapsed();
    drop(flood);
    eprintln!("served {served} of {REQUESTS} owner requests in {took:?} during the flood");
    assert!(
        served * 100 >= REQUESTS * 95,
        "only {served} of {REQUESTS} owner requests were served within {CLIENT_TIMEOUT:?}"
    );
    // The flood is over: the daemon is healthy, and says what it shed.
    assert_eq!(get(s.daemon.addr, "/healthz", None).status, 200);
    let metrics = get(s.daemon.addr, "/metrics", None).body;
    let shed: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("grantd_connections_shed_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        shed > 0,
        "the flood's surplus connections were counted:\n{metrics}"
    );
}
