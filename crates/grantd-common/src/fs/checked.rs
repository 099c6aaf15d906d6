//! Deciding whether a file or directory may be trusted: nobody but its owner
//! (and root) can have planted it, redirected it, or change it.
//!
//! The token file and the address file live where other local users know
//! the name (`/tmp/grantd-$UID/`), so a directory or file that someone else
//! made there first must be refused, not used. A directory is trusted when
//! it is not a symlink, is owned by one of the [`Owners`] and is writable by
//! nobody else, and every directory above it is owned by root or by that
//! user and writable by nobody else unless sticky (as `/tmp` is: there
//! others cannot rename or remove what is ours). A file is trusted when its
//! directory is, it is opened with `O_NOFOLLOW`, and the open file is a
//! regular file of one of the owners, writable by nobody else, and — for a
//! secret — readable by nobody else.
//!
//! Checks go by path, once, before use. What keeps that honest is the rule
//! itself: once a directory and its ancestors can be changed by nobody else,
//! nobody else can swap anything inside them between the check and the use.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Mode bits that let group or others write.
const SHARED_WRITE: u32 = 0o022;
/// Mode bits that let group or others do anything at all.
const SHARED_ANY: u32 = 0o077;
/// The sticky bit: in such a directory only an entry's owner may rename or remove it.
const STICKY: u32 = 0o1000;

/// The effective uid of this process: the owner of what it creates.
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Who may own a trusted file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owners {
    uid: u32,
    root_too: bool,
}

impl Owners {
    /// Only `uid`: what the daemon running as `uid` creates and reads itself.
    pub fn only(uid: u32) -> Owners {
        Owners {
            uid,
            root_too: false,
        }
    }

    /// `uid` or root: what a client running as `uid` reads from a daemon of
    /// its own user or of root (root can replace any file anyway).
    pub fn or_root(uid: u32) -> Owners {
        Owners {
            uid,
            root_too: true,
        }
    }

    fn allow(self, owner: u32) -> bool {
        owner == self.uid || (self.root_too && owner == 0)
    }
}

/// Who, besides its owner, may read a trusted file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readers {
    /// A secret: any group or other bit is refused.
    OwnerOnly,
    /// Not a secret (an address): anyone may read it, nobody else may write it.
    Anyone,
}

/// What makes a file or directory untrustworthy; each says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(
        "is a symbolic link, which grantd never follows; put the real file or directory there, \
         or choose another path"
    )]
    Symlink,
    #[error("is not a directory")]
    NotDirectory,
    #[error("is not a regular file")]
    NotRegularFile,
    #[error(
        "is owned by uid {owner}, not by uid {uid}{} that grantd runs as; another user may have \
         planted it: remove it, or choose a path of your own",
        if *root_too { " (or root)" } else { "" }
    )]
    Owner {
        owner: u32,
        uid: u32,
        root_too: bool,
    },
    #[error("is writable by group or others (mode {mode:o}); chmod go-w it")]
    Writable { mode: u32 },
    #[error("is readable by group or others (mode {mode:o}); chmod 600 it")]
    Readable { mode: u32 },
    #[error(
        "is a directory above it that group or others can write and that is not sticky \
         (mode {mode:o}), so they could swap what is inside; chmod go-w it or choose another path"
    )]
    SharedAncestor { mode: u32 },
}

/// Why a path was not trusted.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("{}: {problem}", path.display())]
    Unsafe { path: PathBuf, problem: Problem },
    #[error("{}: cannot inspect", path.display())]
    Inspect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot create directory", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn refuse<T>(path: &Path, problem: Problem) -> Result<T, PathError> {
    Err(PathError::Unsafe {
        path: path.to_path_buf(),
        problem,
    })
}

