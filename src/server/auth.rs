//! Who may ask: the Host check, the bearer token, and why an IMDS session is refused.
//!
//! Owns the checks that come before any credential is looked up. The Host
//! check guards against DNS rebinding (a browser tricked into calling us
//! sends its own site as Host); the token is compared in constant time by
//! [`Token::matches`]. IMDS sessions are kept by `imds`, which reports a
//! refused session here as an [`AuthError`] so that `response` maps every
//! refusal in one place.

use hyper::HeaderMap;
use hyper::header;

use crate::token::Token;

/// Why a request is not allowed to ask.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("Host header must name a loopback address")]
    NonLoopbackHost,
    #[error(
        "send the grantd token in the Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, or AWS_CONTAINER_AUTHORIZATION_TOKEN for Java SDK v1 (Hadoop 3.3)"
    )]
    MissingToken,
    #[error("the Authorization token is not this daemon's")]
    InvalidToken,
    #[error("missing X-aws-ec2-metadata-token; PUT /latest/api/token first")]
    MissingSession,
    #[error("the metadata token has expired")]
    ExpiredSession,
    #[error("unknown metadata token")]
    UnknownSession,
    /// As on EC2: a request relayed through a proxy must not mint a session.
    #[error("requests carrying X-Forwarded-For are refused")]
    Forwarded,
}

/// `Ok` when `Host` is absent (HTTP/1.0; a browser always sends it) or names
/// `localhost` or a loopback address, with or without a port.
pub fn check_host(headers: &HeaderMap) -> Result<(), AuthError> {
    let Some(host) = headers.get(header::HOST) else {
        return Ok(());
    };
    let Ok(host) = host.to_str() else {
        return Err(AuthError::NonLoopbackHost);
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(AuthError::NonLoopbackHost)
    }
}

/// The raw token in `Authorization`, exactly as the SDKs send it.
pub fn check_token(token: &Token, headers: &HeaderMap) -> Result<(), AuthError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::MissingToken)?;
    if token.matches(presented.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accepts_loopback_hosts_with_or_without_a_port() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:7911",
            "127.1.2.3:80",
            "localhost",
            "LOCALHOST:7911",
            "[::1]",
            "[::1]:7911",
        ] {
            assert_eq!(check_host(&with(header::HOST, host)), Ok(()), "{host}");
        }
        assert_eq!(check_host(&HeaderMap::new()), Ok(()), "no Host at all");
    }

    #[test]
    fn refuses_other_hosts() {
        for host in [
            "evil.example",
            "evil.example:7911",
            "10.0.0.1",
            "[::2]:80",
            "localhost.evil",
        ] {
            assert_eq!(
                check_host(&with(header::HOST, host)),
                Err(AuthError::NonLoopbackHost),
                "{host}"
            );
        }
    }

    #[test]
    fn the_token_must_be_present_and_exact() {
        let token = Token::new("right-token-right-token");
        assert_eq!(
            check_token(&token, &HeaderMap::new()),
            Err(AuthError::MissingToken)
        );
        for wrong in [
            "right-token-right-tokeN",
            "right-token",
            "Bearer right-token-right-token",
        ] {
            assert_eq!(
                check_token(&token, &with(header::AUTHORIZATION, wrong)),
                Err(AuthError::InvalidToken),
                "{wrong}"
            );
        }
        assert_eq!(
            check_token(
                &token,
                &with(header::AUTHORIZATION, "right-token-right-token")
            ),
            Ok(())
        );
    }
}
