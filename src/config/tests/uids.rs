//! Allowed users: from each layer, each bad one reported, and what the
//! server's peer policy then lets through.

use super::*;

#[test]
fn allowed_uids_come_from_the_file_env_or_flag() {
    let f = file("allowed_uids = [1000, 1001]\n");
    let flags = Flags {
        config: Some(f.path().to_path_buf()),
        ..Flags::default()
    };
    assert_eq!(
        resolve(&flags, &env(&[])).unwrap().server.allowed_uids,
        [1000, 1001]
    );
    let e = env(&[("GRANTD_ALLOWED_UIDS", "0, 65534")]);
    assert_eq!(resolve(&flags, &e).unwrap().server.allowed_uids, [0, 65534]);
    let mut flagged = flags;
    flagged.server.allowed_uids = Some("1002".into());
    assert_eq!(resolve(&flagged, &e).unwrap().server.allowed_uids, [1002]);
    assert!(
        resolve(&Flags::default(), &env(&[]))
            .unwrap()
            .server
            .allowed_uids
            .is_empty(),
        "none by default: the daemon's own user alone"
    );
}

#[test]
fn malformed_allowed_uids_are_each_reported() {
    let f = file("allowed_uids = [1000, \"alice\", -1, 4294967295]\nregion = \"x\"\n");
    let errors = resolve_file(f.path()).unwrap_err();
    let all = errors.join("\n");
    for needle in [
        "allowed_uids: \"alice\" is not a whole number from 0 to 4294967294",
        "allowed_uids: -1 is not a whole number",
        "allowed_uids: 4294967295 is not a whole number",
        "region: expected an AWS region",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    for (origin, value) in [
        ("GRANTD_ALLOWED_UIDS", "1000;1001"),
        ("GRANTD_ALLOWED_UIDS", "1000,"),
        ("GRANTD_ALLOWED_UIDS", "root"),
    ] {
        let errors = resolve(&Flags::default(), &env(&[(origin, value)])).unwrap_err();
        assert!(
            errors.len() == 1 && errors[0].starts_with("GRANTD_ALLOWED_UIDS: "),
            "{value}: {errors:?}"
        );
    }
    let mut flagged = Flags::default();
    flagged.server.allowed_uids = Some("1000,x".into());
    let errors = resolve(&flagged, &env(&[])).unwrap_err();
    assert_eq!(
        errors,
        ["--allowed-uids: \"x\" is not a whole number from 0 to 4294967294"]
    );
    let f = file("allowed_uids = 1000\n");
    let errors = resolve_file(f.path()).unwrap_err();
    assert!(
        errors[0].ends_with("allowed_uids: expected an array, got integer"),
        "{errors:?}"
    );
}

#[test]
fn grantd_token_is_checked_and_never_shown() {
    let given = "job-wide-token-0123456789";
    let s = resolve(&Flags::default(), &env(&[("GRANTD_TOKEN", given)])).unwrap();
    assert_eq!(s.files.token.as_ref().map(|t| t.expose()), Some(given));
    assert!(!format!("{s:?}").contains(given), "Debug shows the token");
    // Empty counts as unset, as for every variable.
    let s = resolve(&Flags::default(), &env(&[("GRANTD_TOKEN", "")])).unwrap();
    assert!(s.files.token.is_none());
    // Reported with the other problems, by name and rule, without the value.
    let bad = "job wide token with spaces";
    let errors = resolve(
        &Flags::default(),
        &env(&[("GRANTD_TOKEN", bad), ("GRANTD_IMDS", "later")]),
    )
    .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(
        errors[1],
        "GRANTD_TOKEN: invalid token: may hold only visible ASCII characters (no spaces)"
    );
    assert!(!errors.concat().contains(bad));
}

/// The server built from resolved settings serves `uid`.
fn server_serves(settings: &Settings, uid: u32) -> bool {
    use std::sync::Arc;

    use crate::clock::SystemClock;
    use crate::server::AppState;
    use crate::upstream::fake::ScriptedUpstream;

    let state = AppState::for_tests(
        Arc::new(ScriptedUpstream::new(Arc::new(SystemClock))),
        &settings.cache,
        &settings.server,
        settings.profiles.list.clone(),
        None,
    );
    let addr = "127.0.0.1:40000".parse().unwrap();
    state.peers.decide(addr, Ok(uid)).trusted()
}

#[tokio::test]
async fn allowed_uids_from_each_source_reach_the_peer_policy() {
    let stranger = u32::MAX - 9;
    let f = file(&format!("allowed_uids = [{stranger}]\n"));
    let by_file = Flags {
        config: Some(f.path().to_path_buf()),
        ..Flags::default()
    };
    let mut by_flag = Flags::default();
    by_flag.server.allowed_uids = Some(stranger.to_string());
    let by_env = env(&[("GRANTD_ALLOWED_UIDS", &stranger.to_string())]);
    for (flags, e) in [
        (&by_file, env(&[])),
        (&by_flag, env(&[])),
        (&Flags::default(), by_env),
    ] {
        let s = resolve(flags, &e).unwrap();
        assert!(server_serves(&s, stranger), "{:?}", s.server.allowed_uids);
        assert!(server_serves(&s, grantd_common::fs::own_uid()));
        assert!(!server_serves(&s, stranger - 1));
    }
    let none = resolve(&Flags::default(), &env(&[])).unwrap();
    assert!(!server_serves(&none, stranger));
}
