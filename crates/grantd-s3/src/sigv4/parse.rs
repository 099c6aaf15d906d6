//! Reading the auth parameters: the `Authorization` header, or the
//! `X-Amz-*` query parameters of a presigned URL, into one shape, with the
//! errors S3 gives for each kind of malformation.

use std::borrow::Cow;

use super::canonical::QueryPair;
use super::{AuthError, CredentialScope};

/// The longest `X-Amz-Expires`: a week, as S3 allows.
pub(crate) const MAX_EXPIRES: u64 = 604_800;

/// Where the auth parameters came from; S3 words its errors per place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Header,
    Query,
}

impl Via {
    pub(crate) fn malformed(self, detail: impl Into<Cow<'static, str>>) -> AuthError {
        let detail = detail.into();
        match self {
            Via::Header => AuthError::AuthorizationHeaderMalformed {
                message: format!("The authorization header is malformed; {detail}").into(),
            },
            Via::Query => AuthError::AuthorizationQueryParametersError { message: detail },
        }
    }

    fn credential_malformed(self, detail: impl Into<Cow<'static, str>>) -> AuthError {
        match self {
            Via::Header => self.malformed(detail),
            Via::Query => {
                let detail = detail.into();
                self.malformed(format!(
                    "Error parsing the X-Amz-Credential parameter; {detail}"
                ))
            }
        }
    }
}

/// The parsed auth parameters, wherever they came from.
#[derive(Debug)]
pub(crate) struct AuthParams {
    pub(crate) access_key_id: String,
    pub(crate) scope: CredentialScope,
    /// The `SignedHeaders` text as sent: it goes into the canonical request.
    pub(crate) signed_headers: String,
    /// `None` when not 64 hex digits: then nothing can match it.
    pub(crate) signature: Option<[u8; 32]>,
    /// Presigned only.
    pub(crate) amz_date: Option<String>,
    pub(crate) expires: Option<u64>,
}

impl AuthParams {
    pub(crate) fn signed_header_names(&self) -> Vec<&str> {
        self.signed_headers.split(';').collect()
    }
}

