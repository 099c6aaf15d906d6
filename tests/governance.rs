//! What a governed account sees of grantd: the `AuditContext` on every
//! `GetDataAccess`, and S3 Control reached by host name with the account
//! label in front, as in a VPC-only domain, or by IP as it is.
//!
//! The host-name test resolves `*.grantd.test` to loopback through an
//! `/etc/hosts` of its own, bind-mounted in a private mount namespace
//! (`unshare --mount`), so nothing on the machine changes; where mount
//! namespaces are not allowed it says so and passes.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// The emulator's record of its calls of `operation`.
fn calls_of(emu: &Proc, operation: &str) -> Vec<serde_json::Value> {
    get(emu.addr, "/_emulator/calls", None).json()["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["operation"] == operation)
        .cloned()
        .collect()
}

#[test]
fn every_get_data_access_carries_the_one_audit_context_and_processes_share_the_cache() {
    let emu = emulator(None);
    let dir = scratch("audit");
    let mut cmd = daemon_command(&emu, dir.path(), PROFILES);
    cmd.env("GRANTD_AUDIT_CONTEXT", "team-a nightly\nrun 42");
    let daemon = spawn_daemon(cmd, dir);
    let token = token(&daemon);
    // Two processes, one scope: the second is served what the first got.
    assert_credentials(&get(daemon.addr, &query("UserA/x", "READ"), Some(&token)));
    let after_first = upstream_calls(&emu, "GetDataAccess");
    assert_credentials(&get(daemon.addr, &query("UserA/x", "READ"), Some(&token)));
    assert_eq!(upstream_calls(&emu, "GetDataAccess"), after_first);
    let calls = calls_of(&emu, "GetDataAccess");
    assert!(!calls.is_empty());
    for call in &calls {
        assert_eq!(call["audit_context"], "team-a nightly_run 42", "{call}");
        // An IP endpoint is used as it is: no account label.
        assert_eq!(call["host"], emu.addr.to_string(), "{call}");
    }
    assert!(daemon.logs().contains("team-a nightly_run 42"));
}

const HOSTS: &str = "127.0.0.1 localhost\n::1 localhost\n\
                     127.0.0.1 111122223333.s3control.grantd.test sts.grantd.test\n";

/// Bind-mounts `$GRANTD_TEST_HOSTS` on `/etc/hosts`, and when
/// `$GRANTD_TEST_OPT_ML` is set a tmpfs on `/opt` holding a copy of it as
/// `/opt/ml`, then runs the command; 97 when a mount is refused.
const SETUP: &str = r#"
mount --bind "$GRANTD_TEST_HOSTS" /etc/hosts || exit 97
if [ -n "$GRANTD_TEST_OPT_ML" ]; then
  mount -t tmpfs grantd-test /opt || exit 97
  mkdir -p /opt/ml && cp -R "$GRANTD_TEST_OPT_ML"/. /opt/ml/ || exit 97
fi
exec "$@"
"#;

/// `inner` run in a private mount namespace after [`SETUP`].
fn namespaced(inner: &Command, hosts: &Path, opt_ml: Option<&Path>) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        SETUP,
        "sh",
    ])
    .arg(inner.get_program())
    .args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.env("GRANTD_TEST_HOSTS", hosts);
    match opt_ml {
        Some(dir) => cmd.env("GRANTD_TEST_OPT_ML", dir),
        None => cmd.env_remove("GRANTD_TEST_OPT_ML"),
    };
    cmd
}

/// Whether this machine lets the test make a mount namespace of its own.
fn mount_namespaces_allowed(hosts: &Path) -> bool {
    let mut probe = Command::new("true");
    probe.stdout(Stdio::null());
    let out: Output = namespaced(&probe, hosts, None)
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("running unshare: {e}"));
    if !out.status.success() {
        eprintln!(
            "skipped: no private mount namespace here (unshare --mount: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    out.status.success()
}

/// The host-name endpoints of the emulator, which only the namespace's `/etc/hosts` resolves.
fn host_name_env(cmd: &mut Command, emu: &Proc) {
    let port = emu.addr.port();
    cmd.env(
        "AWS_ENDPOINT_URL_S3_CONTROL",
        format!("http://s3control.grantd.test:{port}"),
    )
    .env(
        "AWS_ENDPOINT_URL_STS",
        format!("http://sts.grantd.test:{port}"),
    );
}

#[test]
fn a_host_name_endpoint_gets_the_account_label_as_the_sdks_put_it() {
    let dir = scratch("hosts");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, HOSTS).unwrap();
    if !mount_namespaces_allowed(&hosts) {
        return;
    }
    let emu = emulator(None);
    let port = emu.addr.port();

    // grantd ls: STS by its name as it is, S3 Control with the label.
    let mut ls = Command::new(BIN);
    ls.args(["ls", "--format", "json"]);
    client_env(&mut ls);
    ls.env("AWS_ACCESS_KEY_ID", ROLE_A_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROLE_A_SECRET);
    host_name_env(&mut ls, &emu);
    let out = namespaced(&ls, &hosts, None).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 2);
    let listed = calls_of(&emu, "ListCallerAccessGrants");
    assert_eq!(
        listed[0]["host"],
        format!("111122223333.s3control.grantd.test:{port}")
    );
    assert_eq!(
        calls_of(&emu, "GetCallerIdentity")[0]["host"],
        format!("sts.grantd.test:{port}")
    );

    // The daemon, inside a "processing job": labelled calls, the job named.
    let opt_ml = dir.path().join("opt-ml");
    std::fs::create_dir_all(opt_ml.join("config")).unwrap();
    std::fs::write(
        opt_ml.join("config/processingjobconfig.json"),
        r#"{"ProcessingJobName": "nightly-etl", "Environment": {"SECRET": "do-not-send"}}"#,
    )
    .unwrap();
    let daemon_dir = scratch("hosts-daemon");
    let mut serve = daemon_command(&emu, daemon_dir.path(), PROFILES);
    host_name_env(&mut serve, &emu);
    let with_opt = Path::new("/opt").is_dir().then_some(opt_ml.as_path());
    let daemon = spawn_daemon(namespaced(&serve, &hosts, with_opt), daemon_dir);
    let token = token(&daemon);
    assert_credentials(&get(daemon.addr, &query("UserA/y", "READ"), Some(&token)));
    let vends = calls_of(&emu, "GetDataAccess");
    assert!(!vends.is_empty());
    for call in &vends {
        assert_eq!(
            call["host"],
            format!("111122223333.s3control.grantd.test:{port}")
        );
        if with_opt.is_some() {
            assert_eq!(
                call["audit_context"],
                "sagemaker-processing job=nightly-etl"
            );
        }
    }
    let owners = calls_of(&emu, "GetAccessGrantsInstanceForPrefix");
    assert!(
        owners
            .iter()
            .all(|c| c["host"] == format!("111122223333.s3control.grantd.test:{port}"))
    );
    assert!(!emu.logs().contains("do-not-send") && !daemon.logs().contains("do-not-send"));
}