fn inspect(path: &Path) -> impl FnOnce(std::io::Error) -> PathError + '_ {
    move |source| PathError::Inspect {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory a file `path` is in (`.` for a bare name).
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes `dir` (and any missing parent) with mode 0700 unless it exists,
/// then checks it as [`check_dir`] does. An existing directory is never
/// loosened or tightened: it is used as it is, or refused.
pub fn private_dir(dir: &Path, owners: Owners) -> Result<(), PathError> {
    let made = DirBuilder::new().recursive(true).mode(0o700).create(dir);
    // A planted link or a foreign directory is the better answer than
    // whatever `mkdir` ran into because of it.
    match (check_dir(dir, owners), made) {
        (Err(e @ PathError::Unsafe { .. }), _) => Err(e),
        (_, Err(source)) => Err(PathError::Create {
            path: dir.to_path_buf(),
            source,
        }),
        (Ok(true), Ok(())) => Ok(()),
        (Ok(false), Ok(())) => Err(PathError::Create {
            path: dir.to_path_buf(),
            source: ErrorKind::NotFound.into(),
        }),
        (Err(e), Ok(())) => Err(e),
    }
}

/// Checks that `dir` is a directory grantd may trust; `Ok(false)` when it
/// does not exist.
pub fn check_dir(dir: &Path, owners: Owners) -> Result<bool, PathError> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(inspect(dir)(source)),
    };
    if meta.file_type().is_symlink() {
        return refuse(dir, Problem::Symlink);
    }
    if !meta.is_dir() {
        return refuse(dir, Problem::NotDirectory);
    }
    check_owner(dir, meta.uid(), owners)?;
    let mode = meta.mode() & 0o7777;
    if mode & SHARED_WRITE != 0 {
        return refuse(dir, Problem::Writable { mode });
    }
    check_ancestors(dir, owners.uid)?;
    Ok(true)
}

/// Every directory above `dir`, as the kernel walks it (links in ancestors,
/// such as `/var/run` → `/run`, resolved), belongs to root or `uid` and is
/// writable by nobody else unless sticky.
fn check_ancestors(dir: &Path, uid: u32) -> Result<(), PathError> {
    // `dir` itself is no link (checked), so this resolves only its ancestors.
    let real = std::fs::canonicalize(dir).map_err(inspect(dir))?;
    check_chain(real.parent(), uid)
}

/// `dir` (a path with no links in it) and every directory above it belong
/// to root or `uid` and are writable by nobody else unless sticky: nobody
/// else can rename, replace or add what is in them, except (where sticky)
/// entries of their own.
fn check_chain(dir: Option<&Path>, uid: u32) -> Result<(), PathError> {
    for ancestor in dir.into_iter().flat_map(Path::ancestors) {
        let meta = std::fs::metadata(ancestor).map_err(inspect(ancestor))?;
        check_owner(ancestor, meta.uid(), Owners::or_root(uid))?;
        let mode = meta.mode() & 0o7777;
        if mode & SHARED_WRITE != 0 && mode & STICKY == 0 {
            return refuse(ancestor, Problem::SharedAncestor { mode });
        }
    }
    Ok(())
}

/// Most symbolic links followed on the way to a vouched-for file, as the
/// kernel's own limit (`ELOOP` after 40).
const MAX_LINKS: usize = 40;

/// Opens `path` for reading when nobody but [`Owners`] can have written it
/// or pointed it elsewhere, as for a file that is no secret but says whom
/// grantd trusts (the config file, which holds `allowed_uids`). Every
/// symbolic link on the way is followed only when one of the owners made
/// it, in a directory nobody else can write (or a sticky one); the file it
/// leads to is a regular file of one of the owners that group and others
/// cannot write; and every directory above that file belongs to root or the
/// owner and is writable by nobody else unless sticky. A missing file is an
/// [`PathError::Inspect`] of kind `NotFound`.
pub fn open_vouched(path: &Path, owners: Owners) -> Result<File, PathError> {
    let real = resolve_vouched(path, owners)?;
    check_chain(real.parent(), owners.uid)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&real)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => PathError::Unsafe {
                path: real.clone(),
                problem: Problem::Symlink,
            },
            _ => inspect(path)(source),
        })?;
    let meta = file.metadata().map_err(inspect(&real))?;
    if !meta.is_file() {
        return refuse(&real, Problem::NotRegularFile);
    }
    check_owner(&real, meta.uid(), owners)?;
    let mode = meta.mode() & 0o7777;
    if mode & SHARED_WRITE != 0 {
        return refuse(&real, Problem::Writable { mode });
    }
    Ok(file)
}

