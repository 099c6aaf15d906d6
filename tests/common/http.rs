//! A raw HTTP/1.1 client, one connection per request (`Connection: close`),
//! so tests control every byte (foreign `Host`s, oversized heads, garbage),
//! and the contract's JSON error shape.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longest a request waits for its answer. Defaults to 15 s.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    /// A whole answer as read from the socket.
    pub fn parse(bytes: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(bytes).to_string();
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
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    Reply::parse(&buf)
}

pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    raw(addr, request_text(addr, method, path, headers).as_bytes())
}

/// A whole HTTP/1.1 request without a body, closing the connection after it.
pub fn request_text(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> String {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
        addr.port()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

pub fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Reply {
    match token {
        Some(t) => request(addr, "GET", path, &[("Authorization", t)]),
        None => request(addr, "GET", path, &[]),
    }
}

pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> Reply {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
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

/// Asserts the contract's error answer: `status`, and a JSON body with
/// `code` and `message` in both casings. Returns the body.
pub fn assert_contract_error(reply: &Reply, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(reply.status, status, "{code}: {}", reply.body);
    let v = reply.json();
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["Code"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(v["message"], v["Message"]);
    v
}

/// Asserts a container-format credentials answer: 200, JSON, every field
/// the SDKs read present. Returns the body.
pub fn assert_credentials(reply: &Reply) -> serde_json::Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    let v = reply.json();
    for field in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(
            v[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} missing: {v}"
        );
    }
    v
}
