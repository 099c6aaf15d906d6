//! AWS's published S3 SigV4 examples, and every refusal with S3's code.

mod refusals;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use super::canonical::{canonical_headers, canonical_query, canonical_request, parse_query};
use super::*;

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// 2013-05-24T00:00:00Z, the examples' time.
const MAY_24: u64 = 1_369_353_600;

fn at(offset_secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(MAY_24.checked_add_signed(offset_secs).unwrap())
}

fn lookup(id: &str) -> Option<SecretKey> {
    (id == AKID).then(|| SecretKey::new(SECRET))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::try_from(*name).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn check(
    method: Method,
    uri: &str,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    verify(&method, &uri.parse().unwrap(), headers, now, lookup)
}

/// The documented GET Object request (Range header, empty body).
fn get_object() -> HeaderMap {
    headers(&[
        ("host", "examplebucket.s3.amazonaws.com"),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA),
        ("x-amz-date", "20130524T000000Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
    ])
}

/// Signs a header-auth request with this module's own canonicalisation:
/// for cases the published examples do not cover.
fn sign(method: &Method, uri: &str, map: &mut HeaderMap, secret: &SecretKey, date: &str) {
    let uri: Uri = uri.parse().unwrap();
    let mut names: Vec<String> = map.keys().map(|n| n.as_str().to_owned()).collect();
    names.sort();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let signed = names.join(";");
    let payload = map["x-amz-content-sha256"].to_str().unwrap().to_owned();
    let query = canonical_query(&parse_query(uri.query().unwrap_or(""), true), |_| false);
    let block = canonical_headers(map, &uri, &names);
    let request = canonical_request(
        method.as_str(),
        uri.path(),
        &query,
        &block,
        &signed,
        &payload,
    );
    let scope = format!("{}/us-east-1/s3/aws4_request", &date[..8]);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex::encode(sha256(&request))
    );
    let key = SigningKey::derive(secret, &date[..8], "us-east-1", "s3");
    let value = format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={signed}, Signature={}",
        hex::encode(key.sign(to_sign.as_bytes()))
    );
    map.insert("authorization", value.parse().unwrap());
}

