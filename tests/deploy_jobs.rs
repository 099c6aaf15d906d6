//! deploy/processing-entrypoint.sh runs the job as its child: the job's exit
//! code is the wrapper's, SIGTERM/SIGINT reach the job, no daemon outlives
//! the wrapper, and a job-wide `GRANTD_TOKEN` lets every instance's daemon
//! serve every instance's clients.

mod common;
mod deploy_support;

use std::net::{SocketAddr, TcpListener};

use common::*;
use deploy_support::jobs::*;

/// `sh -c SCRIPT sh ARGS…`: a job written in sh, with its arguments.
fn sh_job<'a>(script: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut job = vec!["sh", "-c", script, "sh"];
    job.extend_from_slice(args);
    job
}

#[test]
fn the_job_s_exit_code_is_the_wrapper_s_and_the_daemon_stops_with_it() {
    let emu = emulator(None);
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("kill -KILL $$", 128 + 9)] {
        let dir = scratch("job-exit");
        let done = Entrypoint::new(&emu, dir.path(), &sh_job(script, &[])).output();
        done.assert_exit_and_no_daemon(code);
    }
}

/// A job that marks `$1` when it has started, answers SIGTERM and SIGINT by
/// saying which it got and exiting 3 or 4, and otherwise runs for a minute.
/// (A non-interactive sh cannot trap a signal that was ignored when it
/// started, so `GOT_INT` also proves SIGINT was not ignored for the job.)
const SIGNALLED_JOB: &str = "trap 'echo GOT_TERM; exit 3' TERM; trap 'echo GOT_INT; exit 4' INT; \
     : > \"$1\"; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; exit 9";

#[test]
fn sigterm_and_sigint_to_the_wrapper_reach_the_job_and_nothing_is_left_running() {
    let emu = emulator(None);
    for (signal, said, code) in [("TERM", "GOT_TERM", 3), ("INT", "GOT_INT", 4)] {
        let dir = scratch("job-signal");
        let started = dir.path().join("started");
        let job = sh_job(SIGNALLED_JOB, &[started.to_str().unwrap()]);
        let running = Entrypoint::new(&emu, dir.path(), &job).spawn();
        wait_for_file(&started);
        running.signal(signal);
        let done = running.finish();
        assert!(done.stdout().lines().any(|l| l == said), "{}", done.text());
        done.assert_exit_and_no_daemon(code);
    }
}

#[test]
fn a_wrapper_stopped_before_its_job_starts_stops_its_daemon() {
    let emu = emulator(None);
    let dir = scratch("job-early-term");
    let marker = dir.path().join("job-ran");
    let job = sh_job(": > \"$1\"", &[marker.to_str().unwrap()]);
    // Readiness never comes (STS is unreachable), so the wrapper waits for it.
    let running = Entrypoint::new(&emu, dir.path(), &job)
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
        .env("GRANTD_READY_TIMEOUT", "30")
        .spawn();
    // Bound: the wrapper now waits for /readyz.
    wait_for_file(&dir.path().join("run/addr"));
    running.signal("TERM");
    let done = running.finish();
    assert!(!marker.exists(), "the job ran: {}", done.text());
    done.assert_exit_and_no_daemon(143);
}

#[test]
fn an_invalid_grantd_token_stops_the_job_and_is_never_shown() {
    let emu = emulator(None);
    let dir = scratch("job-bad-token");
    let bad = "not a token, it has spaces";
    let done = Entrypoint::new(&emu, dir.path(), &sh_job("echo JOB_RAN", &[]))
        .env("GRANTD_TOKEN", bad)
        .output();
    let text = done.text();
    assert_eq!(done.output.status.code(), Some(69), "{text}");
    assert!(!done.stdout().contains("JOB_RAN"), "{text}");
    assert!(
        text.contains("GRANTD_TOKEN: invalid token: may hold only visible ASCII"),
        "{text}"
    );
    assert!(!text.contains(bad), "the value was shown: {text}");
}

/// A loopback port free on both 127.0.0.2 and 127.0.0.3, as each instance
/// of a job uses the same port on its own loopback.
fn port_free_on_both() -> u16 {
    loop {
        let a = TcpListener::bind("127.0.0.2:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.3", port)).is_ok() {
            return port;
        }
    }
}

/// One instance's job: marks `$1` (ready), waits for the other's mark `$2`,
/// loads credentials with the AWS SDK from the OTHER instance's daemon
/// (`$4`, its FULL_URI) with this instance's token, as an executor sent the
/// driver's settings does, then marks `$3` and waits for the other's `$5`, so
/// neither daemon stops while the other instance still uses it.
const INSTANCE_JOB: &str = r#"
wait_for() { i=0; while [ ! -e "$1" ]; do sleep 0.05; i=$((i+1)); [ $i -lt 600 ] || exit 90; done; }
: > "$1"; wait_for "$2"
AWS_CONTAINER_CREDENTIALS_FULL_URI="$4" "$6" sdk-probe; probed=$?
: > "$3"; wait_for "$5"
exit $probed
"#;

#[test]
fn two_instances_with_one_grantd_token_serve_each_other_s_clients() {
    two_instances("credentials", "/v1/credentials/product", |key| {
        key.starts_with("ASIA")
    });
}

