//! The key material: the caller's secret, the signing key SigV4 derives
//! from it for one day, region and service, and the signature chain of an
//! `aws-chunked` body, which that key continues past the request head.
//!
//! None of these types prints its bytes: their `Debug` is redacted, and
//! they have no `Display`.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of nothing, the "hash of the previous headers" every chunk's
/// string to sign carries.
pub(crate) const EMPTY_SHA256: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Compares two MACs in time independent of where they differ.
pub(crate) fn same_mac(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A secret access key, and the session token that goes with it when the
/// key is temporary. Looked up by the caller per access key id; never
/// printed.
#[derive(Clone)]
pub struct SecretKey {
    secret: String,
    session_token: Option<String>,
}

impl SecretKey {
    pub fn new(secret: impl Into<String>) -> SecretKey {
        SecretKey {
            secret: secret.into(),
            session_token: None,
        }
    }

    /// A temporary key: requests must then carry exactly this token
    /// (`x-amz-security-token`, or `X-Amz-Security-Token` when presigned).
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> SecretKey {
        self.session_token = Some(token.into());
        self
    }

    pub(crate) fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("secret", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The SigV4 signing key of one secret, day, region and service:
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    pub fn derive(secret: &SecretKey, date: &str, region: &str, service: &str) -> SigningKey {
        let mut k_secret = Vec::with_capacity(4 + secret.secret.len());
        k_secret.extend_from_slice(b"AWS4");
        k_secret.extend_from_slice(secret.secret.as_bytes());
        let k_date = hmac(&k_secret, date.as_bytes());
        k_secret.fill(0);
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        SigningKey(hmac(&k_service, b"aws4_request"))
    }

    /// The signature of a string to sign.
    pub fn sign(&self, string_to_sign: &[u8]) -> [u8; 32] {
        hmac(&self.0, string_to_sign)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// The chain of signatures through an `aws-chunked` body: each chunk is
/// signed over the previous signature (the request's, for the first), so
/// chunks can be neither dropped, reordered nor replaced.
#[derive(Clone)]
pub struct SignatureChain {
    key: SigningKey,
    // The first three lines after the algorithm, shared by every link:
    // "<timestamp>\n<scope>\n".
    prefix: String,
    previous: [u8; 32],
}

impl SignatureChain {
    /// `timestamp` is the request's `YYYYMMDDTHHMMSSZ`, `scope` its
    /// `date/region/service/aws4_request`, `seed` its signature.
    pub fn new(key: SigningKey, timestamp: &str, scope: &str, seed: [u8; 32]) -> SignatureChain {
        SignatureChain {
            key,
            prefix: format!("{timestamp}\n{scope}\n"),
            previous: seed,
        }
    }

    /// The signature a chunk whose data hashes to `data_sha256` must carry.
    pub fn chunk_signature(&self, data_sha256: &[u8; 32]) -> [u8; 32] {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}{}\n{}\n{}",
            self.prefix,
            hex::encode(self.previous),
            hex::encode(EMPTY_SHA256),
            hex::encode(data_sha256)
        );
        self.key.sign(string_to_sign.as_bytes())
    }

    /// Checks a chunk's signature; on a match the chain moves past it.
    pub fn verify_chunk(&mut self, data_sha256: &[u8; 32], provided: &[u8; 32]) -> bool {
        let expected = self.chunk_signature(data_sha256);
        let ok = same_mac(&expected, provided);
        if ok {
            self.previous = expected;
        }
        ok
    }

    /// Signs a chunk and moves past it: the client's side, for tests and
    /// for a proxy that re-signs.
    pub fn sign_chunk(&mut self, data_sha256: &[u8; 32]) -> [u8; 32] {
        self.previous = self.chunk_signature(data_sha256);
        self.previous
    }

    /// The signature of the trailer block, over its canonical form
    /// (`name:value\n` per trailer, sorted by name) and the final chunk's
    /// signature.
    pub fn trailer_signature(&self, canonical_trailers: &[u8]) -> [u8; 32] {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}{}\n{}",
            self.prefix,
            hex::encode(self.previous),
            hex::encode(sha256(canonical_trailers))
        );
        self.key.sign(string_to_sign.as_bytes())
    }

    pub fn verify_trailer(&self, canonical_trailers: &[u8], provided: &[u8; 32]) -> bool {
        same_mac(&self.trailer_signature(canonical_trailers), provided)
    }
}

impl fmt::Debug for SignatureChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureChain")
            .field("key", &self.key)
            .field("previous", &"<redacted>")
            .finish_non_exhaustive()
    }
}
