//! The `DeleteObjects` documents: the client's `<Delete>`, the subsets sent
//! upstream, S3's `<DeleteResult>`s and the merged answer.
//!
//! The proxy splits one client request by the grant covering each key:
//! [`parse_delete`] the body, refuse the keys no grant covers (a
//! [`DeleteError::for_object`] each), send each covered subset with
//! [`render_delete`] (and `content_md5`), read each answer with
//! [`parse_delete_result`], then [`merge`] and [`render_delete_result`].
//! The client's `<Delete>` is read strictly: an element S3's schema lacks
//! is refused, not dropped, since dropping a condition (`ETag`, `Size`, …)
//! would turn a conditional delete into an unconditional one.

use super::tree::{self, Element};
use super::{DECLARATION, S3_NS, XmlError, clip, element};

/// S3's limit on objects in one DeleteObjects request.
pub const MAX_DELETE_OBJECTS: usize = 1000;

/// A DeleteObjects request body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteRequest {
    /// Answer with errors only.
    pub quiet: bool,
    pub objects: Vec<ObjectId>,
}

/// One object of a DeleteObjects request (S3's `ObjectIdentifier`). The
/// conditions are kept as sent, to be sent on unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectId {
    pub key: String,
    pub version_id: Option<String>,
    /// Delete only if the ETag matches.
    pub etag: Option<String>,
    /// Delete only if last modified at this time (directory buckets).
    pub last_modified_time: Option<String>,
    /// Delete only if this many bytes (directory buckets).
    pub size: Option<u64>,
}

impl ObjectId {
    pub fn new(key: impl Into<String>) -> ObjectId {
        ObjectId {
            key: key.into(),
            ..ObjectId::default()
        }
    }
}

/// A DeleteObjects result, from S3 or for the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteResult {
    pub deleted: Vec<Deleted>,
    pub errors: Vec<DeleteError>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    pub key: String,
    pub version_id: Option<String>,
    pub delete_marker: bool,
    pub delete_marker_version_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteError {
    pub key: String,
    pub version_id: Option<String>,
    pub code: String,
    pub message: String,
}

impl DeleteError {
    /// A per-key error grantd decides itself, e.g. `AccessDenied` for a key
    /// no grant covers, or every key of a subset S3 refused as a whole.
    pub fn for_object(object: &ObjectId, code: &str, message: &str) -> DeleteError {
        DeleteError {
            key: object.key.clone(),
            version_id: object.version_id.clone(),
            code: code.to_string(),
            message: message.to_string(),
        }
    }
}

/// Read a client's DeleteObjects body (the caller bounds its size).
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, XmlError> {
    let bad = |why: String| XmlError::Malformed(why);
    let root = tree::parse(body).map_err(bad)?;
    expect_container(&root, "Delete").map_err(bad)?;
    let count = root.children.iter().filter(|c| c.name == "Object").count();
    if count > MAX_DELETE_OBJECTS {
        return Err(XmlError::TooManyObjects(count));
    }
    let mut request = DeleteRequest {
        quiet: false,
        objects: Vec::with_capacity(count),
    };
    let mut quiet_seen = false;
    for child in &root.children {
        match child.name.as_str() {
            "Object" => request.objects.push(object_id(child).map_err(bad)?),
            "Quiet" if !quiet_seen => {
                quiet_seen = true;
                request.quiet = boolean(child).map_err(bad)?;
            }
            other => return Err(bad(format!("unexpected <{}> in <Delete>", clip(other)))),
        }
    }
    if request.objects.is_empty() {
        return Err(bad("<Delete> names no <Object>".into()));
    }
    Ok(request)
}

fn object_id(object: &Element) -> Result<ObjectId, String> {
    expect_container(object, "Object")?;
    let mut id = ObjectId::default();
    let mut key = None;
    for field in &object.children {
        let slot = match field.name.as_str() {
            "Key" => &mut key,
            "VersionId" => &mut id.version_id,
            "ETag" => &mut id.etag,
            "LastModifiedTime" => &mut id.last_modified_time,
            "Size" => {
                let size = leaf(field)?.parse().map_err(|_| "<Size> is not a number")?;
                if id.size.replace(size).is_some() {
                    return Err("<Size> given twice in one <Object>".into());
                }
                continue;
            }
            other => return Err(format!("unexpected <{}> in <Object>", clip(other))),
        };
        if slot.replace(leaf(field)?.to_string()).is_some() {
            return Err(format!("<{}> given twice in one <Object>", field.name));
        }
    }
    id.key = key
        .filter(|k| !k.is_empty())
        .ok_or("an <Object> has no <Key>")?;
    Ok(id)
}

