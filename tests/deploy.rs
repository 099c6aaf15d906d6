//! The deploy scripts, run for real against the emulator.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn upstream_env(cmd: &mut Command, emu: &Proc) {
    client_env(cmd);
    cmd.env("AWS_ENDPOINT_URL_S3_CONTROL", emu.url())
        .env("AWS_ENDPOINT_URL_STS", emu.url())
        .env("AWS_ACCESS_KEY_ID", ROLE_A_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROLE_A_SECRET)
        .env("GRANTD_BIN", BIN)
        .env("GRANTD_LISTEN", "127.0.0.1:0");
}

fn kill_pid_file(path: &Path) {
    if let Ok(pid) = std::fs::read_to_string(path) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
}

/// Runs deploy/processing-entrypoint.sh with `config` and the job `job`.
fn run_entrypoint(
    emu: &Proc,
    dir: &Path,
    config: &str,
    job: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    std::fs::write(dir.join("grantd.toml"), config).unwrap();
    let mut cmd = Command::new("bash");
    upstream_env(&mut cmd, emu);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/processing-entrypoint.sh"
    ))
    .args(job)
    .env("GRANTD_CONFIG", dir.join("grantd.toml"))
    .env("GRANTD_RUN_DIR", dir.join("run"))
    .envs(env.iter().copied());
    let out = cmd.output().unwrap();
    kill_pid_file(&dir.join("run/grantd.pid"));
    out
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
        String::from_utf8_lossy(&out.stderr),
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
fn processing_entrypoint_fails_clearly_when_grantd_cannot_start() {
    let emu = emulator(None);
    let dir = scratch("entrypoint-bad");
    let out = run_entrypoint(
        &emu,
        dir.path(),
        "nonsense = 1\n",
        &["true"],
        &[("GRANTD_READY_TIMEOUT", "3")],
    );
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key \"nonsense\""));
}

#[test]
fn studio_lifecycle_config_starts_one_daemon_and_sets_up_shells_and_kernels() {
    let emu = emulator(None);
    let home = scratch("studio-home");
    let home = home.path();
    let lcc = |home: &Path| {
        let mut cmd = Command::new("bash");
        upstream_env(&mut cmd, &emu);
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/studio-lifecycle.sh"
        ))
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .output()
        .unwrap()
    };
    let first = lcc(home);
    let run_dir = home.join(format!(
        "run/grantd-{}",
        String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout)
            .unwrap()
            .trim()
    ));
    let pid_file = run_dir.join("grantd.pid");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let second = lcc(home);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        pid,
        "a second run reuses the running daemon"
    );
    let bashrc = std::fs::read_to_string(home.join(".bashrc")).unwrap();
    assert_eq!(
        bashrc.matches("client.env").count(),
        2,
        "one line, added once: {bashrc}"
    );

    // A new shell, with the space's RELATIVE_URI still set, uses grantd.
    let mut shell = Command::new("bash");
    client_env(&mut shell);
    let shell_out = shell
        .arg("-c")
        .arg(format!(
            ". '{}/.config/grantd/client.env' && exec '{BIN}' sdk-probe",
            home.display()
        ))
        .env(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/space-role",
        )
        .output()
        .unwrap();
    // A notebook kernel: the IPython startup file sets the same environment.
    let startup = home.join(".ipython/profile_default/startup/00-grantd.py");
    let kernel = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import os; os.environ['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']='/x'; exec(open('{}').read()); \
             print(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI']); print('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI' in os.environ); \
             print(os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN'] == open(os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE']).read())",
            startup.display()
        ))
        .output()
        .unwrap();
    kill_pid_file(&pid_file);
    assert!(
        shell_out.status.success(),
        "{}",
        String::from_utf8_lossy(&shell_out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&shell_out.stdout).unwrap();
    assert!(got["access_key_id"].as_str().unwrap().starts_with("ASIA"));
    let kernel_out = String::from_utf8_lossy(&kernel.stdout);
    let lines: Vec<&str> = kernel_out.lines().collect();
    assert!(
        kernel.status.success(),
        "{}",
        String::from_utf8_lossy(&kernel.stderr)
    );
    assert!(
        lines[0].starts_with("http://127.0.0.1:") && lines[0].ends_with("/v1/credentials"),
        "{kernel_out}"
    );
    assert_eq!(&lines[1..], ["False", "True"]);
}