#[test]
fn two_s3_mode_instances_with_one_grantd_token_serve_each_other_s_identity() {
    // Each instance's daemon serves the container's own identity (RoleA's
    // keys here), which an executor on the other instance loads with the
    // job-wide token.
    two_instances("s3", "/v1/base-credentials", |key| key == ROLE_A_KEY);
}

/// Two instances of one job in `mode`, each loading credentials from the
/// other's daemon at `route` with the shared token; `good` judges the key.
fn two_instances(mode: &str, route: &str, good: fn(&str) -> bool) {
    let emu = emulator(None);
    let port = port_free_on_both();
    let token = "one-job-wide-token-for-every-instance";
    let dirs = [scratch("instance-a"), scratch("instance-b")];
    let hosts = ["127.0.0.2", "127.0.0.3"];
    let mark = |i: usize, what: &str| dirs[i].path().join(what).display().to_string();
    let uri = |i: usize| format!("http://{}:{port}{route}", hosts[i]);
    let (ready, done) = (
        [mark(0, "ready"), mark(1, "ready")],
        [mark(0, "done"), mark(1, "done")],
    );
    let uris = [uri(0), uri(1)];
    let running: Vec<Running> = (0..2)
        .map(|me| {
            let other = 1 - me;
            let args = [
                ready[me].as_str(),
                &ready[other],
                &done[me],
                &uris[other],
                &done[other],
                BIN,
            ];
            let listen = SocketAddr::new(hosts[me].parse().unwrap(), port).to_string();
            Entrypoint::new(&emu, dirs[me].path(), &sh_job(INSTANCE_JOB, &args))
                .env("GRANTD_LISTEN", &listen)
                .env("GRANTD_CLIENT_PROFILE", "product")
                .env("GRANTD_TOKEN", token)
                .env("GRANTD_MODE", mode)
                .env("GRANTD_S3_LISTEN", &format!("{}:0", hosts[me]))
                .spawn()
        })
        .collect();
    for (me, run) in running.into_iter().enumerate() {
        let finished = run.finish();
        let text = finished.text();
        let got: serde_json::Value = serde_json::from_str(finished.stdout().trim())
            .unwrap_or_else(|e| panic!("instance {me}: {e}: {text}"));
        let key = got["access_key_id"].as_str().unwrap_or_default();
        assert!(good(key), "instance {me}: {key}: {text}");
        finished.assert_exit_and_no_daemon(0);
        // Each daemon wrote the shared token for its own clients.
        let written = std::fs::read_to_string(dirs[me].path().join("run/token")).unwrap();
        assert_eq!(written, token);
        assert!(!text.contains(token), "the token was shown: {text}");
    }
}

/// The job of an s3-mode instance: its S3 endpoint, its Spark configuration
/// and the identity its SDK loads.
const S3_MODE_JOB: &str = r#"
echo "s3=$AWS_ENDPOINT_URL_S3"
echo "uri=$AWS_CONTAINER_CREDENTIALS_FULL_URI"
echo "relative=${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI-unset}"
grep '^spark.hadoop.fs.s3a.endpoint ' "$SPARK_CONF_DIR/spark-defaults.conf"
"$1" sdk-probe
"#;

#[test]
fn s3_mode_keeps_the_job_s_own_identity_and_sends_s3_and_s3a_to_its_endpoint() {
    let emu = emulator(None);
    let dir = scratch("job-s3-mode");
    let s3 = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let done = Entrypoint::new(&emu, dir.path(), &sh_job(S3_MODE_JOB, &[BIN]))
        .env("GRANTD_MODE", "s3")
        .env("GRANTD_S3_LISTEN", &s3.to_string())
        .env(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/role",
        )
        .output();
    let text = done.text();
    let out = done.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("s3=http://{s3}"), "{text}");
    assert!(
        lines[1].starts_with("uri=http://127.0.0.1:") && lines[1].ends_with("/v1/base-credentials"),
        "{text}"
    );
    assert_eq!(lines[2], "relative=unset");
    assert_eq!(
        lines[3],
        format!("spark.hadoop.fs.s3a.endpoint http://{s3}")
    );
    let probe: serde_json::Value = serde_json::from_str(lines[4]).unwrap();
    // The container's own identity (RoleA's keys here), served by grantd.
    assert_eq!(probe["access_key_id"], ROLE_A_KEY, "{text}");
    done.assert_exit_and_no_daemon(0);
}

#[test]
fn an_unknown_mode_stops_the_entrypoint_before_the_job() {
    let emu = emulator(None);
    let dir = scratch("job-bad-mode");
    let marker = dir.path().join("job-ran");
    let done = Entrypoint::new(
        &emu,
        dir.path(),
        &sh_job(": > \"$1\"", &[marker.to_str().unwrap()]),
    )
    .env("GRANTD_MODE", "s4")
    .output();
    assert!(
        done.text()
            .contains("GRANTD_MODE must be credentials or s3"),
        "{}",
        done.text()
    );
    assert!(!marker.exists());
    assert_eq!(done.output.status.code(), Some(64));
    assert_eq!(done.daemon, None, "a daemon was started");
}
