//! The bodies grantd's HTTP routes answer with, and nothing else.
//!
//! Owns the JSON of the container-credentials endpoint
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI`), of the IMDS credentials route, of
//! `credential_process` (`grantd creds --format process`) and of every error,
//! with the per-generation preparation ([`ContainerPrep`]) that lets a warm
//! vend only copy bytes. The server, the cache (which keeps a [`ContainerPrep`]
//! per credential generation) and the client commands use it; the emulator
//! speaks S3 Control's XML instead and never sees these.

use std::time::SystemTime;

use serde::Serialize;

use crate::base::BaseSession;
use crate::credentials::{Credentials, format_timestamp};

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

/// Body of `/v1/base-credentials`: the container format with the base
/// identity's keys. Long-term keys have no session token: `Token` is then
/// empty, which botocore and the JS SDK read as none (both need the field).
pub fn base_json(
    session: &BaseSession,
    expiration: SystemTime,
    account_id: Option<&str>,
) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Body<'a> {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        token: &'a str,
        expiration: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        account_id: Option<&'a str>,
    }
    to_json(&Body {
        access_key_id: &session.access_key_id,
        secret_access_key: session.secret_access_key.expose(),
        token: session.session_token.as_ref().map_or("", |t| t.expose()),
        expiration: format_timestamp(expiration),
        account_id,
    })
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
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::credentials::Secret;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("SECRET-MARKER"),
            session_token: Secret::new("TOKEN-MARKER"),
            expiration: UNIX_EPOCH + Duration::from_secs(1_795_435_200),
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
