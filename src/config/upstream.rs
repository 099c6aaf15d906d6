//! The upstream's settings: the Access Grants instance's account and region,
//! the AWS endpoint variables, and the audit context every `GetDataAccess`
//! carries (the setting, else derived from SageMaker's files).

use grantd_common::fields::Problems;

use super::Describe;
use super::endpoints;
use super::layers::{Key, Layers};
use super::source::Source;
use super::values::{ACCOUNT_ID_EXPECTED, REGION_EXPECTED, checked, is_region};
use crate::scope::is_account_id;
use crate::upstream::audit::{self, AuditContext};
use crate::upstream::aws::AwsSettings;

/// The flags naming the Access Grants instance.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct UpstreamFlags {
    /// Account of the Access Grants instance [env: GRANTD_ACCOUNT_ID] [default: from STS GetCallerIdentity]
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// Region of the Access Grants instance [env: GRANTD_REGION] [default: the AWS region chain]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Sent as AuditContext on every GetDataAccess, for CloudTrail [env: GRANTD_AUDIT_CONTEXT]
    /// [default: the SageMaker job or Studio space, else none]
    #[arg(long, value_name = "TEXT")]
    pub audit_context: Option<String>,
}

const ACCOUNT_ID: Key = Key {
    file: "account_id",
    flag: Some("--account-id"),
    env: "GRANTD_ACCOUNT_ID",
};
const REGION: Key = Key {
    file: "region",
    flag: Some("--region"),
    env: "GRANTD_REGION",
};
const AUDIT_CONTEXT: Key = Key {
    file: "audit_context",
    flag: Some("--audit-context"),
    env: "GRANTD_AUDIT_CONTEXT",
};

/// The keys of the config file this component reads.
pub(super) const FILE_KEYS: &[&str] = &[ACCOUNT_ID.file, REGION.file, AUDIT_CONTEXT.file];

pub(super) fn read(
    flags: &UpstreamFlags,
    env: &dyn Source,
    look: &mut Layers,
    problems: &mut Problems,
) -> AwsSettings {
    let account_id = checked(
        look.get(&ACCOUNT_ID, flags.account_id.clone()),
        is_account_id,
        ACCOUNT_ID_EXPECTED,
        problems,
    );
    let region = checked(
        look.get(&REGION, flags.region.clone()),
        is_region,
        REGION_EXPECTED,
        problems,
    );
    let audit_context = match look.get(&AUDIT_CONTEXT, flags.audit_context.clone()) {
        // A value with nothing left after sanitising is a mistake, not "none".
        Some(value) => value.str(problems).and_then(|raw| {
            let context = AuditContext::from_setting(&raw);
            if context.is_none() {
                value.reject("expected text for CloudTrail, got only blanks", problems);
            }
            context
        }),
        None => env.sagemaker_dir().and_then(|dir| audit::derive(&dir)),
    };
    AwsSettings {
        account_id,
        region,
        s3control_endpoint: endpoints::s3control(env, problems),
        sts_endpoint: endpoints::sts(env, problems),
        // The standard chain; only the demo names its own.
        credentials: None,
        audit_context,
    }
}

pub(super) fn describe(s: &AwsSettings, out: &mut Describe) {
    let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_string());
    out.line(
        "account_id",
        or(&s.account_id, "from STS GetCallerIdentity"),
    );
    out.line("region", or(&s.region, "from the AWS region chain"));
    out.line(
        "s3control_endpoint",
        or(&s.s3control_endpoint, "AWS default"),
    );
    out.line("sts_endpoint", or(&s.sts_endpoint, "AWS default"));
    match &s.audit_context {
        Some(context) => out.line("audit_context", context),
        None => out.line("audit_context", "none"),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::source::{WithSageMaker, env};
    use crate::config::{Flags, UpstreamFlags, describe, resolve};
    use crate::upstream::audit::Origin;

    fn studio_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("metadata")).unwrap();
        std::fs::write(
            dir.path().join("metadata/resource-metadata.json"),
            r#"{"DomainId": "d-abc", "UserProfileName": "alice", "SpaceName": "lab"}"#,
        )
        .unwrap();
        dir
    }

    #[test]
    fn the_audit_context_setting_beats_what_sagemaker_says() {
        let dir = studio_dir();
        let derived = WithSageMaker(env(&[]), dir.path().to_path_buf());
        let s = resolve(&Flags::default(), &derived).unwrap();
        let context = s.upstream.audit_context.clone().unwrap();
        assert_eq!(
            context.value(),
            "sagemaker-studio domain=d-abc user-profile=alice space=lab"
        );
        assert!(matches!(context.origin(), Origin::File(_)));
        assert!(describe(&s).contains("audit_context        \"sagemaker-studio domain=d-abc"));

        let set = WithSageMaker(
            env(&[("GRANTD_AUDIT_CONTEXT", "nightly run\n")]),
            dir.path().to_path_buf(),
        );
        let s = resolve(&Flags::default(), &set).unwrap();
        assert_eq!(s.upstream.audit_context.unwrap().value(), "nightly run");
        let flags = Flags {
            upstream: UpstreamFlags {
                audit_context: Some("from the flag".into()),
                ..UpstreamFlags::default()
            },
            ..Flags::default()
        };
        let s = resolve(&flags, &set).unwrap();
        assert_eq!(s.upstream.audit_context.unwrap().value(), "from the flag");
    }

    #[test]
    fn no_audit_context_outside_sagemaker_and_blanks_are_refused() {
        let s = resolve(&Flags::default(), &env(&[])).unwrap();
        assert_eq!(s.upstream.audit_context, None);
        assert!(describe(&s).contains("audit_context        none"));
        let flags = Flags {
            upstream: UpstreamFlags {
                audit_context: Some(" \t ".into()),
                ..UpstreamFlags::default()
            },
            ..Flags::default()
        };
        let errors = resolve(&flags, &env(&[])).unwrap_err();
        assert!(errors[0].starts_with("--audit-context:"), "{errors:?}");
    }
}
