//! Which local Unix user holds the other end of a TCP connection.
//!
//! Owns the kernel lookup only; what a uid may do is decided in `auth`.
//! Both ends of a loopback connection are sockets of this host, so the
//! kernel knows the client's socket and its owner. We ask the `sock_diag`
//! netlink interface for the one socket whose local address is the peer's
//! and whose remote address is ours: an exact lookup, not a dump, so its
//! cost (about 10 µs) does not grow with the number of sockets on the host.
//! Where netlink is unavailable (some sandboxes filter it) the same row is
//! read from `/proc/net/tcp` and `/proc/net/tcp6`, whose cost grows with the
//! socket table (milliseconds), off the async workers and a few at a time.
//!
//! A peer the kernel has no socket for is not on this host (or this network
//! namespace), or has already gone: [`PeerError::NotLocal`].

use std::io;
use std::net::{IpAddr, SocketAddr};

use rustix::net::netlink::{SOCK_DIAG, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};
use tokio::sync::Semaphore;

/// Why the owner of a connection is not known.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No socket of this host is the client end: a remote client, one in
    /// another network namespace, or one that has already closed.
    #[error("no socket of this host is the other end of the connection from {peer}")]
    NotLocal { peer: SocketAddr },
    /// Neither netlink nor `/proc/net/tcp*` could be asked.
    #[error("cannot look up who holds the connection from {peer}")]
    Lookup {
        peer: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// Most `/proc/net/tcp*` reads at once. Each reads the whole socket table,
/// so a flood of connections while netlink is unavailable must queue here
/// instead of filling the blocking pool. Defaults to 2.
pub const MAX_PROC_READS: usize = 2;

static PROC_READS: Semaphore = Semaphore::const_new(MAX_PROC_READS);

/// The uid owning the client socket `peer` connected to our socket `local`.
/// The netlink lookup runs inline (it is a few syscalls); the `/proc`
/// fallback runs on the blocking pool.
pub async fn lookup(peer: SocketAddr, local: SocketAddr) -> Result<u32, PeerError> {
    let found = match netlink_owner(peer, local) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            let _permit = PROC_READS.acquire().await;
            tokio::task::spawn_blocking(move || proc_owner(peer, local))
                .await
                .unwrap_or_else(|join| Err(io::Error::other(join)))
        }
        found => found,
    };
    found.map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => PeerError::NotLocal { peer },
        _ => PeerError::Lookup { peer, source },
    })
}

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `sizeof(struct inet_diag_req_v2)`.
const REQ_LEN: usize = 56;
/// Offset of `idiag_uid` in `struct inet_diag_msg`.
const MSG_UID_OFFSET: usize = 64;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
/// Room for one `inet_diag_msg` (72 bytes) or an error, with its header.
const ANSWER_BYTES: usize = 512;

/// One exact `SOCK_DIAG_BY_FAMILY` request and its answer. `NotFound` when
/// the kernel has no such socket.
pub fn netlink_owner(peer: SocketAddr, local: SocketAddr) -> io::Result<u32> {
    let fd = rustix::net::socket(AddressFamily::NETLINK, SocketType::DGRAM, Some(SOCK_DIAG))?;
    let request = diag_request(peer, local);
    rustix::net::sendto(
        &fd,
        &request,
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    let mut answer = [0u8; ANSWER_BYTES];
    let n = rustix::net::recv(&fd, &mut answer, RecvFlags::empty())?.0;
    parse_diag_answer(&answer[..n.min(ANSWER_BYTES)])
}

/// The request for the client's socket: its local end is `peer`, its
/// remote end is our `local`.
fn diag_request(peer: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let total = NLMSG_HDRLEN + REQ_LEN;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    // A v4-mapped peer is an IPv4 socket as far as the TCP tables go; the
    // kernel's lookup also finds a dual-stack socket connected that way.
    let (peer_ip, local_ip) = (peer.ip().to_canonical(), local.ip().to_canonical());
    let family = if peer_ip.is_ipv4() { AF_INET } else { AF_INET6 };
    m.extend_from_slice(&[family, IPPROTO_TCP, 0, 0]);
    m.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    // struct inet_diag_sockid: ports and addresses in network order.
    m.extend_from_slice(&peer.port().to_be_bytes());
    m.extend_from_slice(&local.port().to_be_bytes());
    m.extend_from_slice(&address_bytes(peer_ip));
    m.extend_from_slice(&address_bytes(local_ip));
    m.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    m.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
    debug_assert_eq!(m.len(), total);
    m
}

fn address_bytes(ip: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out = v6.octets(),
    }
    out
}

