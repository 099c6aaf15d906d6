//! Which local Unix user holds the other end of a TCP connection.
//!
//! Owns the lookup only; what a uid may do is decided in `auth`. The kernel
//! is asked about the client's socket ([`crate::socket_table`]): by one
//! exact `sock_diag` netlink lookup (about 10 µs) where netlink is allowed,
//! else from `/proc/net/tcp{,6}` ([`LookupMode`], `GRANTD_PEER_LOOKUP`).
//!
//! A `/proc` read costs in proportion to the host's whole socket table, so
//! those lookups never each read the table: they wait in one bounded queue
//! ([`MAX_PROC_WAITING`]), and one task answers everything waiting with one
//! pass over the table, stopping once it has found every row. A flood of
//! connections then costs a few passes, not one per connection, and the
//! owner's connection waits for at most the pass under way and its own. A
//! connection that finds the queue full is [`PeerError::Busy`] and is closed
//! at once, before any table read.
//!
//! A peer the kernel has no socket for is not on this host (or this network
//! namespace): [`PeerError::NotLocal`]. A socket no process holds any more
//! (closed, `TIME_WAIT`) is listed as uid 0 or as a uid nobody answers for:
//! [`PeerError::Gone`], never a uid.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::socket_table::{self, Socket, Source, procfs};

/// Why the owner of a connection is not known.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No socket of this host is the client end: a remote client, or one in
    /// another network namespace.
    #[error("no socket of this host is the other end of the connection from {peer}")]
    NotLocal { peer: SocketAddr },
    /// The client's socket is no process's any more: it was closed (or is in
    /// `TIME_WAIT`) before the daemon looked.
    #[error(
        "the connection from {peer} was closed by its process before its user was found (state {state})"
    )]
    Gone {
        peer: SocketAddr,
        state: &'static str,
    },
    /// Too many `/proc` lookups are waiting; the connection is shed unread.
    #[error(
        "too many connections are waiting for their user to be found; closing the one from {peer}"
    )]
    Busy { peer: SocketAddr },
    /// Neither netlink nor `/proc/net/tcp*` could be asked.
    #[error("cannot look up who holds the connection from {peer}")]
    Lookup {
        peer: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// How peers are looked up (`GRANTD_PEER_LOOKUP`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LookupMode {
    /// Netlink when the kernel allows it (checked at start), else `/proc`;
    /// a connection whose netlink lookup fails is looked up in `/proc`.
    #[default]
    Auto,
    /// Netlink only: a failed lookup refuses the connection.
    Netlink,
    /// `/proc/net/tcp{,6}` only: for hosts that filter netlink, and tests.
    Proc,
}

impl LookupMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LookupMode::Auto => "auto",
            LookupMode::Netlink => "netlink",
            LookupMode::Proc => "proc",
        }
    }

    pub fn parse(text: &str) -> Option<LookupMode> {
        match text {
            "auto" => Some(LookupMode::Auto),
            "netlink" => Some(LookupMode::Netlink),
            "proc" => Some(LookupMode::Proc),
            _ => None,
        }
    }
}

/// Most `/proc` lookups waiting for the next pass over the table; a
/// connection that finds this many waiting is closed at once. Defaults to
/// 1,024, the listen backlog: a flood of other users is shed here, before
/// any table read, while the owner's connection, found by the next pass,
/// waits a few milliseconds.
pub const MAX_PROC_WAITING: usize = 1024;

/// One daemon's peer lookup; cheap to clone, shared by its listeners.
#[derive(Clone, Debug)]
pub struct PeerLookup {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Where lookups go: netlink or `/proc` (decided by [`PeerLookup::start`]).
    source: Source,
    /// Whether a failed netlink lookup is retried in `/proc` (`auto`).
    fall_back: bool,
    /// Most `/proc` lookups waiting: [`MAX_PROC_WAITING`] but in tests.
    max_waiting: usize,
    /// The queue of the `/proc` pass task, started by the first `/proc`
    /// lookup (it needs the runtime).
    proc_queue: OnceLock<mpsc::Sender<Wanted>>,
}

/// One connection waiting for a `/proc` pass.
struct Wanted {
    peer: SocketAddr,
    local: SocketAddr,
    answer: oneshot::Sender<io::Result<Option<Socket>>>,
}

/// What [`PeerLookup::start`] found: where lookups go, and why.
#[derive(Debug)]
pub struct Started {
    pub lookup: PeerLookup,
    /// Why netlink is not used, when `auto` found it refused.
    pub netlink_refused: Option<io::Error>,
}

impl PeerLookup {
    /// A lookup that asks `source`, as tests and the demo want it.
    pub fn new(mode: LookupMode) -> PeerLookup {
        let source = match mode {
            LookupMode::Proc => Source::Proc,
            _ => Source::Netlink,
        };
        PeerLookup::with(source, mode == LookupMode::Auto)
    }

