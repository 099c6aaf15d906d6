//! The circuit breaker in front of the upstream: after
//! [`BREAKER_THRESHOLD`] transient failures in a row (throttling, 5xx,
//! timeouts, connection errors), calls fail fast for [`BREAKER_COOLDOWN`];
//! then one call goes through as a probe (half-open). Its success closes the
//! circuit; its failure opens it for another cool-down.
//!
//! Why: the refresh of every scope in use retries with its own backoff and
//! each cold load is up to three SDK attempts, so during an outage hundreds
//! of scopes would keep an already struggling S3 Control busy. With the
//! circuit open they cost nothing upstream: warm scopes keep serving their
//! cached credentials, cold ones get a prompt 503 instead of a 4 s wait.
//!
//! One circuit per region asked of (regions come from the configuration, so
//! they are few): one region's outage does not stop another's calls.
//! Answers that show the service is up (credentials, AccessDenied, a
//! malformed body) close the circuit and reset the count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::upstream::ErrorKind;

/// Transient failures in a row that open the circuit. Defaults to 5: with
/// the SDK's three attempts a call, that is up to 15 failed requests, and
/// a healthy service failing one call in ten reaches it about once in
/// 100,000 calls.
pub const BREAKER_THRESHOLD: u32 = 5;
/// How long an open circuit refuses calls before letting a probe through.
/// Defaults to 10 s: one probe per 10 s during an outage, and a recovered
/// service is noticed within 10 s, well inside a refresh's slack.
pub const BREAKER_COOLDOWN: Duration = Duration::from_secs(10);

/// What the breaker says about a call about to be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Make it.
    Call,
    /// Refuse it: the circuit is open after failures of this kind.
    Refuse(ErrorKind),
}

#[derive(Clone, Copy, Debug)]
enum State {
    Closed {
        failures: u32,
    },
    /// Refusing until `until`; `kind` is what the failures were.
    Open {
        until: SystemTime,
        kind: ErrorKind,
    },
    /// One probe is out since `since`; others are refused meanwhile. A probe
    /// that never reports (its task gone) is replaced after a cool-down.
    HalfOpen {
        since: SystemTime,
        kind: ErrorKind,
    },
}

/// The circuits, by region (`None` = the daemon's own).
pub(super) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    /// Taken only to decide and to record, never across an await.
    circuits: Mutex<HashMap<Option<String>, State>>,
}

impl Breaker {
    pub(super) fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            circuits: Mutex::default(),
        }
    }

    fn state<R>(&self, region: Option<&str>, f: impl FnOnce(&mut State) -> R) -> R {
        let mut circuits = self.circuits.lock().unwrap_or_else(|p| p.into_inner());
        let state = circuits
            .entry(region.map(str::to_string))
            .or_insert(State::Closed { failures: 0 });
        f(state)
    }

    /// Whether a call to `region` may be made at `now`. When an open
    /// circuit's cool-down is over, the first caller is let through as the probe.
    pub(super) fn admit(&self, region: Option<&str>, now: SystemTime) -> Admit {
        let cooldown = self.cooldown;
        self.state(region, |state| match *state {
            State::Closed { .. } => Admit::Call,
            State::Open { until, kind } if now < until => Admit::Refuse(kind),
            State::HalfOpen { since, kind } if now < since + cooldown => Admit::Refuse(kind),
            State::Open { kind, .. } | State::HalfOpen { kind, .. } => {
                *state = State::HalfOpen { since: now, kind };
                Admit::Call
            }
        })
    }

    /// Notes the outcome of an admitted call: `Some(kind)` for a transient
    /// failure, `None` for any answer that shows the service is up. Returns
    /// whether this outcome opened the circuit (for the log).
    pub(super) fn record(
        &self,
        region: Option<&str>,
        failure: Option<ErrorKind>,
        now: SystemTime,
    ) -> bool {
        let (threshold, until) = (self.threshold, now + self.cooldown);
        self.state(region, |state| match (failure, *state) {
            (None, _) => {
                *state = State::Closed { failures: 0 };
                false
            }
            (Some(kind), State::Closed { failures }) if failures + 1 >= threshold => {
                *state = State::Open { until, kind };
                true
            }
            (Some(_), State::Closed { failures }) => {
                *state = State::Closed {
                    failures: failures + 1,
                };
                false
            }
            (Some(kind), State::HalfOpen { .. }) => {
                *state = State::Open { until, kind };
                true
            }
            // A call admitted before the circuit opened: already open.
            (Some(_), State::Open { .. }) => false,
        })
    }
}

/// One circuit as `grantd status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuit {
    /// `None`: the daemon's own region.
    pub region: Option<String>,
    /// `closed`, `open` or `half-open`.
    pub state: &'static str,
    /// Transient failures in a row while closed.
    pub failures: u32,
    /// While open: when a probe may go through.
    pub probe_at: Option<SystemTime>,
}

impl Breaker {
    /// Every circuit a call has passed, by region, at `now`. A circuit whose
    /// cool-down is over shows as half-open: the next call is its probe.
    pub(super) fn circuits(&self, now: SystemTime) -> Vec<Circuit> {
        let circuits = self.circuits.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<Circuit> = circuits
            .iter()
            .map(|(region, state)| {
                let (state, failures, probe_at) = match *state {
                    State::Closed { failures } => ("closed", failures, None),
                    State::Open { until, .. } if now < until => ("open", 0, Some(until)),
                    State::Open { .. } | State::HalfOpen { .. } => ("half-open", 0, None),
                };
                Circuit {
                    region: region.clone(),
                    state,
                    failures,
                    probe_at,
                }
            })
            .collect();
        all.sort_by(|a, b| a.region.cmp(&b.region));
        all
    }
}

