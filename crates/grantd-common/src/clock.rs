//! Wall-clock time, injectable.
//!
//! Credential freshness is decided against the credentials' own `Expiration`,
//! a wall-clock instant, so every such decision asks a [`Clock`]. Production
//! uses [`SystemClock`], the one place allowed to call `SystemTime::now`
//! (clippy bans it elsewhere). Tests use [`TokioClock`], which moves with
//! tokio's clock, so a paused runtime advances sleeps and wall time together.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + Debug + 'static {
    fn now(&self) -> SystemTime;
}

pub type SharedClock = Arc<dyn Clock>;

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one sanctioned read of the system clock.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Wall time that follows tokio's clock from a fixed start.
///
/// Under `tokio::time::pause()`, `tokio::time::advance` (or the runtime's
/// auto-advance while every task sleeps) moves this clock by the same amount.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start_wall: SystemTime,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(start_wall: SystemTime) -> TokioClock {
        TokioClock {
            start_wall,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.start_wall + self.start.elapsed()
    }
}
