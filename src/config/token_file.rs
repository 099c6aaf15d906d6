//! Where the bearer token file lives when no setting names one.

use std::path::{Path, PathBuf};

use super::source::Source;

/// `$XDG_RUNTIME_DIR/grantd/token`, else `${TMPDIR:-/tmp}/grantd-$UID/token`:
/// a directory of this user's own, since `/tmp` is shared by every user.
pub fn default_token_file(env: &dyn Source) -> PathBuf {
    if let Some(dir) = env.get("XDG_RUNTIME_DIR") {
        return Path::new(&dir).join("grantd").join("token");
    }
    let tmp = env.get("TMPDIR").unwrap_or_else(|| "/tmp".into());
    Path::new(&tmp)
        .join(format!("grantd-{}", current_uid()))
        .join("token")
}

/// The owner of `/proc/self` is this process's user; it needs no `unsafe`
/// call to `getuid`, which the crate forbids.
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}
