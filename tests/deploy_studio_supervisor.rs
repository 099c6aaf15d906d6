//! deploy/studio-lifecycle.sh's supervisor and install paths, run for real
//! against the emulator: a daemon that dies comes back on the same address
//! with the same token, one supervisor however often the script runs, `stop`
//! stops both, the binary comes from a wheel, the profiles from
//! `GRANTD_CONFIG`, and bad input stops the script before anything starts.

mod common;
mod deploy_support;
mod studio_support;

use std::path::Path;
use std::process::Command;

use common::*;
use deploy_support::transcript;
use studio_support::*;

#[test]
fn a_killed_daemon_is_restarted_with_backoff_on_the_same_address_and_token() {
    let emu = emulator(None);
    let space = Space::new("studio-restart");
    assert_success(&space.lcc(&emu).output().unwrap());
    let (addr, token) = (space.daemon_addr(), space.token());
    let first = space.wait_for_one_ready_daemon(None);

    kill("KILL", first);
    let second = space.wait_for_one_ready_daemon(Some(first));
    kill("KILL", second);
    let third = space.wait_for_one_ready_daemon(Some(second));

    let log = space.log();
    assert!(log.contains("restarting in 1 s"), "{log}");
    assert!(log.contains("restarting in 2 s"), "backoff doubles: {log}");
    assert_eq!(space.daemon_addr(), addr);
    assert_eq!(space.token(), token, "the token file outlives the daemon");
    // A kernel that started before the restarts still holds the old URI and
    // token value: both still work.
    let reply = get(addr, "/v1/credentials", Some(&token));
    assert_credentials(&reply);
    assert_eq!(space.pid_file("grantd.pid"), Some(third));
}

#[test]
fn running_the_script_again_keeps_one_supervisor_and_one_daemon() {
    let emu = emulator(None);
    let space = Space::new("studio-again");
    assert_success(&space.lcc(&emu).output().unwrap());
    let daemon = space.wait_for_one_ready_daemon(None);
    let supervisor = space.supervisors()[0];
    assert_success(&space.lcc(&emu).output().unwrap());
    assert_eq!(space.supervisors(), [supervisor]);
    assert_eq!(space.daemons(), [daemon]);
    assert_eq!(space.pid_file("supervisor.pid"), Some(supervisor));
}

#[test]
fn a_daemon_left_by_a_killed_supervisor_is_replaced_not_doubled() {
    let emu = emulator(None);
    let space = Space::new("studio-orphan");
    assert_success(&space.lcc(&emu).output().unwrap());
    let orphan = space.wait_for_one_ready_daemon(None);
    kill("KILL", space.supervisors()[0]);
    assert_success(&space.lcc(&emu).output().unwrap());
    let daemon = space.wait_for_one_ready_daemon(Some(orphan));
    assert_eq!(space.daemons(), [daemon]);
}

#[test]
fn supervise_stop_ends_the_supervisor_and_the_daemon() {
    let emu = emulator(None);
    let space = Space::new("studio-stop");
    assert_success(&space.lcc(&emu).output().unwrap());
    space.wait_for_one_ready_daemon(None);
    let run_dir = space.run_dir();
    assert_success(&space.supervise("stop").output().unwrap());
    assert!(space.supervisors().is_empty(), "{}", space.log());
    assert!(space.daemons().is_empty(), "{}", space.log());
    for gone in ["grantd.pid", "supervisor.pid", "addr"] {
        assert!(!run_dir.join(gone).exists(), "{gone} left behind");
    }
    assert!(space.log().contains("supervise: "), "{}", space.log());
    // Stopping again is a no-op; the script starts it all again.
    assert_success(&space.supervise("stop").output().unwrap());
    assert_success(&space.lcc(&emu).output().unwrap());
    space.wait_for_one_ready_daemon(None);
}

#[test]
fn profiles_come_from_grantd_config() {
    let emu = emulator(None);
    let space = Space::new("studio-config");
    let config = space.home().join("team.toml");
    std::fs::write(
        &config,
        format!("[profiles.team]\ntarget = \"s3://{BUCKET}/Product/*\"\npermission = \"READ\"\n"),
    )
    .unwrap();
    let out = space
        .lcc(&emu)
        .env("GRANTD_CONFIG", &config)
        .output()
        .unwrap();
    assert_success(&out);
    let reply = get(
        space.daemon_addr(),
        "/v1/credentials/team",
        Some(&space.token()),
    );
    assert_credentials(&reply);
    assert!(!space.home().join(".config/grantd/grantd.toml").exists());
}

#[test]
fn a_malformed_grantd_config_stops_the_script_before_any_daemon_starts() {
    let emu = emulator(None);
    let space = Space::new("studio-badconfig");
    let config = space.home().join("bad.toml");
    std::fs::write(&config, "[profiles.x]\ntarget = \"not-an-s3-uri\"\n").unwrap();
    let out = space
        .lcc(&emu)
        .env("GRANTD_CONFIG", &config)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", transcript(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("profiles.x.target"), "{}", transcript(&out));
    assert!(space.supervisors().is_empty() && space.daemons().is_empty());
}

