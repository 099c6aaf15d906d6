//! The decoder's outcome does not depend on how the network split the
//! body: every two-piece split, byte-at-a-time, and random multi-way splits
//! (a fixed LCG, so failures reproduce) all give the same data, trailers,
//! end and error, for good bodies and bad ones.

use bytes::BytesMut;
use grantd_s3::chunked::{ChecksumAlgorithm, ChunkError, Decoder, Encoder, Event, Framing, Limits};
use grantd_s3::sigv4::{SecretKey, SignatureChain, SigningKey};
use sha2::{Digest, Sha256};

const LENIENT: Limits = Limits {
    max_chunk_size: 1 << 20,
    min_chunk_size: 0,
};

fn chain() -> SignatureChain {
    let key = SigningKey::derive(
        &SecretKey::new("split-test-secret"),
        "20250101",
        "eu-west-1",
        "s3",
    );
    SignatureChain::new(
        key,
        "20250101T000000Z",
        "20250101/eu-west-1/s3/aws4_request",
        [7; 32],
    )
}

/// A signed body of `chunks`, its trailer block (if any) signed too.
fn signed_body(chunks: &[&[u8]], trailer: Option<&str>) -> Vec<u8> {
    let mut chain = chain();
    let mut body = Vec::new();
    for data in chunks.iter().chain([&&b""[..]]) {
        let signature = chain.sign_chunk(&Sha256::digest(data).into());
        body.extend_from_slice(
            format!(
                "{:x};chunk-signature={}\r\n",
                data.len(),
                hex::encode(signature)
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        if !data.is_empty() || trailer.is_none() {
            body.extend_from_slice(b"\r\n");
        }
    }
    if let Some(line) = trailer {
        let signature = chain.trailer_signature(format!("{line}\n").as_bytes());
        body.extend_from_slice(
            format!(
                "{line}\r\nx-amz-trailer-signature:{}\r\n\r\n",
                hex::encode(signature)
            )
            .as_bytes(),
        );
    }
    body
}

/// What a decoding produced, independent of how the data was cut up.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    data: Vec<u8>,
    trailers: Vec<Vec<(String, String)>>,
    ended: bool,
    result: Result<(), ChunkError>,
}

fn decode(make: &dyn Fn() -> Decoder, body: &[u8], cuts: &[usize]) -> Outcome {
    let mut decoder = make();
    let mut outcome = Outcome {
        data: Vec::new(),
        trailers: Vec::new(),
        ended: false,
        result: Ok(()),
    };
    let mut input = BytesMut::new();
    let mut start = 0;
    for &cut in cuts.iter().chain([&body.len()]) {
        input.extend_from_slice(&body[start..cut]);
        start = cut;
        loop {
            match decoder.next_event(&mut input) {
                Ok(Some(Event::Data(data))) => outcome.data.extend_from_slice(&data),
                Ok(Some(Event::Trailers(trailers))) => outcome.trailers.push(trailers),
                Ok(Some(Event::End)) => outcome.ended = true,
                Ok(None) => break,
                Err(error) => {
                    outcome.result = Err(error);
                    return outcome;
                }
            }
        }
    }
    outcome.result = decoder.finish(&input);
    outcome
}

/// Every split into two pieces, and one byte at a time.
fn assert_split_independent(make: &dyn Fn() -> Decoder, body: &[u8]) -> Outcome {
    let whole = decode(make, body, &[]);
    for cut in 0..=body.len() {
        assert_eq!(decode(make, body, &[cut]), whole, "split at {cut}");
    }
    let every: Vec<usize> = (1..body.len()).collect();
    assert_eq!(decode(make, body, &every), whole, "byte at a time");
    whole
}

/// `count` random splits into up to 12 pieces, from a fixed LCG.
fn assert_random_splits(make: &dyn Fn() -> Decoder, body: &[u8], count: usize) -> Outcome {
    let whole = decode(make, body, &[]);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    for round in 0..count {
        let pieces = 1 + next() as usize % 12;
        let mut cuts: Vec<usize> = (0..pieces)
            .map(|_| next() as usize % (body.len() + 1))
            .collect();
        cuts.sort_unstable();
        assert_eq!(
            decode(make, body, &cuts),
            whole,
            "round {round}: cuts {cuts:?}"
        );
    }
    whole
}

#[test]
fn a_signed_body_decodes_the_same_however_it_is_split() {
    let body = signed_body(
        &[&[b'x'; 100], b"and 37 more bytes of the second one.."],
        None,
    );
    let make = || Decoder::new(Framing::Signed(chain()), 137, None, LENIENT).unwrap();
    let outcome = assert_split_independent(&make, &body);
    assert_eq!(outcome.result, Ok(()));
    assert!(outcome.ended);
    assert_eq!(outcome.data.len(), 137);
}

#[test]
fn a_signed_trailer_body_decodes_the_same_however_it_is_split() {
    let data = b"hello world";
    let body = signed_body(&[data], Some("x-amz-checksum-crc32:DUoRhQ=="));
    let crc32 = Some(ChecksumAlgorithm::Crc32);
    let make = || Decoder::new(Framing::SignedTrailer(chain()), 11, crc32, LENIENT).unwrap();
    let outcome = assert_split_independent(&make, &body);
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(
        outcome.trailers,
        [vec![(
            "x-amz-checksum-crc32".to_owned(),
            "DUoRhQ==".to_owned()
        )]]
    );
}

#[test]
fn an_unsigned_trailer_body_decodes_the_same_however_it_is_split() {
    let data: Vec<u8> = (0..300u16).map(|i| (i * 7) as u8).collect();
    let mut encoder = Encoder::new(0, Some(ChecksumAlgorithm::Crc64Nvme));
    let mut body = encoder.push(&data).to_vec();
    body.extend_from_slice(&encoder.finish());
    let crc64 = Some(ChecksumAlgorithm::Crc64Nvme);
    let make = || Decoder::new(Framing::UnsignedTrailer, 300, crc64, LENIENT).unwrap();
    let outcome = assert_split_independent(&make, &body);
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.data, data);
}

