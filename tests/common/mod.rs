//! Real processes for integration tests: the emulator and the daemon, both
//! the `grantd` binary, on loopback port 0, with their logs captured.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_grantd");
pub const BUCKET: &str = "blog-access-grants-111122223333-us-east-1";
pub const ROLE_A_KEY: &str = "AKIAGRANTDDEMOROLEA";
pub const ROLE_A_SECRET: &str = "grantd-demo-secret-not-a-real-key";

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "grantd-it-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wait_for_file(path: &Path, child: &mut Child, log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "process exited with {status} before writing {}:\n{}",
                path.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    pub dir: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(&mut self) -> i32 {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `grantd emulate` with the built-in demo scenario, or `grants` (TOML).
pub fn emulator(grants: Option<&str>) -> Proc {
    let dir = scratch("emu");
    let addr_file = dir.join("addr");
    let log = dir.join("emulator.log");
    let mut cmd = Command::new(BIN);
    cmd.args(["emulate", "--listen", "127.0.0.1:0", "--addr-file"])
        .arg(&addr_file);
    if let Some(text) = grants {
        let path = dir.join("grants.toml");
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

pub const PROFILES: &str = r#"
[profiles.usera]
target = "s3://blog-access-grants-111122223333-us-east-1/UserA/*"
permission = "READWRITE"

[profiles.product]
target = "s3://blog-access-grants-111122223333-us-east-1/Product/*"
permission = "READ"
"#;

/// The daemon's command, environment pointed at `emu`, not yet started.
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

/// Starts the daemon and waits until `/readyz` answers 200.
pub fn spawn_daemon(mut cmd: Command, dir: &Path) -> Proc {
    let log = dir.join("grantd.log");
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr: SocketAddr = wait_for_file(&dir.join("addr"), &mut child, &log)
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(addr, "/readyz", None).status != 200 {
        assert!(
            Instant::now() < deadline,
            "daemon never became ready:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Proc {
        child,
        addr,
        log,
        dir: dir.to_path_buf(),
    }
}

pub fn daemon(emu: &Proc, config: &str) -> Proc {
    let dir = scratch("daemon");
    spawn_daemon(daemon_command(emu, &dir, config), &dir)
}

pub fn token(daemon: &Proc) -> String {
    std::fs::read_to_string(daemon.dir.join("token")).unwrap()
}

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends raw bytes and reads the whole answer (the request should say Connection: close).
pub fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
        addr.port()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    raw(addr, req.as_bytes())
}

/// A fresh IMDSv2 session token.
pub fn imds_session(addr: SocketAddr) -> String {
    request(
        addr,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    )
    .body
}

/// An IMDS GET with a session token.
pub fn imds_get(addr: SocketAddr, session: &str, path: &str) -> Reply {
    request(addr, "GET", path, &[("X-aws-ec2-metadata-token", session)])
}

pub fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Reply {
    match token {
        Some(t) => request(addr, "GET", path, &[("Authorization", t)]),
        None => request(addr, "GET", path, &[]),
    }
}

/// The emulator's call counts.
pub fn upstream_calls(emu: &Proc, operation: &str) -> u64 {
    get(emu.addr, "/_emulator/calls", None).json()["counts"][operation]
        .as_u64()
        .unwrap_or(0)
}

pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> Reply {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw(addr, req.as_bytes())
}