/// The body sent upstream for a subset of a client's request.
pub fn render_delete(request: &DeleteRequest) -> String {
    let mut out = String::with_capacity(128 + request.objects.len() * 64);
    out.push_str(DECLARATION);
    out.push_str(&format!("<Delete xmlns=\"{S3_NS}\">"));
    if request.quiet {
        element(&mut out, "Quiet", "true");
    }
    for object in &request.objects {
        out.push_str("<Object>");
        element(&mut out, "Key", &object.key);
        optional(&mut out, "VersionId", &object.version_id);
        optional(&mut out, "ETag", &object.etag);
        optional(&mut out, "LastModifiedTime", &object.last_modified_time);
        optional(&mut out, "Size", &object.size.map(|s| s.to_string()));
        out.push_str("</Object>");
    }
    out.push_str("</Delete>");
    out
}

/// Read S3's answer to a DeleteObjects (a 200's body). Fields S3 may add
/// later are skipped: this is S3 talking, and nothing is decided on them.
pub fn parse_delete_result(body: &[u8]) -> Result<DeleteResult, XmlError> {
    let bad = |why: String| XmlError::Upstream(why);
    let root = tree::parse(body).map_err(bad)?;
    if root.name != "DeleteResult" {
        return Err(bad(format!(
            "root <{}>, expected <DeleteResult>",
            clip(&root.name)
        )));
    }
    let mut result = DeleteResult::default();
    for child in &root.children {
        let field = |name: &str| {
            child
                .children
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.text.clone())
        };
        let key = || field("Key").ok_or(bad(format!("a <{}> has no <Key>", child.name)));
        match child.name.as_str() {
            "Deleted" => result.deleted.push(Deleted {
                key: key()?,
                version_id: field("VersionId"),
                delete_marker: field("DeleteMarker").is_some_and(|v| v.trim() == "true"),
                delete_marker_version_id: field("DeleteMarkerVersionId"),
            }),
            "Error" => result.errors.push(DeleteError {
                key: key()?,
                version_id: field("VersionId"),
                code: field("Code").unwrap_or_default(),
                message: field("Message").unwrap_or_default(),
            }),
            _ => {}
        }
    }
    Ok(result)
}

/// The answer to the client: in quiet mode S3 lists errors only.
pub fn render_delete_result(result: &DeleteResult, quiet: bool) -> String {
    let mut out = String::with_capacity(128 + result.deleted.len() * 64);
    out.push_str(DECLARATION);
    out.push_str(&format!("<DeleteResult xmlns=\"{S3_NS}\">"));
    for deleted in result.deleted.iter().filter(|_| !quiet) {
        out.push_str("<Deleted>");
        element(&mut out, "Key", &deleted.key);
        optional(&mut out, "VersionId", &deleted.version_id);
        if deleted.delete_marker {
            element(&mut out, "DeleteMarker", "true");
        }
        optional(
            &mut out,
            "DeleteMarkerVersionId",
            &deleted.delete_marker_version_id,
        );
        out.push_str("</Deleted>");
    }
    for error in &result.errors {
        out.push_str("<Error>");
        element(&mut out, "Key", &error.key);
        optional(&mut out, "VersionId", &error.version_id);
        element(&mut out, "Code", &error.code);
        element(&mut out, "Message", &error.message);
        out.push_str("</Error>");
    }
    out.push_str("</DeleteResult>");
    out
}

/// One result from the upstream answers and the keys refused locally, in
/// the order given.
pub fn merge(
    results: impl IntoIterator<Item = DeleteResult>,
    refused: impl IntoIterator<Item = DeleteError>,
) -> DeleteResult {
    let mut merged = DeleteResult::default();
    for result in results {
        merged.deleted.extend(result.deleted);
        merged.errors.extend(result.errors);
    }
    merged.errors.extend(refused);
    merged
}

fn optional(out: &mut String, name: &str, value: &Option<String>) {
    if let Some(value) = value {
        element(out, name, value);
    }
}

/// An element of this name holding elements only (whitespace between).
fn expect_container(e: &Element, name: &str) -> Result<(), String> {
    if e.name != name {
        return Err(format!("<{}> where <{name}> was expected", clip(&e.name)));
    }
    if !e.text_is_blank() {
        return Err(format!("text directly inside <{name}>"));
    }
    Ok(())
}

/// The text of an element holding text only, exactly (no trimming: a key
/// may begin or end with spaces).
fn leaf(e: &Element) -> Result<&str, String> {
    if !e.children.is_empty() {
        return Err(format!("elements inside <{}>", e.name));
    }
    Ok(&e.text)
}

/// `true` or `false`, as S3 reads `<Quiet>`.
fn boolean(e: &Element) -> Result<bool, String> {
    match leaf(e)?.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!(
            "<{}> must be true or false, not {:?}",
            e.name,
            clip(other)
        )),
    }
}
