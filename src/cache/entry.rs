//! One cached scope: the [`Vended`] credentials served for it (with their
//! container-endpoint body, encoded once per generation in a
//! [`ContainerBody`]) and the [`Entry`] that holds them between refreshes and
//! tracks whether anyone asked for it since the last refresh.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use bytes::Bytes;

use super::CacheSettings;
use super::refresh::refresh_plan;
use crate::credentials::{Credentials, GrantInfo, container_json};
use crate::scope::DataAccessRequest;
use crate::upstream::DataAccess;

/// Credentials as served, with what the daemon knows about them.
#[derive(Debug)]
pub struct Vended {
    pub credentials: Credentials,
    pub info: GrantInfo,
    /// When the daemon received them.
    pub issued_at: SystemTime,
    /// When the refresher renews them (see [`refresh_plan`]).
    pub refresh_at: SystemTime,
    /// The latest normal renewal: later, a client would be served less than
    /// the freshness rule asks. An entry nobody used is dropped here.
    pub refresh_by: SystemTime,
    /// The latest renewal at all, for one delayed by the refresh budget.
    pub refresh_last: SystemTime,
    /// `credentials` and `info` as the container endpoint sends them.
    pub container_body: ContainerBody,
}

/// The container endpoint's JSON body for one generation of credentials.
///
/// Encoded once, when the credentials arrive, because a warm vend is the hot
/// path: JSON-escaping the token and formatting `Expiration` on every request
/// cost more than the rest of the request together (callgrind, see
/// `benches/profile.sh`). A refresh builds a new [`Vended`] and with it a new
/// body, so the body always matches the credentials it was made from.
/// Each request gets a reference-counted clone of the same bytes. It holds the
/// secret and the token, so its `Debug` shows neither.
#[derive(Clone)]
pub struct ContainerBody(Bytes);

impl ContainerBody {
    pub fn new(credentials: &Credentials, info: &GrantInfo) -> ContainerBody {
        // Copied to an exact-size buffer: the encoder's String has grown by
        // doubling, and `Bytes::from` it would keep that spare capacity for
        // the life of every cached scope (`benches/load.sh`, 30,000 scopes:
        // 3,187 bytes a scope with it, 2,293 before bodies were kept).
        ContainerBody(Bytes::copy_from_slice(
            container_json(credentials, info).as_bytes(),
        ))
    }

    /// The body to send: a cheap clone of the shared bytes.
    pub fn bytes(&self) -> Bytes {
        self.0.clone()
    }
}

impl fmt::Debug for ContainerBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContainerBody({} bytes, redacted)", self.0.len())
    }
}

impl Vended {
    pub(super) fn new(
        access: DataAccess,
        issued_at: SystemTime,
        settings: &CacheSettings,
    ) -> Vended {
        let plan = refresh_plan(
            issued_at,
            access.credentials.expiration,
            fastrand::f64(),
            settings,
        );
        let info = GrantInfo {
            account_id: Some(access.account_id),
            matched_grant_target: access.matched_grant_target.map(|t| t.to_string()),
        };
        Vended {
            container_body: ContainerBody::new(&access.credentials, &info),
            info,
            credentials: access.credentials,
            issued_at,
            refresh_at: plan.at,
            refresh_by: plan.by,
            refresh_last: plan.last,
        }
    }
}

/// Tells entries apart when one key is cached, dropped and cached again.
static NEXT_ENTRY_ID: AtomicU64 = AtomicU64::new(1);

pub(super) struct Entry {
    /// What this entry answers: for `Default`, the request with the matched grant as target.
    pub(super) key: DataAccessRequest,
    /// The request that created it; refreshes repeat exactly what succeeded.
    pub(super) origin: DataAccessRequest,
    /// Unique among entries, so the grant index forgets a key only for the
    /// entry it indexed, not for a later one under the same key.
    pub(super) id: u64,
    /// Swapped whole on refresh; readers clone the `Arc` and let go at once.
    current: RwLock<Arc<Vended>>,
    /// Someone asked for this scope since the refresher last looked: only
    /// such scopes are refreshed. Starts set, for the request that made it.
    used: AtomicBool,
}

impl Entry {
    pub(super) fn new(
        key: DataAccessRequest,
        origin: DataAccessRequest,
        vended: Arc<Vended>,
    ) -> Entry {
        Entry {
            key,
            origin,
            id: NEXT_ENTRY_ID.fetch_add(1, Ordering::Relaxed),
            current: RwLock::new(vended),
            used: AtomicBool::new(true),
        }
    }

    pub(super) fn current(&self) -> Arc<Vended> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn replace(&self, vended: Arc<Vended>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = vended;
    }

    /// Someone asked for this scope.
    pub(super) fn mark_used(&self) {
        self.used.store(true, Ordering::Relaxed);
    }

    /// Whether anyone asked since the last call, clearing the mark.
    pub(super) fn take_used(&self) -> bool {
        self.used.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::credentials::Secret;

    fn creds(key: &str) -> Credentials {
        Credentials {
            access_key_id: key.into(),
            secret_access_key: Secret::new("SECRET-MARKER"),
            session_token: Secret::new("TOKEN-MARKER"),
            expiration: UNIX_EPOCH + Duration::from_secs(1_795_435_200),
        }
    }

    #[test]
    fn the_body_is_the_encoders_bytes_for_the_same_credentials() {
        for info in [
            GrantInfo::default(),
            GrantInfo {
                account_id: Some("111122223333".into()),
                matched_grant_target: Some("s3://b/UserA/*".into()),
            },
        ] {
            let c = creds("ASIAFIRST");
            assert_eq!(
                ContainerBody::new(&c, &info).bytes(),
                container_json(&c, &info).as_bytes()
            );
        }
    }

    #[test]
    fn each_generation_of_credentials_has_its_own_body() {
        let info = GrantInfo::default();
        let first = ContainerBody::new(&creds("ASIAFIRST"), &info);
        let second = ContainerBody::new(&creds("ASIASECOND"), &info);
        assert_ne!(first.bytes(), second.bytes());
        assert_eq!(first.bytes(), first.bytes(), "clones share one body");
    }

    #[test]
    fn debug_shows_neither_the_secret_nor_the_token() {
        let body = ContainerBody::new(&creds("ASIAFIRST"), &GrantInfo::default());
        let shown = format!("{body:?}");
        assert!(!shown.contains("SECRET-MARKER") && !shown.contains("TOKEN-MARKER"));
        assert!(shown.contains("redacted"), "{shown}");
    }
}
