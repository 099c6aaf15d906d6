//! One loopback listener's life: accept, the peer's user, a place, serve,
//! drain. Both of grantd's servers run on it: the credential routes
//! ([`super::AppState`]) and the S3 endpoint ([`crate::s3::S3State`]).
//!
//! Each listener is bound with a backlog of [`LISTEN_BACKLOG`], so a flood
//! of connections does not overflow the kernel's accept queue (a dropped SYN
//! costs a client a 1 s retransmission). The peer's uid is looked up once at
//! accept ([`super::peer`]) and decided once ([`super::auth`]); the
//! connection is admitted or shed at once ([`super::slots`]: per-user caps,
//! never a wait in the kernel backlog),
//! then served under a header-read timeout (which hyper also applies while
//! a kept-alive connection waits for its next request, so idle connections
//! close after it) and a header size limit, and drained gracefully on
//! shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tracing::{debug, info, warn};

use super::auth::{Peer, PeerPolicy};
use super::peer::PeerError;
use super::settings::Limits;
use super::slots::Slots;
use crate::metrics::Metrics;

/// The kernel's accept queue of each listener. Defaults to 1,024.
///
/// tokio (through mio) binds with 128. The accept loop takes connections as
/// fast as it is scheduled, but while a flood of another user's connections
/// keeps both workers busy, 128 fill between two turns of the loop, and the
/// kernel then drops the next SYN: that client retries after 1 s, past the
/// Java SDK's 1 s connect timeout. The kernel caps the value at
/// `net.core.somaxconn` (4,096 on current kernels).
pub const LISTEN_BACKLOG: u32 = 1024;

/// A listener on `addr` with a backlog of [`LISTEN_BACKLOG`], set up as
/// tokio's own `bind` does (`SO_REUSEADDR`, so a restarted daemon can bind
/// while connections of its predecessor are in `TIME_WAIT`).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// What a listener serves: who may connect, its limits, and the answer to
/// each request of an admitted connection.
pub trait Handler: Send + Sync + 'static {
    type Body: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static;

    fn peers(&self) -> &PeerPolicy;
    fn limits(&self) -> &Limits;
    fn metrics(&self) -> &Metrics;
    fn handle(
        self: Arc<Self>,
        peer: Arc<Peer>,
        req: Request<Incoming>,
    ) -> impl Future<Output = Response<Self::Body>> + Send;
}

/// Serves `listener` until `shutdown` completes, then stops accepting and
/// drains open requests for up to `limits.grace`.
pub async fn run<H: Handler>(
    listener: TcpListener,
    state: Arc<H>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = state.limits().clone();
    let slots = Slots::new(limits.max_connections, limits.max_connections_per_uid);
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    // `max_buf_size` alone is no limit on the head: hyper checks it only
    // while a head is incomplete, and one read can bring in more than it
    // (a 40 KiB head got through a 32 KiB buffer). `max_header_size` is
    // checked on every head parsed.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Never wait for a free place before accepting: a connection that
        // finds none is closed at once, so a flood cannot hold the owner's
        // clients in the kernel backlog.
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            addr,
            state.clone(),
            slots.clone(),
            http.clone(),
            graceful.watcher(),
        ));
    }
    drop(listener);
    info!("stopped accepting; draining open requests");
    tokio::select! {
        _ = graceful.shutdown() => info!("drained"),
        _ = tokio::time::sleep(limits.grace) => {
            warn!(grace_s = limits.grace.as_secs(), "grace period ran out; closing open connections")
        }
    }
}

/// One connection: its peer looked up and decided once, a place taken or
/// the connection closed, then its requests served.
async fn connection<H: Handler>(
    stream: TcpStream,
    addr: SocketAddr,
    state: Arc<H>,
    slots: Arc<Slots>,
    http: http1::Builder,
    watcher: Watcher,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let found = state.peers().lookup().lookup(addr, local).await;
    if let Err(busy @ PeerError::Busy { .. }) = &found {
        state.metrics().shed("lookup_busy");
        debug!(peer = %addr, reason = %busy, "connection shed");
        return;
    }
    let peer = state.peers().decide(addr, found);
    let _slot = match slots.admit(peer.uid, peer.is_owner) {
        Ok(slot) => slot,
        Err(shed) => {
            state.metrics().shed(shed.label());
            debug!(peer = %addr, uid = ?peer.uid, reason = %shed, "connection shed");
            return;
        }
    };
    debug!(peer = %addr, uid = ?peer.uid, "connection");
    let peer = Arc::new(peer);
    let service = service_fn(move |req| {
        let (state, peer) = (state.clone(), peer.clone());
        async move { Ok::<_, Infallible>(state.handle(peer, req).await) }
    });
    let conn = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
    if let Err(e) = conn.await {
        debug!(peer = %addr, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket_table::netlink;

    #[tokio::test]
    async fn a_listener_is_bound_with_the_sized_backlog() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(netlink::listen_backlog(addr).unwrap(), LISTEN_BACKLOG);
        let six = bind("[::1]:0".parse().unwrap());
        if let Ok(six) = six {
            let addr = six.local_addr().unwrap();
            assert_eq!(netlink::listen_backlog(addr).unwrap(), LISTEN_BACKLOG);
        }
    }
}
