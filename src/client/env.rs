//! The shell lines of `grantd env` and `grantd env --s3`, and where the S3
//! endpoint is.

use std::net::SocketAddr;

use super::{ClientError, Daemon, get};

pub(super) fn shell_quote(s: &str) -> String {
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

/// The lines of `grantd env --s3`: the base identity through the container
/// variables, and S3 through the S3 endpoint. Nothing else goes to grantd:
/// never `AWS_ENDPOINT_URL`, which would send STS and every other service
/// there too.
///
/// rclone takes the endpoint from `RCLONE_S3_ENDPOINT` (path-style, which
/// a local endpoint needs); `spark_conf_dir` is where a Spark configuration
/// for s3a was written ([`spark::write`]).
pub fn s3_env_lines(
    addr: SocketAddr,
    s3_endpoint: &str,
    token_file: &std::path::Path,
    spark_conf_dir: Option<&std::path::Path>,
) -> String {
    let mut lines = env_lines(addr, BASE_CREDENTIALS_PATH, token_file);
    let s3 = shell_quote(s3_endpoint);
    lines.push_str(&format!(
        "export AWS_ENDPOINT_URL_S3={s3}\n\
         export RCLONE_S3_ENDPOINT={s3}\n\
         export RCLONE_S3_FORCE_PATH_STYLE='true'\n"
    ));
    if let Some(dir) = spark_conf_dir {
        lines.push_str(&format!(
            "export SPARK_CONF_DIR={}\n",
            shell_quote(&dir.display().to_string())
        ));
    }
    lines
}

/// The route of the base identity.
pub const BASE_CREDENTIALS_PATH: &str = "/v1/base-credentials";

/// The S3 endpoint's URL as the daemon tells it (`/readyz`), else the
/// configured `--s3-listen`; never from a listener of another user.
pub async fn s3_endpoint(
    daemon: Daemon,
    configured: Option<SocketAddr>,
) -> Result<String, ClientError> {
    match get(daemon, "/readyz", None).await {
        Ok((200, body)) => {
            let told = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("s3_endpoint")?.as_str().map(String::from));
            if let Some(url) = told {
                return Ok(url);
            }
        }
        Err(e) if e.is_untrusted_listener() => return Err(e),
        _ => {}
    }
    match configured {
        Some(a) if a.port() != 0 => {
            let ip = if a.ip().is_unspecified() {
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            } else {
                a.ip()
            };
            Ok(format!("http://{}", SocketAddr::new(ip, a.port())))
        }
        _ => Err(ClientError::NoS3Endpoint),
    }
}
