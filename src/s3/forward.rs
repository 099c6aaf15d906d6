//! Sending one request on to S3: its headers cleaned, its body checked on
//! the way, signed anew with the chosen identity (the AWS SDK's own
//! `aws-sigv4`), and S3's answer streamed back as S3 gave it.

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use grantd_s3::chunked::{self, Decoder, Encoder, Limits};
use grantd_s3::sigv4::{PayloadMode, Verified};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};

use super::S3State;
use super::body::{BodyWatch, Check, FORWARD_CHUNK_SIZE, ForwardBody, S3Body, empty, full};
use super::choose::Identity;
use super::error::S3Error;

/// Request headers that are the client's connection's, or its signature's,
/// and never go on.
const STRIPPED: &[&str] = &[
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
];

/// Response headers of S3's connection, not of its answer.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What a request sends S3 beyond its head.
pub enum Outgoing {
    /// The client's body, checked on the way.
    Client(Incoming),
    /// A body grantd wrote (a part of a split `DeleteObjects`), with its SHA-256.
    Own(Bytes),
}

/// A checked request's head: what it asks, of which bucket.
pub struct Head<'a> {
    pub parts: &'a Parts,
    pub verified: &'a Verified,
    pub bucket: Option<&'a str>,
    /// The query without the auth parameters, as the client encoded it.
    pub query: &'a str,
    pub class: &'static str,
}

/// One request on its way: its head and the identity it goes with.
pub struct Forward<'a> {
    pub head: &'a Head<'a>,
    pub identity: &'a Identity,
}

impl Forward<'_> {
    /// Sends the request and hands back S3's answer.
    pub async fn send(
        &self,
        state: &S3State,
        body: Outgoing,
        extra_headers: HeaderMap,
    ) -> Result<Response<Incoming>, S3Error> {
        let region = state.upstream.region_of(self.head.bucket);
        let uri = state
            .upstream
            .uri(
                self.head.bucket,
                self.head.parts.uri.path(),
                self.head.query,
                &region,
            )
            .map_err(|e| {
                S3Error::InvalidRequest(format!("cannot address S3 for this request: {e}"))
            })?;
        let mut headers = cleaned(&self.head.parts.headers);
        let failure = BodyWatch::default();
        let (body, payload) = match body {
            Outgoing::Own(bytes) => {
                failure.mark_sent();
                let sha = hex::encode(sha256(&bytes));
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                (full(bytes), SignableBody::Precomputed(sha))
            }
            Outgoing::Client(incoming) => {
                self.client_body(state, incoming, &mut headers, failure.clone())?
            }
        };
        headers.extend(extra_headers);
        if let Some(authority) = uri.authority() {
            headers.insert(
                header::HOST,
                HeaderValue::from_str(authority.as_str())
                    .map_err(|_| S3Error::Internal("unusable S3 host".into()))?,
            );
        }
        let mut request = Request::builder()
            .method(self.head.parts.method.clone())
            .uri(uri)
            .body(body)
            .map_err(|e| S3Error::InvalidRequest(format!("cannot build the request to S3: {e}")))?;
        *request.headers_mut() = headers;
        sign_request(
            &mut request,
            self.identity,
            &region,
            payload,
            state.clock.now(),
        )?;

        let started = tokio::time::Instant::now();
        // S3 has `upstream_timeout` to begin its answer once the whole body
        // is sent: however long an upload takes, a silent S3 is given up on.
        let timeout = state.settings.upstream_timeout;
        let answer = tokio::select! {
            answer = state.upstream.client.request(request) => answer,
            _ = async {
                failure.sent().await;
                tokio::time::sleep(timeout).await;
            } => {
                state.metrics.s3.upstream(self.head.class, started.elapsed());
                return Err(S3Error::BadGateway(format!(
                    "S3 did not answer within {} s of the request",
                    timeout.as_secs()
                )));
            }
        };
        state
            .metrics
            .s3
            .upstream(self.head.class, started.elapsed());
        if let Some(e) = failure.take() {
            // The body failed a check; S3 got it incomplete and kept nothing.
            return Err(e);
        }
        let answer = answer.map_err(|e| {
            S3Error::BadGateway(format!("cannot reach S3: {}", crate::report::Report(&e)))
        })?;
        if let (Some(bucket), Some(region)) = (
            self.head.bucket,
            answer.headers().get("x-amz-bucket-region"),
        ) {
            state.upstream.learn_region(bucket, region);
        }
        Ok(answer)
    }

    /// The client's body as S3 gets it, and what its signature says of it.
    fn client_body(
        &self,
        state: &S3State,
        incoming: Incoming,
        headers: &mut HeaderMap,
        failure: BodyWatch,
    ) -> Result<(S3Body, SignableBody<'static>), S3Error> {
        let sent_length = content_length(&self.head.parts.headers)?;
        let bodiless = sent_length == Some(0)
            || (sent_length.is_none()
                && !self
                    .head
                    .parts
                    .headers
                    .contains_key(header::TRANSFER_ENCODING));
        let (check, length, payload) = match &self.head.verified.payload {
            PayloadMode::Signed(sha) if bodiless => {
                // No body is the empty body, and its hash must be the one
                // signed: S3 would get it signed with the client's hash.
                if let Some(hasher) = self.head.verified.payload_hasher() {
                    hasher.finish()?;
                }
                failure.mark_sent();
                return Ok((empty(), SignableBody::Precomputed(hex::encode(sha))));
            }
            PayloadMode::Unsigned if bodiless => {
                failure.mark_sent();
                return Ok((empty(), SignableBody::UnsignedPayload));
            }
            PayloadMode::Signed(sha) => (
                Check::Plain(self.head.verified.payload_hasher()),
                sent_length,
                SignableBody::Precomputed(hex::encode(sha)),
            ),
            PayloadMode::Unsigned => (
                Check::Plain(None),
                sent_length,
                SignableBody::UnsignedPayload,
            ),
            PayloadMode::StreamingSigned
            | PayloadMode::StreamingSignedTrailer
            | PayloadMode::StreamingUnsignedTrailer => {
                let decoder = Decoder::for_request(
                    self.head.verified,
                    &self.head.parts.headers,
                    Limits::default(),
                )?
                .ok_or_else(|| S3Error::Internal("a streaming body without a decoder".into()))?;
                let decoded = chunked::decoded_content_length(&self.head.parts.headers)?;
                let trailer = chunked::declared_trailer(&self.head.parts.headers)?;
                strip_aws_chunked(headers);
                match trailer {
                    Some(algorithm) => {
                        // Re-chunked unsigned, with the client's checksum, so S3 stores it.
                        let encoder = Encoder::new(FORWARD_CHUNK_SIZE, Some(algorithm));
                        add_encoding(headers, "aws-chunked");
                        headers.insert("x-amz-decoded-content-length", HeaderValue::from(decoded));
                        headers.insert(
                            "x-amz-trailer",
                            HeaderValue::from_static(algorithm.header_name()),
                        );
                        let length =
                            Encoder::encoded_length(decoded, FORWARD_CHUNK_SIZE, Some(algorithm));
                        (
                            Check::Chunked(Box::new(decoder), Some(encoder)),
                            Some(length),
                            SignableBody::StreamingUnsignedPayloadTrailer,
                        )
                    }
                    None => (
                        Check::Chunked(Box::new(decoder), None),
                        Some(decoded),
                        SignableBody::UnsignedPayload,
                    ),
                }
            }
        };
        if let Some(n) = length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        let body = ForwardBody::new(incoming, check, length, failure, state.metrics.clone());
        Ok((body.boxed_unsync(), payload))
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn content_length(headers: &HeaderMap) -> Result<Option<u64>, S3Error> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| S3Error::InvalidRequest("Content-Length is not a number".into()))
        })
        .transpose()
}

