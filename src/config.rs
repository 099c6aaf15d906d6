//! Configuration: flags, `GRANTD_*` environment variables and a TOML file.
//!
//! Owns the resolved [`Settings`] and the rule flag > env > file > default.
//! Everything is parsed and checked before anything binds, and every problem
//! is reported at once (the binary exits 64). The environment is read through
//! a [`Source`], so tests pass a map instead of the process environment.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::profile::{Profile, is_profile_name};
use crate::scope::{
    DURATION_RANGE, DataAccessRequest, Permission, Privilege, S3Target, is_account_id,
};

/// Address the daemon binds. Defaults to 127.0.0.1:7911.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7911);
/// Most open client connections. Defaults to 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = crate::server::DEFAULT_MAX_CONNECTIONS;
/// Most cached scopes. Defaults to 10,000.
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000;
/// New upstream loads per second. Defaults to 20 (GetDataAccess has no published quota).
pub const DEFAULT_MAX_NEW_SCOPES_PER_SECOND: u32 = 20;

/// Where environment variables come from.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned().filter(|v| !v.is_empty())
    }
}

/// Command-line values; `None` = not given. Shared by every command that talks
/// to or is the daemon, so `env` and `creds` find it through the same settings.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Flags {
    /// TOML config file (profiles live here) [env: GRANTD_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to bind; port 0 picks a free port [env: GRANTD_LISTEN] [default: 127.0.0.1:7911]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Allow a non-loopback --listen address [env: GRANTD_ALLOW_REMOTE]
    #[arg(long)]
    pub allow_remote: bool,
    /// After binding, write the bound host:port here [env: GRANTD_ADDR_FILE]
    #[arg(long, value_name = "FILE")]
    pub addr_file: Option<PathBuf>,
    /// Bearer token file; generated (0600) when missing [env: GRANTD_TOKEN_FILE]
    /// [default: $XDG_RUNTIME_DIR/grantd/token, else ${TMPDIR:-/tmp}/grantd-$UID/token]
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Account of the Access Grants instance [env: GRANTD_ACCOUNT_ID] [default: from STS GetCallerIdentity]
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// Region of the Access Grants instance [env: GRANTD_REGION] [default: the AWS region chain]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Profile served by GET /v1/credentials [env: GRANTD_DEFAULT_PROFILE] [default: first in the file]
    #[arg(long, value_name = "NAME")]
    pub default_profile: Option<String>,
    /// Also serve the IMDSv2-compatible routes [env: GRANTD_IMDS]
    #[arg(long)]
    pub imds: bool,
    /// Log format: text or json [env: GRANTD_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or grantd=debug [env: GRANTD_LOG_LEVEL, RUST_LOG] [default: info]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the daemon and its client commands need, resolved and checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub listen: SocketAddr,
    pub allow_remote: bool,
    pub addr_file: Option<PathBuf>,
    pub token_file: PathBuf,
    pub account_id: Option<String>,
    pub region: Option<String>,
    /// Name of the profile served without a target; `None` when there are none.
    pub default_profile: Option<String>,
    pub imds: bool,
    /// List every profile at the IMDS role list instead of the default alone.
    pub imds_list_all_profiles: bool,
    pub log_format: LogFormat,
    pub log_level: Option<String>,
    pub max_entries: u64,
    pub max_connections: usize,
    /// New upstream loads per second the daemon starts for requests (burst: five times this).
    pub max_new_scopes_per_second: u32,
    /// In file order, the default first.
    pub profiles: Vec<Profile>,
    pub s3control_endpoint: Option<String>,
    pub sts_endpoint: Option<String>,
}

impl Settings {
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }
}

const TOP_KEYS: &[&str] = &[
    "listen",
    "allow_remote",
    "addr_file",
    "token_file",
    "account_id",
    "region",
    "default_profile",
    "imds",
    "log_format",
    "log_level",
    "max_entries",
    "max_connections",
    "max_new_scopes_per_second",
    "imds_list_all_profiles",
    "profiles",
];
const PROFILE_KEYS: &[&str] = &[
    "target",
    "permission",
    "privilege",
    "duration_seconds",
    "account_id",
    "region",
];

/// Collects problems; each one names its key and where it came from.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }
}

/// A raw value and where it came from, for error messages.
struct Raw {
    value: RawValue,
    origin: String,
}

enum RawValue {
    Text(String),
    Toml(toml::Value),
}

