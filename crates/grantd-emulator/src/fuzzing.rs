//! Ways in for the fuzz targets of `fuzz/`, without a socket.
//!
//! Owns nothing but thin wrappers: the SigV4 header reader and the XML text
//! escaping of [`wire`](super::wire), and one whole request through the same
//! routing, parsing and rendering a connection uses. Compiled only with the
//! `fuzzing` feature, which the workspace never turns on.

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::Request;

use super::{Emulator, server, wire};

/// The parts of a SigV4 `Authorization` header: access key id, region, service.
pub fn parse_authorization(header: &str) -> Result<(String, String, String), String> {
    wire::parse_authorization(header).map(|sig| (sig.access_key_id, sig.region, sig.service))
}

/// Text escaped for an XML element, as every answer writes caller input.
pub fn escape(text: &str) -> String {
    wire::escape(text)
}

/// Answers one request as a connection would: status, content type, body.
pub async fn handle(emu: &Emulator, request: Request<Bytes>) -> (u16, String, Bytes) {
    let (parts, body) = request.into_parts();
    let response = server::handle_read(emu, &parts, &body).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // A `Full` body is one in-memory chunk; collecting it cannot fail.
    let body = match response.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    (status, content_type, body)
}
