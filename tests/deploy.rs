//! deploy/processing-entrypoint.sh, run for real against the emulator: it
//! starts the job with grantd's credentials, or does not start it at all.

mod common;
mod deploy_support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use common::*;
use deploy_support::*;

/// A job that says it ran, lists the names (never the values) of its
/// environment, and checks the token it got against the token file.
const ENV_JOB: &[&str] = &[
    "sh",
    "-c",
    "echo JOB_RAN; env | cut -d= -f1; \
     [ \"$AWS_CONTAINER_AUTHORIZATION_TOKEN\" = \"$(cat \"$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE\")\" ] \
       && echo TOKEN_MATCHES_FILE; \
     echo \"FULL_URI=$AWS_CONTAINER_CREDENTIALS_FULL_URI\"",
];

/// Runs the entrypoint with `config`, the run directory `dir/run` and the
/// job `job`; stops the daemon it left behind, if any.
fn run_entrypoint(
    emu: &Proc,
    dir: &Path,
    config: &str,
    job: &[&str],
    env: &[(&str, &str)],
) -> Output {
    std::fs::write(dir.join("grantd.toml"), config).unwrap();
    let mut cmd = script_command("processing-entrypoint.sh", emu);
    cmd.args(job)
        .env("GRANTD_CONFIG", dir.join("grantd.toml"))
        .env("GRANTD_RUN_DIR", dir.join("run"))
        // The execution role, as SageMaker sets it: the job must not see it.
        .env(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/execution-role",
        )
        .envs(env.iter().copied());
    let out = cmd.output().unwrap();
    kill_pid_file(&dir.join("run/grantd.pid"));
    out
}

fn assert_job_did_not_run(out: &Output, code: i32, says: &str) {
    let text = transcript(out);
    assert_eq!(out.status.code(), Some(code), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.lines().any(|l| l == "JOB_RAN"),
        "the job ran: {text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(says),
        "stderr should say {says:?}: {text}"
    );
}