#[test]
fn bad_bodies_fail_the_same_however_they_are_split() {
    // A forged second chunk: the first chunk out, then the refusal.
    let mut body = signed_body(&[&[b'x'; 100], &[b'y'; 50]], None);
    let at = body.len() - 100;
    body[at] ^= 1;
    let make = || Decoder::new(Framing::Signed(chain()), 150, None, LENIENT).unwrap();
    let outcome = assert_split_independent(&make, &body);
    assert_eq!(outcome.result, Err(ChunkError::SignatureDoesNotMatch));
    assert_eq!(outcome.data, [b'x'; 100]);
    // A wrong unsigned checksum: all data, no end.
    let body = b"b\r\nhello world\r\n0\r\nx-amz-checksum-sha1:Kq5sNclPz7QV2+lfQIuc6R7pRu0=\r\n\r\n";
    let make = || {
        Decoder::new(
            Framing::UnsignedTrailer,
            11,
            Some(ChecksumAlgorithm::Sha1),
            LENIENT,
        )
        .unwrap()
    };
    let outcome = assert_split_independent(&make, body);
    assert_eq!(outcome.result.unwrap_err().code(), "BadDigest");
    assert!(!outcome.ended);
}

#[test]
fn a_large_body_decodes_the_same_under_random_splits() {
    let chunks: Vec<Vec<u8>> = (0..5u8)
        .map(|i| vec![i; 20_000 + usize::from(i) * 1111])
        .collect();
    let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    let total: usize = chunks.iter().map(Vec::len).sum();
    let body = signed_body(&refs, Some("x-amz-checksum-crc32c:placeholder"));
    // The trailer value is not base64 on purpose: the same InvalidRequest
    // however the body is split, after all the data.
    let make = || {
        Decoder::new(
            Framing::SignedTrailer(chain()),
            total as u64,
            Some(ChecksumAlgorithm::Crc32c),
            Limits::default(),
        )
        .unwrap()
    };
    let outcome = assert_random_splits(&make, &body, 40);
    assert_eq!(outcome.data.len(), total);
    assert_eq!(outcome.result.unwrap_err().code(), "InvalidRequest");
}
