//! Temporary AWS credentials and the wire formats grantd speaks.
//!
//! Owns the [`Credentials`] type, whose `Debug` never shows the secret or the
//! session token, the one timestamp format every client parses
//! (`YYYY-MM-DDTHH:MM:SSZ`), and the JSON bodies of the container endpoint,
//! the IMDS endpoint, `credential_process` and errors. It imports nothing else
//! of grantd.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::Serialize;

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

/// What the daemon knows about one vend beyond the keys themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantInfo {
    /// Account that owns the Access Grants instance.
    pub account_id: Option<String>,
    /// `MatchedGrantTarget` of the answer.
    pub matched_grant_target: Option<String>,
}

/// What a container body needs beyond the strings themselves, worked out
/// once per generation of credentials: the `Expiration` text and whether
/// any value needs JSON escaping. A warm vend then only copies bytes.
///
/// Kept per cached scope instead of the body itself: 24 bytes, where the
/// body would duplicate the secret and the token (600 bytes and more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerPrep {
    /// `Expiration` as sent: `YYYY-MM-DDTHH:MM:SSZ`, every time this
    /// module formats one (the year is clamped to four digits).
    expiration: [u8; TIMESTAMP_LEN],
    /// No value has a byte JSON must escape (AWS's never do).
    plain: bool,
}

/// Length of every timestamp [`format_timestamp`] writes.
const TIMESTAMP_LEN: usize = 20;

impl ContainerPrep {
    pub fn new(creds: &Credentials, info: &GrantInfo) -> ContainerPrep {
        let mut expiration = [b'0'; TIMESTAMP_LEN];
        let text = format_timestamp(creds.expiration);
        let fits = text.len() == TIMESTAMP_LEN;
        if fits {
            expiration.copy_from_slice(text.as_bytes());
        }
        let values = [
            Some(creds.access_key_id.as_str()),
            Some(creds.secret_access_key.expose()),
            Some(creds.session_token.expose()),
            info.account_id.as_deref(),
            info.matched_grant_target.as_deref(),
        ];
        ContainerPrep {
            expiration,
            // A timestamp of another length takes the general path too.
            plain: fits && values.into_iter().flatten().all(is_plain_json),
        }
    }
}

/// Body of the container-credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`):
/// `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`, then `AccountId`
/// and `MatchedGrantTarget` when known, as compact JSON. Byte for byte what
/// serde_json writes (tested).
pub fn container_json(creds: &Credentials, info: &GrantInfo) -> String {
    let body = container_json_prepared(creds, info, &ContainerPrep::new(creds, info));
    // Only whole `&str`s went in, so this is never lossy; off the hot path.
    String::from_utf8_lossy(&body).into_owned()
}

/// [`container_json`] as the bytes of the body, with the per-generation
/// work done beforehand: every warm vend's work, so it is written by hand
/// into one buffer of the exact size. serde's escaper looked at the token
/// byte by byte, and it and the timestamp were a third of a vend's
/// instructions (callgrind, `benches/profile.sh`). Bytes, not a `String`, so
/// the prepared `Expiration` goes in without a UTF-8 check on every vend.
pub fn container_json_prepared(
    creds: &Credentials,
    info: &GrantInfo,
    prep: &ContainerPrep,
) -> Vec<u8> {
    let formatted;
    let expiration: &[u8] = if prep.plain {
        &prep.expiration
    } else {
        formatted = format_timestamp(creds.expiration);
        formatted.as_bytes()
    };
    let fields = [
        ("AccessKeyId", Some(creds.access_key_id.as_bytes())),
        (
            "SecretAccessKey",
            Some(creds.secret_access_key.expose().as_bytes()),
        ),
        ("Token", Some(creds.session_token.expose().as_bytes())),
        ("Expiration", Some(expiration)),
        ("AccountId", info.account_id.as_deref().map(str::as_bytes)),
        (
            "MatchedGrantTarget",
            info.matched_grant_target.as_deref().map(str::as_bytes),
        ),
    ];
    // Per field `"name":"value"` and a comma (six bytes beyond name and
    // value), less the last comma, plus `{` and `}`.
    let size = 1 + fields
        .iter()
        .filter_map(|(name, value)| value.map(|v| name.len() + v.len() + 6))
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.push(b'{');
    for (name, value) in fields {
        let Some(value) = value else { continue };
        if out.len() > 1 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        if prep.plain {
            out.push(b'"');
            out.extend_from_slice(value);
            out.push(b'"');
        } else {
            push_json_string(&mut out, value);
        }
    }
    out.push(b'}');
    out
}

/// Whether `value` goes into JSON between quotes as it is.
fn is_plain_json(value: &str) -> bool {
    plain_bytes(value.as_bytes())
}

