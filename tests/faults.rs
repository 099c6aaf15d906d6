//! The fault suite's wire-level scenarios: the real daemon against the
//! emulator's fault injection (stalls, timeouts, connection resets, broken
//! XML, expiring credentials, throttling, STS down at start, denials).
//!
//! Each test's doc states what is expected. Throughout: a client is never
//! refused while valid cached credentials exist, and S3 Control is never
//! hammered (the SDK's three attempts, the circuit breaker). Scenarios that
//! need minutes (long throttling, renewals, denials that expire, grants
//! added or removed mid-life: the emulator's grants are fixed at start)
//! run on a paused clock in `src/cache/tests/faults.rs`.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Attempts the daemon's SDK makes per upstream call (`upstream::aws::MAX_ATTEMPTS`).
const ATTEMPTS: u64 = 3;
/// Transient failures in a row that open the circuit (`cache::BREAKER_THRESHOLD`).
const BREAKER_THRESHOLD: u64 = 5;

/// The warm profile's credentials, asserted served.
fn warm(s: &Stack) -> serde_json::Value {
    assert_credentials(&get(s.daemon.addr, "/v1/credentials/usera", Some(&s.token)))
}

/// The route of a scope nobody asked for yet: `Minimal`, so it is its own
/// entry, not one inside a grant already cached.
fn cold_path(name: &str) -> String {
    format!(
        "{}&privilege=Minimal",
        query(&format!("UserA/{name}/*"), "READ")
    )
}

fn cold(s: &Stack, name: &str) -> Reply {
    get(s.daemon.addr, &cold_path(name), Some(&s.token))
}

