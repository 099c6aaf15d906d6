//! S3 scopes: what a caller asks credentials for.
//!
//! Owns the parsing and validation of S3 URIs (`s3://bucket/prefix/*`),
//! the `Permission` and `Privilege` enums of `GetDataAccess`, the grant
//! containment rule of S3 Access Grants, and [`DataAccessRequest`], the whole
//! question one `GetDataAccess` asks. Both the daemon and the emulator use it,
//! so the two agree on what "inside a grant" means and on what is valid.

use std::fmt;
use std::str::FromStr;

/// Longest target `GetDataAccess` accepts.
pub const MAX_TARGET_LEN: usize = 2000;

/// Shortest and longest `durationSeconds` GetDataAccess accepts.
pub const DURATION_RANGE: std::ops::RangeInclusive<u32> = 900..=43_200;

/// An AWS account id: exactly 12 digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS region name such as `us-east-1`, by its shape only.
pub fn is_region(s: &str) -> bool {
    (2..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// One `GetDataAccess` question. Also the cache's key: two equal requests
/// always get the same answer from S3 Access Grants.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataAccessRequest {
    pub target: S3Target,
    pub permission: Permission,
    pub privilege: Privilege,
    /// `durationSeconds`; `None` leaves the service default (one hour).
    pub duration_seconds: Option<u32>,
    /// Instance account pinned by a profile; `None` = find it.
    pub account_id: Option<String>,
    /// Region pinned by a profile; `None` = the daemon's region.
    pub region: Option<String>,
}

impl DataAccessRequest {
    pub fn new(target: S3Target, permission: Permission) -> DataAccessRequest {
        DataAccessRequest {
            target,
            permission,
            privilege: Privilege::Default,
            duration_seconds: None,
            account_id: None,
            region: None,
        }
    }

    /// The same question about another target.
    pub fn with_target(&self, target: S3Target) -> DataAccessRequest {
        DataAccessRequest {
            target,
            ..self.clone()
        }
    }
}

impl fmt::Display for DataAccessRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.target, self.permission, self.privilege)
    }
}

/// Access level of a grant or a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Write,
    ReadWrite,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadWrite => "READWRITE",
        }
    }

    /// Whether a grant with this permission allows a request for `wanted`.
    pub fn covers(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::ReadWrite
    }
}

impl FromStr for Permission {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        match s.to_ascii_uppercase().as_str() {
            "READ" => Ok(Permission::Read),
            "WRITE" => Ok(Permission::Write),
            "READWRITE" => Ok(Permission::ReadWrite),
            _ => Err(ScopeError::Permission(s.chars().take(40).collect())),
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Breadth of the vended credentials: the whole matched grant, or the target only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Privilege {
    #[default]
    Default,
    Minimal,
}

impl Privilege {
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Default => "Default",
            Privilege::Minimal => "Minimal",
        }
    }
}

impl FromStr for Privilege {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        match s.to_ascii_lowercase().as_str() {
            "default" => Ok(Privilege::Default),
            "minimal" => Ok(Privilege::Minimal),
            _ => Err(ScopeError::Privilege(s.chars().take(40).collect())),
        }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a scope was refused before any upstream call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("invalid target: {0}")]
    Target(String),
    #[error("invalid permission {0:?}: expected READ, WRITE or READWRITE")]
    Permission(String),
    #[error("invalid privilege {0:?}: expected Default or Minimal")]
    Privilege(String),
}

/// A validated S3 URI: `s3://bucket`, `s3://bucket/prefix/*` or `s3://bucket/key`.
///
/// `s3://bucket` and `s3://bucket/` are normalised to `s3://bucket/*`. A `*` may
/// only stand last, where it means "every key with this prefix".
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct S3Target {
    uri: Box<str>,
    /// Byte length of `s3://bucket`, so `bucket()` and `key()` are slices.
    bucket_end: usize,
}

const SCHEME: &str = "s3://";

impl S3Target {
    pub fn parse(input: &str) -> Result<S3Target, ScopeError> {
        let bad = |why: &str| Err(ScopeError::Target(why.to_string()));
        if input.is_empty() {
            return bad("empty; expected s3://bucket/prefix/*");
        }
        if input.len() > MAX_TARGET_LEN {
            return bad("longer than 2000 characters");
        }
        let Some(rest) = input.strip_prefix(SCHEME) else {
            return bad("must start with s3://");
        };
        let (bucket, key) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if let Err(why) = check_bucket(bucket) {
            return bad(&why);
        }
        if key.chars().any(|c| c.is_control()) {
            return bad("contains a control character");
        }
        if let Some(i) = key.find('*')
            && i != key.len() - 1
        {
            return bad("'*' may only be the last character");
        }
        let uri = if key.is_empty() {
            format!("{SCHEME}{bucket}/*")
        } else {
            format!("{SCHEME}{bucket}/{key}")
        };
        Ok(S3Target {
            bucket_end: SCHEME.len() + bucket.len(),
            uri: uri.into_boxed_str(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.uri
    }

    pub fn bucket(&self) -> &str {
        &self.uri[SCHEME.len()..self.bucket_end]
    }

    /// The key part after `s3://bucket/`, with any trailing `*`.
    pub fn key(&self) -> &str {
        &self.uri[self.bucket_end + 1..]
    }

    /// Whether this grant target contains `other` (see [`grant_contains`]).
    pub fn contains(&self, other: &S3Target) -> bool {
        grant_contains(self.as_str(), other.as_str())
    }
}

impl fmt::Display for S3Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl fmt::Debug for S3Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.uri, f)
    }
}

