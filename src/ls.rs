//! `grantd ls`: what the base identity may access through Access Grants.
//!
//! Calls S3 Control `ListCallerAccessGrants` for the instance account
//! (`--account-id`, else the caller's own through STS) in the daemon's
//! region, with the daemon's upstream settings (the same AWS chains and
//! endpoint variables as `serve`), following `NextToken` to the end. It needs
//! no running daemon. `render` prints the grants as a table, JSON, or
//! `[profiles.*]` sections that `grantd check` takes as they are.

mod render;

use std::sync::Arc;

use crate::config::{self, Flags, ProcessEnv};
use crate::daemon::EXIT_CONFIG;
use crate::logging::{self, LogFormat};
use crate::metrics::Metrics;
use crate::report::Report;
use crate::upstream::aws::{AwsUpstream, Listing};
use crate::upstream::{ErrorKind, UpstreamError};

pub use render::{Format, profile_name, render};

/// Exit code when S3 Control or STS cannot answer now (EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: i32 = 69;
/// Exit code when the service refused the listing (access denied, no instance).
pub const EXIT_REFUSED: i32 = 1;

/// Arguments of `grantd ls`.
#[derive(clap::Args, Debug)]
pub struct LsArgs {
    #[command(flatten)]
    pub daemon: Flags,
    /// Only grants under this S3 path, or whose scope begins with it (s3://bucket/prefix)
    #[arg(long, value_name = "S3-PREFIX")]
    pub scope: Option<String>,
    /// Output: table, json (a list of objects), toml ([profiles.*] that grantd check takes)
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Runs `grantd ls`; returns the exit code.
pub async fn main(args: LsArgs) -> i32 {
    let settings = match config::resolve(&args.daemon, &ProcessEnv) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!(
                "grantd ls: invalid configuration ({} problem{}):",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            for e in errors {
                eprintln!("  - {e}");
            }
            return EXIT_CONFIG;
        }
    };
    if let Some(scope) = &args.scope
        && !scope.starts_with("s3://")
    {
        eprintln!("grantd ls: --scope {scope:?}: expected an S3 path starting with s3://");
        return EXIT_CONFIG;
    }
    // The SDK's own warnings would repeat what is printed below; --log-level shows them.
    logging::init(LogFormat::Text, settings.logging.level.as_deref(), "error");
    let upstream =
        match AwsUpstream::load(settings.upstream.clone(), Arc::new(Metrics::default())).await {
            Ok(u) => u,
            Err(e) => {
                eprintln!("grantd ls: {}", Report(&e));
                return EXIT_CONFIG;
            }
        };
    match upstream
        .list_caller_access_grants(args.scope.as_deref())
        .await
    {
        Ok(listing) => {
            if listing.grants.is_empty() && args.format == Format::Table {
                eprintln!(
                    "grantd ls: {}",
                    nothing_found(&listing, args.scope.as_deref())
                );
            }
            print!("{}", render(&listing, args.format));
            0
        }
        Err(e) => {
            let account = settings.upstream.account_id.as_deref();
            eprintln!("grantd ls: {}", explain(&e, account, upstream.region()));
            exit_code(&e)
        }
    }
}

fn nothing_found(listing: &Listing, scope: Option<&str>) -> String {
    let under = scope.map(|s| format!(" under {s}")).unwrap_or_default();
    format!(
        "no grants{under} for this identity in the instance of account {} in {}",
        listing.account_id, listing.region
    )
}

/// The exit code of a failed listing: refused (1) or unavailable (69).
pub fn exit_code(e: &UpstreamError) -> i32 {
    match e.kind {
        ErrorKind::Denied | ErrorKind::InvalidRequest => EXIT_REFUSED,
        ErrorKind::Throttled | ErrorKind::Unavailable | ErrorKind::Malformed => EXIT_UNAVAILABLE,
    }
}

/// A failed listing for a person: what happened, then what to do.
pub fn explain(e: &UpstreamError, account: Option<&str>, region: &str) -> String {
    let instance = match account {
        Some(a) => format!("account {a}"),
        None => "this identity's account".to_string(),
    };
    let why = Report(e);
    match (e.kind, e.code.as_str()) {
        (_, "AccessGrantsInstanceNotExistsError") => format!(
            "{instance} has no Access Grants instance in {region} ({why}); \
             set --account-id and --region to the instance's"
        ),
        (ErrorKind::Denied, _) => format!(
            "ListCallerAccessGrants was refused ({why}); the base identity needs \
             s3:ListCallerAccessGrants on the instance of {instance} in {region}"
        ),
        (ErrorKind::Throttled, _) => {
            format!("S3 Control is throttling ListCallerAccessGrants ({why}); try again shortly")
        }
        _ => why.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_outages_explain_themselves_and_exit_apart() {
        let denied = UpstreamError::new(ErrorKind::Denied, "AccessDenied", "Access Denied");
        let text = explain(&denied, Some("111122223333"), "eu-west-1");
        assert!(text.contains("s3:ListCallerAccessGrants"), "{text}");
        assert!(text.contains("account 111122223333 in eu-west-1"), "{text}");
        assert_eq!(exit_code(&denied), EXIT_REFUSED);

        let none = UpstreamError::new(
            ErrorKind::Denied,
            "AccessGrantsInstanceNotExistsError",
            "Access Grants Instance does not exist",
        );
        let text = explain(&none, None, "us-east-1");
        assert!(
            text.starts_with("this identity's account has no Access Grants instance in us-east-1"),
            "{text}"
        );

        let slow = UpstreamError::new(ErrorKind::Throttled, "SlowDown", "Please reduce");
        assert!(explain(&slow, None, "us-east-1").contains("throttling"));
        assert_eq!(exit_code(&slow), EXIT_UNAVAILABLE);
    }
}
