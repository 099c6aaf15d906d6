//! Another local user: programs run as `nobody` (uid 65534), for the tests
//! of who may connect. The suite runs as root, which may drop to any user.
//!
//! - [`raw_as_nobody`]: one request from a process of that user.
//! - [`Flooder`]: that user holding hundreds of connections, reopening each
//!   as it closes, some idle and some sending their headers slowly.
//! - [`Squatter`]: that user listening on a port grantd's clients dial,
//!   answering every request with credentials of its own and keeping what
//!   it was sent.
//!
//! Both are small Python programs (the system `python3`, which `nobody` can
//! run); a request, token included, goes to them on stdin, never on the
//! command line where other users could read it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use super::{Reply, request_text, wait_for};

pub const NOBODY: u32 = 65_534;
const PYTHON: &str = "/usr/bin/python3";

/// Connects to argv[1]:argv[2], sends stdin, prints everything read until close.
const CLIENT: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
s.sendall(sys.stdin.buffer.read())
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    sys.stdout.buffer.write(chunk)
"#;

/// Holds argv[3] connections to argv[1]:argv[2]; reopens each as it closes.
/// Odd ones send a header byte every 100 ms and never finish; even ones
/// stay silent. Prints "ready" once all are opened.
const FLOODER: &str = r#"
import selectors, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sel = selectors.DefaultSelector()
conns = {}
def open_one(i):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((host, port))
    sel.register(s, selectors.EVENT_READ, i)
    conns[i] = s
    if i % 2:
        try:
            s.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        except OSError:
            pass
for i in range(n):
    open_one(i)
print("ready", flush=True)
last_drip = time.monotonic()
while True:
    for key, _ in sel.select(timeout=0.05):
        s, i = key.fileobj, key.data
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            open_one(i)
    if time.monotonic() - last_drip > 0.1:
        last_drip = time.monotonic()
        for i, s in list(conns.items()):
            if i % 2:
                try:
                    s.send(b"a")
                except OSError:
                    pass
"#;

/// Listens on 127.0.0.1:argv[1] (0: any port) and prints the port; prints
/// each request's bytes (hex) and answers it 200 with credentials of its own.
const SQUATTER: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print(s.getsockname()[1], flush=True)
body = (b'{"AccessKeyId":"ASIASQUATTERSQUATTER","SecretAccessKey":"squatter-secret",'
        b'"Token":"squatter-token","Expiration":"2099-01-01T00:00:00Z","status":"ready"}')
while True:
    c, _ = s.accept()
    c.settimeout(2)
    got = b""
    try:
        while b"\r\n\r\n" not in got:
            chunk = c.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    print("GOT", got.hex(), flush=True)
    try:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    c.close()
"#;

/// What the squatter answers with: a key id no grantd vends.
pub const SQUATTER_KEY: &str = "ASIASQUATTERSQUATTER";

fn as_nobody(cmd: &mut Command) -> &mut Command {
    cmd.uid(NOBODY).gid(NOBODY).current_dir("/")
}

/// Sends raw bytes to `addr` from a process of `nobody`; the whole answer
/// (the request should say Connection: close, or the server close).
pub fn raw_as_nobody(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut child = as_nobody(Command::new(PYTHON).args([
        "-c",
        CLIENT,
        &addr.ip().to_string(),
        &addr.port().to_string(),
    ]))
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .expect("python3 as nobody");
    child.stdin.take().unwrap().write_all(request).unwrap();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    child.wait().unwrap();
    Reply::parse(&out)
}

/// A GET as `nobody`, with `headers`.
pub fn get_as_nobody(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    raw_as_nobody(addr, request_text(addr, method, path, headers).as_bytes())
}

/// `nobody` flooding the daemon; stopped (by its PID) when dropped.
pub struct Flooder(Child);

impl Flooder {
    /// Starts the flood of `connections` and waits until all are opened.
    pub fn start(addr: SocketAddr, connections: usize) -> Flooder {
        let mut child = as_nobody(Command::new(PYTHON).args([
            "-c",
            FLOODER,
            &addr.ip().to_string(),
            &addr.port().to_string(),
            &connections.to_string(),
        ]))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 as nobody");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        wait_for(
            "the flooder to open its connections",
            || lines.next().map(|l| l.unwrap()),
            String::new,
        );
        Flooder(child)
    }
}

impl Drop for Flooder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `nobody` listening where grantd's clients will dial; stopped (by its
/// PID) when dropped.
pub struct Squatter {
    child: Child,
    pub addr: SocketAddr,
    out: BufReader<std::process::ChildStdout>,
}

impl Squatter {
    /// Listens on `port` of 127.0.0.1 (0: a free one).
    pub fn start(port: u16) -> Squatter {
        let mut child = as_nobody(Command::new(PYTHON).args(["-c", SQUATTER, &port.to_string()]))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 as nobody");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().expect("the squatter's port");
        Squatter {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            out,
        }
    }

    /// Stops the squatter; every request it was sent, as text.
    pub fn received(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut rest = String::new();
        let _ = self.out.read_to_string(&mut rest);
        rest.lines()
            .filter_map(|l| l.strip_prefix("GOT "))
            .map(|hex| {
                let bytes: Vec<u8> = (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect()
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