#[test]
fn processing_entrypoint_starts_grantd_and_execs_the_job_with_its_credentials() {
    let emu = emulator(None);
    let dir = scratch("entrypoint");
    let out = run_entrypoint(
        &emu,
        dir.path(),
        PROFILES,
        &[BIN, "sdk-probe"],
        &[("GRANTD_CLIENT_PROFILE", "product")],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        transcript(&out),
        std::fs::read_to_string(dir.path().join("run/grantd.log")).unwrap_or_default()
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = got["access_key_id"].as_str().unwrap();
    assert!(
        key.starts_with("ASIA"),
        "the job used grantd, not the daemon's static key: {key}"
    );
    let issued = get(emu.addr, &format!("/_emulator/issued/{key}"), None).json();
    assert_eq!(
        issued["matched_grant_target"],
        format!("s3://{BUCKET}/Product/*")
    );
}

#[test]
fn the_job_gets_grantd_and_nothing_an_sdk_would_prefer_to_it() {
    let emu = emulator(None);
    let dir = scratch("entrypoint-env");
    let out = run_entrypoint(
        &emu,
        dir.path(),
        PROFILES,
        ENV_JOB,
        &[
            ("AWS_SESSION_TOKEN", "daemon-session"),
            // Web identity comes before the container provider in every SDK.
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/daemon"),
        ],
    );
    let text = transcript(&out);
    assert!(out.status.success(), "{text}");
    let names: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(names[0], "JOB_RAN");
    for wanted in [
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "TOKEN_MATCHES_FILE",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing: {text}");
    }
    for unwanted in [
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ] {
        assert!(
            !names.contains(&unwanted),
            "{unwanted} reached the job: {text}"
        );
    }
    let uri = names.last().unwrap().strip_prefix("FULL_URI=").unwrap();
    assert!(
        uri.starts_with("http://127.0.0.1:") && uri.ends_with("/v1/credentials"),
        "{text}"
    );
}

#[test]
fn an_invalid_profile_name_stops_the_job_instead_of_running_it_as_the_execution_role() {
    let emu = emulator(None);
    let dir = scratch("entrypoint-badname");
    let out = run_entrypoint(
        &emu,
        dir.path(),
        PROFILES,
        ENV_JOB,
        &[("GRANTD_CLIENT_PROFILE", "no such profile")],
    );
    assert_job_did_not_run(&out, 64, "grantd env failed for profile 'no such profile'");
}

#[test]
fn an_unknown_profile_stops_the_job_before_it_starts() {
    let emu = emulator(None);
    let dir = scratch("entrypoint-unknown");
    let out = run_entrypoint(
        &emu,
        dir.path(),
        PROFILES,
        ENV_JOB,
        &[("GRANTD_CLIENT_PROFILE", "nosuch")],
    );
    assert_job_did_not_run(&out, 70, "does not vend the job's credentials");
    assert!(String::from_utf8_lossy(&out.stderr).contains("UnknownProfile"));
}

#[test]
fn processing_entrypoint_fails_clearly_when_grantd_cannot_start() {
    let emu = emulator(None);
    let dir = scratch("entrypoint-bad");
    let out = run_entrypoint(
        &emu,
        dir.path(),
        "nonsense = 1\n",
        ENV_JOB,
        &[("GRANTD_READY_TIMEOUT", "3")],
    );
    assert_job_did_not_run(&out, 69, "unknown key \"nonsense\"");
}

#[test]
fn a_port_held_by_another_process_stops_the_job_although_something_answers_there() {
    // Whoever holds the port answers every request with 200, /readyz included.
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in squatter.incoming().flatten() {
            use std::io::{Read, Write};
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        }
    });
    let emu = emulator(None);
    let dir = scratch("entrypoint-squat");
    let listen = format!("127.0.0.1:{port}");
    let out = run_entrypoint(
        &emu,
        dir.path(),
        PROFILES,
        ENV_JOB,
        &[("GRANTD_LISTEN", &listen), ("GRANTD_READY_TIMEOUT", "10")],
    );
    assert_job_did_not_run(&out, 69, "grantd did not become ready: it exited");
}

#[test]
fn a_run_directory_of_another_user_is_refused() {
    let emu = emulator(None);
    let dir = scratch("entrypoint-foreign");
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    chown(&run, NOBODY);
    let out = run_entrypoint(&emu, dir.path(), PROFILES, ENV_JOB, &[]);
    assert_job_did_not_run(&out, 64, "is not a directory of our own");
    assert!(!run.join("token").exists(), "no token was written there");
}

#[test]
fn a_group_writable_run_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator(None);
    let dir = scratch("entrypoint-groupw");
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o770)).unwrap();
    let out = run_entrypoint(&emu, dir.path(), PROFILES, ENV_JOB, &[]);
    assert_job_did_not_run(&out, 64, "is group- or world-writable");
}

/// The entrypoint with the default run directory under `tmp` (its TMPDIR)
/// and the `job`; stops the daemon the job names in `tmp/daemon.pid`, if any.
fn run_in_default_dir(emu: &Proc, dir: &Path, tmp: &Path, job: &[&str]) -> Output {
    std::fs::write(dir.join("grantd.toml"), PROFILES).unwrap();
    let out = script_command("processing-entrypoint.sh", emu)
        .args(job)
        .env("GRANTD_CONFIG", dir.join("grantd.toml"))
        .env("TMPDIR", tmp)
        .output()
        .unwrap();
    kill_pid_file(&tmp.join("daemon.pid"));
    out
}

/// Everything left in `tmp` but the files the tests' jobs write.
fn left_in(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "daemon.pid")
        .collect()
}

/// Prints the run directory and its mode, and keeps the daemon's PID.
const RUN_DIR_JOB: &[&str] = &[
    "sh",
    "-c",
    "d=$(dirname \"$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE\"); cp \"$d/grantd.pid\" \"$TMPDIR/daemon.pid\"; \
     echo \"$d\"; stat -c %a \"$d\"",
];

