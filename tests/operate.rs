//! Operating the real daemon: `grantd status` and reloads (`SIGHUP`,
//! `grantd reload`), against the emulator.
//!
//! - status: each scope with its state and requests, remembered refusals,
//!   the circuit, the base identity's ARN; no secret; the owner alone.
//! - reload: profiles, `allowed_uids` and the log level put in force while
//!   requests are in flight on open connections, none failing; the cache,
//!   token and listener kept; a bad configuration refused with every
//!   problem and the old one kept; other settings named as taking a restart.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;

const USERA_ONLY: &str = r#"
[profiles.usera]
target = "s3://blog-access-grants-111122223333-us-east-1/UserA/*"
permission = "READWRITE"
"#;

fn status(d: &Proc) -> serde_json::Value {
    serde_json::from_str(&stdout_of_success(&with_daemon_settings(
        d,
        &["status", "--format", "json"],
    )))
    .unwrap()
}

fn scope<'a>(status: &'a serde_json::Value, prefix: &str, state: &str) -> &'a serde_json::Value {
    let wanted = format!("s3://{BUCKET}/{prefix}");
    status["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"] == wanted.as_str() && s["state"] == state)
        .unwrap_or_else(|| panic!("no {state} scope {wanted} in {status}"))
}

fn write_config(d: &Proc, text: &str) {
    std::fs::write(d.dir().join("grantd.toml"), text).unwrap();
}