impl Raw {
    fn text(&self, problems: &mut Problems) -> Option<String> {
        match &self.value {
            RawValue::Text(s) => Some(s.clone()),
            RawValue::Toml(toml::Value::String(s)) => Some(s.clone()),
            RawValue::Toml(v) => {
                problems.push(format!(
                    "{}: expected a string, got {}",
                    self.origin,
                    v.type_str()
                ));
                None
            }
        }
    }

    fn boolean(&self, problems: &mut Problems) -> Option<bool> {
        match &self.value {
            RawValue::Toml(toml::Value::Boolean(b)) => Some(*b),
            RawValue::Text(s) => match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => {
                    problems.push(format!(
                        "{}: expected true or false, got {s:?}",
                        self.origin
                    ));
                    None
                }
            },
            RawValue::Toml(v) => {
                problems.push(format!(
                    "{}: expected true or false, got {}",
                    self.origin,
                    v.type_str()
                ));
                None
            }
        }
    }

    fn integer(&self, problems: &mut Problems, min: u64, max: u64) -> Option<u64> {
        let n = match &self.value {
            RawValue::Toml(toml::Value::Integer(n)) => u64::try_from(*n).ok(),
            RawValue::Text(s) => s.trim().parse::<u64>().ok(),
            RawValue::Toml(_) => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                problems.push(format!(
                    "{}: expected a whole number from {min} to {max}",
                    self.origin
                ));
                None
            }
        }
    }
}

/// Looks a setting up by precedence: flag > env > file.
struct Lookup<'a> {
    env: &'a dyn Source,
    file: &'a toml::Table,
    file_name: String,
}

impl Lookup<'_> {
    fn get(&self, flag: Option<String>, name: &str) -> Option<Raw> {
        let env_key = format!("GRANTD_{}", name.to_ascii_uppercase());
        if let Some(v) = flag {
            return Some(Raw {
                value: RawValue::Text(v),
                origin: format!("--{}", name.replace('_', "-")),
            });
        }
        if let Some(v) = self.env.get(&env_key) {
            return Some(Raw {
                value: RawValue::Text(v),
                origin: env_key,
            });
        }
        self.file.get(name).map(|v| Raw {
            value: RawValue::Toml(v.clone()),
            origin: format!("{}: {name}", self.file_name),
        })
    }
}

