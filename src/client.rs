//! `grantd env` and `grantd creds`: small clients of a running daemon.
//!
//! They find the daemon through the same settings as `serve` (config file,
//! `--listen`/`GRANTD_LISTEN`, `--addr-file`, `--token-file`), so a shell with
//! the daemon's environment needs no extra flags.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;

use crate::config::Settings;
use crate::credentials::{Credentials, Secret, parse_timestamp, process_json};
use crate::scope::{Permission, Privilege, S3Target};

/// Exit code when the daemon cannot be reached (EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: i32 = 69;

/// Which credentials to ask for.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub profile: Option<String>,
    pub target: Option<String>,
    pub permission: Option<String>,
    pub privilege: Option<String>,
    pub duration: Option<u32>,
}

/// The daemon's address as a client should dial it.
pub fn daemon_addr(settings: &Settings) -> Result<SocketAddr, String> {
    let mut addr = settings.listen;
    if let Some(path) = &settings.addr_file {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                addr = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{}: not a host:port address", path.display()))?;
            }
            Err(e) if addr.port() == 0 => {
                return Err(format!(
                    "{}: cannot read the daemon's address ({e}); is grantd serve running?",
                    path.display()
                ));
            }
            Err(_) => {}
        }
    }
    if addr.port() == 0 {
        return Err("the daemon listens on port 0; pass the --addr-file it writes".into());
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    Ok(addr)
}

/// The path and query of the credentials route for a selection, checked locally.
pub fn credentials_path(sel: &Selection) -> Result<String, String> {
    match (&sel.profile, &sel.target) {
        (Some(_), Some(_)) => Err("give either --profile or --target, not both".into()),
        (Some(name), None) => {
            // The daemon knows its profiles; this shell may not have the config file.
            if !crate::profile::is_profile_name(name) {
                return Err(format!("{name:?} is not a profile name"));
            }
            Ok(format!("/v1/credentials/{name}"))
        }
        (None, Some(target)) => {
            let target = S3Target::parse(target).map_err(|e| e.to_string())?;
            let permission: Permission = sel
                .permission
                .as_deref()
                .ok_or("--target needs --permission READ, WRITE or READWRITE")?
                .parse()
                .map_err(|e: crate::scope::ScopeError| e.to_string())?;
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("target", target.as_str())
                .append_pair("permission", permission.as_str());
            if let Some(p) = &sel.privilege {
                let p: Privilege = p
                    .parse()
                    .map_err(|e: crate::scope::ScopeError| e.to_string())?;
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
        (None, None) if sel.permission.is_some() => Err("--permission needs --target".into()),
        (None, None) => Ok("/v1/credentials".into()),
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell lines of `grantd env`.
pub fn env_lines(addr: SocketAddr, path: &str, token_file: &std::path::Path) -> String {
    let uri = format!("http://{addr}{path}");
    let token_file = token_file.display().to_string();
    format!(
        "export AWS_CONTAINER_CREDENTIALS_FULL_URI={}\n\
         export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}\n\
         export AWS_CONTAINER_AUTHORIZATION_TOKEN=\"$(cat {})\"\n\
         unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI\n",
        shell_quote(&uri),
        shell_quote(&token_file),
        shell_quote(&token_file),
    )
}

/// Polls `/readyz` until it answers 200 or `wait` has passed. `locate` is asked
/// each time, because the daemon may not have written its address file yet.
pub async fn wait_ready(
    locate: impl Fn() -> Result<SocketAddr, String>,
    wait: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let last = match locate() {
            Ok(addr) => match get(addr, "/readyz", None).await {
                Ok((200, _)) => return Ok(()),
                Ok((status, _)) => format!("/readyz answered {status}"),
                Err(e) => e,
            },
            Err(e) => e,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("not ready after {} s: {last}", wait.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One GET to the daemon; returns status and body.
pub async fn get(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> Result<(u16, Bytes), String> {
    let work = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot reach grantd at {addr}: {e}; is grantd serve running?"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("cannot talk to grantd at {addr}: {e}"))?;
        tokio::spawn(conn);
        let mut req = Request::get(path).header("host", addr.to_string());
        if let Some(token) = token {
            req = req.header("authorization", token);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("bad request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("grantd at {addr} failed: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("grantd at {addr} failed mid-answer: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .map_err(|_| format!("grantd at {addr} did not answer within 10 s"))?
}

/// Output formats of `grantd creds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Env,
    Process,
}

/// Renders a daemon answer in `format`; `Err` for a body that is not credentials.
pub fn render(body: &[u8], format: Format) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| "grantd answered with something other than JSON".to_string())?;
    let field = |name: &str| {
        v.get(name)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| format!("grantd's answer lacks {name}"))
    };
    let expiration = field("Expiration")?;
    let creds = Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: Secret::new(field("SecretAccessKey")?),
        session_token: Secret::new(field("Token")?),
        expiration: parse_timestamp(&expiration).ok_or("grantd's Expiration does not parse")?,
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
    use super::*;

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
        assert!(render(b"{}", Format::Json).is_err());
        assert!(render(b"nope", Format::Json).is_err());
    }

    #[test]
    fn error_text_reads_the_contract_body() {
        let body =
            br#"{"code":"AccessDenied","message":"no","Code":"AccessDenied","Message":"no"}"#;
        assert_eq!(error_text(403, body), "AccessDenied (HTTP 403): no");
        assert_eq!(error_text(502, b""), "HTTP 502");
    }
}
