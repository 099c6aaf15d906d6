//! Tests of the operation table, by behaviour.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::*;

mod copies;
mod paths;
mod table;

/// Decoded query pairs from `a=1&b`: values are taken as already decoded.
fn query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Classify `METHOD path?query` with headers, path-style.
fn run(method: &str, path: &str, q: &str, h: &[(&str, &str)]) -> Result<Classified, OpError> {
    let (bucket, key) = parse_path(path)?;
    classify(
        &Method::from_bytes(method.as_bytes()).unwrap(),
        bucket.as_deref(),
        key.as_deref(),
        &query(q),
        &headers(h),
    )
}

fn ok(method: &str, path: &str, q: &str, h: &[(&str, &str)]) -> Classified {
    run(method, path, q, h).unwrap_or_else(|e| panic!("{method} {path}?{q}: {e:?}"))
}

fn err(method: &str, path: &str, q: &str, h: &[(&str, &str)]) -> OpError {
    match run(method, path, q, h) {
        Ok(c) => panic!("{method} {path}?{q} should be refused, got {c:?}"),
        Err(e) => e,
    }
}

fn grant(access: Access, target: &str) -> Needs {
    Needs::Grant(Need {
        access,
        target: target.to_string(),
    })
}
