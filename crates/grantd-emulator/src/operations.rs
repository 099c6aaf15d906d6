//! The AWS operations the emulator answers.
//!
//! Owns request validation (authentication by access key id, the
//! `x-amz-account-id` header and the account label a client puts in front
//! of a host name, query parameters) and the work of `GetDataAccess`,
//! `GetAccessGrantsInstanceForPrefix`, `ListCallerAccessGrants` (its
//! filters and pages in `listing`) and STS `GetCallerIdentity`. Answers
//! come back as data; `server` renders them, applies faults and records the
//! call.

use std::time::Duration;

use hyper::HeaderMap;

use grantd_common::credentials::{Credentials, Secret};
use grantd_common::scope::{Permission, Privilege, S3Target, ScopeError, is_account_id};

use super::listing::{self, DEFAULT_MAX_RESULTS, MAX_RESULTS};
use super::matching::{self, Refusal};
use super::scenario::DURATION_RANGE;
use super::state::Issued;
use super::wire::{self, AwsError};
use super::{Emulator, Operation};

/// A request as the operations see it.
pub(super) struct AwsRequest<'a> {
    pub(super) headers: &'a HeaderMap,
    /// Query parameters (S3 Control) or form fields (STS), decoded.
    pub(super) params: Vec<(String, String)>,
}

impl AwsRequest<'_> {
    /// The first value of `name`.
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A successful answer, before rendering.
pub(super) enum Answer {
    DataAccess(Vended),
    InstanceForPrefix { account_id: String },
    CallerGrants(Vec<ListedGrant>, Option<String>),
    CallerIdentity { arn: String },
}

/// One entry of a `ListCallerAccessGrants` answer.
pub(super) struct ListedGrant {
    pub(super) scope: String,
    pub(super) permission: Permission,
    pub(super) application_arn: Option<String>,
}

/// Credentials vended by `GetDataAccess` and what they cover.
pub(super) struct Vended {
    pub(super) credentials: Credentials,
    pub(super) issued: Issued,
}

pub(super) async fn answer(
    emu: &Emulator,
    operation: Operation,
    req: &AwsRequest<'_>,
) -> Result<Answer, AwsError> {
    match operation {
        Operation::GetDataAccess => get_data_access(emu, req).await.map(Answer::DataAccess),
        Operation::GetAccessGrantsInstanceForPrefix => instance_for_prefix(emu, req),
        Operation::ListCallerAccessGrants => caller_grants(emu, req),
        Operation::GetCallerIdentity => {
            let arn = authenticate(emu, req, Operation::GetCallerIdentity)?;
            Ok(Answer::CallerIdentity {
                arn: arn.to_string(),
            })
        }
    }
}

async fn get_data_access(emu: &Emulator, req: &AwsRequest<'_>) -> Result<Vended, AwsError> {
    let caller = authenticate(emu, req, Operation::GetDataAccess)?;
    let account = instance_account(req)?;
    let target = required(req, "target")?;
    let target = S3Target::parse(target).map_err(|e| AwsError::invalid_request(e.to_string()))?;
    let permission: Permission = required(req, "permission")?
        .parse()
        .map_err(|e: ScopeError| AwsError::invalid_request(e.to_string()))?;
    let duration = req
        .param("durationSeconds")
        .map(parse_duration)
        .transpose()?;
    if let Some(seconds) = duration
        && seconds > emu.scenario.max_duration_seconds
    {
        return Err(AwsError::invalid_request(format!(
            "The requested durationSeconds ({seconds}) exceeds the maximum session duration \
             ({} seconds) of the location role",
            emu.scenario.max_duration_seconds
        )));
    }
    if let Some(context) = req.param("auditContext")
        && !is_audit_context(context)
    {
        return Err(AwsError::invalid_request(format!(
            "1 validation error detected: Value '{}' at 'auditContext' failed to satisfy \
             constraint: Member must have length between 1 and {MAX_AUDIT_CONTEXT_LEN} and \
             hold no control character but tab",
            clip(context)
        )));
    }
    let privilege: Privilege = req
        .param("privilege")
        .map(|p| {
            p.parse()
                .map_err(|e: ScopeError| AwsError::invalid_request(e.to_string()))
        })
        .transpose()?
        .unwrap_or_default();
    if let Some(kind) = req.param("targetType") {
        if kind != "Object" {
            return Err(AwsError::invalid_request(format!(
                "1 validation error detected: Value '{}' at 'targetType' failed to satisfy \
                 constraint: Member must satisfy enum value set: [Object]",
                clip(kind)
            )));
        }
        if target.key().ends_with('*') {
            return Err(AwsError::invalid_request(
                "targetType Object needs a target that names one object, not a prefix",
            ));
        }
    }

    let grant = matching::find_grant(&emu.scenario.grants, account, caller, &target, permission)
        .map_err(|refusal| match refusal {
            Refusal::NoInstance => AwsError::no_instance(),
            Refusal::Denied => AwsError::access_denied(format!(
                "You do not have {permission} permissions to the requested S3 Prefix: {target}"
            )),
        })?;

    let lifetime = emu.lifetime(duration);
    let minimal = (privilege == Privilege::Minimal).then_some(&target);
    let credentials = match (&grant.role_arn, &emu.minter) {
        (Some(role_arn), Some(minter)) => minter
            .mint(role_arn, lifetime, minimal)
            .await
            .map_err(|why| AwsError::new(503, "ServiceUnavailable", why))?,
        _ => random_credentials()?,
    };
    // Also for assumed roles: the override may be shorter than STS allows,
    // which rotation tests rely on.
    let credentials = Credentials {
        expiration: emu.clock.now() + Duration::from_secs(lifetime),
        ..credentials
    };
    let scope = match privilege {
        Privilege::Default => grant.target.as_str(),
        Privilege::Minimal => target.as_str(),
    };
    let issued = Issued {
        grantee: caller.to_string(),
        account_id: account.to_string(),
        matched_grant_target: grant.target.as_str().to_string(),
        scope: scope.to_string(),
        permission,
        privilege,
        expiration: credentials.expiration,
    };
    Ok(Vended {
        credentials,
        issued,
    })
}

