//! What finding a connection's Unix user costs, once per connection: the
//! exact `sock_diag` netlink lookup, and the `/proc/net/tcp` fallback with
//! the host's socket table as it is (plus 1,000 extra loopback connections,
//! to show how the fallback grows and the netlink lookup does not).
//!
//! Run: `cargo bench --bench peer`.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use grantd::server::peer::{netlink_owner, proc_owner};

/// Extra connections held open for the "crowded" cases.
const CROWD: usize = 1000;

fn benches(c: &mut Criterion) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, peer) = listener.accept().unwrap();
    let local = server.local_addr().unwrap();

    c.bench_function("peer_uid_netlink", |b| {
        b.iter(|| netlink_owner(peer, local).unwrap())
    });
    c.bench_function("peer_uid_proc", |b| {
        b.iter(|| proc_owner(peer, local).unwrap())
    });

    let crowd: Vec<_> = (0..CROWD)
        .map(|_| {
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            (client, listener.accept().unwrap().0)
        })
        .collect();
    c.bench_function("peer_uid_netlink_crowded", |b| {
        b.iter(|| netlink_owner(peer, local).unwrap())
    });
    c.bench_function("peer_uid_proc_crowded", |b| {
        b.iter(|| proc_owner(peer, local).unwrap())
    });
    drop(crowd);
}

criterion_group! {
    name = peer;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = benches
}
criterion_main!(peer);
