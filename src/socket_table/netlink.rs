//! One exact `SOCK_DIAG_BY_FAMILY` lookup: the kernel finds the one socket
//! by its two addresses, so the cost does not grow with the socket table.

use std::io;
use std::net::{IpAddr, SocketAddr};

use rustix::net::netlink::{SOCK_DIAG, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

use super::{Socket, State};

pub(super) const NLMSG_HDRLEN: usize = 16;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLM_F_REQUEST: u16 = 1;
pub(super) const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `sizeof(struct inet_diag_req_v2)`.
const REQ_LEN: usize = 56;
/// Offsets in `struct inet_diag_msg`: `idiag_state`, `idiag_wqueue` (for a
/// listener: its backlog), `idiag_uid`, `idiag_inode`.
pub(super) const MSG_STATE_OFFSET: usize = 1;
pub(super) const MSG_WQUEUE_OFFSET: usize = 60;
pub(super) const MSG_UID_OFFSET: usize = 64;
pub(super) const MSG_INODE_OFFSET: usize = 68;
pub(super) const AF_INET: u8 = 2;
pub(super) const AF_INET6: u8 = 10;
pub(super) const IPPROTO_TCP: u8 = 6;
/// Room for one `inet_diag_msg` (72 bytes) or an error, with its header.
const ANSWER_BYTES: usize = 512;

/// The socket whose local end is `local` and remote end is `remote` (port
/// 0: the listener on `local`). `NotFound` when the kernel has none.
pub fn find(local: SocketAddr, remote: SocketAddr) -> io::Result<Socket> {
    ask(local, remote).map(|(socket, _)| socket)
}

/// The backlog of the listener on `local`, as the kernel holds it.
pub fn listen_backlog(local: SocketAddr) -> io::Result<u32> {
    let remote = super::unspecified_like(local.ip());
    match ask(local, remote)? {
        (socket, backlog) if socket.state == State::LISTEN => Ok(backlog),
        _ => Err(io::ErrorKind::NotFound.into()),
    }
}

fn ask(local: SocketAddr, remote: SocketAddr) -> io::Result<(Socket, u32)> {
    let fd = rustix::net::socket(AddressFamily::NETLINK, SocketType::DGRAM, Some(SOCK_DIAG))?;
    let request = diag_request(local, remote);
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

/// The request for the socket whose local end is `local` and whose remote
/// end is `remote`.
pub(super) fn diag_request(local: SocketAddr, remote: SocketAddr) -> Vec<u8> {
    let total = NLMSG_HDRLEN + REQ_LEN;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    // A v4-mapped address is an IPv4 socket as far as the TCP tables go; the
    // kernel's lookup also finds a dual-stack socket connected that way.
    let (local_ip, remote_ip) = (local.ip().to_canonical(), remote.ip().to_canonical());
    let family = if local_ip.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    };
    m.extend_from_slice(&[family, IPPROTO_TCP, 0, 0]);
    m.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    // struct inet_diag_sockid: ports and addresses in network order.
    m.extend_from_slice(&local.port().to_be_bytes());
    m.extend_from_slice(&remote.port().to_be_bytes());
    m.extend_from_slice(&address_bytes(local_ip));
    m.extend_from_slice(&address_bytes(remote_ip));
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

/// The socket of an `inet_diag_msg` and its write queue (a listener's
/// backlog), or the errno of an `NLMSG_ERROR`.
pub(super) fn parse_diag_answer(answer: &[u8]) -> io::Result<(Socket, u32)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "short sock_diag answer");
    let header = answer.get(..NLMSG_HDRLEN).ok_or_else(bad)?;
    let kind = u16::from_ne_bytes([header[4], header[5]]);
    let body = &answer[NLMSG_HDRLEN..];
    let word = |at: usize| -> io::Result<u32> {
        let b = body.get(at..at + 4).ok_or_else(bad)?;
        Ok(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    if kind == NLMSG_ERROR {
        let errno = word(0)? as i32;
        return Err(io::Error::from_raw_os_error(errno.saturating_neg()));
    }
    if kind != SOCK_DIAG_BY_FAMILY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected sock_diag message type {kind}"),
        ));
    }
    let socket = Socket {
        uid: word(MSG_UID_OFFSET)?,
        state: State(*body.get(MSG_STATE_OFFSET).ok_or_else(bad)?),
        inode: u64::from(word(MSG_INODE_OFFSET)?),
    };
    Ok((socket, word(MSG_WQUEUE_OFFSET)?))
}