fn unsupported_mechanism() -> AuthError {
    AuthError::InvalidRequest {
        message: "The authorization mechanism you have provided is not supported. \
            Please use AWS4-HMAC-SHA256."
            .into(),
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`,
/// tolerating spaces around the separators as AWS does.
pub(crate) fn parse_authorization(value: &str) -> Result<AuthParams, AuthError> {
    let value = value.trim();
    let (algorithm, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    match algorithm {
        "AWS4-HMAC-SHA256" => {}
        // SigV2, and SigV4a: real S3 mechanisms this endpoint does not take.
        "AWS" | "AWS4-ECDSA-P256-SHA256" => return Err(unsupported_mechanism()),
        _ => {
            return Err(AuthError::InvalidArgument {
                message: "Unsupported Authorization Type".into(),
            });
        }
    }
    let via = Via::Header;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let component = component.trim();
        let Some((name, value)) = component.split_once('=') else {
            return Err(via.malformed(format!(
                "the authorization component {} is malformed.",
                quoted(component)
            )));
        };
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(via.malformed(format!(
                    "the authorization component {} is malformed.",
                    quoted(name.trim())
                )));
            }
        };
        if slot.replace(value.trim()).is_some() {
            return Err(via.malformed("each authorization component may appear only once."));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(via.malformed(
            "the authorization header requires three components: \
             Credential, SignedHeaders, and Signature.",
        ));
    };
    let (access_key_id, scope) = parse_credential(credential, via)?;
    Ok(AuthParams {
        access_key_id,
        scope,
        signed_headers: check_signed_headers(signed_headers, via)?,
        signature: parse_signature(signature),
        amz_date: None,
        expires: None,
    })
}

/// The query parameters a presigned URL authenticates with.
pub(crate) const PRESIGN_PARAMS: [&str; 8] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// Whether the query carries presigned-URL auth.
pub(crate) fn is_presigned(pairs: &[QueryPair]) -> bool {
    pairs.iter().any(|pair| {
        matches!(
            pair.name.as_slice(),
            b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature"
        )
    })
}

/// Whether the query carries SigV2 presigned-URL auth.
pub(crate) fn is_presigned_v2(pairs: &[QueryPair]) -> bool {
    pairs.iter().any(|pair| pair.name == b"AWSAccessKeyId")
        && pairs.iter().any(|pair| pair.name == b"Signature")
}

/// One presign parameter's decoded value, if present exactly once.
pub(crate) fn query_param<'p>(
    pairs: &'p [QueryPair],
    name: &str,
) -> Result<Option<&'p str>, AuthError> {
    let mut found = pairs.iter().filter(|pair| pair.name == name.as_bytes());
    let Some(first) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(Via::Query.malformed(format!("{name} may appear only once.")));
    }
    std::str::from_utf8(&first.value)
        .map(Some)
        .map_err(|_| Via::Query.malformed(format!("{name} is not valid UTF-8.")))
}

pub(crate) fn parse_presigned(pairs: &[QueryPair]) -> Result<AuthParams, AuthError> {
    let via = Via::Query;
    let get = |name| query_param(pairs, name);
    let (
        Some(algorithm),
        Some(credential),
        Some(signature),
        Some(date),
        Some(signed),
        Some(expires),
    ) = (
        get("X-Amz-Algorithm")?,
        get("X-Amz-Credential")?,
        get("X-Amz-Signature")?,
        get("X-Amz-Date")?,
        get("X-Amz-SignedHeaders")?,
        get("X-Amz-Expires")?,
    )
    else {
        return Err(via.malformed(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, \
             X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, \
             and X-Amz-Expires parameters.",
        ));
    };
    match algorithm {
        "AWS4-HMAC-SHA256" => {}
        "AWS4-ECDSA-P256-SHA256" => return Err(unsupported_mechanism()),
        _ => return Err(via.malformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")),
    }
    let (access_key_id, scope) = parse_credential(credential, via)?;
    Ok(AuthParams {
        access_key_id,
        scope,
        signed_headers: check_signed_headers(signed, via)?,
        signature: parse_signature(signature),
        amz_date: Some(date.to_owned()),
        expires: Some(parse_expires(expires)?),
    })
}

fn parse_expires(text: &str) -> Result<u64, AuthError> {
    let via = Via::Query;
    if let Some(digits) = text.strip_prefix('-')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(via.malformed("X-Amz-Expires must be non-negative"));
    }
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(via.malformed("X-Amz-Expires should be a number"));
    }
    let expires: u64 = text
        .parse()
        .map_err(|_| via.malformed("X-Amz-Expires should be a number"))?;
    if expires == 0 {
        return Err(via.malformed("X-Amz-Expires must be at least 1 second"));
    }
    if expires > MAX_EXPIRES {
        return Err(via.malformed(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given \
             X-Amz-Expires must be less than 604800 seconds",
        ));
    }
    Ok(expires)
}

/// `AKID/YYYYMMDD/region/s3/aws4_request`.
fn parse_credential(text: &str, via: Via) -> Result<(String, CredentialScope), AuthError> {
    let shape = || {
        via.credential_malformed(
            "the Credential is mal-formed; expecting \
             \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        )
    };
    let parts: Vec<&str> = text.split('/').collect();
    let [access_key_id, date, region, service, terminal] = parts[..] else {
        return Err(shape());
    };
    let key_ok = !access_key_id.is_empty()
        && access_key_id.len() <= 128
        && access_key_id.bytes().all(|b| b.is_ascii_graphic());
    let date_ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    let region_ok = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !key_ok || !date_ok || !region_ok {
        return Err(shape());
    }
    if service != "s3" {
        return Err(via.credential_malformed(format!(
            "incorrect service {}. This endpoint belongs to \"s3\".",
            quoted(service)
        )));
    }
    if terminal != "aws4_request" {
        return Err(via.credential_malformed(format!(
            "incorrect terminal {}. This endpoint uses \"aws4_request\".",
            quoted(terminal)
        )));
    }
    Ok((
        access_key_id.to_owned(),
        CredentialScope {
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        },
    ))
}

/// `a;b;c`: non-empty header names, `host` among them.
fn check_signed_headers(text: &str, via: Via) -> Result<String, AuthError> {
    let names_ok = text.split(';').all(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b))
    });
    if !names_ok {
        return Err(via.malformed("SignedHeaders is not a ;-separated list of header names."));
    }
    if !text
        .split(';')
        .any(|name| name.eq_ignore_ascii_case("host"))
    {
        return Err(via.malformed("SignedHeaders must include host."));
    }
    Ok(text.to_owned())
}

fn parse_signature(text: &str) -> Option<[u8; 32]> {
    let mut signature = [0; 32];
    hex::decode_to_slice(text, &mut signature).ok()?;
    Some(signature)
}

/// A client-sent token for an error message: quoted when it is short and
/// tame, else left out (messages may be logged and shown to clients).
fn quoted(text: &str) -> String {
    let tame = text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if tame {
        format!("\"{text}\"")
    } else {
        "\"...\"".to_owned()
    }
}
