//! The bearer token clients send in `Authorization`.
//!
//! Owns loading the token file, generating one (32 random bytes, URL-safe
//! base64, no trailing newline, mode 0600 in a 0700 directory) when the file
//! is missing or empty, checking and writing a token given from outside
//! (`GRANTD_TOKEN`, one job-wide token for every instance of a multi-instance
//! job), and the constant-time comparison.
//!
//! A token file is used only where no other user could have planted, read
//! or redirected it (see [`grantd_common::fs`]): the daemon trusts a file
//! and directory of its own uid only; a client (`grantd creds`) also root's,
//! for a daemon run by root. Anything else is refused, never used with a
//! warning: a planted token would let its planter impersonate the daemon to
//! clients, and a readable one hands every credential to whoever reads it.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use grantd_common::fs::{self, Owners, PathError, Readers};

use crate::credentials::Secret;

/// Shortest token accepted from a user-provided file.
pub const MIN_TOKEN_LEN: usize = 16;
/// Longest token accepted (it travels in an HTTP header).
pub const MAX_TOKEN_LEN: usize = 4096;

/// The token; `Debug` is redacted like every secret.
#[derive(Clone, Debug)]
pub struct Token(Secret);

impl Token {
    pub fn new(value: impl Into<String>) -> Token {
        Token(Secret::new(value))
    }

    /// Compares in time that does not depend on where the inputs differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let ours = self.0.expose().as_bytes();
        if presented.len() != ours.len() {
            // Still do the work, so the length check is the only early answer.
            let _ = difference(ours, ours);
            return false;
        }
        difference(ours, presented).ct_eq(&0).into()
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// The OR of the XOR of `a` and `b` (of equal length), eight bytes at a
/// time: zero exactly when they are equal. No branch depends on the bytes,
/// and the one comparison of the result is subtle's, behind its optimisation
/// barrier. Eight times fewer steps than subtle's byte-by-byte slice
/// comparison, which put 650 instructions on every vend.
fn difference(a: &[u8], b: &[u8]) -> u64 {
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = a_words
        .remainder()
        .iter()
        .zip(b_words.remainder())
        .fold(0u64, |acc, (x, y)| acc | u64::from(x ^ y));
    a_words.zip(b_words).fold(tail, |acc, (x, y)| {
        let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
        acc | (word(x) ^ word(y))
    })
}

/// Where the token came from.
#[derive(Debug, PartialEq, Eq)]
pub enum Origin {
    Existing,
    Generated,
    /// `GRANTD_TOKEN`, written to the token file for clients that read it.
    Given,
}

impl Origin {
    /// How the log names it (never the value).
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Existing => "existing",
            Origin::Generated => "generated",
            Origin::Given => "GRANTD_TOKEN",
        }
    }
}

/// Why the token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{}: cannot read token file", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file or a directory on its way could have been planted or changed
    /// by another user; the cause names which and how to fix it.
    #[error(
        "{}: refusing the token file (choose another with --token-file or GRANTD_TOKEN_FILE, \
         or set XDG_RUNTIME_DIR)",
        path.display()
    )]
    Refused {
        path: PathBuf,
        #[source]
        source: PathError,
    },
    /// Its directory cannot be inspected or created.
    #[error("{}: cannot reach the token file", path.display())]
    Reach {
        path: PathBuf,
        #[source]
        source: PathError,
    },
    #[error("{}: invalid token", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: InvalidToken,
    },
    #[error("cannot get random bytes for the token")]
    Random(#[source] getrandom::Error),
    #[error("{}: cannot write token file", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl TokenError {
    fn untrusted(path: &Path, source: PathError) -> TokenError {
        let path = path.to_path_buf();
        match source {
            PathError::Unsafe { .. } => TokenError::Refused { path, source },
            PathError::Inspect { .. } | PathError::Create { .. } => {
                TokenError::Reach { path, source }
            }
        }
    }
}

/// What is wrong with a token that clients would reject.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error(
        "ends with a newline, which botocore, the Rust SDK and the JDK reject; \
         rewrite it without one (printf '%s' TOKEN > FILE)"
    )]
    TrailingNewline,
    #[error("must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters")]
    Length,
    #[error("may hold only visible ASCII characters (no spaces)")]
    NotVisibleAscii,
}

