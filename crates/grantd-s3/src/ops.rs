//! Which S3 operation a request is, and what S3 Access Grants must grant for it.
//!
//! Owns the operation table of grantd's S3 endpoint: [`parse_path`] (and
//! [`parse_host`] / [`parse_addressing`] for virtual-host style) turns a
//! request's path into bucket and key, [`classify`] turns method, bucket,
//! key, query and headers into an [`Op`], its [`OpClass`] for metrics, and
//! the [`Needs`]: which permission on which `s3://` target, or that no grant
//! can serve it. Everything here is pure; the daemon maps targets onto its
//! own scope type and asks S3 Access Grants.
//!
//! The table follows the official Access Grants plugins (Java SDK v2 and
//! boto3), which agree: an operation needs a grant only when the
//! credentials S3 Access Grants vends can perform it. Those credentials
//! allow object reads (`s3:GetObject`, its version and ACL forms,
//! `s3:ListMultipartUploadParts`), object writes (`s3:PutObject`,
//! `s3:PutObjectAcl`, `s3:DeleteObject`, `s3:AbortMultipartUpload`, their
//! version forms) and prefix-bounded listing. Anything else (tagging,
//! retention, legal hold, restore, every bucket setting) would be refused by
//! S3 even with a grant's credentials, so it is [`Needs::NoGrant`]: the
//! plugins' "unsupported operation, fall back" case. Departures from the
//! plugins are commented where they are made in `classify`.

use std::fmt;

mod classify;
mod copy;
mod path;
#[cfg(test)]
mod tests;

pub use classify::{Classified, classify};
pub use copy::{CopySource, parse_copy_source};
pub use path::{parse_addressing, parse_host, parse_path};

/// The permission asked of S3 Access Grants (`GetDataAccess`'s `Permission`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
    /// Only for a copy whose source and destination one grant covers: one
    /// signed request must carry both rights (see [`CopyNeeds::both`]).
    ReadWrite,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "READ",
            Access::Write => "WRITE",
            Access::ReadWrite => "READWRITE",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One permission on one target: `s3://bucket/key` or `s3://bucket/prefix*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Need {
    pub access: Access,
    pub target: String,
}

impl Need {
    pub fn object(access: Access, bucket: &str, key: &str) -> Need {
        Need {
            access,
            target: object_target(bucket, key),
        }
    }

    pub fn prefix(access: Access, bucket: &str, prefix: &str) -> Need {
        Need {
            access,
            target: prefix_target(bucket, prefix),
        }
    }
}

/// What a request needs from S3 Access Grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Needs {
    /// One grant covers the whole request.
    Grant(Need),
    /// `CopyObject` / `UploadPartCopy`: read the source, write the destination.
    Copy(Box<CopyNeeds>),
    /// `DeleteObjects`: `access` on `s3://bucket/KEY` for each key of the
    /// body, known only once it is parsed (`xml::parse_delete`); split the
    /// keys by the grant that covers each (build targets with
    /// [`object_target`], or one scope for all with [`common_target`]).
    SplitByKey { access: Access, bucket: String },
    /// No grant's credentials can perform it: the base identity, or nothing.
    NoGrant,
}

/// The two halves of a copy, and the one grant that could serve both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyNeeds {
    pub source: CopySource,
    /// `Read` on the source object.
    pub read: Need,
    /// `Write` on the destination object.
    pub write: Need,
    /// `ReadWrite` on the narrowest target holding both objects, when they
    /// share a bucket; `None` across buckets. A copy is one request signed
    /// by one identity, so two grants' credentials cannot serve it together:
    /// only a READWRITE grant covering both objects can (the plugins ask for
    /// exactly this). `None` means the base identity or nothing.
    pub both: Option<Need>,
}

/// `s3://{bucket}/{key}`, the key as decoded.
pub fn object_target(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// `s3://{bucket}/{prefix}*`; an empty prefix is the whole bucket.
pub fn prefix_target(bucket: &str, prefix: &str) -> String {
    format!("s3://{bucket}/{prefix}*")
}

/// The narrowest target holding every key: the object itself for one
/// distinct key, else the keys' longest common prefix (in whole characters)
/// followed by `*`. `None` for no keys.
///
/// The plugins cut their common prefix back towards a `/`; a character
/// prefix is narrower, and S3 Access Grants matches any `prefix*` target
/// against a grant `p/*` by prefix, so it finds the same grants.
pub fn common_target<'a>(bucket: &str, keys: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut keys = keys.into_iter();
    let first = keys.next()?;
    let mut common = first.len();
    let mut single = true;
    for key in keys {
        single &= key == first;
        let shared = first
            .char_indices()
            .zip(key.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, c), _)| i + c.len_utf8());
        common = common.min(shared);
    }
    Some(if single {
        object_target(bucket, first)
    } else {
        prefix_target(bucket, &first[..common])
    })
}

/// The S3 operations grantd recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    // Service
    ListBuckets,
    // Bucket
    HeadBucket,
    GetBucketLocation,
    CreateBucket,
    DeleteBucket,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    /// Any other bucket sub-resource (`?versioning`, `?policy`, …), any method.
    Bucket(&'static str),
    // Object reads
    GetObject,
    HeadObject,
    GetObjectAcl,
    GetObjectAttributes,
    GetObjectTagging,
    GetObjectRetention,
    GetObjectLegalHold,
    GetObjectTorrent,
    SelectObjectContent,
    ListParts,
    // Object writes
    PutObject,
    CopyObject,
    PutObjectAcl,
    PutObjectTagging,
    DeleteObjectTagging,
    PutObjectRetention,
    PutObjectLegalHold,
    RestoreObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
}

