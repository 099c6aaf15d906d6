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