/// The path `path` leads to, with every link on the way vouched for (see
/// [`open_vouched`]); resolved as the kernel does, a link at a time, `..`
/// after a link going up from where the link led.
fn resolve_vouched(path: &Path, owners: Owners) -> Result<PathBuf, PathError> {
    use std::collections::VecDeque;
    use std::path::Component;
    let start = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().map_err(inspect(path))?
    };
    let mut real = start;
    let mut left: VecDeque<PathBuf> = path
        .components()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut links = 0;
    while let Some(part) = left.pop_front() {
        match part.components().next() {
            Some(Component::RootDir) => real = PathBuf::from("/"),
            Some(Component::ParentDir) => {
                real.pop();
            }
            Some(Component::Normal(name)) => {
                let next = real.join(name);
                let meta = std::fs::symlink_metadata(&next).map_err(inspect(&next))?;
                if !meta.file_type().is_symlink() {
                    if !meta.is_dir() && !left.is_empty() {
                        let not_dir = std::io::Error::from_raw_os_error(libc::ENOTDIR);
                        return Err(inspect(path)(not_dir));
                    }
                    real = next;
                    continue;
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(inspect(path)(std::io::Error::from_raw_os_error(
                        libc::ELOOP,
                    )));
                }
                // Who made the link, and who could have replaced it.
                check_owner(&next, meta.uid(), owners)?;
                check_chain(Some(&real), owners.uid)?;
                let target = std::fs::read_link(&next).map_err(inspect(&next))?;
                for part in target.components().rev() {
                    left.push_front(PathBuf::from(part.as_os_str()));
                }
            }
            Some(Component::CurDir | Component::Prefix(_)) | None => {}
        }
    }
    Ok(real)
}

fn check_owner(path: &Path, owner: u32, owners: Owners) -> Result<(), PathError> {
    if owners.allow(owner) {
        return Ok(());
    }
    refuse(
        path,
        Problem::Owner {
            owner,
            uid: owners.uid,
            root_too: owners.root_too,
        },
    )
}

/// Opens `path` for reading after checking its directory ([`check_dir`]),
/// without following a link, and checks the open file itself; `Ok(None)`
/// when the file or its directory does not exist.
pub fn open_trusted(
    path: &Path,
    owners: Owners,
    readers: Readers,
) -> Result<Option<File>, PathError> {
    if !check_dir(dir_of(path), owners)? {
        return Ok(None);
    }
    // O_NONBLOCK: a FIFO put in place of the file must not hang the open;
    // it is refused below as not a regular file.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return refuse(path, Problem::Symlink),
        Err(source) => return Err(inspect(path)(source)),
    };
    // The open file's own metadata: what was checked is what is read.
    let meta = file.metadata().map_err(inspect(path))?;
    if !meta.is_file() {
        return refuse(path, Problem::NotRegularFile);
    }
    check_owner(path, meta.uid(), owners)?;
    let mode = meta.mode() & 0o7777;
    if mode & SHARED_WRITE != 0 {
        return refuse(path, Problem::Writable { mode });
    }
    if readers == Readers::OwnerOnly && mode & SHARED_ANY != 0 {
        return refuse(path, Problem::Readable { mode });
    }
    Ok(Some(file))
}

#[cfg(test)]
#[path = "checked_tests.rs"]
mod tests;
