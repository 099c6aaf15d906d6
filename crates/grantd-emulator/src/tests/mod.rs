//! Over-the-wire tests: `run()` on `127.0.0.1:0`, driven with raw HTTP.
//!
//! This module owns the harness (a running emulator, raw requests, reply
//! parsing); the tests sit in one submodule per concern:
//!
//! - `data_access`: `GetDataAccess` — matching, lifetimes, refusals, privilege.
//! - `instances`: `GetAccessGrantsInstanceForPrefix` and cross-account grants.
//! - `caller_grants`: `ListCallerAccessGrants` (filters, pages) and the
//!   account label of a host name.
//! - `sts`: `GetCallerIdentity` and other STS actions.
//! - `faults`: injected errors, latency and malformed answers.
//! - `control`: the `/_emulator` API — call log, reset, issued keys, settings.
//! - `server`: routing, body limits, shutdown and `main`'s exit codes.
//! - `assume_role`: assume-role mode against a scripted STS.
//! - `logs`: no secret or token ever reaches the logs or the call log.

mod assume_role;
mod caller_grants;
mod control;
mod data_access;
mod faults;
mod instances;
mod logs;
mod server;
mod sts;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;
use grantd_common::clock::Clock;
use grantd_common::credentials::parse_timestamp;

/// 2026-11-23T12:00:00Z.
const T0_SECS: u64 = 1_795_435_200;
const ROLE_A: &str = "arn:aws:iam::111122223333:role/access-grants-blog-RoleA";
const ROLE_B_KEY: &str = DEMO_ROLE_B_KEY_ID;

#[derive(Debug)]
struct FixedClock(SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0_SECS)
}

/// A running emulator and the means to stop it.
struct Harness {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Harness {
    async fn start(scenario: Scenario) -> Harness {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let emulator = Emulator::new(scenario, Arc::new(FixedClock(t0())));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, emulator, async {
            let _ = stopped.await;
        }));
        Harness {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn demo() -> Harness {
        Harness::start(Scenario::demo()).await
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        send_raw(self.addr, method, path, headers, body).await
    }

    /// `GetDataAccess` signed with `key`, owner account = the demo account.
    async fn data_access(&self, key: &str, query: &str) -> Reply {
        let auth = sigv4(key);
        self.data_access_with(
            query,
            &[("authorization", &auth), ("x-amz-account-id", DEMO_ACCOUNT)],
        )
        .await
    }

    /// `GetDataAccess` with exactly these headers.
    async fn data_access_with(&self, query: &str, headers: &[(&str, &str)]) -> Reply {
        let path = format!("/v20180820/accessgrantsinstance/dataaccess?{query}");
        self.send("GET", &path, headers, "").await
    }

    async fn control(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let reply = self
            .send(method, &format!("/_emulator{path}"), &[], body)
            .await;
        let json =
            serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.body));
        (reply.status, json)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("run() returns after shutdown")
            .unwrap();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Text of the first `<name>` element.
    fn xml(&self, name: &str) -> Option<&str> {
        let open = format!("<{name}>");
        let start = self.body.find(&open)? + open.len();
        let end = start + self.body[start..].find(&format!("</{name}>"))?;
        Some(&self.body[start..end])
    }

    fn code(&self) -> Option<&str> {
        self.xml("Code")
    }
}

/// One request on a fresh connection, `Connection: close`, read to the end.
async fn send_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn sigv4(key: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261123/us-east-1/s3/aws4_request, \
         SignedHeaders=host;x-amz-account-id;x-amz-date, Signature=0123456789abcdef"
    )
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn demo_target(key: &str) -> String {
    enc(&format!("s3://{DEMO_BUCKET}/{key}"))
}

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// An STS form `body`, signed as `key`.
async fn sts(h: &Harness, key: &str, body: &str) -> Reply {
    let auth = sigv4(key).replace("/s3/", "/sts/");
    h.send(
        "POST",
        "/",
        &[
            ("authorization", &auth),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        body,
    )
    .await
}
