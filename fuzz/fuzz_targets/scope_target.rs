//! S3 targets, permissions and privileges (`grantd_common::scope`).
//!
//! Each line of the input is a candidate target and a candidate permission
//! or privilege word; a target never holds a control character, so splitting
//! on newlines hides none. Properties: a parsed target prints to text that
//! parses to the same target; containment is reflexive, transitive,
//! antisymmetric and never crosses buckets; an object grant contains only
//! itself; refusals quote a bounded amount of the input.

#![no_main]

use grantd_common::scope::{
    DataAccessRequest, MAX_TARGET_LEN, Permission, Privilege, S3Target, grant_contains,
};
use libfuzzer_sys::fuzz_target;

/// Lines read as targets; containment is checked on every triple of them.
const MAX_TARGETS: usize = 4;
/// Longest refusal message: a fixed reason and at most 40 quoted characters,
/// each at most 10 bytes once `{:?}` escapes it (`\u{10ffff}`).
const MAX_MESSAGE_LEN: usize = 100 + 40 * 10;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let targets: Vec<S3Target> = text
        .split('\n')
        .take(MAX_TARGETS)
        .filter_map(target)
        .collect();
    for a in &targets {
        for b in &targets {
            pair(a, b);
            for c in &targets {
                if a.contains(b) && b.contains(c) {
                    assert!(
                        a.contains(c),
                        "containment not transitive: {a:?} {b:?} {c:?}"
                    );
                }
            }
        }
    }
    for line in text.split('\n').take(MAX_TARGETS) {
        word(line);
    }
});

fn target(line: &str) -> Option<S3Target> {
    let t = match S3Target::parse(line) {
        Ok(t) => t,
        Err(e) => {
            assert!(e.to_string().len() <= MAX_MESSAGE_LEN, "{e}");
            return None;
        }
    };
    assert_eq!(S3Target::parse(t.as_str()).as_ref(), Ok(&t), "{line:?}");
    assert_eq!(t.to_string(), t.as_str());
    assert_eq!(t.as_str(), format!("s3://{}/{}", t.bucket(), t.key()));
    assert!(t.as_str().len() <= MAX_TARGET_LEN, "{line:?}");
    assert!(!t.key().is_empty());
    assert!(!t.key().trim_end_matches('*').contains('*'), "{t:?}");
    assert!(t.key().matches('*').count() <= 1, "{t:?}");
    if line != t.as_str() {
        // Only a bare bucket is rewritten: `s3://b` and `s3://b/` mean `s3://b/*`.
        assert_eq!(t.key(), "*", "{line:?} became {t:?}");
        assert!(line.trim_end_matches('/').ends_with(t.bucket()), "{line:?}");
    }
    assert!(t.contains(&t), "not reflexive: {t:?}");
    let request = DataAccessRequest::new(t.clone(), Permission::Read);
    assert_eq!(request.with_target(t.clone()), request);
    assert!(request.to_string().starts_with(t.as_str()));
    Some(t)
}

fn pair(a: &S3Target, b: &S3Target) {
    let contains = a.contains(b);
    assert_eq!(contains, grant_contains(a.as_str(), b.as_str()));
    if contains {
        assert_eq!(
            a.bucket(),
            b.bucket(),
            "{a:?} contains {b:?} across buckets"
        );
        if b.contains(a) {
            assert_eq!(a, b, "two different targets contain each other");
        }
    }
    if !a.key().ends_with('*') {
        assert_eq!(contains, a == b, "object grant {a:?} vs {b:?}");
    }
}

fn word(line: &str) {
    match line.parse::<Permission>() {
        Ok(p) => {
            assert!(
                line.eq_ignore_ascii_case(p.as_str()),
                "{line:?} read as {p}"
            );
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
            assert!(p.covers(p) && Permission::ReadWrite.covers(p));
        }
        Err(e) => assert!(e.to_string().len() <= MAX_MESSAGE_LEN, "{e}"),
    }
    match line.parse::<Privilege>() {
        Ok(p) => {
            assert!(
                line.eq_ignore_ascii_case(p.as_str()),
                "{line:?} read as {p}"
            );
            assert_eq!(p.as_str().parse::<Privilege>(), Ok(p));
        }
        Err(e) => assert!(e.to_string().len() <= MAX_MESSAGE_LEN, "{e}"),
    }
}
