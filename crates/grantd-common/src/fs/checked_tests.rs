use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;

/// A uid that owns nothing here: "another user".
const STRANGER: u32 = 4242;

fn me() -> Owners {
    Owners::only(own_uid())
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn problem(result: Result<impl std::fmt::Debug, PathError>) -> (PathBuf, Problem) {
    match result {
        Err(PathError::Unsafe { path, problem }) => (path, problem),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn private_dir_creates_a_0700_directory_and_accepts_it_again() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("a").join("grantd");
    private_dir(&dir, me()).unwrap();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    private_dir(&dir, me()).unwrap();
}

#[test]
fn a_directory_of_another_user_is_refused_with_its_owner_named() {
    let scratch = tempfile::tempdir().unwrap();
    let (path, why) = problem(private_dir(scratch.path(), Owners::only(STRANGER)));
    assert_eq!(path, scratch.path());
    assert_eq!(
        why,
        Problem::Owner {
            owner: own_uid(),
            uid: STRANGER,
            root_too: false
        }
    );
    let shown = PathError::Unsafe { path, problem: why }.to_string();
    assert!(
        shown.contains(&format!("owned by uid {}", own_uid())),
        "{shown}"
    );
    assert!(shown.contains("remove it"), "{shown}");
}

#[test]
fn a_group_writable_directory_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    chmod(scratch.path(), 0o770);
    let (_, why) = problem(check_dir(scratch.path(), me()));
    assert_eq!(why, Problem::Writable { mode: 0o770 });
}

#[test]
fn a_symlink_in_place_of_the_directory_is_refused_even_to_its_target_s_owner() {
    let scratch = tempfile::tempdir().unwrap();
    let real = scratch.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = scratch.path().join("grantd");
    symlink(&real, &link).unwrap();
    assert_eq!(problem(private_dir(&link, me())).1, Problem::Symlink);
    // A dangling link: mkdir fails on it, but the link is what is reported.
    let dangling = scratch.path().join("dangling");
    symlink(scratch.path().join("nowhere"), &dangling).unwrap();
    assert_eq!(problem(private_dir(&dangling, me())).1, Problem::Symlink);
    assert!(!scratch.path().join("nowhere").exists());
}

#[test]
fn a_shared_ancestor_is_refused_unless_sticky() {
    let scratch = tempfile::tempdir().unwrap();
    let shared = scratch.path().join("shared");
    let mine = shared.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    chmod(&mine, 0o700);
    chmod(&shared, 0o777);
    let (path, why) = problem(check_dir(&mine, me()));
    assert_eq!(path, shared);
    assert_eq!(why, Problem::SharedAncestor { mode: 0o777 });
    chmod(&shared, 0o1777);
    assert!(check_dir(&mine, me()).unwrap());
}

#[test]
fn a_missing_directory_is_not_an_error_to_check() {
    let scratch = tempfile::tempdir().unwrap();
    assert!(!check_dir(&scratch.path().join("none"), me()).unwrap());
    let file = scratch.path().join("none").join("token");
    assert!(
        open_trusted(&file, me(), Readers::OwnerOnly)
            .unwrap()
            .is_none()
    );
}

#[test]
fn opens_a_private_file_and_refuses_one_others_can_read_or_write() {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("token");
    std::fs::write(&path, "x").unwrap();
    chmod(&path, 0o600);
    assert!(
        open_trusted(&path, me(), Readers::OwnerOnly)
            .unwrap()
            .is_some()
    );
    chmod(&path, 0o644);
    let (at, why) = problem(open_trusted(&path, me(), Readers::OwnerOnly));
    assert_eq!((at, why), (path.clone(), Problem::Readable { mode: 0o644 }));
    assert!(
        open_trusted(&path, me(), Readers::Anyone)
            .unwrap()
            .is_some()
    );
    chmod(&path, 0o664);
    let (_, why) = problem(open_trusted(&path, me(), Readers::Anyone));
    assert_eq!(why, Problem::Writable { mode: 0o664 });
}

#[test]
fn a_symlinked_file_is_refused_and_not_read() {
    let scratch = tempfile::tempdir().unwrap();
    let target = scratch.path().join("elsewhere");
    std::fs::write(&target, "theirs").unwrap();
    chmod(&target, 0o600);
    let path = scratch.path().join("token");
    symlink(&target, &path).unwrap();
    let (at, why) = problem(open_trusted(&path, me(), Readers::OwnerOnly));
    assert_eq!((at, why), (path, Problem::Symlink));
}

#[test]
fn something_other_than_a_regular_file_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("token");
    std::fs::create_dir(&path).unwrap();
    let (_, why) = problem(open_trusted(&path, me(), Readers::Anyone));
    assert_eq!(why, Problem::NotRegularFile);
}

