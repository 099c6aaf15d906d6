//! The scenario: who the callers are and which grants they hold.
//!
//! Owns the scenario file format (TOML), its validation (every problem
//! reported at once, each naming its key) and the built-in demo scenario.
//! A [`Scenario`] is immutable once loaded; runtime changes (faults, the
//! lifetime override) live in the emulator's state.
//!
//! The file, every key optional unless marked (see [`DEMO_SCENARIO_TOML`]):
//!
//! ```toml
//! account_id = "111122223333"          # default instance-owner account
//! region = "us-east-1"
//! default_duration_seconds = 3600      # lifetime without durationSeconds (900..=43200)
//! max_duration_seconds = 43200         # larger durationSeconds -> 400 (900..=43200)
//! credential_lifetime_seconds = 120    # override of every lifetime (1..=43200)
//! default_identity = "arn:aws:iam::111122223333:role/Dev"  # for unknown access keys
//!
//! [[identities]]                       # arn and access_key_id required
//! arn = "arn:aws:iam::111122223333:role/RoleA"
//! access_key_id = "AKIAEXAMPLEROLEA"
//!
//! [[grants]]                           # grantee, target, permission required
//! grantee = "arn:aws:iam::111122223333:role/RoleA"
//! target = "s3://bucket/UserA/*"
//! permission = "READWRITE"             # READ | WRITE | READWRITE
//! account_id = "444455556666"          # instance holding the grant (cross-account)
//! role_arn = "arn:aws:iam::111122223333:role/grant-usera"  # needs [assume_role]
//!
//! [assume_role]                        # endpoint and both keys required
//! endpoint = "http://127.0.0.1:5000"
//! access_key_id = "testing"
//! secret_access_key = "testing"
//! region = "us-east-1"                 # default: the top-level region
//!
//! [[faults]]                           # as POST /_emulator/faults
//! operation = "GetDataAccess"
//! status = 503
//! code = "SlowDown"
//! times = 2
//! ```

use serde_json::Value;

use grantd_common::credentials::Secret;
use grantd_common::fields::{Problems, Table};
use grantd_common::scope::{self, Permission, S3Target, is_account_id};

use super::faults::Fault;

/// Account of the Access Grants instance when the file names none. Defaults to `111122223333`.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
/// Region when the file names none. Defaults to `us-east-1`.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Lifetime when the caller sends no `durationSeconds`, as the service does. Defaults to 3600 s.
pub const DEFAULT_DURATION_SECONDS: u64 = 3600;
/// Longest lifetime a caller may ask for (the location role's `MaxSessionDuration`). Defaults to 43200 s.
pub const DEFAULT_MAX_DURATION_SECONDS: u64 = 43_200;
/// The `durationSeconds` range `GetDataAccess` accepts, as the daemon knows it too.
pub const DURATION_RANGE: std::ops::RangeInclusive<u64> =
    *scope::DURATION_RANGE.start() as u64..=*scope::DURATION_RANGE.end() as u64;
/// The range of a lifetime override; no AWS session outlives 12 hours.
pub const LIFETIME_OVERRIDE_RANGE: std::ops::RangeInclusive<u64> = 1..=43_200;

/// Bucket of the demo scenario (from the AWS blog on Access Grants with SageMaker).
pub const DEMO_BUCKET: &str = "blog-access-grants-111122223333-us-east-1";
/// Account of the demo scenario.
pub const DEMO_ACCOUNT: &str = "111122223333";
/// Access key id that signs as RoleA in the demo scenario.
pub const DEMO_ROLE_A_KEY_ID: &str = "AKIAGRANTDDEMOROLEA";
/// Access key id that signs as RoleB in the demo scenario.
pub const DEMO_ROLE_B_KEY_ID: &str = "AKIAGRANTDDEMOROLEB";
/// A secret to sign demo requests with; the emulator never checks signatures.
pub const DEMO_ROLE_A_SECRET: &str = "grantd-demo-secret-not-a-real-key";

/// The demo scenario as a file, also a worked example of the format.
pub const DEMO_SCENARIO_TOML: &str = r#"
account_id = "111122223333"
region = "us-east-1"