/// The uid of an `inet_diag_msg`, or the errno of an `NLMSG_ERROR`.
fn parse_diag_answer(answer: &[u8]) -> io::Result<u32> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "short sock_diag answer");
    let header = answer.get(..NLMSG_HDRLEN).ok_or_else(bad)?;
    let kind = u16::from_ne_bytes([header[4], header[5]]);
    let body = &answer[NLMSG_HDRLEN..];
    if kind == NLMSG_ERROR {
        let code = body.get(..4).ok_or_else(bad)?;
        let errno = i32::from_ne_bytes([code[0], code[1], code[2], code[3]]);
        return Err(io::Error::from_raw_os_error(errno.saturating_neg()));
    }
    if kind != SOCK_DIAG_BY_FAMILY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected sock_diag message type {kind}"),
        ));
    }
    let uid = body
        .get(MSG_UID_OFFSET..MSG_UID_OFFSET + 4)
        .ok_or_else(bad)?;
    Ok(u32::from_ne_bytes([uid[0], uid[1], uid[2], uid[3]]))
}

/// The same lookup through `/proc/net/tcp{,6}`. `NotFound` when no row matches.
pub fn proc_owner(peer: SocketAddr, local: SocketAddr) -> io::Result<u32> {
    let (peer_ip, local_ip) = (peer.ip().to_canonical(), local.ip().to_canonical());
    let tables: &[&str] = if peer_ip.is_ipv4() {
        // A dual-stack client socket lists v4-mapped addresses in tcp6.
        &["/proc/net/tcp", "/proc/net/tcp6"]
    } else {
        &["/proc/net/tcp6"]
    };
    for table in tables {
        let v6 = table.ends_with('6');
        let want_local = proc_address(peer_ip, peer.port(), v6);
        let want_remote = proc_address(local_ip, local.port(), v6);
        let text = match std::fs::read_to_string(table) {
            Ok(text) => text,
            // A kernel without IPv6 has no tcp6 table; nothing to find there.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if let Some(uid) = proc_find(&text, &want_local, &want_remote) {
            return Ok(uid);
        }
    }
    Err(io::ErrorKind::NotFound.into())
}

/// How the kernel prints an address: each 32-bit word of the address in
/// memory as a native-endian hex number, then the port in hex.
fn proc_address(ip: IpAddr, port: u16, v6_table: bool) -> String {
    use std::fmt::Write;
    let bytes: Vec<u8> = match (ip, v6_table) {
        (IpAddr::V4(v4), false) => v4.octets().to_vec(),
        (IpAddr::V4(v4), true) => v4.to_ipv6_mapped().octets().to_vec(),
        (IpAddr::V6(v6), _) => v6.octets().to_vec(),
    };
    let mut out = String::with_capacity(38);
    for word in bytes.chunks_exact(4) {
        let n = u32::from_ne_bytes([word[0], word[1], word[2], word[3]]);
        let _ = write!(out, "{n:08X}");
    }
    let _ = write!(out, ":{port:04X}");
    out
}

/// The uid column of the row whose local and remote addresses are these.
fn proc_find(text: &str, local: &str, remote: &str) -> Option<u32> {
    text.lines().skip(1).find_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (_slot, l, r) = (fields.next()?, fields.next()?, fields.next()?);
        if l != local || r != remote {
            return None;
        }
        // st tx_queue:rx_queue tr:tm->when retrnsmt uid
        fields.nth(4)?.parse().ok()
    })
}

#[cfg(test)]
mod tests;
