//! What the S3 endpoint's integration tests share: object paths, bodies,
//! signed requests of each payload mode, and checks of what the fake S3 saw.

#![allow(dead_code, unused_imports)]

use bytes::BytesMut;
use grantd_s3::chunked::{
    Checksum, ChecksumAlgorithm, Decoder, Encoder, Event, Framing, Limits, encode_chunk,
    encode_final,
};
use sha2::{Digest, Sha256};

use crate::common::*;

/// `/bucket/key` in the demo bucket.
pub fn obj(key: &str) -> String {
    format!("/{BUCKET}/{key}")
}

/// `n` bytes of every value, so any byte lost or changed shows.
pub fn bytes(n: usize) -> Vec<u8> {
    (0..=255u8).cycle().take(n).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The one request S3 got for `path`.
pub fn one(fake: &FakeS3, path: &str) -> Recorded {
    let records = fake.records_for(path);
    assert_eq!(records.len(), 1, "{records:#?}");
    records.into_iter().next().unwrap()
}

/// Signed anew with a grant's credentials: an `ASIA…` key with its token,
/// not the key the client signed with.
pub fn assert_grant_signed(r: &Recorded) {
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
pub fn assert_signed_by_grant(s: &S3Stack, up: &Recorded, target: &str, permission: &str) {
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
pub fn assert_s3_saw_nothing(fake: &FakeS3) {
    fake.settle();
    let records = fake.records();
    assert!(records.is_empty(), "S3 was called: {records:#?}");
}

/// S3 never got `path`'s body whole and stored nothing there.
pub fn assert_never_whole(fake: &FakeS3, path: &str) {
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
pub fn signed_put(s: &S3Stack, path: &str, body: &[u8]) -> S3Reply {
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
pub fn streaming_signed_head(
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
pub fn unsigned_trailer_head(s: &S3Stack, path: &str, decoded: usize) -> Signed {
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

pub fn crc32_base64(data: &[u8]) -> String {
    let mut c = Checksum::new(ChecksumAlgorithm::Crc32);
    c.update(data);
    c.finalize_base64()
}

/// What S3 makes of an unsigned `aws-chunked` body with a CRC32 trailer:
/// its bytes and trailers. Fails the test if it is not whole and well-formed.
pub fn decode_unsigned_trailer(up: &Recorded, decoded: usize) -> (Vec<u8>, Vec<(String, String)>) {
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
pub fn delete_xml(keys: &[&str]) -> String {
    let objects: String = keys
        .iter()
        .map(|k| format!("<Object><Key>{k}</Key></Object>"))
        .collect();
    format!("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{objects}</Delete>")
}

/// `POST /bucket?delete` of `body`, with the `Content-MD5` S3 requires.
pub fn post_delete(s: &S3Stack, body: &[u8]) -> S3Reply {
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
