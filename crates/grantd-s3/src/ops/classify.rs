//! The operation table: method + sub-resource (+ headers) → [`Op`] → [`Needs`].
//!
//! S3 picks an operation by the method and by which sub-resource the query
//! names (`?uploads`, `?acl`, `?list-type=2`, …); other parameters
//! (`prefix`, `versionId`, `X-Amz-*` of presigned URLs, the SDKs' `x-id`)
//! are arguments, and unknown ones S3 ignores, so grantd ignores them too.
//! A sub-resource S3 could not pair with the method is refused as S3 would
//! (`MethodNotAllowed`), and so is a query naming two sub-resources or
//! repeating a parameter, rather than guessing which one S3 would act on.

use http::{HeaderMap, Method};

use super::copy::parse_copy_source;
use super::{Access, CopyNeeds, Need, Needs, Op, OpClass, OpError, clip, common_target};

/// A request's operation, its class, and what it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub op: Op,
    pub class: OpClass,
    pub needs: Needs,
}

/// Where a sub-resource exists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum On {
    Bucket,
    Object,
    Both,
}

/// Every sub-resource S3 defines, by where it applies. `list-type` selects
/// ListObjectsV2; the rest select by their name alone.
const SUBRESOURCES: &[(&str, On)] = &[
    ("accelerate", On::Bucket),
    ("acl", On::Both),
    ("analytics", On::Bucket),
    ("attributes", On::Object),
    ("cors", On::Bucket),
    ("delete", On::Bucket),
    ("encryption", On::Bucket),
    ("intelligent-tiering", On::Bucket),
    ("inventory", On::Bucket),
    ("legal-hold", On::Object),
    ("lifecycle", On::Bucket),
    ("list-type", On::Bucket),
    ("location", On::Bucket),
    ("logging", On::Bucket),
    ("metadataConfiguration", On::Bucket),
    ("metadataTable", On::Bucket),
    ("metrics", On::Bucket),
    ("notification", On::Bucket),
    ("object-lock", On::Bucket),
    ("ownershipControls", On::Bucket),
    ("policy", On::Bucket),
    ("policyStatus", On::Bucket),
    ("publicAccessBlock", On::Bucket),
    ("renameObject", On::Object),
    ("replication", On::Bucket),
    ("requestPayment", On::Bucket),
    ("restore", On::Object),
    ("retention", On::Object),
    ("select", On::Object),
    ("session", On::Bucket),
    ("tagging", On::Both),
    ("torrent", On::Object),
    ("uploadId", On::Object),
    ("uploads", On::Both),
    ("versioning", On::Bucket),
    ("versions", On::Bucket),
    ("website", On::Bucket),
];

/// Headers whose effect needs `s3:PutObjectTagging`, `s3:PutObjectRetention`
/// or `s3:PutObjectLegalHold` on top of `s3:PutObject`: no grant vends those.
const TAG_OR_LOCK_HEADERS: &[&str] = &[
    "x-amz-tagging",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
];

const COPY_SOURCE: &str = "x-amz-copy-source";

