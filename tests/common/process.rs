//! The two real processes, both the `grantd` binary: `grantd emulate` and
//! `grantd serve` pointed at it, each on loopback port 0 with its stderr
//! captured in its own scratch directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{BIN, PATIENCE, ROLE_A_KEY, ROLE_A_SECRET, get, scratch, wait_for};

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    /// Fields drop after `Drop::drop`, so the directory outlives the process.
    dir: TempDir,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// The process's own files: address file, log, and for the daemon its
    /// config (`grantd.toml`) and token.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends SIGTERM to this process (by its PID) without waiting.
    pub fn signal_term(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits up to `within` for the process to exit; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "did not exit within {within:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(&mut self) -> i32 {
        self.signal_term();
        self.wait_exit(PATIENCE)
    }
}

/// Waits for `path` to hold text; fails early if `child` exits first.
fn wait_for_file(path: &Path, child: &mut Child, log: &Path) -> String {
    wait_for(
        &path.display().to_string(),
        || {
            if let Ok(text) = std::fs::read_to_string(path)
                && !text.is_empty()
            {
                return Some(text);
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "process exited with {status} before writing {}:\n{}",
                    path.display(),
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            None
        },
        String::new,
    )
}

/// `grantd emulate` with the built-in demo scenario, or `grants` (TOML).
pub fn emulator(grants: Option<&str>) -> Proc {
    let dir = scratch("emu");
    let addr_file = dir.path().join("addr");
    let log = dir.path().join("emulator.log");
    let mut cmd = Command::new(BIN);
    cmd.args(["emulate", "--listen", "127.0.0.1:0", "--addr-file"])
        .arg(&addr_file);
    if let Some(text) = grants {
        let path = dir.path().join("grants.toml");
        std::fs::write(&path, text).unwrap();
        cmd.arg("--grants").arg(path);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr = wait_for_file(&addr_file, &mut child, &log)
        .trim()
        .parse()
        .unwrap();
    Proc {
        child,
        addr,
        log,
        dir,
    }
}

/// The daemon's command, environment pointed at `emu`, not yet started;
/// its files (config, token, address) go in `dir`.
pub fn daemon_command(emu: &Proc, dir: &Path, config: &str) -> Command {
    let config_path = dir.join("grantd.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--addr-file"])
        .arg(dir.join("addr"))
        .arg("--token-file")
        .arg(dir.join("token"))
        .arg("--config")
        .arg(&config_path);
    client_env(&mut cmd);
    cmd.env("AWS_ENDPOINT_URL_S3_CONTROL", emu.url())
        .env("AWS_ENDPOINT_URL_STS", emu.url())
        .env("AWS_ACCESS_KEY_ID", ROLE_A_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROLE_A_SECRET);
    cmd
}

/// A clean AWS environment: no ambient identity, no IMDS, no config files.
pub fn client_env(cmd: &mut Command) {
    for var in [
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "GRANTD_CONFIG",
        "GRANTD_LISTEN",
        "GRANTD_TOKEN_FILE",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
}

/// Starts the daemon from [`daemon_command`] and waits until `/readyz`
/// answers 200; the daemon owns `dir` from then on.
pub fn spawn_daemon(mut cmd: Command, dir: TempDir) -> Proc {
    let log = dir.path().join("grantd.log");
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr: SocketAddr = wait_for_file(&dir.path().join("addr"), &mut child, &log)
        .trim()
        .parse()
        .unwrap();
    wait_for(
        "the daemon to become ready",
        || (get(addr, "/readyz", None).status == 200).then_some(()),
        || std::fs::read_to_string(&log).unwrap_or_default(),
    );
    Proc {
        child,
        addr,
        log,
        dir,
    }
}

/// A ready daemon with `config`, pointed at `emu`.
pub fn daemon(emu: &Proc, config: &str) -> Proc {
    let dir = scratch("daemon");
    spawn_daemon(daemon_command(emu, dir.path(), config), dir)
}

/// The daemon's bearer token, from its token file.
pub fn token(daemon: &Proc) -> String {
    std::fs::read_to_string(daemon.dir().join("token")).unwrap()
}

/// The usual set-up: the demo emulator and a ready daemon in front of it.
pub struct Stack {
    /// First, so it is stopped before the emulator it calls.
    pub daemon: Proc,
    pub emu: Proc,
    pub token: String,
}

pub fn stack(config: &str) -> Stack {
    let emu = emulator(None);
    let daemon = daemon(&emu, config);
    let token = token(&daemon);
    Stack { daemon, emu, token }
}

/// `cmd` run through `prefix` (e.g. `unshare --user`, or a program that
/// execs its arguments): the same arguments and environment.
pub fn wrap(cmd: &Command, prefix: &[&str]) -> Command {
    let mut wrapped = Command::new(prefix[0]);
    wrapped
        .args(&prefix[1..])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// `benches/no_netlink.py`: runs what follows where the kernel refuses
/// netlink sockets (a seccomp filter), as some sandboxes do.
pub fn no_netlink() -> [&'static str; 2] {
    [
        "python3",
        concat!(env!("CARGO_MANIFEST_DIR"), "/benches/no_netlink.py"),
    ]
}

/// Runs `grantd ARGS` with the daemon's own settings (config, address and
/// token files), as a shell sharing its environment would.
pub fn with_daemon_settings(d: &Proc, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    client_env(&mut cmd);
    cmd.args(args)
        .arg("--config")
        .arg(d.dir().join("grantd.toml"))
        .env("GRANTD_ADDR_FILE", d.dir().join("addr"))
        .env("GRANTD_TOKEN_FILE", d.dir().join("token"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The standard output of a command that must have succeeded, as UTF-8;
/// otherwise the test fails with its exit code and standard error.
pub fn stdout_of_success(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A child process stopped (by its own PID) when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a `grantd serve` run that may refuse to start ended.
pub enum Outcome {
    /// It exited with this code (-1 for a signal) and stderr.
    Exited(i32, String),
    /// It wrote its address file: it started (and was then stopped).
    Started(String),
}

impl Outcome {
    /// The exit code and stderr; fails the test when the daemon started instead.
    pub fn exited(self) -> (i32, String) {
        match self {
            Outcome::Exited(code, stderr) => (code, stderr),
            Outcome::Started(logs) => panic!("it started instead of exiting:\n{logs}"),
        }
    }
}

/// Runs `cmd` (a `grantd serve`) until it exits or writes `addr_file`, its
/// stderr in `log_dir/serve.log`; a daemon that started, or that does
/// neither within [`PATIENCE`], is stopped by its PID.
pub fn outcome(mut cmd: Command, addr_file: &Path, log_dir: &Path) -> Outcome {
    let log = log_dir.join("serve.log");
    let mut child = KillOnDrop(
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let ended = wait_for(
        "grantd serve to exit or start",
        || {
            if let Some(status) = child.0.try_wait().unwrap() {
                return Some(Some(status.code().unwrap_or(-1)));
            }
            addr_file.exists().then_some(None)
        },
        logs,
    );
    match ended {
        Some(code) => Outcome::Exited(code, logs()),
        None => Outcome::Started(logs()),
    }
}
