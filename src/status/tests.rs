//! The daemon's status as gathered: the base identity's kinds, the worst
//! circuit, and no secret anywhere.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::*;
use crate::base::{BaseError, BaseIdentity, BaseSession, BaseSource};
use crate::cache::CacheSettings;
use crate::clock::{Clock, SystemClock};
use crate::credentials::Secret;
use crate::server::{AppState, ServerSettings};
use crate::upstream::fake::ScriptedUpstream;

struct Fixed(Option<Duration>);

impl BaseSource for Fixed {
    fn load(&self) -> BoxFuture<'_, Result<BaseSession, BaseError>> {
        Box::pin(async move {
            Ok(BaseSession {
                access_key_id: "AKIABASEKEY".into(),
                secret_access_key: Secret::new("BASE-SECRET-MARKER"),
                session_token: self.0.map(|_| Secret::new("BASE-TOKEN-MARKER")),
                expires: self.0.map(|life| SystemClock.now() + life),
            })
        })
    }
}

fn state(base: Option<Arc<BaseIdentity>>) -> AppState {
    AppState::for_tests(
        Arc::new(ScriptedUpstream::new(Arc::new(SystemClock))),
        &CacheSettings::default(),
        &ServerSettings::default(),
        Vec::new(),
        base,
    )
}

fn daemon() -> DaemonStatus {
    DaemonStatus {
        version: "0".into(),
        pid: 1,
        started_at: "-".into(),
        uptime_seconds: 0,
        listen: "127.0.0.1:7911".into(),
        s3_listen: None,
        region: "us-east-1".into(),
        account_id: None,
        ready: false,
    }
}

fn config() -> ConfigStatus {
    ConfigStatus {
        file: None,
        loaded_at: "-".into(),
        reloads: 0,
        last_reload: None,
        log_level: "info".into(),
        allowed_uids: Vec::new(),
        base_allowed_uids: Vec::new(),
        profiles: Vec::new(),
    }
}

fn identity(life: Option<Duration>) -> Option<Arc<BaseIdentity>> {
    Some(Arc::new(BaseIdentity::new(
        Fixed(life),
        Arc::new(SystemClock),
    )))
}

#[tokio::test]
async fn a_session_shows_its_time_left_and_long_term_keys_their_kind() {
    let arn = || Ok("arn:aws:sts::111122223333:assumed-role/Exec/s".to_string());
    let s = gather(
        &state(identity(Some(Duration::from_secs(3000)))),
        daemon(),
        config(),
        arn(),
    )
    .await;
    assert_eq!(s.base_identity.kind, "session");
    let left = s.base_identity.seconds_left.unwrap();
    assert!((2990..=3000).contains(&left), "{left}");
    assert!(s.base_identity.expiration.is_some());
    assert_eq!(s.base_identity.arn.as_deref(), arn().ok().as_deref());

    let s = gather(&state(identity(None)), daemon(), config(), arn()).await;
    assert_eq!(s.base_identity.kind, "long-term");
    assert_eq!(s.base_identity.seconds_left, None);

    let s = gather(&state(None), daemon(), config(), Err("STS is down".into())).await;
    assert_eq!(s.base_identity.kind, "none");
    assert!(s.base_identity.error.is_some());
    assert_eq!(s.base_identity.arn_error.as_deref(), Some("STS is down"));
    assert_eq!(s.upstream.circuit, "closed");
}

#[tokio::test]
async fn no_secret_of_the_base_identity_or_the_token_is_in_it() {
    let st = state(identity(Some(Duration::from_secs(3000))));
    let s = gather(&st, daemon(), config(), Err("x".into())).await;
    let shown = serde_json::to_string(&s).unwrap();
    for secret in [
        "BASE-SECRET-MARKER",
        "BASE-TOKEN-MARKER",
        st.token.expose(),
        "AKIABASEKEY",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn the_worst_circuit_is_the_one_shown_first() {
    let c = |state| CircuitStatus {
        region: None,
        state,
        failures: 0,
        probe_at: None,
    };
    assert_eq!(worst(&[]), "closed");
    assert_eq!(worst(&[c("closed"), c("half-open")]), "half-open");
    assert_eq!(worst(&[c("half-open"), c("open"), c("closed")]), "open");
}
