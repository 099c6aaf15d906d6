//! Prometheus metrics, rendered as text on `GET /metrics`.
//!
//! Owns the counters and histograms the server, the cache and the upstream
//! record into. Labels are static strings or small numbers only; scopes appear
//! only in the per-entry expiry gauge, which the cache supplies at render time
//! and which is capped so a large cache cannot blow up a scrape.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub mod s3;

/// Upper bounds (seconds) of the upstream latency histogram.
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Most per-scope expiry series one scrape shows.
pub const MAX_SCOPE_SERIES: usize = 1000;

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// Its `_bucket`, `_sum` and `_count` lines, with `labels` (`k="v",…`).
    fn render(&self, w: &mut String, name: &str, labels: &str) {
        for (bound, n) in LATENCY_BUCKETS.iter().zip(self.buckets.iter()) {
            let _ = writeln!(w, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(w, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(w, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(w, "{name}_count{{{labels}}} {}", self.count);
    }

    fn observe(&mut self, secs: f64) {
        for (bound, slot) in LATENCY_BUCKETS.iter().zip(self.buckets.iter_mut()) {
            if secs <= *bound {
                *slot += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// One cached scope, as the expiry gauge shows it.
pub struct ScopeExpiry {
    pub target: String,
    pub permission: &'static str,
    pub privilege: &'static str,
    pub seconds_left: u64,
}

/// Everything `/metrics` reports. Cheap to record into from any task.
#[derive(Default)]
pub struct Metrics {
    /// (route, status) → count. A mutex is fine: it is held for one map update.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// (operation, outcome) → latency histogram.
    upstream: Mutex<BTreeMap<(&'static str, &'static str), Histogram>>,
    /// outcome → count of background refreshes.
    refreshes: Mutex<BTreeMap<&'static str, u64>>,
    /// reason → count of entries dropped.
    evictions: Mutex<BTreeMap<&'static str, u64>>,
    /// reason → connections closed at accept for want of a place.
    shed: Mutex<BTreeMap<&'static str, u64>>,
    /// outcome → configuration reloads (`SIGHUP`, `grantd reload`).
    reloads: Mutex<BTreeMap<&'static str, u64>>,
    /// Times an upstream circuit opened.
    pub circuit_opened: AtomicU64,
    /// Upstream calls refused by an open circuit.
    pub circuit_refused: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub denials_served: AtomicU64,
    pub coalesced_waits: AtomicU64,
    pub rate_limited: AtomicU64,
    /// The S3 endpoint's.
    pub s3: s3::S3Metrics,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    *map.entry(key).or_default() += 1;
}

impl Metrics {
    pub fn request(&self, route: &'static str, status: u16) {
        bump(&self.requests, (route, status));
    }

    pub fn upstream_call(&self, operation: &'static str, outcome: &'static str, took: Duration) {
        let mut map = self.upstream.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((operation, outcome))
            .or_default()
            .observe(took.as_secs_f64());
    }

    pub fn refresh(&self, outcome: &'static str) {
        bump(&self.refreshes, outcome);
    }

    pub fn eviction(&self, reason: &'static str) {
        bump(&self.evictions, reason);
    }

    pub fn shed(&self, reason: &'static str) {
        bump(&self.shed, reason);
    }

    /// A configuration reload: `applied` or `refused`.
    pub fn reload(&self, outcome: &'static str) {
        bump(&self.reloads, outcome);
    }

    pub fn hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Count of requests for one route and status, for tests and the demo.
    pub fn requests_for(&self, route: &str, status: u16) -> u64 {
        let map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|((r, s), _)| *r == route && *s == status)
            .map(|(_, n)| n)
            .sum()
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, entries: usize, scopes: &[ScopeExpiry], ready: bool) -> String {
        let mut out = String::with_capacity(4096);
        let w = &mut out;
        header(
            w,
            "grantd_ready",
            "gauge",
            "1 once the upstream identity is resolved",
        );
        let _ = writeln!(w, "grantd_ready {}", u8::from(ready));

        header(
            w,
            "grantd_http_requests_total",
            "counter",
            "HTTP requests by route and status",
        );
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                w,
                "grantd_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }

        let counters = [
            (
                "grantd_cache_hits_total",
                "credential requests served from the cache",
                &self.cache_hits,
            ),
            (
                "grantd_cache_misses_total",
                "credential requests that needed an upstream call",
                &self.cache_misses,
            ),
            (
                "grantd_cache_denials_served_total",
                "requests answered from the remembered denials",
                &self.denials_served,
            ),
            (
                "grantd_cache_coalesced_total",
                "requests that joined an upstream call already under way",
                &self.coalesced_waits,
            ),
            (
                "grantd_rate_limited_total",
                "requests refused by the daemon's own upstream rate limit",
                &self.rate_limited,
            ),
            (
                "grantd_upstream_circuit_opened_total",
                "times a run of transient upstream failures opened the circuit",
                &self.circuit_opened,
            ),
            (
                "grantd_upstream_circuit_refused_total",
                "upstream calls failed fast while the circuit was open",
                &self.circuit_refused,
            ),
        ];
        for (name, help, value) in counters {
            header(w, name, "counter", help);
            let _ = writeln!(w, "{name} {}", value.load(Ordering::Relaxed));
        }

        header(
            w,
            "grantd_cache_entries",
            "gauge",
            "cached credential scopes",
        );
        let _ = writeln!(w, "grantd_cache_entries {entries}");

        header(
            w,
            "grantd_connections_shed_total",
            "counter",
            "connections closed at accept for want of a place, by reason",
        );
        for (reason, n) in self.shed.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                w,
                "grantd_connections_shed_total{{reason=\"{reason}\"}} {n}"
            );
        }
        header(
            w,
            "grantd_refreshes_total",
            "counter",
            "background refreshes by outcome",
        );
        for (outcome, n) in self
            .refreshes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(w, "grantd_refreshes_total{{outcome=\"{outcome}\"}} {n}");
        }
        header(
            w,
            "grantd_config_reloads_total",
            "counter",
            "configuration reloads (SIGHUP, grantd reload) by outcome",
        );
        for (outcome, n) in self
            .reloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                w,
                "grantd_config_reloads_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        header(
            w,
            "grantd_evictions_total",
            "counter",
            "cached scopes dropped, by reason",
        );
        for (reason, n) in self
            .evictions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(w, "grantd_evictions_total{{reason=\"{reason}\"}} {n}");
        }

        let name = "grantd_upstream_request_duration_seconds";
        header(
            w,
            name,
            "histogram",
            "upstream calls by operation and outcome",
        );
        for ((op, outcome), h) in self
            .upstream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            h.render(
                w,
                name,
                &format!("operation=\"{op}\",outcome=\"{outcome}\""),
            );
        }

        self.s3.render(w);

        let name = "grantd_credentials_seconds_to_expiry";
        header(
            w,
            name,
            "gauge",
            "seconds until the cached credentials of a scope expire",
        );
        for s in scopes.iter().take(MAX_SCOPE_SERIES) {
            let _ = writeln!(
                w,
                "{name}{{scope=\"{}\",permission=\"{}\",privilege=\"{}\"}} {}",
                escape_label(&s.target),
                s.permission,
                s.privilege,
                s.seconds_left
            );
        }
        out
    }
}

fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_scopes() {
        let m = Metrics::default();
        m.request("credentials", 200);
        m.request("credentials", 200);
        m.hit();
        m.upstream_call("GetDataAccess", "ok", Duration::from_millis(30));
        let scopes = [ScopeExpiry {
            target: "s3://b/\"q\"/*".into(),
            permission: "READ",
            privilege: "Default",
            seconds_left: 1800,
        }];
        let text = m.render(1, &scopes, true);
        assert!(
            text.contains("grantd_http_requests_total{route=\"credentials\",status=\"200\"} 2")
        );
        assert!(text.contains("grantd_cache_hits_total 1"));
        assert!(text.contains(
            "grantd_upstream_request_duration_seconds_bucket{operation=\"GetDataAccess\",outcome=\"ok\",le=\"0.05\"} 1"
        ));
        assert!(text.contains(
            "grantd_upstream_request_duration_seconds_bucket{operation=\"GetDataAccess\",outcome=\"ok\",le=\"0.025\"} 0"
        ));
        assert!(text.contains("scope=\"s3://b/\\\"q\\\"/*\""));
        assert!(text.contains("grantd_ready 1"));
        assert_eq!(m.requests_for("credentials", 200), 2);
    }
}
