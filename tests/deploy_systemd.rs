//! deploy/systemd/grantd@.service: the unit passes `systemd-analyze verify`,
//! and the settings it gives `grantd serve` (its `Environment=` lines and
//! `ExecStart=`, with `%t` and `%i` expanded as systemd would, the runtime
//! directory made as `RuntimeDirectory=` makes it) run a daemon, as the
//! instance's user, that keeps its token in that directory and serves that
//! user only. systemd is not PID 1 here, so the sandboxing itself is not
//! exercised.

mod common;
mod deploy_support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;
use deploy_support::{chown, mode, owner, transcript};

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/grantd@.service")
}

fn unit_text() -> String {
    std::fs::read_to_string(unit_path()).unwrap()
}

/// The values of `key=` in the unit, in order.
fn values(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// `%t` and `%i` as systemd expands them in a system unit.
fn expand(value: &str, runtime: &Path, instance: &str) -> String {
    value
        .replace("%t", &runtime.display().to_string())
        .replace("%i", instance)
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    }
    let dir = scratch("unit");
    // An instance, with ExecStart= at a binary that exists (verify checks).
    let unit = dir.path().join("grantd@alice.service");
    std::fs::write(&unit, unit_text().replace("/usr/local/bin/grantd", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn the_unit_keeps_the_sandbox_that_grantd_can_live_with() {
    let text = unit_text();
    for line in [
        "User=%i",
        "RuntimeDirectory=grantd-%i",
        "RuntimeDirectoryMode=0700",
        "RuntimeDirectoryPreserve=restart",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
        "Restart=on-failure",
        // sock_diag (the peer's uid) needs netlink.
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}");
    }
    // A user namespace would map every other user to `nobody` for the peer check.
    assert!(values(&text, "PrivateUsers").is_empty());
}

/// Stops the daemon (by PID) when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_units_settings_run_a_daemon_for_its_user_only() {
    let emu = emulator(None);
    let root = scratch("systemd");
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let instance = "nobody";
    // What RuntimeDirectory= makes: %t/grantd-%i, the user's, mode 0700.
    let runtime = root.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    let run_dir = runtime.join(format!("grantd-{instance}"));
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    chown(&run_dir, NOBODY);
    let config = root.path().join("nobody.toml");
    std::fs::write(&config, PROFILES).unwrap();

    let text = unit_text();
    let exec = values(&text, "ExecStart");
    assert_eq!(exec, ["/usr/local/bin/grantd serve"]);
    // The unit's environment, as systemd gives it to ExecStart= and ExecReload=.
    let unit_command = |exec: &str| {
        let mut cmd = Command::new(BIN);
        cmd.args(exec.split_whitespace().skip(1));
        client_env(&mut cmd);
        for assignment in values(&text, "Environment") {
            let (key, value) = assignment.split_once('=').unwrap();
            cmd.env(key, expand(value, &runtime, instance));
        }
        // What /etc/grantd/nobody.env would say.
        cmd.env("GRANTD_CONFIG", &config)
            .env("GRANTD_LISTEN", "127.0.0.1:0")
            .uid(NOBODY)
            .gid(NOBODY)
            .current_dir("/");
        cmd
    };
    let mut cmd = unit_command(&exec[0]);
    // The emulator as AWS.
    cmd.env("AWS_ENDPOINT_URL_S3_CONTROL", emu.url())
        .env("AWS_ENDPOINT_URL_STS", emu.url())
        .env("AWS_ACCESS_KEY_ID", ROLE_A_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROLE_A_SECRET);
    let log = root.path().join("grantd.log");
    let _daemon = Daemon(
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let addr_file = run_dir.join("addr");
    let addr: std::net::SocketAddr = wait_for(
        "the address file in the runtime directory",
        || {
            std::fs::read_to_string(&addr_file)
                .ok()?
                .trim()
                .parse()
                .ok()
        },
        logs,
    );
    wait_for(
        "the daemon to become ready",
        || (get(addr, "/readyz", None).status == 200).then_some(()),
        logs,
    );

    let token_file = run_dir.join("token");
    assert_eq!((owner(&token_file), mode(&token_file)), (NOBODY, 0o600));
    let token = std::fs::read_to_string(&token_file).unwrap();
    let auth = [("Authorization", token.as_str())];
    let mine = get_as_nobody(addr, "GET", "/v1/credentials/usera", &auth);
    assert_eq!(mine.status, 200, "{}", mine.body);
    // Root is another user to this daemon: refused even with the token.
    let other = get(addr, "/v1/credentials/usera", Some(&token));
    assert_eq!(other.status, 403, "{}", other.body);

    // `systemctl reload`: ExecReload= with the unit's environment, as its
    // user, puts an edited configuration in force in the running daemon.
    let reload = values(&text, "ExecReload");
    assert_eq!(reload, ["/usr/local/bin/grantd reload"]);
    std::fs::write(&config, format!("allowed_uids = [0]\n{PROFILES}")).unwrap();
    let out = unit_command(&reload[0]).output().unwrap();
    assert!(out.status.success(), "{}", transcript(&out));
    let now_allowed = get(addr, "/v1/credentials/usera", Some(&token));
    assert_eq!(now_allowed.status, 200, "{}", now_allowed.body);
    // A file with a problem fails the reload and changes nothing.
    std::fs::write(
        &config,
        format!("allowed_uids = [0]\nmystery = 1\n{PROFILES}"),
    )
    .unwrap();
    let out = unit_command(&reload[0]).output().unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", transcript(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mystery"));
    assert_eq!(get(addr, "/v1/credentials/usera", Some(&token)).status, 200);
}
