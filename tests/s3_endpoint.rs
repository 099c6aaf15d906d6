//! The S3 endpoint (`--s3-listen`) end to end: the real daemon between a
//! client that signs as the AWS SDKs do and a recording fake S3
//! (`AWS_ENDPOINT_URL_S3`). Good requests reach S3 re-signed with a grant's
//! credentials (or the base identity, under the default fallback) and their
//! exact bytes; bad ones get S3's XML error from grantd, and S3 sees nothing
//! of them, or never a whole body.

mod common;

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::*;
use grantd_s3::chunked::{
    Checksum, ChecksumAlgorithm, Decoder, Encoder, Event, Framing, Limits, encode_chunk,
    encode_final,
};
use sha2::{Digest, Sha256};

/// `/bucket/key` in the demo bucket.
fn obj(key: &str) -> String {
    format!("/{BUCKET}/{key}")
}

/// `n` bytes of every value, so any byte lost or changed shows.
fn bytes(n: usize) -> Vec<u8> {
    (0..=255u8).cycle().take(n).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The one request S3 got for `path`.
fn one(fake: &FakeS3, path: &str) -> Recorded {
    let records = fake.records_for(path);
    assert_eq!(records.len(), 1, "{records:#?}");
    records.into_iter().next().unwrap()
}

/// Signed anew with a grant's credentials: an `ASIA…` key with its token,
/// not the key the client signed with.
fn assert_grant_signed(r: &Recorded) {
    let key = r
        .access_key_id()
        .unwrap_or_else(|| panic!("unsigned: {r:#?}"));
    assert!(
        key.starts_with("ASIA") && key != ROLE_A_KEY,
        "not a grant's key: {key}"
    );
    assert!(r.header("x-amz-security-token").is_some(), "{r:#?}");
    assert!(r.header("x-amz-date").is_some(), "{r:#?}");
}

/// Signed anew by exactly the grant the credential route serves for
/// `target` and `permission`: its key, token, and a signature S3 would take.
fn assert_signed_by_grant(s: &S3Stack, up: &Recorded, target: &str, permission: &str) {
    assert_grant_signed(up);
    let creds = assert_credentials(&get(
        s.daemon.addr,
        &query(target, permission),
        Some(&s.token),
    ));
    assert_eq!(up.access_key_id(), creds["AccessKeyId"].as_str());
    let token = creds["Token"].as_str().unwrap();
    assert_eq!(up.header("x-amz-security-token"), Some(token));
    if let Err(e) = up.verify_signature(creds["SecretAccessKey"].as_str().unwrap(), token) {
        panic!("S3 would refuse it ({}): {up:#?}", e.code());
    }
    assert!(
        up.verify_signature(ROLE_A_SECRET, token).is_err(),
        "the check tells secrets apart"
    );
}

/// Nothing reached S3 at all.
fn assert_s3_saw_nothing(fake: &FakeS3) {
    fake.settle();
    let records = fake.records();
    assert!(records.is_empty(), "S3 was called: {records:#?}");
}

/// S3 never got `path`'s body whole and stored nothing there.
fn assert_never_whole(fake: &FakeS3, path: &str) {
    fake.settle();
    assert_eq!(fake.object(path), None, "S3 stored a refused upload");
    for r in fake.records_for(path) {
        assert!(
            !r.complete && r.body.len() < r.content_length().unwrap_or(usize::MAX),
            "S3 got a whole body: {} of {:?} bytes",
            r.body.len(),
            r.content_length()
        );
    }
}

/// A `PUT` of `body` to `path`, signed with its SHA-256.
fn signed_put(s: &S3Stack, path: &str, body: &[u8]) -> S3Reply {
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        path,
        &[],
        Payload::Signed(body),
    );
    send(s.s3, &req, body)
}

/// The head of a signed `aws-chunked` upload of `decoded` bytes, and its chain.
fn streaming_signed_head(
    s: &S3Stack,
    path: &str,
    decoded: usize,
) -> (Signed, grantd_s3::sigv4::SignatureChain) {
    let signer = Signer::base();
    let decoded = decoded.to_string();
    let req = sign_headers(
        s.s3,
        &signer,
        "PUT",
        path,
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &decoded),
        ],
        Payload::StreamingSigned,
    );
    let chain = signer.chain(req.header("x-amz-date").unwrap(), &req.signature);
    (req, chain)
}

/// The head of a `STREAMING-UNSIGNED-PAYLOAD-TRAILER` upload with a CRC32 trailer.
fn unsigned_trailer_head(s: &S3Stack, path: &str, decoded: usize) -> Signed {
    let decoded = decoded.to_string();
    sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        path,
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &decoded),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
        Payload::StreamingUnsignedTrailer,
    )
}

fn crc32_base64(data: &[u8]) -> String {
    let mut c = Checksum::new(ChecksumAlgorithm::Crc32);
    c.update(data);
    c.finalize_base64()
}

