//! A recording fake S3 on loopback, in the test process: every request the
//! daemon forwards is kept whole (method, path, query, headers, body bytes,
//! and whether the body arrived in full), and answered as S3 would, briefly:
//! PUT stores and gives an ETag, GET gives the stored bytes (a `Range` of
//! `bytes=A-B` gives 206), HEAD their length, DELETE 204, POST `?delete` a
//! `DeleteResult` deleting every key, a copy a `CopyObjectResult`.
//!
//! Plain threads and `std::net`: a request is recorded before it is
//! answered, so once the daemon's client has its answer the record is there.
//! A body cut short (the daemon aborts an upload that failed a check) is
//! recorded as incomplete and nothing is stored.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use grantd::clock::{Clock, SystemClock};
use grantd_s3::sigv4::{self, AuthError, SecretKey, Verified};
use hyper::http::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::http::{Method, Uri};
use sha2::{Digest, Sha256};

use super::wait_for;

/// Longest the fake waits on a silent connection. Defaults to 30 s.
const IDLE: Duration = Duration::from_secs(30);

/// One request as the fake S3 received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// As sent, still percent-encoded.
    pub path: String,
    /// Without the `?`; empty for none.
    pub query: String,
    /// Names lower-case, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body bytes as they came off the wire (HTTP chunking undone).
    pub body: Vec<u8>,
    /// The body arrived whole, as its framing announced.
    pub complete: bool,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The access key id of the `Authorization` it was signed with.
    pub fn access_key_id(&self) -> Option<&str> {
        let auth = self.header("authorization")?;
        let rest = &auth[auth.find("Credential=")? + "Credential=".len()..];
        rest.split('/').next()
    }

    /// Checks its SigV4 signature as S3 would, against `secret` and
    /// `token` (the body's hash is the caller's to compare).
    pub fn verify_signature(&self, secret: &str, token: &str) -> Result<Verified, AuthError> {
        let mut headers = HeaderMap::new();
        for (k, v) in &self.headers {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let target = if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        };
        let method = Method::from_bytes(self.method.as_bytes()).unwrap();
        let uri: Uri = target.parse().unwrap();
        let key = SecretKey::new(secret).with_session_token(token);
        sigv4::verify(&method, &uri, &headers, SystemClock.now(), |_| {
            Some(key.clone())
        })
    }

    /// The `Content-Length` it announced.
    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")?.parse().ok()
    }
}

#[derive(Default)]
struct Shared {
    records: Mutex<Vec<Recorded>>,
    objects: Mutex<HashMap<String, Vec<u8>>>,
    /// Requests whose head arrived and whose record is not written yet.
    in_flight: AtomicUsize,
    stopping: AtomicBool,
}

/// The fake; stops accepting when dropped.
pub struct FakeS3 {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeS3 {
    pub fn start() -> FakeS3 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let shared = accepting.clone();
                thread::spawn(move || serve(stream, &shared));
            }
        });
        FakeS3 { addr, shared }
    }

    /// What the daemon's `AWS_ENDPOINT_URL_S3` is set to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, oldest first.
    pub fn records(&self) -> Vec<Recorded> {
        self.shared.records.lock().unwrap().clone()
    }

    /// The requests to one path (`/bucket/key`).
    pub fn records_for(&self, path: &str) -> Vec<Recorded> {
        self.records()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// What a complete PUT stored at `path`.
    pub fn object(&self, path: &str) -> Option<Vec<u8>> {
        self.shared.objects.lock().unwrap().get(path).cloned()
    }

    /// Puts an object there directly, as if uploaded earlier.
    pub fn put_object(&self, path: &str, bytes: &[u8]) {
        self.shared
            .objects
            .lock()
            .unwrap()
            .insert(path.to_string(), bytes.to_vec());
    }

    /// Waits (bounded) until no request is half-read, so a body the daemon
    /// broke off is recorded before a test looks.
    pub fn settle(&self) {
        wait_for(
            "the fake S3 to finish reading",
            || (self.shared.in_flight.load(Ordering::SeqCst) == 0).then_some(()),
            || format!("{:?}", self.records()),
        );
    }
}

