//! The kernel's table of TCP sockets, asked about one socket at a time: who
//! owns it, and whether a process still holds it.
//!
//! Both ends of a loopback connection are sockets of this host, so the
//! kernel can say who owns either end. The daemon asks about the client's
//! end of each connection it accepts (`server::peer`); the client commands
//! ask about the daemon's end before they send the token (`client`). Two
//! ways to ask, with the same answers: the `sock_diag` netlink interface
//! ([`netlink`], one exact lookup, about 10 µs whatever the size of the
//! table), and `/proc/net/tcp{,6}` ([`procfs`], a read of the whole table,
//! for hosts where netlink is filtered).
//!
//! The answer is a [`Socket`]: its owner's uid, its state and its inode. The
//! uid alone is not enough: a socket no process holds any more (one in
//! `TIME_WAIT`, or closed by its process and finishing its shutdown) is
//! listed with uid 0 or with the uid of a process that is gone, so only a
//! [`Socket::held`] socket tells who is at the other end.

use std::io;
use std::net::{IpAddr, SocketAddr};

pub mod netlink;
pub mod procfs;

/// A TCP state as the kernel numbers it (`include/net/tcp_states.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State(pub u8);

impl State {
    pub const ESTABLISHED: State = State(1);
    pub const SYN_SENT: State = State(2);
    pub const SYN_RECV: State = State(3);
    pub const FIN_WAIT1: State = State(4);
    pub const FIN_WAIT2: State = State(5);
    pub const TIME_WAIT: State = State(6);
    pub const CLOSE: State = State(7);
    pub const CLOSE_WAIT: State = State(8);
    pub const LAST_ACK: State = State(9);
    pub const LISTEN: State = State(10);
    pub const CLOSING: State = State(11);
    /// A connection the listener has not finished accepting (a request socket).
    pub const NEW_SYN_RECV: State = State(12);

    /// The kernel's name, for logs.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "ESTABLISHED",
            2 => "SYN_SENT",
            3 => "SYN_RECV",
            4 => "FIN_WAIT1",
            5 => "FIN_WAIT2",
            6 => "TIME_WAIT",
            7 => "CLOSE",
            8 => "CLOSE_WAIT",
            9 => "LAST_ACK",
            10 => "LISTEN",
            11 => "CLOSING",
            12 => "NEW_SYN_RECV",
            _ => "UNKNOWN",
        }
    }

    /// A request socket: the handshake is not finished on the listener's
    /// side, and the kernel lists no owner for it (uid 0 through netlink,
    /// the listener's through `/proc`).
    pub fn is_request(self) -> bool {
        self == State::SYN_RECV || self == State::NEW_SYN_RECV
    }
}

/// One row of the socket table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    /// The owner as the kernel lists it, in the reader's user namespace.
    pub uid: u32,
    pub state: State,
    /// The socket's inode; 0 once no process holds it (closed, orphaned,
    /// `TIME_WAIT`) and for a connection not yet accepted.
    pub inode: u64,
}

impl Socket {
    /// Whether a process still holds this socket, so that its uid is the
    /// uid of whoever is at that end. A `TIME_WAIT` socket is listed as
    /// uid 0, and a socket its process has closed keeps a uid nobody
    /// answers for: neither says who holds the connection.
    pub fn held(&self) -> bool {
        self.inode != 0
            && !self.state.is_request()
            && !matches!(self.state, State::TIME_WAIT | State::CLOSE)
    }
}

/// Which interface to ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Netlink,
    Proc,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Netlink => "netlink",
            Source::Proc => "proc",
        }
    }

    /// The socket whose local end is `local` and remote end is `remote`;
    /// `NotFound` when the kernel has none. A `remote` of port 0 asks for
    /// the listener on `local`.
    pub fn find(self, local: SocketAddr, remote: SocketAddr) -> io::Result<Socket> {
        match self {
            Source::Netlink => netlink::find(local, remote),
            Source::Proc if remote.port() == 0 => procfs::find_listener(local),
            Source::Proc => procfs::find(local, remote),
        }
    }
}

/// The unspecified address of `ip`'s family, port 0: the "remote end" of a
/// listening socket.
pub fn unspecified_like(ip: IpAddr) -> SocketAddr {
    match ip.to_canonical() {
        IpAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        IpAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}

#[cfg(test)]
#[path = "socket_table/tests.rs"]
mod tests;
