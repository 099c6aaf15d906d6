//! Another local user: programs run as `nobody` (uid 65534), for the tests
//! of who may connect. The suite runs as root, which may drop to any user.
//!
//! - [`raw_as_nobody`]: one request from a process of that user.
//! - [`Flooder`]: that user holding hundreds of connections, reopening each
//!   as it closes, some idle and some sending their headers slowly.
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
