//! The scenario: who the callers are and which grants they hold.
//!
//! Owns the scenario types, the file format (TOML) and the built-in demo
//! scenario; `read` checks a file key by key (every problem reported at
//! once, each naming its key).
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
//! application_arn = "arn:aws:sso::111122223333:application/ssoins-1/apl-1"  # ListCallerAccessGrants only
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

mod read;

use grantd_common::credentials::Secret;
use grantd_common::fields::Problems;
use grantd_common::scope::{self, Permission, S3Target};

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
    /// The Identity Center application the grant is limited to, which
    /// `ListCallerAccessGrants` reports as `ApplicationArn`.
    pub(super) application_arn: Option<String>,
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
        let scenario = read::scenario(&value, &mut problems);
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
}
