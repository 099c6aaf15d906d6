//! What the Studio lifecycle tests share: a space's home directory, the
//! script run in it against the emulator, and finding (and, when the space
//! is dropped, stopping by PID) the supervisor and the daemon it started.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{Proc, scratch, wait_for};
use crate::deploy_support::{script_command, transcript};

/// A Studio home: `HOME`, with `XDG_RUNTIME_DIR` at `HOME/run` and `TMPDIR`
/// at `HOME/tmp`.
pub struct Space {
    home: tempfile::TempDir,
    /// The S3 endpoint's port: fixed for the space, as in Studio, so that a
    /// restarted daemon serves S3 where the kernels were told.
    s3_port: u16,
}

impl Space {
    pub fn new(name: &str) -> Space {
        let home = scratch(name);
        std::fs::create_dir(home.path().join("run")).unwrap();
        std::fs::create_dir(home.path().join("tmp")).unwrap();
        let s3_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        Space { home, s3_port }
    }

    /// Where the S3 endpoint listens (in `s3` mode).
    pub fn s3_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.s3_port))
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Where the script put the token, address and pid files, as it told
    /// the shells.
    pub fn run_dir(&self) -> PathBuf {
        let token_file = self.client_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        Path::new(&token_file).parent().unwrap().to_path_buf()
    }

    /// The daemon's address, as the script told the shells.
    pub fn daemon_addr(&self) -> SocketAddr {
        let uri = self.client_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        let addr = uri.strip_prefix("http://").unwrap();
        addr.split('/').next().unwrap().parse().unwrap()
    }

    /// The token the shells were given (through the token file).
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.client_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")).unwrap()
    }

    /// The lifecycle script for this space, not yet started.
    pub fn lcc(&self, emu: &Proc) -> Command {
        let mut cmd = script_command("studio-lifecycle.sh", emu);
        cmd.env("HOME", self.home())
            .env("XDG_RUNTIME_DIR", self.home().join("run"))
            .env("TMPDIR", self.home().join("tmp"))
            .env("GRANTD_S3_LISTEN", self.s3_addr().to_string());
        cmd
    }

    /// The supervisor the script wrote, run with `arg` (`stop`).
    pub fn supervise(&self, arg: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(self.home().join(".config/grantd/supervise"))
            .arg(arg)
            .env("HOME", self.home());
        cmd
    }

    /// A value the script wrote to `~/.config/grantd/client.env`.
    pub fn client_env(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.home().join(".config/grantd/client.env")).unwrap();
        let prefix = format!("export {name}='");
        let line = text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap();
        line.strip_suffix('\'').unwrap().to_string()
    }

    /// A notebook kernel of this space: Python started as Studio starts it
    /// (with `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` set), the IPython
    /// startup file run, then `prints` (Python statements), then the line
    /// `grantd sdk-probe` prints when the kernel starts it (a local Spark
    /// session's JVM inherits the kernel's environment likewise). Its
    /// standard output; the test fails if the kernel does.
    pub fn kernel(&self, prints: &str) -> String {
        let startup = self
            .home()
            .join(".ipython/profile_default/startup/00-grantd.py");
        let mut kernel = Command::new("python3");
        crate::common::client_env(&mut kernel);
        let out = kernel
            .arg("-c")
            .arg(format!(
                "import os; os.environ['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']='/x'; exec(open('{}').read()); \
                 {prints}; \
                 import subprocess; print(subprocess.run(['{}', 'sdk-probe'], capture_output=True, check=True).stdout.decode())",
                startup.display(),
                crate::common::BIN,
            ))
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The PID in one of the run directory's pid files.
    pub fn pid_file(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.run_dir().join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The daemon's and the supervisor's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.run_dir().join("grantd.log")).unwrap_or_default()
    }

    /// PIDs of the supervisors running for this home.
    pub fn supervisors(&self) -> Vec<u32> {
        let script = self.home().join(".config/grantd/supervise");
        self.processes(|args| args.len() == 3 && args[0] == "bash" && Path::new(&args[1]) == script)
    }

    /// PIDs of the `grantd serve` processes running for this home, whatever
    /// binary they run (a test may install one from a wheel).
    pub fn daemons(&self) -> Vec<u32> {
        self.processes(|args| args.len() >= 2 && args[1] == "serve")
    }

    /// Processes whose environment has this `HOME` and whose arguments match.
    fn processes(&self, matches: impl Fn(&[String]) -> bool) -> Vec<u32> {
        crate::deploy_support::processes_with_home(self.home(), matches)
    }

    /// Waits until exactly one supervisor and one daemon run, the daemon
    /// being the one in `grantd.pid` and ready; returns its PID.
    pub fn wait_for_one_ready_daemon(&self, not: Option<u32>) -> u32 {
        wait_for(
            "one supervisor and one ready daemon",
            || {
                let pid = self.pid_file("grantd.pid")?;
                let ready = self.supervisors().len() == 1
                    && self.daemons() == [pid]
                    && Some(pid) != not
                    && self.run_dir().join("addr").exists()
                    && std::net::TcpStream::connect(self.daemon_addr()).is_ok()
                    && crate::common::get(self.daemon_addr(), "/readyz", None).status == 200;
                ready.then_some(pid)
            },
            || self.log(),
        )
    }
}

impl Drop for Space {
    /// Stops the supervisors first (each stops its daemon), then any daemon
    /// left, all by PID.
    fn drop(&mut self) {
        let supervisors = self.supervisors();
        for pid in &supervisors {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let deadline = std::time::Instant::now() + crate::common::PATIENCE;
        while !self.supervisors().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for pid in self.daemons() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

pub fn assert_success(out: &Output) {
    assert!(out.status.success(), "{}", transcript(out));
}

/// Sends `signal` to `pid`.
pub fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}
