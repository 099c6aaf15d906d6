//! The `x-amz-copy-source` header of `CopyObject` and `UploadPartCopy`.
//!
//! S3 accepts `bucket/key` or `/bucket/key`, URL-encoded, with an optional
//! `?versionId=…`; and an access point ARN, which grantd refuses: it cannot
//! map an access point onto a bucket to ask a grant for.

use super::path::{MAX_KEY_LEN, check_bucket, decode_exact};
use super::{OpError, clip};

/// The object a copy reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CopySource {
    pub bucket: String,
    /// Decoded.
    pub key: String,
    pub version_id: Option<String>,
}

/// Parse an `x-amz-copy-source` value.
///
/// The first raw `?` starts the query (a `?` of the key arrives as `%3F`).
/// The path is decoded before the bucket is split off at its first `/`, so
/// a client that encodes that separator too (`bucket%2Fkey`) is understood
/// as S3 understands it.
pub fn parse_copy_source(value: &str) -> Result<CopySource, OpError> {
    let bad = |why: &str| {
        Err(OpError::InvalidArgument(format!(
            "Invalid copy source {:?}: {why}",
            clip(value, 64)
        )))
    };
    let (raw_path, query) = match value.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (value, None),
    };
    let version_id = match query {
        None => None,
        Some(query) => match query.strip_prefix("versionId=") {
            Some(v) if !v.is_empty() && !v.contains('&') => Some(decode_exact(v)?),
            _ => return bad("the only query it takes is versionId=…"),
        },
    };
    let path = decode_exact(raw_path)?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    if path.starts_with("arn:") {
        return Err(OpError::NotImplemented(
            "x-amz-copy-source as an access point ARN is not supported by grantd; \
             use bucket/key"
                .into(),
        ));
    }
    let Some((bucket, key)) = path.split_once('/') else {
        return bad("expected bucket/key");
    };
    if key.is_empty() {
        return bad("expected bucket/key");
    }
    if check_bucket(bucket).is_err() {
        return bad("invalid bucket name");
    }
    if key.len() > MAX_KEY_LEN {
        return Err(OpError::KeyTooLong);
    }
    Ok(CopySource {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id,
    })
}
