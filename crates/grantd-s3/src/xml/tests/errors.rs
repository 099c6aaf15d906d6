//! The error document, escaping, upstream errors, Content-MD5.

use super::*;

#[test]
fn error_body_is_s3s_error_document() {
    assert_eq!(
        error_body(
            "NoSuchKey",
            "The specified key does not exist.",
            Some("/bkt/k"),
            "R1"
        ),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
         <Message>The specified key does not exist.</Message><Resource>/bkt/k</Resource>\
         <RequestId>R1</RequestId></Error>"
    );
}

#[test]
fn error_body_leaves_out_an_absent_resource() {
    let body = error_body("AccessDenied", "Access Denied", None, "R2");
    assert!(!body.contains("Resource"), "{body}");
    assert!(body.ends_with("<Message>Access Denied</Message><RequestId>R2</RequestId></Error>"));
}

#[test]
fn error_body_escapes_markup_and_control_characters() {
    let body = error_body(
        "C",
        "<a href=\"x\">&'b'</a>\r\n\t\u{1}\u{7f}ü",
        Some("/b/<k>"),
        "&id",
    );
    assert!(
        body.contains(
            "<Message>&lt;a href=&quot;x&quot;&gt;&amp;&apos;b&apos;&lt;/a&gt;\
             &#xD;&#xA;&#x9;&#x1;\u{7f}ü</Message>"
        ),
        "{body}"
    );
    assert!(body.contains("<Resource>/b/&lt;k&gt;</Resource>"), "{body}");
    assert!(body.contains("<RequestId>&amp;id</RequestId>"), "{body}");
    // What it escapes reads back as it was.
    let (code, message) = parse_error(body.as_bytes()).unwrap();
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("C", "<a href=\"x\">&'b'</a>\r\n\t\u{1}\u{7f}ü")
    );
}

#[test]
fn escape_turns_non_characters_into_references() {
    assert_eq!(escape("a\u{fffe}b\u{ffff}"), "a&#xFFFE;b&#xFFFF;");
    assert_eq!(escape("plain/key-ü €"), "plain/key-ü €");
}

#[test]
fn parse_error_reads_code_and_message_of_upstream_errors() {
    let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
        <Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId>\
        <HostId>h</HostId></Error>";
    assert_eq!(
        parse_error(body),
        Some(("SlowDown".into(), "Please reduce your request rate.".into()))
    );
    assert_eq!(
        parse_error(b"<Error><Code>X</Code></Error>"),
        Some(("X".into(), String::new()))
    );
    for not_one in [
        &b""[..],
        b"<html>oops</html>",
        b"<Error><Message>m</Message></Error>",
        b"<Error>",
        b"\xff",
    ] {
        assert_eq!(parse_error(not_one), None);
    }
}

#[test]
fn content_md5_is_base64_of_the_md5() {
    assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    assert_eq!(content_md5(b"hello"), "XUFAKrxLKna5cZ2REBfFkg==");
}

#[test]
fn each_error_carries_s3s_code_and_status() {
    let malformed = XmlError::Malformed("x".into());
    assert_eq!(
        (malformed.code(), malformed.status().as_u16()),
        ("MalformedXML", 400)
    );
    let many = XmlError::TooManyObjects(1001);
    assert_eq!((many.code(), many.status().as_u16()), ("MalformedXML", 400));
    let upstream = XmlError::Upstream("x".into());
    assert_eq!(
        (upstream.code(), upstream.status().as_u16()),
        ("InternalError", 500)
    );
}
