//! What goes over the wire to S3 Control and STS clients.
//!
//! Owns the reading of the SigV4 `Authorization` header, the XML bodies of
//! the three operations and of errors (the wrapped `ErrorResponse` form both
//! SDKs parse), and the random material of vended keys and request ids.

use std::fmt::Write as _;

use base64::Engine as _;

use grantd_common::credentials::{Credentials, format_timestamp};

const XML_DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
const S3CONTROL_NS: &str = "http://awss3control.amazonaws.com/doc/2018-08-20/";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Length of the random part of a vended access key id, after `ASIA`.
const KEY_ID_RANDOM_LEN: usize = 16;
/// Length of a vended secret access key.
const SECRET_LEN: usize = 40;
/// Random bytes behind a session token; base64 makes 300 characters.
const TOKEN_BYTES: usize = 225;

/// An error answer: HTTP status, AWS error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AwsError {
    pub(super) status: u16,
    pub(super) code: String,
    pub(super) message: String,
}

impl AwsError {
    pub(super) fn new(status: u16, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn invalid_request(message: impl Into<String>) -> AwsError {
        AwsError::new(400, "InvalidRequest", message)
    }

    pub(super) fn access_denied(message: impl Into<String>) -> AwsError {
        AwsError::new(403, "AccessDenied", message)
    }

    pub(super) fn no_instance() -> AwsError {
        AwsError::new(
            404,
            "AccessGrantsInstanceNotExistsError",
            "Access Grants Instance does not exist",
        )
    }

    pub(super) fn internal(message: impl Into<String>) -> AwsError {
        AwsError::new(500, "InternalError", message)
    }

    /// The wrapped error body; `Type` is `Sender` for 4xx, `Receiver` for 5xx.
    pub(super) fn to_xml(&self, request_id: &str) -> String {
        let kind = if self.status < 500 {
            "Sender"
        } else {
            "Receiver"
        };
        format!(
            "{XML_DECL}<ErrorResponse><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message>\
             </Error><RequestId>{}</RequestId></ErrorResponse>",
            escape(&self.code),
            escape(&self.message),
            escape(request_id),
        )
    }
}

/// The parts of a SigV4 `Authorization` header the emulator uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SigV4 {
    pub(super) access_key_id: String,
    pub(super) region: String,
    pub(super) service: String,
}

/// Reads `AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/s3/aws4_request,
/// SignedHeaders=..., Signature=...`. The signature itself is never checked:
/// the emulator trusts the key id, which is all a test double needs.
pub(super) fn parse_authorization(header: &str) -> Result<SigV4, String> {
    let params = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("expected an AWS4-HMAC-SHA256 Authorization header")?;
    let mut credential = None;
    let (mut signed_headers, mut signature) = (false, false);
    for part in params.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or("malformed Authorization parameter")?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = !value.is_empty(),
            "Signature" => signature = !value.is_empty(),
            _ => {}
        }
    }
    let credential = credential.ok_or("Authorization header has no Credential")?;
    if !signed_headers || !signature {
        return Err("Authorization header needs SignedHeaders and Signature".into());
    }
    let scope: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = scope[..] else {
        return Err("Credential must be AKID/date/region/service/aws4_request".into());
    };
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("Credential has a malformed access key id".into());
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Credential date must be YYYYMMDD".into());
    }
    if region.is_empty() || service.is_empty() || terminator != "aws4_request" {
        return Err("Credential must be AKID/date/region/service/aws4_request".into());
    }
    Ok(SigV4 {
        access_key_id: key.to_string(),
        region: region.to_string(),
        service: service.to_string(),
    })
}

/// What a successful `GetDataAccess` says.
pub(super) struct DataAccessAnswer<'a> {
    pub(super) credentials: &'a Credentials,
    pub(super) matched_grant_target: &'a str,
    pub(super) grantee: &'a str,
}

pub(super) fn data_access_xml(answer: &DataAccessAnswer<'_>) -> String {
    let creds = answer.credentials;
    format!(
        "{XML_DECL}<GetDataAccessResult xmlns=\"{S3CONTROL_NS}\"><Credentials>\
         <AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>\
         <MatchedGrantTarget>{}</MatchedGrantTarget><Grantee><GranteeType>IAM</GranteeType>\
         <GranteeIdentifier>{}</GranteeIdentifier></Grantee></GetDataAccessResult>",
        escape(&creds.access_key_id),
        escape(creds.secret_access_key.expose()),
        escape(creds.session_token.expose()),
        format_timestamp(creds.expiration),
        escape(answer.matched_grant_target),
        escape(answer.grantee),
    )
}

pub(super) fn instance_for_prefix_xml(region: &str, account: &str) -> String {
    format!(
        "{XML_DECL}<GetAccessGrantsInstanceForPrefixResult xmlns=\"{S3CONTROL_NS}\">\
         <AccessGrantsInstanceArn>arn:aws:s3:{}:{}:access-grants/default</AccessGrantsInstanceArn>\
         <AccessGrantsInstanceId>default</AccessGrantsInstanceId>\
         </GetAccessGrantsInstanceForPrefixResult>",
        escape(region),
        escape(account),
    )
}

