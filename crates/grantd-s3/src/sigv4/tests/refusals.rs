//! Every way a request head is refused, with S3's code and status.

use http::{HeaderMap, Method, StatusCode, Uri};

use super::*;

#[test]
fn a_request_without_auth_is_access_denied() {
    let error = check(Method::GET, "/test.txt", &simple(&[]), at(0)).unwrap_err();
    assert_eq!(error.to_string(), "Access Denied");
    assert_eq!(
        (error.code(), error.status()),
        ("AccessDenied", StatusCode::FORBIDDEN)
    );
}

#[test]
fn a_wrong_secret_is_signature_does_not_match() {
    let lookup = |_: &str| Some(SecretKey::new("not the secret"));
    let uri = "/test.txt".parse().unwrap();
    let error = verify(&Method::GET, &uri, &get_object(), at(0), lookup).unwrap_err();
    assert_eq!(error, AuthError::SignatureDoesNotMatch);
    assert_eq!(error.status(), StatusCode::FORBIDDEN);
}

#[test]
fn an_unknown_key_is_invalid_access_key_id_so_the_caller_can_refresh() {
    let uri = "/test.txt".parse().unwrap();
    let error = verify(&Method::GET, &uri, &get_object(), at(0), |_| None).unwrap_err();
    assert_eq!(
        error,
        AuthError::InvalidAccessKeyId {
            access_key_id: AKID.to_owned()
        }
    );
    assert_eq!(
        (error.code(), error.status()),
        ("InvalidAccessKeyId", StatusCode::FORBIDDEN)
    );
}

#[test]
fn a_date_other_than_the_scope_date_is_malformed() {
    let mut map = get_object();
    map.insert("x-amz-date", "20130525T000000Z".parse().unwrap());
    let error = check(Method::GET, "/test.txt", &map, at(86_400)).unwrap_err();
    assert_eq!(error.code(), "AuthorizationHeaderMalformed");
    assert!(
        error.to_string().contains("Invalid credential date"),
        "{error}"
    );
    map.insert("x-amz-date", "2013-05-24T00:00:00Z".parse().unwrap());
    let error = check(Method::GET, "/test.txt", &map, at(0)).unwrap_err();
    assert_eq!(error.code(), "AccessDenied");
    assert_eq!(
        error.to_string(),
        "AWS authentication requires a valid Date or x-amz-date header"
    );
}

#[test]
fn a_clock_skew_over_fifteen_minutes_is_refused_either_way() {
    let map = get_object();
    check(Method::GET, "/test.txt", &map, at(15 * 60)).unwrap();
    check(Method::GET, "/test.txt", &map, at(-15 * 60)).unwrap();
    for offset in [15 * 60 + 1, -15 * 60 - 1] {
        let error = check(Method::GET, "/test.txt", &map, at(offset)).unwrap_err();
        assert!(
            matches!(error, AuthError::RequestTimeTooSkewed { .. }),
            "{error:?}"
        );
        assert_eq!(
            (error.code(), error.status()),
            ("RequestTimeTooSkewed", StatusCode::FORBIDDEN)
        );
    }
}

#[test]
fn a_malformed_credential_scope_is_refused_with_s3s_message() {
    for (credential, message) in [
        (
            "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/iam/aws4_request",
            "incorrect service \"iam\"",
        ),
        (
            "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws5_request",
            "incorrect terminal",
        ),
        (
            "AKIAIOSFODNN7EXAMPLE/20130524/us east 1/s3/aws4_request",
            "the Credential is mal-formed",
        ),
        (
            "AKIAIOSFODNN7EXAMPLE/20130524//s3/aws4_request",
            "the Credential is mal-formed",
        ),
        (
            "AKIAIOSFODNN7EXAMPLE/2013052/us-east-1/s3/aws4_request",
            "the Credential is mal-formed",
        ),
        (
            "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3",
            "the Credential is mal-formed",
        ),
    ] {
        let mut map = get_object();
        let value = format!(
            "AWS4-HMAC-SHA256 Credential={credential},SignedHeaders=host;range;\
             x-amz-content-sha256;x-amz-date,Signature={}",
            "0".repeat(64)
        );
        map.insert("authorization", value.parse().unwrap());
        let error = check(Method::GET, "/test.txt", &map, at(0)).unwrap_err();
        assert_eq!(error.code(), "AuthorizationHeaderMalformed", "{credential}");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(error.to_string().contains(message), "{error}");
    }
}

