//! `grantd env`, `grantd creds` and `grantd ready`: small clients of a
//! running daemon.
//!
//! They find the daemon through the same settings as `serve` (config file,
//! `--listen`/`GRANTD_LISTEN`, `--addr-file`, `--token-file`), so a shell with
//! the daemon's environment needs no extra flags. `locate` owns finding the
//! daemon's address and deciding whether an address file may be believed;
//! `trust` owns deciding whether whoever listens there may be sent anything
//! (this user or root only), which [`get`] checks on every connection before
//! it writes a byte.

use std::net::{AddrParseError, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use grantd_common::fs::PathError;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;

use crate::credentials::{Credentials, Secret, parse_timestamp};
use crate::scope::{Permission, Privilege, S3Target, ScopeError};
use crate::wire::process_json;

mod env;
mod locate;
pub mod spark;
mod trust;

use env::shell_quote;
pub use env::{BASE_CREDENTIALS_PATH, env_lines, s3_endpoint, s3_env_lines};
pub use locate::daemon;
pub use trust::Trust;

/// A daemon to talk to: where it listens, and who may hold that address.
#[derive(Clone, Copy, Debug)]
pub struct Daemon {
    pub addr: SocketAddr,
    /// `None` for a remote daemon allowed by `--allow-remote`, whose socket
    /// the kernel of this host does not know.
    pub trust: Option<Trust>,
}

impl Daemon {
    /// A daemon on this host of this user or root (the demo's).
    pub fn local(addr: SocketAddr) -> Daemon {
        Daemon {
            addr,
            trust: Some(Trust::own()),
        }
    }
}

/// Exit code when the daemon cannot be reached (EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: i32 = 69;

/// Why a client command could not get its answer from the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{}: not a host:port address", path.display())]
    BadAddrFile {
        path: PathBuf,
        #[source]
        source: AddrParseError,
    },
    #[error("{}: cannot read the daemon's address (is grantd serve running?)", path.display())]
    NoAddrFile {
        path: PathBuf,
        #[source]
        source: PathError,
    },
    /// The address file or its directory could have been planted or changed
    /// by another user; the cause names which and how to fix it.
    #[error("{}: refusing the daemon's address file", path.display())]
    UntrustedAddrFile {
        path: PathBuf,
        #[source]
        source: PathError,
    },
    #[error(
        "{}: names {addr}, which is not a loopback address; the token is sent only to \
         loopback unless --allow-remote (GRANTD_ALLOW_REMOTE) is given",
        path.display()
    )]
    RemoteAddr { path: PathBuf, addr: SocketAddr },
    #[error("the daemon listens on port 0; pass the --addr-file it writes")]
    PortZero,
    /// Whoever listens at the daemon's address is another user: a squatter
    /// on the port while grantd is down, never sent the token.
    #[error(
        "refusing to talk to {addr}: the process listening there runs as uid {uid}, neither \
         yours ({own}) nor root's; another user may hold the port while grantd is down (is \
         grantd serve running?)"
    )]
    UntrustedListener {
        addr: SocketAddr,
        uid: u32,
        own: u32,
    },
    #[error("refusing to talk to {addr}: cannot tell which user listens there")]
    UnknownListener {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the daemon serves no S3 endpoint (start it with --s3-listen or GRANTD_S3_LISTEN), or is not ready yet"
    )]
    NoS3Endpoint,
    #[error("give either --profile or --target, not both")]
    ProfileAndTarget,
    #[error("{0:?} is not a profile name")]
    NotAProfileName(String),
    #[error("--target needs --permission READ, WRITE or READWRITE")]
    TargetWithoutPermission,
    #[error("--permission needs --target")]
    PermissionWithoutTarget,
    /// A target, permission or privilege that does not parse; its own message says which.
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error("cannot reach grantd at {addr} (is grantd serve running?)")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot talk to grantd at {addr}")]
    Handshake {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
    #[error("bad request")]
    Request(#[source] hyper::http::Error),
    #[error("grantd at {addr} failed")]
    Send {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
    #[error("grantd at {addr} failed mid-answer")]
    Body {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
    #[error("grantd at {addr} did not answer within {} s", GET_TIMEOUT.as_secs())]
    Timeout { addr: SocketAddr },
    #[error("/readyz answered {0}")]
    Unready(u16),
    #[error("not ready after {} s", waited.as_secs())]
    NotReady {
        waited: Duration,
        /// What the last attempt ran into.
        #[source]
        last: Box<ClientError>,
    },
    #[error("grantd answered with something other than JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("grantd's answer lacks {0}")]
    MissingField(&'static str),
    #[error("grantd's Expiration does not parse")]
    BadExpiration,
}

/// How long one request to the daemon may take. Defaults to 10 s.
pub const GET_TIMEOUT: Duration = Duration::from_secs(10);

/// Which credentials to ask for.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub profile: Option<String>,
    pub target: Option<String>,
    pub permission: Option<String>,
    pub privilege: Option<String>,
    pub duration: Option<u32>,
}

/// The path and query of the credentials route for a selection, checked locally.
pub fn credentials_path(sel: &Selection) -> Result<String, ClientError> {
    match (&sel.profile, &sel.target) {
        (Some(_), Some(_)) => Err(ClientError::ProfileAndTarget),
        (Some(name), None) => {
            // The daemon knows its profiles; this shell may not have the config file.
            if !crate::profile::is_profile_name(name) {
                return Err(ClientError::NotAProfileName(name.clone()));
            }
            Ok(format!("/v1/credentials/{name}"))
        }
        (None, Some(target)) => {
            let target = S3Target::parse(target)?;
            let permission: Permission = sel
                .permission
                .as_deref()
                .ok_or(ClientError::TargetWithoutPermission)?
                .parse()?;
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("target", target.as_str())
                .append_pair("permission", permission.as_str());
            if let Some(p) = &sel.privilege {
                let p: Privilege = p.parse()?;
                q.append_pair("privilege", p.as_str());
            }
            if let Some(d) = sel.duration {
                q.append_pair("duration", &d.to_string());
            }
            // Keep '/', ':' and '*' readable in the URI; clients keep the query as given.
            let query = q
                .finish()
                .replace("%3A", ":")
                .replace("%2F", "/")
                .replace("%2A", "*");
            Ok(format!("/v1/credentials?{query}"))
        }
        (None, None) if sel.permission.is_some() => Err(ClientError::PermissionWithoutTarget),
        (None, None) => Ok("/v1/credentials".into()),
    }
}

/// Polls `/readyz` until it answers 200 or `wait` has passed. `locate` is asked
/// each time, because the daemon may not have written its address file yet.
pub async fn wait_ready(
    locate: impl Fn() -> Result<Daemon, ClientError>,
    wait: Duration,
) -> Result<(), ClientError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let last = match locate() {
            Ok(daemon) => match get(daemon, "/readyz", None).await {
                Ok((200, _)) => return Ok(()),
                Ok((status, _)) => ClientError::Unready(status),
                Err(e) => e,
            },
            Err(e) => e,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(ClientError::NotReady {
                waited: wait,
                last: Box::new(last),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One GET to the daemon; returns status and body. Nothing is sent until
/// the listener is known to be this user's or root's ([`Trust`]).
pub async fn get(
    daemon: Daemon,
    path: &str,
    token: Option<&str>,
) -> Result<(u16, Bytes), ClientError> {
    send(daemon, hyper::Method::GET, path, token).await
}

/// One request with no body to the daemon, as [`get`].
pub async fn send(
    daemon: Daemon,
    method: hyper::Method,
    path: &str,
    token: Option<&str>,
) -> Result<(u16, Bytes), ClientError> {
    let addr = daemon.addr;
    let work = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        if let Some(trust) = daemon.trust {
            trust.check(addr, &stream)?;
        }
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ClientError::Handshake { addr, source })?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        if let Some(token) = token {
            req = req.header("authorization", token);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(ClientError::Request)?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|source| ClientError::Send { addr, source })?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|source| ClientError::Body { addr, source })?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(GET_TIMEOUT, work)
        .await
        .map_err(|_| ClientError::Timeout { addr })?
}

impl ClientError {
    /// Whether the daemon's address is held by someone it must not talk to.
    pub fn is_untrusted_listener(&self) -> bool {
        matches!(
            self,
            ClientError::UntrustedListener { .. } | ClientError::UnknownListener { .. }
        )
    }
}

/// Output formats of `grantd creds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Env,
    Process,
}

/// Renders a daemon answer in `format`; `Err` for a body that is not credentials.
pub fn render(body: &[u8], format: Format) -> Result<String, ClientError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(ClientError::NotJson)?;
    let field = |name: &'static str| {
        v.get(name)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or(ClientError::MissingField(name))
    };
    let expiration = field("Expiration")?;
    let creds = Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: Secret::new(field("SecretAccessKey")?),
        session_token: Secret::new(field("Token")?),
        expiration: parse_timestamp(&expiration).ok_or(ClientError::BadExpiration)?,
    };
    Ok(match format {
        Format::Json => format!("{}\n", String::from_utf8_lossy(body)),
        Format::Process => format!("{}\n", process_json(&creds)),
        Format::Env => format!(
            "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_SESSION_TOKEN={}\nexport AWS_CREDENTIAL_EXPIRATION={}\n",
            shell_quote(&creds.access_key_id),
            shell_quote(creds.secret_access_key.expose()),
            shell_quote(creds.session_token.expose()),
            shell_quote(&expiration),
        ),
    })
}

