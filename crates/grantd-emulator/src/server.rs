//! HTTP serving: connections, routing, faults, the call log.
//!
//! Owns one connection's life (HTTP/1.1, graceful close on shutdown), the
//! route table (S3 Control paths, STS `POST /`, `/_emulator/*`), the body
//! size limit, and the path of every AWS call: fault lookup, latency, the
//! operation, rendering, malformation, one log line and one call record.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::faults::{self, Effect, Malformed};
use super::operations::{self, Answer, AwsRequest};
use super::state::CallRecord;
use super::wire::{self, AwsError, DataAccessAnswer};
use super::{Emulator, Operation, control};

/// Largest request body accepted; AWS calls here have tiny bodies.
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024;
/// How far in the past an `expired` fault puts `Expiration`.
const EXPIRED_BY: Duration = Duration::from_secs(600);

const S3CONTROL_DATA_ACCESS: &str = "/v20180820/accessgrantsinstance/dataaccess";
const S3CONTROL_PREFIX: &str = "/v20180820/accessgrantsinstance/prefix";
const S3CONTROL_CALLER_GRANTS: &str = "/v20180820/accessgrantsinstance/caller/grants";
pub(super) const CONTROL_PREFIX: &str = "/_emulator";

/// Marks an answer that must not be sent: a `reset` fault's. The
/// connection is reset instead.
#[derive(Clone, Copy, Debug)]
struct ResetConnection;

/// Why a connection was dropped unanswered.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by a fault")]
struct ResetByFault;

/// A connection's socket that is closed with a TCP RST instead of a FIN
/// when `reset` is set: what a client sees when a peer or middlebox resets.
struct Resettable {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed)
            && let Err(e) = self.stream.set_zero_linger()
        {
            tracing::debug!(error = %e, "could not arm the reset of a connection");
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves one connection until the client closes it or `stop` turns true;
/// then lets the request in flight finish.
pub(super) async fn serve_connection(
    stream: TcpStream,
    emu: Arc<Emulator>,
    mut stop: watch::Receiver<bool>,
) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = Resettable {
        stream,
        reset: Arc::clone(&reset),
    };
    let service = hyper::service::service_fn(move |req| {
        let (emu, reset) = (Arc::clone(&emu), Arc::clone(&reset));
        async move {
            let answer = handle(&emu, req).await;
            if answer.extensions().get::<ResetConnection>().is_some() {
                // hyper drops a connection whose service fails, unanswered.
                reset.store(true, Ordering::Relaxed);
                return Err(ResetByFault);
            }
            Ok(answer)
        }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "emulator connection ended with an error");
            }
        }
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "emulator connection ended with an error");
            }
        }
    }
}

/// Completes once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it here, not in the caller.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Where a request goes.
enum Route {
    Aws(Operation),
    Sts,
    Control,
}

fn route(method: &Method, path: &str) -> Result<Route, AwsError> {
    let allow = |wanted: Method, route: Route| {
        if method == wanted {
            Ok(route)
        } else {
            Err(AwsError::new(
                405,
                "MethodNotAllowed",
                format!("{method} is not allowed on {path}"),
            ))
        }
    };
    match path {
        S3CONTROL_DATA_ACCESS => allow(Method::GET, Route::Aws(Operation::GetDataAccess)),
        S3CONTROL_PREFIX => allow(
            Method::GET,
            Route::Aws(Operation::GetAccessGrantsInstanceForPrefix),
        ),
        S3CONTROL_CALLER_GRANTS => {
            allow(Method::GET, Route::Aws(Operation::ListCallerAccessGrants))
        }
        "/" => allow(Method::POST, Route::Sts),
        p if p == CONTROL_PREFIX || p.starts_with("/_emulator/") => Ok(Route::Control),
        _ => Err(AwsError::new(
            404,
            "NotFound",
            format!("no route for {method} {path}"),
        )),
    }
}

pub(super) async fn handle(emu: &Emulator, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let request_id = wire::request_id();
    let route = match route(&parts.method, parts.uri.path()) {
        Ok(route) => route,
        Err(e) => {
            tracing::info!(method = %parts.method, path = parts.uri.path(), status = e.status, "emulator: no such route");
            return xml_error(&e, &request_id);
        }
    };
    let body = match read_body(&parts.headers, body).await {
        Ok(body) => body,
        Err(e) if matches!(route, Route::Control) => {
            return control::json_error(e.status, &e.message);
        }
        Err(e) => return xml_error(&e, &request_id),
    };
    dispatch(emu, route, &parts, &body, &request_id).await
}

/// [`handle`] for a request whose body is already read: the fuzz targets'
/// way in, without a socket.
#[cfg(feature = "fuzzing")]
pub(super) async fn handle_read(
    emu: &Emulator,
    parts: &hyper::http::request::Parts,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let request_id = wire::request_id();
    match route(&parts.method, parts.uri.path()) {
        Ok(route) => dispatch(emu, route, parts, body, &request_id).await,
        Err(e) => xml_error(&e, &request_id),
    }
}

/// A request whose body has been read, sent where `route` says.
async fn dispatch(
    emu: &Emulator,
    route: Route,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    request_id: &str,
) -> Response<Full<Bytes>> {
    let (operation, params) = match route {
        Route::Control => return control::handle(emu, &parts.method, parts.uri.path(), body),
        Route::Aws(operation) => (
            operation,
            decode(parts.uri.query().unwrap_or("").as_bytes()),
        ),
        Route::Sts => {
            let params = decode(body);
            match params
                .iter()
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.as_str())
            {
                Some("GetCallerIdentity") => (Operation::GetCallerIdentity, params),
                other => {
                    let e = AwsError::new(
                        400,
                        "InvalidAction",
                        format!(
                            "Could not find operation {} for version 2011-06-15",
                            other.unwrap_or("(none)")
                        ),
                    );
                    tracing::info!(
                        operation = other.unwrap_or("(none)"),
                        status = e.status,
                        "emulator: STS action not emulated"
                    );
                    return xml_error(&e, request_id);
                }
            }
        }
    };
    let req = AwsRequest {
        headers: &parts.headers,
        params,
    };
    call(emu, operation, &req, request_id).await
}

