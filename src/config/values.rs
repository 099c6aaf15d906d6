//! Checks on single values: the listen address, paths, account ids,
//! regions, the log format and filter.
//!
//! Each takes a value with its origin and reports a problem named by it;
//! none knows which layer the value came from.

use std::net::{AddrParseError, IpAddr, Ipv4Addr, SocketAddr};
use std::num::ParseIntError;
use std::path::PathBuf;

use grantd_common::fields::Problems;

use super::layers::Value;
use crate::logging::LogFormat;

pub(super) const ACCOUNT_ID_EXPECTED: &str = "expected a 12-digit AWS account id";
pub(super) const REGION_EXPECTED: &str = "expected an AWS region such as us-east-1";

/// Why a `--listen` address was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid port in {text:?}")]
    Port {
        text: String,
        #[source]
        source: ParseIntError,
    },
    #[error("expected host:port such as 127.0.0.1:7911, got {text:?}")]
    Address {
        text: String,
        #[source]
        source: AddrParseError,
    },
    #[error(
        "{addr} is not a loopback address; grantd serves credentials to this host only (pass --allow-remote to override)"
    )]
    NotLoopback { addr: SocketAddr },
}

/// `host:port` with a loopback host, or any host with `allow_remote`.
pub fn parse_listen(text: &str, allow_remote: bool) -> Result<SocketAddr, ListenError> {
    let text = text.trim();
    let addr = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
            .map_err(|source| ListenError::Port {
                text: text.into(),
                source,
            })?,
        None => text
            .parse::<SocketAddr>()
            .map_err(|source| ListenError::Address {
                text: text.into(),
                source,
            })?,
    };
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(ListenError::NotLoopback { addr });
    }
    Ok(addr)
}

/// The listen address, when `value` is one that may be bound.
pub(super) fn listen(
    value: Value,
    allow_remote: bool,
    problems: &mut Problems,
) -> Option<SocketAddr> {
    let text = value.str(problems)?;
    parse_listen(&text, allow_remote)
        .map_err(|e| value.reject(e, problems))
        .ok()
}

/// A switch given on the command line, as the text the other layers hold.
pub(super) fn flag_switch(on: bool) -> Option<String> {
    on.then(|| "true".to_string())
}

/// A path given on the command line, as the text the other layers hold.
pub(super) fn flag_path(path: &Option<PathBuf>) -> Option<String> {
    path.as_ref().map(|p| p.display().to_string())
}

/// A switch: off unless a layer turns it on.
pub(super) fn switch(value: Option<Value>, problems: &mut Problems) -> bool {
    value.and_then(|v| v.bool(problems)).unwrap_or(false)
}

pub(super) fn path(value: Option<Value>, problems: &mut Problems) -> Option<PathBuf> {
    value?.str(problems).map(PathBuf::from)
}

/// A string that passes `valid`; otherwise reports `origin: expected`.
pub(super) fn checked(
    value: Option<Value>,
    valid: fn(&str) -> bool,
    expected: &str,
    problems: &mut Problems,
) -> Option<String> {
    let value = value?;
    let text = value.str(problems)?;
    if valid(&text) {
        Some(text)
    } else {
        value.reject(expected, problems);
        None
    }
}

/// `text` or `json`; anything unreadable falls back to text, so the other
/// problems still print readably.
pub(super) fn log_format(value: Option<Value>, problems: &mut Problems) -> LogFormat {
    let Some(value) = value else {
        return LogFormat::Text;
    };
    match value.str(problems).as_deref() {
        Some("text") | None => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            value.reject(format!("expected text or json, got {other:?}"), problems);
            LogFormat::Text
        }
    }
}

/// A `tracing` filter such as `info` or `grantd=debug`.
pub(super) fn log_filter(value: Option<Value>, problems: &mut Problems) -> Option<String> {
    let value = value?;
    let text = value.str(problems)?;
    match tracing_subscriber::EnvFilter::try_new(&text) {
        Ok(_) => Some(text),
        Err(e) => {
            value.reject(format!("invalid log filter {text:?}: {e}"), problems);
            None
        }
    }
}

pub(super) use crate::scope::is_region;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_listen_needs_allow_remote() {
        assert!(matches!(
            parse_listen("0.0.0.0:7911", false),
            Err(ListenError::NotLoopback { .. })
        ));
        assert!(parse_listen("0.0.0.0:7911", true).is_ok());
        assert_eq!(parse_listen("localhost:0", false).unwrap().port(), 0);
        assert!(parse_listen("[::1]:7911", false).is_ok());
        assert!(parse_listen("127.0.0.1", false).is_err());
    }

    #[test]
    fn a_listen_error_keeps_its_cause() {
        let err = parse_listen("localhost:http", false).unwrap_err();
        assert_eq!(err.to_string(), "invalid port in \"localhost:http\"");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn regions_are_lowercase_words_joined_by_dashes() {
        assert!(is_region("us-east-1"));
        assert!(!is_region("Mars 1"));
        assert!(!is_region("-x"));
        assert!(!is_region("x"));
    }
}
