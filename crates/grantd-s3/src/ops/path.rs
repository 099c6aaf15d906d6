//! Bucket and key from a request's path (path style) or Host (virtual-host
//! style), percent-decoded exactly.
//!
//! Exact means: every `%` starts two hex digits, the bytes must be UTF-8
//! (no U+FFFD substitution), and `+` is a plus. The key a grant is asked
//! for is then byte for byte the key S3 acts on.

use super::{OpError, clip};

/// S3's longest key, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Path-style addressing: `/` (service), `/bucket` or `/bucket/` (bucket),
/// `/bucket/key` (object). `raw_path` is the path as sent, without query.
///
/// Only the first raw `/` separates bucket from key: `%2F` in the key stays
/// a `/` of the key, and in the bucket makes an invalid bucket name. An
/// empty key is no key (S3 has no empty keys), so `/bucket/` is the bucket.
pub fn parse_path(raw_path: &str) -> Result<(Option<String>, Option<String>), OpError> {
    let Some(rest) = raw_path.strip_prefix('/') else {
        return Err(OpError::InvalidUri("the path must start with '/'".into()));
    };
    if rest.is_empty() {
        return Ok((None, None));
    }
    let (raw_bucket, raw_key) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket = decode_exact(raw_bucket)?;
    check_bucket(&bucket)?;
    Ok((Some(bucket), decode_key(raw_key)?))
}

/// The bucket of a virtual-host style `Host`: `BUCKET.localhost[:port]`,
/// case-insensitively. `None` for any other host (path style).
pub fn parse_host(host: &str) -> Option<String> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    let name = name.to_ascii_lowercase();
    let bucket = name.strip_suffix(".localhost")?;
    check_bucket(bucket).ok()?;
    Some(bucket.to_string())
}

/// Bucket and key by either style: virtual-host when `host` names a bucket
/// ([`parse_host`]), where the whole path is the key; else [`parse_path`].
pub fn parse_addressing(
    host: Option<&str>,
    raw_path: &str,
) -> Result<(Option<String>, Option<String>), OpError> {
    let Some(bucket) = host.and_then(parse_host) else {
        return parse_path(raw_path);
    };
    let Some(raw_key) = raw_path.strip_prefix('/') else {
        return Err(OpError::InvalidUri("the path must start with '/'".into()));
    };
    Ok((Some(bucket), decode_key(raw_key)?))
}

fn decode_key(raw_key: &str) -> Result<Option<String>, OpError> {
    if raw_key.is_empty() {
        return Ok(None);
    }
    let key = decode_exact(raw_key)?;
    if key.len() > MAX_KEY_LEN {
        return Err(OpError::KeyTooLong);
    }
    Ok(Some(key))
}

/// Percent-decoding that refuses rather than guesses: a `%` not followed by
/// two hex digits, or bytes that are not UTF-8, are `InvalidURI`.
pub(crate) fn decode_exact(raw: &str) -> Result<String, OpError> {
    if !raw.contains('%') {
        return Ok(raw.to_string());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            let pair = bytes
                .get(i + 1)
                .copied()
                .and_then(hex)
                .zip(bytes.get(i + 2).copied().and_then(hex));
            let Some((hi, lo)) = pair else {
                return Err(OpError::InvalidUri(format!(
                    "bad percent-escape in {:?}",
                    clip(raw, 64)
                )));
            };
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| OpError::InvalidUri(format!("{:?} is not UTF-8 once decoded", clip(raw, 64))))
}

/// A bucket name S3 could hold, current or legacy (us-east-1 once allowed
/// upper case, `_` and 255 characters). Refusing anything else also keeps a
/// decoded `/` or `*` out of the `s3://bucket/…` targets built from it.
pub(crate) fn check_bucket(bucket: &str) -> Result<(), OpError> {
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    if (3..=255).contains(&bucket.len()) && bucket.bytes().all(ok_char) {
        Ok(())
    } else {
        Err(OpError::InvalidBucketName(format!(
            "The specified bucket is not valid: {:?}",
            clip(bucket, 64)
        )))
    }
}
