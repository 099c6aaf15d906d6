//! The real upstream: S3 Control and STS through the AWS SDK for Rust.
//!
//! Base credentials and region come from the standard AWS chains. A custom S3
//! Control endpoint (`AWS_ENDPOINT_URL_S3_CONTROL`) is installed as
//! [`FixedEndpoint`] (in `endpoint`): the account label in front of a host
//! name, as the SDKs put it, none on an IP literal or `localhost`, where the
//! SDK's own rules would make `111122223333.127.0.0.1`. `errors` maps SDK
//! failures onto terminal or transient, naming an endpoint that cannot be
//! reached; `list` is `ListCallerAccessGrants` for `grantd ls`. Every
//! `GetDataAccess` carries the daemon's one [`AuditContext`].
//!
//! The instance account of a request is, in order: the profile's pinned
//! `account_id`, the configured `--account-id`, else the owner found by
//! `GetAccessGrantsInstanceForPrefix` (remembered per prefix by [`owners`])
//! with the caller's own account (STS `GetCallerIdentity`) as the fallback.

mod endpoint;
mod errors;
mod list;
mod owners;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3control::error::DisplayErrorContext;
use tokio::sync::OnceCell;
use tracing::{info, warn};

pub use endpoint::{FixedEndpoint, Reach, with_account_label};
use errors::{malformed, sdk_error};
pub use list::{CallerGrant, Listing, MAX_PAGES, PAGE_SIZE};
pub use owners::{OWNER_CAPACITY, OWNER_FALLBACK_TTL, OWNER_TTL};
use owners::{Owners, owner_key};

use futures_util::future::BoxFuture;

use super::audit::AuditContext;
use super::{DataAccess, ErrorKind, Upstream, UpstreamError};
use crate::credentials::{Credentials, Secret};
use crate::metrics::Metrics;
use crate::scope::{DataAccessRequest, Permission, Privilege, S3Target, is_account_id, is_region};

/// Attempts per upstream operation (the SDK's standard retry, with jittered backoff).
pub const MAX_ATTEMPTS: u32 = 3;
/// Time limit of one attempt. Defaults to 2 s.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time limit of one operation, retries included; under the cache's 4.5 s miss wait.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);
/// Time limit of loading the base credentials outside a call (at start, and
/// for `grantd ls`), as the SDK's identity cache bounds a load. Defaults to 5 s.
pub const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(5);

/// What the daemon's configuration says about the upstream.
#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    /// `--region`; `None` = the standard region chain.
    pub region: Option<String>,
    /// `--account-id`; `None` = discover.
    pub account_id: Option<String>,
    /// S3 Control endpoint override (`AWS_ENDPOINT_URL_S3_CONTROL` / `AWS_ENDPOINT_URL`).
    pub s3control_endpoint: Option<String>,
    /// STS endpoint override (`AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL`).
    pub sts_endpoint: Option<String>,
    /// Base credentials to use instead of the standard chain (the demo's built-in identity).
    pub credentials: Option<SharedCredentialsProvider>,
    /// Sent as `AuditContext` on every `GetDataAccess`; `None` = none.
    pub audit_context: Option<AuditContext>,
}

/// Why the upstream could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Neither the settings nor the standard AWS region chain name a region.
    #[error("no AWS region: set --region, GRANTD_REGION or AWS_REGION")]
    NoRegion,
    /// The standard AWS region chain named something that is not a region
    /// (e.g. `AWS_REGION` set to an empty or misspelt value).
    #[error(
        "the AWS region chain gave {0:?}, which is not a region: set --region, GRANTD_REGION or AWS_REGION"
    )]
    BadRegion(String),
}

pub struct AwsUpstream {
    base: SdkConfig,
    region: String,
    s3control_endpoint: Option<String>,
    sts_endpoint: Option<String>,
    /// One value per daemon, so every process's request shares one cache entry.
    audit_context: Option<String>,
    /// One S3 Control client per region, made on first use.
    clients: Mutex<HashMap<String, aws_sdk_s3control::Client>>,
    sts: aws_sdk_sts::Client,
    configured_account: Option<String>,
    /// `GetCallerIdentity`'s account and ARN, asked once.
    caller: OnceCell<(String, String)>,
    /// (prefix, region) → owner account, bounded; one lookup per prefix at a time.
    owners: Owners,
    metrics: Arc<Metrics>,
}

