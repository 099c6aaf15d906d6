//! The S3 endpoint's metrics: requests by operation class and outcome, bytes
//! moved each way, and the time S3 took to answer.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Histogram, bump, header};

/// What became of an S3 request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Sent on with a grant's credentials.
    Grant,
    /// Sent on with the base identity (no grant covers it; fallback `base`).
    Base,
    /// No grant covers it and the fallback is `deny`, or the grants disagree.
    Denied,
    /// Refused before anything went upstream: a bad signature, a bad body,
    /// a peer that may not, a request S3 would refuse too.
    Refused,
    /// The upstream could not be reached or Access Grants was unavailable.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Grant => "grant",
            Outcome::Base => "base",
            Outcome::Denied => "denied",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

#[derive(Default)]
pub struct S3Metrics {
    /// (operation class, outcome) → requests.
    requests: Mutex<BTreeMap<(&'static str, Outcome), u64>>,
    /// operation class → time until S3's answer began.
    upstream: Mutex<BTreeMap<&'static str, Histogram>>,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

impl S3Metrics {
    pub fn request(&self, class: &'static str, outcome: Outcome) {
        bump(&self.requests, (class, outcome));
    }

    pub fn upstream(&self, class: &'static str, took: Duration) {
        let mut map = self.upstream.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(class).or_default().observe(took.as_secs_f64());
    }

    pub fn moved_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    pub fn moved_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Requests of `outcome` so far, every class.
    pub fn count(&self, outcome: Outcome) -> u64 {
        let map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|((_, o), _)| *o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    pub(super) fn render(&self, w: &mut String) {
        let name = "grantd_s3_requests_total";
        header(
            w,
            name,
            "counter",
            "S3 endpoint requests by operation class and outcome (grant, base, denied, refused, failed)",
        );
        for ((class, outcome), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                w,
                "{name}{{class=\"{class}\",outcome=\"{}\"}} {n}",
                outcome.as_str()
            );
        }
        let name = "grantd_s3_bytes_total";
        header(
            w,
            name,
            "counter",
            "body bytes the S3 endpoint moved: in (to S3) and out (to clients)",
        );
        let _ = writeln!(
            w,
            "{name}{{direction=\"in\"}} {}",
            self.bytes_in.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            w,
            "{name}{{direction=\"out\"}} {}",
            self.bytes_out.load(Ordering::Relaxed)
        );
        let name = "grantd_s3_upstream_seconds";
        header(
            w,
            name,
            "histogram",
            "time from sending a request to S3 to the start of its answer, by operation class",
        );
        for (class, h) in self
            .upstream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            h.render(w, name, &format!("class=\"{class}\""));
        }
    }
}