[[identities]]
arn = "arn:aws:iam::111122223333:role/access-grants-blog-RoleA"
access_key_id = "AKIAGRANTDDEMOROLEA"

[[identities]]
arn = "arn:aws:iam::111122223333:role/access-grants-blog-RoleB"
access_key_id = "AKIAGRANTDDEMOROLEB"

[[grants]]
grantee = "arn:aws:iam::111122223333:role/access-grants-blog-RoleA"
target = "s3://blog-access-grants-111122223333-us-east-1/Product/*"
permission = "READWRITE"

[[grants]]
grantee = "arn:aws:iam::111122223333:role/access-grants-blog-RoleA"
target = "s3://blog-access-grants-111122223333-us-east-1/UserA/*"
permission = "READWRITE"

[[grants]]
grantee = "arn:aws:iam::111122223333:role/access-grants-blog-RoleB"
target = "s3://blog-access-grants-111122223333-us-east-1/Product/*"
permission = "READWRITE"

[[grants]]
grantee = "arn:aws:iam::111122223333:role/access-grants-blog-RoleB"
target = "s3://blog-access-grants-111122223333-us-east-1/UserB/*"
permission = "READWRITE"
"#;

/// A loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Default instance-owner account, for grants that name none.
    pub(super) account_id: String,
    pub(super) region: String,
    pub(super) default_duration_seconds: u64,
    pub(super) max_duration_seconds: u64,
    /// Overrides every lifetime; `grantd emulate --credential-lifetime` replaces it.
    pub(super) credential_lifetime_seconds: Option<u64>,
    /// Principal of access keys no identity claims.
    pub(super) default_identity: Option<String>,
    pub(super) identities: Vec<Identity>,
    pub(super) grants: Vec<Grant>,
    pub(super) assume_role: Option<AssumeRoleConfig>,
    /// Faults active from the start.
    pub(super) faults: Vec<Fault>,
}

/// Requests signed with `access_key_id` come from `arn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    pub(super) arn: String,
    pub(super) access_key_id: String,
}

/// One access grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Grant {
    pub(super) grantee: String,
    pub(super) target: S3Target,
    pub(super) permission: Permission,
    /// Account of the Access Grants instance holding the grant.
    pub(super) account_id: String,
    /// Role to assume for real credentials (assume-role mode).
    pub(super) role_arn: Option<String>,
}

/// Where and how to call STS `AssumeRole` in assume-role mode.
#[derive(Debug, Clone)]
pub(super) struct AssumeRoleConfig {
    pub(super) endpoint: String,
    pub(super) access_key_id: String,
    pub(super) secret_access_key: Secret,
    pub(super) region: String,
}

impl Scenario {
    /// Parses and validates a scenario file; on failure returns every
    /// problem, each naming its key (`grants[2].permission: ...`).
    pub fn from_toml(text: &str) -> Result<Scenario, Vec<String>> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| vec![format!("syntax: {}", e.to_string().trim())])?;
        // One walker for TOML and JSON: TOML's types all map onto JSON's.
        let value = serde_json::to_value(&table).map_err(|e| vec![format!("syntax: {e}")])?;
        let mut problems = Problems::new();
        let scenario = read_scenario(&value, &mut problems);
        match scenario {
            Some(scenario) if problems.is_empty() => Ok(scenario),
            _ => Err(problems),
        }
    }

    /// The built-in demo scenario: RoleA and RoleB of the AWS blog, each
    /// with READWRITE on `Product/*` and on their own `UserX/*`.
    pub fn demo() -> Scenario {
        // A test proves the demo file valid, so this cannot fail.
        Scenario::from_toml(DEMO_SCENARIO_TOML).expect("the demo scenario is valid")
    }

    /// Default instance-owner account.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Principal (ARN) of requests signed with `access_key_id`.
    pub(super) fn principal_for(&self, access_key_id: &str) -> Option<&str> {
        self.identities
            .iter()
            .find(|i| i.access_key_id == access_key_id)
            .map(|i| i.arn.as_str())
            .or(self.default_identity.as_deref())
    }
}