/// Resolves settings from flags, environment and config file.
pub fn resolve(flags: &Flags, env: &dyn Source) -> Result<Settings, Vec<String>> {
    let mut problems = Problems::default();
    let config_file = flags
        .config
        .clone()
        .or_else(|| env.get("GRANTD_CONFIG").map(PathBuf::from));
    let file = match &config_file {
        Some(path) => read_file(path, &mut problems),
        None => toml::Table::new(),
    };
    let file_name = config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for key in file.keys() {
        if !TOP_KEYS.contains(&key.as_str()) {
            problems.push(format!("{file_name}: unknown key {key:?}"));
        }
    }
    let look = Lookup {
        env,
        file: &file,
        file_name: file_name.clone(),
    };

    let bool_flag = |flag: bool| flag.then(|| "true".to_string());
    let allow_remote = look
        .get(bool_flag(flags.allow_remote), "allow_remote")
        .and_then(|r| r.boolean(&mut problems))
        .unwrap_or(false);
    let listen = match look.get(flags.listen.clone(), "listen") {
        Some(raw) => raw
            .text(&mut problems)
            .and_then(|s| {
                parse_listen(&s, allow_remote)
                    .map_err(|e| problems.push(format!("{}: {e}", raw.origin)))
                    .ok()
            })
            .unwrap_or(DEFAULT_LISTEN),
        None => DEFAULT_LISTEN,
    };
    let path = |raw: Option<Raw>, problems: &mut Problems| {
        raw.and_then(|r| r.text(problems)).map(PathBuf::from)
    };
    let addr_file = path(
        look.get(
            flags.addr_file.as_ref().map(|p| p.display().to_string()),
            "addr_file",
        ),
        &mut problems,
    );
    let token_file = path(
        look.get(
            flags.token_file.as_ref().map(|p| p.display().to_string()),
            "token_file",
        ),
        &mut problems,
    )
    .unwrap_or_else(|| default_token_file(env));

    let account_id = look
        .get(flags.account_id.clone(), "account_id")
        .and_then(|raw| {
            let v = raw.text(&mut problems)?;
            check(
                &mut problems,
                &raw.origin,
                is_account_id(&v),
                "expected a 12-digit AWS account id",
            )
            .then_some(v)
        });
    let region = look.get(flags.region.clone(), "region").and_then(|raw| {
        let v = raw.text(&mut problems)?;
        check(
            &mut problems,
            &raw.origin,
            is_region(&v),
            "expected an AWS region such as us-east-1",
        )
        .then_some(v)
    });
    let imds = look
        .get(bool_flag(flags.imds), "imds")
        .and_then(|r| r.boolean(&mut problems))
        .unwrap_or(false);
    let imds_list_all_profiles = look
        .get(None, "imds_list_all_profiles")
        .and_then(|r| r.boolean(&mut problems))
        .unwrap_or(false);
    let log_format = match look.get(flags.log_format.clone(), "log_format") {
        Some(raw) => match raw.text(&mut problems).as_deref() {
            Some("text") | None => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                problems.push(format!(
                    "{}: expected text or json, got {other:?}",
                    raw.origin
                ));
                LogFormat::Text
            }
        },
        None => LogFormat::Text,
    };
    let log_level = look
        .get(flags.log_level.clone(), "log_level")
        .and_then(|raw| {
            let v = raw.text(&mut problems)?;
            match tracing_subscriber::EnvFilter::try_new(&v) {
                Ok(_) => Some(v),
                Err(e) => {
                    problems.push(format!("{}: invalid log filter {v:?}: {e}", raw.origin));
                    None
                }
            }
        });
    let max_entries = look
        .get(None, "max_entries")
        .and_then(|r| r.integer(&mut problems, 1, 10_000_000))
        .unwrap_or(DEFAULT_MAX_ENTRIES);
    let max_connections = look
        .get(None, "max_connections")
        .and_then(|r| r.integer(&mut problems, 1, 65_536))
        .map(|n| n as usize)
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);

    let max_new_scopes_per_second = look
        .get(None, "max_new_scopes_per_second")
        .and_then(|r| r.integer(&mut problems, 1, 100_000))
        .map(|n| n as u32)
        .unwrap_or(DEFAULT_MAX_NEW_SCOPES_PER_SECOND);

    let mut profiles = parse_profiles(&file, &file_name, &mut problems);
    let default_profile = match look.get(flags.default_profile.clone(), "default_profile") {
        Some(raw) => raw.text(&mut problems).and_then(|name| {
            if profiles.iter().any(|p| p.name == name) {
                Some(name)
            } else {
                problems.push(format!("{}: no profile named {name:?}", raw.origin));
                None
            }
        }),
        None => profiles.first().map(|p| p.name.clone()),
    };
    if let Some(name) = &default_profile
        && let Some(i) = profiles.iter().position(|p| &p.name == name)
    {
        let p = profiles.remove(i);
        profiles.insert(0, p);
    }

    let s3control_endpoint = endpoint(env, "AWS_ENDPOINT_URL_S3_CONTROL", &mut problems);
    let sts_endpoint = endpoint(env, "AWS_ENDPOINT_URL_STS", &mut problems);

    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    Ok(Settings {
        config_file,
        listen,
        allow_remote,
        addr_file,
        token_file,
        account_id,
        region,
        default_profile,
        imds,
        imds_list_all_profiles,
        log_format,
        log_level,
        max_entries,
        max_connections,
        max_new_scopes_per_second,
        profiles,
        s3control_endpoint,
        sts_endpoint,
    })
}

fn check(problems: &mut Problems, origin: &str, ok: bool, why: &str) -> bool {
    if !ok {
        problems.push(format!("{origin}: {why}"));
    }
    ok
}

fn read_file(path: &Path, problems: &mut Problems) -> toml::Table {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("{}: cannot read config file: {e}", path.display()));
            return toml::Table::new();
        }
    };
    match text.parse::<toml::Table>() {
        Ok(t) => t,
        Err(e) => {
            let msg = e.message().to_string();
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            problems.push(format!("{}: not valid TOML{at}: {msg}", path.display()));
            toml::Table::new()
        }
    }
}

