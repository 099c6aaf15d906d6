//! `ListCallerAccessGrants`: every grant the base identity holds in the
//! instance, all pages of it, for `grantd ls`.
//!
//! The instance is the configured `--account-id`'s, else the caller's own
//! account (STS `GetCallerIdentity`), in the daemon's region. Pages are
//! followed by `NextToken` to the end; a token repeated, or more than
//! [`MAX_PAGES`] pages, is a malformed answer rather than a loop.

use super::AwsUpstream;
use super::endpoint::Reach;
use super::errors::{malformed, sdk_error};
use crate::upstream::UpstreamError;

/// Grants asked for per page: the most the API returns. Defaults to 1000.
pub const PAGE_SIZE: i32 = 1000;
/// Most pages followed (a million grants). Defaults to 1000.
pub const MAX_PAGES: usize = 1000;

/// One grant of the caller, as the service names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerGrant {
    /// `GrantScope`: `s3://bucket/prefix/*`, a bucket, or an object.
    pub scope: String,
    /// `READ`, `WRITE` or `READWRITE`.
    pub permission: String,
    /// The Identity Center application the grant is limited to, if any.
    pub application_arn: Option<String>,
}

/// Every grant of the caller in one instance.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The instance's account.
    pub account_id: String,
    pub region: String,
    pub grants: Vec<CallerGrant>,
}

impl AwsUpstream {
    /// Lists the caller's grants, narrowed to those under `scope` (an S3
    /// path or its first characters) when given, following every page.
    pub async fn list_caller_access_grants(
        &self,
        scope: Option<&str>,
    ) -> Result<Listing, UpstreamError> {
        self.load_base_credentials().await?;
        let account = match &self.configured_account {
            Some(account) => account.clone(),
            None => self.caller_account().await?,
        };
        let region = self.region.clone();
        let reach = Reach::s3control(self.s3control_endpoint.as_deref(), &region, &account);
        let client = self.s3control(&region);
        let mut grants = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let started = tokio::time::Instant::now();
            let result = client
                .list_caller_access_grants()
                .account_id(&account)
                .set_grant_scope(scope.map(str::to_string))
                .max_results(PAGE_SIZE)
                .set_next_token(token.clone())
                .send()
                .await;
            self.record("ListCallerAccessGrants", &result, started);
            let page = result.map_err(|e| sdk_error("ListCallerAccessGrants", &reach, e))?;
            grants.extend(page.caller_access_grants_list().iter().filter_map(|entry| {
                Some(CallerGrant {
                    scope: entry.grant_scope()?.to_string(),
                    permission: entry.permission()?.as_str().to_string(),
                    application_arn: entry.application_arn().map(str::to_string),
                })
            }));
            match page.next_token().filter(|t| !t.is_empty()) {
                None => {
                    return Ok(Listing {
                        account_id: account,
                        region,
                        grants,
                    });
                }
                Some(next) if token.as_deref() == Some(next) => {
                    return Err(malformed(
                        "ListCallerAccessGrants answered the same NextToken twice",
                    ));
                }
                Some(next) => token = Some(next.to_string()),
            }
        }
        Err(malformed(&format!(
            "ListCallerAccessGrants had more than {MAX_PAGES} pages"
        )))
    }
}