fn read_scenario(value: &Value, problems: &mut Problems) -> Option<Scenario> {
    let mut top = Table::new(value, "", problems)?;

    let account_id = top
        .str("account_id", problems)
        .unwrap_or(DEFAULT_ACCOUNT)
        .to_string();
    check_account(&account_id, "account_id", problems);
    let region = top
        .str("region", problems)
        .unwrap_or(DEFAULT_REGION)
        .to_string();
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        problems.push(format!("region: invalid region {region:?}"));
    }
    let default_duration_seconds = top
        .u64_in("default_duration_seconds", DURATION_RANGE, problems)
        .unwrap_or(DEFAULT_DURATION_SECONDS);
    let max_duration_seconds = top
        .u64_in("max_duration_seconds", DURATION_RANGE, problems)
        .unwrap_or(DEFAULT_MAX_DURATION_SECONDS);
    if default_duration_seconds > max_duration_seconds {
        problems.push(format!(
            "default_duration_seconds: {default_duration_seconds} exceeds max_duration_seconds \
             ({max_duration_seconds})"
        ));
    }
    let credential_lifetime_seconds = top.u64_in(
        "credential_lifetime_seconds",
        LIFETIME_OVERRIDE_RANGE,
        problems,
    );
    let default_identity = top.str("default_identity", problems).map(str::to_string);
    if let Some(arn) = &default_identity {
        check_arn(arn, "default_identity", problems);
    }

    let identities: Vec<Identity> = top
        .array("identities", problems)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| read_identity(v, &format!("identities[{i}]"), problems))
        .collect();
    for (i, identity) in identities.iter().enumerate() {
        if let Some(first) = identities[..i]
            .iter()
            .position(|other| other.access_key_id == identity.access_key_id)
        {
            problems.push(format!(
                "identities[{i}].access_key_id: {:?} is already used by identities[{first}]",
                identity.access_key_id
            ));
        }
    }

    let assume_role = top
        .value("assume_role")
        .and_then(|v| read_assume_role(v, &region, problems));
    let has_assume_role = top.value("assume_role").is_some();

    let grants = top
        .array("grants", problems)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            read_grant(
                v,
                &format!("grants[{i}]"),
                &account_id,
                has_assume_role,
                problems,
            )
        })
        .collect();

    let faults = top
        .array("faults", problems)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| Fault::from_value(v, &format!("faults[{i}]"), problems))
        .collect();

    top.finish(problems);
    Some(Scenario {
        account_id,
        region,
        default_duration_seconds,
        max_duration_seconds,
        credential_lifetime_seconds,
        default_identity,
        identities,
        grants,
        assume_role,
        faults,
    })
}

fn read_identity(value: &Value, path: &str, problems: &mut Problems) -> Option<Identity> {
    let mut table = Table::new(value, path, problems)?;
    let arn = required_str(&mut table, "arn", problems);
    if let Some(arn) = arn {
        check_arn(arn, &table.path_of("arn"), problems);
    }
    let access_key_id = required_str(&mut table, "access_key_id", problems);
    if let Some(key) = access_key_id
        && !valid_access_key_id(key)
    {
        problems.push(format!(
            "{}: expected 1 to 128 letters or digits, got {key:?}",
            table.path_of("access_key_id")
        ));
    }
    table.finish(problems);
    Some(Identity {
        arn: arn?.to_string(),
        access_key_id: access_key_id?.to_string(),
    })
}

fn read_grant(
    value: &Value,
    path: &str,
    default_account: &str,
    has_assume_role: bool,
    problems: &mut Problems,
) -> Option<Grant> {
    let mut table = Table::new(value, path, problems)?;
    let grantee = required_str(&mut table, "grantee", problems);
    if let Some(arn) = grantee {
        check_arn(arn, &table.path_of("grantee"), problems);
    }
    let target = required_str(&mut table, "target", problems).and_then(|t| {
        S3Target::parse(t)
            .map_err(|e| problems.push(format!("{}: {e}", table.path_of("target"))))
            .ok()
    });
    let permission = required_str(&mut table, "permission", problems).and_then(|p| {
        p.parse::<Permission>()
            .map_err(|e| problems.push(format!("{}: {e}", table.path_of("permission"))))
            .ok()
    });
    // An inherited default is checked (once) where it is set.
    let account_id = match table.str("account_id", problems) {
        Some(account) => {
            check_account(account, &table.path_of("account_id"), problems);
            account
        }
        None => default_account,
    }
    .to_string();
    let role_arn = table.str("role_arn", problems).map(str::to_string);
    if let Some(arn) = &role_arn {
        check_arn(arn, &table.path_of("role_arn"), problems);
        if !has_assume_role {
            problems.push(format!(
                "{}: needs an [assume_role] section to mint credentials with",
                table.path_of("role_arn")
            ));
        }
    }
    table.finish(problems);
    Some(Grant {
        grantee: grantee?.to_string(),
        target: target?,
        permission: permission?,
        account_id,
        role_arn,
    })
}