fn simple(extra: &[(&str, &str)]) -> HeaderMap {
    let mut map = headers(&[
        ("host", "bucket.s3.amazonaws.com"),
        ("x-amz-content-sha256", EMPTY_SHA),
        ("x-amz-date", "20130524T000000Z"),
    ]);
    for (name, value) in extra {
        map.insert(
            http::HeaderName::try_from(*name).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

#[test]
fn the_documented_get_object_example_verifies() {
    let verified = check(Method::GET, "/test.txt", &get_object(), at(0)).unwrap();
    assert_eq!(verified.access_key_id, AKID);
    assert_eq!(
        verified.scope.to_string(),
        "20130524/us-east-1/s3/aws4_request"
    );
    assert_eq!(verified.timestamp, at(0));
    assert_eq!(verified.amz_date, "20130524T000000Z");
    assert_eq!(
        hex::encode(verified.seed_signature),
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    assert_eq!(verified.presigned, None);
    assert_eq!(verified.payload, PayloadMode::Signed(sha256(b"")));
    let names = |v: &[HeaderName]| {
        v.iter()
            .map(HeaderName::as_str)
            .collect::<Vec<_>>()
            .join(";")
    };
    assert_eq!(
        names(&verified.signed_headers),
        "host;range;x-amz-content-sha256;x-amz-date"
    );
    assert_eq!(
        names(&verified.auth_headers),
        "authorization;x-amz-date;x-amz-content-sha256"
    );
    assert!(verified.auth_query_params.is_empty());
    let mut hasher = verified.payload_hasher().unwrap();
    hasher.update(b"");
    hasher.finish().unwrap();
}

#[test]
fn the_documented_put_object_example_verifies_and_its_body_hashes() {
    let map = headers(&[
        ("host", "examplebucket.s3.amazonaws.com"),
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        (
            "x-amz-content-sha256",
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        ),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,\
             Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        ),
    ]);
    let verified = check(Method::PUT, "/test%24file.text", &map, at(60)).unwrap();
    let mut good = verified.payload_hasher().unwrap();
    good.update(b"Welcome to ");
    good.update(b"Amazon S3.");
    assert_eq!(good.length(), 21);
    good.finish().unwrap();
    let mut bad = verified.payload_hasher().unwrap();
    bad.update(b"Welcome to Amazon S4.");
    let error = bad.finish().unwrap_err();
    assert_eq!(error, AuthError::XAmzContentSHA256Mismatch);
    assert_eq!(
        (error.code(), error.status()),
        ("XAmzContentSHA256Mismatch", StatusCode::BAD_REQUEST)
    );
    // The path is taken as sent: the decoded form is another resource.
    let error = check(Method::PUT, "/test$file.text", &map, at(60)).unwrap_err();
    assert_eq!(error, AuthError::SignatureDoesNotMatch);
}

const PRESIGNED: &str = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
    &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
    &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
    &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn the_documented_presigned_url_verifies_within_its_day() {
    let map = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
    let verified = check(Method::GET, PRESIGNED, &map, at(3600)).unwrap();
    assert_eq!(verified.presigned, Some(Duration::from_secs(86_400)));
    assert_eq!(verified.payload, PayloadMode::Unsigned);
    assert_eq!(
        verified.auth_query_params,
        [
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Signature"
        ]
    );
    assert!(verified.auth_headers.is_empty());
    check(Method::GET, PRESIGNED, &map, at(86_400)).unwrap();
    check(Method::GET, PRESIGNED, &map, at(-14 * 60)).unwrap();

    let expired = check(Method::GET, PRESIGNED, &map, at(86_401)).unwrap_err();
    assert_eq!(expired.to_string(), "Request has expired");
    assert_eq!(
        (expired.code(), expired.status()),
        ("AccessDenied", StatusCode::FORBIDDEN)
    );
    let early = check(Method::GET, PRESIGNED, &map, at(-16 * 60)).unwrap_err();
    assert_eq!(early.to_string(), "Request is not valid yet");
    let other_method = check(Method::PUT, PRESIGNED, &map, at(0)).unwrap_err();
    assert_eq!(other_method, AuthError::SignatureDoesNotMatch);
}

#[test]
fn the_documented_chunked_upload_seed_and_chain_verify() {
    let map = headers(&[
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class,\
             Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        ),
    ]);
    let verified = check(Method::PUT, "/examplebucket/chunkObject.txt", &map, at(0)).unwrap();
    assert_eq!(verified.payload, PayloadMode::StreamingSigned);
    assert!(verified.payload_hasher().is_none());
    let mut chain = verified.signature_chain();
    for (len, expected) in [
        (
            65_536,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        ),
        (
            1024,
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        ),
        (
            0,
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ),
    ] {
        assert_eq!(
            hex::encode(chain.sign_chunk(&sha256(&vec![b'a'; len]))),
            expected
        );
    }
}

#[test]
fn the_documented_trailer_upload_seed_and_chain_verify() {
    let map = headers(&[
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        (
            "x-amz-content-sha256",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        ),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("x-amz-trailer", "x-amz-checksum-crc32c"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,\
             Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
        ),
    ]);
    let verified = check(Method::PUT, "/examplebucket/chunkObject.txt", &map, at(0)).unwrap();
    assert_eq!(verified.payload, PayloadMode::StreamingSignedTrailer);
    let mut chain = verified.signature_chain();
    for (len, expected) in [
        (
            65_536,
            "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        ),
        (
            1024,
            "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        ),
        (
            0,
            "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
        ),
    ] {
        assert_eq!(
            hex::encode(chain.sign_chunk(&sha256(&vec![b'a'; len]))),
            expected
        );
    }
    assert_eq!(
        hex::encode(chain.trailer_signature(b"x-amz-checksum-crc32c:sOO8/Q==\n")),
        "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
    );
}

#[test]
fn the_authorization_header_tolerates_spaces_around_its_parts() {
    let mut map = get_object();
    map.insert(
        "authorization",
        "  AWS4-HMAC-SHA256   Credential = AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request ,  \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=\
         F0E8BDB87C964420E857BD35B5D6ED310BD44F0170ABA48DD91039C6036BDB41 "
            .parse()
            .unwrap(),
    );
    check(Method::GET, "/test.txt", &map, at(0)).unwrap();
}
