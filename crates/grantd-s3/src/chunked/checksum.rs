//! S3's flexible checksums (`x-amz-checksum-*`): the five algorithms, a
//! streaming computation, and the base64 value S3 exchanges. Used by the
//! decoder for trailers, and by the proxy for headers and re-encoding.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ChunkError;

/// One of the checksums S3 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// From a header or trailer name, `x-amz-checksum-crc32` etc.
    /// (case-insensitive).
    pub fn from_header_name(name: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.header_name().eq_ignore_ascii_case(name.trim()))
    }

    /// From S3's name for it, `CRC32` etc. (`x-amz-checksum-algorithm`,
    /// `x-amz-sdk-checksum-algorithm`; case-insensitive).
    pub fn from_name(name: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.name().eq_ignore_ascii_case(name.trim()))
    }

    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// S3's name, as its error messages and `x-amz-checksum-algorithm` use.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Length of the raw checksum in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// Length of the base64 value (what a trailer line carries).
    pub fn base64_len(self) -> usize {
        self.digest_len().div_ceil(3) * 4
    }
}

/// A checksum being computed over a stream.
#[derive(Clone)]
pub struct Checksum {
    algorithm: ChecksumAlgorithm,
    state: State,
}

#[derive(Clone)]
enum State {
    Crc(CrcDigest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Checksum {
    pub fn new(algorithm: ChecksumAlgorithm) -> Checksum {
        let state = match algorithm {
            ChecksumAlgorithm::Crc32 => State::Crc(CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc)),
            ChecksumAlgorithm::Crc32c => State::Crc(CrcDigest::new(CrcAlgorithm::Crc32Iscsi)),
            ChecksumAlgorithm::Crc64Nvme => State::Crc(CrcDigest::new(CrcAlgorithm::Crc64Nvme)),
            ChecksumAlgorithm::Sha1 => State::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => State::Sha256(Sha256::new()),
        };
        Checksum { algorithm, state }
    }

    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc(digest) => digest.update(data),
            State::Sha1(hasher) => Digest::update(hasher, data),
            State::Sha256(hasher) => Digest::update(hasher, data),
        }
    }

    /// The raw checksum, big-endian for the CRCs as S3 sends them.
    pub fn finalize(self) -> Vec<u8> {
        match self.state {
            State::Crc(digest) => {
                let value = digest.finalize();
                match self.algorithm {
                    ChecksumAlgorithm::Crc64Nvme => value.to_be_bytes().to_vec(),
                    // A 32-bit CRC sits in the low half.
                    _ => (value as u32).to_be_bytes().to_vec(),
                }
            }
            State::Sha1(hasher) => hasher.finalize().to_vec(),
            State::Sha256(hasher) => hasher.finalize().to_vec(),
        }
    }

    /// The checksum in base64, the form of `x-amz-checksum-*` values.
    pub fn finalize_base64(self) -> String {
        STANDARD.encode(self.finalize())
    }

    /// Holds the data to a sent base64 value: S3's `InvalidRequest` if the
    /// value is not one of this algorithm's, `BadDigest` if it differs.
    pub fn verify(self, sent: &str) -> Result<(), ChunkError> {
        let algorithm = self.algorithm;
        let sent = STANDARD
            .decode(sent.trim())
            .ok()
            .filter(|raw| raw.len() == algorithm.digest_len())
            .ok_or(ChunkError::InvalidChecksumValue { algorithm })?;
        if bool::from(self.finalize().ct_eq(&sent)) {
            Ok(())
        } else {
            Err(ChunkError::BadDigest { algorithm })
        }
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checksum")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}
