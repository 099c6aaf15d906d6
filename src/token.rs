//! The bearer token clients send in `Authorization`.
//!
//! Owns loading the token file, generating one (32 random bytes, URL-safe
//! base64, no trailing newline, mode 0600 in a 0700 directory) when the file
//! is missing or empty, and the constant-time comparison.

use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

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
            let _ = ours.ct_eq(ours);
            return false;
        }
        ours.ct_eq(presented).into()
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// What happened to the token file.
#[derive(Debug, PartialEq, Eq)]
pub enum Origin {
    Existing,
    Generated,
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
    #[error("{}: invalid token", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: InvalidToken,
    },
    #[error("cannot get random bytes for the token")]
    Random(#[source] getrandom::Error),
    #[error("{}: cannot create token directory", dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot write token file", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
/// missing or empty.
pub fn load_or_create(path: &Path) -> Result<(Token, Origin), TokenError> {
    match read(path)? {
        Some(token) => Ok((token, Origin::Existing)),
        None => {
            let token = generate()?;
            write_new(path, &token)?;
            Ok((token, Origin::Generated))
        }
    }
}

/// Reads an existing token; `Ok(None)` when the file is missing or empty.
pub fn read(path: &Path) -> Result<Option<Token>, TokenError> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TokenError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = |source| TokenError::Invalid {
        path: path.to_path_buf(),
        source,
    };
    validate(&text).map_err(invalid)?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "token file is readable by other users; chmod 600 it"
        );
    }
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

fn write_new(path: &Path, token: &Token) -> Result<(), TokenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| TokenError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
    }
    // A reader never sees half a token, and no planted link is written through.
    grantd_common::fs::write_atomic(path, token.expose().as_bytes(), 0o600).map_err(|source| {
        TokenError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;
    use crate::report::Report;

    #[test]
    fn generates_a_private_token_without_newline_and_reuses_it() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("sub").join("token");
        let (token, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Generated);
        assert_eq!(token.expose().len(), 43);
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk, token.expose().as_bytes());
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let (again, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Existing);
        assert_eq!(again.expose(), token.expose());
    }

    #[test]
    fn an_empty_file_gets_a_new_token() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("token");
        std::fs::write(&path, "").unwrap();
        let (_, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Generated);
    }

    #[test]
    fn refuses_tokens_clients_would_reject() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("token");
        for (content, why, text) in [
            (
                "a-perfectly-fine-token\n",
                InvalidToken::TrailingNewline,
                "newline",
            ),
            ("short", InvalidToken::Length, "16 to 4096"),
            (
                "has a space in the middle",
                InvalidToken::NotVisibleAscii,
                "visible ASCII",
            ),
        ] {
            std::fs::write(&path, content).unwrap();
            let err = load_or_create(&path).unwrap_err();
            let shown = Report(&err).to_string();
            assert!(shown.contains(text), "{content:?}: {shown}");
            assert!(shown.starts_with(&path.display().to_string()), "{shown}");
            let cause = err.source().and_then(|e| e.downcast_ref::<InvalidToken>());
            assert_eq!(cause, Some(&why), "{content:?}");
        }
    }

    #[test]
    fn an_unreadable_file_keeps_the_io_error_as_its_source() {
        let d = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading it fails, not as NotFound.
        let path = d.path().join("token");
        std::fs::create_dir_all(&path).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, TokenError::Read { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{}: cannot read token file", path.display())
        );
        assert!(
            err.source()
                .and_then(|e| e.downcast_ref::<std::io::Error>())
                .is_some(),
            "the io error is the source"
        );
    }

    #[test]
    fn compares_exactly() {
        let t = Token::new("0123456789abcdef");
        assert!(t.matches(b"0123456789abcdef"));
        assert!(!t.matches(b"0123456789abcdeF"));
        assert!(!t.matches(b"0123456789abcde"));
        assert!(!t.matches(b""));
        assert!(!format!("{t:?}").contains("0123456789abcdef"));
    }
}
