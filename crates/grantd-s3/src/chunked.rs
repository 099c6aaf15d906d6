//! `aws-chunked` request bodies: decoding them as they stream in, with
//! every chunk signature, trailer signature, checksum and length checked
//! the way S3 does; and encoding a body the other way, unsigned with a
//! checksum trailer, to send it on.
//!
//! The decoder is a push parser over the caller's buffer ([`Decoder`]);
//! memory per request is bounded by one chunk ([`Limits`]) plus short,
//! bounded lines. In the signed modes a chunk's bytes come out only after
//! its signature checked; in every mode [`Event::End`] comes only after the
//! whole body checked, so a proxy that holds back its own last bytes until
//! then never completes an upload S3 would have refused.

mod checksum;
mod decoder;
mod encoder;
#[cfg(test)]
mod tests;
mod trailer;

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

pub use checksum::{Checksum, ChecksumAlgorithm};
pub use decoder::{Decoder, Framing};
pub use encoder::{Encoder, encode_chunk, encode_final};

/// What the decoder yields, in order: data, then the trailers (when
/// there are any), then the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Decoded body bytes (in the signed modes, a whole verified chunk).
    Data(Bytes),
    /// The trailers, verified: lower-case names, trimmed values, without
    /// `x-amz-trailer-signature`.
    Trailers(Vec<(String, String)>),
    /// The body is complete and every check passed.
    End,
}

/// Bounds on what a client can make the decoder hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest chunk accepted. A signed chunk is held whole until its
    /// signature checks, so this is the memory one request can pin.
    pub max_chunk_size: usize,
    /// S3's rule: every chunk but the last carries at least this much
    /// (8 KiB). 0 turns the rule off.
    pub min_chunk_size: usize,
}

/// 16 MiB: well above what SDKs send (64 KiB to 1 MiB), well below what
/// a daemon can afford per upload.
pub const DEFAULT_MAX_CHUNK_SIZE: usize = 16 << 20;
/// S3's smallest chunk but the last.
pub const S3_MIN_CHUNK_SIZE: usize = 8192;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_chunk_size: DEFAULT_MAX_CHUNK_SIZE,
            min_chunk_size: S3_MIN_CHUNK_SIZE,
        }
    }
}

/// Why a body was refused; each variant knows S3's code and status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Broken framing, or a body that stopped short (S3: `IncompleteBody`).
    /// `detail` says what was wrong, for logs.
    #[error("The request body terminated unexpectedly")]
    Malformed { detail: &'static str },
    /// The decoded body is not `x-amz-decoded-content-length` long
    /// (S3: `IncompleteBody`). `provided` is a lower bound when too long.
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header")]
    DecodedLengthMismatch { expected: u64, provided: u64 },
    /// A chunk other than the last was under 8 KiB: `size` is its size,
    /// `chunk` the (1-based) number of the chunk after it, as S3 reports.
    #[error("Only the last chunk is allowed to have a size less than 8192 bytes")]
    ChunkTooSmall { chunk: u64, size: u64 },
    /// A chunk over [`Limits::max_chunk_size`] (this endpoint's bound).
    #[error("Chunk size {size} exceeds the maximum of {max} bytes")]
    ChunkTooLarge { size: u64, max: usize },
    /// A chunk or trailer signature does not continue the chain.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your key and signing method."
    )]
    SignatureDoesNotMatch,
    /// Trailers that are not the declared checksum, or not well-formed.
    #[error(
        "The request contained trailing data that was not well-formed or did not conform \
         to our published schema."
    )]
    MalformedTrailer { detail: &'static str },
    /// A checksum trailer whose value is not base64 of the right length.
    #[error("Value for {} trailing header is invalid.", .algorithm.header_name())]
    InvalidChecksumValue { algorithm: ChecksumAlgorithm },
    /// The body's checksum differs from the trailer's.
    #[error("The {} you specified did not match the calculated checksum.", .algorithm.name())]
    BadDigest { algorithm: ChecksumAlgorithm },
    /// No usable `x-amz-decoded-content-length` (S3: `MissingContentLength`).
    #[error("You must provide the Content-Length HTTP header.")]
    MissingDecodedContentLength,
    /// An `x-amz-trailer` that names no supported checksum, or one with a
    /// body mode that has no trailers.
    #[error("The value specified in the x-amz-trailer header is not supported")]
    UnsupportedTrailer,
}

impl ChunkError {
    /// S3's `<Code>`.
    pub fn code(&self) -> &'static str {
        match self {
            ChunkError::Malformed { .. } | ChunkError::DecodedLengthMismatch { .. } => {
                "IncompleteBody"
            }
            ChunkError::ChunkTooSmall { .. } | ChunkError::ChunkTooLarge { .. } => {
                "InvalidChunkSizeError"
            }
            ChunkError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ChunkError::MalformedTrailer { .. } => "MalformedTrailerError",
            ChunkError::InvalidChecksumValue { .. } | ChunkError::UnsupportedTrailer => {
                "InvalidRequest"
            }
            ChunkError::BadDigest { .. } => "BadDigest",
            ChunkError::MissingDecodedContentLength => "MissingContentLength",
        }
    }

    /// S3's HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ChunkError::SignatureDoesNotMatch => StatusCode::FORBIDDEN,
            ChunkError::MissingDecodedContentLength => StatusCode::LENGTH_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// What exactly was wrong, beyond S3's message (for logs).
    pub fn detail(&self) -> Option<Cow<'static, str>> {
        match self {
            ChunkError::Malformed { detail } | ChunkError::MalformedTrailer { detail } => {
                Some(Cow::Borrowed(detail))
            }
            ChunkError::DecodedLengthMismatch { expected, provided } => Some(Cow::Owned(format!(
                "expected {expected} decoded bytes, got {provided}"
            ))),
            ChunkError::ChunkTooSmall { chunk, size } => {
                Some(Cow::Owned(format!("chunk {chunk} has {size} bytes")))
            }
            _ => None,
        }
    }
}

/// `x-amz-decoded-content-length`, which every `aws-chunked` body needs.
pub fn decoded_content_length(headers: &HeaderMap) -> Result<u64, ChunkError> {
    let value = headers
        .get("x-amz-decoded-content-length")
        .and_then(|value| value.to_str().ok())
        .ok_or(ChunkError::MissingDecodedContentLength)?;
    if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ChunkError::MissingDecodedContentLength);
    }
    value
        .parse()
        .map_err(|_| ChunkError::MissingDecodedContentLength)
}

/// The checksum `x-amz-trailer` declares, if any. S3 takes one checksum
/// trailer; anything else is refused.
pub fn declared_trailer(headers: &HeaderMap) -> Result<Option<ChecksumAlgorithm>, ChunkError> {
    let mut values = headers.get_all("x-amz-trailer").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ChunkError::UnsupportedTrailer);
    }
    let value = value.to_str().map_err(|_| ChunkError::UnsupportedTrailer)?;
    ChecksumAlgorithm::from_header_name(value)
        .map(Some)
        .ok_or(ChunkError::UnsupportedTrailer)
}
