//! Cache behaviour on a paused tokio clock with a scripted upstream.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::clock::{Clock, TokioClock};
use crate::scope::{Permission, S3Target};
use crate::upstream::fake::ScriptedUpstream;

const MIN: Duration = Duration::from_secs(60);

struct Harness {
    cache: Cache,
    upstream: Arc<ScriptedUpstream>,
    clock: Arc<TokioClock>,
}

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_435_200)
}

fn harness_with(settings: CacheSettings) -> Harness {
    let clock = Arc::new(TokioClock::starting_at(start()));
    let upstream = Arc::new(
        ScriptedUpstream::new(clock.clone())
            .grant("s3://bucket/UserA/*", Permission::ReadWrite)
            .grant("s3://bucket/Product/*", Permission::Read)
            .grant("s3://bucket/Product/special/*", Permission::Read),
    );
    let cache = Cache::new(upstream.clone(), clock.clone(), settings, Arc::default());
    Harness {
        cache,
        upstream,
        clock,
    }
}

fn harness() -> Harness {
    harness_with(CacheSettings::default())
}

fn req(target: &str, permission: Permission) -> DataAccessRequest {
    DataAccessRequest::new(S3Target::parse(target).unwrap(), permission)
}

fn user_a() -> DataAccessRequest {
    req("s3://bucket/UserA/*", Permission::ReadWrite)
}

fn unavailable() -> UpstreamError {
    UpstreamError::new(ErrorKind::Unavailable, "InternalError", "boom")
}

fn denied() -> UpstreamError {
    UpstreamError::new(
        ErrorKind::Denied,
        "AccessDenied",
        "You do not have READWRITE permissions",
    )
}

/// Lets spawned tasks run without moving the clock.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

mod budget;
mod denials;
mod economy;
mod faults;
mod grants;
mod loads;
mod refresh;
mod schedule;
mod soak;
mod status;