/// One AWS call: fault, latency, work, rendering, log line and record.
async fn call(
    emu: &Emulator,
    operation: Operation,
    req: &AwsRequest<'_>,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let mut record = CallRecord {
        operation: operation.as_str(),
        access_key_id: req
            .header("authorization")
            .and_then(|h| wire::parse_authorization(h).ok())
            .map(|sig| sig.access_key_id),
        account_id: req.header("x-amz-account-id").map(str::to_string),
        target: req
            .param("target")
            .or(req.param("s3prefix"))
            .or(req.param("grantscope"))
            .map(str::to_string),
        permission: req.param("permission").map(str::to_string),
        privilege: req.param("privilege").map(str::to_string),
        duration_seconds: req.param("durationSeconds").and_then(|d| d.parse().ok()),
        audit_context: req.param("auditContext").map(str::to_string),
        host: req.header("host").map(str::to_string),
        status: 0,
    };
    let fault = emu.state().faults.take(operation, record.target.as_deref());
    if let Some(latency) = fault.as_ref().and_then(|f| f.latency) {
        tokio::time::sleep(latency).await;
    }
    let effect = fault.map_or(Effect::None, |f| f.effect);
    let malformed = match effect {
        Effect::Malformed(kind) => Some(kind),
        _ => None,
    };
    if effect == Effect::Reset {
        tracing::info!(
            operation = operation.as_str(),
            target = record.target.as_deref().unwrap_or("-"),
            "emulator call reset by a fault"
        );
        emu.state().record(record, operation);
        let mut reset = response(0, "text/plain", String::new(), request_id);
        reset.extensions_mut().insert(ResetConnection);
        return reset;
    }
    let outcome = match effect {
        Effect::Error {
            status,
            code,
            message,
        } => Err(AwsError::new(status, &code, message)),
        _ => operations::answer(emu, operation, req).await,
    };

    let (status, content_type, body, issued) = match outcome {
        Ok(answer) => {
            let (body, content_type, issued) = render(emu, answer, malformed, request_id);
            (200, content_type, body, issued)
        }
        Err(e) => (e.status, "application/xml", e.to_xml(request_id), None),
    };
    record.status = status;
    // Key ids, targets and outcomes only: never a secret or a token.
    tracing::info!(
        operation = operation.as_str(),
        access_key_id = record.access_key_id.as_deref().unwrap_or("-"),
        target = record.target.as_deref().unwrap_or("-"),
        permission = record.permission.as_deref().unwrap_or("-"),
        issued_access_key_id = issued.as_deref().unwrap_or("-"),
        status,
        "emulator call"
    );
    emu.state().record(record, operation);
    response(status, content_type, body, request_id)
}

/// Renders a successful answer, registering vended keys, and breaks it as
/// a `malformed` fault says. Also returns the access key id vended, if any.
fn render(
    emu: &Emulator,
    answer: Answer,
    malformed: Option<Malformed>,
    request_id: &str,
) -> (String, &'static str, Option<String>) {
    let mut issued = None;
    let body = match answer {
        Answer::DataAccess(mut vended) => {
            if malformed == Some(Malformed::Expired) {
                let past = emu.clock.now() - EXPIRED_BY;
                vended.credentials.expiration = past;
                vended.issued.expiration = past;
            }
            let body = wire::data_access_xml(&DataAccessAnswer {
                credentials: &vended.credentials,
                matched_grant_target: &vended.issued.matched_grant_target,
                grantee: &vended.issued.grantee,
            });
            let access_key_id = vended.credentials.access_key_id.clone();
            issued = Some(access_key_id.clone());
            emu.state()
                .register(access_key_id, vended.issued, emu.clock.now());
            body
        }
        Answer::InstanceForPrefix { account_id } => {
            wire::instance_for_prefix_xml(&emu.scenario.region, &account_id)
        }
        Answer::CallerGrants(grants, next_token) => {
            wire::caller_grants_xml(&grants, next_token.as_deref())
        }
        Answer::CallerIdentity { arn } => wire::caller_identity_xml(&arn, request_id),
    };
    let (body, content_type) = match malformed {
        Some(kind) => faults::mangle(kind, body),
        None => (body, "application/xml"),
    };
    (body, content_type, issued)
}

/// Reads a body of at most [`MAX_BODY_BYTES`].
async fn read_body(headers: &hyper::HeaderMap, body: Incoming) -> Result<Bytes, AwsError> {
    let too_large = || {
        AwsError::new(
            413,
            "RequestEntityTooLarge",
            format!("request body exceeds {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(AwsError::invalid_request(format!(
            "could not read the request body: {e}"
        ))),
    }
}

fn decode(encoded: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(encoded).into_owned().collect()
}

fn xml_error(e: &AwsError, request_id: &str) -> Response<Full<Bytes>> {
    response(
        e.status,
        "application/xml",
        e.to_xml(request_id),
        request_id,
    )
}

pub(super) fn response(
    status: u16,
    content_type: &str,
    body: String,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(hyper::header::CONTENT_TYPE, content_type);
    if !request_id.is_empty() {
        builder = builder
            .header("x-amz-request-id", request_id)
            .header("x-amzn-requestid", request_id);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| {
            // Only a bad header value could fail, and every value above is ours.
            let mut fallback = Response::new(Full::new(Bytes::new()));
            *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}
