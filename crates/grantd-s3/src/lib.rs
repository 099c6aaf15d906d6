//! S3's REST protocol as a server sees it, with nothing of grantd's daemon.
//!
//! grantd's S3 endpoint takes requests that clients signed with the daemon's
//! base identity, checks them, works out which grant each needs, and sends
//! them on re-signed. Everything here is a pure function of bytes, so it is
//! tested and fuzzed without a network:
//!
//! - [`sigv4`]: verifying a request's SigV4 signature (Authorization header
//!   or presigned query) against a secret the caller looks up by key id.
//! - [`chunked`]: decoding `aws-chunked` bodies as they stream, checking
//!   each chunk's signature and the trailing checksum.
//! - [`ops`]: which S3 operation a request is, and the permission and S3
//!   scope(s) it needs.
//! - [`xml`]: S3's XML error bodies, and the `DeleteObjects` request and
//!   result documents.

#![forbid(unsafe_code)]

pub mod chunked;
pub mod ops;
pub mod sigv4;
pub mod xml;