/// What S3 makes of an unsigned `aws-chunked` body with a CRC32 trailer:
/// its bytes and trailers. Fails the test if it is not whole and well-formed.
fn decode_unsigned_trailer(up: &Recorded, decoded: usize) -> (Vec<u8>, Vec<(String, String)>) {
    let mut decoder = Decoder::new(
        Framing::UnsignedTrailer,
        decoded as u64,
        Some(ChecksumAlgorithm::Crc32),
        Limits::default(),
    )
    .unwrap();
    let mut wire = BytesMut::from(&up.body[..]);
    let (mut data, mut trailers, mut ended) = (Vec::new(), Vec::new(), false);
    for event in decoder.feed(&mut wire).unwrap() {
        match event {
            Event::Data(d) => data.extend_from_slice(&d),
            Event::Trailers(t) => trailers = t,
            Event::End => ended = true,
        }
    }
    assert!(ended && wire.is_empty(), "S3 got the body whole");
    (data, trailers)
}

/// A `DeleteObjects` body for `keys`.
fn delete_xml(keys: &[&str]) -> String {
    let objects: String = keys
        .iter()
        .map(|k| format!("<Object><Key>{k}</Key></Object>"))
        .collect();
    format!("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{objects}</Delete>")
}

/// `POST /bucket?delete` of `body`, with the `Content-MD5` S3 requires.
fn post_delete(s: &S3Stack, body: &[u8]) -> S3Reply {
    let md5 = grantd_s3::xml::content_md5(body);
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "POST",
        &format!("/{BUCKET}?delete"),
        &[("content-md5", &md5), ("content-type", "application/xml")],
        Payload::Signed(body),
    );
    send(s.s3, &req, body)
}

// ---- Good round trips ----

#[test]
fn a_signed_put_reaches_s3_re_signed_by_a_grant_with_its_exact_bytes() {
    let s = s3_stack(&[]);
    let path = obj("UserA/signed.bin");
    let body = bytes(20_000);
    let reply = signed_put(&s, &path, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.header("etag").is_some(), "{}", reply.head);

    let up = one(&s.fake, &path);
    assert_signed_by_grant(&s, &up, "UserA/signed.bin", "WRITE");
    assert_eq!(up.method, "PUT");
    assert_eq!(
        up.header("x-amz-content-sha256"),
        Some(sha256_hex(&body).as_str())
    );
    assert!(up.complete);
    assert_eq!(up.content_length(), Some(body.len()));
    assert_eq!(up.body, body);
    assert_eq!(s.fake.object(&path), Some(body));
}

#[test]
fn an_unsigned_payload_put_reaches_s3_unsigned_with_its_exact_bytes() {
    let s = s3_stack(&[]);
    let path = obj("UserA/unsigned.bin");
    let body = bytes(70_000);
    let req = sign_headers(s.s3, &Signer::base(), "PUT", &path, &[], Payload::Unsigned);
    let reply = send(s.s3, &req, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());

    let up = one(&s.fake, &path);
    assert_signed_by_grant(&s, &up, "UserA/unsigned.bin", "WRITE");
    assert_eq!(up.header("x-amz-content-sha256"), Some("UNSIGNED-PAYLOAD"));
    assert_eq!(up.content_length(), Some(body.len()));
    assert_eq!(up.body, body);
}

#[test]
fn a_get_of_a_user_a_key_returns_s3_s_bytes_exactly() {
    let s = s3_stack(&[]);
    let path = obj("UserA/stored.bin");
    let stored = bytes(100_000);
    s.fake.put_object(&path, &stored);
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "GET",
        &path,
        &[],
        Payload::Signed(b""),
    );
    let reply = send(s.s3, &req, b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, stored);

    let up = one(&s.fake, &path);
    assert_signed_by_grant(&s, &up, "UserA/stored.bin", "READ");
    assert_eq!(
        up.header("x-amz-content-sha256"),
        Some(sha256_hex(b"").as_str())
    );
    assert!(up.body.is_empty());
}

#[test]
fn a_ranged_get_comes_back_as_s3_s_206_and_its_slice() {
    let s = s3_stack(&[]);
    let path = obj("UserA/ranged.bin");
    let stored = bytes(5_000);
    s.fake.put_object(&path, &stored);
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "GET",
        &path,
        &[("range", "bytes=100-1099")],
        Payload::Signed(b""),
    );
    let reply = send(s.s3, &req, b"");
    assert_eq!(reply.status, 206, "{}", reply.text());
    assert_eq!(reply.body, &stored[100..1100]);
    assert_eq!(
        reply.header("content-range").as_deref(),
        Some("bytes 100-1099/5000")
    );
    assert_eq!(one(&s.fake, &path).header("range"), Some("bytes=100-1099"));
}