fn plain_bytes(value: &[u8]) -> bool {
    value.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// Appends `value` (the bytes of a `&str`) as a JSON string; only a value
/// that needs escaping takes serde_json's escaper.
fn push_json_string(out: &mut Vec<u8>, value: &[u8]) {
    if plain_bytes(value) {
        out.push(b'"');
        out.extend_from_slice(value);
        out.push(b'"');
    } else {
        let text = String::from_utf8_lossy(value);
        out.extend_from_slice(to_json(&text.as_ref()).as_bytes());
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImdsBody<'a> {
    code: &'static str,
    last_updated: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: String,
}

/// Body of `GET /latest/meta-data/iam/security-credentials/<role>`.
pub fn imds_json(creds: &Credentials, last_updated: SystemTime) -> String {
    to_json(&ImdsBody {
        code: "Success",
        last_updated: format_timestamp(last_updated),
        kind: "AWS-HMAC",
        access_key_id: &creds.access_key_id,
        secret_access_key: creds.secret_access_key.expose(),
        token: creds.session_token.expose(),
        expiration: format_timestamp(creds.expiration),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessBody<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
}

/// Output of an AWS `credential_process` (`Version: 1`).
pub fn process_json(creds: &Credentials) -> String {
    to_json(&ProcessBody {
        version: 1,
        access_key_id: &creds.access_key_id,
        secret_access_key: creds.secret_access_key.expose(),
        session_token: creds.session_token.expose(),
        expiration: format_timestamp(creds.expiration),
    })
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(rename = "Code")]
    code_upper: &'a str,
    #[serde(rename = "Message")]
    message_upper: &'a str,
}

/// Error body with both casings: Java reads `code`/`message`, JS `Code`/`Message`.
pub fn error_json(code: &str, message: &str) -> String {
    to_json(&ErrorBody {
        code,
        message,
        code_upper: code,
        message_upper: message,
    })
}

fn to_json(value: &impl Serialize) -> String {
    // Serialising these plain structs of strings cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
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

    #[test]
    fn container_body_has_the_four_fields_and_account() {
        let info = GrantInfo {
            account_id: Some("111122223333".into()),
            matched_grant_target: Some("s3://b/UserA/*".into()),
        };
        let v: serde_json::Value = serde_json::from_str(&container_json(&creds(), &info)).unwrap();
        assert_eq!(v["AccessKeyId"], "ASIAEXAMPLE");
        assert_eq!(v["SecretAccessKey"], "SECRET-MARKER");
        assert_eq!(v["Token"], "TOKEN-MARKER");
        assert_eq!(v["Expiration"], "2026-11-23T12:00:00Z");
        assert_eq!(v["AccountId"], "111122223333");
        assert_eq!(v["MatchedGrantTarget"], "s3://b/UserA/*");
    }

    /// What serde_json writes for the container body: the reference the hand
    /// encoder must match byte for byte.
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct SerdeContainerBody<'a> {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        token: &'a str,
        expiration: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        account_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        matched_grant_target: Option<&'a str>,
    }

    #[test]
    fn container_body_is_what_serde_json_writes_even_for_odd_strings() {
        let odd = [
            "plain",
            "",
            "quote\"inside",
            "back\\slash",
            "new\nline\ttab\u{1}ctl\u{1f}",
            "caf\u{e9} \u{2028} emoji \u{1f600} </script>",
        ];
        for value in odd {
            let c = Credentials {
                access_key_id: format!("ASIA{value}"),
                secret_access_key: Secret::new(value),
                session_token: Secret::new(format!("{value}{value}")),
                expiration: UNIX_EPOCH + Duration::from_secs(1_795_435_200),
            };
            for info in [
                GrantInfo::default(),
                GrantInfo {
                    account_id: Some("111122223333".into()),
                    matched_grant_target: Some(format!("s3://b/{value}/*")),
                },
                GrantInfo {
                    account_id: None,
                    matched_grant_target: Some("s3://b/*".into()),
                },
            ] {
                let want = serde_json::to_string(&SerdeContainerBody {
                    access_key_id: &c.access_key_id,
                    secret_access_key: c.secret_access_key.expose(),
                    token: c.session_token.expose(),
                    expiration: format_timestamp(c.expiration),
                    account_id: info.account_id.as_deref(),
                    matched_grant_target: info.matched_grant_target.as_deref(),
                })
                .unwrap();
                let got = container_json(&c, &info);
                assert_eq!(got, want, "value {value:?}");
                let prep = ContainerPrep::new(&c, &info);
                let escapes = value.chars().any(|c| c < ' ' || c == '"' || c == '\\');
                assert_eq!(prep.plain, !escapes, "{value:?}");
                let body = container_json_prepared(&c, &info, &prep);
                assert_eq!(body, want.as_bytes());
                if value == "plain" {
                    assert_eq!(body.capacity(), body.len(), "one exact-size buffer");
                }
            }
        }
    }

    #[test]
    fn imds_and_process_bodies_follow_their_formats() {
        let v: serde_json::Value = serde_json::from_str(&imds_json(&creds(), UNIX_EPOCH)).unwrap();
        assert_eq!(v["Code"], "Success");
        assert_eq!(v["Type"], "AWS-HMAC");
        assert_eq!(v["LastUpdated"], "1970-01-01T00:00:00Z");
        assert_eq!(v["Token"], "TOKEN-MARKER");
        let p: serde_json::Value = serde_json::from_str(&process_json(&creds())).unwrap();
        assert_eq!(p["Version"], 1);
        assert_eq!(p["SessionToken"], "TOKEN-MARKER");
        assert_eq!(p["Expiration"], "2026-11-23T12:00:00Z");
    }

    #[test]
    fn error_body_carries_both_casings() {
        let v: serde_json::Value =
            serde_json::from_str(&error_json("AccessDenied", "no \"grant\"")).unwrap();
        assert_eq!(v["code"], "AccessDenied");
        assert_eq!(v["Code"], "AccessDenied");
        assert_eq!(v["message"], "no \"grant\"");
        assert_eq!(v["Message"], "no \"grant\"");
    }
}
