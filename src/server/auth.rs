//! Who may ask: the peer's Unix user, the Host check, the bearer token, and
//! why an IMDS session is refused.
//!
//! Owns the checks that come before any credential is looked up, and the one
//! decision of which local users may be served ([`PeerPolicy::decide`]): the
//! daemon's own user and the uids named in `allowed_uids`. The peer's uid is
//! found once per connection (by `peer`); whether that uid may be served is
//! asked on every request, of the uids in force then ([`AllowedUids`], which
//! `grantd reload` swaps whole), so a uid taken out of `allowed_uids` is
//! refused on a connection it already holds. A peer whose uid is unknown (a
//! remote client with `--allow-remote`, or a failed lookup) is refused, so a
//! lookup failure never opens a door. The
//! check guards against DNS rebinding (a browser tricked into calling us
//! sends its own site as Host); the token is compared in constant time by
//! [`Token::matches`]. IMDS sessions are kept by `imds`, which reports a
//! refused session here as an [`AuthError`] so that `response` maps every
//! refusal in one place.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use hyper::HeaderMap;
use hyper::header;
use tracing::{debug, warn};

use super::peer::{LookupMode, PeerError, PeerLookup};
use crate::token::Token;

/// Why a request is not allowed to ask.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "Unix user {uid} may not get credentials from this daemon, which serves uid {owner}; \
         to allow it, add {uid} to allowed_uids (GRANTD_ALLOWED_UIDS, --allowed-uids)"
    )]
    PeerNotAllowed { uid: u32, owner: u32 },
    #[error(
        "grantd cannot tell which local user holds this connection, so it serves no credentials \
         on it; connect over loopback from this host"
    )]
    PeerUnknown,
    #[error("Host header must name a loopback address")]
    NonLoopbackHost,
    #[error(
        "send the grantd token in the Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, or AWS_CONTAINER_AUTHORIZATION_TOKEN for Java SDK v1 (Hadoop 3.3)"
    )]
    MissingToken,
    #[error("the Authorization token is not this daemon's")]
    InvalidToken,
    #[error("missing X-aws-ec2-metadata-token; PUT /latest/api/token first")]
    MissingSession,
    #[error("the metadata token has expired")]
    ExpiredSession,
    #[error("unknown metadata token")]
    UnknownSession,
    /// As on EC2: a request relayed through a proxy must not mint a session.
    #[error("requests carrying X-Forwarded-For are refused")]
    Forwarded,
}

/// The users besides the owner who may be served: the part of the peer
/// policy a reload changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedUids {
    /// `allowed_uids`: may get grant credentials.
    pub credentials: BTreeSet<u32>,
    /// `base_allowed_uids`: may also get the base identity (they must be in
    /// `credentials` too, as the owner is).
    pub base: BTreeSet<u32>,
}

/// Who may be served credentials: the daemon's own user and the allowed uids.
#[derive(Clone, Debug)]
pub struct PeerPolicy {
    owner: u32,
    /// Shared by every clone of the policy and every peer decided by it;
    /// swapped whole by [`PeerPolicy::set_allowed`].
    allowed: Arc<ArcSwap<AllowedUids>>,
    /// The uid the kernel gives every user this user namespace cannot map
    /// (the overflow uid, outside the initial namespace): such a peer is
    /// unknown, whoever it is. `None` in the initial namespace.
    unmapped: Option<u32>,
    /// How each connection's uid is found.
    lookup: PeerLookup,
}

/// One connection's peer: its uid, found once at accept, and the allowed
/// uids it is checked against on each request.
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    /// `None` when the kernel could not tell (see [`PeerError`]).
    pub uid: Option<u32>,
    /// The daemon's own user: exempt from the per-user connection cap.
    pub is_owner: bool,
    owner: u32,
    allowed: Arc<ArcSwap<AllowedUids>>,
}

impl PeerPolicy {
    pub fn new(owner: u32, allowed: impl IntoIterator<Item = u32>) -> PeerPolicy {
        PeerPolicy {
            owner,
            allowed: Arc::new(ArcSwap::from_pointee(AllowedUids {
                credentials: allowed.into_iter().collect(),
                base: BTreeSet::new(),
            })),
            unmapped: None,
            lookup: PeerLookup::new(LookupMode::Auto),
        }
    }

    /// Users in `base` may also be served the base identity.
    pub fn with_base(self, base: impl IntoIterator<Item = u32>) -> PeerPolicy {
        let mut allowed = AllowedUids::clone(&self.allowed.load());
        allowed.base = base.into_iter().collect();
        self.set_allowed(allowed);
        self
    }

