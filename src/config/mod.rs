//! Configuration: flags, `GRANTD_*` environment variables and a TOML file.
//!
//! Owns the resolved [`Settings`] and the rule flag > env > file > default.
//! Everything is parsed and checked before anything binds, and every problem
//! is reported at once (the binary exits 64), each named by where it came
//! from. Values are read with the problem-collecting reader of
//! [`grantd_common::fields`]; the environment through a [`Source`], so tests
//! pass a map instead of the process environment.
//!
//! - `flags`: the command-line [`Flags`] and [`LogFormat`].
//! - `source`: where environment variables come from ([`Source`]).
//! - `keys`: every setting's file key, flag and environment variable.
//! - `layers`: one setting through flag > env > file; reading the file.
//! - `values`: checks on single values ([`parse_listen`], regions, logs).
//! - `profiles`: the `[profiles.NAME]` sections and the default profile.
//! - `endpoints`: the AWS SDK endpoint variables.
//! - `token_file`: where the token lives when no setting says.

mod endpoints;
mod flags;
mod keys;
mod layers;
mod profiles;
mod source;
mod token_file;
mod values;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use grantd_common::fields::Problems;

pub use flags::{Flags, LogFormat};
pub use source::{ProcessEnv, Source};
pub use token_file::default_token_file;
pub use values::{ListenError, parse_listen};

use crate::profile::Profile;
use crate::scope::is_account_id;
use crate::token::{self, Token};
use layers::{Layers, Value};
use values::{ACCOUNT_ID_EXPECTED, REGION_EXPECTED, checked, is_region};

/// Address the daemon binds. Defaults to 127.0.0.1:7911.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7911);
/// Most open client connections. Defaults to 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = crate::server::DEFAULT_MAX_CONNECTIONS;
/// Most cached scopes. Defaults to 10,000.
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000;
/// New upstream loads per second. Defaults to 20 (GetDataAccess has no published quota).
pub const DEFAULT_MAX_NEW_SCOPES_PER_SECOND: u32 = 20;

/// Any uid but `(uid_t)-1`, which the kernel reserves for "no user".
const UID_RANGE: RangeInclusive<u64> = 0..=(u32::MAX as u64 - 1);
const MAX_ENTRIES_RANGE: RangeInclusive<u64> = 1..=10_000_000;
const MAX_CONNECTIONS_RANGE: RangeInclusive<u64> = 1..=65_536;
const MAX_NEW_SCOPES_PER_SECOND_RANGE: RangeInclusive<u64> = 1..=100_000;

/// Everything the daemon and its client commands need, resolved and checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub listen: SocketAddr,
    pub allow_remote: bool,
    /// Unix users besides the daemon's own that are served credentials.
    pub allowed_uids: Vec<u32>,
    pub addr_file: Option<PathBuf>,
    pub token_file: PathBuf,
    /// The token from `GRANTD_TOKEN`, checked; `serve` uses it and writes it
    /// to `token_file`, clients send it. `Debug` is redacted.
    pub token: Option<Token>,
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

/// Resolves settings from flags, environment and config file; on failure,
/// every problem, in the order the settings are listed above.
pub fn resolve(flags: &Flags, env: &dyn Source) -> Result<Settings, Vec<String>> {
    let problems = &mut Problems::new();
    let config_file = flags
        .config
        .clone()
        .or_else(|| env.get(keys::CONFIG_ENV).map(PathBuf::from));
    let document = config_file
        .as_deref()
        .and_then(|path| layers::read_file(path, problems));
    let file_name = config_file
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    let file = document
        .as_ref()
        .and_then(|document| layers::file_table(document, &file_name, problems));
    let look = &mut Layers::new(env, file);

    let (listen, allow_remote) = listener(flags, look, problems);
    let allowed_uids = allowed_uids(flags, look, problems);
    let (addr_file, token_file) = files(flags, env, look, problems);
    let token = given_token(env, problems);
    let (account_id, region) = instance(flags, look, problems);
    let (imds, imds_list_all_profiles) = imds(flags, look, problems);
    let (log_format, log_level) = logging(flags, look, problems);
    let limits = Limits::read(look, problems);
    let mut profiles = profiles::read(look.file(), problems);
    let default_profile = profiles::choose_default(
        look.get(&keys::DEFAULT_PROFILE, flags.default_profile.clone()),
        &mut profiles,
        problems,
    );
    let s3control_endpoint = endpoints::s3control(env, problems);
    let sts_endpoint = endpoints::sts(env, problems);

    if !problems.is_empty() {
        return Err(std::mem::take(problems));
    }
    Ok(Settings {
        config_file,
        listen,
        allow_remote,
        allowed_uids,
        addr_file,
        token_file,
        token,
        account_id,
        region,
        default_profile,
        imds,
        imds_list_all_profiles,
        log_format,
        log_level,
        max_entries: limits.max_entries,
        max_connections: limits.max_connections,
        max_new_scopes_per_second: limits.max_new_scopes_per_second,
        profiles,
        s3control_endpoint,
        sts_endpoint,
    })
}

