//! `ListCallerAccessGrants`: the caller's grants in one instance, filtered
//! and cut into pages.
//!
//! Owns the two filters the API documents and the page tokens. `grantscope`
//! must start with `s3://`; it may be only the first characters of a path,
//! and a grant is listed when its scope begins with it (`s3://bucket/Us`
//! lists `s3://bucket/UserA/*`) or, when it is a whole S3 path, when the
//! grant contains it (`s3://bucket/UserA/data/` lists `s3://bucket/UserA/*`,
//! the grant that applies there). `allowedByApplication=true` keeps the
//! grants limited to an Identity Center application. A `NextToken` names the
//! next grant's place and is bound to the query it came from: used with
//! another caller, account or filter, or altered, it is refused.

use base64::Engine as _;

use super::scenario::Grant;
use grantd_common::scope::S3Target;

/// Grants a page holds when the caller sends no `maxResults`. Defaults to 100.
pub(super) const DEFAULT_MAX_RESULTS: usize = 100;
/// The largest `maxResults` the API takes.
pub(super) const MAX_RESULTS: usize = 1000;
/// Longest `grantscope` the API takes.
pub(super) const MAX_SCOPE_LEN: usize = 2000;

/// One `ListCallerAccessGrants` request, checked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Query<'r> {
    pub(super) account: &'r str,
    pub(super) caller: &'r str,
    pub(super) scope: Option<&'r str>,
    pub(super) allowed_by_application: bool,
    pub(super) max_results: usize,
    pub(super) next_token: Option<&'r str>,
}

/// One page of grants, and the token of the next when there is one.
#[derive(Debug)]
pub(super) struct Page<'a> {
    pub(super) grants: Vec<&'a Grant>,
    pub(super) next_token: Option<String>,
}

/// Why a listing was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The account holds no grants at all: it has no Access Grants instance.
    NoInstance,
    /// The `NextToken` was not one this query handed out.
    BadToken,
}

/// Whether `scope` is a `grantscope` the API takes; the reason when not.
pub(super) fn check_scope(scope: &str) -> Result<(), &'static str> {
    if !scope.starts_with("s3://") {
        return Err("must start with s3://");
    }
    if scope.len() > MAX_SCOPE_LEN {
        return Err("must be at most 2000 characters");
    }
    if scope.chars().any(char::is_control) {
        return Err("must not hold control characters");
    }
    Ok(())
}

/// The page of `query`'s grants, in scenario order.
pub(super) fn page<'a>(grants: &'a [Grant], query: &Query<'_>) -> Result<Page<'a>, Refusal> {
    if !grants.iter().any(|g| g.account_id == query.account) {
        return Err(Refusal::NoInstance);
    }
    let bound = fingerprint(query);
    let start = match query.next_token {
        None => 0,
        Some(token) => read_token(token, bound).ok_or(Refusal::BadToken)?,
    };
    // A fragment that is a whole path also lists the grants that contain it.
    let whole = query.scope.and_then(|s| S3Target::parse(s).ok());
    let listed: Vec<&Grant> = grants
        .iter()
        .filter(|g| g.account_id == query.account && g.grantee == query.caller)
        .filter(|g| !query.allowed_by_application || g.application_arn.is_some())
        .filter(|g| match query.scope {
            None => true,
            Some(scope) => {
                g.target.as_str().starts_with(scope)
                    || whole.as_ref().is_some_and(|path| g.target.contains(path))
            }
        })
        .collect();
    if start > listed.len() {
        return Err(Refusal::BadToken);
    }
    let end = listed.len().min(start + query.max_results);
    let next_token = (end < listed.len()).then(|| token(end, bound));
    Ok(Page {
        grants: listed[start..end].to_vec(),
        next_token,
    })
}

