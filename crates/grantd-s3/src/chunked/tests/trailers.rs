//! Checksums, trailers, the encoder, and the headers that set a decoder up.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use super::*;

const HELLO: [(ChecksumAlgorithm, &str); 5] = [
    (ChecksumAlgorithm::Crc32, "DUoRhQ=="),
    (ChecksumAlgorithm::Crc32c, "yZRlqg=="),
    (ChecksumAlgorithm::Crc64Nvme, "jSnVw/bqjr4="),
    (ChecksumAlgorithm::Sha1, "Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
    (
        ChecksumAlgorithm::Sha256,
        "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
    ),
];

fn hello_body(name: &str, value: &str) -> Vec<u8> {
    format!("b\r\nhello world\r\n0\r\n{name}:{value}\r\n\r\n").into_bytes()
}

#[test]
fn each_checksum_trailer_is_checked_before_the_end() {
    for (algorithm, value) in HELLO {
        let mut checksum = Checksum::new(algorithm);
        checksum.update(b"hello ");
        checksum.update(b"world");
        assert_eq!(checksum.finalize_base64(), value, "{algorithm:?}");
        let name = algorithm.header_name();
        assert_eq!(ChecksumAlgorithm::from_header_name(name), Some(algorithm));
        assert_eq!(
            ChecksumAlgorithm::from_name(&algorithm.name().to_lowercase()),
            Some(algorithm)
        );
        assert_eq!(value.len(), algorithm.base64_len());

        let (events, end) = run(unsigned(11, Some(algorithm)), &hello_body(name, value), 5);
        end.unwrap();
        let trailer = (name.to_owned(), value.to_owned());
        assert_eq!(
            &events[events.len() - 2..],
            [Event::Trailers(vec![trailer]), Event::End]
        );

        // Another value of the right shape: BadDigest, and no end.
        let wrong: String = value.replacen(|c: char| c.is_ascii_alphanumeric(), "A", 1);
        let wrong = if wrong == value {
            value.replacen('A', "B", 1)
        } else {
            wrong
        };
        let (events, end) = run(unsigned(11, Some(algorithm)), &hello_body(name, &wrong), 5);
        let error = end.unwrap_err();
        assert_eq!(error, ChunkError::BadDigest { algorithm });
        assert_eq!(
            (error.code(), error.status()),
            ("BadDigest", StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            error.to_string(),
            format!(
                "The {} you specified did not match the calculated checksum.",
                algorithm.name()
            )
        );
        assert!(!events.contains(&Event::End));

        // Not a value of this algorithm at all: InvalidRequest.
        let (_, end) = run(unsigned(11, Some(algorithm)), &hello_body(name, "AAAA!"), 5);
        let error = end.unwrap_err();
        assert_eq!(error, ChunkError::InvalidChecksumValue { algorithm });
        assert_eq!(error.code(), "InvalidRequest");
    }
}

#[test]
fn trailers_must_be_the_declared_checksum_and_nothing_else() {
    let crc32 = Some(ChecksumAlgorithm::Crc32);
    let cases: Vec<(Decoder, Vec<u8>, &str)> = vec![
        // Declared, missing.
        (
            unsigned(11, crc32),
            b"b\r\nhello world\r\n0\r\n\r\n".to_vec(),
            "MalformedTrailerError",
        ),
        // Not declared, present.
        (
            unsigned(11, None),
            hello_body("x-amz-checksum-crc32", "DUoRhQ=="),
            "MalformedTrailerError",
        ),
        // Declared one, sent another.
        (
            unsigned(11, crc32),
            hello_body("x-amz-checksum-sha1", HELLO[3].1),
            "MalformedTrailerError",
        ),
        (
            unsigned(11, crc32),
            hello_body("x-amz-meta-x", "1"),
            "MalformedTrailerError",
        ),
        (
            unsigned(11, crc32),
            b"b\r\nhello world\r\n0\r\nno colon\r\n\r\n".to_vec(),
            "MalformedTrailerError",
        ),
        (
            unsigned(11, crc32),
            hello_body("", "DUoRhQ=="),
            "MalformedTrailerError",
        ),
        // A signature on an unsigned body.
        (
            unsigned(11, None),
            hello_body("x-amz-trailer-signature", &"0".repeat(64)),
            "MalformedTrailerError",
        ),
    ];
    for (decoder, body, code) in cases {
        let (events, end) = run(decoder, &body, 4);
        assert_eq!(
            end.unwrap_err().code(),
            code,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert!(!events.contains(&Event::End));
    }
    let mut flood = b"0\r\n".to_vec();
    for i in 0..20 {
        flood.extend_from_slice(format!("x-amz-meta-{i}:v\r\n").as_bytes());
    }
    let (_, end) = run(unsigned(0, None), &flood, 16);
    assert_eq!(
        end.unwrap_err(),
        ChunkError::MalformedTrailer {
            detail: "too many trailers"
        }
    );
    // No trailer declared, none sent: S3 takes the body.
    let (events, end) = run(unsigned(11, None), b"b\r\nhello world\r\n0\r\n\r\n", 4);
    end.unwrap();
    assert_eq!(events.last(), Some(&Event::End));
}

#[test]
fn a_signed_trailer_needs_its_signature_and_the_right_one() {
    let crc32c = Some(ChecksumAlgorithm::Crc32c);
    let decoder = || {
        let framing = Framing::SignedTrailer(chain(TRAILER_SEED));
        Decoder::new(framing, 66_560, crc32c, Limits::default()).unwrap()
    };
    let unsigned_block = "x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n";
    let body = documented_body(TRAILER_SIGNATURES, Some(unsigned_block));
    let (_, end) = run(decoder(), &body, 9000);
    assert_eq!(end.unwrap_err().code(), "IncompleteBody");
    let forged = TRAILER_BLOCK.replace("d81f82fc", "d81f82fd");
    let (events, end) = run(
        decoder(),
        &documented_body(TRAILER_SIGNATURES, Some(&forged)),
        9000,
    );
    assert_eq!(end, Err(ChunkError::SignatureDoesNotMatch));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Trailers(_) | Event::End))
    );
    // A checksum the signature covers but the data does not match.
    let mut chain = chain(TRAILER_SEED);
    for len in [65_536, 1024, 0] {
        chain.sign_chunk(&Sha256::digest(vec![b'a'; len]).into());
    }
    let canonical = b"x-amz-checksum-crc32c:AAAAAA==\n";
    let block = format!(
        "x-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:{}\r\n\r\n",
        hex::encode(chain.trailer_signature(canonical))
    );
    let (_, end) = run(
        decoder(),
        &documented_body(TRAILER_SIGNATURES, Some(&block)),
        9000,
    );
    assert_eq!(end.unwrap_err().code(), "BadDigest");
}

