//! The log's settings: its format and filter.

use grantd_common::fields::Problems;

use super::Describe;
use super::layers::{Key, Layers};
use super::values;
use crate::logging::LogSettings;

/// The log's flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LogFlags {
    /// Log format: text or json [env: GRANTD_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or grantd=debug [env: GRANTD_LOG_LEVEL, RUST_LOG] [default: info]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
}

const LOG_FORMAT: Key = Key {
    file: "log_format",
    flag: Some("--log-format"),
    env: "GRANTD_LOG_FORMAT",
};
const LOG_LEVEL: Key = Key {
    file: "log_level",
    flag: Some("--log-level"),
    env: "GRANTD_LOG_LEVEL",
};

/// The keys of the config file this component reads.
pub(super) const FILE_KEYS: &[&str] = &[LOG_FORMAT.file, LOG_LEVEL.file];

pub(super) fn read(flags: &LogFlags, look: &mut Layers, problems: &mut Problems) -> LogSettings {
    LogSettings {
        format: values::log_format(look.get(&LOG_FORMAT, flags.log_format.clone()), problems),
        level: values::log_filter(look.get(&LOG_LEVEL, flags.log_level.clone()), problems),
    }
}

pub(super) fn describe(s: &LogSettings, out: &mut Describe) {
    out.line(
        "log_format",
        format_args!("{:?}", s.format).to_string().to_lowercase(),
    );
    out.line(
        "log_level",
        s.level.as_deref().unwrap_or("RUST_LOG or info"),
    );
}
