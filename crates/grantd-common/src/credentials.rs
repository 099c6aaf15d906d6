//! Temporary AWS credentials and their timestamps.
//!
//! Owns the [`Credentials`] type, whose `Debug` never shows the secret or the
//! session token, and the one timestamp format every client parses
//! (`YYYY-MM-DDTHH:MM:SSZ`). The emulator mints these and the daemon vends
//! them; the bodies the daemon vends them in are the daemon's own
//! (`grantd::wire`). It imports nothing else of grantd.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

/// A string that must never reach a log, a metric or a `Debug` print.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into().into_boxed_str())
    }

    /// The secret text, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

/// Temporary credentials as vended by `GetDataAccess`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: SystemTime,
}

impl Credentials {
    /// Time left before `expiration`, zero once past.
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.expiration
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiration", &format_timestamp(self.expiration))
            .finish()
    }
}

/// The last second `Format::DateTime` can print (`9999-12-31T23:59:59Z`).
const LATEST_FORMATTABLE_SECS: u64 = 253_402_300_799;

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC; fractions are dropped (rounded down), so a
/// client never believes credentials live longer than they do.
///
/// Whole seconds only: smithy prints a fraction when there are sub-second
/// nanos, and the Java SDK v1 (Hadoop s3a) cannot parse one. Times before
/// 1970 print as the epoch and times past year 9999 as its last second, so
/// this cannot fail.
pub fn format_timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .min(LATEST_FORMATTABLE_SECS);
    // The clamp keeps both conversions in range.
    let whole = DateTime::from_secs(i64::try_from(secs).unwrap_or(i64::MAX));
    whole
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| String::from("9999-12-31T23:59:59Z"))
}

/// Parses RFC 3339 UTC timestamps: `YYYY-MM-DDTHH:MM:SS[.fff]Z` (also
/// `+00:00`, a space for the `T`, and surrounding whitespace).
///
/// A thin wrapper over smithy's `Format::DateTime`, which refuses every
/// offset and a space separator: it folds the forms grantd has always
/// accepted into the one smithy reads, and keeps refusing times before 1970.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let mut text = match s.strip_suffix("+00:00") {
        Some(body) => format!("{body}Z"),
        None => s.to_string(),
    };
    if text.as_bytes().get(10) == Some(&b' ') {
        text.replace_range(10..11, "T");
    }
    let parsed = DateTime::from_str(&text, Format::DateTime).ok()?;
    let t = SystemTime::try_from(parsed).ok()?;
    (t >= UNIX_EPOCH).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("SECRET-MARKER"),
            session_token: Secret::new("TOKEN-MARKER"),
            expiration: UNIX_EPOCH + Duration::from_secs(1_795_435_200),
        }
    }

    #[test]
    fn debug_redacts_secret_and_token() {
        let shown = format!("{:?}", creds());
        assert!(shown.contains("ASIAEXAMPLE"));
        assert!(!shown.contains("SECRET-MARKER"));
        assert!(!shown.contains("TOKEN-MARKER"));
    }

    #[test]
    fn timestamps_are_whole_seconds_utc_with_z() {
        assert_eq!(format_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_795_435_200, 999_000_000);
        assert_eq!(format_timestamp(t), "2026-11-23T12:00:00Z");
        let leap = parse_timestamp("2028-02-29T23:59:59Z").unwrap();
        assert_eq!(format_timestamp(leap), "2028-02-29T23:59:59Z");
    }

    #[test]
    fn parse_round_trips_and_accepts_fractions_and_offsets() {
        let t = parse_timestamp("2026-11-23T12:00:00Z").unwrap();
        assert_eq!(format_timestamp(t), "2026-11-23T12:00:00Z");
        let f = parse_timestamp("2026-11-23T12:00:00.5Z").unwrap();
        assert_eq!(f.duration_since(t).unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timestamp("2026-11-23T12:00:00+00:00"), Some(t));
    }

    #[test]
    fn format_clamps_times_it_cannot_print() {
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(format_timestamp(before_epoch), "1970-01-01T00:00:00Z");
        let year_10000 = UNIX_EPOCH + Duration::from_secs(LATEST_FORMATTABLE_SECS + 86_400);
        assert_eq!(format_timestamp(year_10000), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn parse_keeps_accepting_space_separator_and_whitespace() {
        let t = parse_timestamp("2026-11-23T12:00:00Z");
        assert!(t.is_some());
        assert_eq!(parse_timestamp("2026-11-23 12:00:00Z"), t);
        assert_eq!(parse_timestamp("2026-11-23t12:00:00Z"), t);
        assert_eq!(parse_timestamp(" 2026-11-23T12:00:00Z\n"), t);
    }

    #[test]
    fn parse_rejects_malformed_timestamps() {
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23T12:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T12:00:00.Z",
            "26-11-23T12:00:00Z",
            "2026-11-23T12:00:00+02:00",
            "2026-11-23T12:00:00z",
            "1969-12-31T23:59:59Z",
            "yesterday",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }
}
