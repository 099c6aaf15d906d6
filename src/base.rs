//! The daemon's base identity: the credentials it holds itself.
//!
//! Owns the sessions of the base identity that the daemon has seen: the
//! current one, served to the daemon's own user at `/v1/base-credentials` so
//! that a client process keeps the host's identity for everything but S3,
//! and the earlier ones until they expire, so that the S3 endpoint can check
//! a request signed with any key it ever handed out. The sessions come from
//! the AWS SDK's standard credential chain (a [`BaseSource`]), loaded once
//! and renewed when a client asks with less than [`REFRESH_MARGIN`] left;
//! a key id nobody has seen reloads it once, at most every
//! [`UNKNOWN_KEY_RELOAD_INTERVAL`].
//!
//! Long-term keys (an IAM user's, on a laptop or a test host) have no expiry
//! and no session token: they are served with an empty `Token` and an
//! `Expiration` [`LONG_TERM_SERVED_FOR`] ahead, renewed at every answer, so
//! every SDK takes them and comes back now and then.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use futures_util::future::BoxFuture;

use crate::clock::SharedClock;
use crate::credentials::Secret;

/// Renew the current session when less than this is left: clients come back
/// with 15 minutes left (botocore, Java), so they always find a fresh one.
/// Defaults to 20 minutes.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(20 * 60);
/// How far ahead the `Expiration` of long-term keys is put. Defaults to 1 hour.
pub const LONG_TERM_SERVED_FOR: Duration = Duration::from_secs(60 * 60);
/// Least time between two reloads for a key id nobody has seen: an unknown
/// key costs the credential chain at most one call in this time. Defaults to 10 s.
pub const UNKNOWN_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(10);
/// Most sessions remembered for checking signatures. Defaults to 16.
pub const MAX_KNOWN_SESSIONS: usize = 16;

/// One session of the base identity. `Debug` redacts the secret and token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseSession {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// `None` for long-term keys.
    pub session_token: Option<Secret>,
    /// `None` for long-term keys.
    pub expires: Option<SystemTime>,
}

impl BaseSession {
    /// Whether this session can still sign at `now`.
    fn alive(&self, now: SystemTime) -> bool {
        self.expires.is_none_or(|t| t > now)
    }

    /// The `Expiration` a client is told at `now`.
    pub fn served_expiration(&self, now: SystemTime) -> SystemTime {
        self.expires.unwrap_or(now + LONG_TERM_SERVED_FOR)
    }
}

/// Why the base identity could not be loaded.
#[derive(Clone, Debug, thiserror::Error)]
#[error("cannot load the daemon's own AWS credentials: {0}")]
pub struct BaseError(pub String);

/// Where sessions come from: the standard chain, or a test's script.
pub trait BaseSource: Send + Sync + 'static {
    fn load(&self) -> BoxFuture<'_, Result<BaseSession, BaseError>>;
}

/// The AWS SDK's credential chain (environment, profile, container, IMDS).
pub struct ChainSource(pub SharedCredentialsProvider);

impl BaseSource for ChainSource {
    fn load(&self) -> BoxFuture<'_, Result<BaseSession, BaseError>> {
        Box::pin(async move {
            let c =
                self.0.provide_credentials().await.map_err(|e| {
                    BaseError(aws_sdk_sts::error::DisplayErrorContext(&e).to_string())
                })?;
            Ok(BaseSession {
                access_key_id: c.access_key_id().to_string(),
                secret_access_key: Secret::new(c.secret_access_key()),
                session_token: c.session_token().map(Secret::new),
                expires: c.expiry(),
            })
        })
    }
}