#[test]
fn signed_headers_without_host_or_a_missing_component_are_malformed() {
    for value in [
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=range;x-amz-content-sha256;x-amz-date,Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=host;;range,Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=host,Signature=00,Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=host,Signature=00,Extra=1",
    ] {
        let mut map = get_object();
        map.insert("authorization", value.parse().unwrap());
        let error = check(Method::GET, "/test.txt", &map, at(0)).unwrap_err();
        assert_eq!(
            error.code(),
            "AuthorizationHeaderMalformed",
            "{value}: {error}"
        );
    }
}

#[test]
fn other_auth_schemes_are_refused_as_s3_refuses_them() {
    for (value, code) in [
        (
            "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
            "InvalidRequest",
        ),
        ("AWS4-ECDSA-P256-SHA256 Credential=x", "InvalidRequest"),
        ("Bearer abc", "InvalidArgument"),
    ] {
        let mut map = get_object();
        map.insert("authorization", value.parse().unwrap());
        let error = check(Method::GET, "/test.txt", &map, at(0)).unwrap_err();
        assert_eq!(
            (error.code(), error.status()),
            (code, StatusCode::BAD_REQUEST),
            "{value}"
        );
    }
    let error = check(
        Method::GET,
        &format!("{PRESIGNED}&x=1"),
        &get_object(),
        at(0),
    )
    .unwrap_err();
    assert_eq!(error.code(), "InvalidArgument");
    let v2 = "/test.txt?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1&Signature=abc";
    let error = check(Method::GET, v2, &simple(&[]), at(0)).unwrap_err();
    assert_eq!(error.code(), "InvalidRequest");
}

#[test]
fn header_auth_without_a_payload_hash_is_invalid_request() {
    let mut map = get_object();
    map.remove("x-amz-content-sha256");
    let error = check(Method::GET, "/test.txt", &map, at(0)).unwrap_err();
    assert_eq!(
        (error.code(), error.status()),
        ("InvalidRequest", StatusCode::BAD_REQUEST)
    );
    assert_eq!(
        error.to_string(),
        "Missing required header for this request: x-amz-content-sha256"
    );
    map.insert("x-amz-content-sha256", "GIBBERISH".parse().unwrap());
    let error = check(Method::GET, "/test.txt", &map, at(0)).unwrap_err();
    assert_eq!(error.code(), "InvalidArgument");
}

#[test]
fn an_unsigned_amz_header_is_refused_even_with_a_good_signature() {
    let mut map = get_object();
    map.insert("x-amz-copy-source", "/other/key".parse().unwrap());
    map.insert("x-amz-acl", "public-read".parse().unwrap());
    map.insert("x-amzn-trace-id", "Root=1".parse().unwrap());
    let error = check(Method::GET, "/test.txt", &map, at(0)).unwrap_err();
    assert_eq!(
        error,
        AuthError::HeadersNotSigned {
            headers: vec!["x-amz-acl".to_owned(), "x-amz-copy-source".to_owned()]
        }
    );
    assert_eq!(
        (error.code(), error.status()),
        ("AccessDenied", StatusCode::FORBIDDEN)
    );
}

#[test]
fn presigned_parameters_out_of_range_are_refused() {
    let map = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
    for (expires, message) in [
        ("604801", "less than a week"),
        ("-5", "non-negative"),
        ("abc", "should be a number"),
        ("0", "at least 1"),
    ] {
        let uri = PRESIGNED.replace("X-Amz-Expires=86400", &format!("X-Amz-Expires={expires}"));
        let error = check(Method::GET, &uri, &map, at(0)).unwrap_err();
        assert_eq!(
            error.code(),
            "AuthorizationQueryParametersError",
            "{expires}"
        );
        assert!(error.to_string().contains(message), "{error}");
    }
    let missing = PRESIGNED.replace("&X-Amz-SignedHeaders=host", "");
    let error = check(Method::GET, &missing, &map, at(0)).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("Query-string authentication version 4 requires")
    );
    let bad_date = PRESIGNED.replace("20130524T000000Z", "20130524");
    let error = check(Method::GET, &bad_date, &map, at(0)).unwrap_err();
    assert!(error.to_string().contains("ISO8601"), "{error}");
    let doubled = format!("{PRESIGNED}&X-Amz-Expires=60");
    let error = check(Method::GET, &doubled, &map, at(0)).unwrap_err();
    assert_eq!(error.code(), "AuthorizationQueryParametersError");
}

