//! `DeleteObjects` across grants: the keys split by the identity that may
//! delete each, one request to S3 per identity, and the answers merged into
//! one `DeleteResult`, with a key no identity may delete reported as S3
//! reports a refused key.

use std::collections::BTreeMap;

use bytes::Bytes;
use grantd_s3::ops::{Access, Need, object_target};
use grantd_s3::xml::{
    DeleteError, DeleteRequest, DeleteResult, ObjectId, content_md5, merge, parse_delete,
    parse_delete_result, parse_error, render_delete, render_delete_result,
};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::S3State;
use super::body::{BodyWatch, Check, ForwardBody, S3Body};
use super::choose::{self, Identity};
use super::error::S3Error;
use super::forward::{Forward, Head, Outgoing, own_answer};
use crate::metrics::s3::Outcome;

/// Largest `DeleteObjects` body read: 1,000 keys of 1,024 bytes and their
/// markup fit well under it. Defaults to 2 MiB.
pub const MAX_DELETE_BODY: usize = 2 << 20;

/// Checksum headers of the client's body, which the split bodies do not have.
const BODY_CHECKSUMS: &[&str] = &[
    "content-md5",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-checksum-algorithm",
    "content-type",
];

/// Reads, checks, splits, sends and merges one `DeleteObjects`.
pub async fn answer(
    state: &S3State,
    head: &Head<'_>,
    bucket: &str,
    body: Incoming,
    request_id: &str,
) -> Result<(Response<S3Body>, Outcome), S3Error> {
    let request = parse_delete(&read_checked(state, head, body).await?)?;
    // Each key's identity; the keys no identity may delete, refused.
    let mut groups: BTreeMap<String, (Identity, Vec<ObjectId>)> = BTreeMap::new();
    let mut refused = Vec::new();
    for object in &request.objects {
        let need = Need {
            access: Access::Write,
            target: object_target(bucket, &object.key),
        };
        match choose::for_need(state, &need).await {
            Ok(identity) => {
                groups
                    .entry(identity.access_key_id().to_string())
                    .or_insert_with(|| (identity.clone(), Vec::new()))
                    .1
                    .push(object.clone());
            }
            Err(S3Error::AccessDenied(message)) => {
                refused.push(DeleteError::for_object(object, "AccessDenied", &message));
            }
            Err(e) => return Err(e),
        }
    }
    let outcome = match groups.values().next() {
        Some((identity, _)) if groups.len() == 1 && refused.is_empty() => identity.outcome(),
        Some(_) => Outcome::Grant,
        None => Outcome::Denied,
    };
    let mut results = Vec::with_capacity(groups.len());
    for (identity, objects) in groups.into_values() {
        results.push(send_part(state, head, &identity, objects).await?);
    }
    let merged = merge(results, refused);
    let xml = render_delete_result(&merged, request.quiet);
    Ok((own_answer(StatusCode::OK, xml, request_id), outcome))
}

/// The client's body, whole and checked.
async fn read_checked(state: &S3State, head: &Head<'_>, body: Incoming) -> Result<Bytes, S3Error> {
    let check = match &head.verified.payload {
        grantd_s3::sigv4::PayloadMode::Signed(_) => Check::Plain(head.verified.payload_hasher()),
        grantd_s3::sigv4::PayloadMode::Unsigned => Check::Plain(None),
        _ => {
            let decoder = grantd_s3::chunked::Decoder::for_request(
                head.verified,
                &head.parts.headers,
                grantd_s3::chunked::Limits::default(),
            )?
            .ok_or_else(|| S3Error::Internal("a streaming body without a decoder".into()))?;
            Check::Chunked(Box::new(decoder), None)
        }
    };
    let failure = BodyWatch::default();
    let body = ForwardBody::new(body, check, None, failure.clone(), state.metrics.clone());
    let limited = http_body_util::Limited::new(body, MAX_DELETE_BODY);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(failure.take().unwrap_or_else(|| {
            S3Error::EntityTooLarge(format!(
                "a DeleteObjects body may hold at most {MAX_DELETE_BODY} bytes here: {e}"
            ))
        })),
    }
}

/// One identity's keys, deleted with one request to S3.
async fn send_part(
    state: &S3State,
    head: &Head<'_>,
    identity: &Identity,
    objects: Vec<ObjectId>,
) -> Result<DeleteResult, S3Error> {
    let part = DeleteRequest {
        // The merged answer honours the client's Quiet; S3 is asked for every key.
        quiet: false,
        objects,
    };
    let xml = render_delete(&part);
    let mut extra = HeaderMap::new();
    extra.insert(
        "content-md5",
        HeaderValue::from_str(&content_md5(xml.as_bytes()))
            .map_err(|_| S3Error::Internal("unusable Content-MD5".into()))?,
    );
    extra.insert("content-type", HeaderValue::from_static("application/xml"));
    let mut parts = head.parts.clone();
    for name in BODY_CHECKSUMS {
        parts.headers.remove(*name);
    }
    let part_head = Head {
        parts: &parts,
        ..*head
    };
    let sub = Forward {
        head: &part_head,
        identity,
    };
    let answer = sub
        .send(state, Outgoing::Own(Bytes::from(xml)), extra)
        .await?;
    let status = answer.status();
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|e| S3Error::BadGateway(format!("S3's DeleteObjects answer broke off: {e}")))?
        .to_bytes();
    if status.is_success() {
        return Ok(parse_delete_result(&body)?);
    }
    // S3 refused the whole part: every key of it gets S3's reason.
    let (code, message) = parse_error(&body)
        .unwrap_or_else(|| ("InternalError".into(), format!("S3 answered {status}")));
    Ok(DeleteResult {
        deleted: Vec::new(),
        errors: part
            .objects
            .iter()
            .map(|o| DeleteError::for_object(o, &code, &message))
            .collect(),
    })
}