/// `code: message` of a daemon error body.
pub fn error_text(status: u16, body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match (
        v.get("code").and_then(|c| c.as_str()),
        v.get("message").and_then(|m| m.as_str()),
    ) {
        (Some(code), Some(message)) => format!("{code} (HTTP {status}): {message}"),
        _ => format!("HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;
    use crate::report::Report;

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn renders_process_and_env_formats() {
        let body = br#"{"AccessKeyId":"ASIA1","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-23T12:00:00Z"}"#;
        let p: serde_json::Value =
            serde_json::from_str(&render(body, Format::Process).unwrap()).unwrap();
        assert_eq!(p["Version"], 1);
        assert_eq!(p["SessionToken"], "t");
        let env = render(body, Format::Env).unwrap();
        assert!(env.contains("export AWS_SESSION_TOKEN='t'"));
        assert!(matches!(
            render(b"{}", Format::Json),
            Err(ClientError::MissingField("Expiration"))
        ));
        assert!(matches!(
            render(b"nope", Format::Json),
            Err(ClientError::NotJson(_))
        ));
    }

    #[test]
    fn a_body_that_is_not_json_keeps_the_parse_error_as_its_source() {
        let err = render(b"nope", Format::Json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "grantd answered with something other than JSON"
        );
        assert!(
            err.source()
                .and_then(|e| e.downcast_ref::<serde_json::Error>())
                .is_some()
        );
    }

    #[tokio::test]
    async fn an_unreachable_daemon_is_reported_with_the_connect_error_underneath() {
        // Bound and dropped: nothing listens there now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = get(Daemon::local(addr), "/healthz", None)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot reach grantd at {addr} (is grantd serve running?)")
        );
        assert!(
            err.source()
                .and_then(|e| e.downcast_ref::<std::io::Error>())
                .is_some()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn not_ready_names_the_last_failure_as_its_source() {
        let err = wait_ready(|| Err(ClientError::PortZero), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "not ready after 1 s");
        let ClientError::NotReady { last, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(matches!(**last, ClientError::PortZero), "{last:?}");
        assert_eq!(
            err.source().map(|e| e.to_string()),
            Some(ClientError::PortZero.to_string())
        );
        assert_eq!(
            Report(&err).to_string(),
            "not ready after 1 s: the daemon listens on port 0; pass the --addr-file it writes"
        );
    }

    #[test]
    fn a_bad_scope_says_what_is_wrong_with_it() {
        let sel = Selection {
            target: Some("s3://bucket-one/x/*".into()),
            permission: Some("ALL".into()),
            ..Selection::default()
        };
        let err = credentials_path(&sel).unwrap_err();
        assert!(matches!(err, ClientError::Scope(_)), "{err:?}");
        assert!(
            err.to_string().contains("invalid permission \"ALL\""),
            "{err}"
        );
    }

    #[test]
    fn error_text_reads_the_contract_body() {
        let body =
            br#"{"code":"AccessDenied","message":"no","Code":"AccessDenied","Message":"no"}"#;
        assert_eq!(error_text(403, body), "AccessDenied (HTTP 403): no");
        assert_eq!(error_text(502, b""), "HTTP 502");
    }
}
