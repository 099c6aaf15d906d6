//! What `x-amz-content-sha256` says of the body, and the hasher that holds
//! a signed body to it.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AuthError;

const UNSIGNED: &str = "UNSIGNED-PAYLOAD";
const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// How the body is covered by the signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// The body's SHA-256: the caller hashes the body ([`PayloadHasher`])
    /// and refuses it at the end if it differs.
    Signed([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: `aws-chunked`, every chunk
    /// signed (see [`crate::chunked`]).
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: as above, then a signed
    /// trailer block.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `aws-chunked`, unsigned, a
    /// checksum trailer at the end.
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// Reads an `x-amz-content-sha256` value; anything else S3 refuses.
    pub fn parse(value: &str) -> Result<PayloadMode, AuthError> {
        Ok(match value {
            UNSIGNED => PayloadMode::Unsigned,
            STREAMING_SIGNED => PayloadMode::StreamingSigned,
            STREAMING_SIGNED_TRAILER => PayloadMode::StreamingSignedTrailer,
            STREAMING_UNSIGNED_TRAILER => PayloadMode::StreamingUnsignedTrailer,
            hash => {
                let mut sha = [0; 32];
                hex::decode_to_slice(hash, &mut sha).map_err(|_| AuthError::InvalidArgument {
                    message: "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, \
                        STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, \
                        STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value."
                        .into(),
                })?;
                PayloadMode::Signed(sha)
            }
        })
    }

    /// Whether the body is `aws-chunked`.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSigned
                | PayloadMode::StreamingSignedTrailer
                | PayloadMode::StreamingUnsignedTrailer
        )
    }

    /// The `x-amz-content-sha256` value (lower-case hex for a hash).
    pub fn header_value(&self) -> String {
        match self {
            PayloadMode::Signed(sha) => hex::encode(sha),
            PayloadMode::Unsigned => UNSIGNED.to_owned(),
            PayloadMode::StreamingSigned => STREAMING_SIGNED.to_owned(),
            PayloadMode::StreamingSignedTrailer => STREAMING_SIGNED_TRAILER.to_owned(),
            PayloadMode::StreamingUnsignedTrailer => STREAMING_UNSIGNED_TRAILER.to_owned(),
        }
    }
}

impl fmt::Debug for PayloadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadMode::Signed(sha) => write!(f, "Signed({})", hex::encode(sha)),
            PayloadMode::Unsigned => f.write_str("Unsigned"),
            PayloadMode::StreamingSigned => f.write_str("StreamingSigned"),
            PayloadMode::StreamingSignedTrailer => f.write_str("StreamingSignedTrailer"),
            PayloadMode::StreamingUnsignedTrailer => f.write_str("StreamingUnsignedTrailer"),
        }
    }
}

/// Hashes a body as it streams and says at the end whether it is the one
/// `x-amz-content-sha256` promised. The caller must not let the upstream
/// request complete before [`PayloadHasher::finish`] says it is.
#[derive(Clone)]
pub struct PayloadHasher {
    expected: [u8; 32],
    hasher: Sha256,
    length: u64,
}

impl PayloadHasher {
    pub fn new(expected: [u8; 32]) -> PayloadHasher {
        PayloadHasher {
            expected,
            hasher: Sha256::new(),
            length: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.length += data.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// `Ok` if the body matched, else S3's `XAmzContentSHA256Mismatch`.
    pub fn finish(self) -> Result<(), AuthError> {
        let actual: [u8; 32] = self.hasher.finalize().into();
        if bool::from(actual.ct_eq(&self.expected)) {
            Ok(())
        } else {
            Err(AuthError::XAmzContentSHA256Mismatch)
        }
    }
}

impl fmt::Debug for PayloadHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadHasher")
            .field("expected", &hex::encode(self.expected))
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}
