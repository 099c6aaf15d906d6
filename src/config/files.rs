//! The daemon's files: the bearer token (or a token given from outside) and
//! the address file.

use std::path::PathBuf;

use grantd_common::fields::Problems;

use super::layers::{Key, Layers};
use super::source::Source;
use super::token_file::default_token_file;
use super::values;
use super::{Describe, describe_path};
use crate::token::{self, Token};

/// The flags naming the daemon's files.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct FileFlags {
    /// After binding, write the bound host:port here [env: GRANTD_ADDR_FILE]
    #[arg(long, value_name = "FILE")]
    pub addr_file: Option<PathBuf>,
    /// Bearer token file; generated (0600) when missing [env: GRANTD_TOKEN_FILE]
    /// [default: $XDG_RUNTIME_DIR/grantd/token, else /run/grantd/token for root,
    /// else ${TMPDIR:-/tmp}/grantd-$UID/token]
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Where the daemon writes its address and keeps its token.
#[derive(Clone, Debug)]
pub struct Files {
    /// Where to write the bound `host:port`, when asked.
    pub addr_file: Option<PathBuf>,
    pub token_file: PathBuf,
    /// The token from `GRANTD_TOKEN`, checked; `serve` uses it and writes it
    /// to `token_file`, clients send it. `Debug` is redacted.
    pub token: Option<Token>,
}

const ADDR_FILE: Key = Key {
    file: "addr_file",
    flag: Some("--addr-file"),
    env: "GRANTD_ADDR_FILE",
};
const TOKEN_FILE: Key = Key {
    file: "token_file",
    flag: Some("--token-file"),
    env: "GRANTD_TOKEN_FILE",
};
/// A token given from outside (one job-wide token on every instance of a
/// multi-instance job); the environment only: a flag would show it in `ps`,
/// a file already has `token_file`.
const TOKEN_ENV: &str = "GRANTD_TOKEN";

/// The keys of the config file this component reads.
pub(super) const FILE_KEYS: &[&str] = &[ADDR_FILE.file, TOKEN_FILE.file];

pub(super) fn read(
    flags: &FileFlags,
    env: &dyn Source,
    look: &mut Layers,
    problems: &mut Problems,
) -> Files {
    let addr_file = values::path(
        look.get(&ADDR_FILE, values::flag_path(&flags.addr_file)),
        problems,
    );
    let token_file = values::path(
        look.get(&TOKEN_FILE, values::flag_path(&flags.token_file)),
        problems,
    )
    .unwrap_or_else(|| default_token_file(env));
    Files {
        addr_file,
        token_file,
        token: given_token(env, problems),
    }
}

/// The token in `GRANTD_TOKEN`, held to the rules of a token file's content.
/// The problem names the variable and the rule, never the value.
fn given_token(env: &dyn Source, problems: &mut Problems) -> Option<Token> {
    let value = env.get(TOKEN_ENV)?;
    token::parse(&value)
        .map_err(|e| problems.push(format!("{TOKEN_ENV}: invalid token: {e}")))
        .ok()
}

/// Holds no secret: the token is named by where it comes from only.
pub(super) fn describe(s: &Files, out: &mut Describe) {
    out.line("addr_file", describe_path(s.addr_file.as_deref()));
    out.line("token_file", s.token_file.display());
    let source = if s.token.is_some() {
        "GRANTD_TOKEN (written to token_file)"
    } else {
        "token_file"
    };
    out.line("token", source);
}