impl Drop for FakeS3 {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees `stopping`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// One connection: requests until the peer closes (the daemon keeps its
/// connections to S3 alive).
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut reader) else {
            return;
        };
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let (body, complete) = read_body(&mut reader, &head.headers);
        let record = Recorded {
            method: head.method,
            path: head.path,
            query: head.query,
            headers: head.headers,
            body,
            complete,
        };
        let answer = complete.then(|| answer(&record, shared));
        shared.records.lock().unwrap().push(record);
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        match answer {
            Some(bytes) if writer.write_all(&bytes).is_ok() => {}
            _ => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

struct Head {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
}

fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Some(Head {
        method,
        path,
        query,
        headers,
    })
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The body by `Content-Length` or HTTP chunking; `false` when it broke off.
fn read_body(reader: &mut impl BufRead, headers: &[(String, String)]) -> (Vec<u8>, bool) {
    let chunked = header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return read_http_chunked(reader);
    }
    let length: usize = header(headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(length.min(1 << 20));
    let complete = reader
        .take(length as u64)
        .read_to_end(&mut body)
        .is_ok_and(|n| n == length);
    (body, complete)
}

fn read_http_chunked(reader: &mut impl BufRead) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return (body, false);
        }
        let size = line.trim().split(';').next().unwrap_or("");
        let Ok(size) = usize::from_str_radix(size, 16) else {
            return (body, false);
        };
        if size == 0 {
            // Trailers, then the blank line.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return (body, false);
                }
                if line.trim().is_empty() {
                    return (body, true);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        let mut crlf = [0; 2];
        if reader.read_exact(&mut body[start..]).is_err() || reader.read_exact(&mut crlf).is_err() {
            return (body, false);
        }
    }
}

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

fn response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nx-amz-request-id: FAKES3\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn xml(status: &str, body: String) -> Vec<u8> {
    response(
        status,
        &[("Content-Type", "application/xml".into())],
        body.as_bytes(),
    )
}

/// S3's answer to a request received whole.
fn answer(r: &Recorded, shared: &Shared) -> Vec<u8> {
    let has = |name: &str| {
        r.query
            .split('&')
            .any(|p| p.split('=').next() == Some(name))
    };
    match r.method.as_str() {
        "PUT" if r.header("x-amz-copy-source").is_some() => {
            let source = r.header("x-amz-copy-source").unwrap_or("");
            let source = format!("/{}", source.trim_start_matches('/'));
            let mut objects = shared.objects.lock().unwrap();
            let bytes = objects.get(&source).cloned().unwrap_or_default();
            let tag = etag(&bytes);
            objects.insert(r.path.clone(), bytes);
            xml(
                "200 OK",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult><ETag>{}</ETag>\
                     <LastModified>2026-01-01T00:00:00.000Z</LastModified></CopyObjectResult>",
                    tag.replace('"', "&quot;")
                ),
            )
        }
        "PUT" => {
            let tag = etag(&r.body);
            shared
                .objects
                .lock()
                .unwrap()
                .insert(r.path.clone(), r.body.clone());
            response("200 OK", &[("ETag", tag)], b"")
        }
        "GET" | "HEAD" => {
            let Some(bytes) = shared.objects.lock().unwrap().get(&r.path).cloned() else {
                return xml(
                    "404 Not Found",
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
                     <Message>The specified key does not exist.</Message></Error>"
                        .into(),
                );
            };
            let tag = ("ETag", etag(&bytes));
            if r.method == "HEAD" {
                // The length without the body: written by hand.
                return format!(
                    "HTTP/1.1 200 OK\r\nETag: {}\r\nContent-Length: {}\r\n\r\n",
                    tag.1,
                    bytes.len()
                )
                .into_bytes();
            }
            match r.header("range").and_then(|v| range(v, bytes.len())) {
                Some((from, to)) => response(
                    "206 Partial Content",
                    &[
                        tag,
                        (
                            "Content-Range",
                            format!("bytes {from}-{to}/{}", bytes.len()),
                        ),
                    ],
                    &bytes[from..=to],
                ),
                None => response("200 OK", &[tag], &bytes),
            }
        }
        "DELETE" => {
            shared.objects.lock().unwrap().remove(&r.path);
            "HTTP/1.1 204 No Content\r\n\r\n".as_bytes().to_vec()
        }
        "POST" if has("delete") => {
            let text = String::from_utf8_lossy(&r.body);
            let mut deleted = String::new();
            for piece in text.split("<Key>").skip(1) {
                let key = piece.split("</Key>").next().unwrap_or("");
                deleted.push_str(&format!("<Deleted><Key>{key}</Key></Deleted>"));
            }
            xml(
                "200 OK",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult \
                     xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{deleted}</DeleteResult>"
                ),
            )
        }
        _ => response("200 OK", &[], b""),
    }
}

/// `bytes=A-B` (both given) within `len`, inclusive.
fn range(value: &str, len: usize) -> Option<(usize, usize)> {
    let (from, to) = value.strip_prefix("bytes=")?.split_once('-')?;
    let (from, to): (usize, usize) = (from.parse().ok()?, to.parse().ok()?);
    (from <= to && to < len).then_some((from, to))
}
