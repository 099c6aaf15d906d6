//! Where the bearer token file lives when no setting names one.
//!
//! `serve`, `env`, `creds`, `ready` and `check` all ask here, so a shell with
//! the daemon's environment finds the daemon's token. Wherever it is, the
//! token module refuses a directory or file another user owns or can write.

use std::path::{Path, PathBuf};

use super::source::Source;

/// Root's token directory. Defaults to `/run/grantd`: root-owned, not
/// shared, and cleared at boot.
pub const ROOT_TOKEN_DIR: &str = "/run/grantd";
/// The shared temporary directory used when `TMPDIR` is unset. Defaults to `/tmp`.
pub const DEFAULT_TMPDIR: &str = "/tmp";
/// The token file's name inside its directory.
const TOKEN_NAME: &str = "token";

/// The default token file of this process's user; see [`default_token_file_for`].
pub fn default_token_file(env: &dyn Source) -> PathBuf {
    default_token_file_for(env, grantd_common::fs::own_uid())
}

/// The default token file of `uid`, first that applies:
///
/// 1. `$XDG_RUNTIME_DIR/grantd/token` (the user's private runtime directory);
/// 2. for root, `/run/grantd/token`;
/// 3. `${TMPDIR:-/tmp}/grantd-$UID/token` — a directory in a shared place,
///    which another user could make first; the daemon then refuses to start
///    and says to set `--token-file` or `XDG_RUNTIME_DIR`.
///
/// A relative or empty `XDG_RUNTIME_DIR`/`TMPDIR` is ignored, as the XDG
/// specification asks, so the path never depends on the working directory.
pub fn default_token_file_for(env: &dyn Source, uid: u32) -> PathBuf {
    let absolute = |name: &str| env.get(name).filter(|dir| Path::new(dir).is_absolute());
    if let Some(dir) = absolute("XDG_RUNTIME_DIR") {
        return Path::new(&dir).join("grantd").join(TOKEN_NAME);
    }
    if uid == 0 {
        return Path::new(ROOT_TOKEN_DIR).join(TOKEN_NAME);
    }
    let tmp = absolute("TMPDIR").unwrap_or_else(|| DEFAULT_TMPDIR.into());
    Path::new(&tmp)
        .join(format!("grantd-{uid}"))
        .join(TOKEN_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::env;

    #[test]
    fn the_runtime_directory_comes_first_even_for_root() {
        let e = env(&[("XDG_RUNTIME_DIR", "/run/user/0"), ("TMPDIR", "/scratch")]);
        assert_eq!(
            default_token_file_for(&e, 0),
            PathBuf::from("/run/user/0/grantd/token")
        );
    }

    #[test]
    fn root_without_a_runtime_directory_uses_run_grantd() {
        let e = env(&[("TMPDIR", "/scratch")]);
        assert_eq!(
            default_token_file_for(&e, 0),
            PathBuf::from("/run/grantd/token")
        );
    }

    #[test]
    fn other_users_fall_back_to_a_directory_of_their_uid_under_tmpdir() {
        assert_eq!(
            default_token_file_for(&env(&[("TMPDIR", "/scratch")]), 1000),
            PathBuf::from("/scratch/grantd-1000/token")
        );
        assert_eq!(
            default_token_file_for(&env(&[]), 1000),
            PathBuf::from("/tmp/grantd-1000/token")
        );
    }

    #[test]
    fn relative_or_empty_directories_are_ignored() {
        let e = env(&[("XDG_RUNTIME_DIR", "run"), ("TMPDIR", "")]);
        assert_eq!(
            default_token_file_for(&e, 1000),
            PathBuf::from("/tmp/grantd-1000/token")
        );
    }
}