/// Reads the token at `path`, or generates and writes one when the file is
/// missing or empty, as the daemon: the directory is created 0700 when
/// missing, and it and the file must be this process's user's own.
pub fn load_or_create(path: &Path) -> Result<(Token, Origin), TokenError> {
    load_or_create_as(path, fs::own_uid())
}

fn load_or_create_as(path: &Path, uid: u32) -> Result<(Token, Origin), TokenError> {
    let owners = Owners::only(uid);
    fs::private_dir(fs::dir_of(path), owners).map_err(|e| TokenError::untrusted(path, e))?;
    match read_trusting(path, owners)? {
        Some(token) => Ok((token, Origin::Existing)),
        None => {
            let token = generate()?;
            write_new(path, &token)?;
            Ok((token, Origin::Generated))
        }
    }
}

/// Checks a token given as text (`GRANTD_TOKEN`) by the rules a token file's
/// content follows, so every client accepts it.
pub fn parse(value: &str) -> Result<Token, InvalidToken> {
    validate(value.as_bytes())?;
    Ok(Token::new(value))
}

/// Writes a given token to `path` for the clients that read the file, as the
/// daemon: the same directory checks as [`load_or_create`].
///
/// The given token wins over whatever the file held, and replaces it: it is
/// the one the operator asked for now (a restarted job may bring a new one),
/// the file exists only so clients can find the daemon's token, and a
/// different value there would send them a token the daemon refuses. Refusing
/// on a mismatch would protect nothing: only this user can write that file.
pub fn install(path: &Path, token: &Token) -> Result<(), TokenError> {
    install_as(path, token, fs::own_uid())
}

fn install_as(path: &Path, token: &Token, uid: u32) -> Result<(), TokenError> {
    fs::private_dir(fs::dir_of(path), Owners::only(uid))
        .map_err(|e| TokenError::untrusted(path, e))?;
    write_new(path, token)
}

/// What `grantd serve` would say of the token file, without creating it
/// (for `grantd check`).
pub fn check(path: &Path) -> Result<(), TokenError> {
    read_trusting(path, Owners::only(fs::own_uid())).map(|_| ())
}

/// Reads an existing token as a client of the daemon: the file may be this
/// user's or root's. `Ok(None)` when the file is missing or empty.
pub fn read(path: &Path) -> Result<Option<Token>, TokenError> {
    read_trusting(path, Owners::or_root(fs::own_uid()))
}

fn read_trusting(path: &Path, owners: Owners) -> Result<Option<Token>, TokenError> {
    let file = fs::open_trusted(path, owners, Readers::OwnerOnly)
        .map_err(|e| TokenError::untrusted(path, e))?;
    let Some(file) = file else {
        return Ok(None);
    };
    let mut text = Vec::new();
    // One byte past the longest token is enough to tell it is too long.
    file.take(MAX_TOKEN_LEN as u64 + 1)
        .read_to_end(&mut text)
        .map_err(|source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = |source| TokenError::Invalid {
        path: path.to_path_buf(),
        source,
    };
    if text.len() > MAX_TOKEN_LEN {
        return Err(invalid(InvalidToken::Length));
    }
    validate(&text).map_err(invalid)?;
    // `validate` let through visible ASCII only, so this cannot fail.
    let text = String::from_utf8(text).map_err(|_| invalid(InvalidToken::NotVisibleAscii))?;
    Ok(Some(Token::new(text)))
}

fn validate(token: &[u8]) -> Result<(), InvalidToken> {
    if token.ends_with(b"\n") || token.ends_with(b"\r") {
        return Err(InvalidToken::TrailingNewline);
    }
    if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len()) {
        return Err(InvalidToken::Length);
    }
    if !token.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(InvalidToken::NotVisibleAscii);
    }
    Ok(())
}

fn generate() -> Result<Token, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(TokenError::Random)?;
    Ok(Token::new(URL_SAFE_NO_PAD.encode(bytes)))
}

/// Writes through [`grantd_common::fs::write_atomic`] only: a temporary
/// made with `O_EXCL|O_NOFOLLOW` under a random name, renamed over `path`,
/// so a reader never sees half a token and no planted link is written through.
fn write_new(path: &Path, token: &Token) -> Result<(), TokenError> {
    fs::write_atomic(path, token.expose().as_bytes(), 0o600).map_err(|source| TokenError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
