//! The query of `GET /v1/credentials?…` and the profile name in its path.
//!
//! Owns [`parse_query`], which reads a scope strictly (unknown or repeated
//! parameters are refused, not ignored, so a typo cannot widen a scope), and
//! the percent-decoding of profile names. Decoding is exact: an escape that
//! is not UTF-8 is refused rather than replaced by U+FFFD, so the scope
//! served is always the one asked for. Every refusal is a [`QueryError`];
//! `response` gives each its status and contract code.

use std::borrow::Cow;

use crate::scope::{
    DURATION_RANGE, DataAccessRequest, Permission, Privilege, S3Target, ScopeError,
};

use super::truncate;

/// Why a credentials request's query or path names no valid scope.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("unknown query parameter {0:?}; expected target, permission, privilege, duration")]
    UnknownParameter(String),
    #[error("query parameter {0} given twice")]
    Repeated(&'static str),
    #[error("missing target, e.g. target=s3://bucket/prefix/*")]
    MissingTarget,
    #[error(transparent)]
    Target(ScopeError),
    #[error("missing permission: READ, WRITE or READWRITE")]
    MissingPermission,
    #[error(transparent)]
    Permission(ScopeError),
    #[error(transparent)]
    Privilege(ScopeError),
    #[error("duration must be whole seconds from 900 to 43200, got {0:?}")]
    Duration(String),
    #[error("a profile route takes no query; use /v1/credentials?target=…&permission=…")]
    ProfileTakesNoQuery,
    #[error("not valid UTF-8 once percent-decoded")]
    NotUtf8,
}

/// `target=S3URI&permission=P[&privilege=…][&duration=SECONDS]`, strictly.
pub fn parse_query(query: &str) -> Result<DataAccessRequest, QueryError> {
    let (mut target, mut permission, mut privilege, mut duration) = (None, None, None, None);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (form_decode(key)?, form_decode(value)?);
        let (name, slot) = match key.as_str() {
            "target" => ("target", &mut target),
            "permission" => ("permission", &mut permission),
            "privilege" => ("privilege", &mut privilege),
            "duration" => ("duration", &mut duration),
            other => {
                return Err(QueryError::UnknownParameter(truncate(other, 50).into()));
            }
        };
        if slot.is_some() {
            return Err(QueryError::Repeated(name));
        }
        *slot = Some(value);
    }
    let target = target.ok_or(QueryError::MissingTarget)?;
    let target = S3Target::parse(&target).map_err(QueryError::Target)?;
    let permission = permission
        .ok_or(QueryError::MissingPermission)?
        .parse::<Permission>()
        .map_err(QueryError::Permission)?;
    let privilege = match privilege {
        Some(p) => p.parse::<Privilege>().map_err(QueryError::Privilege)?,
        None => Privilege::Default,
    };
    let duration_seconds = match duration {
        Some(d) => Some(
            d.parse::<u32>()
                .ok()
                .filter(|d| DURATION_RANGE.contains(d))
                .ok_or_else(|| QueryError::Duration(truncate(&d, 20).into()))?,
        ),
        None => None,
    };
    Ok(DataAccessRequest {
        target,
        permission,
        privilege,
        duration_seconds,
        account_id: None,
        region: None,
    })
}

/// Decodes a path segment whole; `+` stays a plus, as in a path (not a form).
/// Borrows when there is nothing to decode, as in nearly every profile name.
pub fn percent_decode(s: &str) -> Result<Cow<'_, str>, QueryError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_err(|_| QueryError::NotUtf8)
}

/// Decodes a name or value of a query, where `+` is a space.
fn form_decode(s: &str) -> Result<String, QueryError> {
    percent_decode(&s.replace('+', " ")).map(Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_query() {
        let r = parse_query("target=s3%3A%2F%2Fbucket%2FUserA%2F*&permission=readwrite&privilege=Minimal&duration=3600").unwrap();
        assert_eq!(r.target.as_str(), "s3://bucket/UserA/*");
        assert_eq!(r.permission, Permission::ReadWrite);
        assert_eq!(r.privilege, Privilege::Minimal);
        assert_eq!(r.duration_seconds, Some(3600));
        let plain = parse_query("target=s3://bucket/UserA/*&permission=READ").unwrap();
        assert_eq!(plain.target.as_str(), "s3://bucket/UserA/*");
        assert_eq!(plain.privilege, Privilege::Default);
        assert_eq!(plain.duration_seconds, None);
    }

    #[test]
    fn names_what_is_wrong_with_a_malformed_query() {
        for (query, message) in [
            (
                "permission=READ",
                "missing target, e.g. target=s3://bucket/prefix/*",
            ),
            (
                "target=s3://bucket/x",
                "missing permission: READ, WRITE or READWRITE",
            ),
            (
                "target=s3://bucket/x&permission=READ&permission=WRITE",
                "query parameter permission given twice",
            ),
            (
                "target=s3://bucket/x&permission=READ&colour=blue",
                "unknown query parameter \"colour\"; expected target, permission, privilege, duration",
            ),
            (
                "target=s3://bucket/x&permission=READ&duration=60",
                "duration must be whole seconds from 900 to 43200, got \"60\"",
            ),
        ] {
            assert_eq!(
                parse_query(query).unwrap_err().to_string(),
                message,
                "{query}"
            );
        }
    }

    #[test]
    fn a_bad_value_keeps_the_scope_error_as_its_message() {
        let e = parse_query("target=s3://bucket/x&permission=ALL").unwrap_err();
        assert!(
            matches!(e, QueryError::Permission(ScopeError::Permission(_))),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "ALL".parse::<Permission>().unwrap_err().to_string()
        );
    }

    #[test]
    fn echoed_input_is_bounded() {
        let long = "x".repeat(500);
        let e = parse_query(&format!("{long}=1")).unwrap_err();
        assert!(e.to_string().len() < 150, "{e}");
    }

    #[test]
    fn profile_names_are_percent_decoded() {
        assert_eq!(percent_decode("user%2Da").unwrap(), "user-a");
        assert_eq!(percent_decode("a+b").unwrap(), "a+b");
    }

    // Found by `fuzz/fuzz_targets/query.rs`: the profile name went through
    // a form parser, which ends a value at `&`.
    #[test]
    fn a_profile_name_keeps_every_character() {
        assert_eq!(percent_decode("usera&x").unwrap(), "usera&x");
        assert_eq!(percent_decode("a=b&c=d").unwrap(), "a=b&c=d");
    }

    // Found by `fuzz/fuzz_targets/query.rs`: bytes that are not UTF-8 became
    // U+FFFD, so `s3://bucket/%FF` was served as the scope `s3://bucket/\u{FFFD}`.
    #[test]
    fn refuses_percent_escapes_that_are_not_utf8() {
        for query in [
            "target=s3://bucket/%FF&permission=READ",
            "target=s3://bucket/a%C3&permission=READ",
            "target=s3://bucket/x&permission=READ&privilege=%80",
            "tar%FFget=s3://bucket/x&permission=READ",
        ] {
            let e = parse_query(query).unwrap_err();
            assert!(matches!(e, QueryError::NotUtf8), "{query}: {e:?}");
            assert_eq!(e.to_string(), "not valid UTF-8 once percent-decoded");
        }
        assert!(matches!(
            percent_decode("user%FF"),
            Err(QueryError::NotUtf8)
        ));
        assert_eq!(
            parse_query("target=s3://bucket/%C3%A9+x&permission=READ")
                .unwrap()
                .target
                .as_str(),
            "s3://bucket/\u{e9} x"
        );
    }
}
