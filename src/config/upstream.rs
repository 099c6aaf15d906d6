//! The upstream's settings: the Access Grants instance's account and region,
//! and the AWS endpoint variables.

use grantd_common::fields::Problems;

use super::Describe;
use super::endpoints;
use super::layers::{Key, Layers};
use super::source::Source;
use super::values::{ACCOUNT_ID_EXPECTED, REGION_EXPECTED, checked, is_region};
use crate::scope::is_account_id;
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

/// The keys of the config file this component reads.
pub(super) const FILE_KEYS: &[&str] = &[ACCOUNT_ID.file, REGION.file];

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
    AwsSettings {
        account_id,
        region,
        s3control_endpoint: endpoints::s3control(env, problems),
        sts_endpoint: endpoints::sts(env, problems),
        // The standard chain; only the demo names its own.
        credentials: None,
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
}
