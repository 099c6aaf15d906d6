//! S3's XML documents as grantd's endpoint reads and writes them.
//!
//! Owns S3's error document ([`error_body`], and [`parse_error`] for
//! upstream errors in logs), the `DeleteObjects` request and result
//! documents (`delete`: parse the client's, render the subsets sent
//! upstream, parse their results, merge and render the answer), XML
//! escaping, and the `Content-MD5` DeleteObjects requires.
//!
//! Reading is strict and bounded (module `tree` over `xmlparser`): a
//! document that is not well-formed, has a DTD, or has elements the S3
//! schema does not, is refused rather than half-read, so the keys grantd
//! checks are the keys it sends. It never forwards the client's body:
//! what goes upstream is re-rendered from what was checked.
//!
//! Not `aws-smithy-xml`, although it is in the tree: its well-formedness
//! checks are crate-private (a truncated or mis-nested body is read
//! silently), and its `try_data` drops text after the first node (CDATA,
//! split text). Not `quick-xml`: a new crate, where `xmlparser` (already
//! here under aws-smithy-xml, no dependencies) plus ~150 lines suffice.

use base64::Engine as _;
use md5::{Digest, Md5};

mod delete;
#[cfg(test)]
mod tests;
mod tree;

pub use delete::{
    DeleteError, DeleteRequest, DeleteResult, Deleted, MAX_DELETE_OBJECTS, ObjectId, merge,
    parse_delete, parse_delete_result, render_delete, render_delete_result,
};

/// The XML declaration S3 starts its documents with.
const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// S3's namespace, on the root of its request and result documents.
const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Why an XML document was refused. Each variant is the S3 error the client
/// gets (`code`, `status`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// `MalformedXML`, 400: the client's body is not the document S3 expects.
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema: {0}"
    )]
    Malformed(String),
    /// `MalformedXML`, 400, as S3 answers it: more than 1000 objects.
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema: {0} objects, at most 1000"
    )]
    TooManyObjects(usize),
    /// `InternalError`, 500: S3's own answer could not be read, so the
    /// client cannot be told what was deleted.
    #[error("unreadable DeleteObjects result from S3: {0}")]
    Upstream(String),
}

impl XmlError {
    pub fn code(&self) -> &'static str {
        match self {
            XmlError::Malformed(_) | XmlError::TooManyObjects(_) => "MalformedXML",
            XmlError::Upstream(_) => "InternalError",
        }
    }

    pub fn status(&self) -> http::StatusCode {
        match self {
            XmlError::Malformed(_) | XmlError::TooManyObjects(_) => http::StatusCode::BAD_REQUEST,
            XmlError::Upstream(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// S3's error document:
/// `<?xml …?>\n<Error><Code>…</Code><Message>…</Message>[<Resource>…</Resource>]<RequestId>…</RequestId></Error>`.
pub fn error_body(code: &str, message: &str, resource: Option<&str>, request_id: &str) -> String {
    let mut out = String::with_capacity(160 + message.len());
    out.push_str(DECLARATION);
    out.push_str("<Error>");
    element(&mut out, "Code", code);
    element(&mut out, "Message", message);
    if let Some(resource) = resource {
        element(&mut out, "Resource", resource);
    }
    element(&mut out, "RequestId", request_id);
    out.push_str("</Error>");
    out
}

/// `Code` and `Message` (empty if absent) of an S3 error document, for logs;
/// `None` if the body is not one.
pub fn parse_error(body: &[u8]) -> Option<(String, String)> {
    let root = tree::parse(body).ok()?;
    if root.name != "Error" {
        return None;
    }
    let field = |name: &str| {
        root.children
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.text.clone())
    };
    Some((field("Code")?, field("Message").unwrap_or_default()))
}

/// The `Content-MD5` header value of a body: base64 of its MD5. S3 refuses
/// a DeleteObjects without it (or an `x-amz-checksum-*`), and a re-rendered
/// body needs its own.
pub fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

/// `<name>escaped text</name>`.
fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(text, out);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Escape text for element content or attribute values. The five markup
/// characters become their entities; control characters (tab, CR and LF
/// included) and the non-characters U+FFFE/U+FFFF become character
/// references, so a key's CR survives a parser's end-of-line normalisation
/// (S3 asks for `&#13;` in keys) and no raw character XML forbids is sent.
pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_ascii_control() && c != '\u{7f}' || matches!(c, '\u{fffe}' | '\u{ffff}') => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// At most 64 characters of document text, for a message.
fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// [`escape_into`] into a new string.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(text, &mut out);
    out
}