#[test]
fn the_default_run_directory_is_new_and_private_and_removed_at_the_end() {
    let emu = emulator(None);
    let dir = scratch("entrypoint-default");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = run_in_default_dir(&emu, dir.path(), &tmp, RUN_DIR_JOB);
    let text = transcript(&out);
    assert!(out.status.success(), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let run = Path::new(lines.next().unwrap_or_default()).to_path_buf();
    assert!(run.starts_with(&tmp), "{text}");
    assert_eq!(lines.next(), Some("700"), "{text}");
    // Token, log and pid file went with it.
    assert!(!run.exists(), "{} was left behind: {text}", run.display());
    assert!(left_in(&tmp).is_empty(), "{:?}", left_in(&tmp));
}

#[test]
fn nothing_is_left_behind_when_the_job_fails_or_grantd_does_not_start() {
    let emu = emulator(None);
    let dir = scratch("entrypoint-leftovers");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let failing = [
        "sh",
        "-c",
        "cp \"$(dirname \"$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE\")/grantd.pid\" \"$TMPDIR/daemon.pid\"; exit 3",
    ];
    let out = run_in_default_dir(&emu, dir.path(), &tmp, &failing);
    assert_eq!(out.status.code(), Some(3), "{}", transcript(&out));
    assert!(left_in(&tmp).is_empty(), "{:?}", left_in(&tmp));
    // grantd refuses its configuration: the entrypoint stops before the job.
    std::fs::write(dir.path().join("bad.toml"), "nonsense = 1\n").unwrap();
    let out = script_command("processing-entrypoint.sh", &emu)
        .args(ENV_JOB)
        .env("GRANTD_CONFIG", dir.path().join("bad.toml"))
        .env("GRANTD_READY_TIMEOUT", "3")
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert_job_did_not_run(&out, 69, "unknown key \"nonsense\"");
    assert!(left_in(&tmp).is_empty(), "{:?}", left_in(&tmp));
}

#[test]
fn the_job_does_not_start_when_its_daemon_died_after_grantd_env() {
    // grantd, except that `creds` (the last call before the job starts)
    // then kills the daemon and waits until it has died (a zombie of the
    // entrypoint's), as a crash at that moment would: another user could
    // take its port before the job sends the token there.
    let emu = emulator(None);
    let dir = scratch("entrypoint-died");
    let wrapper = dir.path().join("grantd-dies");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n[ \"$1\" = creds ] || exec {BIN} \"$@\"\n\
             {BIN} \"$@\"; s=$?\npid=$(cat \"$GRANTD_RUN_DIR/grantd.pid\")\nkill -KILL \"$pid\"\n\
             while [ -e /proc/$pid ] && [ \"$(cut -d' ' -f3 /proc/$pid/stat)\" != Z ]; do sleep 0.01; done\n\
             exit $s\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_entrypoint(
        &emu,
        dir.path(),
        PROFILES,
        ENV_JOB,
        &[("GRANTD_BIN", wrapper.to_str().unwrap())],
    );
    assert_job_did_not_run(&out, 69, "died before the job started");
}

#[test]
fn malformed_settings_and_a_missing_job_are_refused_before_anything_starts() {
    let emu = emulator(None);
    let dir = scratch("entrypoint-input");
    let out = run_entrypoint(
        &emu,
        dir.path(),
        PROFILES,
        ENV_JOB,
        &[("GRANTD_READY_TIMEOUT", "soon")],
    );
    assert_job_did_not_run(&out, 64, "GRANTD_READY_TIMEOUT is not a number of seconds");
    let out = run_entrypoint(&emu, dir.path(), PROFILES, &[], &[]);
    assert_job_did_not_run(&out, 64, "no job given");
    assert!(
        !dir.path().join("run/grantd.pid").exists(),
        "no daemon was started"
    );
}
