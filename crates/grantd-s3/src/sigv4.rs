//! Verifying a request's SigV4 signature the way S3 does: the
//! `Authorization` header or a presigned URL's query, the canonical request
//! by S3's rules, the clock, the session token, and S3's error for each
//! refusal. A pure function of the request head, the time and a key lookup.
//!
//! The body is the caller's: [`Verified::payload`] says how it is covered,
//! [`PayloadHasher`] checks a signed one, and [`crate::chunked`] decodes
//! an `aws-chunked` one along [`Verified::signature_chain`].

mod canonical;
mod error;
mod key;
mod parse;
mod payload;
#[cfg(test)]
mod tests;
mod time;

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, DATE};
use http::{HeaderMap, HeaderName, Method, Uri};

pub use error::AuthError;
pub use key::{SecretKey, SignatureChain, SigningKey};
pub use payload::{PayloadHasher, PayloadMode};

use canonical::{QueryPair, canonical_headers, canonical_query, canonical_request, parse_query};
use key::{same_mac, sha256};
use parse::{AuthParams, Via};
use time::AmzDate;

/// How far a request's time may be from ours, either way.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";

/// `date/region/service` of a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
}

impl fmt::Display for CredentialScope {
    /// The scope line of a string to sign: `date/region/service/aws4_request`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// A request whose signature checked.
#[derive(Clone)]
pub struct Verified {
    pub access_key_id: String,
    pub scope: CredentialScope,
    /// The request's time (`X-Amz-Date`, or the `Date` header).
    pub timestamp: SystemTime,
    /// That time as signed, `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// The request's signature: the seed of an `aws-chunked` body's chain.
    pub seed_signature: [u8; 32],
    pub signing_key: SigningKey,
    /// Presigned URL (with its `X-Amz-Expires`), or `Authorization` header.
    pub presigned: Option<Duration>,
    /// The headers the signature covers, lower-case.
    pub signed_headers: Vec<HeaderName>,
    /// Headers that carried the auth: strip them before re-signing.
    pub auth_headers: Vec<HeaderName>,
    /// Query parameters that carried the auth (`X-Amz-*`, as sent).
    pub auth_query_params: Vec<&'static str>,
    pub payload: PayloadMode,
}

impl Verified {
    /// The chain that an `aws-chunked` body's chunk signatures continue.
    pub fn signature_chain(&self) -> SignatureChain {
        SignatureChain::new(
            self.signing_key.clone(),
            &self.amz_date,
            &self.scope.to_string(),
            self.seed_signature,
        )
    }

    /// A hasher for a [`PayloadMode::Signed`] body, else `None`.
    pub fn payload_hasher(&self) -> Option<PayloadHasher> {
        match self.payload {
            PayloadMode::Signed(sha) => Some(PayloadHasher::new(sha)),
            _ => None,
        }
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope)
            .field("amz_date", &self.amz_date)
            .field("seed_signature", &"<redacted>")
            .field("signing_key", &self.signing_key)
            .field("presigned", &self.presigned)
            .field("signed_headers", &self.signed_headers)
            .field("auth_headers", &self.auth_headers)
            .field("auth_query_params", &self.auth_query_params)
            .field("payload", &self.payload)
            .finish()
    }
}

/// [`verify`] on a request head.
pub fn verify_parts(
    parts: &http::request::Parts,
    now: SystemTime,
    lookup: impl Fn(&str) -> Option<SecretKey>,
) -> Result<Verified, AuthError> {
    verify(&parts.method, &parts.uri, &parts.headers, now, lookup)
}

