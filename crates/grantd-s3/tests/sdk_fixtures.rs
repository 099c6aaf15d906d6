//! Requests signed by a real SDK (botocore's own signers and aws-chunked
//! encoder, `tests/fixtures/gen.py`) verify, their bodies decode, and one
//! altered byte anywhere the signature covers (a signed header, the path,
//! the query), a wrong secret or a late clock makes each one fail.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use grantd_s3::chunked::{Decoder, Event, Limits};
use grantd_s3::sigv4::{AuthError, PayloadMode, SecretKey, Verified, verify};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde_json::Value;

struct Case {
    name: String,
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    decoded: Option<Vec<u8>>,
    token: Option<String>,
}

struct Fixtures {
    now: SystemTime,
    access_key_id: String,
    secret: String,
    cases: Vec<Case>,
}

fn load() -> Fixtures {
    let text = include_str!("fixtures/sdk_requests.json");
    let json: Value = serde_json::from_str(text).unwrap();
    let b64 = |v: &Value| v.as_str().map(|s| STANDARD.decode(s).unwrap());
    let cases = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_owned(),
            method: c["method"].as_str().unwrap().parse().unwrap(),
            uri: c["uri"].as_str().unwrap().to_owned(),
            headers: c["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap().to_owned(),
                        h[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
            body: b64(&c["body_b64"]).unwrap(),
            decoded: b64(&c["decoded_b64"]),
            token: c["token"].as_str().map(str::to_owned),
        })
        .collect();
    Fixtures {
        now: UNIX_EPOCH + Duration::from_secs(json["now"].as_u64().unwrap()),
        access_key_id: json["access_key_id"].as_str().unwrap().to_owned(),
        secret: json["secret"].as_str().unwrap().to_owned(),
        cases,
    }
}

fn header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::try_from(name.as_str()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

impl Fixtures {
    fn check(
        &self,
        case: &Case,
        uri: &str,
        headers: &[(String, String)],
        secret: &str,
        now: SystemTime,
    ) -> Result<Verified, AuthError> {
        let uri: Uri = uri.parse().unwrap();
        let lookup = |id: &str| {
            (id == self.access_key_id).then(|| {
                let key = SecretKey::new(secret);
                match &case.token {
                    Some(token) => key.with_session_token(token.clone()),
                    None => key,
                }
            })
        };
        verify(&case.method, &uri, &header_map(headers), now, lookup)
    }
}

/// `text` with the byte at `at` changed to another character of its kind,
/// so the result is still a valid URI or header value.
fn flip(text: &str, at: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] = match bytes[at] {
        b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => bytes[at] + 1,
        b'9' => b'0',
        b'z' => b'a',
        b'Z' => b'A',
        _ => b'x',
    };
    String::from_utf8(bytes).unwrap()
}

/// Positions worth flipping: the first, middle and last alphanumeric bytes.
fn positions(text: &str) -> Vec<usize> {
    let alnum: Vec<usize> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| b.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .collect();
    match alnum.len() {
        0 => Vec::new(),
        n => vec![alnum[0], alnum[n / 2], alnum[n - 1]],
    }
}

#[test]
fn sdk_signed_requests_verify_and_their_bodies_check() {
    let fixtures = load();
    assert!(fixtures.cases.len() >= 13);
    for case in &fixtures.cases {
        let verified = fixtures
            .check(
                case,
                &case.uri,
                &case.headers,
                &fixtures.secret,
                fixtures.now,
            )
            .unwrap_or_else(|error| panic!("{}: {error:?}", case.name));
        match verified.payload {
            PayloadMode::Signed(_) => {
                let mut hasher = verified.payload_hasher().unwrap();
                hasher.update(&case.body);
                hasher
                    .finish()
                    .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            }
            PayloadMode::StreamingUnsignedTrailer => {
                let headers = header_map(&case.headers);
                let mut decoder = Decoder::for_request(&verified, &headers, Limits::default())
                    .unwrap()
                    .unwrap();
                let mut input = BytesMut::from(&case.body[..]);
                let events = decoder.feed(&mut input).unwrap();
                decoder.finish(&input).unwrap();
                let data: Vec<u8> = events
                    .iter()
                    .filter_map(|e| match e {
                        Event::Data(d) => Some(d.to_vec()),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                assert_eq!(Some(data), case.decoded, "{}", case.name);
                assert!(
                    matches!(events[events.len() - 2], Event::Trailers(_)),
                    "{}",
                    case.name
                );
                assert_eq!(events.last(), Some(&Event::End));
            }
            PayloadMode::Unsigned => assert!(verified.presigned.is_some(), "{}", case.name),
            other => panic!("{}: unexpected payload {other:?}", case.name),
        }
        assert_eq!(verified.scope.region, "eu-west-1");
    }
}

#[test]
fn one_altered_byte_anywhere_signed_fails_every_sdk_request() {
    let fixtures = load();
    for case in &fixtures.cases {
        let ok = |uri: &str, headers: &[(String, String)]| {
            fixtures
                .check(case, uri, headers, &fixtures.secret, fixtures.now)
                .is_ok()
        };
        let verified = fixtures
            .check(
                case,
                &case.uri,
                &case.headers,
                &fixtures.secret,
                fixtures.now,
            )
            .unwrap();
        // Every signed header's value (and the payload hash, which the
        // canonical request binds even when unsigned).
        for (i, (name, value)) in case.headers.iter().enumerate() {
            let covered = verified.signed_headers.iter().any(|h| h == name.as_str())
                || name == "x-amz-content-sha256";
            if !covered {
                continue;
            }
            for at in positions(value) {
                let mut headers = case.headers.clone();
                headers[i].1 = flip(value, at);
                assert!(!ok(&case.uri, &headers), "{}: {name} byte {at}", case.name);
            }
        }
        // The path and the query, outside the signature itself.
        let (path, query) = case.uri.split_once('?').unwrap_or((&case.uri, ""));
        for at in positions(path) {
            let uri = format!("{}{}", flip(path, at), &case.uri[path.len()..]);
            assert!(!ok(&uri, &case.headers), "{}: path byte {at}", case.name);
        }
        for at in positions(query) {
            let uri = format!("{path}?{}", flip(query, at));
            assert!(!ok(&uri, &case.headers), "{}: query byte {at}", case.name);
        }
        // The secret.
        let wrong = flip(&fixtures.secret, 3);
        let error = fixtures
            .check(case, &case.uri, &case.headers, &wrong, fixtures.now)
            .unwrap_err();
        assert_eq!(error, AuthError::SignatureDoesNotMatch, "{}", case.name);
        // The date: two hours on, past the skew and the presigned expiry.
        let late = fixtures.now + Duration::from_secs(7200);
        let error = fixtures
            .check(case, &case.uri, &case.headers, &fixtures.secret, late)
            .unwrap_err();
        assert!(
            matches!(error.code(), "RequestTimeTooSkewed" | "AccessDenied"),
            "{}: {error:?}",
            case.name
        );
    }
}
