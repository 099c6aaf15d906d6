//! The S3 endpoint (`--s3-listen`) end to end: the real daemon between a
//! client that signs as the AWS SDKs do and a recording fake S3
//! (`AWS_ENDPOINT_URL_S3`). Good requests reach S3 re-signed with a grant's
//! credentials (or the base identity, under the default fallback) and their
//! exact bytes; bad ones get S3's XML error from grantd, and S3 sees nothing
//! of them, or never a whole body.

mod common;
mod s3_support;

use common::*;
use grantd_s3::chunked::{ChecksumAlgorithm, Encoder};
use s3_support::*;

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