fn read_assume_role(
    value: &Value,
    default_region: &str,
    problems: &mut Problems,
) -> Option<AssumeRoleConfig> {
    let mut table = Table::new(value, "assume_role", problems)?;
    let endpoint = required_str(&mut table, "endpoint", problems);
    if let Some(url) = endpoint
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        problems.push(format!(
            "assume_role.endpoint: expected an http:// or https:// URL, got {url:?}"
        ));
    }
    let access_key_id = required_str(&mut table, "access_key_id", problems);
    let secret = required_str(&mut table, "secret_access_key", problems);
    let region = table.str("region", problems).unwrap_or(default_region);
    table.finish(problems);
    Some(AssumeRoleConfig {
        endpoint: endpoint?.to_string(),
        access_key_id: access_key_id?.to_string(),
        secret_access_key: Secret::new(secret?),
        region: region.to_string(),
    })
}

/// A string that must be present and non-empty.
fn required_str<'a>(
    table: &mut Table<'a>,
    key: &'static str,
    problems: &mut Problems,
) -> Option<&'a str> {
    let present = table.value(key).is_some();
    match table.str(key, problems) {
        Some("") => {
            problems.push(format!("{}: must not be empty", table.path_of(key)));
            None
        }
        Some(s) => Some(s),
        None => {
            if !present {
                problems.push(format!("{}: required", table.path_of(key)));
            }
            None
        }
    }
}

fn check_account(account: &str, path: &str, problems: &mut Problems) {
    if !is_account_id(account) {
        problems.push(format!(
            "{path}: expected a 12-digit account id, got {account:?}"
        ));
    }
}

/// `arn:aws:iam::<12 digits>:<resource>`.
pub(super) fn is_iam_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws:iam::") else {
        return false;
    };
    match rest.split_once(':') {
        Some((account, resource)) => {
            is_account_id(account)
                && !resource.is_empty()
                && !resource.chars().any(char::is_control)
        }
        None => false,
    }
}

fn check_arn(arn: &str, path: &str, problems: &mut Problems) {
    if !is_iam_arn(arn) {
        problems.push(format!(
            "{path}: expected an IAM ARN like arn:aws:iam::111122223333:role/Name, got {arn:?}"
        ));
    }
}