    /// Peers whose uid is `unmapped` are unknown (see the field).
    pub fn with_unmapped(mut self, unmapped: Option<u32>) -> PeerPolicy {
        self.unmapped = unmapped;
        self
    }

    /// Connections' uids are found through `lookup`.
    pub fn with_lookup(mut self, lookup: PeerLookup) -> PeerPolicy {
        self.lookup = lookup;
        self
    }

    pub fn owner(&self) -> u32 {
        self.owner
    }

    pub fn lookup(&self) -> &PeerLookup {
        &self.lookup
    }

    /// The users allowed now besides the owner.
    pub fn allowed(&self) -> Arc<AllowedUids> {
        self.allowed.load_full()
    }

    /// Puts `allowed` in force for every connection, open ones included,
    /// from their next request.
    pub fn set_allowed(&self, allowed: AllowedUids) {
        self.allowed.store(Arc::new(allowed));
    }

    /// The peer of the connection from `addr`, whose uid lookup gave `uid`.
    /// An uid that cannot be known (a failed lookup, the overflow uid) is
    /// `None`, and such a peer is never served.
    pub fn decide(&self, addr: SocketAddr, uid: Result<u32, PeerError>) -> Peer {
        let uid = match uid {
            Ok(uid) if Some(uid) == self.unmapped => {
                debug!(peer = %addr, uid, "peer's user is not mapped in this user namespace");
                None
            }
            Ok(uid) => Some(uid),
            Err(e) => {
                match &e {
                    PeerError::NotLocal { .. }
                    | PeerError::Gone { .. }
                    | PeerError::Busy { .. } => debug!(error = %e, "peer has no uid"),
                    PeerError::Lookup { .. } => {
                        warn!(error = %crate::report::Report(&e), "cannot find the peer's uid; refusing credentials to it")
                    }
                }
                None
            }
        };
        Peer {
            addr,
            uid,
            is_owner: uid == Some(self.owner),
            owner: self.owner,
            allowed: self.allowed.clone(),
        }
    }
}

impl Peer {
    /// `Ok` when this peer may be served credentials (and IMDS sessions)
    /// under the allowed uids in force now.
    pub fn check(&self) -> Result<(), AuthError> {
        match self.uid {
            _ if self.is_owner => Ok(()),
            None => Err(AuthError::PeerUnknown),
            Some(uid) if self.allowed.load().credentials.contains(&uid) => Ok(()),
            Some(uid) => Err(AuthError::PeerNotAllowed {
                uid,
                owner: self.owner,
            }),
        }
    }

    /// The owner or an allowed user: sees the full `/metrics` and `/readyz`
    /// and may keep its connection alive.
    pub fn trusted(&self) -> bool {
        self.check().is_ok()
    }

    /// The owner, or an allowed user named in `base_allowed_uids` too.
    pub fn may_have_base(&self) -> bool {
        self.is_owner
            || (self.trusted()
                && self
                    .uid
                    .is_some_and(|uid| self.allowed.load().base.contains(&uid)))
    }
}

/// `Ok` when `Host` is absent (HTTP/1.0; a browser always sends it) or names
/// `localhost` or a loopback address, with or without a port.
pub fn check_host(headers: &HeaderMap) -> Result<(), AuthError> {
    let Some(host) = headers.get(header::HOST) else {
        return Ok(());
    };
    let Ok(host) = host.to_str() else {
        return Err(AuthError::NonLoopbackHost);
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    // The two names every client sends are compared first: parsing an
    // address costs more than the rest of the check, on every request.
    let loopback = name == "127.0.0.1"
        || name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(AuthError::NonLoopbackHost)
    }
}

