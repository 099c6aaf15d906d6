//! Reloads of a daemon's state in process: what changes, what stays, what
//! a bad configuration does. The real binary's reloads (SIGHUP, `grantd
//! reload`, requests in flight, other users) are in `tests/reload.rs`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::clock::SystemClock;
use crate::upstream::fake::ScriptedUpstream;

const USERA: &str = r#"
[profiles.usera]
target = "s3://bucket/UserA/*"
permission = "READWRITE"
"#;

const PRODUCT: &str = r#"
[profiles.product]
target = "s3://bucket/Product/*"
permission = "READ"
"#;

/// A uid no process here runs as.
const STRANGER: u32 = u32::MAX - 11;

struct Daemon {
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    state: AppState,
    reloader: Reloader,
    upstream: Arc<ScriptedUpstream>,
}

fn write(file: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(file, text).unwrap();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A daemon's state and reloader, started from a config file holding `text`.
fn daemon(text: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grantd.toml");
    write(&file, text);
    let flags = Flags {
        config: Some(file.clone()),
        ..Flags::default()
    };
    let env: HashMap<String, String> = [("AWS_REGION".to_string(), "us-east-1".to_string())].into();
    let namespace = UserNamespace {
        initial: true,
        overflow_uid: 65_534,
    };
    let mut settings = config::resolve(&flags, &env).unwrap();
    settle(&mut settings, &namespace).unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let upstream = Arc::new(
        ScriptedUpstream::new(clock.clone())
            .grant("s3://bucket/UserA/*", crate::scope::Permission::ReadWrite)
            .grant("s3://bucket/Product/*", crate::scope::Permission::Read),
    );
    let state = AppState::for_tests(
        upstream.clone(),
        &settings.cache,
        &settings.server,
        settings.profiles.list.clone(),
        None,
    );
    let reloader = Reloader::new(
        Some(ConfigOrigin {
            flags,
            env: Box::new(env),
        }),
        settings,
        namespace,
        upstream.clone(),
        clock,
        Place {
            listen: "127.0.0.1:7911".parse().unwrap(),
            s3_listen: None,
            region: "us-east-1".into(),
        },
    );
    Daemon {
        _dir: dir,
        file,
        state,
        reloader,
        upstream,
    }
}

fn names(state: &AppState) -> Vec<String> {
    state.profiles().iter().map(|p| p.name.clone()).collect()
}

fn stranger(state: &AppState) -> crate::server::auth::Peer {
    state
        .peers
        .decide("127.0.0.1:40000".parse().unwrap(), Ok(STRANGER))
}

#[tokio::test]
async fn new_profiles_and_allowed_uids_are_put_in_force_and_the_cache_stays() {
    let d = daemon(USERA);
    let token = d.state.token.expose().to_string();
    d.state
        .cache
        .get(&d.state.profiles()[0].request)
        .await
        .unwrap();
    let peer = stranger(&d.state);
    assert!(!peer.trusted());

    write(
        &d.file,
        &format!("allowed_uids = [{STRANGER}]\nbase_allowed_uids = [{STRANGER}]\n{USERA}{PRODUCT}"),
    );
    let report = d.reloader.reload(&d.state);
    assert!(report.ok, "{report:?}");
    assert_eq!(
        report.changed,
        ["allowed_uids", "base_allowed_uids", "profile product"]
    );
    assert!(report.needs_restart.is_empty(), "{report:?}");
    assert_eq!(names(&d.state), ["usera", "product"]);
    assert!(
        peer.trusted(),
        "the open connection's peer, from its next request"
    );
    assert!(peer.may_have_base());
    assert_eq!(d.state.token.expose(), token, "the token stays");
    // The new profile is warmed in the background; the old entry stays.
    for _ in 0..100 {
        if d.state.cache.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(d.state.cache.len(), 2);
    assert_eq!(
        d.upstream.calls(),
        2,
        "one load for the new profile, none again"
    );
    let status = d.reloader.status(&d.state).await;
    assert_eq!(status.config.reloads, 1);
    assert_eq!(status.config.allowed_uids, [STRANGER]);
    assert_eq!(status.config.profiles.len(), 2);
    assert!(status.config.last_reload.unwrap().ok);
}

#[tokio::test]
async fn a_configuration_with_problems_is_refused_whole_and_the_old_one_stays() {
    let d = daemon(USERA);
    write(
        &d.file,
        &format!(
            "allowed_uids = [{STRANGER}]\nlog_level = \"[bad\"\nmystery = 1\n{USERA}{PRODUCT}\
             [profiles.broken]\ntarget = \"http://x\"\npermission = \"READ\"\n"
        ),
    );
    let report = d.reloader.reload(&d.state);
    assert!(!report.ok);
    assert_eq!(report.problems.len(), 3, "{:?}", report.problems);
    let all = report.problems.join("\n");
    for named in ["log_level", "mystery", "profiles.broken"] {
        assert!(all.contains(named), "{named}: {all}");
    }
    assert_eq!(names(&d.state), ["usera"], "no part of it is in force");
    assert!(!stranger(&d.state).trusted());
    let status = d.reloader.status(&d.state).await;
    let last = status.config.last_reload.unwrap();
    assert!(!last.ok && last.problems.len() == 3);

    std::fs::remove_file(&d.file).unwrap();
    let report = d.reloader.reload(&d.state);
    assert!(
        !report.ok && report.problems[0].contains("grantd.toml"),
        "{report:?}"
    );
    assert_eq!(names(&d.state), ["usera"]);
}

#[tokio::test]
async fn settings_that_take_a_restart_are_named_at_every_reload_until_then() {
    let d = daemon(USERA);
    write(
        &d.file,
        &format!("listen = \"127.0.0.1:7999\"\nmax_entries = 50\n{PRODUCT}"),
    );
    let report = d.reloader.reload(&d.state);
    assert!(report.ok);
    assert_eq!(report.needs_restart, ["listen", "max_entries"]);
    assert_eq!(
        report.changed,
        ["default_profile", "profile product", "profile usera"]
    );
    assert_eq!(names(&d.state), ["product"], "usera taken out");
    let again = d.reloader.reload(&d.state);
    assert_eq!(again.needs_restart, ["listen", "max_entries"]);
    assert!(again.changed.is_empty(), "{again:?}");
}

#[tokio::test]
async fn taking_a_uid_out_refuses_it_on_a_connection_it_holds() {
    let d = daemon(&format!("allowed_uids = [{STRANGER}]\n{USERA}"));
    let peer = stranger(&d.state);
    assert!(peer.trusted());
    write(&d.file, USERA);
    assert!(d.reloader.reload(&d.state).ok);
    assert!(!peer.trusted());
}

#[tokio::test]
async fn settings_made_in_code_are_not_reloaded() {
    let mut d = daemon(USERA);
    d.reloader.origin = None;
    let report = d.reloader.reload(&d.state);
    assert!(!report.ok);
    assert!(report.problems[0].contains("made in code"), "{report:?}");
}

#[test]
fn the_reloadable_settings_are_settings_check_prints() {
    let described = config::described(
        &config::resolve(
            &Flags::default(),
            &HashMap::from([("AWS_REGION".to_string(), "us-east-1".to_string())]),
        )
        .unwrap(),
    );
    for name in RELOADABLE {
        assert!(
            described.iter().any(|(n, _)| n == name),
            "{name} is not a name grantd check prints"
        );
    }
}