fn instance_for_prefix(emu: &Emulator, req: &AwsRequest<'_>) -> Result<Answer, AwsError> {
    authenticate(emu, req, Operation::GetAccessGrantsInstanceForPrefix)?;
    instance_account(req)?;
    let prefix = required(req, "s3prefix")?;
    let prefix = S3Target::parse(prefix).map_err(|e| AwsError::invalid_request(e.to_string()))?;
    match matching::instance_for_prefix(&emu.scenario.grants, &prefix) {
        Some(account) => Ok(Answer::InstanceForPrefix {
            account_id: account.to_string(),
        }),
        None => Err(AwsError::no_instance()),
    }
}

fn caller_grants(emu: &Emulator, req: &AwsRequest<'_>) -> Result<Answer, AwsError> {
    let caller = authenticate(emu, req, Operation::ListCallerAccessGrants)?;
    let account = instance_account(req)?;
    let scope = req.param("grantscope");
    if let Some(scope) = scope {
        listing::check_scope(scope).map_err(|why| {
            AwsError::invalid_request(format!(
                "1 validation error detected: Value '{}' at 'grantScope' failed to satisfy \
                 constraint: {why}",
                clip(scope)
            ))
        })?;
    }
    let max_results = match req.param("maxResults") {
        None => DEFAULT_MAX_RESULTS,
        Some(raw) => match raw.parse::<usize>() {
            // 0 is in the API's range; it asks for the default.
            Ok(0) => DEFAULT_MAX_RESULTS,
            Ok(n) if n <= MAX_RESULTS => n,
            _ => {
                return Err(AwsError::invalid_request(format!(
                    "1 validation error detected: Value '{}' at 'maxResults' failed to satisfy \
                     constraint: Member must have value between 0 and {MAX_RESULTS}",
                    clip(raw)
                )));
            }
        },
    };
    let allowed_by_application = match req.param("allowedByApplication") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(AwsError::invalid_request(format!(
                "1 validation error detected: Value '{}' at 'allowedByApplication' failed to \
                 satisfy constraint: Member must be true or false",
                clip(other)
            )));
        }
    };
    let query = listing::Query {
        account,
        caller,
        scope,
        allowed_by_application,
        max_results,
        next_token: req.param("nextToken"),
    };
    let page = listing::page(&emu.scenario.grants, &query).map_err(|refusal| match refusal {
        listing::Refusal::NoInstance => AwsError::no_instance(),
        listing::Refusal::BadToken => {
            AwsError::invalid_request("The continuation token provided is invalid.")
        }
    })?;
    let grants = page
        .grants
        .iter()
        .map(|g| ListedGrant {
            scope: g.target.as_str().to_string(),
            permission: g.permission,
            application_arn: g.application_arn.clone(),
        })
        .collect();
    Ok(Answer::CallerGrants(grants, page.next_token))
}