/// Uses the emulator has spent of faults added with `"times": total`.
fn spent(emu: &Proc, total: u64) -> u64 {
    let faults = get(emu.addr, "/_emulator/faults", None).json();
    let left: u64 = faults["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["times"].as_u64().unwrap())
        .sum();
    total - left
}

/// Expected: S3 Control stalling 5 s on every call. A warm scope is
/// served at once from the cache, the same credentials as before; a cold
/// one gets 503 UpstreamUnavailable within the SDK's 4 s operation timeout
/// (never a hang), after at most three attempts.
#[test]
fn a_five_second_stall_holds_no_warm_client_and_times_out_a_cold_one() {
    let s = stack(PROFILES);
    let before = warm(&s);
    add_fault(
        &s.emu,
        r#"{"operation":"GetDataAccess","latency_ms":5000,"times":10}"#,
    );
    let asked = Instant::now();
    let reply = cold(&s, "stalled");
    let took = asked.elapsed();
    assert_contract_error(&reply, 503, "UpstreamUnavailable");
    assert!(
        took < Duration::from_millis(4_900),
        "answered after {took:?}"
    );
    let asked = Instant::now();
    assert_eq!(warm(&s)["AccessKeyId"], before["AccessKeyId"]);
    assert!(asked.elapsed() < Duration::from_millis(500));
    let attempts = spent(&s.emu, 10);
    assert!(attempts <= ATTEMPTS, "{attempts} attempts");
}

/// Expected: connection resets are transient. Two in a row are absorbed by
/// the SDK's retries (the client gets credentials); resets on every call
/// give a 503 UpstreamUnavailable after at most three attempts, while the
/// warm scope keeps being served.
#[test]
fn connection_resets_are_retried_a_bounded_number_of_times() {
    let s = stack(PROFILES);
    let before = warm(&s);
    add_fault(
        &s.emu,
        r#"{"operation":"GetDataAccess","reset":true,"times":2}"#,
    );
    assert_credentials(&cold(&s, "reset-twice"));
    add_fault(
        &s.emu,
        r#"{"operation":"GetDataAccess","reset":true,"times":10}"#,
    );
    assert_contract_error(&cold(&s, "reset-always"), 503, "UpstreamUnavailable");
    let attempts = spent(&s.emu, 10);
    assert!((1..=ATTEMPTS).contains(&attempts), "{attempts} attempts");
    assert_eq!(warm(&s)["AccessKeyId"], before["AccessKeyId"]);
}

/// Expected: a truncated or non-XML answer is a transient 503 for that
/// request alone: it is not remembered, so the next request is served;
/// the warm scope is served throughout.
#[test]
fn broken_xml_fails_one_request_and_is_not_remembered() {
    let s = stack(PROFILES);
    let before = warm(&s);
    for kind in ["truncated", "not-xml"] {
        add_fault(
            &s.emu,
            &format!(r#"{{"operation":"GetDataAccess","malformed":"{kind}","times":1}}"#),
        );
        assert_contract_error(&cold(&s, kind), 503, "UpstreamUnavailable");
        assert_eq!(warm(&s)["AccessKeyId"], before["AccessKeyId"], "{kind}");
        clear_faults(&s.emu);
        assert_credentials(&cold(&s, kind));
    }
}

/// Expected: credentials that arrive already expired, or that expire in
/// under 60 s (the issuer's clock ahead of ours), are never served: 503
/// UpstreamUnavailable; sound ones are served again as soon as they come.
#[test]
fn credentials_arriving_expired_or_expiring_within_a_minute_are_never_served() {
    let s = stack(PROFILES);
    add_fault(
        &s.emu,
        r#"{"operation":"GetDataAccess","malformed":"expired","times":3}"#,
    );
    assert_contract_error(&cold(&s, "expired"), 503, "UpstreamUnavailable");
    clear_faults(&s.emu);
    let settings = post_json(
        s.emu.addr,
        "/_emulator/settings",
        r#"{"credential_lifetime_seconds":30}"#,
    );
    assert_eq!(settings.status, 200, "{}", settings.body);
    assert_contract_error(&cold(&s, "short"), 503, "UpstreamUnavailable");
    post_json(
        s.emu.addr,
        "/_emulator/settings",
        r#"{"credential_lifetime_seconds":null}"#,
    );
    assert_credentials(&cold(&s, "short"));
}

/// Expected: S3 Control answering every call 503 SlowDown. Clients of new
/// scopes get 503 Throttled with Retry-After; once the circuit breaker has
/// seen its threshold of failures, further requests are answered at once
/// and cost S3 Control nothing; the warm scope is served throughout.
#[test]
fn throttling_opens_the_circuit_and_spares_s3_control() {
    let s = stack(PROFILES);
    let before = warm(&s);
    let calls_before = upstream_calls(&s.emu, "GetDataAccess");
    add_fault(
        &s.emu,
        r#"{"operation":"GetDataAccess","status":503,"code":"SlowDown","message":"Please reduce your request rate"}"#,
    );
    // Concurrent, as a busy host would be, and so the test stays short.
    let first: Vec<_> = (0..BREAKER_THRESHOLD)
        .map(|i| {
            let (addr, token) = (s.daemon.addr, s.token.clone());
            std::thread::spawn(move || get(addr, &cold_path(&format!("t{i}")), Some(&token)))
        })
        .collect();
    for reply in first {
        let reply = reply.join().unwrap();
        assert_contract_error(&reply, 503, "Throttled");
        assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
    }
    let calls = upstream_calls(&s.emu, "GetDataAccess") - calls_before;
    assert!(calls <= BREAKER_THRESHOLD * ATTEMPTS, "{calls} calls");
    for i in 0..20 {
        let asked = Instant::now();
        assert_contract_error(&cold(&s, &format!("open{i}")), 503, "Throttled");
        assert!(asked.elapsed() < Duration::from_millis(500), "failed fast");
    }
    assert_eq!(
        upstream_calls(&s.emu, "GetDataAccess") - calls_before,
        calls,
        "no call while the circuit is open"
    );
    assert_eq!(warm(&s)["AccessKeyId"], before["AccessKeyId"]);
}

/// Expected: AccessDenied appearing for one scope is passed on (403 with
/// the service's reason) and remembered briefly, so asking again costs no
/// upstream call; other scopes are not affected. (Its disappearing after
/// the 30 s denial TTL is tested on the paused clock.)
#[test]
fn access_denied_for_one_scope_is_remembered_and_leaves_others_served() {
    let s = stack(PROFILES);
    let prefix = format!("s3://{BUCKET}/UserA/revoked/");
    add_fault(
        &s.emu,
        &format!(
            r#"{{"operation":"GetDataAccess","target_prefix":"{prefix}","status":403,"code":"AccessDenied","message":"Access revoked"}}"#
        ),
    );
    let calls = upstream_calls(&s.emu, "GetDataAccess");
    for _ in 0..3 {
        let denied = assert_contract_error(&cold(&s, "revoked"), 403, "AccessDenied");
        assert_eq!(denied["message"], "Access revoked");
    }
    assert_eq!(upstream_calls(&s.emu, "GetDataAccess"), calls + 1);
    warm(&s);
    assert_credentials(&cold(&s, "granted"));
}

/// A daemon started but not waited on, killed (by its own handle) when dropped.
struct Starting {
    child: Child,
    addr: std::net::SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Starting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_unready(emu: &Proc) -> Starting {
    let dir = scratch("daemon");
    let log = dir.path().join("grantd.log");
    let child = daemon_command(emu, dir.path(), PROFILES)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr_file = dir.path().join("addr");
    let addr = wait_for(
        "the daemon's address",
        || read_addr(&addr_file),
        || std::fs::read_to_string(&log).unwrap_or_default(),
    );
    Starting {
        child,
        addr,
        log,
        _dir: dir,
    }
}

fn read_addr(path: &Path) -> Option<std::net::SocketAddr> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Expected: STS failing when the daemon starts. The daemon starts and
/// listens (`/healthz` 200) but is not ready (`/readyz` 503) while STS
/// fails; it retries with backoff, not in a tight loop, and becomes ready
/// by itself once STS answers, then vends.
#[test]
fn sts_down_at_start_is_not_ready_then_recovers_by_itself() {
    let emu = emulator(None);
    add_fault(
        &emu,
        r#"{"operation":"GetCallerIdentity","status":503,"code":"ServiceUnavailable"}"#,
    );
    let daemon = start_unready(&emu);
    let logs = || std::fs::read_to_string(&daemon.log).unwrap_or_default();
    wait_for(
        "STS to be asked",
        || (upstream_calls(&emu, "GetCallerIdentity") >= 1).then_some(()),
        logs,
    );
    assert_eq!(get(daemon.addr, "/healthz", None).status, 200);
    assert_eq!(get(daemon.addr, "/readyz", None).status, 503);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let asked = upstream_calls(&emu, "GetCallerIdentity");
    assert!(asked <= 4 * ATTEMPTS, "{asked} STS calls in about a second");
    assert_eq!(get(daemon.addr, "/readyz", None).status, 503);
    clear_faults(&emu);
    wait_for(
        "the daemon to become ready by itself",
        || (get(daemon.addr, "/readyz", None).status == 200).then_some(()),
        logs,
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let token = std::fs::read_to_string(daemon._dir.path().join("token")).unwrap();
    assert_credentials(&get(daemon.addr, "/v1/credentials/usera", Some(&token)));
}