/// Binds a token to its query: FNV-1a over everything that shapes the list.
fn fingerprint(query: &Query<'_>) -> u64 {
    let parts = [
        query.account,
        query.caller,
        query.scope.unwrap_or("\u{0}none"),
        if query.allowed_by_application {
            "app"
        } else {
            "all"
        },
    ];
    parts
        .iter()
        .flat_map(|p| p.bytes().chain([0xff]))
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

fn token(offset: usize, bound: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1.{offset}.{bound:016x}"))
}

/// The offset a token names, if it is this query's.
fn read_token(text: &str, bound: u64) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.split('.');
    let (Some("v1"), Some(offset), Some(fp), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    (u64::from_str_radix(fp, 16).ok()? == bound).then_some(())?;
    offset.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use grantd_common::scope::Permission;

    const A: &str = "arn:aws:iam::111122223333:role/A";
    const B: &str = "arn:aws:iam::111122223333:role/B";
    const HOME: &str = "111122223333";
    const APP: &str = "arn:aws:sso::111122223333:application/ssoins-1/apl-1";

    fn grant(grantee: &str, target: &str, account: &str, app: Option<&str>) -> Grant {
        Grant {
            grantee: grantee.into(),
            target: S3Target::parse(target).unwrap(),
            permission: Permission::Read,
            account_id: account.into(),
            role_arn: None,
            application_arn: app.map(str::to_string),
        }
    }

    fn grants() -> Vec<Grant> {
        vec![
            grant(A, "s3://bucket/UserA/*", HOME, None),
            grant(B, "s3://bucket/UserB/*", HOME, None),
            grant(A, "s3://bucket/Product/*", HOME, Some(APP)),
            grant(A, "s3://other/*", HOME, None),
            grant(A, "s3://shared/team/*", "444455556666", None),
        ]
    }

    fn query(scope: Option<&'static str>) -> Query<'static> {
        Query {
            account: HOME,
            caller: A,
            scope,
            allowed_by_application: false,
            max_results: MAX_RESULTS,
            next_token: None,
        }
    }

    fn scopes(page: &Page<'_>) -> Vec<String> {
        page.grants
            .iter()
            .map(|g| g.target.as_str().to_string())
            .collect()
    }

    #[test]
    fn lists_the_callers_grants_of_the_instance_only() {
        let all = grants();
        let page = page(&all, &query(None)).unwrap();
        assert_eq!(
            scopes(&page),
            [
                "s3://bucket/UserA/*",
                "s3://bucket/Product/*",
                "s3://other/*"
            ]
        );
        assert_eq!(page.next_token, None);
    }

    #[test]
    fn an_account_without_grants_has_no_instance() {
        let all = grants();
        let q = Query {
            account: "999999999999",
            ..query(None)
        };
        assert_eq!(page(&all, &q).unwrap_err(), Refusal::NoInstance);
    }

    #[test]
    fn grantscope_takes_the_beginning_of_a_path_or_a_path_a_grant_contains() {
        let all = grants();
        let listed = |scope| scopes(&page(&all, &query(Some(scope))).unwrap());
        assert_eq!(listed("s3://bucket/Us"), ["s3://bucket/UserA/*"]);
        assert_eq!(
            listed("s3://bucket/"),
            ["s3://bucket/UserA/*", "s3://bucket/Product/*"]
        );
        assert_eq!(listed("s3://bucket/UserA/data/x"), ["s3://bucket/UserA/*"]);
        assert_eq!(listed("s3://oth"), ["s3://other/*"]);
        assert!(listed("s3://bucket/UserB/").is_empty(), "B's grant");
        assert_eq!(listed("s3://").len(), 3);
    }

    #[test]
    fn grantscope_must_start_with_s3() {
        assert!(check_scope("s3://b").is_ok());
        assert!(check_scope("bucket/x").is_err());
        assert!(check_scope("s3://b/\nx").is_err());
        assert!(check_scope(&format!("s3://{}", "x".repeat(MAX_SCOPE_LEN))).is_err());
    }

    #[test]
    fn allowed_by_application_keeps_application_grants() {
        let all = grants();
        let q = Query {
            allowed_by_application: true,
            ..query(None)
        };
        assert_eq!(scopes(&page(&all, &q).unwrap()), ["s3://bucket/Product/*"]);
    }

    #[test]
    fn pages_follow_their_tokens_to_the_end() {
        let all = grants();
        let mut q = Query {
            max_results: 2,
            ..query(None)
        };
        let first = page(&all, &q).unwrap();
        assert_eq!(first.grants.len(), 2);
        let token = first.next_token.clone().expect("a second page");
        q.next_token = Some(&token);
        let second = page(&all, &q).unwrap();
        assert_eq!(scopes(&second), ["s3://other/*"]);
        assert_eq!(second.next_token, None);
    }

    #[test]
    fn a_token_is_refused_for_another_query_or_when_altered() {
        let all = grants();
        let q = Query {
            max_results: 1,
            ..query(None)
        };
        let issued = page(&all, &q).unwrap().next_token.unwrap();
        let other_scope = Query {
            next_token: Some(&issued),
            ..query(Some("s3://bucket/"))
        };
        assert_eq!(page(&all, &other_scope).unwrap_err(), Refusal::BadToken);
        let other_caller = Query {
            caller: B,
            next_token: Some(&issued),
            ..q
        };
        assert_eq!(page(&all, &other_caller).unwrap_err(), Refusal::BadToken);
        let forged = token(1, 0);
        let forged = Query {
            next_token: Some(&forged),
            ..q
        };
        assert_eq!(page(&all, &forged).unwrap_err(), Refusal::BadToken);
        let garbage = Query {
            next_token: Some("not-a-token"),
            ..q
        };
        assert_eq!(page(&all, &garbage).unwrap_err(), Refusal::BadToken);
    }
}