/// A `ListCallerAccessGrants` answer; `ApplicationArn` only where a grant has one.
pub(super) fn caller_grants_xml(
    grants: &[super::operations::ListedGrant],
    next_token: Option<&str>,
) -> String {
    let mut out = format!("{XML_DECL}<ListCallerAccessGrantsResult xmlns=\"{S3CONTROL_NS}\">");
    if let Some(token) = next_token {
        let _ = write!(out, "<NextToken>{}</NextToken>", escape(token));
    }
    out.push_str("<CallerAccessGrantsList>");
    for grant in grants {
        let _ = write!(
            out,
            "<AccessGrant><Permission>{}</Permission><GrantScope>{}</GrantScope>",
            grant.permission.as_str(),
            escape(&grant.scope)
        );
        if let Some(arn) = &grant.application_arn {
            let _ = write!(out, "<ApplicationArn>{}</ApplicationArn>", escape(arn));
        }
        out.push_str("</AccessGrant>");
    }
    out.push_str("</CallerAccessGrantsList></ListCallerAccessGrantsResult>");
    out
}

pub(super) fn caller_identity_xml(arn: &str, request_id: &str) -> String {
    let account = arn.split(':').nth(4).unwrap_or_default();
    format!(
        "{XML_DECL}<GetCallerIdentityResponse xmlns=\"{STS_NS}\"><GetCallerIdentityResult>\
         <Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        escape(arn),
        escape(&user_id(arn)),
        escape(account),
        escape(request_id),
    )
}

/// A stable unique id for a principal, shaped like IAM's: `AROA…:session`
/// for roles, `AIDA…` for users.
fn user_id(arn: &str) -> String {
    // FNV-1a, twice (forwards and backwards) for 128 bits: stable across
    // runs and platforms, unlike `DefaultHasher`.
    let fnv = |bytes: &mut dyn Iterator<Item = u8>| {
        bytes.fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut hash =
        (u128::from(fnv(&mut arn.bytes())) << 64) | u128::from(fnv(&mut arn.bytes().rev()));
    let mut id = String::new();
    for _ in 0..17 {
        id.push(char::from(ALPHANUMERIC_UPPER[(hash % 36) as usize]));
        hash /= 36;
    }
    let resource = arn.split(':').nth(5).unwrap_or_default();
    if resource.starts_with("user/") {
        format!("AIDA{id}")
    } else {
        format!("AROA{id}:grantd-emulator")
    }
}

/// Escapes text for an XML element (never used in attributes, so quotes
/// stay as they are and messages read naturally).
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Not representable in XML 1.0; callers never legitimately send them.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

const ALPHANUMERIC_UPPER: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `len` characters drawn uniformly from `alphabet` (rejection sampling, so
/// no character is favoured).
fn random_string(alphabet: &[u8], len: usize) -> Result<String, getrandom::Error> {
    // Largest multiple of the alphabet size that fits a byte.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf)?;
        for &b in &buf {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

/// Fresh random key material: `ASIA` + 16 characters, a 40-character
/// secret and a 300-character session token.
pub(super) fn random_keys() -> Result<(String, String, String), getrandom::Error> {
    let key_id = format!(
        "ASIA{}",
        random_string(ALPHANUMERIC_UPPER, KEY_ID_RANDOM_LEN)?
    );
    let secret = random_string(SECRET_ALPHABET, SECRET_LEN)?;
    let mut token = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut token)?;
    Ok((
        key_id,
        secret,
        base64::engine::general_purpose::STANDARD.encode(token),
    ))
}

/// A request id shaped like a UUID.
pub(super) fn request_id() -> String {
    let mut b = [0u8; 16];
    // A failed read leaves zeros: a request id need not be unique to be valid.
    let _ = getrandom::fill(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "AWS4-HMAC-SHA256 Credential=AKIAGRANTDDEMOROLEA/20261123/us-east-1/s3/aws4_request, \
                          SignedHeaders=host;x-amz-date, Signature=abcdef0123";

    #[test]
    fn reads_the_access_key_id_from_sigv4() {
        let sig = parse_authorization(HEADER).unwrap();
        assert_eq!(sig.access_key_id, "AKIAGRANTDDEMOROLEA");
        assert_eq!(sig.region, "us-east-1");
        assert_eq!(sig.service, "s3");
    }

    #[test]
    fn refuses_malformed_authorization_headers() {
        for bad in [
            "Bearer xyz",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/s3/aws4_request, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/aws4_request, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AK ID/20261123/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab",
        ] {
            assert!(
                parse_authorization(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn random_keys_have_aws_shapes_and_differ() {
        let (id, secret, token) = random_keys().unwrap();
        assert!(id.starts_with("ASIA") && id.len() == 20);
        assert!(
            id[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(secret.len(), 40);
        assert_eq!(token.len(), 300);
        assert_ne!(random_keys().unwrap().0, id);
    }

    #[test]
    fn errors_are_wrapped_and_escaped() {
        let xml = AwsError::access_denied("a <b> & 'c'").to_xml("req-1");
        assert!(xml.contains("<Type>Sender</Type><Code>AccessDenied</Code>"));
        assert!(xml.contains("<Message>a &lt;b&gt; &amp; 'c'</Message>"));
        assert!(xml.contains("<RequestId>req-1</RequestId></ErrorResponse>"));
        assert!(
            AwsError::internal("x")
                .to_xml("r")
                .contains("<Type>Receiver</Type>")
        );
    }

    #[test]
    fn caller_identity_names_the_account_of_the_arn() {
        let xml = caller_identity_xml("arn:aws:iam::444455556666:role/R", "r");
        assert!(xml.contains("<Account>444455556666</Account>"));
        assert!(xml.contains("<UserId>AROA"));
        assert!(xml.contains(":grantd-emulator</UserId>"));
        assert_eq!(
            user_id("arn:aws:iam::1:role/R"),
            user_id("arn:aws:iam::1:role/R")
        );
    }
}