fn parse_profiles(file: &toml::Table, file_name: &str, problems: &mut Problems) -> Vec<Profile> {
    let Some(section) = file.get("profiles") else {
        return Vec::new();
    };
    let Some(section) = section.as_table() else {
        problems.push(format!(
            "{file_name}: profiles: expected a table of [profiles.NAME] sections"
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, body) in section {
        let at = format!("{file_name}: profiles.{name}");
        if !is_profile_name(name) {
            problems.push(format!(
                "{at}: profile names may hold only A-Z, a-z, 0-9, '.', '_' and '-' (at most 64)"
            ));
        }
        let Some(body) = body.as_table() else {
            problems.push(format!("{at}: expected a table"));
            continue;
        };
        for key in body.keys() {
            if !PROFILE_KEYS.contains(&key.as_str()) {
                problems.push(format!("{at}: unknown key {key:?}"));
            }
        }
        let text = |key: &str, problems: &mut Problems| -> Option<String> {
            match body.get(key) {
                None => None,
                Some(toml::Value::String(s)) => Some(s.clone()),
                Some(v) => {
                    problems.push(format!(
                        "{at}.{key}: expected a string, got {}",
                        v.type_str()
                    ));
                    None
                }
            }
        };
        let target = match text("target", problems) {
            Some(t) => S3Target::parse(&t)
                .map_err(|e| problems.push(format!("{at}.target: {e}")))
                .ok(),
            None => {
                problems.push(format!(
                    "{at}: missing target (e.g. target = \"s3://bucket/prefix/*\")"
                ));
                None
            }
        };
        let permission = match text("permission", problems) {
            Some(p) => p
                .parse::<Permission>()
                .map_err(|e| problems.push(format!("{at}.permission: {e}")))
                .ok(),
            None => {
                problems.push(format!(
                    "{at}: missing permission (READ, WRITE or READWRITE)"
                ));
                None
            }
        };
        let privilege = text("privilege", problems)
            .map(|p| {
                p.parse::<Privilege>()
                    .map_err(|e| problems.push(format!("{at}.privilege: {e}")))
                    .ok()
            })
            .unwrap_or(Some(Privilege::Default));
        let duration_seconds = match body.get("duration_seconds") {
            None => Some(None),
            Some(toml::Value::Integer(n))
                if u32::try_from(*n).is_ok_and(|n| DURATION_RANGE.contains(&n)) =>
            {
                Some(Some(*n as u32))
            }
            Some(_) => {
                problems.push(format!(
                    "{at}.duration_seconds: expected a whole number from 900 to 43200"
                ));
                None
            }
        };
        let account_id = text("account_id", problems);
        if let Some(a) = &account_id {
            check(
                problems,
                &format!("{at}.account_id"),
                is_account_id(a),
                "expected a 12-digit AWS account id",
            );
        }
        let region = text("region", problems);
        if let Some(r) = &region {
            check(
                problems,
                &format!("{at}.region"),
                is_region(r),
                "expected an AWS region such as us-east-1",
            );
        }
        if let (Some(target), Some(permission), Some(privilege), Some(duration_seconds)) =
            (target, permission, privilege, duration_seconds)
        {
            out.push(Profile {
                name: name.clone(),
                request: DataAccessRequest {
                    target,
                    permission,
                    privilege,
                    duration_seconds,
                    account_id,
                    region,
                },
            });
        }
    }
    out
}

/// `host:port` with a loopback host, or any host with `allow_remote`.
pub fn parse_listen(text: &str, allow_remote: bool) -> Result<SocketAddr, String> {
    let text = text.trim();
    let addr = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
            .map_err(|_| format!("invalid port in {text:?}"))?,
        None => text
            .parse::<SocketAddr>()
            .map_err(|_| format!("expected host:port such as 127.0.0.1:7911, got {text:?}"))?,
    };
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "{addr} is not a loopback address; grantd serves credentials to this host only (pass --allow-remote to override)"
        ));
    }
    Ok(addr)
}

/// `$XDG_RUNTIME_DIR/grantd/token`, else `${TMPDIR:-/tmp}/grantd-$UID/token`.
pub fn default_token_file(env: &dyn Source) -> PathBuf {
    if let Some(dir) = env.get("XDG_RUNTIME_DIR") {
        return Path::new(&dir).join("grantd").join("token");
    }
    let tmp = env.get("TMPDIR").unwrap_or_else(|| "/tmp".into());
    Path::new(&tmp)
        .join(format!("grantd-{}", current_uid()))
        .join("token")
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

/// AWS SDK endpoint conventions: the service variable, else `AWS_ENDPOINT_URL`,
/// unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true.
fn endpoint(env: &dyn Source, service_var: &str, problems: &mut Problems) -> Option<String> {
    if env
        .get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return None;
    }
    let (var, url) = env
        .get(service_var)
        .map(|u| (service_var, u))
        .or_else(|| env.get("AWS_ENDPOINT_URL").map(|u| ("AWS_ENDPOINT_URL", u)))?;
    if url.starts_with("http://") || url.starts_with("https://") {
        Some(url.trim_end_matches('/').to_string())
    } else {
        problems.push(format!(
            "{var}: expected an http:// or https:// URL, got {url:?}"
        ));
        None
    }
}

fn is_region(s: &str) -> bool {
    (2..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests;
