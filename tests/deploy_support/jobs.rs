//! Running deploy/processing-entrypoint.sh as a process the test controls:
//! started in the background, signalled and waited for by PID, and checked
//! afterwards for a daemon left behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{PATIENCE, PROFILES, Proc};

use super::{script_command, transcript};

/// One entrypoint run: its own config and run directory under `dir`.
pub struct Entrypoint {
    pub dir: PathBuf,
    pub cmd: Command,
}

impl Entrypoint {
    /// The entrypoint with the demo profiles, `dir/run` as its run directory
    /// and `job` as its job (`sh -c SCRIPT sh ARGS…` when `job` starts so).
    pub fn new(emu: &Proc, dir: &Path, job: &[&str]) -> Entrypoint {
        std::fs::write(dir.join("grantd.toml"), PROFILES).unwrap();
        let mut cmd = script_command("processing-entrypoint.sh", emu);
        cmd.args(job)
            .env("GRANTD_CONFIG", dir.join("grantd.toml"))
            .env("GRANTD_RUN_DIR", dir.join("run"));
        Entrypoint {
            dir: dir.to_path_buf(),
            cmd,
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Entrypoint {
        self.cmd.env(key, value);
        self
    }

    /// Runs it to the end.
    pub fn output(mut self) -> Finished {
        let output = self.cmd.output().unwrap();
        Finished {
            daemon: daemon_pid(&self.dir),
            dir: self.dir,
            output,
        }
    }

    /// Starts it in the background, its output captured.
    pub fn spawn(mut self) -> Running {
        let child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Running {
            dir: self.dir,
            child: Some(child),
        }
    }
}

/// An entrypoint running in the background; killed (by PID) when dropped.
pub struct Running {
    dir: PathBuf,
    child: Option<Child>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the entrypoint to exit (failing the test after [`PATIENCE`]).
    pub fn finish(mut self) -> Finished {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + PATIENCE;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!("the entrypoint did not exit: {}", transcript(&out));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Finished {
            daemon: daemon_pid(&self.dir),
            dir: self.dir.clone(),
            output: child.wait_with_output().unwrap(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            stop(daemon_pid(&self.dir));
        }
    }
}

/// An entrypoint that exited, with the PID of the daemon it had started.
pub struct Finished {
    pub dir: PathBuf,
    pub output: Output,
    pub daemon: Option<u32>,
}

impl Finished {
    pub fn text(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("run/grantd.log")).unwrap_or_default();
        format!("{}\n--- grantd.log\n{log}", transcript(&self.output))
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Asserts the exit code and that the daemon it started is gone.
    pub fn assert_exit_and_no_daemon(&self, code: i32) {
        let text = self.text();
        assert_eq!(self.output.status.code(), Some(code), "{text}");
        let pid = self.daemon.expect("the entrypoint started a daemon");
        let alive = daemon_alive(pid);
        stop(Some(pid));
        assert!(!alive, "grantd (pid {pid}) was left running: {text}");
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        stop(self.daemon);
    }
}

/// The PID the entrypoint recorded for its daemon.
fn daemon_pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("run/grantd.pid"))
        .ok()
        .and_then(|pid| pid.trim().parse().ok())
}

/// Whether `pid` is still a `grantd serve` (not a zombie, not a new process
/// that took the number).
pub fn daemon_alive(pid: u32) -> bool {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let cmdline = std::fs::read(proc.join("cmdline")).unwrap_or_default();
    let serving = cmdline.split(|b| *b == 0).nth(1) == Some(b"serve".as_slice());
    let status = std::fs::read_to_string(proc.join("status")).unwrap_or_default();
    serving && !status.lines().any(|l| l.starts_with("State:\tZ"))
}

fn stop(pid: Option<u32>) {
    if let Some(pid) = pid.filter(|pid| daemon_alive(*pid)) {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
}

/// Waits until `path` exists (a job's "I have started" mark).
pub fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + PATIENCE;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