/// Verifies a request head's SigV4 signature as S3 would.
///
/// `lookup` gives the secret of an access key id, or `None` when the key
/// is unknown: that is [`AuthError::InvalidAccessKeyId`], which a caller
/// holding several live keys may answer by refreshing them and retrying.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now: SystemTime,
    lookup: impl Fn(&str) -> Option<SecretKey>,
) -> Result<Verified, AuthError> {
    let raw_query = uri.query().unwrap_or("");
    let pairs = parse_query(raw_query, true);
    let presigned = parse::is_presigned(&pairs);
    let authorization = headers.get_all(AUTHORIZATION);
    if presigned && authorization.iter().next().is_some() {
        return Err(AuthError::InvalidArgument {
            message: "Only one auth mechanism allowed; only the X-Amz-Algorithm query \
                parameter, Signature query string parameter or the Authorization header \
                should be specified"
                .into(),
        });
    }
    let (via, params) = if presigned {
        (Via::Query, parse::parse_presigned(&pairs)?)
    } else if let Some(value) = authorization.iter().next() {
        if authorization.iter().count() > 1 {
            return Err(Via::Header.malformed("only one Authorization header is allowed."));
        }
        let value = value
            .to_str()
            .map_err(|_| Via::Header.malformed("it is not visible ASCII."))?;
        (Via::Header, parse::parse_authorization(value)?)
    } else if parse::is_presigned_v2(&pairs) {
        return Err(AuthError::InvalidRequest {
            message: "The authorization mechanism you have provided is not supported. \
                Please use AWS4-HMAC-SHA256."
                .into(),
        });
    } else {
        return Err(AuthError::AccessDenied {
            message: "Access Denied".into(),
        });
    };

    let date = request_date(via, &params, headers)?;
    if date.date() != params.scope.date {
        return Err(via.malformed("Invalid credential date. Date is not the same as X-Amz-Date."));
    }
    check_time(&date, params.expires, now)?;
    let payload_text = payload_text(via, &pairs, headers)?;
    let payload = PayloadMode::parse(&payload_text)?;
    let signed_names = params.signed_header_names();
    check_all_amz_headers_signed(headers, &signed_names, via)?;

    let secret = lookup(&params.access_key_id).ok_or_else(|| AuthError::InvalidAccessKeyId {
        access_key_id: params.access_key_id.clone(),
    })?;
    let signing_key = SigningKey::derive(
        &secret,
        &params.scope.date,
        &params.scope.region,
        &params.scope.service,
    );
    let header_block = canonical_headers(headers, uri, &signed_names);
    let string_to_sign = |pairs: &[QueryPair]| {
        let query = canonical_query(pairs, |name| {
            via == Via::Query && name == b"X-Amz-Signature"
        });
        let request = canonical_request(
            method.as_str(),
            uri.path(),
            &query,
            &header_block,
            &params.signed_headers,
            &payload_text,
        );
        format!(
            "AWS4-HMAC-SHA256\n{}\n{}\n{}",
            date.text,
            params.scope,
            hex::encode(sha256(&request))
        )
    };
    let provided = params.signature.ok_or(AuthError::SignatureDoesNotMatch)?;
    let mut signature = signing_key.sign(string_to_sign(&pairs).as_bytes());
    let mut signed_pairs = pairs;
    if !same_mac(&signature, &provided) && raw_query.contains('+') {
        // The signer may have meant a raw `+` as itself, not as a space.
        signed_pairs = parse_query(raw_query, false);
        signature = signing_key.sign(string_to_sign(&signed_pairs).as_bytes());
    }
    if !same_mac(&signature, &provided) {
        return Err(AuthError::SignatureDoesNotMatch);
    }
    check_session_token(&secret, via, &signed_pairs, headers, &params.access_key_id)?;

    let signed_headers = signed_names
        .iter()
        .filter_map(|name| HeaderName::try_from(*name).ok())
        .collect();
    Ok(Verified {
        access_key_id: params.access_key_id,
        scope: params.scope,
        timestamp: date.time,
        amz_date: date.text,
        seed_signature: signature,
        signing_key,
        presigned: params.expires.map(Duration::from_secs),
        signed_headers,
        auth_headers: auth_headers(via, headers),
        auth_query_params: auth_query_params(via, &signed_pairs),
        payload,
    })
}

/// The request's time: `X-Amz-Date` (query or header), else for header
/// auth the `Date` header.
fn request_date(via: Via, params: &AuthParams, headers: &HeaderMap) -> Result<AmzDate, AuthError> {
    if let Some(text) = &params.amz_date {
        return AmzDate::parse_iso(text).ok_or_else(|| {
            via.malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        });
    }
    let parsed = match headers.get(X_AMZ_DATE) {
        Some(value) => value.to_str().ok().and_then(AmzDate::parse_iso),
        None => headers
            .get(DATE)
            .and_then(|value| value.to_str().ok())
            .and_then(AmzDate::parse_http),
    };
    parsed.ok_or_else(|| AuthError::AccessDenied {
        message: "AWS authentication requires a valid Date or x-amz-date header".into(),
    })
}

fn check_time(date: &AmzDate, expires: Option<u64>, now: SystemTime) -> Result<(), AuthError> {
    let denied = |message: &'static str| AuthError::AccessDenied {
        message: message.into(),
    };
    match expires {
        // A presigned URL is good from its date (give or take the skew)
        // until its expiry, which has no slack.
        Some(expires) => {
            if date.time > now + MAX_CLOCK_SKEW {
                return Err(denied("Request is not valid yet"));
            }
            if now > date.time + Duration::from_secs(expires) {
                return Err(denied("Request has expired"));
            }
        }
        None => {
            let skew = now
                .duration_since(date.time)
                .unwrap_or_else(|early| early.duration());
            if skew > MAX_CLOCK_SKEW {
                return Err(AuthError::RequestTimeTooSkewed {
                    request_time: date.time,
                    server_time: now,
                });
            }
        }
    }
    Ok(())
}