#[test]
fn a_presigned_get_reaches_s3_header_signed_by_a_grant_without_the_client_s_query_auth() {
    let s = s3_stack(&[]);
    let path = obj("UserA/presigned.bin");
    let stored = bytes(3_000);
    s.fake.put_object(&path, &stored);
    let req = presign(
        s.s3,
        &Signer::base(),
        "GET",
        &format!("{path}?x-id=GetObject"),
    );
    assert!(req.target.contains("X-Amz-Signature="), "{}", req.target);
    let reply = send(s.s3, &req, b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, stored);

    let up = one(&s.fake, &path);
    assert_signed_by_grant(&s, &up, "UserA/presigned.bin", "READ");
    assert_eq!(up.query, "x-id=GetObject");
    assert_eq!(up.header("x-amz-content-sha256"), Some("UNSIGNED-PAYLOAD"));
}

#[test]
fn a_signed_chunked_upload_reaches_s3_decoded_with_its_decoded_length() {
    let s = s3_stack(&[]);
    let path = obj("UserA/chunked.bin");
    let data = bytes(8192 * 2 + 1000);
    let (req, mut chain) = streaming_signed_head(&s, &path, data.len());
    let (a, rest) = data.split_at(8192);
    let (b, c) = rest.split_at(8192);
    let body = signed_chunked_body(&mut chain, &[a, b, c]);
    let reply = send(s.s3, &req, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());

    let up = one(&s.fake, &path);
    assert_signed_by_grant(&s, &up, "UserA/chunked.bin", "WRITE");
    assert_eq!(up.header("x-amz-content-sha256"), Some("UNSIGNED-PAYLOAD"));
    assert_eq!(up.content_length(), Some(data.len()));
    assert_eq!(up.header("content-encoding"), None);
    assert_eq!(up.header("x-amz-decoded-content-length"), None);
    assert_eq!(up.body, data, "S3 gets the decoded bytes, no chunk framing");
}

#[test]
fn an_unsigned_trailer_upload_reaches_s3_aws_chunked_with_the_same_crc32_trailer() {
    let s = s3_stack(&[]);
    let path = obj("UserA/trailer.bin");
    let data = bytes(20_000);
    let crc = crc32_base64(&data);
    let req = unsigned_trailer_head(&s, &path, data.len());
    let mut encoder = Encoder::new(8192, Some(ChecksumAlgorithm::Crc32));
    let mut body = encoder.push(&data).to_vec();
    body.extend_from_slice(&encoder.finish());
    assert!(
        String::from_utf8_lossy(&body).contains(&format!("x-amz-checksum-crc32:{crc}")),
        "the client's own trailer"
    );
    let reply = send(s.s3, &req, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());

    let up = one(&s.fake, &path);
    assert_signed_by_grant(&s, &up, "UserA/trailer.bin", "WRITE");
    assert_eq!(
        up.header("x-amz-content-sha256"),
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    );
    assert_eq!(up.header("content-encoding"), Some("aws-chunked"));
    assert_eq!(up.header("x-amz-trailer"), Some("x-amz-checksum-crc32"));
    let decoded_length = data.len().to_string();
    assert_eq!(
        up.header("x-amz-decoded-content-length"),
        Some(decoded_length.as_str())
    );
    assert_eq!(up.content_length(), Some(up.body.len()));

    let (got, trailers) = decode_unsigned_trailer(&up, data.len());
    assert_eq!(got, data);
    assert_eq!(trailers, vec![("x-amz-checksum-crc32".to_string(), crc)]);
}

#[test]
fn a_head_of_a_user_a_key_gives_s3_s_length_and_no_body() {
    let s = s3_stack(&[]);
    let path = obj("UserA/head.bin");
    s.fake.put_object(&path, &bytes(4_321));
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "HEAD",
        &path,
        &[],
        Payload::Signed(b""),
    );
    let reply = send(s.s3, &req, b"");
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.header("content-length").as_deref(), Some("4321"));
    assert!(reply.body.is_empty());
    assert_grant_signed(&one(&s.fake, &path));
}

#[test]
fn a_put_that_expects_100_continue_gets_it_and_reaches_s3_whole() {
    let s = s3_stack(&[]);
    let path = obj("UserA/expect.bin");
    let body = bytes(50_000);
    let mut req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &path,
        &[],
        Payload::Signed(&body),
    );
    req.headers.push(("expect".into(), "100-continue".into()));
    let (first, reply) = send_expecting_continue(s.s3, &req, &body);
    assert!(first.starts_with("HTTP/1.1 100"), "{first}");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let up = one(&s.fake, &path);
    assert_eq!(up.header("expect"), None, "the daemon's own connection");
    assert_eq!(up.body, body);
}

