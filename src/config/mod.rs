//! Configuration: flags, `GRANTD_*` environment variables and a TOML file.
//!
//! Owns the rule flag > env > file > default and the composition of the
//! components' settings into [`Settings`]. Each component's module owns its
//! flags, its keys (flag, variable, file key), its checks and its
//! `grantd check` lines, and yields the settings type the component itself
//! defines; adding a setting touches that module alone (and the reference).
//! Everything is parsed and checked before anything binds, and every problem
//! is reported at once (the binary exits 64), each named by where it came
//! from. Values are read with the problem-collecting reader of
//! [`grantd_common::fields`]; the environment through a [`Source`], so tests
//! pass a map instead of the process environment.
//!
//! The components, in the order they are read and described:
//!
//! - `server`: listen address, remote access, allowed users, IMDS, connections
//!   ([`crate::server::ServerSettings`]).
//! - `s3`: the S3 endpoint's listen address and fallback, and the S3 it
//!   forwards to ([`crate::s3::S3Settings`]).
//! - `files`: the token file, `GRANTD_TOKEN` and the address file ([`Files`]).
//! - `upstream`: the instance's account and region, the AWS endpoint
//!   variables (`endpoints`) ([`crate::upstream::aws::AwsSettings`]).
//! - `cache`: cached scopes and new loads a second ([`crate::cache::CacheSettings`]).
//! - `logging`: format and filter ([`crate::logging::LogSettings`]).
//! - `profiles`: the `[profiles.NAME]` sections and the default profile
//!   ([`crate::profile::Profiles`]).
//!
//! Beside them: `layers` (a setting's names and its lookup through the
//! layers; reading the file), `values` (checks on single values), `source`
//! ([`Source`]), `token_file` (where the token lives when no setting says).

mod cache;
mod endpoints;
mod files;
mod layers;
mod logging;
mod profiles;
mod s3;
mod server;
mod source;
mod token_file;
mod upstream;
mod values;

use std::fmt::Display;
use std::path::{Path, PathBuf};

use grantd_common::fields::Problems;

pub use cache::DEFAULT_MAX_NEW_SCOPES_PER_SECOND;
pub use files::{FileFlags, Files};
pub use logging::LogFlags;
pub use profiles::ProfileFlags;
pub use s3::S3Flags;
pub use server::ServerFlags;
#[cfg(test)]
pub(crate) use source::env as source_for_tests;
pub use source::{ProcessEnv, Source};
pub use token_file::default_token_file;
pub use upstream::UpstreamFlags;
pub use values::{ListenError, parse_listen};

use crate::cache::CacheSettings;
pub use crate::logging::LogFormat;
use crate::logging::LogSettings;
use crate::profile::{Profile, Profiles};
use crate::s3::S3Settings;
use crate::server::ServerSettings;
use crate::upstream::aws::AwsSettings;
use layers::Layers;

/// The config file's path; a flag or the environment, never the file itself.
const CONFIG_ENV: &str = "GRANTD_CONFIG";

/// Command-line values; `None` = not given. Shared by every command that talks
/// to or is the daemon, so `env` and `creds` find it through the same settings.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Flags {
    /// TOML config file (profiles live here) [env: GRANTD_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerFlags,
    #[command(flatten)]
    pub s3: S3Flags,
    #[command(flatten)]
    pub files: FileFlags,
    #[command(flatten)]
    pub upstream: UpstreamFlags,
    #[command(flatten)]
    pub profiles: ProfileFlags,
    #[command(flatten)]
    pub logging: LogFlags,
}

/// Everything the daemon and its client commands need, resolved and checked,
/// one field per component.
#[derive(Clone, Debug)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub server: ServerSettings,
    pub s3: S3Settings,
    pub files: Files,
    pub upstream: AwsSettings,
    pub cache: CacheSettings,
    pub logging: LogSettings,
    pub profiles: Profiles,
}

impl Settings {
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }
}

/// Resolves settings from flags, environment and config file; on failure,
/// every problem, component by component in the order listed above.
pub fn resolve(flags: &Flags, env: &dyn Source) -> Result<Settings, Vec<String>> {
    let (settings, problems) = resolve_anyway(flags, env);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(settings)
}

/// Resolves settings as [`resolve`] does, and gives them even when there are
/// problems: a value with a problem is left at its default (a file that does
/// not parse, out altogether). For commands that only need to find a running
/// daemon (`status`, `reload`), which a bad edit of the file must not stop.
pub fn resolve_anyway(flags: &Flags, env: &dyn Source) -> (Settings, Vec<String>) {
    let problems = &mut Problems::new();
    let config_file = flags
        .config
        .clone()
        .or_else(|| env.get(CONFIG_ENV).map(PathBuf::from));
    let document = config_file
        .as_deref()
        .and_then(|path| layers::read_file(path, problems));
    let file_name = config_file
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    let file_keys = [
        server::FILE_KEYS,
        s3::FILE_KEYS,
        files::FILE_KEYS,
        upstream::FILE_KEYS,
        cache::FILE_KEYS,
        logging::FILE_KEYS,
        profiles::FILE_KEYS,
    ]
    .concat();
    let file = document
        .as_ref()
        .and_then(|document| layers::file_table(document, &file_name, &file_keys, problems));
    let look = &mut Layers::new(env, file);

    let server = server::read(&flags.server, look, problems);
    let s3 = s3::read(&flags.s3, server.allow_remote, env, look, problems);
    let files = files::read(&flags.files, env, look, problems);
    let upstream = upstream::read(&flags.upstream, env, look, problems);
    let cache = cache::read(look, problems);
    let logging = logging::read(&flags.logging, look, problems);
    let profiles = profiles::read(&flags.profiles, look, problems);

    let settings = Settings {
        config_file,
        server,
        s3,
        files,
        upstream,
        cache,
        logging,
        profiles,
    };
    (settings, std::mem::take(problems))
}

/// The resolved settings as `grantd check` prints them, component by
/// component. Holds no secret: the token is named by its file only.
pub fn describe(s: &Settings) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    for (name, value) in described(s) {
        let _ = writeln!(text, "{name:<20} {value}");
    }
    text
}

/// The lines of [`describe`] as `(name, value)` pairs, in order: what a
/// reload compares to tell which settings changed.
pub fn described(s: &Settings) -> Vec<(String, String)> {
    let mut out = Describe::default();
    out.line("config", describe_path(s.config_file.as_deref()));
    server::describe(&s.server, &mut out);
    s3::describe(&s.s3, &mut out);
    files::describe(&s.files, &mut out);
    upstream::describe(&s.upstream, &mut out);
    cache::describe(&s.cache, &mut out);
    logging::describe(&s.logging, &mut out);
    profiles::describe(&s.profiles, &mut out);
    out.0
}

/// `grantd check`'s output, one `name value` line at a time.
#[derive(Default)]
pub(crate) struct Describe(Vec<(String, String)>);

impl Describe {
    fn line(&mut self, name: &str, value: impl Display) {
        self.0.push((name.to_string(), value.to_string()));
    }
}

/// A path, or `none`.
fn describe_path(path: Option<&Path>) -> String {
    path.map_or("none".into(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests;