/// The client's headers that go on to S3.
fn cleaned(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !STRIPPED.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Takes `aws-chunked` out of `Content-Encoding` (S3 does the same when it
/// stores an object), and the header with it when nothing else is left.
fn strip_aws_chunked(headers: &mut HeaderMap) {
    headers.remove("x-amz-decoded-content-length");
    headers.remove("x-amz-trailer");
    let rest: Vec<String> = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .map(String::from)
        .collect();
    headers.remove(header::CONTENT_ENCODING);
    if !rest.is_empty()
        && let Ok(v) = HeaderValue::from_str(&rest.join(","))
    {
        headers.insert(header::CONTENT_ENCODING, v);
    }
}

/// Puts `encoding` first in `Content-Encoding`.
fn add_encoding(headers: &mut HeaderMap, encoding: &'static str) {
    let value = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        Some(rest) => format!("{encoding},{rest}"),
        None => encoding.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::CONTENT_ENCODING, v);
    }
}

/// Signs `request` for S3 in `region` with `identity`, as the AWS SDK does.
pub fn sign_request<B>(
    request: &mut Request<B>,
    identity: &Identity,
    region: &str,
    payload: SignableBody<'_>,
    now: SystemTime,
) -> Result<(), S3Error> {
    let credentials = aws_credential_types::Credentials::new(
        identity.access_key_id(),
        identity.secret(),
        identity.session_token().map(String::from),
        None,
        "grantd",
    );
    let identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.session_token_mode = SessionTokenMode::Include;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| S3Error::Internal(format!("cannot sign for S3: {e}")))?
        .into();
    let uri = request.uri().to_string();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .map(|(k, v)| {
            v.to_str().map(|v| (k.as_str(), v)).map_err(|_| {
                S3Error::InvalidRequest(format!(
                    "header {k} is not text; S3 signs only text headers"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let signable = SignableRequest::new(
        request.method().as_str(),
        &uri,
        headers.into_iter(),
        payload,
    )
    .map_err(|e| S3Error::InvalidRequest(format!("cannot sign this request: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| S3Error::Internal(format!("cannot sign for S3: {e}")))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// S3's answer for the client: status and headers as S3 gave them (less
/// its connection's), the body streamed and counted.
pub fn to_client(answer: Response<Incoming>, state: &S3State) -> Response<S3Body> {
    let (mut parts, body) = answer.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(*name);
    }
    let metrics = state.metrics.clone();
    let body = body
        .map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                metrics.s3.moved_out(data.len() as u64);
            }
            frame
        })
        .map_err(Into::into)
        .boxed_unsync();
    Response::from_parts(parts, body)
}

/// An XML answer of grantd's own making (a merged `DeleteResult`, an
/// error), with the request id in `x-amz-request-id` as S3 sends it.
pub fn own_answer(status: StatusCode, xml: String, request_id: &str) -> Response<S3Body> {
    let mut resp = Response::new(full(xml));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("x-amz-request-id"), id);
    }
    resp
}