#[test]
fn a_refused_put_that_expects_100_continue_gets_its_error_without_a_100() {
    let s = s3_stack(&["--s3-fallback", "deny"]);
    let path = obj("UserB/expect.bin");
    let body = bytes(50_000);
    let mut req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &path,
        &[],
        Payload::Signed(&body),
    );
    req.headers.push(("expect".into(), "100-continue".into()));
    let (first, reply) = send_expecting_continue(s.s3, &req, &body);
    assert!(
        first.starts_with("HTTP/1.1 403"),
        "the body is never asked for: {first}"
    );
    reply.assert_error(403, "AccessDenied");
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn a_signed_trailer_upload_reaches_s3_re_chunked_unsigned_with_the_same_crc32_trailer() {
    let s = s3_stack(&[]);
    let path = obj("UserA/signed-trailer.bin");
    let data = bytes(8192 + 500);
    let crc = crc32_base64(&data);
    let signer = Signer::base();
    let decoded = data.len().to_string();
    let req = sign_headers(
        s.s3,
        &signer,
        "PUT",
        &path,
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &decoded),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
        Payload::StreamingSignedTrailer,
    );
    let mut chain = signer.chain(req.header("x-amz-date").unwrap(), &req.signature);
    let mut body = signed_chunk(&mut chain, &data[..8192]);
    body.extend(signed_chunk(&mut chain, &data[8192..]));
    body.extend(final_chunk_with_trailers(
        &mut chain,
        &[("x-amz-checksum-crc32", &crc)],
    ));
    let reply = send(s.s3, &req, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());

    let up = one(&s.fake, &path);
    assert_signed_by_grant(&s, &up, "UserA/signed-trailer.bin", "WRITE");
    assert_eq!(
        up.header("x-amz-content-sha256"),
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    );
    let (got, trailers) = decode_unsigned_trailer(&up, data.len());
    assert_eq!(got, data);
    assert_eq!(trailers, vec![("x-amz-checksum-crc32".to_string(), crc)]);
}

#[test]
fn unsigned_trailer_uploads_of_any_length_are_re_chunked_with_their_exact_length() {
    let s = s3_stack(&[]);
    // Whole 64 KiB chunks only, one byte more, and a single byte.
    for n in [3 * 65_536, 3 * 65_536 + 1, 1] {
        let path = obj(&format!("UserA/length-{n}.bin"));
        let data = bytes(n);
        let req = unsigned_trailer_head(&s, &path, n);
        let mut encoder = Encoder::new(8192, Some(ChecksumAlgorithm::Crc32));
        let mut body = encoder.push(&data).to_vec();
        body.extend_from_slice(&encoder.finish());
        let reply = send(s.s3, &req, &body);
        assert_eq!(reply.status, 200, "{n}: {}", reply.text());
        let up = one(&s.fake, &path);
        assert!(up.complete, "{n}");
        assert_eq!(up.content_length(), Some(up.body.len()), "{n}");
        let (got, trailers) = decode_unsigned_trailer(&up, n);
        assert!(got == data, "{n}: the bytes differ");
        assert_eq!(trailers[0].1, crc32_base64(&data), "{n}");
    }
}

#[test]
fn a_key_that_needs_percent_encoding_reaches_s3_as_the_client_encoded_it() {
    let s = s3_stack(&[]);
    let path = obj("UserA/a%20b%2Bc%C3%A9%3D.bin");
    let reply = signed_put(&s, &path, b"encoded");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let up = one(&s.fake, &path);
    assert_signed_by_grant(&s, &up, "UserA/a%20b%2Bc%C3%A9%3D.bin", "WRITE");
    assert_eq!(up.body, b"encoded");
}

#[test]
fn a_listing_of_a_granted_prefix_is_signed_by_that_grant_and_of_the_bucket_by_the_base() {
    let s = s3_stack(&[]);
    let bucket = format!("/{BUCKET}");
    for (query, granted) in [
        ("list-type=2&prefix=UserA%2F", true),
        ("list-type=2&prefix=", false),
    ] {
        let req = sign_headers(
            s.s3,
            &Signer::base(),
            "GET",
            &format!("{bucket}?{query}"),
            &[],
            Payload::Signed(b""),
        );
        send(s.s3, &req, b"");
        let up = s.fake.records().pop().unwrap();
        assert_eq!(
            (up.path.as_str(), up.query.as_str()),
            (bucket.as_str(), query)
        );
        if granted {
            assert_signed_by_grant(&s, &up, "UserA/*", "READ");
        } else {
            assert_eq!(up.access_key_id(), Some(ROLE_A_KEY));
        }
    }
}

// ---- The fallback ----

#[test]
fn a_key_no_grant_covers_goes_on_with_the_base_identity_by_default() {
    let s = s3_stack(&[]);
    let path = obj("UserB/base.bin");
    let body = bytes(1_000);
    let reply = signed_put(&s, &path, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());

    let up = one(&s.fake, &path);
    assert_eq!(up.access_key_id(), Some(ROLE_A_KEY));
    assert_eq!(up.header("x-amz-security-token"), None, "a long-term key");
    assert_eq!(up.body, body);
}