/// The payload line of the canonical request, as sent. Header auth must
/// carry `x-amz-content-sha256`; a presigned URL may (query, then header),
/// else its body is unsigned.
fn payload_text(via: Via, pairs: &[QueryPair], headers: &HeaderMap) -> Result<String, AuthError> {
    let header = headers
        .get(X_AMZ_CONTENT_SHA256)
        .map(|value| {
            value
                .to_str()
                .map(str::to_owned)
                .map_err(|_| AuthError::InvalidArgument {
                    message: "x-amz-content-sha256 is not visible ASCII.".into(),
                })
        })
        .transpose()?;
    match via {
        Via::Header => header.ok_or_else(|| AuthError::InvalidRequest {
            message: "Missing required header for this request: x-amz-content-sha256".into(),
        }),
        Via::Query => Ok(parse::query_param(pairs, "X-Amz-Content-Sha256")?
            .map(str::to_owned)
            .or(header)
            .unwrap_or_else(|| "UNSIGNED-PAYLOAD".to_owned())),
    }
}

/// S3 refuses a request with an `x-amz-*` header outside `SignedHeaders`:
/// such a header could change what the request does (`x-amz-copy-source`,
/// `x-amz-acl`) without the signer's consent. `x-amz-content-sha256` may
/// go unsigned (the canonical request's payload line binds it anyway), as
/// may the presign-excluded informational ones the SDKs leave out.
fn check_all_amz_headers_signed(
    headers: &HeaderMap,
    signed: &[&str],
    via: Via,
) -> Result<(), AuthError> {
    let mut unsigned: Vec<String> = headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|name| name.starts_with("x-amz-"))
        .filter(|name| *name != X_AMZ_CONTENT_SHA256)
        .filter(|name| {
            !(via == Via::Query && matches!(*name, "x-amz-user-agent" | "x-amz-checksum-mode"))
        })
        .filter(|name| !signed.iter().any(|s| s.eq_ignore_ascii_case(name)))
        .map(str::to_owned)
        .collect();
    if unsigned.is_empty() {
        return Ok(());
    }
    unsigned.sort_unstable();
    Err(AuthError::HeadersNotSigned { headers: unsigned })
}

/// A temporary key's requests must carry its token; a long-term key's must
/// carry none.
fn check_session_token(
    secret: &SecretKey,
    via: Via,
    pairs: &[QueryPair],
    headers: &HeaderMap,
    access_key_id: &str,
) -> Result<(), AuthError> {
    let sent: Option<&[u8]> = match via {
        Via::Query => pairs
            .iter()
            .find(|pair| pair.name == b"X-Amz-Security-Token")
            .map(|pair| pair.value.as_slice()),
        Via::Header => headers
            .get(X_AMZ_SECURITY_TOKEN)
            .map(|value| value.as_bytes()),
    };
    match (secret.session_token(), sent) {
        (None, None) => Ok(()),
        // A long-term key served in the container format comes with an
        // empty `Token`, which the Java SDK v1, object_store and botocore's
        // presigner send as an empty token: S3 takes that as none.
        (None, Some(b"")) => Ok(()),
        (Some(expected), Some(sent)) if same_mac(expected.as_bytes(), sent) => Ok(()),
        // S3's answer to a temporary key without its token.
        (Some(_), None) => Err(AuthError::InvalidAccessKeyId {
            access_key_id: access_key_id.to_owned(),
        }),
        _ => Err(AuthError::InvalidToken),
    }
}

fn auth_headers(via: Via, headers: &HeaderMap) -> Vec<HeaderName> {
    let candidates: &[&str] = match via {
        Via::Header => &[
            "authorization",
            X_AMZ_DATE,
            X_AMZ_CONTENT_SHA256,
            X_AMZ_SECURITY_TOKEN,
        ],
        Via::Query => &[X_AMZ_CONTENT_SHA256],
    };
    candidates
        .iter()
        .filter(|name| headers.contains_key(**name))
        .map(|name| HeaderName::from_static(name))
        .collect()
}

fn auth_query_params(via: Via, pairs: &[QueryPair]) -> Vec<&'static str> {
    if via != Via::Query {
        return Vec::new();
    }
    parse::PRESIGN_PARAMS
        .into_iter()
        .filter(|name| pairs.iter().any(|pair| pair.name == name.as_bytes()))
        .collect()
}
