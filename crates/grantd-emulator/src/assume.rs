//! Assume-role mode: really-scoped keys from an STS (e.g. a local moto).
//!
//! Owns the STS client built from the scenario's `[assume_role]` section,
//! the `AssumeRole` call made for a grant with a `role_arn`, and the session
//! policy that narrows `Minimal` credentials to the requested target.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::DisplayErrorContext;

use grantd_common::credentials::{Credentials, Secret};
use grantd_common::scope::S3Target;

use super::scenario::AssumeRoleConfig;

/// STS refuses sessions shorter than this.
const STS_MIN_DURATION_SECONDS: u64 = 900;
/// Upper bound on one `AssumeRole` call, so a dead STS cannot hang a vend.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Mints credentials with STS `AssumeRole`.
#[derive(Debug)]
pub(super) struct Minter {
    client: aws_sdk_sts::Client,
    /// Numbers the role sessions (`grantd-emulator-<n>`).
    sessions: AtomicU64,
}

impl Minter {
    pub(super) fn new(config: &AssumeRoleConfig) -> Minter {
        // `Credentials::from_keys` needs the `hardcoded-credentials` feature; `new` does not.
        let keys = aws_credential_types::Credentials::new(
            config.access_key_id.clone(),
            config.secret_access_key.expose().to_string(),
            None,
            None,
            "grantd-emulator-assume-role",
        );
        let sdk_config = aws_sdk_sts::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(config.endpoint.clone())
            .region(Region::new(config.region.clone()))
            .credentials_provider(keys)
            // One attempt: the daemon under test does its own retrying,
            // and a failure should show up as one 503, promptly.
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(CALL_TIMEOUT)
                    .build(),
            )
            .build();
        Minter {
            client: aws_sdk_sts::Client::from_conf(sdk_config),
            sessions: AtomicU64::new(0),
        }
    }

    /// Assumes `role_arn` for `lifetime_seconds` (at least STS's 900 s),
    /// narrowed to `minimal` when given. The expiration returned is STS's;
    /// the caller replaces it with its own lifetime.
    pub(super) async fn mint(
        &self,
        role_arn: &str,
        lifetime_seconds: u64,
        minimal: Option<&S3Target>,
    ) -> Result<Credentials, String> {
        let session = self.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        let duration = lifetime_seconds.max(STS_MIN_DURATION_SECONDS);
        let mut call = self
            .client
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(format!("grantd-emulator-{session}"))
            .duration_seconds(i32::try_from(duration).unwrap_or(i32::MAX));
        if let Some(target) = minimal {
            call = call.policy(session_policy(target));
        }
        let output = call
            .send()
            .await
            .map_err(|e| format!("AssumeRole {role_arn} failed: {}", DisplayErrorContext(&e)))?;
        let creds = output
            .credentials()
            .ok_or_else(|| format!("AssumeRole {role_arn} returned no credentials"))?;
        let expiration = std::time::SystemTime::try_from(*creds.expiration())
            .map_err(|_| format!("AssumeRole {role_arn} returned an unusable expiration"))?;
        Ok(Credentials {
            access_key_id: creds.access_key_id().to_string(),
            secret_access_key: Secret::new(creds.secret_access_key()),
            session_token: Secret::new(creds.session_token()),
            expiration,
        })
    }
}

/// A session policy allowing everything on the target's objects and listing
/// under its prefix, nothing else.
pub(super) fn session_policy(target: &S3Target) -> String {
    let bucket = target.bucket();
    // A prefix target ends in `*`, which IAM reads as a wildcard too; an
    // object target names exactly one object.
    let key = target.key();
    let list_prefix = key.strip_suffix('*').unwrap_or(key);
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GrantdMinimalObjects",
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": format!("arn:aws:s3:::{bucket}/{key}"),
            },
            {
                "Sid": "GrantdMinimalList",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": format!("arn:aws:s3:::{bucket}"),
                "Condition": {"StringLike": {"s3:prefix": format!("{list_prefix}*")}},
            }
        ]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_policy_covers_only_the_target_prefix() {
        let target = S3Target::parse("s3://bucket/UserA/data/*").unwrap();
        let policy: serde_json::Value = serde_json::from_str(&session_policy(&target)).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(
            statements[0]["Resource"],
            "arn:aws:s3:::bucket/UserA/data/*"
        );
        assert_eq!(statements[1]["Action"], "s3:ListBucket");
        assert_eq!(statements[1]["Resource"], "arn:aws:s3:::bucket");
        assert_eq!(
            statements[1]["Condition"]["StringLike"]["s3:prefix"],
            "UserA/data/*"
        );
    }

    #[test]
    fn minimal_policy_for_an_object_names_only_that_object() {
        let target = S3Target::parse("s3://bucket/UserA/file.csv").unwrap();
        let policy: serde_json::Value = serde_json::from_str(&session_policy(&target)).unwrap();
        assert_eq!(
            policy["Statement"][0]["Resource"],
            "arn:aws:s3:::bucket/UserA/file.csv"
        );
    }
}
