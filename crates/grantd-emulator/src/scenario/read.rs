//! Reading and checking a scenario file.
//!
//! Owns the rules of every key: each reader walks its table, pushes every
//! problem it finds (naming the key, e.g. `grants[2].permission: ...`) and
//! keeps going, so one run of `grantd emulate` reports a whole bad file.

use serde_json::Value;

use grantd_common::credentials::Secret;
use grantd_common::fields::{Problems, Table};
use grantd_common::scope::{Permission, S3Target, is_account_id};

use super::{
    AssumeRoleConfig, DEFAULT_ACCOUNT, DEFAULT_DURATION_SECONDS, DEFAULT_MAX_DURATION_SECONDS,
    DEFAULT_REGION, DURATION_RANGE, Fault, Grant, Identity, LIFETIME_OVERRIDE_RANGE, Scenario,
};

/// The whole file; `None` only when the top level is not a table.
pub(super) fn scenario(value: &Value, problems: &mut Problems) -> Option<Scenario> {
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
    let application_arn = table.str("application_arn", problems).map(str::to_string);
    if let Some(arn) = &application_arn
        && !is_application_arn(arn)
    {
        problems.push(format!(
            "{}: expected an application ARN (arn:...:sso::ACCOUNT:application/...)",
            table.path_of("application_arn")
        ));
    }
    table.finish(problems);
    Some(Grant {
        grantee: grantee?.to_string(),
        target: target?,
        permission: permission?,
        account_id,
        role_arn,
        application_arn,
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

/// An ARN as `ApplicationArn` holds one: `arn:`, 10 to 1224 characters.
fn is_application_arn(arn: &str) -> bool {
    arn.starts_with("arn:")
        && (10..=1224).contains(&arn.len())
        && !arn.chars().any(char::is_control)
}

/// `arn:aws:iam::<12 digits>:<resource>`.
fn is_iam_arn(arn: &str) -> bool {
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
