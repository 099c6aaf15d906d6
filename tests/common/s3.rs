//! grantd's S3 endpoint from a client's side: the daemon started with one
//! (`--s3-listen`, `AWS_ENDPOINT_URL_S3` at a [`FakeS3`]), requests signed
//! as an SDK signs them (the AWS SDK's own `aws-sigv4`: header auth with a
//! payload hash or `UNSIGNED-PAYLOAD`, presigned URLs, and `aws-chunked`
//! bodies signed chunk by chunk along grantd-s3's `SignatureChain`), sent
//! raw, one connection each, so a test controls every byte.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use grantd::clock::{Clock, SystemClock};
use grantd_s3::sigv4::{SecretKey, SignatureChain, SigningKey};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::{FakeS3, Proc, ROLE_A_KEY, ROLE_A_SECRET, daemon_command, emulator, get, scratch};
use super::{spawn_daemon, token};

/// The region clients sign for.
pub const REGION: &str = "us-east-1";
/// Longest a request waits for its answer. Defaults to 15 s.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// AWS's URI encoding: everything but unreserved characters.
const AWS_URI: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The emulator, the fake S3 and a ready daemon with an S3 endpoint.
/// Fields drop in order: the daemon first.
pub struct S3Stack {
    pub daemon: Proc,
    pub emu: Proc,
    pub fake: FakeS3,
    /// The daemon's S3 endpoint, as `/readyz` gives it to its own user.
    pub s3: SocketAddr,
    pub token: String,
}

/// A stack whose daemon also gets `args` (e.g. `--s3-fallback deny`).
pub fn s3_stack(args: &[&str]) -> S3Stack {
    s3_stack_with(args, &[])
}

/// A stack whose daemon also gets `args` and the environment `env`.
pub fn s3_stack_with(args: &[&str], env: &[(&str, &str)]) -> S3Stack {
    let fake = FakeS3::start();
    let emu = emulator(None);
    let dir = scratch("s3");
    let mut cmd = daemon_command(&emu, dir.path(), "");
    cmd.args(["--s3-listen", "127.0.0.1:0"])
        .args(args)
        .env("AWS_ENDPOINT_URL_S3", fake.url())
        .envs(env.iter().copied());
    let daemon = spawn_daemon(cmd, dir);
    let ready = get(daemon.addr, "/readyz", None).json();
    let s3 = ready["s3_endpoint"]
        .as_str()
        .unwrap_or_else(|| panic!("no s3_endpoint in /readyz: {ready}"))
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let token = token(&daemon);
    S3Stack {
        daemon,
        emu,
        fake,
        s3,
        token,
    }
}

/// Who signs, and when.
#[derive(Clone)]
pub struct Signer {
    pub key: String,
    pub secret: String,
    /// A session's token, sent as `x-amz-security-token`.
    pub token: Option<String>,
    pub time: SystemTime,
}

impl Signer {
    /// The daemon's base identity, now.
    pub fn base() -> Signer {
        Signer::new(ROLE_A_KEY, ROLE_A_SECRET)
    }

    pub fn new(key: &str, secret: &str) -> Signer {
        Signer {
            key: key.into(),
            secret: secret.into(),
            token: None,
            time: SystemClock.now(),
        }
    }

    /// The same key as a session's, with its token.
    pub fn with_token(mut self, token: &str) -> Signer {
        self.token = Some(token.into());
        self
    }

    pub fn at(mut self, time: SystemTime) -> Signer {
        self.time = time;
        self
    }

    /// The chain an `aws-chunked` body continues from the request's
    /// signature (`seed`, hex) and `X-Amz-Date`.
    pub fn chain(&self, amz_date: &str, seed: &str) -> SignatureChain {
        let date = &amz_date[..8];
        let key = SigningKey::derive(&SecretKey::new(self.secret.as_str()), date, REGION, "s3");
        let mut seed_bytes = [0; 32];
        hex::decode_to_slice(seed, &mut seed_bytes).unwrap();
        SignatureChain::new(
            key,
            amz_date,
            &format!("{date}/{REGION}/s3/aws4_request"),
            seed_bytes,
        )
    }
}

