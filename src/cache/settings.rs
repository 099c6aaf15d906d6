//! The cache's tunables and their defaults, one named constant each.

use std::time::Duration;

/// Most scopes held at once.
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000;
/// Never serve credentials with less life left.
pub const DEFAULT_SERVE_FLOOR: Duration = Duration::from_secs(60);
/// Least life a credential served on the normal path has, when its lifetime
/// is at least [`DEFAULT_FRESH_LIFETIME`]: botocore and the Java SDKs re-fetch
/// on every call below 15 minutes.
pub const DEFAULT_FRESH_FLOOR: Duration = Duration::from_secs(15 * 60);
/// Shortest lifetime served with [`DEFAULT_FRESH_FLOOR`] left; shorter ones
/// are served with at least half their lifetime left.
pub const DEFAULT_FRESH_LIFETIME: Duration = Duration::from_secs(20 * 60);
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
/// New upstream loads per second from requests.
pub const DEFAULT_LOADS_PER_SECOND: f64 = 20.0;
/// Burst of new loads above the rate.
pub const DEFAULT_LOAD_BURST: f64 = 100.0;
/// Background refreshes per second: 10,000 scopes of one-hour credentials in
/// use, each refreshed about twice an hour, need about 6 a second.
pub const DEFAULT_REFRESHES_PER_SECOND: f64 = 10.0;
/// Burst of refreshes above the rate.
pub const DEFAULT_REFRESH_BURST: f64 = 50.0;

/// Tunables of the cache. Every default is named in its field's doc.
#[derive(Clone, Debug)]
pub struct CacheSettings {
    /// Most scopes held at once. Defaults to 10,000 ([`DEFAULT_MAX_ENTRIES`]).
    pub max_entries: u64,
    /// Never serve credentials with less life left than this. Defaults to 60 s
    /// ([`DEFAULT_SERVE_FLOOR`]).
    pub serve_floor: Duration,
    /// Least life a credential served on the normal path has, when its
    /// lifetime is at least `fresh_lifetime`. Defaults to 15 min
    /// ([`DEFAULT_FRESH_FLOOR`]).
    pub fresh_floor: Duration,
    /// Shortest lifetime served with `fresh_floor` left; shorter lifetimes are
    /// served with at least half left. Defaults to 20 min
    /// ([`DEFAULT_FRESH_LIFETIME`]).
    pub fresh_lifetime: Duration,
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
    /// New upstream loads allowed per second from requests (refreshes have
    /// their own budget): GetDataAccess has no published quota, so it is
    /// treated as scarce.
    /// Defaults to 20 ([`DEFAULT_LOADS_PER_SECOND`]).
    pub loads_per_second: f64,
    /// Burst of new loads above the rate. Defaults to 100 ([`DEFAULT_LOAD_BURST`]).
    pub load_burst: f64,
    /// Background refreshes (retries included) per second. A refresh over the
    /// budget waits its turn instead of being dropped, and never waits past
    /// the last moment its credentials can be renewed (see
    /// [`refresh_plan`](super::refresh_plan)). Defaults to 10
    /// ([`DEFAULT_REFRESHES_PER_SECOND`]).
    pub refreshes_per_second: f64,
    /// Burst of refreshes above the rate. Defaults to 50 ([`DEFAULT_REFRESH_BURST`]).
    pub refresh_burst: f64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            max_entries: DEFAULT_MAX_ENTRIES,
            serve_floor: DEFAULT_SERVE_FLOOR,
            fresh_floor: DEFAULT_FRESH_FLOOR,
            fresh_lifetime: DEFAULT_FRESH_LIFETIME,
            denial_ttl: DEFAULT_DENIAL_TTL,
            max_denials: DEFAULT_MAX_DENIALS,
            miss_wait: DEFAULT_MISS_WAIT,
            retry_base: DEFAULT_RETRY_BASE,
            retry_max: DEFAULT_RETRY_MAX,
            loads_per_second: DEFAULT_LOADS_PER_SECOND,
            load_burst: DEFAULT_LOAD_BURST,
            refreshes_per_second: DEFAULT_REFRESHES_PER_SECOND,
            refresh_burst: DEFAULT_REFRESH_BURST,
        }
    }
}
