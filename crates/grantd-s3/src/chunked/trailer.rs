//! The trailer block after the final chunk: `name:value` lines, in the
//! signed mode an `x-amz-trailer-signature` line, then an empty line.
//! Checked in S3's order: well-formed, signed (when signed), the declared
//! checksum present, its value well-formed, its value right.

use crate::sigv4::SignatureChain;

use super::{Checksum, ChecksumAlgorithm, ChunkError};

/// At most this many trailer lines: S3 takes one checksum (and the
/// signature); a few more are refused by name, a flood by count.
pub(super) const MAX_TRAILERS: usize = 8;

const SIGNATURE: &str = "x-amz-trailer-signature";

/// The trailer lines read so far.
#[derive(Default)]
pub(super) struct TrailerBlock {
    lines: Vec<(String, String)>,
    /// `Some(None)`: a signature line that is not 64 hex digits.
    signature: Option<Option<[u8; 32]>>,
}

impl TrailerBlock {
    /// Takes one line (without its CRLF).
    pub(super) fn push(&mut self, line: &[u8], signed: bool) -> Result<(), ChunkError> {
        let malformed = |detail| ChunkError::MalformedTrailer { detail };
        let line = std::str::from_utf8(line)
            .ok()
            .filter(|line| {
                line.bytes()
                    .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t')
            })
            .ok_or(malformed("a trailer line is not visible ASCII"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or(malformed("a trailer line has no colon"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        let token = |b: u8| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(malformed("a trailer name is not a header name"));
        }
        if name == SIGNATURE {
            if !signed {
                return Err(malformed("an unsigned body carries a trailer signature"));
            }
            let mut signature = [0; 32];
            let parsed = hex::decode_to_slice(&value, &mut signature)
                .ok()
                .map(|()| signature);
            if self.signature.replace(parsed).is_some() {
                return Err(malformed("the trailer signature appears twice"));
            }
            return Ok(());
        }
        if self.lines.iter().any(|(seen, _)| *seen == name) {
            return Err(malformed("a trailer appears twice"));
        }
        if self.lines.len() >= MAX_TRAILERS {
            return Err(malformed("too many trailers"));
        }
        self.lines.push((name, value));
        Ok(())
    }

    /// Checks the complete block and gives its trailers. `chain` is the
    /// signature chain in the signed mode (past the final chunk);
    /// `checksum` the data's checksum when `x-amz-trailer` declared one.
    pub(super) fn finish(
        mut self,
        chain: Option<&SignatureChain>,
        checksum: Option<Checksum>,
    ) -> Result<Vec<(String, String)>, ChunkError> {
        self.lines.sort_unstable();
        if let Some(chain) = chain {
            let Some(signature) = self.signature else {
                return Err(ChunkError::Malformed {
                    detail: "the trailer block lacks x-amz-trailer-signature",
                });
            };
            // The SDKs sign the trailers as canonical headers: sorted,
            // `name:value\n` each.
            let mut canonical = Vec::new();
            for (name, value) in &self.lines {
                canonical.extend_from_slice(name.as_bytes());
                canonical.push(b':');
                canonical.extend_from_slice(value.as_bytes());
                canonical.push(b'\n');
            }
            let signed = signature.is_some_and(|s| chain.verify_trailer(&canonical, &s));
            if !signed {
                return Err(ChunkError::SignatureDoesNotMatch);
            }
        }
        let declared = checksum.as_ref().map(Checksum::algorithm);
        for (name, _) in &self.lines {
            if ChecksumAlgorithm::from_header_name(name).is_none_or(|a| Some(a) != declared) {
                return Err(ChunkError::MalformedTrailer {
                    detail: "a trailer is not the checksum x-amz-trailer declared",
                });
            }
        }
        if let Some(checksum) = checksum {
            let Some((_, value)) = self.lines.first() else {
                return Err(ChunkError::MalformedTrailer {
                    detail: "the checksum x-amz-trailer declared is missing",
                });
            };
            checksum.verify(value)?;
        }
        Ok(self.lines)
    }
}
