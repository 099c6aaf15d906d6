//! The command-line flags every command that is or talks to the daemon takes.

use std::path::PathBuf;

/// Command-line values; `None` = not given. Shared by every command that talks
/// to or is the daemon, so `env` and `creds` find it through the same settings.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Flags {
    /// TOML config file (profiles live here) [env: GRANTD_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to bind; port 0 picks a free port [env: GRANTD_LISTEN] [default: 127.0.0.1:7911]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Allow a non-loopback --listen address [env: GRANTD_ALLOW_REMOTE]
    #[arg(long)]
    pub allow_remote: bool,
    /// Unix users besides the daemon's own that may get credentials, e.g. 1000,1001
    /// [env: GRANTD_ALLOWED_UIDS] [default: none]
    #[arg(long, value_name = "UIDS")]
    pub allowed_uids: Option<String>,
    /// After binding, write the bound host:port here [env: GRANTD_ADDR_FILE]
    #[arg(long, value_name = "FILE")]
    pub addr_file: Option<PathBuf>,
    /// Bearer token file; generated (0600) when missing [env: GRANTD_TOKEN_FILE]
    /// [default: $XDG_RUNTIME_DIR/grantd/token, else /run/grantd/token for root,
    /// else ${TMPDIR:-/tmp}/grantd-$UID/token]
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Account of the Access Grants instance [env: GRANTD_ACCOUNT_ID] [default: from STS GetCallerIdentity]
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// Region of the Access Grants instance [env: GRANTD_REGION] [default: the AWS region chain]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Profile served by GET /v1/credentials [env: GRANTD_DEFAULT_PROFILE] [default: first in the file]
    #[arg(long, value_name = "NAME")]
    pub default_profile: Option<String>,
    /// Also serve the IMDSv2-compatible routes [env: GRANTD_IMDS]
    #[arg(long)]
    pub imds: bool,
    /// Log format: text or json [env: GRANTD_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or grantd=debug [env: GRANTD_LOG_LEVEL, RUST_LOG] [default: info]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
}

impl Flags {
    /// A switch given on the command line, as the text the other layers hold.
    pub(super) fn switch(on: bool) -> Option<String> {
        on.then(|| "true".to_string())
    }

    pub(super) fn path(path: &Option<PathBuf>) -> Option<String> {
        path.as_ref().map(|p| p.display().to_string())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