fn switch(value: Option<Value>, problems: &mut Problems) -> bool {
    value.and_then(|v| v.bool(problems)).unwrap_or(false)
}

/// Where to listen; `allow_remote` first, as it decides which addresses may be.
fn listener(flags: &Flags, look: &mut Layers, problems: &mut Problems) -> (SocketAddr, bool) {
    let allow_remote = switch(
        look.get(&keys::ALLOW_REMOTE, Flags::switch(flags.allow_remote)),
        problems,
    );
    let listen = look
        .get(&keys::LISTEN, flags.listen.clone())
        .and_then(|value| values::listen(value, allow_remote, problems))
        .unwrap_or(DEFAULT_LISTEN);
    (listen, allow_remote)
}

/// The other users served credentials: `allowed_uids = [1000, 1001]`,
/// `GRANTD_ALLOWED_UIDS=1000,1001` or `--allowed-uids 1000,1001`.
fn allowed_uids(flags: &Flags, look: &mut Layers, problems: &mut Problems) -> Vec<u32> {
    look.get(&keys::ALLOWED_UIDS, flags.allowed_uids.clone())
        .and_then(|value| value.whole_numbers(UID_RANGE, problems))
        .unwrap_or_default()
        .into_iter()
        // UID_RANGE keeps each within u32.
        .map(|uid| uid as u32)
        .collect()
}

/// The files the daemon writes: the bound address (when asked) and the token.
fn files(
    flags: &Flags,
    env: &dyn Source,
    look: &mut Layers,
    problems: &mut Problems,
) -> (Option<PathBuf>, PathBuf) {
    let addr_file = values::path(
        look.get(&keys::ADDR_FILE, Flags::path(&flags.addr_file)),
        problems,
    );
    let token_file = values::path(
        look.get(&keys::TOKEN_FILE, Flags::path(&flags.token_file)),
        problems,
    )
    .unwrap_or_else(|| default_token_file(env));
    (addr_file, token_file)
}

/// The token in `GRANTD_TOKEN`, held to the rules of a token file's content.
/// The problem names the variable and the rule, never the value.
fn given_token(env: &dyn Source, problems: &mut Problems) -> Option<Token> {
    let value = env.get(keys::TOKEN_ENV)?;
    token::parse(&value)
        .map_err(|e| problems.push(format!("{}: invalid token: {e}", keys::TOKEN_ENV)))
        .ok()
}

/// The Access Grants instance: its account and region, when given.
fn instance(
    flags: &Flags,
    look: &mut Layers,
    problems: &mut Problems,
) -> (Option<String>, Option<String>) {
    let account_id = checked(
        look.get(&keys::ACCOUNT_ID, flags.account_id.clone()),
        is_account_id,
        ACCOUNT_ID_EXPECTED,
        problems,
    );
    let region = checked(
        look.get(&keys::REGION, flags.region.clone()),
        is_region,
        REGION_EXPECTED,
        problems,
    );
    (account_id, region)
}

/// Whether to serve the IMDS routes, and whether its role list names every profile.
fn imds(flags: &Flags, look: &mut Layers, problems: &mut Problems) -> (bool, bool) {
    let imds = switch(look.get(&keys::IMDS, Flags::switch(flags.imds)), problems);
    let list_all = switch(look.get(&keys::IMDS_LIST_ALL_PROFILES, None), problems);
    (imds, list_all)
}

fn logging(
    flags: &Flags,
    look: &mut Layers,
    problems: &mut Problems,
) -> (LogFormat, Option<String>) {
    let format = values::log_format(
        look.get(&keys::LOG_FORMAT, flags.log_format.clone()),
        problems,
    );
    let level = values::log_filter(
        look.get(&keys::LOG_LEVEL, flags.log_level.clone()),
        problems,
    );
    (format, level)
}

/// Sizes the daemon holds itself to; only the file and the environment set them.
struct Limits {
    max_entries: u64,
    max_connections: usize,
    max_new_scopes_per_second: u32,
}

impl Limits {
    fn read(look: &mut Layers, problems: &mut Problems) -> Limits {
        let mut number = |key: &keys::Key, range: RangeInclusive<u64>| {
            look.get(key, None)
                .and_then(|value| value.whole_number(range, problems))
        };
        Limits {
            max_entries: number(&keys::MAX_ENTRIES, MAX_ENTRIES_RANGE)
                .unwrap_or(DEFAULT_MAX_ENTRIES),
            // The ranges keep each within its type, so the casts never truncate.
            max_connections: number(&keys::MAX_CONNECTIONS, MAX_CONNECTIONS_RANGE)
                .map_or(DEFAULT_MAX_CONNECTIONS, |n| n as usize),
            max_new_scopes_per_second: number(
                &keys::MAX_NEW_SCOPES_PER_SECOND,
                MAX_NEW_SCOPES_PER_SECOND_RANGE,
            )
            .map_or(DEFAULT_MAX_NEW_SCOPES_PER_SECOND, |n| n as u32),
        }
    }
}

#[cfg(test)]
mod tests;
