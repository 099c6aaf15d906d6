use std::error::Error;
use std::os::unix::fs::{PermissionsExt, symlink};

use grantd_common::fs::Problem;

use super::*;
use crate::report::Report;

/// A token clients accept.
const GOOD: &str = "a-perfectly-fine-token";

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A token file holding `text` with `mode`, in a fresh private directory.
fn token_file(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("token");
    std::fs::write(&path, text).unwrap();
    chmod(&path, mode);
    (d, path)
}

/// The problem a refusal names, and the whole message a person sees.
fn refusal(result: Result<impl std::fmt::Debug, TokenError>) -> (Problem, String) {
    let err = match result {
        Err(err @ TokenError::Refused { .. }) => err,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let shown = Report(&err).to_string();
    match err {
        TokenError::Refused {
            source: PathError::Unsafe { problem, .. },
            ..
        } => (problem, shown),
        other => panic!("{other:?}"),
    }
}

fn running_as_root() -> bool {
    fs::own_uid() == 0
}

#[test]
fn generates_a_private_token_without_newline_and_reuses_it() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("sub").join("token");
    let (token, origin) = load_or_create(&path).unwrap();
    assert_eq!(origin, Origin::Generated);
    assert_eq!(token.expose().len(), 43);
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk, token.expose().as_bytes());
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let (again, origin) = load_or_create(&path).unwrap();
    assert_eq!(origin, Origin::Existing);
    assert_eq!(again.expose(), token.expose());
}

#[test]
fn an_empty_file_gets_a_new_token() {
    let (_d, path) = token_file("", 0o600);
    let (_, origin) = load_or_create(&path).unwrap();
    assert_eq!(origin, Origin::Generated);
}

#[test]
fn refuses_tokens_clients_would_reject() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("token");
    let too_long = "x".repeat(MAX_TOKEN_LEN * 2) + "\n";
    for (content, why, text) in [
        (
            "a-perfectly-fine-token\n",
            InvalidToken::TrailingNewline,
            "newline",
        ),
        ("short", InvalidToken::Length, "16 to 4096"),
        (too_long.as_str(), InvalidToken::Length, "16 to 4096"),
        (
            "has a space in the middle",
            InvalidToken::NotVisibleAscii,
            "visible ASCII",
        ),
    ] {
        std::fs::write(&path, content).unwrap();
        chmod(&path, 0o600);
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
    // A name longer than any file system allows: opening it fails, not as NotFound.
    let path = d.path().join("t".repeat(300));
    let err = read(&path).unwrap_err();
    assert!(matches!(err, TokenError::Reach { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{}: cannot reach the token file", path.display())
    );
    let io = err
        .source()
        .and_then(|e| e.source())
        .and_then(|e| e.downcast_ref::<std::io::Error>());
    assert!(io.is_some(), "the io error is underneath: {err:?}");
}

#[test]
fn a_token_file_others_can_read_is_refused_with_the_fix() {
    let (_d, path) = token_file(GOOD, 0o644);
    let (problem, shown) = refusal(load_or_create(&path));
    assert_eq!(problem, Problem::Readable { mode: 0o644 });
    assert!(shown.contains("chmod 600"), "{shown}");
    assert!(shown.contains("--token-file"), "{shown}");
    // A client and `grantd check` refuse it alike.
    assert!(matches!(read(&path), Err(TokenError::Refused { .. })));
    assert!(matches!(check(&path), Err(TokenError::Refused { .. })));
}

#[test]
fn a_symlinked_token_file_is_refused_and_its_target_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("elsewhere");
    std::fs::write(&target, GOOD).unwrap();
    chmod(&target, 0o600);
    let path = d.path().join("token");
    symlink(&target, &path).unwrap();
    let (problem, _) = refusal(load_or_create(&path));
    assert_eq!(problem, Problem::Symlink);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), GOOD);
    assert!(std::fs::symlink_metadata(&path).unwrap().is_symlink());
}

#[test]
fn a_group_writable_token_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o770);
    let (problem, shown) = refusal(load_or_create(&d.path().join("token")));
    assert_eq!(problem, Problem::Writable { mode: 0o770 });
    assert!(shown.contains(&d.path().display().to_string()), "{shown}");
    assert!(!d.path().join("token").exists(), "no token written there");
}