/// The principal behind the request's access key id.
fn authenticate<'e>(
    emu: &'e Emulator,
    req: &AwsRequest<'_>,
    operation: Operation,
) -> Result<&'e str, AwsError> {
    let Some(header) = req.headers.get(hyper::header::AUTHORIZATION) else {
        return Err(AwsError::access_denied(
            "missing authentication: no Authorization header",
        ));
    };
    let header = header
        .to_str()
        .map_err(|_| AwsError::invalid_request("malformed Authorization header"))?;
    let sig = wire::parse_authorization(header).map_err(|why| {
        AwsError::invalid_request(format!("malformed Authorization header: {why}"))
    })?;
    emu.scenario
        .principal_for(&sig.access_key_id)
        .ok_or_else(|| {
            if operation == Operation::GetCallerIdentity {
                AwsError::new(
                    403,
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid.",
                )
            } else {
                AwsError::new(
                    403,
                    "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.",
                )
            }
        })
}

/// The `x-amz-account-id` header: the account that owns the instance. A
/// request to a host name must carry it as the first label too, as the AWS
/// SDKs put it there (`111122223333.s3-control.us-east-1.amazonaws.com`);
/// an IP address or `localhost` carries none.
fn instance_account<'r>(req: &'r AwsRequest<'_>) -> Result<&'r str, AwsError> {
    match req.header("x-amz-account-id") {
        Some(account) if is_account_id(account) => {
            check_host_label(req.header("host"), account)?;
            Ok(account)
        }
        Some(other) => Err(AwsError::invalid_request(format!(
            "1 validation error detected: Value '{}' at 'accountId' failed to satisfy \
             constraint: Member must be a 12-digit account id",
            clip(other)
        ))),
        None => Err(AwsError::invalid_request(
            "Missing required header: x-amz-account-id",
        )),
    }
}

/// The account label of a host name, checked against `account`.
pub(super) fn check_host_label(host: Option<&str>, account: &str) -> Result<(), AwsError> {
    let Some(host) = host else {
        return Ok(());
    };
    // `name:port`, `[v6]:port`, or either without a port.
    let name = match host.strip_prefix('[') {
        Some(_) => return Ok(()),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    if name.parse::<std::net::IpAddr>().is_ok() || name.eq_ignore_ascii_case("localhost") {
        return Ok(());
    }
    match name.split_once('.') {
        Some((label, _)) if label == account => Ok(()),
        Some((label, _)) if is_account_id(label) => Err(AwsError::invalid_request(format!(
            "The account id in the host name ({label}) does not match x-amz-account-id ({account})"
        ))),
        _ => Err(AwsError::invalid_request(format!(
            "The host name {} lacks the account id label: expected {account}.{}",
            clip(name),
            clip(name)
        ))),
    }
}

/// Longest `auditContext` the API takes.
const MAX_AUDIT_CONTEXT_LEN: usize = 2048;

/// The API's pattern for `auditContext`: the characters XML allows (tab,
/// U+0020 and up, no U+FFFE or U+FFFF), 1 to 2048 of them.
fn is_audit_context(text: &str) -> bool {
    (1..=MAX_AUDIT_CONTEXT_LEN).contains(&text.encode_utf16().count())
        && text
            .chars()
            .all(|c| c == '\t' || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}'))
}

fn required<'r>(req: &'r AwsRequest<'_>, name: &str) -> Result<&'r str, AwsError> {
    req.param(name).ok_or_else(|| {
        AwsError::invalid_request(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: \
             Member must not be null"
        ))
    })
}

fn parse_duration(raw: &str) -> Result<u64, AwsError> {
    let invalid = |constraint: &str| {
        AwsError::invalid_request(format!(
            "1 validation error detected: Value '{}' at 'durationSeconds' failed to satisfy \
             constraint: {constraint}",
            clip(raw)
        ))
    };
    let seconds: u64 = raw
        .parse()
        .map_err(|_| invalid("Member must be an integer"))?;
    if seconds < *DURATION_RANGE.start() {
        return Err(invalid(
            "Member must have value greater than or equal to 900",
        ));
    }
    if seconds > *DURATION_RANGE.end() {
        return Err(invalid(
            "Member must have value less than or equal to 43200",
        ));
    }
    Ok(seconds)
}

/// A caller's value, shortened for an error message.
fn clip(value: &str) -> String {
    value.chars().take(64).collect()
}

/// Random keys; the caller sets `expiration`.
fn random_credentials() -> Result<Credentials, AwsError> {
    let (access_key_id, secret, token) = wire::random_keys()
        .map_err(|e| AwsError::internal(format!("no randomness for keys: {e}")))?;
    Ok(Credentials {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token: Secret::new(token),
        expiration: std::time::UNIX_EPOCH,
    })
}