impl AwsUpstream {
    /// Loads the standard AWS configuration. Fails only when no region can be found.
    pub async fn load(
        settings: AwsSettings,
        metrics: Arc<Metrics>,
    ) -> Result<AwsUpstream, LoadError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            );
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(provider) = settings.credentials.clone() {
            loader = loader.credentials_provider(provider);
        }
        let base = loader.load().await;
        let region = base
            .region()
            .map(|r| r.to_string())
            .ok_or(LoadError::NoRegion)?;
        if !is_region(&region) {
            return Err(LoadError::BadRegion(region));
        }
        let mut sts = aws_sdk_sts::config::Builder::from(&base);
        if let Some(url) = &settings.sts_endpoint {
            sts = sts.endpoint_url(url.clone());
        }
        Ok(AwsUpstream {
            sts: aws_sdk_sts::Client::from_conf(sts.build()),
            base,
            region,
            s3control_endpoint: settings.s3control_endpoint,
            sts_endpoint: settings.sts_endpoint,
            audit_context: settings.audit_context.map(|c| c.value().to_string()),
            clients: Mutex::default(),
            configured_account: settings.account_id,
            caller: OnceCell::new(),
            owners: Owners::default(),
            metrics,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The base identity's credential chain, as the SDK loaded it.
    pub fn credentials_provider(&self) -> Option<SharedCredentialsProvider> {
        self.base.credentials_provider()
    }

    fn s3control(&self, region: &str) -> aws_sdk_s3control::Client {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let mut conf = aws_sdk_s3control::config::Builder::from(&self.base)
                    .region(Region::new(region.to_string()));
                if let Some(url) = &self.s3control_endpoint {
                    conf = conf.endpoint_resolver(FixedEndpoint(url.clone()));
                }
                aws_sdk_s3control::Client::from_conf(conf.build())
            })
            .clone()
    }

    async fn caller_account(&self) -> Result<String, UpstreamError> {
        Ok(self.caller().await?.0.clone())
    }

    /// The base identity's account and ARN, from `GetCallerIdentity` once.
    async fn caller(&self) -> Result<&(String, String), UpstreamError> {
        self.caller
            .get_or_try_init(|| async {
                let started = tokio::time::Instant::now();
                let result = self.sts.get_caller_identity().send().await;
                self.record("GetCallerIdentity", &result, started);
                let reach = Reach::sts(self.sts_endpoint.as_deref(), &self.region);
                let out = result.map_err(|e| sdk_error("GetCallerIdentity", &reach, e))?;
                let account = out.account().filter(|a| is_account_id(a)).ok_or_else(|| {
                    malformed("GetCallerIdentity answered without a valid Account")
                })?;
                let arn = out
                    .arn()
                    .filter(|a| a.starts_with("arn:"))
                    .ok_or_else(|| malformed("GetCallerIdentity answered without a valid Arn"))?;
                Ok((account.to_string(), arn.to_string()))
            })
            .await
    }

    async fn instance_account(
        &self,
        request: &DataAccessRequest,
        region: &str,
    ) -> Result<String, UpstreamError> {
        if let Some(account) = request
            .account_id
            .as_ref()
            .or(self.configured_account.as_ref())
        {
            return Ok(account.clone());
        }
        let caller = self.caller_account().await?;
        self.owners
            .get_or_lookup(owner_key(request, region), || {
                self.find_owner(request, region, caller)
            })
            .await
    }

    /// Asks `GetAccessGrantsInstanceForPrefix` whose instance has a location
    /// covering the target of `request`, and for how long to believe the
    /// answer. A terminal answer (no instance for it) means the caller's own
    /// account.
    async fn find_owner(
        &self,
        request: &DataAccessRequest,
        region: &str,
        caller: String,
    ) -> Result<(String, Duration), UpstreamError> {
        let started = tokio::time::Instant::now();
        let result = self
            .s3control(region)
            .get_access_grants_instance_for_prefix()
            .account_id(&caller)
            .s3_prefix(request.target.as_str())
            .send()
            .await;
        self.record("GetAccessGrantsInstanceForPrefix", &result, started);
        let reach = Reach::s3control(self.s3control_endpoint.as_deref(), region, &caller);
        match result.map_err(|e| sdk_error("GetAccessGrantsInstanceForPrefix", &reach, e)) {
            Ok(out) => match out.access_grants_instance_arn().and_then(arn_account) {
                Some(owner) => Ok((owner, OWNER_TTL)),
                None => Err(malformed(
                    "GetAccessGrantsInstanceForPrefix answered without an instance ARN",
                )),
            },
            Err(e) if e.is_terminal() => {
                info!(prefix = %request.target, code = %e.code, "no Access Grants instance found for prefix; using own account");
                Ok((caller, OWNER_FALLBACK_TTL))
            }
            Err(e) => Err(e),
        }
    }

    /// Loads the base credentials once, outside any call: a credential
    /// source that cannot answer (a container credentials endpoint, IMDS)
    /// is then named as such, not taken for the service called next, whose
    /// operation timeout would otherwise run out first.
    async fn load_base_credentials(&self) -> Result<(), UpstreamError> {
        let provider = self.base.credentials_provider().ok_or_else(|| {
            UpstreamError::new(
                ErrorKind::Unavailable,
                "NoCredentials",
                "no base credentials provider",
            )
        })?;
        let loaded = tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials())
            .await
            .map_err(|_| {
                warn!(
                    timeout_s = CREDENTIALS_TIMEOUT.as_secs(),
                    "the base credentials did not load in time"
                );
                UpstreamError::new(
                    ErrorKind::Unavailable,
                    "CredentialsNotLoaded",
                    format!(
                        "the base credentials did not load within {} s (container credentials, \
                         instance metadata or another source of the AWS chain not answering)",
                        CREDENTIALS_TIMEOUT.as_secs()
                    ),
                )
            })?;
        loaded.map_err(|e| {
            warn!(error = %DisplayErrorContext(&e), "cannot load the base credentials");
            UpstreamError::new(
                ErrorKind::Unavailable,
                "CredentialsNotLoaded",
                "the base credentials could not be loaded",
            )
            .with_source(e)
        })?;
        Ok(())
    }

    fn record<T, E>(
        &self,
        operation: &'static str,
        result: &Result<T, E>,
        started: tokio::time::Instant,
    ) {
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .upstream_call(operation, outcome, started.elapsed());
    }

    async fn data_access(&self, request: &DataAccessRequest) -> Result<DataAccess, UpstreamError> {
        let region = request
            .region
            .as_deref()
            .unwrap_or(&self.region)
            .to_string();
        let account = self.instance_account(request, &region).await?;
        let out = self
            .s3control(&region)
            .get_data_access()
            .account_id(&account)
            .target(request.target.as_str())
            .permission(sdk_permission(request.permission))
            .privilege(sdk_privilege(request.privilege))
            .set_duration_seconds(request.duration_seconds.map(|d| d as i32))
            .set_audit_context(self.audit_context.clone())
            .send()
            .await
            .map_err(|e| {
                let reach = Reach::s3control(self.s3control_endpoint.as_deref(), &region, &account);
                sdk_error("GetDataAccess", &reach, e)
            })?;
        let creds = out
            .credentials()
            .ok_or_else(|| malformed("GetDataAccess answered without Credentials"))?;
        let field = |v: Option<&str>, name: &str| {
            v.filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| malformed(&format!("GetDataAccess answered without {name}")))
        };
        let expiration = creds
            .expiration()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .ok_or_else(|| malformed("GetDataAccess answered without a valid Expiration"))?;
        let matched = out
            .matched_grant_target()
            .and_then(|t| match S3Target::parse(t) {
                Ok(t) => Some(t),
                Err(e) => {
                    warn!(matched_grant = t, error = %e, "ignoring unparseable MatchedGrantTarget");
                    None
                }
            });
        Ok(DataAccess {
            credentials: Credentials {
                access_key_id: field(creds.access_key_id(), "AccessKeyId")?,
                secret_access_key: Secret::new(field(
                    creds.secret_access_key(),
                    "SecretAccessKey",
                )?),
                session_token: Secret::new(field(creds.session_token(), "SessionToken")?),
                expiration,
            },
            matched_grant_target: matched,
            account_id: account,
        })
    }
}

