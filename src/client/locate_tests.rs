use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use grantd_common::fs::Problem;

use super::*;

fn daemon_addr(settings: &Settings) -> Result<SocketAddr, ClientError> {
    daemon(settings).map(|d| d.addr)
}
use crate::config::{Flags, resolve};
use crate::report::Report;

/// Settings naming `addr_file`, listening on `listen`.
fn settings(addr_file: &Path, listen: &str, allow_remote: bool) -> Settings {
    let mut flags = Flags::default();
    flags.server.listen = Some(listen.into());
    flags.server.allow_remote = allow_remote;
    flags.files.addr_file = Some(addr_file.to_path_buf());
    resolve(&flags, &HashMap::new()).unwrap()
}

/// An address file holding `text` (mode 0644, as the daemon writes it).
fn addr_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("addr");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    (d, path)
}

#[test]
fn a_loopback_address_from_the_file_is_dialled() {
    for (text, expected) in [
        ("127.0.0.1:7912\n", "127.0.0.1:7912"),
        ("[::1]:7912", "[::1]:7912"),
        ("0.0.0.0:7912", "127.0.0.1:7912"),
    ] {
        let (_d, path) = addr_file(text);
        let addr = daemon_addr(&settings(&path, "127.0.0.1:0", false)).unwrap();
        assert_eq!(addr, expected.parse().unwrap(), "{text:?}");
    }
}

#[test]
fn a_remote_address_from_the_file_is_refused_unless_remote_is_allowed() {
    let (_d, path) = addr_file("10.1.2.3:7911");
    let err = daemon_addr(&settings(&path, "127.0.0.1:7911", false)).unwrap_err();
    assert!(matches!(err, ClientError::RemoteAddr { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("10.1.2.3:7911"), "{shown}");
    assert!(shown.contains("--allow-remote"), "{shown}");
    // An IPv4 address dressed as IPv6 is judged as what it is.
    std::fs::write(&path, "[::ffff:10.1.2.3]:7911").unwrap();
    let err = daemon_addr(&settings(&path, "127.0.0.1:7911", false)).unwrap_err();
    assert!(matches!(err, ClientError::RemoteAddr { .. }), "{err:?}");
    std::fs::write(&path, "10.1.2.3:7911").unwrap();
    let allowed = daemon_addr(&settings(&path, "127.0.0.1:7911", true)).unwrap();
    assert_eq!(allowed, "10.1.2.3:7911".parse().unwrap());
}

#[test]
fn an_address_file_others_can_write_is_refused() {
    let (d, path) = addr_file("127.0.0.1:7912");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = daemon_addr(&settings(&path, "127.0.0.1:7911", false)).unwrap_err();
    let ClientError::UntrustedAddrFile {
        source: PathError::Unsafe { problem, .. },
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*problem, Problem::Writable { mode: 0o666 });
    drop(d);
}

#[test]
fn an_address_file_of_another_user_is_refused() {
    let (d, path) = addr_file("127.0.0.1:7912");
    let s = settings(&path, "127.0.0.1:7911", false);
    if fs::own_uid() == 0 {
        // Root's files are trusted by everyone; give this one to nobody.
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let err = daemon_addr(&s).unwrap_err();
        assert!(
            Report(&err).to_string().contains("owned by uid 65534"),
            "{err:?}"
        );
    }
    // Whoever runs the tests, a stranger refuses their files.
    let err = daemon_addr_as(&s, 4242).unwrap_err();
    assert!(
        matches!(err, ClientError::UntrustedAddrFile { .. }),
        "{err:?}"
    );
    drop(d);
}

#[test]
fn a_missing_address_file_is_an_error_not_the_configured_port() {
    // The daemon removes its address file when it stops; whatever holds
    // the port then is not grantd.
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("addr");
    for listen in ["127.0.0.1:7911", "127.0.0.1:0"] {
        let err = daemon_addr(&settings(&path, listen, false)).unwrap_err();
        assert!(matches!(err, ClientError::NoAddrFile { .. }), "{err:?}");
        assert!(
            err.to_string().contains("is grantd serve running?"),
            "{err}"
        );
    }
}

#[test]
fn a_loopback_daemon_is_checked_and_an_allowed_remote_one_is_not() {
    let (_d, path) = addr_file("127.0.0.1:7912");
    assert!(
        daemon(&settings(&path, "127.0.0.1:0", false))
            .unwrap()
            .trust
            .is_some()
    );
    assert!(
        daemon(&settings(&path, "127.0.0.1:0", true))
            .unwrap()
            .trust
            .is_some()
    );
    std::fs::write(&path, "10.1.2.3:7911").unwrap();
    let remote = daemon(&settings(&path, "127.0.0.1:0", true)).unwrap();
    assert!(remote.trust.is_none());
}

#[test]
fn malformed_address_files_are_named() {
    for text in ["", "not an address", "127.0.0.1", &"9".repeat(1000)] {
        let (_d, path) = addr_file(text);
        let err = daemon_addr(&settings(&path, "127.0.0.1:0", false)).unwrap_err();
        assert!(
            matches!(err, ClientError::BadAddrFile { .. }),
            "{text:?}: {err:?}"
        );
    }
}
