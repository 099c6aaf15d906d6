//! Logging: the `tracing` subscriber every command installs, on stderr.
//!
//! Lives apart from [`crate::cli`] so that `demo` and any other command can
//! set logging up without importing the command line.

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The log's format and filter. Defaults to text, filtered by `RUST_LOG` or `info`.
#[derive(Clone, Debug)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `grantd=debug`; `None` = `RUST_LOG`, else `info`.
    pub level: Option<String>,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Text,
            level: None,
        }
    }
}

/// Installs the stderr subscriber. The level comes from `level` (the
/// settings), else `RUST_LOG`, else `default`. A second call is a no-op, so a
/// command may call it without knowing whether another already did.
pub fn init(format: LogFormat, level: Option<&str>, default: &str) {
    let filter = level
        .map(tracing_subscriber::EnvFilter::new)
        .or_else(|| tracing_subscriber::EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