#[test]
fn a_temporary_key_needs_exactly_its_session_token() {
    let temp = SecretKey::new(SECRET).with_session_token("token-of-the-session");
    let uri: Uri = "/bucket/key".parse().unwrap();
    let verify_with = |map: &HeaderMap, key: &SecretKey| {
        verify(&Method::GET, &uri, map, at(0), |_| Some(key.clone()))
    };
    let mut good = simple(&[("x-amz-security-token", "token-of-the-session")]);
    sign(
        &Method::GET,
        "/bucket/key",
        &mut good,
        &temp,
        "20130524T000000Z",
    );
    let verified = verify_with(&good, &temp).unwrap();
    assert!(
        verified
            .auth_headers
            .iter()
            .any(|h| h == "x-amz-security-token")
    );

    let mut wrong = simple(&[("x-amz-security-token", "token-of-another")]);
    sign(
        &Method::GET,
        "/bucket/key",
        &mut wrong,
        &temp,
        "20130524T000000Z",
    );
    let error = verify_with(&wrong, &temp).unwrap_err();
    assert_eq!(
        (error.code(), error.status()),
        ("InvalidToken", StatusCode::BAD_REQUEST)
    );
    // A long-term key takes no token...
    assert_eq!(
        verify_with(&good, &SecretKey::new(SECRET)).unwrap_err(),
        AuthError::InvalidToken
    );
    // ...but an empty one, as SDKs send the empty `Token` of a long-term
    // key served in the container format, is none.
    let mut empty = simple(&[("x-amz-security-token", "")]);
    let long_term = SecretKey::new(SECRET);
    sign(
        &Method::GET,
        "/bucket/key",
        &mut empty,
        &long_term,
        "20130524T000000Z",
    );
    assert!(verify_with(&empty, &long_term).is_ok());
    assert_eq!(
        verify_with(&empty, &temp).unwrap_err(),
        AuthError::InvalidToken
    );

    let mut none = simple(&[]);
    sign(
        &Method::GET,
        "/bucket/key",
        &mut none,
        &temp,
        "20130524T000000Z",
    );
    assert_eq!(
        verify_with(&none, &temp).unwrap_err().code(),
        "InvalidAccessKeyId"
    );
}

#[test]
fn a_raw_plus_in_the_query_verifies_as_a_space_or_as_itself() {
    let secret = SecretKey::new(SECRET);
    // Signed as a space (the usual reading, and botocore's for presigning).
    let mut map = simple(&[]);
    sign(
        &Method::GET,
        "/bucket?prefix=a%20b",
        &mut map,
        &secret,
        "20130524T000000Z",
    );
    check(Method::GET, "/bucket?prefix=a+b", &map, at(0)).unwrap();
    // Signed as a plus (curl's reading).
    let mut map = simple(&[]);
    sign(
        &Method::GET,
        "/bucket?prefix=a%2Bb",
        &mut map,
        &secret,
        "20130524T000000Z",
    );
    check(Method::GET, "/bucket?prefix=a+b", &map, at(0)).unwrap();
    check(Method::GET, "/bucket?prefix=a%2Bb", &map, at(0)).unwrap();
    assert_eq!(
        check(Method::GET, "/bucket?prefix=a%20b", &map, at(0)).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn nothing_secret_is_printed() {
    let verified = check(Method::GET, "/test.txt", &get_object(), at(0)).unwrap();
    let printed = format!("{verified:?} {:?}", verified.signature_chain());
    assert!(!printed.contains("f0e8bdb8"), "{printed}");
    let key = SecretKey::new(SECRET).with_session_token("the-token");
    let printed = format!(
        "{key:?} {:?}",
        SigningKey::derive(&key, "20130524", "r", "s3")
    );
    assert!(
        !printed.contains("wJalrXUtnFEMI") && !printed.contains("the-token"),
        "{printed}"
    );
}

#[test]
fn every_error_knows_its_s3_code_and_status() {
    let cases = [
        (
            AuthError::XAmzContentSHA256Mismatch,
            "XAmzContentSHA256Mismatch",
            400,
        ),
        (AuthError::InvalidToken, "InvalidToken", 400),
        (
            AuthError::SignatureDoesNotMatch,
            "SignatureDoesNotMatch",
            403,
        ),
        (
            AuthError::InvalidArgument {
                message: "x".into(),
            },
            "InvalidArgument",
            400,
        ),
        (
            AuthError::InvalidRequest {
                message: "x".into(),
            },
            "InvalidRequest",
            400,
        ),
        (
            AuthError::AuthorizationQueryParametersError {
                message: "x".into(),
            },
            "AuthorizationQueryParametersError",
            400,
        ),
    ];
    for (error, code, status) in cases {
        assert_eq!((error.code(), error.status().as_u16()), (code, status));
    }
}