#[test]
fn a_client_trusts_root_s_files_but_the_daemon_only_its_own() {
    if own_uid() != 0 {
        return; // The files here are root's only when the tests run as root.
    }
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("addr");
    std::fs::write(&path, "127.0.0.1:7911").unwrap();
    assert!(
        open_trusted(&path, Owners::or_root(STRANGER), Readers::Anyone)
            .unwrap()
            .is_some()
    );
    let (_, why) = problem(open_trusted(&path, Owners::only(STRANGER), Readers::Anyone));
    assert!(matches!(why, Problem::Owner { owner: 0, .. }), "{why:?}");
}

#[test]
fn a_file_owned_by_another_user_is_refused() {
    if own_uid() != 0 {
        return; // Only root can give a file away.
    }
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("token");
    std::fs::write(&path, "x").unwrap();
    chmod(&path, 0o600);
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let (_, why) = problem(open_trusted(&path, me(), Readers::OwnerOnly));
    assert_eq!(
        why,
        Problem::Owner {
            owner: 65534,
            uid: 0,
            root_too: false
        }
    );
}

/// A config-like file (mode 0644) in a fresh directory.
fn vouched_file(scratch: &tempfile::TempDir) -> PathBuf {
    let path = scratch.path().join("grantd.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:7911\"").unwrap();
    chmod(&path, 0o644);
    path
}

fn ours() -> Owners {
    Owners::or_root(own_uid())
}

#[test]
fn a_file_others_may_read_but_not_write_is_vouched_for() {
    let scratch = tempfile::tempdir().unwrap();
    let path = vouched_file(&scratch);
    assert!(open_vouched(&path, ours()).is_ok());
    chmod(&path, 0o664);
    let (at, why) = problem(open_vouched(&path, ours()));
    assert_eq!((at, why), (path.clone(), Problem::Writable { mode: 0o664 }));
    let missing = scratch.path().join("none.toml");
    match open_vouched(&missing, ours()) {
        Err(PathError::Inspect { source, .. }) => {
            assert_eq!(source.kind(), ErrorKind::NotFound)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_vouched_file_in_a_directory_others_can_write_is_refused_unless_sticky() {
    let scratch = tempfile::tempdir().unwrap();
    let path = vouched_file(&scratch);
    chmod(scratch.path(), 0o777);
    let (at, why) = problem(open_vouched(&path, ours()));
    assert_eq!(at, scratch.path());
    assert_eq!(why, Problem::SharedAncestor { mode: 0o777 });
    // Sticky, as /tmp: others cannot replace what is ours in it.
    chmod(scratch.path(), 0o1777);
    assert!(open_vouched(&path, ours()).is_ok());
    chmod(scratch.path(), 0o700);
}

#[test]
fn links_of_our_own_are_followed_to_a_vouched_file() {
    let scratch = tempfile::tempdir().unwrap();
    let path = vouched_file(&scratch);
    std::fs::create_dir(scratch.path().join("conf")).unwrap();
    // conf/current -> ../grantd.toml, and a link to that link.
    symlink("../grantd.toml", scratch.path().join("conf/current")).unwrap();
    symlink("conf/current", scratch.path().join("link")).unwrap();
    let mut text = String::new();
    use std::io::Read;
    open_vouched(&scratch.path().join("link"), ours())
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("7911"));
    // `..` after a link goes up from where the link led, as the kernel does.
    let via_parent = scratch.path().join("conf/current/../grantd.toml");
    assert!(
        open_vouched(&via_parent, ours()).is_err(),
        "grantd.toml is a file"
    );
    let through = scratch.path().join("link/../conf/current");
    assert!(matches!(
        open_vouched(&through, ours()),
        Err(PathError::Inspect { .. })
    ));
    // A link loop ends with ELOOP, not a hang.
    symlink("loop", scratch.path().join("loop")).unwrap();
    assert!(open_vouched(&scratch.path().join("loop"), ours()).is_err());
    drop(path);
}

#[test]
fn a_link_in_a_directory_others_can_write_is_not_vouched_for() {
    let scratch = tempfile::tempdir().unwrap();
    let path = vouched_file(&scratch);
    let shared = scratch.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    symlink(&path, shared.join("grantd.toml")).unwrap();
    chmod(&shared, 0o777);
    let (at, why) = problem(open_vouched(&shared.join("grantd.toml"), ours()));
    assert_eq!((at, why), (shared, Problem::SharedAncestor { mode: 0o777 }));
}

#[test]
fn a_link_another_user_made_is_not_followed() {
    if own_uid() != 0 {
        return; // Only root can give a link away.
    }
    let scratch = tempfile::tempdir().unwrap();
    let path = vouched_file(&scratch);
    let sticky = scratch.path().join("tmp");
    std::fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    let planted = sticky.join("grantd.toml");
    symlink(&path, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(65534), Some(65534)).unwrap();
    let (at, why) = problem(open_vouched(&planted, ours()));
    assert_eq!(at, planted);
    assert!(
        matches!(why, Problem::Owner { owner: 65534, .. }),
        "{why:?}"
    );
    // And a file of another user's is refused, wherever it is.
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let (_, why) = problem(open_vouched(&path, ours()));
    assert!(
        matches!(why, Problem::Owner { owner: 65534, .. }),
        "{why:?}"
    );
}