    fn with(source: Source, fall_back: bool) -> PeerLookup {
        PeerLookup {
            inner: Arc::new(Inner {
                source,
                fall_back,
                max_waiting: MAX_PROC_WAITING,
                proc_queue: OnceLock::new(),
            }),
        }
    }

    /// The lookup of a daemon listening on `listening`, checked once by
    /// finding that listener itself: `auto` uses netlink when that works and
    /// `/proc` otherwise. An error when the chosen interface cannot be asked
    /// (then no peer could ever be served).
    pub fn start(mode: LookupMode, listening: SocketAddr) -> io::Result<Started> {
        let remote = socket_table::unspecified_like(listening.ip());
        let probe = |source: Source| source.find(listening, remote).map(|_| ());
        match mode {
            LookupMode::Netlink | LookupMode::Proc => {
                let lookup = PeerLookup::new(mode);
                probe(lookup.source())?;
                Ok(Started {
                    lookup,
                    netlink_refused: None,
                })
            }
            LookupMode::Auto => match probe(Source::Netlink) {
                Ok(()) => Ok(Started {
                    lookup: PeerLookup::new(LookupMode::Auto),
                    netlink_refused: None,
                }),
                Err(refused) => {
                    probe(Source::Proc)?;
                    Ok(Started {
                        lookup: PeerLookup::with(Source::Proc, false),
                        netlink_refused: Some(refused),
                    })
                }
            },
        }
    }

    /// Where lookups go.
    pub fn source(&self) -> Source {
        self.inner.source
    }

    /// The uid holding the client socket `peer` that connected to our `local`.
    pub async fn lookup(&self, peer: SocketAddr, local: SocketAddr) -> Result<u32, PeerError> {
        let found = match self.inner.source {
            Source::Proc => self.ask_proc(peer, local).await?,
            Source::Netlink => match socket_table::netlink::find(peer, local) {
                Err(e) if self.inner.fall_back && e.kind() != io::ErrorKind::NotFound => {
                    debug!(error = %e, "netlink lookup failed; asking /proc");
                    self.ask_proc(peer, local).await?
                }
                found => found,
            },
        };
        match found {
            Ok(socket) if socket.held() => Ok(socket.uid),
            Ok(socket) => Err(PeerError::Gone {
                peer,
                state: socket.state.name(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(PeerError::NotLocal { peer }),
            Err(source) => Err(PeerError::Lookup { peer, source }),
        }
    }

    /// The client socket from the next `/proc` pass; `Busy` when the queue
    /// is full.
    async fn ask_proc(
        &self,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Result<io::Result<Socket>, PeerError> {
        let queue = self.inner.proc_queue.get_or_init(|| {
            let (queue, waiting) = mpsc::channel(self.inner.max_waiting);
            tokio::spawn(proc_passes(waiting, self.inner.max_waiting));
            queue
        });
        let (answer, answered) = oneshot::channel();
        queue
            .try_send(Wanted {
                peer,
                local,
                answer,
            })
            .map_err(|_| PeerError::Busy { peer })?;
        Ok(match answered.await {
            Ok(Ok(Some(socket))) => Ok(socket),
            Ok(Ok(None)) => Err(io::ErrorKind::NotFound.into()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the /proc lookup task stopped")),
        })
    }
}

/// Answers every waiting lookup with one pass over the tables, then the
/// next batch; ends when every [`PeerLookup`] is gone.
async fn proc_passes(mut waiting: mpsc::Receiver<Wanted>, most: usize) {
    let mut batch = Vec::new();
    while waiting.recv_many(&mut batch, most).await > 0 {
        // A connection that ended while it waited needs no answer.
        batch.retain(|w| !w.answer.is_closed());
        let wanted: Vec<_> = batch.iter().map(|w| (w.peer, w.local)).collect();
        let found = tokio::task::spawn_blocking(move || procfs::find_many(&wanted))
            .await
            .unwrap_or_else(|join| Err(io::Error::other(join)));
        match found {
            Ok(found) => {
                for (w, socket) in batch.drain(..).zip(found) {
                    let _ = w.answer.send(Ok(socket));
                }
            }
            Err(e) => {
                for w in batch.drain(..) {
                    let _ = w.answer.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
            }
        }
    }
}

/// The netlink lookup of the client socket `peer` connected to `local`:
/// its uid, whatever its state (for `benches/peer.rs`).
pub fn netlink_owner(peer: SocketAddr, local: SocketAddr) -> io::Result<u32> {
    socket_table::netlink::find(peer, local).map(|s| s.uid)
}

/// The same through `/proc/net/tcp{,6}`.
pub fn proc_owner(peer: SocketAddr, local: SocketAddr) -> io::Result<u32> {
    procfs::find(peer, local).map(|s| s.uid)
}

#[cfg(test)]
mod tests;