#[test]
fn a_missing_wheel_stops_the_script_with_pips_error() {
    let emu = emulator(None);
    let space = Space::new("studio-nowheel");
    let out = space
        .lcc(&emu)
        .env_remove("GRANTD_BIN")
        .env(
            "GRANTD_WHEEL",
            space.home().join("grantd-0.0.0-py3-none-any.whl"),
        )
        .env("PIP_NO_INDEX", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", transcript(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("grantd-0.0.0-py3-none-any.whl"),
        "{}",
        transcript(&out)
    );
    assert!(space.supervisors().is_empty() && space.daemons().is_empty());
}

#[test]
fn the_daemon_is_installed_from_a_wheel_into_a_user_venv() {
    let emu = emulator(None);
    let space = Space::new("studio-wheel");
    let wheel = fake_wheel(space.home());
    let run = || {
        space
            .lcc(&emu)
            .env_remove("GRANTD_BIN")
            .env("GRANTD_WHEEL", &wheel)
            .env("PIP_NO_INDEX", "1")
            .output()
            .unwrap()
    };
    assert_success(&run());
    let installed = space.home().join(".local/share/grantd/venv/bin/grantd");
    let daemon = space.wait_for_one_ready_daemon(None);
    let exe = std::fs::read_link(format!("/proc/{daemon}/exe")).unwrap();
    assert_eq!(exe, installed, "the daemon runs the wheel's binary");
    let installed_at = std::fs::metadata(&installed).unwrap().modified().unwrap();

    assert_success(&run());
    assert_eq!(
        std::fs::metadata(&installed).unwrap().modified().unwrap(),
        installed_at,
        "the same wheel is not installed twice"
    );
    assert_eq!(space.daemons(), [daemon]);
}

/// A wheel the way maturin's `bindings = "bin"` lays one out: the binary
/// under `NAME-VERSION.data/scripts/`, which pip puts in the venv's `bin/`.
fn fake_wheel(dir: &Path) -> std::path::PathBuf {
    const MAKE: &str = r#"
import base64, hashlib, sys, zipfile
binary, out = sys.argv[1], sys.argv[2]
files = {
    "grantd-0.0.0.data/scripts/grantd": open(binary, "rb").read(),
    "grantd-0.0.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: grantd\nVersion: 0.0.0\n",
    "grantd-0.0.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-any\n",
}
record = ""
for name, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record += f"{name},sha256={digest},{len(data)}\n"
record += "grantd-0.0.0.dist-info/RECORD,,\n"
with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
    for name, data in files.items():
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o100755 << 16  # a regular file, rwxr-xr-x
        z.writestr(info, data)
    z.writestr("grantd-0.0.0.dist-info/RECORD", record)
"#;
    let wheel = dir.join("grantd-0.0.0-py3-none-any.whl");
    let status = Command::new("python3")
        .args(["-c", MAKE, BIN])
        .arg(&wheel)
        .status()
        .unwrap();
    assert!(status.success());
    wheel
}

#[test]
fn an_edited_configuration_is_put_in_force_by_a_reload_not_a_restart() {
    let emu = emulator(None);
    let space = Space::new("studio-reload");
    assert_success(&space.lcc(&emu).output().unwrap());
    let daemon = space.wait_for_one_ready_daemon(None);
    let (addr, token) = (space.daemon_addr(), space.token());
    let config = space.home().join(".config/grantd/grantd.toml");
    let team = |text: &str| -> u16 { get(addr, "/v1/credentials/team", Some(text)).status };
    assert_eq!(team(&token), 404, "no such profile yet");

    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profiles.team]\ntarget = \"s3://{BUCKET}/Product/*\"\npermission = \"READ\"\n"
    ));
    std::fs::write(&config, &text).unwrap();
    wait_for(
        "the supervisor to reload",
        || (team(&token) == 200).then_some(()),
        || space.log(),
    );
    assert_eq!(space.daemons(), [daemon], "the same daemon: no restart");
    let log = space.log();
    assert!(log.contains("changed; asking grantd to reload it"), "{log}");
    assert!(log.contains("in force now: profile team"), "{log}");

    // A file with a problem: refused, every problem logged, the old one kept.
    std::fs::write(&config, format!("{text}\nmystery = true\n")).unwrap();
    wait_for(
        "the refusal in the log",
        || space.log().contains("grantd reload refused").then_some(()),
        || space.log(),
    );
    assert!(space.log().contains("mystery"), "{}", space.log());
    assert_eq!(team(&token), 200);
    let out = space.supervise("reload").output().unwrap();
    assert!(!out.status.success(), "{}", transcript(&out));
    assert_eq!(space.daemons(), [daemon]);
}
