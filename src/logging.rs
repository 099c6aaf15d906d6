//! Logging: the `tracing` subscriber every command installs, on stderr.
//!
//! Lives apart from [`crate::cli`] so that `demo` and any other command can
//! set logging up without importing the command line.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

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

/// Puts a new filter in force on the installed subscriber (see [`set_level`]).
type SetFilter = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// Set by [`init`] when its subscriber is the one installed.
static SET_FILTER: OnceLock<SetFilter> = OnceLock::new();

/// The filter of `level` (the settings), else `RUST_LOG`, else `default`.
fn filter(level: Option<&str>, default: &str) -> EnvFilter {
    level
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default))
}

/// Installs the stderr subscriber. The level comes from `level` (the
/// settings), else `RUST_LOG`, else `default`, and [`set_level`] can change
/// it later. A second call is a no-op, so a command may call it without
/// knowing whether another already did.
pub fn init(format: LogFormat, level: Option<&str>, default: &str) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level, default))
        .with_writer(std::io::stderr)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ));
    // Each format is its own subscriber type, and so is its reload handle.
    let set: Option<SetFilter> = match format {
        LogFormat::Text => {
            let builder = builder.with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().is_ok().then(|| {
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())) as SetFilter
            })
        }
        LogFormat::Json => {
            let builder = builder.json().flatten_event(true).with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().is_ok().then(|| {
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())) as SetFilter
            })
        }
    };
    if let Some(set) = set {
        let _ = SET_FILTER.set(set);
    }
}

/// Puts the filter of `level` (else `RUST_LOG`, else `default`) in force on
/// the subscriber [`init`] installed, for every line from now on. `Ok(false)`
/// when [`init`] installed none (a test's own subscriber is left alone).
pub fn set_level(level: Option<&str>, default: &str) -> Result<bool, String> {
    match SET_FILTER.get() {
        Some(set) => set(filter(level, default)).map(|()| true),
        None => Ok(false),
    }
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