#[test]
fn a_base_session_signs_with_its_token_and_a_request_without_it_is_refused() {
    // The execution role of a Studio space: a session, with a token.
    let token = "session-token-of-the-execution-role";
    let s = s3_stack_with(&[], &[("AWS_SESSION_TOKEN", token)]);
    // What a client gets at the base route carries the token.
    let served = get(s.daemon.addr, "/v1/base-credentials", Some(&s.token)).json();
    assert_eq!(served["Token"], token);
    let path = obj("UserB/session.bin");
    let body = bytes(100);
    let with = sign_headers(
        s.s3,
        &Signer::base().with_token(token),
        "PUT",
        &path,
        &[],
        Payload::Signed(&body),
    );
    let reply = send(s.s3, &with, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        one(&s.fake, &path).header("x-amz-security-token"),
        Some(token)
    );

    let without = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &obj("UserB/x"),
        &[],
        Payload::Signed(&body),
    );
    send(s.s3, &without, &body).assert_error(403, "InvalidAccessKeyId");
    let wrong = sign_headers(
        s.s3,
        &Signer::base().with_token("another"),
        "PUT",
        &obj("UserB/y"),
        &[],
        Payload::Signed(&body),
    );
    send(s.s3, &wrong, &body).assert_error(400, "InvalidToken");
}

#[test]
fn a_long_term_key_with_the_empty_token_it_was_served_is_accepted() {
    let s = s3_stack(&[]);
    let served = get(s.daemon.addr, "/v1/base-credentials", Some(&s.token)).json();
    assert_eq!(served["Token"], "");
    let path = obj("UserA/empty-token.bin");
    let body = bytes(100);
    // As the Java SDK v1 and object_store sign with it: an empty token header.
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &path,
        &[("x-amz-security-token", "")],
        Payload::Signed(&body),
    );
    let reply = send(s.s3, &req, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_grant_signed(&one(&s.fake, &path));
}

#[test]
fn a_key_no_grant_covers_is_access_denied_without_calling_s3_under_fallback_deny() {
    let s = s3_stack(&["--s3-fallback", "deny"]);
    let path = obj("UserB/denied.bin");
    let reply = signed_put(&s, &path, &bytes(1_000));
    reply.assert_error(403, "AccessDenied");
    let text = reply.text();
    assert!(
        text.contains(&format!("s3://{BUCKET}/UserB/denied.bin")) && text.contains("deny"),
        "{text}"
    );
    assert_s3_saw_nothing(&s.fake);
}

// ---- Refused before anything goes upstream ----

