//! Logging: the `tracing` subscriber every command installs, on stderr.
//!
//! Lives apart from [`crate::cli`] so that `demo` and any other command can
//! set logging up without importing the command line.

use std::io::IsTerminal;

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

/// Whether text lines are coloured: only on a terminal, and not when
/// `NO_COLOR` is set (<https://no-color.org>). A log file (the supervisor's
/// `grantd.log`, a journal, a test's capture) gets plain text.
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
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
        .with_writer(std::io::stderr)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}
