//! The forward direction: framing a body as `STREAMING-UNSIGNED-PAYLOAD-TRAILER`
//! (`hex\r\n<data>\r\n` ..., `0\r\n`, trailers, `\r\n`) so a proxy can send
//! it on unsigned, its checksum in a trailer.
//!
//! S3 refuses any chunk but the last under 8 KiB, and a proxy gets data in
//! whatever pieces the client's network made, so [`Encoder`] re-chunks to
//! a fixed size; [`encode_chunk`] and [`encode_final`] are the raw frames.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Checksum, ChecksumAlgorithm, S3_MIN_CHUNK_SIZE};

/// One chunk, `hex\r\n<data>\r\n`; nothing for no data (an empty chunk
/// would end the body).
pub fn encode_chunk(data: &[u8]) -> Bytes {
    if data.is_empty() {
        return Bytes::new();
    }
    let mut out = BytesMut::with_capacity(data.len() + 20);
    out.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.put_slice(data);
    out.put_slice(b"\r\n");
    out.freeze()
}

/// The end of the body: `0\r\n`, a `name:value\r\n` line per trailer, `\r\n`.
pub fn encode_final(trailers: &[(&str, &str)]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + trailers.len() * 64);
    out.put_slice(b"0\r\n");
    for (name, value) in trailers {
        out.put_slice(name.as_bytes());
        out.put_u8(b':');
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    out.freeze()
}

/// Re-chunks a body to a fixed chunk size, computing its checksum for the
/// trailer. Send it with `Content-Encoding: aws-chunked`,
/// `x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER`,
/// `x-amz-decoded-content-length`, and `x-amz-trailer` set to
/// [`Encoder::trailer_name`].
#[derive(Debug)]
pub struct Encoder {
    chunk_size: usize,
    pending: BytesMut,
    checksum: Option<Checksum>,
}

impl Encoder {
    /// `chunk_size` is raised to S3's 8 KiB minimum if below it.
    pub fn new(chunk_size: usize, checksum: Option<ChecksumAlgorithm>) -> Encoder {
        let chunk_size = chunk_size.max(S3_MIN_CHUNK_SIZE);
        Encoder {
            chunk_size,
            pending: BytesMut::with_capacity(chunk_size),
            checksum: checksum.map(Checksum::new),
        }
    }

    /// The `x-amz-trailer` value, when there is a checksum.
    pub fn trailer_name(&self) -> Option<&'static str> {
        self.checksum.as_ref().map(|c| c.algorithm().header_name())
    }

    /// Takes more of the body; gives the chunks it completed (maybe none).
    pub fn push(&mut self, data: &[u8]) -> Bytes {
        if let Some(checksum) = &mut self.checksum {
            checksum.update(data);
        }
        self.pending.extend_from_slice(data);
        let mut out = BytesMut::new();
        while self.pending.len() >= self.chunk_size {
            let chunk = self.pending.split_to(self.chunk_size);
            out.put(encode_chunk(&chunk));
        }
        out.freeze()
    }

    /// The rest: the last (short) chunk, the final chunk, the trailer.
    pub fn finish(self) -> Bytes {
        let mut out = BytesMut::new();
        out.put(encode_chunk(&self.pending));
        match self.checksum {
            Some(checksum) => {
                let name = checksum.algorithm().header_name();
                out.put(encode_final(&[(name, &checksum.finalize_base64())]));
            }
            None => out.put(encode_final(&[])),
        }
        out.freeze()
    }

    /// The encoded length of a body of `decoded_length` bytes, for the
    /// upstream request's `Content-Length`.
    pub fn encoded_length(
        decoded_length: u64,
        chunk_size: usize,
        checksum: Option<ChecksumAlgorithm>,
    ) -> u64 {
        let chunk_size = chunk_size.max(S3_MIN_CHUNK_SIZE) as u64;
        let framed = |len: u64| format!("{len:x}").len() as u64 + 2 + len + 2;
        let full = decoded_length / chunk_size;
        let rest = decoded_length % chunk_size;
        let mut total = full * framed(chunk_size);
        if rest > 0 {
            total += framed(rest);
        }
        total += 3; // 0\r\n
        if let Some(algorithm) = checksum {
            total += (algorithm.header_name().len() + 1 + algorithm.base64_len() + 2) as u64;
        }
        total + 2
    }
}