#[test]
fn the_encoder_rechunks_and_its_output_decodes() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    for algorithm in ChecksumAlgorithm::ALL.into_iter().map(Some).chain([None]) {
        let mut encoder = Encoder::new(10_000, algorithm);
        assert_eq!(
            encoder.trailer_name(),
            algorithm.map(ChecksumAlgorithm::header_name)
        );
        let mut wire = Vec::new();
        for piece in data.chunks(777) {
            wire.extend_from_slice(&encoder.push(piece));
        }
        wire.extend_from_slice(&encoder.finish());
        assert_eq!(
            wire.len() as u64,
            Encoder::encoded_length(100_000, 10_000, algorithm)
        );
        let (events, end) = run(unsigned(100_000, algorithm), &wire, 4096);
        end.unwrap();
        assert_eq!(data_of(&events), data);
    }
    assert_eq!(encode_chunk(b""), Bytes::new());
    assert_eq!(
        encode_chunk(b"hello world"),
        Bytes::from_static(b"b\r\nhello world\r\n")
    );
    assert_eq!(
        encode_final(&[("x-amz-checksum-crc32", "DUoRhQ==")]),
        Bytes::from_static(b"0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n")
    );
    let wire = [
        encode_chunk(b"hello world"),
        encode_final(&[("x-amz-checksum-crc32", "DUoRhQ==")]),
    ]
    .concat();
    let (_, end) = run(unsigned(11, Some(ChecksumAlgorithm::Crc32)), &wire, 3);
    end.unwrap();
}

#[test]
fn the_request_headers_set_up_the_decoder() {
    let mut headers = HeaderMap::new();
    assert_eq!(
        decoded_content_length(&headers),
        Err(ChunkError::MissingDecodedContentLength)
    );
    let error = ChunkError::MissingDecodedContentLength;
    assert_eq!(
        (error.code(), error.status()),
        ("MissingContentLength", StatusCode::LENGTH_REQUIRED)
    );
    headers.insert("x-amz-decoded-content-length", "-1".parse().unwrap());
    assert!(decoded_content_length(&headers).is_err());
    headers.insert("x-amz-decoded-content-length", "66560".parse().unwrap());
    assert_eq!(decoded_content_length(&headers), Ok(66_560));
    assert_eq!(declared_trailer(&headers), Ok(None));
    headers.insert("x-amz-trailer", "x-amz-checksum-CRC64NVME".parse().unwrap());
    assert_eq!(
        declared_trailer(&headers),
        Ok(Some(ChecksumAlgorithm::Crc64Nvme))
    );
    headers.insert("x-amz-trailer", "x-amz-checksum-md5".parse().unwrap());
    let error = declared_trailer(&headers).unwrap_err();
    assert_eq!(
        (error.code(), error.status()),
        ("InvalidRequest", StatusCode::BAD_REQUEST)
    );
    let signed = Framing::Signed(chain(SEED));
    let error = Decoder::new(signed, 1, Some(ChecksumAlgorithm::Crc32), Limits::default());
    assert_eq!(error.unwrap_err(), ChunkError::UnsupportedTrailer);
}
