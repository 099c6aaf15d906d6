//! AWS's published chunked uploads, and every way a body is refused.

mod trailers;

use bytes::{Bytes, BytesMut};
use http::StatusCode;

use super::*;
use crate::sigv4::{SecretKey, SignatureChain, SigningKey};

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const SIGNATURES: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];
const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
const TRAILER_SIGNATURES: [&str; 3] = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
];
const TRAILER_BLOCK: &str = "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:\
    d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n";

fn chain(seed: &str) -> SignatureChain {
    let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    let key = SigningKey::derive(&secret, "20130524", "us-east-1", "s3");
    let mut seed_bytes = [0; 32];
    hex::decode_to_slice(seed, &mut seed_bytes).unwrap();
    SignatureChain::new(
        key,
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
        seed_bytes,
    )
}

/// The documented body: 64 KiB and 1 KiB of `a`, then the final chunk.
fn documented_body(signatures: [&str; 3], trailer: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    for (len, signature) in [(65_536, signatures[0]), (1024, signatures[1])] {
        body.extend_from_slice(format!("{len:x};chunk-signature={signature}\r\n").as_bytes());
        body.extend(std::iter::repeat_n(b'a', len));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("0;chunk-signature={}\r\n", signatures[2]).as_bytes());
    body.extend_from_slice(trailer.unwrap_or("\r\n").as_bytes());
    body
}

/// Feeds `body` in pieces of `step` bytes; the events up to the first
/// error, and that error (or the result of `finish`).
fn run(mut decoder: Decoder, body: &[u8], step: usize) -> (Vec<Event>, Result<(), ChunkError>) {
    let mut events = Vec::new();
    let mut input = BytesMut::new();
    for piece in body.chunks(step.max(1)) {
        input.extend_from_slice(piece);
        loop {
            match decoder.next_event(&mut input) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => return (events, Err(error)),
            }
        }
    }
    let end = decoder.finish(&input);
    (events, end)
}