impl FromStr for S3Target {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        S3Target::parse(s)
    }
}

fn check_bucket(bucket: &str) -> Result<(), String> {
    if !(3..=63).contains(&bucket.len()) {
        return Err(format!(
            "bucket name must be 3 to 63 characters, got {}",
            bucket.len()
        ));
    }
    let ok_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_');
    if !bucket.chars().all(ok_char) {
        return Err("bucket name may hold only a-z, 0-9, '.', '-' and '_'".into());
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(bucket.chars().next()) || !edge_ok(bucket.chars().last()) {
        return Err("bucket name must start and end with a letter or digit".into());
    }
    Ok(())
}

/// The S3 Access Grants containment rule.
///
/// A grant target ending in `*` contains every target whose text (less its own
/// trailing `*`) starts with the grant's text before the `*`: `s3://b/A/*`
/// contains `s3://b/A/x`, `s3://b/A/` and `s3://b/A/sub/*`, not `s3://b/AB/x`.
/// A grant without `*` is a single object and contains only itself.
pub fn grant_contains(grant: &str, target: &str) -> bool {
    match grant.strip_suffix('*') {
        Some(prefix) => target
            .strip_suffix('*')
            .unwrap_or(target)
            .starts_with(prefix),
        None => grant == target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> S3Target {
        S3Target::parse(s).unwrap()
    }

    #[test]
    fn parses_bucket_and_key() {
        let target = t("s3://my-bucket/UserA/data/*");
        assert_eq!(target.bucket(), "my-bucket");
        assert_eq!(target.key(), "UserA/data/*");
        assert_eq!(target.as_str(), "s3://my-bucket/UserA/data/*");
    }

    #[test]
    fn bare_bucket_means_the_whole_bucket() {
        assert_eq!(t("s3://bucket").as_str(), "s3://bucket/*");
        assert_eq!(t("s3://bucket/").as_str(), "s3://bucket/*");
        assert_eq!(t("s3://bucket").key(), "*");
    }

    #[test]
    fn rejects_malformed_targets() {
        for bad in [
            "",
            "bucket/key",
            "https://bucket/key",
            "s3://",
            "s3://ab",
            "s3://Bucket/x",
            "s3://-bucket/x",
            "s3://bucket-/x",
            "s3://buc ket/x",
            "s3://bucket/a*b",
            "s3://bucket/**",
            "s3://bucket/a\nb",
            "s3://bucket/a\u{7f}",
        ] {
            assert!(S3Target::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("s3://bucket/{}", "k".repeat(MAX_TARGET_LEN));
        assert!(S3Target::parse(&long).is_err());
    }

    #[test]
    fn containment_follows_key_prefixes() {
        let grant = "s3://b/UserA/*";
        assert!(grant_contains(grant, "s3://b/UserA/output/part-0"));
        assert!(grant_contains(grant, "s3://b/UserA/"));
        assert!(grant_contains(grant, "s3://b/UserA/*"));
        assert!(grant_contains(grant, "s3://b/UserA/sub/*"));
        assert!(!grant_contains(grant, "s3://b/UserAB/x"));
        assert!(!grant_contains(grant, "s3://b/*"));
        assert!(!grant_contains(grant, "s3://c/UserA/x"));
        assert!(grant_contains("s3://b/*", "s3://b/UserA/x"));
        assert!(grant_contains("s3://b/User*", "s3://b/UserAB/x"));
    }

    #[test]
    fn object_grants_contain_only_themselves() {
        assert!(grant_contains("s3://b/key.csv", "s3://b/key.csv"));
        assert!(!grant_contains("s3://b/key.csv", "s3://b/key.csv2"));
        assert!(!grant_contains("s3://b/key.csv", "s3://b/key.csv*"));
    }

    #[test]
    fn readwrite_covers_both() {
        assert!(Permission::ReadWrite.covers(Permission::Read));
        assert!(Permission::ReadWrite.covers(Permission::Write));
        assert!(Permission::Read.covers(Permission::Read));
        assert!(!Permission::Read.covers(Permission::Write));
        assert!(!Permission::Write.covers(Permission::ReadWrite));
    }

    #[test]
    fn permission_and_privilege_parse_case_insensitively() {
        assert_eq!("readwrite".parse::<Permission>(), Ok(Permission::ReadWrite));
        assert_eq!("MINIMAL".parse::<Privilege>(), Ok(Privilege::Minimal));
        assert!("ALL".parse::<Permission>().is_err());
        assert!("max".parse::<Privilege>().is_err());
    }
}