/// Looser than AWS (16 to 128): test suites sign with keys like moto's `testing`.
fn valid_access_key_id(key: &str) -> bool {
    (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_scenario_is_valid() {
        let demo = Scenario::demo();
        assert_eq!(demo.account_id(), DEMO_ACCOUNT);
        assert_eq!(demo.region(), "us-east-1");
        assert_eq!(demo.grants.len(), 4);
        assert!(demo.grants.iter().all(|g| g.target.bucket() == DEMO_BUCKET));
        assert_eq!(
            demo.principal_for(DEMO_ROLE_A_KEY_ID),
            Some("arn:aws:iam::111122223333:role/access-grants-blog-RoleA")
        );
        assert_eq!(
            demo.principal_for(DEMO_ROLE_B_KEY_ID),
            Some("arn:aws:iam::111122223333:role/access-grants-blog-RoleB")
        );
        assert_eq!(demo.principal_for("AKIAUNKNOWNUNKNOWN"), None);
    }

    #[test]
    fn every_bad_key_is_reported_at_once() {
        let text = r#"
            account_id = "1234"
            colour = "blue"
            max_duration_seconds = 100
            default_identity = "arn:aws:sts::111122223333:assumed-role/x"

            [[identities]]
            arn = "arn:aws:iam::111122223333:role/A"
            access_key_id = "AKIAAAAAAAAAAAAAAAAA"
            [[identities]]
            arn = "not-an-arn"
            access_key_id = "AKIAAAAAAAAAAAAAAAAA"

            [[grants]]
            grantee = "arn:aws:iam::111122223333:role/A"
            target = "s3://b/x/*"
            permission = "READ"
            [[grants]]
            grantee = "arn:aws:iam::111122223333:role/A"
            target = "s3://bucket/a*b"
            permission = "READ"
            [[grants]]
            grantee = "arn:aws:iam::111122223333:role/A"
            target = "s3://bucket/x/*"
            permission = "ALL"
            account_id = "12345678901x"
            role_arn = "arn:aws:iam::111122223333:role/grant"
            size = 3
            [[grants]]
            target = "s3://bucket/y/*"
            permission = "WRITE"

            [[faults]]
            operation = "GetDataAccess"
            status = 503
        "#;
        let problems = Scenario::from_toml(text).unwrap_err();
        let all = problems.join("\n");
        for expected in [
            "account_id: expected a 12-digit account id",
            "colour: unknown key",
            "max_duration_seconds: 100 is out of range",
            "default_identity: expected an IAM ARN",
            "identities[1].arn: expected an IAM ARN",
            "identities[1].access_key_id: \"AKIAAAAAAAAAAAAAAAAA\" is already used by identities[0]",
            "grants[0].target: invalid target: bucket name must be 3 to 63 characters",
            "grants[1].target: invalid target: '*' may only be the last character",
            "grants[2].permission: invalid permission \"ALL\"",
            "grants[2].account_id: expected a 12-digit account id",
            "grants[2].role_arn: needs an [assume_role] section",
            "grants[2].size: unknown key",
            "grants[3].grantee: required",
            "faults[0]: status and code go together",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert_eq!(problems.len(), 14, "{all}");
    }

    #[test]
    fn defaults_fill_a_minimal_file() {
        let scenario = Scenario::from_toml(
            r#"
            [[grants]]
            grantee = "arn:aws:iam::111122223333:role/A"
            target = "s3://bucket"
            permission = "read"
            "#,
        )
        .unwrap();
        assert_eq!(scenario.account_id, DEFAULT_ACCOUNT);
        assert_eq!(scenario.default_duration_seconds, 3600);
        assert_eq!(scenario.max_duration_seconds, 43_200);
        assert_eq!(scenario.grants[0].target.as_str(), "s3://bucket/*");
        assert_eq!(scenario.grants[0].account_id, DEFAULT_ACCOUNT);
        assert!(scenario.identities.is_empty());
    }

    #[test]
    fn syntax_errors_are_reported() {
        let problems = Scenario::from_toml("account_id = ").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("syntax:"), "{problems:?}");
    }

    #[test]
    fn assume_role_section_is_checked_and_its_secret_redacted() {
        let scenario = Scenario::from_toml(
            r#"
            [assume_role]
            endpoint = "http://127.0.0.1:5000"
            access_key_id = "testing"
            secret_access_key = "SECRET-MARKER"
            [[grants]]
            grantee = "arn:aws:iam::111122223333:role/A"
            target = "s3://bucket/A/*"
            permission = "READ"
            role_arn = "arn:aws:iam::111122223333:role/grant-a"
            "#,
        )
        .unwrap();
        assert_eq!(scenario.assume_role.as_ref().unwrap().region, "us-east-1");
        assert!(!format!("{scenario:?}").contains("SECRET-MARKER"));

        let problems = Scenario::from_toml("[assume_role]\nendpoint = \"ftp://x\"\n").unwrap_err();
        let all = problems.join("\n");
        assert!(
            all.contains("assume_role.endpoint: expected an http"),
            "{all}"
        );
        assert!(all.contains("assume_role.access_key_id: required"), "{all}");
        assert!(
            all.contains("assume_role.secret_access_key: required"),
            "{all}"
        );
    }
}