/// What `x-amz-content-sha256` says of the body.
pub enum Payload<'a> {
    /// Its SHA-256 (of these bytes, which may differ from what is sent).
    Signed(&'a [u8]),
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`.
    StreamingSigned,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    StreamingUnsignedTrailer,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
    StreamingSignedTrailer,
}

/// A request ready to send: its head signed.
#[derive(Clone, Debug)]
pub struct Signed {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The signature, hex: the seed of an `aws-chunked` body's chain.
    pub signature: String,
}

impl Signed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// S3's settings, as the SDKs' S3 clients use them: the path signed as
/// sent (encoded once, never normalised).
fn settings(location: SignatureLocation) -> SigningSettings {
    let mut s = SigningSettings::default();
    s.percent_encoding_mode = PercentEncodingMode::Single;
    s.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    s.signature_location = location;
    if location == SignatureLocation::QueryParams {
        s.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        s.expires_in = Some(Duration::from_secs(300));
    } else {
        s.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    s
}

/// Signs `method target` for `s3` with header auth, as an SDK does: `host`
/// and `headers` signed, then `x-amz-date`, `x-amz-content-sha256` and
/// `Authorization` added.
pub fn sign_headers(
    s3: SocketAddr,
    signer: &Signer,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    payload: Payload<'_>,
) -> Signed {
    let streaming = match payload {
        Payload::StreamingSigned => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_string(),
        _ => String::new(),
    };
    let body = match payload {
        Payload::Signed(bytes) => SignableBody::Bytes(bytes),
        Payload::Unsigned => SignableBody::UnsignedPayload,
        Payload::StreamingSigned => SignableBody::Precomputed(streaming),
        Payload::StreamingUnsignedTrailer => SignableBody::StreamingUnsignedPayloadTrailer,
        Payload::StreamingSignedTrailer => SignableBody::StreamingSignedPayloadTrailer,
    };
    let (instructions, signature) = sign_with(
        s3,
        signer,
        method,
        target,
        headers,
        body,
        SignatureLocation::Headers,
    );
    let mut all = host_and(s3, headers);
    for (k, v) in instructions.headers() {
        all.push((k.to_string(), v.to_string()));
    }
    Signed {
        method: method.into(),
        target: target.into(),
        headers: all,
        signature,
    }
}

/// A presigned URL's path and query (`UNSIGNED-PAYLOAD`, 5 minutes).
pub fn presign(s3: SocketAddr, signer: &Signer, method: &str, target: &str) -> Signed {
    let (instructions, signature) = sign_with(
        s3,
        signer,
        method,
        target,
        &[],
        SignableBody::UnsignedPayload,
        SignatureLocation::QueryParams,
    );
    let mut target = target.to_string();
    for (k, v) in instructions.params() {
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(&format!("{k}={}", utf8_percent_encode(v, AWS_URI)));
    }
    Signed {
        method: method.into(),
        target,
        headers: host_and(s3, &[]),
        signature,
    }
}

fn host_and(s3: SocketAddr, headers: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = vec![("host".to_string(), s3.to_string())];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all
}

fn sign_with(
    s3: SocketAddr,
    signer: &Signer,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: SignableBody<'_>,
    location: SignatureLocation,
) -> (aws_sigv4::http_request::SigningInstructions, String) {
    let identity = aws_credential_types::Credentials::new(
        &signer.key,
        &signer.secret,
        signer.token.clone(),
        None,
        "test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("s3")
        .time(signer.time)
        .settings(settings(location))
        .build()
        .unwrap()
        .into();
    let uri = format!("http://{s3}{target}");
    let host = s3.to_string();
    let all = std::iter::once(("host", host.as_str())).chain(headers.iter().copied());
    let request = SignableRequest::new(method, &uri, all, body).unwrap();
    let (instructions, signature) = sign(request, &params).unwrap().into_parts();
    (instructions, signature)
}

/// One signed chunk: `hex;chunk-signature=SIG\r\n<data>\r\n`, moving the chain on.
pub fn signed_chunk(chain: &mut SignatureChain, data: &[u8]) -> Vec<u8> {
    let sig = chain.sign_chunk(&Sha256::digest(data).into());
    framed_chunk(data, &hex::encode(sig))
}

/// A chunk carrying `signature` as given (a forgery, in tests).
pub fn framed_chunk(data: &[u8], signature: &str) -> Vec<u8> {
    let mut out = format!("{:x};chunk-signature={signature}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The signed final chunk, `0;chunk-signature=SIG\r\n\r\n`: an empty
/// chunk's header and its (empty) data's CRLF.
pub fn final_chunk(chain: &mut SignatureChain) -> Vec<u8> {
    signed_chunk(chain, b"")
}

/// The end of a signed body with trailers: the final chunk's header, the
/// trailers (`name:value`, sorted), and their signature.
pub fn final_chunk_with_trailers(chain: &mut SignatureChain, trailers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = signed_chunk(chain, b"");
    out.truncate(out.len() - 2);
    let mut canonical = String::new();
    for (name, value) in trailers {
        out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
        canonical.push_str(&format!("{name}:{value}\n"));
    }
    let sig = chain.trailer_signature(canonical.as_bytes());
    out.extend_from_slice(
        format!("x-amz-trailer-signature:{}\r\n\r\n", hex::encode(sig)).as_bytes(),
    );
    out
}

/// A whole signed `aws-chunked` body of `chunks`.
pub fn signed_chunked_body(chain: &mut SignatureChain, chunks: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for chunk in chunks {
        body.extend(signed_chunk(chain, chunk));
    }
    body.extend(final_chunk(chain));
    body
}

/// An answer read whole off the socket.
#[derive(Debug)]
pub struct S3Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl S3Reply {
    fn parse(bytes: &[u8]) -> S3Reply {
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(bytes.len());
        let head = String::from_utf8_lossy(&bytes[..split]).to_string();
        let rest = bytes.get(split + 4..).unwrap_or_default().to_vec();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut reply = S3Reply {
            status,
            head,
            body: rest,
        };
        if reply
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            reply.body = unchunk(&reply.body);
        }
        reply
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    /// S3's `<Code>` in an error document.
    pub fn code(&self) -> Option<String> {
        let text = self.text();
        let start = text.find("<Code>")? + "<Code>".len();
        let end = text[start..].find("</Code>")? + start;
        Some(text[start..end].to_string())
    }

    /// Fails the test unless this is S3's error `code` with `status`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_deref()),
            (status, Some(code)),
            "{}\n{}",
            self.head,
            self.text()
        );
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/xml")
        );
    }
}

fn unchunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&bytes[..end]).unwrap_or("");
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        bytes = &bytes[end + 2..];
        if size == 0 || bytes.len() < size {
            break;
        }
        out.extend_from_slice(&bytes[..size]);
        bytes = bytes.get(size + 2..).unwrap_or_default();
    }
    out
}

/// The request's head as bytes: its headers, then `Content-Length:
/// length` (when given) and `Connection: close`.
pub fn head_bytes(req: &Signed, length: Option<usize>) -> Vec<u8> {
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(n) = length {
        head.push_str(&format!("content-length: {n}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    head.into_bytes()
}

/// Sends `req` with `body` (a `Content-Length` for any body, and for PUT
/// and POST) and reads the whole answer. A write the server cut short (it
/// answered early) is not an error: the answer is what counts.
pub fn send(s3: SocketAddr, req: &Signed, body: &[u8]) -> S3Reply {
    let length =
        (!body.is_empty() || matches!(req.method.as_str(), "PUT" | "POST")).then_some(body.len());
    let mut bytes = head_bytes(req, length);
    bytes.extend_from_slice(body);
    send_raw(s3, &bytes, false)
}

/// Writes `bytes`, closes the writing half when `close_write` (a client
/// that stopped early), and reads until the server closes.
pub fn send_raw(s3: SocketAddr, bytes: &[u8], close_write: bool) -> S3Reply {
    let mut s = TcpStream::connect(s3).unwrap();
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let _ = s.write_all(bytes);
    if close_write {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    S3Reply::parse(&buf)
}

/// A request with no auth at all.
pub fn anonymous(s3: SocketAddr, method: &str, target: &str) -> Signed {
    Signed {
        method: method.into(),
        target: target.into(),
        headers: host_and(s3, &[]),
        signature: String::new(),
    }
}

/// Sends `req` (which says `Expect: 100-continue`) without its body and
/// reads the first answer; sends the body only if that answer is
/// `100 Continue`, then reads the final one. The first answer's head, and
/// the final answer.
pub fn send_expecting_continue(s3: SocketAddr, req: &Signed, body: &[u8]) -> (String, S3Reply) {
    let mut s = TcpStream::connect(s3).unwrap();
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    s.write_all(&head_bytes(req, Some(body.len()))).unwrap();
    let mut first = Vec::new();
    let mut byte = [0; 1];
    while !first.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => first.push(byte[0]),
            _ => break,
        }
    }
    let first = String::from_utf8_lossy(&first).to_string();
    if !first.starts_with("HTTP/1.1 100") {
        let mut rest = first.clone().into_bytes();
        let _ = s.read_to_end(&mut rest);
        return (first, S3Reply::parse(&rest));
    }
    let _ = s.write_all(body);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    (first, S3Reply::parse(&rest))
}