/// Classify a request. `query` holds the decoded pairs (a bare `?uploads`
/// is `("uploads", "")`); `bucket` and `key` come from [`super::parse_path`].
pub fn classify(
    method: &Method,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Classified, OpError> {
    refuse_repeats(query)?;
    let (op, needs) = match (bucket, key) {
        (None, None) => match method.as_str() {
            "GET" => (Op::ListBuckets, Needs::NoGrant),
            m => return Err(not_allowed(m, "the service")),
        },
        (None, Some(_)) => return Err(OpError::InvalidUri("a key needs a bucket".into())),
        (Some(bucket), None) => {
            let op = bucket_op(method.as_str(), subresource(query, On::Bucket)?, query)?;
            (op, bucket_needs(op, bucket, query))
        }
        (Some(bucket), Some(key)) => {
            let op = object_op(
                method.as_str(),
                subresource(query, On::Object)?,
                query,
                headers,
            )?;
            (op, object_needs(op, bucket, key, headers)?)
        }
    };
    Ok(Classified {
        op,
        class: op.class(),
        needs,
    })
}

fn bucket_op(
    method: &str,
    sub: Option<&'static str>,
    query: &[(String, String)],
) -> Result<Op, OpError> {
    if let Some(sub) = sub.filter(|sub| on(sub) == Some(On::Object)) {
        return Err(OpError::NotImplemented(format!(
            "?{sub} is an object sub-resource; it needs a key"
        )));
    }
    let list_only = matches!(sub, Some("list-type" | "versions" | "uploads" | "location"));
    Ok(match (method, sub) {
        ("GET", None) => Op::ListObjects,
        ("GET", Some("list-type")) => match param(query, "list-type") {
            Some("2") => Op::ListObjectsV2,
            other => {
                return Err(OpError::InvalidArgument(format!(
                    "list-type must be 2, got {:?}",
                    clip(other.unwrap_or(""), 16)
                )));
            }
        },
        ("GET", Some("versions")) => Op::ListObjectVersions,
        ("GET", Some("uploads")) => Op::ListMultipartUploads,
        ("GET", Some("location")) => Op::GetBucketLocation,
        ("HEAD", None) => Op::HeadBucket,
        ("PUT", None) => Op::CreateBucket,
        ("DELETE", None) => Op::DeleteBucket,
        ("POST", Some("delete")) => Op::DeleteObjects,
        // A browser-form upload (PostObject): the key and policy are in a
        // multipart/form-data body grantd does not read.
        ("POST", None) => {
            return Err(OpError::NotImplemented(
                "POST object uploads (HTML forms) are not supported by grantd".into(),
            ));
        }
        (m, Some("delete")) => return Err(not_allowed(m, "?delete")),
        // HEAD of a listing or of a setting reads no object: nothing to grant.
        ("HEAD", Some(sub)) => Op::Bucket(sub),
        (m @ ("PUT" | "DELETE" | "POST"), Some(sub)) if list_only => {
            return Err(not_allowed(m, &format!("?{sub}")));
        }
        ("GET" | "PUT" | "DELETE" | "POST", Some(sub)) => Op::Bucket(sub),
        (m, _) => return Err(not_allowed(m, "a bucket")),
    })
}

fn object_op(
    method: &str,
    sub: Option<&'static str>,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Op, OpError> {
    let copy = headers.contains_key(COPY_SOURCE);
    let part = param(query, "partNumber").is_some();
    Ok(match (method, sub) {
        ("GET", None) => Op::GetObject,
        ("GET", Some("acl")) => Op::GetObjectAcl,
        ("GET", Some("attributes")) => Op::GetObjectAttributes,
        ("GET", Some("tagging")) => Op::GetObjectTagging,
        ("GET", Some("retention")) => Op::GetObjectRetention,
        ("GET", Some("legal-hold")) => Op::GetObjectLegalHold,
        ("GET", Some("torrent")) => Op::GetObjectTorrent,
        ("GET", Some("uploadId")) => Op::ListParts,
        ("HEAD", None) => Op::HeadObject,
        ("PUT", None) if part => {
            return Err(OpError::InvalidArgument(
                "partNumber needs an uploadId".into(),
            ));
        }
        ("PUT", None) if copy => Op::CopyObject,
        ("PUT", None) => Op::PutObject,
        ("PUT", Some("uploadId")) if !part => {
            return Err(OpError::InvalidArgument(
                "uploadId needs a partNumber".into(),
            ));
        }
        ("PUT", Some("uploadId")) if copy => Op::UploadPartCopy,
        ("PUT", Some("uploadId")) => Op::UploadPart,
        ("PUT", Some("acl")) => Op::PutObjectAcl,
        ("PUT", Some("tagging")) => Op::PutObjectTagging,
        ("PUT", Some("retention")) => Op::PutObjectRetention,
        ("PUT", Some("legal-hold")) => Op::PutObjectLegalHold,
        ("POST", Some("uploads")) => Op::CreateMultipartUpload,
        ("POST", Some("uploadId")) => Op::CompleteMultipartUpload,
        ("POST", Some("restore")) => Op::RestoreObject,
        ("POST", Some("select")) => match param(query, "select-type") {
            Some("2") => Op::SelectObjectContent,
            _ => {
                return Err(OpError::InvalidArgument(
                    "?select needs select-type=2".into(),
                ));
            }
        },
        ("DELETE", None) => Op::DeleteObject,
        ("DELETE", Some("uploadId")) => Op::AbortMultipartUpload,
        ("DELETE", Some("tagging")) => Op::DeleteObjectTagging,
        (_, Some("renameObject")) => {
            return Err(OpError::NotImplemented(
                "RenameObject (directory buckets) is not supported by grantd".into(),
            ));
        }
        (_, Some(sub)) if on(sub) == Some(On::Bucket) => {
            return Err(OpError::NotImplemented(format!(
                "?{sub} is a bucket sub-resource; it takes no object key"
            )));
        }
        (m, Some(sub)) => return Err(not_allowed(m, &format!("?{sub} of an object"))),
        (m, None) => return Err(not_allowed(m, "an object")),
    })
}

fn bucket_needs(op: Op, bucket: &str, query: &[(String, String)]) -> Needs {
    match op {
        // Listing needs READ on the prefix listed: `s3://bucket/prefix*`.
        // The plugins send the bare prefix; with `*` it is a prefix target
        // for GetDataAccess, so Minimal-privilege credentials also cover
        // the listing, and `logs` (not `logs/`) is correctly not inside a
        // grant on `logs/*`, since it would also list `logs2/…`.
        Op::ListObjects | Op::ListObjectsV2 | Op::ListObjectVersions | Op::ListMultipartUploads => {
            Needs::Grant(Need::prefix(
                Access::Read,
                bucket,
                param(query, "prefix").unwrap_or(""),
            ))
        }
        // Both plugins ask READ for HeadBucket (Java on `s3://bucket/*`): it
        // needs `s3:ListBucket` with no prefix, which only a grant on the
        // whole bucket vends.
        Op::HeadBucket => Needs::Grant(Need::prefix(Access::Read, bucket, "")),
        Op::DeleteObjects => Needs::SplitByKey {
            access: Access::Write,
            bucket: bucket.to_string(),
        },
        _ => Needs::NoGrant,
    }
}

fn object_needs(op: Op, bucket: &str, key: &str, headers: &HeaderMap) -> Result<Needs, OpError> {
    let read = || Needs::Grant(Need::object(Access::Read, bucket, key));
    let write = || Needs::Grant(Need::object(Access::Write, bucket, key));
    // Setting tags or object-lock while writing needs actions no grant
    // vends; the plugins would ask WRITE and S3 would then refuse.
    let tags_or_lock = TAG_OR_LOCK_HEADERS.iter().any(|h| headers.contains_key(*h));
    Ok(match op {
        // The plugins' READ operations. SelectObjectContent is in neither
        // table, but needs `s3:GetObject` only, which READ vends.
        Op::GetObject
        | Op::HeadObject
        | Op::GetObjectAcl
        | Op::GetObjectAttributes
        | Op::ListParts
        | Op::SelectObjectContent => read(),
        Op::PutObject | Op::CreateMultipartUpload if tags_or_lock => Needs::NoGrant,
        Op::PutObject
        | Op::PutObjectAcl
        | Op::DeleteObject
        | Op::CreateMultipartUpload
        | Op::UploadPart
        | Op::CompleteMultipartUpload
        | Op::AbortMultipartUpload => write(),
        // UploadPartCopy is in neither table; it reads and writes as
        // CopyObject does (`s3:GetObject` on the source, `s3:PutObject`).
        Op::CopyObject | Op::UploadPartCopy => {
            let source = copy_source(headers)?;
            if op == Op::CopyObject && tags_or_lock {
                return Ok(Needs::NoGrant);
            }
            let both = (source.bucket == bucket)
                .then(|| common_target(bucket, [source.key.as_str(), key]))
                .flatten()
                .map(|target| Need {
                    access: Access::ReadWrite,
                    target,
                });
            Needs::Copy(Box::new(CopyNeeds {
                read: Need::object(Access::Read, &source.bucket, &source.key),
                write: Need::object(Access::Write, bucket, key),
                both,
                source,
            }))
        }
        // Tagging, retention, legal hold, torrent, restore: in neither
        // plugin's table, and outside what a grant's credentials allow.
        _ => Needs::NoGrant,
    })
}

fn copy_source(headers: &HeaderMap) -> Result<super::CopySource, OpError> {
    let mut values = headers.get_all(COPY_SOURCE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(OpError::InvalidArgument(format!(
            "{COPY_SOURCE} given twice"
        )));
    };
    let value = value.to_str().map_err(|_| {
        OpError::InvalidArgument(format!("{COPY_SOURCE} must be URL-encoded ASCII"))
    })?;
    parse_copy_source(value)
}

/// The one sub-resource the query names (by its static name), if any.
/// `at` is where the request points; a sub-resource of the other kind is
/// still returned so the caller can refuse it by name.
fn subresource(query: &[(String, String)], at: On) -> Result<Option<&'static str>, OpError> {
    let mut found: Option<&'static str> = None;
    for (name, _) in query {
        let Some(&(sub, _)) = SUBRESOURCES.iter().find(|(s, _)| s == name) else {
            continue;
        };
        if let Some(first) = found {
            let what = if at == On::Bucket {
                "a bucket"
            } else {
                "an object"
            };
            return Err(OpError::InvalidArgument(format!(
                "?{first} and ?{sub} name two operations on {what}"
            )));
        }
        found = Some(sub);
    }
    Ok(found)
}

fn on(sub: &str) -> Option<On> {
    SUBRESOURCES
        .iter()
        .find(|(s, _)| *s == sub)
        .map(|&(_, on)| on)
}

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A repeated parameter could be read one way here and another by S3.
fn refuse_repeats(query: &[(String, String)]) -> Result<(), OpError> {
    let mut names: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    match names.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(OpError::InvalidArgument(format!(
            "query parameter {:?} given twice",
            clip(w[0], 64)
        ))),
        None => Ok(()),
    }
}

fn not_allowed(method: &str, what: &str) -> OpError {
    OpError::MethodNotAllowed(format!(
        "The specified method is not allowed against this resource: {} on {what}",
        clip(method, 16)
    ))
}