/// The raw token in `Authorization`, exactly as the SDKs send it.
pub fn check_token(token: &Token, headers: &HeaderMap) -> Result<(), AuthError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::MissingToken)?;
    if token.matches(presented.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accepts_loopback_hosts_with_or_without_a_port() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:7911",
            "127.1.2.3:80",
            "localhost",
            "LOCALHOST:7911",
            "[::1]",
            "[::1]:7911",
        ] {
            assert_eq!(check_host(&with(header::HOST, host)), Ok(()), "{host}");
        }
        assert_eq!(check_host(&HeaderMap::new()), Ok(()), "no Host at all");
    }

    #[test]
    fn refuses_other_hosts() {
        for host in [
            "evil.example",
            "evil.example:7911",
            "10.0.0.1",
            "[::2]:80",
            "localhost.evil",
        ] {
            assert_eq!(
                check_host(&with(header::HOST, host)),
                Err(AuthError::NonLoopbackHost),
                "{host}"
            );
        }
    }

    #[test]
    fn the_token_must_be_present_and_exact() {
        let token = Token::new("right-token-right-token");
        assert_eq!(
            check_token(&token, &HeaderMap::new()),
            Err(AuthError::MissingToken)
        );
        for wrong in [
            "right-token-right-tokeN",
            "right-token",
            "Bearer right-token-right-token",
        ] {
            assert_eq!(
                check_token(&token, &with(header::AUTHORIZATION, wrong)),
                Err(AuthError::InvalidToken),
                "{wrong}"
            );
        }
        assert_eq!(
            check_token(
                &token,
                &with(header::AUTHORIZATION, "right-token-right-token")
            ),
            Ok(())
        );
    }

    fn addr() -> SocketAddr {
        "127.0.0.1:50000".parse().unwrap()
    }

    #[test]
    fn the_owner_and_allowed_users_may_get_credentials() {
        let policy = PeerPolicy::new(1000, [1001]);
        let owner = policy.decide(addr(), Ok(1000));
        assert_eq!(owner.check(), Ok(()));
        assert!(owner.trusted() && owner.is_owner);
        let allowed = policy.decide(addr(), Ok(1001));
        assert_eq!(allowed.check(), Ok(()));
        assert!(
            allowed.trusted() && !allowed.is_owner,
            "capped like any other user"
        );
    }

    #[test]
    fn another_user_is_refused_by_uid() {
        let peer = PeerPolicy::new(1000, [1001]).decide(addr(), Ok(65_534));
        assert_eq!(
            peer.check(),
            Err(AuthError::PeerNotAllowed {
                uid: 65_534,
                owner: 1000
            })
        );
        assert!(!peer.trusted());
        assert_eq!(peer.uid, Some(65_534));
    }

    #[test]
    fn allowed_uids_swapped_in_apply_to_peers_already_decided() {
        let policy = PeerPolicy::new(1000, [1001]).with_base([1001]);
        let kept = policy.clone();
        let allowed = policy.decide(addr(), Ok(1001));
        let other = policy.decide(addr(), Ok(1002));
        assert!(allowed.trusted() && allowed.may_have_base());
        assert!(!other.trusted());
        kept.set_allowed(AllowedUids {
            credentials: [1002].into(),
            base: BTreeSet::new(),
        });
        assert_eq!(
            allowed.check(),
            Err(AuthError::PeerNotAllowed {
                uid: 1001,
                owner: 1000
            })
        );
        assert!(!allowed.may_have_base());
        assert!(other.trusted() && !other.may_have_base());
        let owner = policy.decide(addr(), Ok(1000));
        assert!(owner.trusted() && owner.may_have_base());
        assert_eq!(policy.allowed().credentials, [1002].into());
    }

    #[test]
    fn a_peer_of_unknown_uid_is_refused() {
        let policy = PeerPolicy::new(0, []);
        for e in [
            PeerError::NotLocal { peer: addr() },
            PeerError::Gone {
                peer: addr(),
                state: "TIME_WAIT",
            },
            PeerError::Busy { peer: addr() },
            PeerError::Lookup {
                peer: addr(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            },
        ] {
            let peer = policy.decide(addr(), Err(e));
            assert_eq!(peer.check(), Err(AuthError::PeerUnknown));
            assert!(!peer.trusted() && !peer.is_owner);
            assert_eq!(peer.uid, None);
        }
    }

    #[test]
    fn outside_the_initial_user_namespace_the_overflow_uid_is_unknown() {
        // A host user the namespace cannot map shows as the overflow uid,
        // whichever user it is: never the owner's or an allowed user's.
        let policy = PeerPolicy::new(1000, [65_534]).with_unmapped(Some(65_534));
        let peer = policy.decide(addr(), Ok(65_534));
        assert_eq!(peer.check(), Err(AuthError::PeerUnknown));
        assert_eq!(peer.uid, None);
        assert!(!peer.is_owner);
        assert_eq!(policy.decide(addr(), Ok(1000)).check(), Ok(()));
        let owner_is_overflow = PeerPolicy::new(65_534, []).with_unmapped(Some(65_534));
        let peer = owner_is_overflow.decide(addr(), Ok(65_534));
        assert!(!peer.is_owner && !peer.trusted());
    }
}