#[test]
fn a_symlink_in_place_of_the_token_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real");
    std::fs::create_dir(&real).unwrap();
    chmod(&real, 0o700);
    let dir = d.path().join("grantd");
    symlink(&real, &dir).unwrap();
    let (problem, _) = refusal(load_or_create(&dir.join("token")));
    assert_eq!(problem, Problem::Symlink);
    assert!(!real.join("token").exists(), "nothing written through it");
}

#[test]
fn a_token_directory_of_another_user_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("token");
    // The directory is this user's; the daemon is told it runs as another.
    let (problem, shown) = refusal(load_or_create_as(&path, 4242));
    assert_eq!(
        problem,
        Problem::Owner {
            owner: fs::own_uid(),
            uid: 4242,
            root_too: false
        }
    );
    assert!(shown.contains("uid 4242"), "{shown}");
    assert!(!path.exists());
}

#[test]
fn a_token_file_of_another_user_is_refused_even_when_private() {
    if !running_as_root() {
        return; // Only root can give a file away.
    }
    let (_d, path) = token_file(GOOD, 0o600);
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let (problem, _) = refusal(load_or_create(&path));
    assert!(
        matches!(problem, Problem::Owner { owner: 65534, .. }),
        "{problem:?}"
    );
    // A client refuses it too: only its own user's and root's are trusted.
    assert!(matches!(read(&path), Err(TokenError::Refused { .. })));
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

#[test]
fn a_difference_in_any_byte_is_seen() {
    // 43 bytes, as a generated token: five whole words and a 3-byte tail.
    let ours = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
    let t = Token::new(ours);
    assert!(t.matches(ours.as_bytes()));
    for i in 0..ours.len() {
        for flip in [0x01, 0x80] {
            let mut other = ours.as_bytes().to_vec();
            other[i] ^= flip;
            assert!(!t.matches(&other), "byte {i} changed by {flip:#x}");
        }
    }
}

#[test]
fn a_given_token_follows_the_rules_of_a_token_file() {
    assert_eq!(parse(GOOD).unwrap().expose(), GOOD);
    assert_eq!(parse("short").unwrap_err(), InvalidToken::Length);
    let long = "x".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(parse(&long).unwrap_err(), InvalidToken::Length);
    assert!(parse(&"x".repeat(MAX_TOKEN_LEN)).is_ok());
    let newline = format!("{GOOD}\n");
    assert_eq!(parse(&newline).unwrap_err(), InvalidToken::TrailingNewline);
    for bad in [
        "a perfectly bad token",
        "a-perfectly-bad-tökén",
        "tab\there-and-more",
    ] {
        assert_eq!(
            parse(bad).unwrap_err(),
            InvalidToken::NotVisibleAscii,
            "{bad:?}"
        );
    }
}

#[test]
fn a_given_token_replaces_the_one_in_the_file_and_is_what_clients_read() {
    let (d, path) = token_file("an-older-token-of-this-user", 0o600);
    chmod(d.path(), 0o700);
    install(&path, &parse(GOOD).unwrap()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), GOOD.as_bytes());
    assert_eq!(mode(&path), 0o600);
    assert_eq!(read(&path).unwrap().unwrap().expose(), GOOD);
    // And a missing directory is made private, as for a generated token.
    let fresh = d.path().join("sub").join("token");
    install(&fresh, &parse(GOOD).unwrap()).unwrap();
    assert_eq!(mode(fresh.parent().unwrap()), 0o700);
}

#[test]
fn a_given_token_is_not_written_where_others_could_read_or_plant_it() {
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o777);
    let path = d.path().join("token");
    let (problem, _) = refusal(install(&path, &parse(GOOD).unwrap()));
    assert_eq!(problem, Problem::Writable { mode: 0o777 });
    chmod(d.path(), 0o700);
    let (problem, _) = refusal(install_as(&path, &parse(GOOD).unwrap(), 4242));
    assert!(
        matches!(problem, Problem::Owner { uid: 4242, .. }),
        "{problem:?}"
    );
    assert!(!path.exists(), "no token written there");
}
