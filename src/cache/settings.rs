//! The cache's tunables and their defaults, one named constant each.

use std::time::Duration;

/// Most scopes held at once.
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000;
/// Never serve credentials with less life left.
pub const DEFAULT_SERVE_FLOOR: Duration = Duration::from_secs(60);
/// Refresh before this much life remains, when the lifetime allows.
pub const DEFAULT_REFRESH_FLOOR: Duration = Duration::from_secs(20 * 60);
/// How long a terminal answer is remembered.
pub const DEFAULT_DENIAL_TTL: Duration = Duration::from_secs(30);
/// Most remembered denials.
pub const DEFAULT_MAX_DENIALS: u64 = 3_000;
/// How long a request waits for a cold load: the Rust SDK reads for 5 s.
pub const DEFAULT_MISS_WAIT: Duration = Duration::from_millis(4_500);
/// First retry delay after a failed refresh.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay after failed refreshes.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(30);
/// Grace beyond a lifetime before an unused scope is dropped.
pub const DEFAULT_IDLE_GRACE: Duration = Duration::from_secs(5 * 60);
/// New upstream loads per second from requests.
pub const DEFAULT_LOADS_PER_SECOND: f64 = 20.0;
/// Burst of new loads above the rate.
pub const DEFAULT_LOAD_BURST: f64 = 100.0;

/// Tunables of the cache. Every default is named in its field's doc.
#[derive(Clone, Debug)]
pub struct CacheSettings {
    /// Most scopes held at once. Defaults to 10,000 ([`DEFAULT_MAX_ENTRIES`]).
    pub max_entries: u64,
    /// Never serve credentials with less life left than this. Defaults to 60 s
    /// ([`DEFAULT_SERVE_FLOOR`]).
    pub serve_floor: Duration,
    /// Refresh before this much life remains, when the lifetime allows.
    /// Defaults to 20 min ([`DEFAULT_REFRESH_FLOOR`]).
    pub refresh_floor: Duration,
    /// How long a terminal answer (AccessDenied) is remembered. Defaults to
    /// 30 s ([`DEFAULT_DENIAL_TTL`]).
    pub denial_ttl: Duration,
    /// Most remembered denials. Defaults to 3,000 ([`DEFAULT_MAX_DENIALS`]).
    pub max_denials: u64,
    /// How long a request waits for a cold load before answering 503 while the
    /// load goes on. Defaults to 4.5 s, as the Rust SDK reads for 5 s
    /// ([`DEFAULT_MISS_WAIT`]).
    pub miss_wait: Duration,
    /// First retry delay after a failed refresh. Defaults to 1 s
    /// ([`DEFAULT_RETRY_BASE`]).
    pub retry_base: Duration,
    /// Longest retry delay. Defaults to 30 s ([`DEFAULT_RETRY_MAX`]).
    pub retry_max: Duration,
    /// A scope unused for its credentials' lifetime plus this is dropped.
    /// Defaults to 5 min ([`DEFAULT_IDLE_GRACE`]).
    pub idle_grace: Duration,
    /// New upstream loads allowed per second from requests (refreshes are not
    /// counted): GetDataAccess has no published quota, so it is treated as scarce.
    /// Defaults to 20 ([`DEFAULT_LOADS_PER_SECOND`]).
    pub loads_per_second: f64,
    /// Burst of new loads above the rate. Defaults to 100 ([`DEFAULT_LOAD_BURST`]).
    pub load_burst: f64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            max_entries: DEFAULT_MAX_ENTRIES,
            serve_floor: DEFAULT_SERVE_FLOOR,
            refresh_floor: DEFAULT_REFRESH_FLOOR,
            denial_ttl: DEFAULT_DENIAL_TTL,
            max_denials: DEFAULT_MAX_DENIALS,
            miss_wait: DEFAULT_MISS_WAIT,
            retry_base: DEFAULT_RETRY_BASE,
            retry_max: DEFAULT_RETRY_MAX,
            idle_grace: DEFAULT_IDLE_GRACE,
            loads_per_second: DEFAULT_LOADS_PER_SECOND,
            load_burst: DEFAULT_LOAD_BURST,
        }
    }
}
