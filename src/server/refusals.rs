//! How often a refused peer is logged.
//!
//! Every connection of another user that asks for credentials is refused and
//! closed, so a user looping on that would write a warning per connection:
//! a way to fill the disk, or to bury other lines. Each uid is logged at most
//! once per [`LOG_EVERY`]; the next line says how many refusals it stood for.
//! The per-route 403 counts in `/metrics` stay exact.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Least time between two logged refusals of one uid. Defaults to 60 s.
pub const LOG_EVERY: Duration = Duration::from_secs(60);
/// Most uids remembered; beyond it the memory starts afresh (a flood of
/// distinct uids then logs a line per uid, bounded by the number of users).
const MAX_UIDS: usize = 1024;

/// Keyed by uid; `None` stands for peers whose uid is unknown.
#[derive(Default)]
pub struct RefusalLog {
    last: Mutex<HashMap<Option<u32>, (SystemTime, u64)>>,
}

impl RefusalLog {
    /// Whether to log this refusal now, and if so how many refusals of the
    /// same uid went unlogged before it.
    pub fn admit(&self, uid: Option<u32>, now: SystemTime) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, suppressed)) = last.get_mut(&uid) {
            if now.duration_since(*at).unwrap_or_default() < LOG_EVERY {
                *suppressed += 1;
                return None;
            }
            let before = std::mem::take(suppressed);
            *at = now;
            return Some(before);
        }
        if last.len() >= MAX_UIDS {
            last.clear();
        }
        last.insert(uid, (now, 0));
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_logged_once_a_minute_with_the_count_it_stood_for() {
        let log = RefusalLog::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(log.admit(Some(65534), t0), Some(0));
        for s in 1..=5 {
            assert_eq!(log.admit(Some(65534), t0 + Duration::from_secs(s)), None);
        }
        // Another uid, and unknown peers, keep their own pace.
        assert_eq!(log.admit(Some(1000), t0), Some(0));
        assert_eq!(log.admit(None, t0), Some(0));
        assert_eq!(log.admit(Some(65534), t0 + LOG_EVERY), Some(5));
        assert_eq!(log.admit(Some(65534), t0 + LOG_EVERY), None);
    }

    #[test]
    fn the_memory_is_bounded() {
        let log = RefusalLog::default();
        let t0 = SystemTime::UNIX_EPOCH;
        for uid in 0..(MAX_UIDS as u32 * 3) {
            log.admit(Some(uid), t0);
        }
        assert!(log.last.lock().unwrap().len() <= MAX_UIDS);
    }
}