/// Whether a failure of this kind counts toward opening the circuit: those
/// that say the service is overloaded or unreachable.
pub(super) fn trips(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Throttled | ErrorKind::Unavailable)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const THROTTLED: Option<ErrorKind> = Some(ErrorKind::Throttled);

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_435_200)
    }

    fn failed(b: &Breaker, times: u32, now: SystemTime) {
        for _ in 0..times {
            assert_eq!(b.admit(None, now), Admit::Call);
            b.record(None, THROTTLED, now);
        }
    }

    #[test]
    fn opens_after_the_threshold_of_failures_in_a_row() {
        let b = Breaker::new(BREAKER_THRESHOLD, BREAKER_COOLDOWN);
        failed(&b, BREAKER_THRESHOLD - 1, t0());
        assert_eq!(b.admit(None, t0()), Admit::Call, "one short: still closed");
        assert!(b.record(None, THROTTLED, t0()), "this failure opens it");
        assert_eq!(
            b.admit(None, t0() + 9 * SECOND),
            Admit::Refuse(ErrorKind::Throttled)
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(3, BREAKER_COOLDOWN);
        failed(&b, 2, t0());
        b.record(None, None, t0());
        failed(&b, 2, t0());
        assert_eq!(b.admit(None, t0()), Admit::Call);
    }

    #[test]
    fn after_the_cool_down_one_probe_goes_through_and_its_success_closes() {
        let b = Breaker::new(2, BREAKER_COOLDOWN);
        failed(&b, 2, t0());
        let later = t0() + BREAKER_COOLDOWN;
        assert_eq!(b.admit(None, later), Admit::Call, "the probe");
        assert_eq!(
            b.admit(None, later),
            Admit::Refuse(ErrorKind::Throttled),
            "one probe at a time"
        );
        b.record(None, None, later + SECOND);
        assert_eq!(b.admit(None, later + SECOND), Admit::Call);
        assert_eq!(b.admit(None, later + SECOND), Admit::Call, "closed again");
    }

    #[test]
    fn a_failed_probe_opens_the_circuit_for_another_cool_down() {
        let b = Breaker::new(2, BREAKER_COOLDOWN);
        failed(&b, 2, t0());
        let probe = t0() + BREAKER_COOLDOWN;
        assert_eq!(b.admit(None, probe), Admit::Call);
        assert!(b.record(None, Some(ErrorKind::Unavailable), probe));
        let almost = probe + BREAKER_COOLDOWN - SECOND;
        assert_eq!(b.admit(None, almost), Admit::Refuse(ErrorKind::Unavailable));
        assert_eq!(b.admit(None, probe + BREAKER_COOLDOWN), Admit::Call);
    }

    #[test]
    fn a_probe_that_never_reports_is_replaced_after_a_cool_down() {
        let b = Breaker::new(1, BREAKER_COOLDOWN);
        failed(&b, 1, t0());
        let probe = t0() + BREAKER_COOLDOWN;
        assert_eq!(b.admit(None, probe), Admit::Call);
        assert_ne!(b.admit(None, probe + 9 * SECOND), Admit::Call);
        assert_eq!(b.admit(None, probe + BREAKER_COOLDOWN), Admit::Call);
    }

    #[test]
    fn each_region_has_its_own_circuit() {
        let b = Breaker::new(1, BREAKER_COOLDOWN);
        failed(&b, 1, t0());
        assert_ne!(b.admit(None, t0()), Admit::Call);
        assert_eq!(b.admit(Some("eu-west-1"), t0()), Admit::Call);
    }

    #[test]
    fn circuits_show_their_state_by_region() {
        let b = Breaker::new(2, BREAKER_COOLDOWN);
        assert!(b.circuits(t0()).is_empty(), "no call, no circuit");
        failed(&b, 1, t0());
        assert_eq!(b.admit(Some("eu-west-1"), t0()), Admit::Call);
        let shown = b.circuits(t0());
        assert_eq!(
            shown,
            [
                Circuit {
                    region: None,
                    state: "closed",
                    failures: 1,
                    probe_at: None
                },
                Circuit {
                    region: Some("eu-west-1".into()),
                    state: "closed",
                    failures: 0,
                    probe_at: None
                }
            ]
        );
        failed(&b, 1, t0());
        let open = &b.circuits(t0())[0];
        assert_eq!(
            (open.state, open.probe_at),
            ("open", Some(t0() + BREAKER_COOLDOWN))
        );
        assert_eq!(b.circuits(t0() + BREAKER_COOLDOWN)[0].state, "half-open");
        assert_eq!(b.admit(None, t0() + BREAKER_COOLDOWN), Admit::Call);
        assert_eq!(b.circuits(t0() + BREAKER_COOLDOWN)[0].state, "half-open");
    }

    #[test]
    fn only_overload_and_outages_count() {
        assert!(trips(ErrorKind::Throttled) && trips(ErrorKind::Unavailable));
        assert!(!trips(ErrorKind::Malformed));
        assert!(!trips(ErrorKind::Denied) && !trips(ErrorKind::InvalidRequest));
    }
}