fn hangup(d: &Proc) {
    let ok = Command::new("kill")
        .arg("-HUP")
        .arg(d.child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP failed");
}

/// Waits until the daemon's log holds `n` lines containing `needle`.
fn wait_for_log(d: &Proc, needle: &str, n: usize) {
    wait_for(
        &format!("{n} log line(s) with {needle:?}"),
        || (plain(&d.logs()).matches(needle).count() >= n).then_some(()),
        || d.logs(),
    );
}

#[test]
fn status_shows_each_scope_its_state_and_requests_the_circuit_and_the_base_identity() {
    let s = stack(PROFILES);
    let mut secrets = vec![s.token.clone(), ROLE_A_SECRET.to_string()];
    for _ in 0..3 {
        let v = assert_credentials(&get(s.daemon.addr, "/v1/credentials/usera", Some(&s.token)));
        secrets.push(v["SecretAccessKey"].as_str().unwrap().to_string());
        secrets.push(v["Token"].as_str().unwrap().to_string());
    }
    let inside = get(
        s.daemon.addr,
        &query("UserA/deep/*", "READWRITE"),
        Some(&s.token),
    );
    assert_credentials(&inside);
    for _ in 0..2 {
        let denied = get(s.daemon.addr, &query("UserB/*", "READ"), Some(&s.token));
        assert_contract_error(&denied, 403, "AccessDenied");
    }

    let st = status(&s.daemon);
    let usera = scope(&st, "UserA/*", "fresh");
    assert_eq!(usera["permission"], "READWRITE");
    assert_eq!(
        usera["requests"], 4,
        "three by name, one inside the grant: {usera}"
    );
    let left = usera["seconds_left"].as_u64().unwrap();
    assert!(left > 3000 && left <= 3600, "{usera}");
    assert!(usera["last_refresh"].as_str().unwrap().ends_with('Z'));
    assert!(usera["next_refresh"].as_str().is_some());
    let product = scope(&st, "Product/*", "fresh");
    assert_eq!(product["requests"], 0, "warmed at start, asked by no one");
    let denied = scope(&st, "UserB/*", "denied");
    assert_eq!(denied["requests"], 2);
    assert!(denied["error"].as_str().unwrap().contains("AccessDenied"));
    assert_eq!(st["upstream"]["circuit"], "closed");
    assert_eq!(
        st["base_identity"]["arn"],
        "arn:aws:iam::111122223333:role/access-grants-blog-RoleA"
    );
    assert_eq!(st["base_identity"]["kind"], "long-term");
    assert_eq!(st["daemon"]["listen"], s.daemon.addr.to_string());
    assert_eq!(st["daemon"]["account_id"], "111122223333");
    assert_eq!(st["config"]["profiles"][0]["name"], "usera");

    let table = stdout_of_success(&with_daemon_settings(&s.daemon, &["status"]));
    for shown in [
        "SCOPE",
        "STATE",
        "REQUESTS",
        "fresh",
        "denied",
        "circuit closed",
        "access-grants-blog-RoleA",
    ] {
        assert!(table.contains(shown), "{shown} not in:\n{table}");
    }
    let json = stdout_of_success(&with_daemon_settings(
        &s.daemon,
        &["status", "--format", "json"],
    ));
    for secret in &secrets {
        assert!(!table.contains(secret.as_str()) && !json.contains(secret.as_str()));
    }
    assert!(!json.contains("ASIA"), "no access key id either: {json}");
}

#[test]
fn status_and_reload_are_the_daemon_s_own_user_s_alone() {
    let s = stack(&format!("allowed_uids = [{NOBODY}]\n{PROFILES}"));
    let auth = [("Authorization", s.token.as_str())];
    let creds = get_as_nobody(s.daemon.addr, "GET", "/v1/credentials/usera", &auth);
    assert_credentials(&creds);
    for (method, path) in [("GET", "/v1/status"), ("POST", "/v1/reload")] {
        let refused = get_as_nobody(s.daemon.addr, method, path, &auth);
        let v = assert_contract_error(&refused, 403, "PeerNotAllowed");
        assert!(v["message"].as_str().unwrap().contains("own user"), "{v}");
    }
    let no_token = get(s.daemon.addr, "/v1/status", None);
    assert_contract_error(&no_token, 401, "MissingToken");
    let wrong = request(
        s.daemon.addr,
        "POST",
        "/v1/reload",
        &[("Authorization", "not-the-token-at-all")],
    );
    assert_contract_error(&wrong, 403, "InvalidToken");
    let get_reload = get(s.daemon.addr, "/v1/reload", Some(&s.token));
    assert_contract_error(&get_reload, 405, "InvalidRequest");
    let post_status = request(
        s.daemon.addr,
        "POST",
        "/v1/status",
        &[("Authorization", s.token.as_str())],
    );
    assert_contract_error(&post_status, 405, "InvalidRequest");
    assert!(
        !s.daemon.logs().contains("configuration reloaded"),
        "nobody reloaded"
    );
}

/// Sends `GET path` over one kept-alive connection until `stop`; the
/// status of every answer.
fn keep_asking(
    addr: SocketAddr,
    token: String,
    path: &'static str,
    stop: Arc<AtomicBool>,
) -> Vec<u16> {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut statuses = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        write!(
            writer,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n\r\n"
        )
        .unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header == "\r\n" || header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        statuses.push(status);
    }
    statuses
}