fn data_of(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Data(data) => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn signed(decoded_length: u64) -> Decoder {
    Decoder::new(
        Framing::Signed(chain(SEED)),
        decoded_length,
        None,
        Limits::default(),
    )
    .unwrap()
}

fn unsigned(decoded_length: u64, trailer: Option<ChecksumAlgorithm>) -> Decoder {
    Decoder::new(
        Framing::UnsignedTrailer,
        decoded_length,
        trailer,
        Limits::default(),
    )
    .unwrap()
}

#[test]
fn the_documented_signed_body_decodes_chunk_by_chunk() {
    let body = documented_body(SIGNATURES, None);
    assert_eq!(body.len(), 66_824);
    let (events, end) = run(signed(66_560), &body, 8192);
    end.unwrap();
    assert_eq!(events.len(), 3);
    assert!(matches!(&events[0], Event::Data(d) if d.len() == 65_536));
    assert!(matches!(&events[1], Event::Data(d) if d.len() == 1024));
    assert_eq!(events[2], Event::End);
    assert_eq!(data_of(&events), vec![b'a'; 66_560]);
}

#[test]
fn the_documented_trailer_body_decodes_with_its_crc32c() {
    let body = documented_body(TRAILER_SIGNATURES, Some(TRAILER_BLOCK));
    assert_eq!(body.len(), 66_946);
    let framing = Framing::SignedTrailer(chain(TRAILER_SEED));
    let decoder = Decoder::new(
        framing,
        66_560,
        Some(ChecksumAlgorithm::Crc32c),
        Limits::default(),
    )
    .unwrap();
    let (events, end) = run(decoder, &body, 1000);
    end.unwrap();
    assert_eq!(data_of(&events), vec![b'a'; 66_560]);
    let tail = &events[events.len() - 2..];
    let crc = ("x-amz-checksum-crc32c".to_owned(), "sOO8/Q==".to_owned());
    assert_eq!(tail, [Event::Trailers(vec![crc]), Event::End]);
}

#[test]
fn a_forged_chunk_signature_is_refused_before_its_bytes() {
    // The second chunk's data altered: the first chunk comes out, not the second.
    let mut body = documented_body(SIGNATURES, None);
    body[65_536 + 200] = b'b';
    let (events, end) = run(signed(66_560), &body, 4096);
    assert_eq!(end, Err(ChunkError::SignatureDoesNotMatch));
    assert_eq!(data_of(&events), vec![b'a'; 65_536]);
    // The first chunk's signature altered: nothing comes out.
    let forged = SIGNATURES[0].replace('a', "b");
    let body = documented_body([&forged, SIGNATURES[1], SIGNATURES[2]], None);
    let (events, end) = run(signed(66_560), &body, 100_000);
    assert!(events.is_empty());
    let error = end.unwrap_err();
    assert_eq!(
        (error.code(), error.status()),
        ("SignatureDoesNotMatch", StatusCode::FORBIDDEN)
    );
    // A forged final chunk: all data, but no end.
    let body = documented_body([SIGNATURES[0], SIGNATURES[1], SIGNATURES[0]], None);
    let (events, end) = run(signed(66_560), &body, 100_000);
    assert_eq!(end, Err(ChunkError::SignatureDoesNotMatch));
    assert!(!events.contains(&Event::End));
}

#[test]
fn a_decoder_prints_no_signature() {
    let mut decoder = signed(66_560);
    let body = documented_body(SIGNATURES, None);
    // Mid-chunk: the chunk's signature is held.
    decoder
        .next_event(&mut BytesMut::from(&body[..1000]))
        .unwrap();
    let printed = format!("{decoder:?}");
    assert!(
        !printed.contains(&SIGNATURES[0][..16]) && !printed.contains(&SEED[..16]),
        "{printed}"
    );
}

#[test]
fn a_truncated_body_is_incomplete_at_eof() {
    let body = documented_body(SIGNATURES, None);
    for cut in [
        1,
        2,
        100,
        1200,
        body.len() - 70_000_usize.min(body.len() - 1),
    ] {
        let (events, end) = run(signed(66_560), &body[..body.len() - cut], 4096);
        assert!(!events.contains(&Event::End));
        let error = end.unwrap_err();
        assert_eq!(
            (error.code(), error.status()),
            ("IncompleteBody", StatusCode::BAD_REQUEST)
        );
    }
}

#[test]
fn broken_framing_is_incomplete_body() {
    let good_sig = format!(";chunk-signature={}", SIGNATURES[0]);
    let cases: Vec<(Decoder, Vec<u8>)> = vec![
        (unsigned(5, None), b"zz\r\nhello\r\n0\r\n\r\n".to_vec()),
        (unsigned(5, None), b"5\r\nhelloXY0\r\n\r\n".to_vec()),
        (unsigned(5, None), b"5;ext=1\r\nhello\r\n0\r\n\r\n".to_vec()),
        (unsigned(5, None), b"5\nhello\r\n0\r\n\r\n".to_vec()),
        (unsigned(5, None), b"5\r\nhello\r\n0\r\n\r\nextra".to_vec()),
        (unsigned(5, None), b"+5\r\nhello\r\n0\r\n\r\n".to_vec()),
        (unsigned(5, None), b"\r\nhello\r\n0\r\n\r\n".to_vec()),
        (signed(5), b"5\r\nhello\r\n".to_vec()),
        (signed(5), b"5;chunk-signature=abc\r\nhello\r\n".to_vec()),
        (
            signed(5),
            format!("5;chunk-signature:{}\r\nhello\r\n", SIGNATURES[0]).into_bytes(),
        ),
        (
            signed(5),
            format!("5{good_sig};x=y\r\nhello\r\n").into_bytes(),
        ),
    ];
    for (decoder, body) in cases {
        let (events, end) = run(decoder, &body, 3);
        let error = end.unwrap_err();
        assert_eq!(
            error.code(),
            "IncompleteBody",
            "{:?}",
            String::from_utf8_lossy(&body)
        );
        // Junk after a complete body may come after the end was given.
        assert!(body.ends_with(b"extra") || !events.contains(&Event::End));
    }
    // Junk already there when the end is due: no end.
    let mut input = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\nextra"[..]);
    let mut decoder = Decoder::new(
        Framing::UnsignedTrailer,
        5,
        None,
        Limits {
            max_chunk_size: 64,
            min_chunk_size: 0,
        },
    )
    .unwrap();
    assert_eq!(
        decoder.next_event(&mut input),
        Ok(Some(Event::Data(Bytes::from_static(b"hello"))))
    );
    assert_eq!(
        decoder.next_event(&mut input).unwrap_err().code(),
        "IncompleteBody"
    );
}

#[test]
fn an_oversized_chunk_is_refused_before_any_of_it_is_buffered() {
    let limits = Limits {
        max_chunk_size: 1024,
        min_chunk_size: 0,
    };
    let mut decoder = Decoder::new(Framing::Signed(chain(SEED)), 66_560, None, limits).unwrap();
    let header = format!("10000;chunk-signature={}\r\n", SIGNATURES[0]);
    let error = decoder
        .next_event(&mut BytesMut::from(header.as_bytes()))
        .unwrap_err();
    assert_eq!(
        error,
        ChunkError::ChunkTooLarge {
            size: 65_536,
            max: 1024
        }
    );
    assert_eq!(
        (error.code(), error.status()),
        ("InvalidChunkSizeError", StatusCode::BAD_REQUEST)
    );
    let huge = b"ffffffffffffffff\r\n";
    let error = unsigned(u64::MAX, None)
        .next_event(&mut BytesMut::from(&huge[..]))
        .unwrap_err();
    assert_eq!(error.code(), "InvalidChunkSizeError");
}

#[test]
fn an_endless_header_line_is_refused_before_its_end() {
    let mut input = BytesMut::from(&[b'1'; 300][..]);
    let error = unsigned(5, None).next_event(&mut input).unwrap_err();
    assert_eq!(error.code(), "IncompleteBody");
    assert!(error.detail().unwrap().contains("too long"));
    // A trailer line too.
    let mut body = b"0\r\nx-amz-checksum-crc32:".to_vec();
    body.extend_from_slice(&[b'A'; 300]);
    let (_, end) = run(unsigned(0, Some(ChecksumAlgorithm::Crc32)), &body, 7);
    assert_eq!(end.unwrap_err().code(), "IncompleteBody");
}

#[test]
fn a_wrong_decoded_length_is_refused_as_soon_as_it_shows() {
    let body = documented_body(SIGNATURES, None);
    // Too long a body: refused at the first header that overshoots.
    let (events, end) = run(signed(66_000), &body, 100_000);
    assert_eq!(
        end,
        Err(ChunkError::DecodedLengthMismatch {
            expected: 66_000,
            provided: 66_560
        })
    );
    assert_eq!(data_of(&events).len(), 65_536);
    // Too short a body: refused at the final chunk, before the end.
    let (events, end) = run(signed(70_000), &body, 100_000);
    let error = end.unwrap_err();
    assert_eq!(
        error,
        ChunkError::DecodedLengthMismatch {
            expected: 70_000,
            provided: 66_560
        }
    );
    assert_eq!(
        (error.code(), error.status()),
        ("IncompleteBody", StatusCode::BAD_REQUEST)
    );
    assert!(!events.contains(&Event::End));
}

#[test]
fn only_the_last_chunk_may_be_under_8_kib() {
    let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let (_, end) = run(unsigned(11, None), body, 64);
    let error = end.unwrap_err();
    assert_eq!(error, ChunkError::ChunkTooSmall { chunk: 2, size: 5 });
    assert_eq!(error.code(), "InvalidChunkSizeError");
    let lenient = Limits {
        max_chunk_size: 1024,
        min_chunk_size: 0,
    };
    let decoder = Decoder::new(Framing::UnsignedTrailer, 11, None, lenient).unwrap();
    let (events, end) = run(decoder, body, 64);
    end.unwrap();
    assert_eq!(data_of(&events), b"hello world");
}

#[test]
fn unsigned_data_streams_out_before_its_chunk_is_complete() {
    let mut decoder = unsigned(11, None);
    let mut input = BytesMut::from(&b"b\r\nhello"[..]);
    assert_eq!(
        decoder.feed(&mut input).unwrap(),
        [Event::Data(Bytes::from_static(b"hello"))]
    );
    input.extend_from_slice(b" world\r\n0\r\n\r\n");
    let events = decoder.feed(&mut input).unwrap();
    assert_eq!(
        events,
        [Event::Data(Bytes::from_static(b" world")), Event::End]
    );
    decoder.finish(&input).unwrap();
}
