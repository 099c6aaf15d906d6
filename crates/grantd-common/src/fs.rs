//! The small files grantd keeps: address files and the token file.
//!
//! This module owns writing them; `checked` owns deciding whether a file or
//! directory may be trusted at all (owner, mode, no symlink), which the
//! daemon and its clients do before they read or write one.
//!
//! A reader must never see half a file, and a writer must never be turned
//! into a tool for clobbering someone else's file. So the text goes to a
//! temporary created beside the target with `O_CREAT|O_EXCL|O_NOFOLLOW`
//! under an unpredictable name, is synced, and is renamed over the target.
//! A planted symlink at the temporary's name makes the open fail instead of
//! being followed; `rename` replaces a link at the target itself rather than
//! writing through it.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

mod checked;

pub use checked::{
    Owners, PathError, Problem, Readers, check_dir, dir_of, open_trusted, open_vouched, own_uid,
    private_dir,
};

/// Writes `contents` to `path` atomically, the file getting `mode` (e.g. 0o600).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = temporary_beside(path)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `.<name>.<random>.tmp` in the directory of `path`.
fn temporary_beside(path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{suffix}.tmp"));
    Ok(path.with_file_name(tmp_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_whole_with_the_mode_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("addr");
        write_atomic(&path, b"127.0.0.1:7911", 0o600).unwrap();
        write_atomic(&path, b"127.0.0.1:7912", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"127.0.0.1:7912");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn replaces_a_symlink_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let path = dir.path().join("addr");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
