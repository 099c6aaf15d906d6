//! Whether the uids the kernel reports are what they seem: the user
//! namespace this process runs in.
//!
//! In the initial user namespace every uid is itself. In another one (a
//! rootless container, `unshare --user`), the kernel shows each uid of the
//! host that the namespace does not map as the overflow uid
//! (`/proc/sys/kernel/overflowuid`, 65534 by default), in the socket table
//! too. When such a namespace shares the host's network, every unmapped host
//! user connecting to grantd looks like that one uid, so it names no one:
//! peers with it are unknown, and a daemon whose own uid it is cannot tell
//! its owner from any of them.

/// `/proc/self/uid_map` of the initial user namespace: every uid maps to itself.
const IDENTITY_MAP: (u64, u64, u64) = (0, 0, 4_294_967_295);
/// The kernel's default overflow uid.
pub const DEFAULT_OVERFLOW_UID: u32 = 65_534;

/// This process's user namespace, as far as uids are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserNamespace {
    /// The initial namespace: uids are the host's.
    pub initial: bool,
    /// The uid the kernel reports for users this namespace cannot map.
    pub overflow_uid: u32,
}

impl UserNamespace {
    /// The namespace of this process, from `/proc`. A `uid_map` that cannot
    /// be read counts as a namespace of its own: uids are then not trusted
    /// to be the host's.
    pub fn current() -> UserNamespace {
        let initial = std::fs::read_to_string("/proc/self/uid_map")
            .map(|map| is_identity_map(&map))
            .unwrap_or(false);
        let overflow_uid = std::fs::read_to_string("/proc/sys/kernel/overflowuid")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(DEFAULT_OVERFLOW_UID);
        UserNamespace {
            initial,
            overflow_uid,
        }
    }

    /// The uid that stands for "a user this namespace cannot map": the
    /// overflow uid outside the initial namespace, `None` in it.
    pub fn unmapped_uid(&self) -> Option<u32> {
        (!self.initial).then_some(self.overflow_uid)
    }

    /// Whether `uid` (the daemon's own) is the uid every unmapped user shows as.
    pub fn is_overflow(&self, uid: u32) -> bool {
        self.unmapped_uid() == Some(uid)
    }
}

/// Whether `map` (the text of a `uid_map`) is the identity map of the
/// initial user namespace.
fn is_identity_map(map: &str) -> bool {
    let mut lines = map.lines().filter(|l| !l.trim().is_empty());
    let parse = |line: &str| -> Option<(u64, u64, u64)> {
        let mut f = line.split_ascii_whitespace().map(|n| n.parse::<u64>().ok());
        Some((f.next()??, f.next()??, f.next()??))
    };
    matches!(
        (lines.next().and_then(parse), lines.next()),
        (Some(IDENTITY_MAP), None)
    )
}

/// Why the daemon does not start in this user namespace.
#[derive(Debug, thiserror::Error)]
#[error(
    "grantd runs as uid {uid}, the overflow uid of this user namespace: every host user the \
     namespace cannot map also shows as uid {uid}, so each of them would be served as the owner. \
     Run grantd as a uid the namespace maps (not {uid}), or, when no other user can reach this \
     network namespace, set GRANTD_ALLOW_OVERFLOW_UID=true"
)]
pub struct OverflowOwner {
    pub uid: u32,
}

/// `Err` when `uid` is the overflow uid of `ns` and that is not allowed.
pub fn check_owner(ns: &UserNamespace, uid: u32, allowed: bool) -> Result<(), OverflowOwner> {
    if ns.is_overflow(uid) && !allowed {
        return Err(OverflowOwner { uid });
    }
    Ok(())
}

/// The uid whose peers are unknown, for a daemon of `owner`: the overflow
/// uid outside the initial namespace, unless it is the owner's own and the
/// operator allowed that (then it is the owner's).
pub fn unknown_peer_uid(ns: &UserNamespace, owner: u32, allowed: bool) -> Option<u32> {
    match ns.unmapped_uid() {
        Some(uid) if uid == owner && allowed => None,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_identity_map_is_the_initial_namespace() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        for map in [
            "         0      65534          1\n",
            "     65534          0          1\n",
            "         0     100000      65536\n",
            "         0          0 4294967295\n      1000  1000 1\n",
            "",
            "garbage",
        ] {
            assert!(!is_identity_map(map), "{map:?}");
        }
    }

    #[test]
    fn this_test_runs_in_the_namespace_proc_says() {
        let ns = UserNamespace::current();
        let map = std::fs::read_to_string("/proc/self/uid_map").unwrap();
        assert_eq!(ns.initial, is_identity_map(&map));
    }

    #[test]
    fn outside_the_initial_namespace_the_overflow_uid_owner_needs_the_setting() {
        let inner = UserNamespace {
            initial: false,
            overflow_uid: 65_534,
        };
        let e = check_owner(&inner, 65_534, false).unwrap_err();
        assert!(e.to_string().contains("GRANTD_ALLOW_OVERFLOW_UID"), "{e}");
        assert!(check_owner(&inner, 65_534, true).is_ok());
        assert!(check_owner(&inner, 1000, false).is_ok());
        assert_eq!(unknown_peer_uid(&inner, 1000, false), Some(65_534));
        assert_eq!(unknown_peer_uid(&inner, 65_534, true), None);

        let host = UserNamespace {
            initial: true,
            overflow_uid: 65_534,
        };
        assert!(
            check_owner(&host, 65_534, false).is_ok(),
            "nobody is nobody"
        );
        assert_eq!(unknown_peer_uid(&host, 1000, false), None);
    }
}
