//! Paths and hosts to bucket and key, decoded exactly.

use super::*;

fn path(p: &str) -> (Option<String>, Option<String>) {
    parse_path(p).unwrap_or_else(|e| panic!("{p}: {e:?}"))
}

fn some(bucket: &str, key: Option<&str>) -> (Option<String>, Option<String>) {
    (Some(bucket.into()), key.map(Into::into))
}

#[test]
fn the_root_is_the_service_and_a_trailing_slash_is_still_the_bucket() {
    assert_eq!(path("/"), (None, None));
    assert_eq!(path("/bkt"), some("bkt", None));
    assert_eq!(path("/bkt/"), some("bkt", None));
}

#[test]
fn keys_are_percent_decoded_exactly() {
    assert_eq!(path("/bkt/a%20b"), some("bkt", Some("a b")));
    assert_eq!(path("/bkt/a+b"), some("bkt", Some("a+b")));
    assert_eq!(path("/bkt/a%2Bb"), some("bkt", Some("a+b")));
    assert_eq!(path("/bkt/%C3%BC/%E2%82%AC"), some("bkt", Some("ü/€")));
    assert_eq!(path("/bkt/raw-ü"), some("bkt", Some("raw-ü")));
    assert_eq!(path("/bkt/a%2fb%2Fc"), some("bkt", Some("a/b/c")));
    assert_eq!(path("/bkt/dir/"), some("bkt", Some("dir/")));
    assert_eq!(path("/bkt//lead"), some("bkt", Some("/lead")));
    assert_eq!(path("/bkt/a/../b"), some("bkt", Some("a/../b")));
    assert_eq!(path("/bkt/%25"), some("bkt", Some("%")));
    assert_eq!(path("/bkt/star*"), some("bkt", Some("star*")));
}

#[test]
fn odd_keys_become_exact_targets() {
    for (p, target) in [
        ("/bkt/a%20b", "s3://bkt/a b"),
        ("/bkt/%C3%BC", "s3://bkt/ü"),
        ("/bkt/a%2Fb", "s3://bkt/a/b"),
        ("/bkt/dir/", "s3://bkt/dir/"),
        ("/bkt/x+y", "s3://bkt/x+y"),
    ] {
        let got = ok("GET", p, "", &[]);
        assert_eq!(got.needs, grant(Access::Read, target), "{p}");
    }
}

#[test]
fn bad_escapes_and_non_utf8_are_invalid_uris() {
    for p in [
        "/bkt/%",
        "/bkt/%2",
        "/bkt/%zz",
        "/bkt/a%g0",
        "/bkt/%FF",
        "/bkt/%C3",
        "bkt/k",
        "",
    ] {
        let e = parse_path(p).unwrap_err();
        assert_eq!(e.code(), "InvalidURI", "{p:?}");
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
    }
}

#[test]
fn bucket_names_that_would_bend_a_target_are_refused() {
    for p in [
        "//k", "/ab/k", "/a%2Fb/k", "/a*b/k", "/a%20b", "/bü/k", "/b?c/k",
    ] {
        let e = parse_path(p).unwrap_err();
        assert_eq!(e.code(), "InvalidBucketName", "{p:?}");
    }
    // Legacy us-east-1 names are still buckets.
    assert_eq!(path("/Legacy_Bucket/k"), some("Legacy_Bucket", Some("k")));
}

#[test]
fn keys_longer_than_1024_bytes_are_refused() {
    let at_limit = format!("/bkt/{}", "k".repeat(1024));
    assert!(parse_path(&at_limit).is_ok());
    let over = format!("/bkt/{}", "%C3%BC".repeat(513));
    let e = parse_path(&over).unwrap_err();
    assert_eq!((e.code(), e.status().as_u16()), ("KeyTooLongError", 400));
}

#[test]
fn virtual_host_names_the_bucket_and_the_whole_path_is_the_key() {
    assert_eq!(parse_host("bkt.localhost:8080").as_deref(), Some("bkt"));
    assert_eq!(
        parse_host("My.Bucket.LOCALHOST").as_deref(),
        Some("my.bucket")
    );
    for host in [
        "localhost",
        "localhost:80",
        "127.0.0.1:80",
        "[::1]:80",
        "bkt.example:80",
        "bkt.localhost:",
        "a.localhost",
        ".localhost",
    ] {
        assert_eq!(parse_host(host), None, "{host}");
    }
    assert_eq!(
        parse_addressing(Some("bkt.localhost:9000"), "/dir/a%2Fb").unwrap(),
        some("bkt", Some("dir/a/b"))
    );
    assert_eq!(
        parse_addressing(Some("bkt.localhost"), "/").unwrap(),
        some("bkt", None)
    );
    // A plain host is path style.
    assert_eq!(
        parse_addressing(Some("127.0.0.1:9000"), "/bkt/k").unwrap(),
        some("bkt", Some("k"))
    );
    assert_eq!(parse_addressing(None, "/").unwrap(), (None, None));
}