#[test]
fn a_reload_with_requests_in_flight_puts_profiles_uids_and_log_level_in_force_and_keeps_the_rest() {
    let mut s = stack(USERA_ONLY);
    let addr = s.daemon.addr;
    let refused = get_as_nobody(
        addr,
        "GET",
        "/v1/credentials/usera",
        &[("Authorization", &s.token)],
    );
    assert_contract_error(&refused, 403, "PeerNotAllowed");
    assert_contract_error(
        &get(addr, "/v1/credentials/product", Some(&s.token)),
        404,
        "UnknownProfile",
    );
    let loads_before = upstream_calls(&s.emu, "GetDataAccess");

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (token, stop) = (s.token.clone(), stop.clone());
            std::thread::spawn(move || keep_asking(addr, token, "/v1/credentials/usera", stop))
        })
        .collect();
    let with_product =
        format!("allowed_uids = [{NOBODY}]\nlog_level = \"grantd=debug\"\n{PROFILES}");
    for round in 0..6 {
        write_config(
            &s.daemon,
            if round % 2 == 0 {
                &with_product
            } else {
                USERA_ONLY
            },
        );
        if round % 3 == 0 {
            let out = stdout_of_success(&with_daemon_settings(&s.daemon, &["reload"]));
            assert!(out.contains("reloaded"), "{out}");
        } else {
            hangup(&s.daemon);
        }
        wait_for_log(&s.daemon, "configuration reloaded", round + 1);
    }
    write_config(&s.daemon, &with_product);
    hangup(&s.daemon);
    wait_for_log(&s.daemon, "configuration reloaded", 7);
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for client in clients {
        let statuses = client.join().expect("a client's connection failed");
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        answered += statuses.len();
    }
    assert!(answered > 0);

    // What a reload changes is in force ...
    assert_credentials(&get(addr, "/v1/credentials/product", Some(&s.token)));
    let allowed = get_as_nobody(
        addr,
        "GET",
        "/v1/credentials/usera",
        &[("Authorization", &s.token)],
    );
    assert_credentials(&allowed);
    let logs = plain(&s.daemon.logs());
    assert!(
        logs.contains("DEBUG"),
        "the debug filter is in force:\n{logs}"
    );
    // ... and the rest stayed: the listener, the token, the cache.
    assert_eq!(
        std::fs::read_to_string(s.daemon.dir().join("addr"))
            .unwrap()
            .trim(),
        addr.to_string()
    );
    assert_eq!(token(&s.daemon), s.token);
    let loads = upstream_calls(&s.emu, "GetDataAccess") - loads_before;
    assert_eq!(loads, 1, "usera stayed cached; product was loaded once");
    let st = status(&s.daemon);
    assert_eq!(st["config"]["reloads"], 7);
    let metrics = get(addr, "/metrics", None).body;
    assert!(
        metrics.contains("grantd_config_reloads_total{outcome=\"applied\"} 7"),
        "{metrics}"
    );
    assert_eq!(st["config"]["allowed_uids"][0], NOBODY);
    assert!(s.daemon.running());
    assert_eq!(s.daemon.terminate(), 0);
}

#[test]
fn a_bad_configuration_is_refused_with_every_problem_and_the_old_one_stays() {
    let s = stack(USERA_ONLY);
    write_config(
        &s.daemon,
        &format!("allowed_uids = \"everyone\"\nlog_level = \"[nope\"\n{USERA_ONLY}"),
    );
    hangup(&s.daemon);
    wait_for_log(&s.daemon, "configuration refused", 1);
    let logs = plain(&s.daemon.logs());
    assert!(
        logs.contains("allowed_uids") && logs.contains("log_level"),
        "{logs}"
    );

    let out = with_daemon_settings(&s.daemon, &["reload"]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 problems"), "{err}");
    assert!(
        err.contains("allowed_uids") && err.contains("log_level"),
        "{err}"
    );
    assert!(err.contains("keeps the configuration in force"), "{err}");

    assert_credentials(&get(s.daemon.addr, "/v1/credentials/usera", Some(&s.token)));
    let st = status(&s.daemon);
    assert_eq!(st["config"]["last_reload"]["ok"], false);
    assert_eq!(
        st["config"]["last_reload"]["problems"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(st["config"]["log_level"], "RUST_LOG or info");
    let metrics = get(s.daemon.addr, "/metrics", None).body;
    assert!(
        metrics.contains("grantd_config_reloads_total{outcome=\"refused\"} 2"),
        "{metrics}"
    );

    // A setting that takes a restart is named, and not applied.
    write_config(&s.daemon, &format!("max_entries = 50\n{PROFILES}"));
    let out = stdout_of_success(&with_daemon_settings(&s.daemon, &["reload"]));
    assert!(out.contains("in force now: profile product"), "{out}");
    assert!(out.contains("after a restart: max_entries"), "{out}");
}
