//! The emulator's side of the wire (`grantd_emulator::fuzzing`): the SigV4
//! header, query and form parsing, the XML it writes, the control API's
//! JSON and the scenario file.
//!
//! The first byte picks what to exercise; the rest, as text, holds lines:
//! the `Authorization` header, the `x-amz-account-id` header, the query, and
//! then the body. Properties: a SigV4 header read back from its parts gives
//! the same parts; escaped text reads back through the SDK's XML decoder as
//! the text itself; every AWS answer is well-formed XML the SDK decodes, an
//! error with a code, a `GetDataAccess` success with a matched grant that
//! contains the target asked for; control answers are JSON; a scenario is
//! either read or refused with problems.

#![no_main]

use std::sync::OnceLock;

use aws_smithy_xml::decode::{Document, try_data};
use bytes::Bytes;
use grantd_common::clock::SystemClock;
use grantd_common::scope::{S3Target, grant_contains};
use grantd_emulator::fuzzing;
use grantd_emulator::{Emulator, Scenario};
use hyper::{Method, Request};
use libfuzzer_sys::fuzz_target;

const DATA_ACCESS: &str = "/v20180820/accessgrantsinstance/dataaccess";
const PREFIX: &str = "/v20180820/accessgrantsinstance/prefix";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut lines = text.splitn(4, '\n');
    let authorization = lines.next().unwrap_or_default();
    let account = lines.next().unwrap_or_default();
    let query = lines.next().unwrap_or_default();
    let body = lines.next().unwrap_or_default();

    authorization_round_trip(authorization);
    escape_round_trip(authorization);
    escape_round_trip(body);

    let call = |method: Method, path: &str, query: &str, body: &str| {
        let uri = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in [
            ("authorization", authorization),
            ("x-amz-account-id", account),
        ] {
            if !value.is_empty() {
                request = request.header(name, value.as_bytes());
            }
        }
        request.body(Bytes::from(body.to_string())).ok()
    };
    let emu = Emulator::new(scenario().clone(), std::sync::Arc::new(SystemClock));
    match selector % 6 {
        0 => {
            if let Some(request) = call(Method::GET, DATA_ACCESS, query, "") {
                let answer = run(&emu, request);
                aws_answer(&answer);
                data_access(&answer, query);
            }
        }
        1 => {
            if let Some(request) = call(Method::GET, PREFIX, query, "") {
                aws_answer(&run(&emu, request));
            }
        }
        2 => {
            if let Some(request) = call(Method::POST, "/", "", body) {
                aws_answer(&run(&emu, request));
            }
        }
        3 | 4 => {
            let path = if selector % 6 == 3 {
                "/_emulator/faults"
            } else {
                "/_emulator/settings"
            };
            let Some(request) = call(Method::POST, path, "", body) else {
                return;
            };
            let (status, _, reply) = run(&emu, request);
            assert!((200..500).contains(&status), "control answered {status}");
            assert!(
                serde_json::from_slice::<serde_json::Value>(&reply).is_ok(),
                "control answer is not JSON: {reply:?}"
            );
            // A call under whatever was just set: faults may break its XML on
            // purpose, so only the status is checked.
            if let Some(request) = call(Method::GET, DATA_ACCESS, query, "") {
                let (status, _, _) = run(&emu, request);
                assert!((200..600).contains(&status));
            }
        }
        _ => match Scenario::from_toml(body) {
            Ok(_) => {}
            Err(problems) => {
                assert!(!problems.is_empty(), "refused without a problem");
                assert!(
                    problems.iter().all(|p| !p.trim().is_empty()),
                    "{problems:?}"
                );
            }
        },
    }
});

fn scenario() -> &'static Scenario {
    static SCENARIO: OnceLock<Scenario> = OnceLock::new();
    SCENARIO.get_or_init(Scenario::demo)
}

/// One request on a paused clock, so injected latency costs no real time.
fn run(emu: &Emulator, request: Request<Bytes>) -> (u16, String, Bytes) {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a tokio runtime")
    });
    runtime.block_on(fuzzing::handle(emu, request))
}

fn authorization_round_trip(header: &str) {
    let Ok((key, region, service)) = fuzzing::parse_authorization(header) else {
        return;
    };
    assert!(!key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(!region.is_empty() && !service.is_empty());
    let rebuilt = format!(
        "AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/{service}/aws4_request, \
         SignedHeaders=host, Signature=ab"
    );
    assert_eq!(
        fuzzing::parse_authorization(&rebuilt),
        Ok((key, region, service)),
        "{header:?}"
    );
}

/// Text escaped by the emulator reads back through the SDK's decoder as itself
/// (control characters, which XML 1.0 cannot hold, are spelled out instead).
fn escape_round_trip(text: &str) {
    let xml = format!("<a>{}</a>", fuzzing::escape(text));
    let mut doc = Document::new(&xml);
    let mut root = doc.root_element().expect("a root element");
    let read = try_data(&mut root).unwrap_or_else(|e| panic!("{xml:?} does not decode: {e}"));
    let unrepresentable = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    if !text.chars().any(unrepresentable) {
        assert_eq!(read, text, "escaped as {xml:?}");
    }
}

/// Every token of `body` decodes; the root element's name.
fn well_formed(body: &str) -> String {
    let mut doc = Document::new(body);
    for token in &mut doc {
        if let Err(e) = token {
            panic!("answer is not well-formed XML ({e}): {body:?}");
        }
    }
    let mut doc = Document::new(body);
    let root = doc.root_element().expect("a root element");
    root.start_el().local().to_string()
}

/// The text of the first element named `name` anywhere in `body`.
fn text_of(body: &str, name: &str) -> Option<String> {
    let mut doc = Document::new(body);
    while let Some(el) = doc.next_start_element() {
        if el.local() == name {
            let mut scoped = doc.scoped_to(el);
            return Some(try_data(&mut scoped).expect("element text").into_owned());
        }
    }
    None
}

fn aws_answer((status, content_type, body): &(u16, String, Bytes)) {
    assert!((200..600).contains(status), "status {status}");
    assert_eq!(content_type, "application/xml");
    let body = std::str::from_utf8(body).expect("an XML answer is UTF-8");
    let root = well_formed(body);
    if *status != 200 {
        assert_eq!(root, "ErrorResponse", "{body:?}");
        let code = text_of(body, "Code").expect("an error has a Code");
        assert!(!code.is_empty(), "{body:?}");
        assert!(text_of(body, "Message").is_some(), "{body:?}");
    }
}

/// A vended grant contains the target asked for.
fn data_access((status, _, body): &(u16, String, Bytes), query: &str) {
    if *status != 200 {
        return;
    }
    let body = std::str::from_utf8(body).expect("UTF-8");
    let matched = text_of(body, "MatchedGrantTarget").expect("a MatchedGrantTarget");
    let asked = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "target")
        .map(|(_, v)| v.into_owned())
        .expect("a vend had a target");
    let asked = S3Target::parse(&asked).expect("a vend had a valid target");
    assert!(
        grant_contains(&matched, asked.as_str()),
        "{matched} vended for {asked}"
    );
    for field in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(
            text_of(body, field).is_some_and(|v| !v.is_empty()),
            "{field}"
        );
    }
}
