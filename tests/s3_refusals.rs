//! The S3 endpoint's refusals, end to end: each bad request gets S3's XML
//! error from grantd, and the recording fake S3 sees nothing of it, or never
//! a whole body; DeleteObjects and copies across grants; no secret in the
//! log; a daemon that would forward to itself does not start.

mod common;
mod s3_support;

use std::time::Duration;

use common::*;
use grantd_s3::chunked::{encode_chunk, encode_final};
use s3_support::*;

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