impl Upstream for AwsUpstream {
    fn get_data_access<'a>(
        &'a self,
        request: &'a DataAccessRequest,
    ) -> BoxFuture<'a, Result<DataAccess, UpstreamError>> {
        Box::pin(self.data_access(request))
    }

    fn resolve_identity(&self) -> BoxFuture<'_, Result<String, UpstreamError>> {
        Box::pin(async {
            self.load_base_credentials().await?;
            match &self.configured_account {
                // The account is known; readiness only needs base credentials.
                Some(account) => Ok(account.clone()),
                None => self.caller_account().await,
            }
        })
    }

    fn caller_arn(&self) -> BoxFuture<'_, Result<String, UpstreamError>> {
        Box::pin(async { Ok(self.caller().await?.1.clone()) })
    }
}

fn sdk_permission(p: Permission) -> aws_sdk_s3control::types::Permission {
    use aws_sdk_s3control::types::Permission as P;
    match p {
        Permission::Read => P::Read,
        Permission::Write => P::Write,
        Permission::ReadWrite => P::Readwrite,
    }
}

fn sdk_privilege(p: Privilege) -> aws_sdk_s3control::types::Privilege {
    use aws_sdk_s3control::types::Privilege as P;
    match p {
        Privilege::Default => P::Default,
        Privilege::Minimal => P::Minimal,
    }
}

/// The account field of `arn:aws:s3:us-east-1:111122223333:access-grants/default`.
fn arn_account(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    is_account_id(account).then(|| account.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_region_is_a_load_error() {
        assert_eq!(
            LoadError::NoRegion.to_string(),
            "no AWS region: set --region, GRANTD_REGION or AWS_REGION"
        );
    }

    #[test]
    fn reads_the_account_of_an_instance_arn() {
        assert_eq!(
            arn_account("arn:aws:s3:us-east-1:444455556666:access-grants/default").as_deref(),
            Some("444455556666")
        );
        assert_eq!(
            arn_account("arn:aws:s3:us-east-1:12:access-grants/default"),
            None
        );
        assert_eq!(arn_account("nonsense"), None);
    }
}