#[test]
fn a_request_without_authorization_is_access_denied() {
    let s = s3_stack(&[]);
    let reply = send(s.s3, &anonymous(s.s3, "GET", &obj("UserA/a")), b"");
    reply.assert_error(403, "AccessDenied");
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn a_wrong_secret_is_signature_does_not_match() {
    let s = s3_stack(&[]);
    let signer = Signer::new(ROLE_A_KEY, "not-the-secret-of-this-key-at-all-000000");
    let req = sign_headers(
        s.s3,
        &signer,
        "GET",
        &obj("UserA/a"),
        &[],
        Payload::Unsigned,
    );
    send(s.s3, &req, b"").assert_error(403, "SignatureDoesNotMatch");
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn an_unknown_access_key_id_is_invalid_access_key_id() {
    let s = s3_stack(&[]);
    let signer = Signer::new("AKIANOBODYKNOWSTHIS", ROLE_A_SECRET);
    let req = sign_headers(
        s.s3,
        &signer,
        "GET",
        &obj("UserA/a"),
        &[],
        Payload::Unsigned,
    );
    send(s.s3, &req, b"").assert_error(403, "InvalidAccessKeyId");
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn a_date_20_minutes_off_is_request_time_too_skewed() {
    let s = s3_stack(&[]);
    for signer in [
        Signer::base().at(Signer::base().time - Duration::from_secs(20 * 60)),
        Signer::base().at(Signer::base().time + Duration::from_secs(20 * 60)),
    ] {
        let req = sign_headers(
            s.s3,
            &signer,
            "GET",
            &obj("UserA/a"),
            &[],
            Payload::Unsigned,
        );
        send(s.s3, &req, b"").assert_error(403, "RequestTimeTooSkewed");
    }
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn an_expired_presigned_url_is_access_denied() {
    let s = s3_stack(&[]);
    let signer = Signer::base().at(Signer::base().time - Duration::from_secs(10 * 60));
    let req = presign(s.s3, &signer, "GET", &obj("UserA/a"));
    send(s.s3, &req, b"").assert_error(403, "AccessDenied");
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn an_x_amz_header_outside_the_signature_is_access_denied() {
    let s = s3_stack(&[]);
    let mut req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &obj("UserA/b"),
        &[],
        Payload::Signed(b""),
    );
    // Added after signing: it would turn the PUT into a copy.
    req.headers.push((
        "x-amz-copy-source".into(),
        format!("/{BUCKET}/UserB/secret"),
    ));
    send(s.s3, &req, b"").assert_error(403, "AccessDenied");
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn an_unknown_method_on_an_object_is_method_not_allowed() {
    let s = s3_stack(&[]);
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "PATCH",
        &obj("UserA/a"),
        &[],
        Payload::Signed(b""),
    );
    send(s.s3, &req, b"").assert_error(405, "MethodNotAllowed");
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn another_unix_user_is_access_denied_and_s3_sees_nothing() {
    let s = s3_stack(&[]);
    let path = obj("UserA/from-nobody");
    let req = sign_headers(s.s3, &Signer::base(), "GET", &path, &[], Payload::Unsigned);
    let reply = raw_as_nobody(s.s3, &head_bytes(&req, None));
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(
        reply.body.contains("<Code>AccessDenied</Code>"),
        "{}",
        reply.body
    );
    assert_s3_saw_nothing(&s.fake);
    // The owner, with the very same request, is served.
    assert_eq!(
        send(s.s3, &req, b"").status,
        404,
        "the fake has no such key"
    );
    assert_eq!(one(&s.fake, &path).method, "GET");
}

#[test]
fn headers_over_32_kib_are_refused_without_forwarding_and_the_daemon_keeps_serving() {
    let mut s = s3_stack(&[]);
    let path = obj("UserA/huge-head");
    // Over the 32 KiB limit by a little: hyper's read buffer limit alone
    // lets a head this size through whenever one read brings it all.
    let padding = "a".repeat(40 * 1024);
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "GET",
        &path,
        &[("x-padding", &padding)],
        Payload::Unsigned,
    );
    let reply = send(s.s3, &req, b"");
    assert_eq!(reply.status, 431, "{}\n{}", reply.head, reply.text());
    assert_s3_saw_nothing(&s.fake);
    assert!(s.daemon.running(), "{}", s.daemon.logs());
    let ok = signed_put(&s, &obj("UserA/after-huge-head"), b"still here");
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[test]
fn delete_objects_with_malformed_xml_is_malformed_xml() {
    let s = s3_stack(&[]);
    let body = b"<Delete><Object><Key>UserA/a</Key></Object>";
    post_delete(&s, body).assert_error(400, "MalformedXML");
    assert_s3_saw_nothing(&s.fake);
}

// ---- Bodies that fail their checks: S3 never gets them whole ----

#[test]
fn a_body_that_is_not_its_signed_hash_is_refused_and_never_stored() {
    let s = s3_stack(&[]);
    let path = obj("UserA/mismatch.bin");
    let signed_for = bytes(30_000);
    let mut sent = signed_for.clone();
    sent[29_999] ^= 1;
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &path,
        &[],
        Payload::Signed(&signed_for),
    );
    send(s.s3, &req, &sent).assert_error(400, "XAmzContentSHA256Mismatch");
    assert_never_whole(&s.fake, &path);
}

#[test]
fn an_empty_body_signed_as_another_is_refused_without_calling_s3() {
    let s = s3_stack(&[]);
    let path = obj("UserA/empty-mismatch.bin");
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &path,
        &[],
        Payload::Signed(b"the body the client signed"),
    );
    send(s.s3, &req, b"").assert_error(400, "XAmzContentSHA256Mismatch");
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn a_forged_chunk_signature_mid_upload_is_refused_and_nothing_is_stored() {
    let s = s3_stack(&[]);
    let path = obj("UserA/forged.bin");
    let data = bytes(8192 * 3 + 100);
    let (req, mut chain) = streaming_signed_head(&s, &path, data.len());
    let pieces: Vec<&[u8]> = data.chunks(8192).collect();
    let mut body = signed_chunk(&mut chain, pieces[0]);
    body.extend(signed_chunk(&mut chain, pieces[1]));
    // The third chunk's signature is not the chain's; the rest is signed
    // as if it were.
    body.extend(framed_chunk(pieces[2], &"0".repeat(64)));
    body.extend(signed_chunk(&mut chain, pieces[3]));
    body.extend(final_chunk(&mut chain));
    send(s.s3, &req, &body).assert_error(403, "SignatureDoesNotMatch");
    assert_never_whole(&s.fake, &path);
}

#[test]
fn a_chunked_upload_the_client_stops_early_is_incomplete_body() {
    let s = s3_stack(&[]);
    let path = obj("UserA/truncated.bin");
    let data = bytes(8192 * 2 + 10);
    let (req, mut chain) = streaming_signed_head(&s, &path, data.len());
    let pieces: Vec<&[u8]> = data.chunks(8192).collect();
    let body = signed_chunked_body(&mut chain, &pieces);
    // The whole length announced, a chunk and a half sent, then the client
    // closes its side.
    let mut bytes = head_bytes(&req, Some(body.len()));
    bytes.extend_from_slice(&body[..8192 + 4096]);
    send_raw(s.s3, &bytes, true).assert_error(400, "IncompleteBody");
    assert_never_whole(&s.fake, &path);
}

#[test]
fn an_unsigned_body_the_client_stops_early_never_reaches_s3_whole() {
    let s = s3_stack(&[]);
    let path = obj("UserA/unsigned-truncated.bin");
    let req = sign_headers(s.s3, &Signer::base(), "PUT", &path, &[], Payload::Unsigned);
    let data = bytes(100_000);
    let mut bytes = head_bytes(&req, Some(data.len()));
    bytes.extend_from_slice(&data[..60_000]);
    send_raw(s.s3, &bytes, true).assert_error(400, "IncompleteBody");
    assert_never_whole(&s.fake, &path);
}

#[test]
fn broken_chunk_framing_is_incomplete_body() {
    let s = s3_stack(&[]);
    let path = obj("UserA/framing.bin");
    let data = bytes(8192 + 10);
    let (req, mut chain) = streaming_signed_head(&s, &path, data.len());
    let mut body = signed_chunk(&mut chain, &data[..8192]);
    // The first chunk's data is not followed by CRLF.
    let crlf = body.len() - 2;
    body[crlf..].copy_from_slice(b"XX");
    body.extend(signed_chunk(&mut chain, &data[8192..]));
    body.extend(final_chunk(&mut chain));
    send(s.s3, &req, &body).assert_error(400, "IncompleteBody");
    assert_never_whole(&s.fake, &path);
}

#[test]
fn a_wrong_trailer_checksum_is_bad_digest_and_nothing_is_stored() {
    let s = s3_stack(&[]);
    let path = obj("UserA/bad-digest.bin");
    let data = bytes(20_000);
    let wrong = crc32_base64(b"some other body");
    let req = unsigned_trailer_head(&s, &path, data.len());
    let mut body = Vec::new();
    for piece in data.chunks(8192) {
        body.extend_from_slice(&encode_chunk(piece));
    }
    body.extend_from_slice(&encode_final(&[("x-amz-checksum-crc32", &wrong)]));
    send(s.s3, &req, &body).assert_error(400, "BadDigest");
    assert_never_whole(&s.fake, &path);
}

// ---- DeleteObjects and copies across grants ----

#[test]
fn delete_objects_across_grants_sends_the_granted_keys_and_denies_the_rest() {
    let s = s3_stack(&["--s3-fallback", "deny"]);
    let keys = ["UserA/one", "UserB/two", "UserA/three", "UserB/four"];
    let reply = post_delete(&s, delete_xml(&keys).as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());

    let bucket_path = format!("/{BUCKET}");
    let up = one(&s.fake, &bucket_path);
    assert_eq!((up.method.as_str(), up.query.as_str()), ("POST", "delete"));
    assert_signed_by_grant(&s, &up, "UserA/one", "WRITE");
    let sent = String::from_utf8_lossy(&up.body);
    assert!(
        sent.contains("<Key>UserA/one</Key>") && sent.contains("<Key>UserA/three</Key>"),
        "{sent}"
    );
    assert!(!sent.contains("UserB"), "a denied key went to S3: {sent}");
    assert_eq!(
        up.header("content-md5"),
        Some(grantd_s3::xml::content_md5(&up.body).as_str())
    );
    assert_eq!(
        up.header("x-amz-content-sha256"),
        Some(sha256_hex(&up.body).as_str())
    );

    let result = grantd_s3::xml::parse_delete_result(&reply.body).unwrap();
    let mut deleted: Vec<&str> = result.deleted.iter().map(|d| d.key.as_str()).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["UserA/one", "UserA/three"]);
    let mut refused: Vec<(&str, &str)> = result
        .errors
        .iter()
        .map(|e| (e.key.as_str(), e.code.as_str()))
        .collect();
    refused.sort_unstable();
    assert_eq!(
        refused,
        [
            ("UserB/four", "AccessDenied"),
            ("UserB/two", "AccessDenied")
        ]
    );
}

#[test]
fn delete_objects_of_only_denied_keys_answers_them_all_without_calling_s3() {
    let s = s3_stack(&["--s3-fallback", "deny"]);
    let reply = post_delete(&s, delete_xml(&["UserB/x", "UserB/y"]).as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    let result = grantd_s3::xml::parse_delete_result(&reply.body).unwrap();
    assert!(result.deleted.is_empty());
    assert_eq!(result.errors.len(), 2, "{}", reply.text());
    assert!(result.errors.iter().all(|e| e.code == "AccessDenied"));
    assert_s3_saw_nothing(&s.fake);
}

#[test]
fn a_copy_within_one_grant_goes_as_one_request_signed_by_that_grant() {
    let s = s3_stack(&[]);
    s.fake.put_object(&obj("UserA/a"), b"copied bytes");
    let source = format!("/{BUCKET}/UserA/a");
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &obj("UserA/b"),
        &[("x-amz-copy-source", &source)],
        Payload::Signed(b""),
    );
    let reply = send(s.s3, &req, b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.text().contains("<CopyObjectResult>"),
        "{}",
        reply.text()
    );

    assert_eq!(s.fake.records().len(), 1, "{:#?}", s.fake.records());
    let up = one(&s.fake, &obj("UserA/b"));
    assert_signed_by_grant(&s, &up, "UserA/*", "READWRITE");
    assert_eq!(up.header("x-amz-copy-source"), Some(source.as_str()));
    assert_eq!(
        s.fake.object(&obj("UserA/b")).as_deref(),
        Some(&b"copied bytes"[..])
    );
}

/// READWRITE on the common prefix (`s3://bucket/*`) is denied; READ on
/// Product and WRITE on UserA come from two grants, whose credentials
/// cannot sign one request together.
#[test]
fn a_copy_across_two_grants_is_access_denied_naming_both_scopes() {
    let s = s3_stack(&[]);
    let req = sign_headers(
        s.s3,
        &Signer::base(),
        "PUT",
        &obj("UserA/y"),
        &[("x-amz-copy-source", &format!("/{BUCKET}/Product/x"))],
        Payload::Signed(b""),
    );
    let reply = send(s.s3, &req, b"");
    reply.assert_error(403, "AccessDenied");
    let text = reply.text();
    for scope in [
        format!("READ on s3://{BUCKET}/Product/x"),
        format!("WRITE on s3://{BUCKET}/UserA/y"),
    ] {
        assert!(text.contains(&scope), "{scope} not named: {text}");
    }
    assert_s3_saw_nothing(&s.fake);
}

// ---- Secrets and start-up ----

#[test]
fn the_log_never_holds_a_secret_a_session_token_or_the_bearer_token() {
    let s = s3_stack(&["--log-level", "debug"]);
    let granted = obj("UserA/logged.bin");
    assert_eq!(signed_put(&s, &granted, b"granted").status, 200);
    let fallback = obj("UserB/logged.bin");
    assert_eq!(signed_put(&s, &fallback, b"base").status, 200);
    // Refusals log too.
    let wrong = Signer::new(ROLE_A_KEY, "wrong-secret-wrong-secret-wrong-secret0");
    let req = sign_headers(s.s3, &wrong, "GET", &granted, &[], Payload::Unsigned);
    send(s.s3, &req, b"").assert_error(403, "SignatureDoesNotMatch");
    let (req, mut chain) = streaming_signed_head(&s, &obj("UserA/forged-log.bin"), 5);
    let mut body = framed_chunk(b"12345", &"0".repeat(64));
    body.extend(final_chunk(&mut chain));
    send(s.s3, &req, &body).assert_error(403, "SignatureDoesNotMatch");

    // The grant's credentials the endpoint used, as the credential route
    // serves them for the same scope.
    let up = one(&s.fake, &granted);
    let creds = assert_credentials(&get(
        s.daemon.addr,
        &query("UserA/logged.bin", "WRITE"),
        Some(&s.token),
    ));
    assert_eq!(up.access_key_id(), creds["AccessKeyId"].as_str());
    let mut secrets = vec![
        ROLE_A_SECRET.to_string(),
        s.token.trim().to_string(),
        creds["SecretAccessKey"].as_str().unwrap().to_string(),
        creds["Token"].as_str().unwrap().to_string(),
    ];
    for r in s.fake.records() {
        secrets.extend(r.header("x-amz-security-token").map(String::from));
    }
    let logs = s.daemon.logs();
    assert!(logs.contains("s3 request"), "debug logs expected:\n{logs}");
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the log:\n{logs}"
        );
    }
}

#[test]
fn an_s3_upstream_that_is_the_s3_listener_itself_refuses_to_start_with_exit_64() {
    let emu = emulator(None);
    for host in ["127.0.0.1", "localhost"] {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let dir = scratch("s3-loop");
        let mut cmd = daemon_command(&emu, dir.path(), "");
        cmd.args(["--s3-listen", &format!("127.0.0.1:{port}")])
            .env("AWS_ENDPOINT_URL_S3", format!("http://{host}:{port}"));
        let log = dir.path().join("grantd.log");
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{host}: still running:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(status.code(), Some(64), "{host}: {stderr}");
        assert!(
            stderr.contains("AWS_ENDPOINT_URL_S3")
                && stderr.contains(&format!("{host}:{port}"))
                && stderr.contains("own S3 endpoint"),
            "{stderr}"
        );
        assert!(!dir.path().join("addr").exists(), "it never served");
    }
}

#[test]
fn an_s3_that_accepts_and_never_answers_is_given_up_on_after_the_upstream_timeout() {
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let s = s3_stack_with(
        &[],
        &[
            ("AWS_ENDPOINT_URL_S3", url.as_str()),
            ("GRANTD_S3_UPSTREAM_TIMEOUT", "1"),
        ],
    );
    let started = Instant::now();
    let reply = signed_put(&s, &obj("UserA/silent.bin"), &bytes(10));
    reply.assert_error(502, "InternalError");
    assert!(
        reply.text().contains("did not answer within 1 s"),
        "{}",
        reply.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}
