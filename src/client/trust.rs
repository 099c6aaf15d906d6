//! Whom a client sends the token to: only a listener of its own user or
//! of root.
//!
//! While grantd is down (between a crash and a restart, in a supervisor's
//! backoff, before a job's daemon has bound), any local user can listen on
//! its port. A client that connected there and sent the token would hand it
//! to that user, and would print or act on whatever credentials came back.
//! So before a client sends anything, it asks the kernel who holds the
//! other end of its connection ([`crate::socket_table`], netlink or
//! `/proc`, as the daemon's own peer check does): the daemon's accepted
//! socket, or, while the handshake is not finished on the daemon's side,
//! the listener it will be accepted from. That socket must belong to this
//! user or to root; outside the initial user namespace, the overflow uid
//! (every user the namespace cannot map) is no one's.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::ClientError;
use crate::config::Settings;
use crate::server::peer::LookupMode;
use crate::socket_table::{self, Socket, Source, State};
use crate::userns::{self, UserNamespace};

/// Who may listen where the client sends the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trust {
    /// This process's user; root is trusted too.
    uid: u32,
    /// The uid that stands for users this namespace cannot map: trusted never.
    unknown: Option<u32>,
    lookup: LookupMode,
}

impl Trust {
    /// A client with `settings`: this user or root, found through the
    /// daemon's `GRANTD_PEER_LOOKUP`.
    pub fn of(settings: &Settings) -> Trust {
        let uid = grantd_common::fs::own_uid();
        let ns = UserNamespace::current();
        Trust {
            uid,
            unknown: userns::unknown_peer_uid(&ns, uid, settings.server.allow_overflow_uid),
            lookup: settings.server.peer_lookup,
        }
    }

    /// A daemon of this user or root, found as `auto` finds it (the demo's).
    pub fn own() -> Trust {
        let uid = grantd_common::fs::own_uid();
        Trust {
            uid,
            unknown: userns::unknown_peer_uid(&UserNamespace::current(), uid, false),
            lookup: LookupMode::Auto,
        }
    }

    fn trusts(&self, uid: u32) -> bool {
        Some(uid) != self.unknown && (uid == self.uid || uid == 0)
    }

    /// `Ok` when the other end of `stream`, dialled at `addr`, belongs to
    /// this user or root.
    pub fn check(&self, addr: SocketAddr, stream: &TcpStream) -> Result<(), ClientError> {
        let unknown = |source| ClientError::UnknownListener { addr, source };
        let ours = stream.local_addr().map_err(unknown)?;
        let theirs = stream.peer_addr().map_err(unknown)?;
        let found = match self.lookup {
            LookupMode::Netlink => holder(Source::Netlink, theirs, ours),
            LookupMode::Proc => holder(Source::Proc, theirs, ours),
            LookupMode::Auto => match holder(Source::Netlink, theirs, ours) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => holder(Source::Proc, theirs, ours),
                found => found,
            },
        };
        match found {
            Ok(socket) if self.trusts(socket.uid) => Ok(()),
            Ok(socket) => Err(ClientError::UntrustedListener {
                addr,
                uid: socket.uid,
                own: self.uid,
            }),
            Err(source) => Err(unknown(source)),
        }
    }
}

/// The socket that receives what we send on our connection from `ours` to
/// `theirs`: the daemon's end of it, or the listener it is queued on while
/// the handshake is unfinished there (the kernel lists no owner for such a
/// connection). Anything else (an end already closed or in `TIME_WAIT`,
/// which the kernel lists as uid 0) says nothing of who is there.
fn holder(source: Source, theirs: SocketAddr, ours: SocketAddr) -> io::Result<Socket> {
    let end = source.find(theirs, ours)?;
    let socket = if end.state.is_request() {
        source.find(theirs, socket_table::unspecified_like(theirs.ip()))?
    } else {
        end
    };
    match socket.state {
        State::ESTABLISHED | State::LISTEN => Ok(socket),
        other => Err(io::Error::other(format!(
            "the daemon's end of the connection is {}",
            other.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(uid: u32, unknown: Option<u32>) -> Trust {
        Trust {
            uid,
            unknown,
            lookup: LookupMode::Auto,
        }
    }

    #[test]
    fn this_user_and_root_are_trusted_and_nobody_else() {
        let t = trust(1000, None);
        assert!(t.trusts(1000) && t.trusts(0));
        assert!(!t.trusts(1001) && !t.trusts(65_534));
        // In a user namespace, the overflow uid is no one in particular.
        let t = trust(65_534, Some(65_534));
        assert!(!t.trusts(65_534));
        assert!(t.trusts(0));
    }

    #[tokio::test]
    async fn a_listener_of_our_own_is_trusted_in_every_mode() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Not accepted yet: the daemon's end is a child of the listener.
        let stream = TcpStream::connect(addr).await.unwrap();
        for lookup in [LookupMode::Auto, LookupMode::Netlink, LookupMode::Proc] {
            let own = Trust {
                lookup,
                ..trust(grantd_common::fs::own_uid(), None)
            };
            own.check(addr, &stream).unwrap();
            // Someone else does not trust us.
            let other = Trust {
                lookup,
                ..trust(4242, None)
            };
            if grantd_common::fs::own_uid() != 0 {
                let e = other.check(addr, &stream).unwrap_err();
                assert!(matches!(e, ClientError::UntrustedListener { .. }), "{e:?}");
            }
        }
        let (_accepted, _) = listener.accept().await.unwrap();
        Trust::own().check(addr, &stream).unwrap();
    }

    #[test]
    fn a_request_socket_is_judged_by_its_listener() {
        // The kernel lists a connection the listener has not finished
        // accepting with uid 0 (root) through netlink: never taken as is.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let ours = client.local_addr().unwrap();
        for source in [Source::Netlink, Source::Proc] {
            let socket = holder(source, addr, ours).unwrap();
            assert_eq!(socket.uid, grantd_common::fs::own_uid());
        }
    }
}
