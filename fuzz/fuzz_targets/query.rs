//! The query of `GET /v1/credentials?…` and profile names in the path
//! (`grantd::server::query`).
//!
//! Properties: an accepted query names exactly the scope its strictly
//! decoded text names (no byte is silently replaced), and that scope written
//! back as a query parses to the same request; a profile name decodes to its
//! exact bytes or is refused; refusals are bounded.

#![no_main]

use std::borrow::Cow;

use grantd::scope::{DURATION_RANGE, S3Target};
use grantd::server::query::{parse_query, percent_decode};
use libfuzzer_sys::fuzz_target;

/// Longest refusal message: a fixed reason and at most 50 quoted
/// characters, each at most 10 bytes once `{:?}` escapes it (`\u{10ffff}`).
const MAX_MESSAGE_LEN: usize = 100 + 50 * 10;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    query(text);
    profile_name(text);
});

fn query(text: &str) {
    let request = match parse_query(text) {
        Ok(request) => request,
        Err(e) => {
            assert!(e.to_string().len() <= MAX_MESSAGE_LEN, "{e}");
            return;
        }
    };
    let Some(pairs) = strict_pairs(text) else {
        panic!("accepted {text:?}, whose percent-decoded bytes are not UTF-8: {request:?}");
    };
    let target = pairs
        .iter()
        .find(|(k, _)| k == "target")
        .map(|(_, v)| v.as_str())
        .expect("an accepted query has a target");
    assert_eq!(S3Target::parse(target).as_ref(), Ok(&request.target));
    if let Some(d) = request.duration_seconds {
        assert!(DURATION_RANGE.contains(&d));
    }
    assert_eq!(request.account_id, None);
    assert_eq!(request.region, None);

    let mut again = form_urlencoded::Serializer::new(String::new());
    again
        .append_pair("target", request.target.as_str())
        .append_pair("permission", request.permission.as_str())
        .append_pair("privilege", request.privilege.as_str());
    if let Some(d) = request.duration_seconds {
        again.append_pair("duration", &d.to_string());
    }
    let again = again.finish();
    assert_eq!(parse_query(&again).ok().as_ref(), Some(&request), "{again}");
}

/// `name=value` pairs decoded as a form (`+` is a space), or `None` when a
/// decoded name or value is not UTF-8.
fn strict_pairs(text: &str) -> Option<Vec<(String, String)>> {
    let decode = |s: &str| -> Option<String> {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8()
            .ok()
            .map(Cow::into_owned)
    };
    text.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

fn profile_name(text: &str) {
    let strict = percent_encoding::percent_decode_str(text).decode_utf8();
    match (strict, percent_decode(text)) {
        (Ok(exact), Ok(decoded)) => assert_eq!(decoded, exact, "{text:?}"),
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("refused {text:?}: {e}"),
        (Err(_), Ok(decoded)) => panic!("decoded {text:?}, which is not UTF-8, as {decoded:?}"),
    }
}