/// An operation's family, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpClass {
    ObjectRead,
    ObjectWrite,
    List,
    Bucket,
    Service,
}

impl OpClass {
    pub fn as_str(self) -> &'static str {
        match self {
            OpClass::ObjectRead => "object_read",
            OpClass::ObjectWrite => "object_write",
            OpClass::List => "list",
            OpClass::Bucket => "bucket",
            OpClass::Service => "service",
        }
    }
}

impl Op {
    /// S3's name of the operation; `Bucket` for the catch-all.
    pub fn name(self) -> &'static str {
        use Op::*;
        match self {
            ListBuckets => "ListBuckets",
            HeadBucket => "HeadBucket",
            GetBucketLocation => "GetBucketLocation",
            CreateBucket => "CreateBucket",
            DeleteBucket => "DeleteBucket",
            ListObjects => "ListObjects",
            ListObjectsV2 => "ListObjectsV2",
            ListObjectVersions => "ListObjectVersions",
            ListMultipartUploads => "ListMultipartUploads",
            DeleteObjects => "DeleteObjects",
            Bucket(_) => "Bucket",
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            GetObjectAcl => "GetObjectAcl",
            GetObjectAttributes => "GetObjectAttributes",
            GetObjectTagging => "GetObjectTagging",
            GetObjectRetention => "GetObjectRetention",
            GetObjectLegalHold => "GetObjectLegalHold",
            GetObjectTorrent => "GetObjectTorrent",
            SelectObjectContent => "SelectObjectContent",
            ListParts => "ListParts",
            PutObject => "PutObject",
            CopyObject => "CopyObject",
            PutObjectAcl => "PutObjectAcl",
            PutObjectTagging => "PutObjectTagging",
            DeleteObjectTagging => "DeleteObjectTagging",
            PutObjectRetention => "PutObjectRetention",
            PutObjectLegalHold => "PutObjectLegalHold",
            RestoreObject => "RestoreObject",
            DeleteObject => "DeleteObject",
            CreateMultipartUpload => "CreateMultipartUpload",
            UploadPart => "UploadPart",
            UploadPartCopy => "UploadPartCopy",
            CompleteMultipartUpload => "CompleteMultipartUpload",
            AbortMultipartUpload => "AbortMultipartUpload",
        }
    }

    pub fn class(self) -> OpClass {
        use Op::*;
        match self {
            ListBuckets => OpClass::Service,
            HeadBucket | GetBucketLocation | CreateBucket | DeleteBucket | Bucket(_) => {
                OpClass::Bucket
            }
            ListObjects | ListObjectsV2 | ListObjectVersions | ListMultipartUploads | ListParts => {
                OpClass::List
            }
            GetObject | HeadObject | GetObjectAcl | GetObjectAttributes | GetObjectTagging
            | GetObjectRetention | GetObjectLegalHold | GetObjectTorrent | SelectObjectContent => {
                OpClass::ObjectRead
            }
            DeleteObjects
            | PutObject
            | CopyObject
            | PutObjectAcl
            | PutObjectTagging
            | DeleteObjectTagging
            | PutObjectRetention
            | PutObjectLegalHold
            | RestoreObject
            | DeleteObject
            | CreateMultipartUpload
            | UploadPart
            | UploadPartCopy
            | CompleteMultipartUpload
            | AbortMultipartUpload => OpClass::ObjectWrite,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Bucket(sub) => write!(f, "Bucket({sub})"),
            op => f.write_str(op.name()),
        }
    }
}

/// Why a request names no operation grantd can route. Each variant is the
/// S3 error the client gets (`code`, `status`); messages echo at most a
/// short prefix of what the client sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// `InvalidURI`, 400: a path that is not exact percent-encoded UTF-8.
    #[error("{0}")]
    InvalidUri(String),
    /// `InvalidBucketName`, 400.
    #[error("{0}")]
    InvalidBucketName(String),
    /// `KeyTooLongError`, 400: S3 keys are at most 1024 bytes.
    #[error("Your key is too long")]
    KeyTooLong,
    /// `InvalidArgument`, 400: a malformed parameter or header.
    #[error("{0}")]
    InvalidArgument(String),
    /// `MethodNotAllowed`, 405: a known resource, a method it does not take.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// `NotImplemented`, 501: valid S3, but not something grantd routes.
    #[error("{0}")]
    NotImplemented(String),
}

impl OpError {
    pub fn code(&self) -> &'static str {
        match self {
            OpError::InvalidUri(_) => "InvalidURI",
            OpError::InvalidBucketName(_) => "InvalidBucketName",
            OpError::KeyTooLong => "KeyTooLongError",
            OpError::InvalidArgument(_) => "InvalidArgument",
            OpError::MethodNotAllowed(_) => "MethodNotAllowed",
            OpError::NotImplemented(_) => "NotImplemented",
        }
    }

    pub fn status(&self) -> http::StatusCode {
        match self {
            OpError::MethodNotAllowed(_) => http::StatusCode::METHOD_NOT_ALLOWED,
            OpError::NotImplemented(_) => http::StatusCode::NOT_IMPLEMENTED,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// At most `max` characters of client text, for echoing in a message.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