/// The base identity's sessions; see the module docs.
pub struct BaseIdentity {
    source: Box<dyn BaseSource>,
    clock: SharedClock,
    known: Mutex<Known>,
    /// One load at a time; a waiter finds the result.
    loading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Known {
    /// Newest last.
    sessions: Vec<Arc<BaseSession>>,
    last_unknown_reload: Option<SystemTime>,
}

impl BaseIdentity {
    pub fn new(source: impl BaseSource, clock: SharedClock) -> BaseIdentity {
        BaseIdentity {
            source: Box::new(source),
            clock,
            known: Mutex::default(),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fresh(&self) -> Option<Arc<BaseSession>> {
        let now = self.clock.now();
        let known = self.known();
        let newest = known.sessions.last()?;
        let fresh = match newest.expires {
            None => true,
            Some(t) => t.duration_since(now).unwrap_or_default() > REFRESH_MARGIN,
        };
        fresh.then(|| newest.clone())
    }

    /// The session to serve now, loaded or renewed when needed. A failed
    /// renewal keeps serving a session that is still alive.
    pub async fn current(&self) -> Result<Arc<BaseSession>, BaseError> {
        if let Some(session) = self.fresh() {
            return Ok(session);
        }
        let _one = self.loading.lock().await;
        if let Some(session) = self.fresh() {
            return Ok(session);
        }
        match self.load().await {
            Ok(session) => Ok(session),
            Err(e) => {
                let now = self.clock.now();
                let known = self.known();
                match known.sessions.last() {
                    Some(s) if s.alive(now) => {
                        tracing::warn!(error = %e, "could not renew the base identity; serving the current session");
                        Ok(s.clone())
                    }
                    _ => Err(e),
                }
            }
        }
    }

    async fn load(&self) -> Result<Arc<BaseSession>, BaseError> {
        let session = Arc::new(self.source.load().await?);
        let now = self.clock.now();
        let mut known = self.known();
        known
            .sessions
            .retain(|s| s.alive(now) && s.access_key_id != session.access_key_id);
        known.sessions.push(session.clone());
        let excess = known.sessions.len().saturating_sub(MAX_KNOWN_SESSIONS);
        known.sessions.drain(..excess);
        tracing::debug!(access_key_id = %session.access_key_id, "base identity loaded");
        Ok(session)
    }

    /// The live session of `access_key_id`, when we have seen it.
    pub fn session_of(&self, access_key_id: &str) -> Option<Arc<BaseSession>> {
        let now = self.clock.now();
        self.known()
            .sessions
            .iter()
            .rev()
            .find(|s| s.access_key_id == access_key_id && s.alive(now))
            .cloned()
    }

    /// A client signed with a key id we have not seen: reload once, unless a
    /// reload for that reason ran less than [`UNKNOWN_KEY_RELOAD_INTERVAL`]
    /// ago. Whether the key is known afterwards.
    pub async fn reload_for(&self, access_key_id: &str) -> bool {
        let _one = self.loading.lock().await;
        if self.session_of(access_key_id).is_some() {
            return true;
        }
        let now = self.clock.now();
        {
            let mut known = self.known();
            let recent = known.last_unknown_reload.is_some_and(|t| {
                now.duration_since(t).unwrap_or_default() < UNKNOWN_KEY_RELOAD_INTERVAL
            });
            if recent {
                return false;
            }
            known.last_unknown_reload = Some(now);
        }
        if let Err(e) = self.load().await {
            tracing::warn!(error = %e, "could not reload the base identity for an unknown key id");
        }
        self.session_of(access_key_id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::TokioClock;

    /// Hands out `AKID<n>` sessions that live `lifetime` (long-term when `None`).
    struct Script {
        clock: SharedClock,
        loads: Arc<AtomicUsize>,
        lifetime: Option<Duration>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl BaseSource for Script {
        fn load(&self) -> BoxFuture<'_, Result<BaseSession, BaseError>> {
            Box::pin(async move {
                if self.fail.load(Ordering::SeqCst) {
                    return Err(BaseError("the chain is down".into()));
                }
                let n = self.loads.fetch_add(1, Ordering::SeqCst);
                Ok(BaseSession {
                    access_key_id: format!("AKID{n}"),
                    secret_access_key: Secret::new(format!("secret{n}")),
                    session_token: self.lifetime.map(|_| Secret::new(format!("token{n}"))),
                    expires: self.lifetime.map(|l| self.clock.now() + l),
                })
            })
        }
    }

    fn identity(
        lifetime: Option<Duration>,
    ) -> (
        BaseIdentity,
        Arc<AtomicUsize>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let clock: SharedClock = Arc::new(TokioClock::starting_at(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let loads = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let source = Script {
            clock: clock.clone(),
            loads: loads.clone(),
            lifetime,
            fail: fail.clone(),
        };
        (BaseIdentity::new(source, clock), loads, fail)
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_is_loaded_once_and_renewed_before_clients_need_it() {
        let (base, loads, _) = identity(Some(Duration::from_secs(3600)));
        let first = base.current().await.unwrap();
        assert_eq!(base.current().await.unwrap(), first);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(3600) - REFRESH_MARGIN + Duration::from_secs(1))
            .await;
        let second = base.current().await.unwrap();
        assert_ne!(second.access_key_id, first.access_key_id);
        // The earlier session still verifies signatures until it expires.
        assert!(base.session_of(&first.access_key_id).is_some());
        tokio::time::advance(REFRESH_MARGIN).await;
        assert!(base.session_of(&first.access_key_id).is_none());
        assert!(base.session_of(&second.access_key_id).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn long_term_keys_never_expire_and_are_served_an_hour_ahead() {
        let (base, loads, _) = identity(None);
        let s = base.current().await.unwrap();
        tokio::time::advance(Duration::from_secs(100 * 3600)).await;
        assert_eq!(base.current().await.unwrap(), s);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        let now = base.clock.now();
        assert_eq!(s.served_expiration(now), now + LONG_TERM_SERVED_FOR);
        assert!(s.session_token.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_renewal_keeps_serving_the_live_session() {
        let (base, _, fail) = identity(Some(Duration::from_secs(3600)));
        let first = base.current().await.unwrap();
        fail.store(true, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(3000)).await;
        assert_eq!(base.current().await.unwrap(), first);
        tokio::time::advance(Duration::from_secs(700)).await;
        assert!(base.current().await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_key_reloads_at_most_once_in_the_interval() {
        let (base, loads, _) = identity(None);
        base.current().await.unwrap();
        // AKID1 is what the next load hands out.
        assert!(base.reload_for("AKID1").await);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // Within the interval: no reload.
        assert!(!base.reload_for("AKIDNOBODY").await);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        tokio::time::advance(UNKNOWN_KEY_RELOAD_INTERVAL).await;
        assert!(!base.reload_for("AKIDNOBODY").await);
        assert!(!base.reload_for("AKIDNOBODY").await);
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = BaseSession {
            access_key_id: "AKIDX".into(),
            secret_access_key: Secret::new("very-secret"),
            session_token: Some(Secret::new("very-token")),
            expires: None,
        };
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("very-token"),
            "{shown}"
        );
    }
}
