//! The `aws-chunked` push decoder: a state machine over the caller's
//! buffer that takes what it can and asks for more.
//!
//! Wire forms (after the request head):
//! - signed: `hex;chunk-signature=SIG\r\n<data>\r\n` ..., then
//!   `0;chunk-signature=SIG\r\n\r\n`;
//! - signed with trailer: the same chunks, then `0;chunk-signature=SIG\r\n`,
//!   `name:value\r\n` lines, `x-amz-trailer-signature:SIG\r\n`, `\r\n`;
//! - unsigned with trailer: `hex\r\n<data>\r\n` ..., then `0\r\n`,
//!   `name:value\r\n` lines, `\r\n`.

use std::{fmt, mem};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::sigv4::{PayloadMode, SignatureChain, Verified};

use super::trailer::TrailerBlock;
use super::{Checksum, ChecksumAlgorithm, ChunkError, Event, Limits};

/// The longest chunk header or trailer line. A signed chunk header is
/// under 100 bytes; a checksum trailer under 80.
pub(super) const MAX_LINE: usize = 256;

/// Which `aws-chunked` form the body has, with the signature chain for
/// the signed ones.
#[derive(Debug, Clone)]
pub enum Framing {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`.
    Signed(SignatureChain),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
    SignedTrailer(SignatureChain),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    UnsignedTrailer,
}

/// Decodes one `aws-chunked` body.
///
/// Use: append what the client sends to a `BytesMut`, call
/// [`Decoder::next_event`] until it gives `Ok(None)` (more input needed),
/// read more, repeat; at the client's EOF call [`Decoder::finish`]. Keep
/// unconsumed bytes in the buffer: a signed chunk waits there, whole,
/// until its signature checks. After an error every call gives it again.
pub struct Decoder {
    chain: Option<SignatureChain>,
    trailers: bool,
    checksum: Option<Checksum>,
    limits: Limits,
    decoded_length: u64,
    /// Data bytes the chunk headers have announced so far.
    announced: u64,
    /// Non-empty chunks so far.
    chunks: u64,
    /// The size of the last chunk when it was under the minimum, which
    /// only the last chunk may be.
    short_chunk: Option<u64>,
    state: State,
}

enum State {
    Header,
    /// A signed chunk's data accumulating in the buffer, hashed as it comes.
    SignedData {
        size: usize,
        signature: [u8; 32],
        hasher: Sha256,
        hashed: usize,
    },
    /// An unsigned chunk's data, passed on as it comes.
    UnsignedData {
        remaining: u64,
    },
    /// The CRLF after a chunk's data (`then_end`: after the final chunk's).
    Crlf {
        then_end: bool,
    },
    Trailers(TrailerBlock),
    EmitTrailers(Vec<(String, String)>),
    EmitEnd,
    Done,
    Failed(ChunkError),
}

impl fmt::Debug for Decoder {
    /// Counts only: no signature, no data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("signed", &self.chain.is_some())
            .field("trailers", &self.trailers)
            .field("checksum", &self.checksum)
            .field("decoded_length", &self.decoded_length)
            .field("announced", &self.announced)
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder for a body of `decoded_length` bytes; `trailer` is the
    /// checksum `x-amz-trailer` declared (refused for [`Framing::Signed`],
    /// which has no trailers).
    pub fn new(
        framing: Framing,
        decoded_length: u64,
        trailer: Option<ChecksumAlgorithm>,
        limits: Limits,
    ) -> Result<Decoder, ChunkError> {
        let (chain, trailers) = match framing {
            Framing::Signed(chain) => (Some(chain), false),
            Framing::SignedTrailer(chain) => (Some(chain), true),
            Framing::UnsignedTrailer => (None, true),
        };
        if trailer.is_some() && !trailers {
            return Err(ChunkError::UnsupportedTrailer);
        }
        Ok(Decoder {
            chain,
            trailers,
            checksum: trailer.map(Checksum::new),
            limits,
            decoded_length,
            announced: 0,
            chunks: 0,
            short_chunk: None,
            state: State::Header,
        })
    }

    /// The decoder a verified request's body needs, from its
    /// `x-amz-decoded-content-length` and `x-amz-trailer`; `None` when the
    /// body is not `aws-chunked`.
    pub fn for_request(
        verified: &Verified,
        headers: &HeaderMap,
        limits: Limits,
    ) -> Result<Option<Decoder>, ChunkError> {
        let framing = match verified.payload {
            PayloadMode::StreamingSigned => Framing::Signed(verified.signature_chain()),
            PayloadMode::StreamingSignedTrailer => {
                Framing::SignedTrailer(verified.signature_chain())
            }
            PayloadMode::StreamingUnsignedTrailer => Framing::UnsignedTrailer,
            PayloadMode::Signed(_) | PayloadMode::Unsigned => return Ok(None),
        };
        let length = super::decoded_content_length(headers)?;
        let trailer = super::declared_trailer(headers)?;
        Decoder::new(framing, length, trailer, limits).map(Some)
    }

    /// The next event, or `Ok(None)` when `input` holds no more of one.
    pub fn next_event(&mut self, input: &mut BytesMut) -> Result<Option<Event>, ChunkError> {
        if let State::Failed(error) = &self.state {
            return Err(error.clone());
        }
        let result = self.step(input);
        if let Err(error) = &result {
            self.state = State::Failed(error.clone());
        }
        result
    }

    /// Every event `input` holds now.
    pub fn feed(&mut self, input: &mut BytesMut) -> Result<Vec<Event>, ChunkError> {
        let mut events = Vec::new();
        while let Some(event) = self.next_event(input)? {
            events.push(event);
        }
        Ok(events)
    }

    /// The client's body ended: `Ok` only if [`Event::End`] was given and
    /// nothing follows it.
    pub fn finish(&mut self, input: &BytesMut) -> Result<(), ChunkError> {
        let error = match &self.state {
            State::Done if input.is_empty() => return Ok(()),
            State::Failed(error) => return Err(error.clone()),
            State::Done => ChunkError::Malformed {
                detail: "data after the end of the body",
            },
            _ => ChunkError::Malformed {
                detail: "the body ended before its final chunk",
            },
        };
        self.state = State::Failed(error.clone());
        Err(error)
    }

    fn step(&mut self, input: &mut BytesMut) -> Result<Option<Event>, ChunkError> {
        loop {
            match &mut self.state {
                State::Header => {
                    let Some(line) = take_line(input)? else {
                        return Ok(None);
                    };
                    self.chunk_header(&line)?;
                }
                State::SignedData {
                    size,
                    signature,
                    hasher,
                    hashed,
                } => {
                    let size = *size;
                    let available = input.len().min(size);
                    if *hashed < available {
                        hasher.update(&input[*hashed..available]);
                        *hashed = available;
                    }
                    if !crlf_follows(input, size)? {
                        return Ok(None);
                    }
                    let sha: [u8; 32] = mem::take(hasher).finalize().into();
                    let chain = self.chain.as_mut().expect("signed data has a chain");
                    if !chain.verify_chunk(&sha, signature) {
                        return Err(ChunkError::SignatureDoesNotMatch);
                    }
                    let data = input.split_to(size).freeze();
                    input.advance(2);
                    self.state = State::Header;
                    return Ok(Some(self.release(data)));
                }
                State::UnsignedData { remaining } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let take = input
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.state = State::Crlf { then_end: false };
                    }
                    let data = input.split_to(take).freeze();
                    return Ok(Some(self.release(data)));
                }
                State::Crlf { then_end } => {
                    let then_end = *then_end;
                    if !crlf_follows(input, 0)? {
                        return Ok(None);
                    }
                    input.advance(2);
                    self.state = if then_end {
                        State::EmitEnd
                    } else {
                        State::Header
                    };
                }
                State::Trailers(block) => {
                    let Some(line) = take_line(input)? else {
                        return Ok(None);
                    };
                    if !line.is_empty() {
                        block.push(&line, self.chain.is_some())?;
                        continue;
                    }
                    let block = mem::take(block);
                    let trailers = block.finish(self.chain.as_ref(), self.checksum.take())?;
                    self.state = if trailers.is_empty() {
                        State::EmitEnd
                    } else {
                        State::EmitTrailers(trailers)
                    };
                }
                State::EmitTrailers(trailers) => {
                    let trailers = mem::take(trailers);
                    self.state = State::EmitEnd;
                    return Ok(Some(Event::Trailers(trailers)));
                }
                State::EmitEnd => {
                    if !input.is_empty() {
                        return Err(ChunkError::Malformed {
                            detail: "data after the end of the body",
                        });
                    }
                    self.state = State::Done;
                    return Ok(Some(Event::End));
                }
                State::Done => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    return Err(ChunkError::Malformed {
                        detail: "data after the end of the body",
                    });
                }
                State::Failed(error) => return Err(error.clone()),
            }
        }
    }

    /// Acts on a chunk header line: the next state, or the error.
    fn chunk_header(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        let (size, signature) = parse_chunk_header(line, self.chain.is_some())?;
        if size == 0 {
            if self.announced != self.decoded_length {
                return Err(ChunkError::DecodedLengthMismatch {
                    expected: self.decoded_length,
                    provided: self.announced,
                });
            }
            if let (Some(chain), Some(signature)) = (self.chain.as_mut(), signature) {
                let empty: [u8; 32] = Sha256::digest([]).into();
                if !chain.verify_chunk(&empty, &signature) {
                    return Err(ChunkError::SignatureDoesNotMatch);
                }
            }
            // The final chunk's (empty) data has its CRLF only when no
            // trailers follow: with trailers the block comes right after.
            self.state = if self.trailers {
                State::Trailers(TrailerBlock::default())
            } else {
                State::Crlf { then_end: true }
            };
            return Ok(());
        }
        let max = self.limits.max_chunk_size;
        let sized = usize::try_from(size).ok().filter(|&s| s <= max);
        let size_usize = sized.ok_or(ChunkError::ChunkTooLarge { size, max })?;
        if let Some(short) = self.short_chunk {
            return Err(ChunkError::ChunkTooSmall {
                chunk: self.chunks + 1,
                size: short,
            });
        }
        self.announced = self.announced.saturating_add(size);
        if self.announced > self.decoded_length {
            return Err(ChunkError::DecodedLengthMismatch {
                expected: self.decoded_length,
                provided: self.announced,
            });
        }
        self.chunks += 1;
        if size_usize < self.limits.min_chunk_size {
            self.short_chunk = Some(size);
        }
        self.state = match signature {
            Some(signature) => State::SignedData {
                size: size_usize,
                signature,
                hasher: Sha256::new(),
                hashed: 0,
            },
            None => State::UnsignedData { remaining: size },
        };
        Ok(())
    }

    fn release(&mut self, data: Bytes) -> Event {
        if let Some(checksum) = &mut self.checksum {
            checksum.update(&data);
        }
        Event::Data(data)
    }
}

/// Takes one CRLF-terminated line off `input` (without the CRLF), or
/// `None` if it is not all there yet. Lines are bounded: a client cannot
/// make the decoder wait on an endless one.
fn take_line(input: &mut BytesMut) -> Result<Option<BytesMut>, ChunkError> {
    let window = &input[..input.len().min(MAX_LINE + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(end) if end > 0 && window[end - 1] == b'\r' => {
            let mut line = input.split_to(end + 1);
            line.truncate(end - 1);
            Ok(Some(line))
        }
        Some(_) => Err(ChunkError::Malformed {
            detail: "a line ends in a bare LF",
        }),
        None if window.len() > MAX_LINE + 1 => Err(ChunkError::Malformed {
            detail: "a chunk header or trailer line is too long",
        }),
        None => Ok(None),
    }
}

/// Whether `input[at..at + 2]` is CRLF: `Ok(false)` while not all there,
/// an error as soon as what is there is something else.
fn crlf_follows(input: &[u8], at: usize) -> Result<bool, ChunkError> {
    let there = input.get(at..).unwrap_or_default();
    let there = &there[..there.len().min(2)];
    if there != &b"\r\n"[..there.len()] {
        return Err(ChunkError::Malformed {
            detail: "chunk data is not followed by CRLF",
        });
    }
    Ok(there.len() == 2)
}

/// `hex` (unsigned) or `hex;chunk-signature=<64 hex>` (signed); nothing
/// else, no other extension.
fn parse_chunk_header(line: &[u8], signed: bool) -> Result<(u64, Option<[u8; 32]>), ChunkError> {
    let malformed = |detail| ChunkError::Malformed { detail };
    let (size, extension) = match line.iter().position(|&b| b == b';') {
        Some(at) => (&line[..at], Some(&line[at + 1..])),
        None => (line, None),
    };
    if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(malformed("a chunk size is not hexadecimal"));
    }
    let size = size.iter().fold(0u64, |n, &d| {
        (n << 4) | u64::from(char::from(d).to_digit(16).unwrap_or(0))
    });
    match (signed, extension) {
        (false, None) => Ok((size, None)),
        (false, Some(_)) => Err(malformed("an unsigned chunk has an extension")),
        (true, None) => Err(malformed("a chunk has no chunk-signature")),
        (true, Some(extension)) => {
            let hex = extension
                .strip_prefix(b"chunk-signature=")
                .ok_or(malformed("a chunk extension is not chunk-signature"))?;
            let mut signature = [0; 32];
            hex::decode_to_slice(hex, &mut signature)
                .map_err(|_| malformed("a chunk-signature is not 64 hex digits"))?;
            Ok((size, Some(signature)))
        }
    }
}
