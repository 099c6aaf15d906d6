//! One S3 request, from its peer to S3's answer, in the order of its checks:
//! the peer's user, the signature (against the base identity's sessions),
//! the operation and what it needs, the identity that signs it on, then
//! forwarding. Nothing goes upstream before every check of the head passed;
//! the body is checked as it streams (see [`super::body`]).

use std::sync::Arc;

use grantd_s3::ops::{self, Needs};
use grantd_s3::sigv4::{self, AuthError, SecretKey, Verified};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request, Response};
use tracing::{debug, info};

use super::S3State;
use super::body::S3Body;
use super::choose;
use super::delete;
use super::error::S3Error;
use super::forward::{Forward, Head, Outgoing, to_client};
use crate::metrics::s3::Outcome;
use crate::server::auth::Peer;

/// Longest path echoed in an error's `<Resource>` or a log line.
const MAX_SHOWN_PATH: usize = 256;

/// Answers one request and records it.
pub async fn answer(
    state: Arc<S3State>,
    peer: Arc<Peer>,
    req: Request<Incoming>,
) -> Response<S3Body> {
    let request_id = request_id();
    let started = tokio::time::Instant::now();
    let method = req.method().clone();
    let path: String = req.uri().path().chars().take(MAX_SHOWN_PATH).collect();
    let mut class = "unknown";
    let (resp, outcome, chosen) = match serve(&state, &peer, req, &request_id, &mut class).await {
        Ok((resp, outcome, chosen)) => (resp, outcome, chosen),
        Err(e) => {
            let outcome = e.outcome();
            if outcome == Outcome::Denied {
                info!(%method, path, code = e.code(), reason = %e, "s3 request denied");
            } else {
                debug!(%method, path, code = e.code(), reason = %e, "s3 request refused");
            }
            (
                e.into_response(Some(&path), &request_id),
                outcome,
                String::new(),
            )
        }
    };
    state.metrics.s3.request(class, outcome);
    debug!(
        %method, path, class, outcome = outcome.as_str(), grant = chosen,
        status = resp.status().as_u16(), micros = started.elapsed().as_micros() as u64,
        request_id, "s3 request"
    );
    resp
}

/// Random, as S3's are; names a request in logs and in its answer.
fn request_id() -> String {
    format!("{:016X}", fastrand::u64(..))
}

async fn serve(
    state: &S3State,
    peer: &Peer,
    req: Request<Incoming>,
    request_id: &str,
    class: &mut &'static str,
) -> Result<(Response<S3Body>, Outcome, String), S3Error> {
    peer.check()
        .map_err(|e| S3Error::PeerNotAllowed(e.to_string()))?;
    let (parts, body) = req.into_parts();
    let verified = verify(state, &parts).await?;
    let (bucket, key) = ops::parse_path(parts.uri.path())?;
    let raw_query = parts.uri.query().unwrap_or("");
    let query = without_auth(raw_query, &verified);
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let classified = ops::classify(
        &parts.method,
        bucket.as_deref(),
        key.as_deref(),
        &pairs,
        &parts.headers,
    )?;
    *class = classified.class.as_str();
    let op = classified.op.name();

    let head = Head {
        parts: &parts,
        verified: &verified,
        bucket: bucket.as_deref(),
        query: &query,
        class,
    };
    let identity = match &classified.needs {
        Needs::Grant(need) => choose::for_need(state, need).await?,
        Needs::Copy(copy) => choose::for_copy(state, copy).await?,
        Needs::NoGrant => {
            let what = format!(
                "{op} on {}",
                bucket
                    .as_deref()
                    .map_or("the account".into(), |b| format!("s3://{b}"))
            );
            choose::fallback(state, &what, "Access Grants credentials cannot perform it").await?
        }
        Needs::SplitByKey { bucket: b, .. } => {
            let (resp, outcome) = delete::answer(state, &head, b, body, request_id).await?;
            return Ok((resp, outcome, "split by key".into()));
        }
    };
    debug!(op, grant = %identity.describe(), access_key_id = identity.access_key_id(), "s3 request signed on");
    let fwd = Forward {
        head: &head,
        identity: &identity,
    };
    let answer = fwd
        .send(state, Outgoing::Client(body), Default::default())
        .await?;
    Ok((
        to_client(answer, state),
        identity.outcome(),
        identity.describe(),
    ))
}

/// The signature, checked against the base identity's sessions; a key
/// nobody has seen reloads them once (bounded) before it is refused.
async fn verify(state: &S3State, parts: &Parts) -> Result<Verified, S3Error> {
    let attempt = || {
        sigv4::verify_parts(parts, state.clock.now(), |key| {
            // A session's token is checked too: a key without its token is refused.
            state.base.session_of(key).map(|s| {
                let secret = SecretKey::new(s.secret_access_key.expose());
                match &s.session_token {
                    Some(token) => secret.with_session_token(token.expose()),
                    None => secret,
                }
            })
        })
    };
    match attempt() {
        Err(AuthError::InvalidAccessKeyId { access_key_id }) => {
            if state.base.reload_for(&access_key_id).await {
                Ok(attempt()?)
            } else {
                Err(AuthError::InvalidAccessKeyId { access_key_id }.into())
            }
        }
        other => Ok(other?),
    }
}

/// The raw query less the parameters that carried the client's signature.
fn without_auth(raw: &str, verified: &Verified) -> String {
    strip_params(raw, &verified.auth_query_params)
}

/// `raw` (a query, as sent) less the parameters named in `names`.
fn strip_params(raw: &str, names: &[&str]) -> String {
    if names.is_empty() {
        return raw.to_string();
    }
    raw.split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            !names.iter().any(|p| p.eq_ignore_ascii_case(name))
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_s_query_parameters_do_not_go_on() {
        let raw = "X-Amz-Algorithm=AWS4-HMAC-SHA256&prefix=a%2Bb&x-amz-signature=ff&uploads";
        let auth = ["X-Amz-Algorithm", "X-Amz-Signature"];
        assert_eq!(strip_params(raw, &auth), "prefix=a%2Bb&uploads");
        assert_eq!(strip_params(raw, &[]), raw);
        assert_eq!(strip_params("X-Amz-Signature=1", &auth), "");
    }
}
