use std::io::Write;
use std::path::PathBuf;

use super::*;
use crate::scope::Privilege;
use crate::server::DEFAULT_LISTEN;

use super::source::env;

/// A config file holding `text`, removed when dropped.
fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .prefix("grantd-config-test-")
        .suffix(".toml")
        .tempfile()
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults_need_no_configuration() {
    let s = resolve(
        &Flags::default(),
        &env(&[("XDG_RUNTIME_DIR", "/run/user/1000")]),
    )
    .unwrap();
    assert_eq!(s.server.listen, DEFAULT_LISTEN);
    assert_eq!(
        s.files.token_file,
        PathBuf::from("/run/user/1000/grantd/token")
    );
    assert!(s.profiles.list.is_empty());
    assert_eq!(s.profiles.default, None);
    assert!(!s.server.imds);
    assert_eq!(s.logging.format, LogFormat::Text);
    assert_eq!(
        s.cache.loads_per_second,
        f64::from(DEFAULT_MAX_NEW_SCOPES_PER_SECOND)
    );
    assert_eq!(s.cache.load_burst, s.cache.loads_per_second * 5.0);
}

#[test]
fn token_file_falls_back_to_the_default_of_this_user() {
    let e = env(&[("TMPDIR", "/scratch")]);
    let s = resolve(&Flags::default(), &e).unwrap();
    let uid = grantd_common::fs::own_uid();
    assert_eq!(
        s.files.token_file,
        token_file::default_token_file_for(&e, uid)
    );
}

#[test]
fn flag_beats_env_beats_file() {
    let f = file(
        "listen = \"127.0.0.1:1001\"\nregion = \"eu-west-1\"\naccount_id = \"111122223333\"\n",
    );
    let mut flags = Flags {
        config: Some(f.path().to_path_buf()),
        ..Flags::default()
    };
    flags.server.listen = Some("127.0.0.1:1003".into());
    let e = env(&[
        ("GRANTD_LISTEN", "127.0.0.1:1002"),
        ("GRANTD_REGION", "us-west-2"),
    ]);
    let s = resolve(&flags, &e).unwrap();
    assert_eq!(s.server.listen.port(), 1003);
    assert_eq!(s.upstream.region.as_deref(), Some("us-west-2"));
    assert_eq!(s.upstream.account_id.as_deref(), Some("111122223333"));
    flags.server.listen = None;
    let s = resolve(&flags, &e).unwrap();
    assert_eq!(s.server.listen.port(), 1002);
}

#[test]
fn config_file_comes_from_grantd_config_too() {
    let f = file("[profiles.a]\ntarget = \"s3://bucket/a/*\"\npermission = \"READ\"\n");
    let s = resolve(
        &Flags::default(),
        &env(&[("GRANTD_CONFIG", f.path().to_str().unwrap())]),
    )
    .unwrap();
    assert_eq!(s.profiles.list.len(), 1);
}

#[test]
fn every_bad_key_is_reported_at_once() {
    let f = file(
        r#"
listen = "10.0.0.1:80"
account_id = "12345"
colour = "blue"
imds = "maybe"
max_entries = 0

[profiles.good]
target = "s3://bucket/ok/*"
permission = "READ"

[profiles.bad]
target = "bucket/no-scheme"
permission = "ALL"
privilege = "Max"
duration_seconds = 60
extra = 1

[profiles.missing]
"#,
    );
    let errors = resolve(
        &Flags {
            config: Some(f.path().to_path_buf()),
            upstream: UpstreamFlags {
                region: Some("Mars 1".into()),
                ..UpstreamFlags::default()
            },
            ..Flags::default()
        },
        &env(&[]),
    )
    .unwrap_err();
    let all = errors.join("\n");
    for needle in [
        "listen: 10.0.0.1:80 is not a loopback address",
        "account_id: expected a 12-digit",
        "unknown key \"colour\"",
        "imds: expected true or false",
        "max_entries: expected a whole number",
        "--region: expected an AWS region",
        "profiles.bad.target: invalid target",
        "profiles.bad.permission: invalid permission",
        "profiles.bad.privilege: invalid privilege",
        "profiles.bad.duration_seconds",
        "profiles.bad: unknown key \"extra\"",
        "profiles.missing: missing target",
        "profiles.missing: missing permission",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert_eq!(errors.len(), 13, "{all}");
}

#[test]
fn invalid_toml_names_the_line() {
    let f = file("listen = \"127.0.0.1:1\"\nregion = \n");
    let errors = resolve_file(f.path()).unwrap_err();
    assert!(errors[0].contains("not valid TOML (line 2)"), "{errors:?}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let flags = Flags {
        config: Some("/nonexistent/grantd.toml".into()),
        ..Flags::default()
    };
    let errors = resolve(&flags, &env(&[])).unwrap_err();
    assert!(errors[0].contains("cannot read config file"), "{errors:?}");
}

/// The settings of a config file `f`, or its problems.
fn resolve_file(f: &std::path::Path) -> Result<Settings, Vec<String>> {
    let flags = Flags {
        config: Some(f.to_path_buf()),
        ..Flags::default()
    };
    resolve(&flags, &env(&[]))
}

#[test]
fn a_config_file_others_can_write_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let f = file("allowed_uids = [4242]\n");
    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let errors = resolve_file(f.path()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let shown = &errors[0];
    assert!(shown.contains("refusing the config file"), "{shown}");
    assert!(shown.contains("chmod go-w"), "{shown}");
    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(resolve_file(f.path()).unwrap().server.allowed_uids, [4242]);
}

#[test]
fn a_config_file_of_another_user_is_refused() {
    let f = file("allowed_uids = [4242]\n");
    if grantd_common::fs::own_uid() == 0 {
        std::os::unix::fs::chown(f.path(), Some(65534), Some(65534)).unwrap();
        let errors = resolve_file(f.path()).unwrap_err();
        assert!(errors[0].contains("owned by uid 65534"), "{errors:?}");
    }
    // Whoever runs the tests, a stranger refuses their files (root's aside).
    let mut problems = Problems::new();
    let owner = std::fs::metadata(f.path()).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    if owner.unwrap() != 0 {
        assert!(layers::read_file_as(f.path(), 4242, &mut problems).is_none());
        assert!(
            problems[0].contains("refusing the config file"),
            "{problems:?}"
        );
    }
}

#[test]
fn a_linked_config_file_is_read_when_the_link_is_ours() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real.toml");
    std::fs::write(&real, "allowed_uids = [4242]\n").unwrap();
    std::os::unix::fs::symlink("real.toml", d.path().join("grantd.toml")).unwrap();
    let s = resolve_file(&d.path().join("grantd.toml")).unwrap();
    assert_eq!(s.server.allowed_uids, [4242]);
}

#[test]
fn the_peer_lookup_and_the_overflow_uid_switch_are_read() {
    let s = resolve(
        &Flags::default(),
        &env(&[
            ("GRANTD_PEER_LOOKUP", "proc"),
            ("GRANTD_ALLOW_OVERFLOW_UID", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(s.server.peer_lookup, crate::server::peer::LookupMode::Proc);
    assert!(s.server.allow_overflow_uid);
    let defaults = resolve(&Flags::default(), &env(&[])).unwrap();
    assert_eq!(
        defaults.server.peer_lookup,
        crate::server::peer::LookupMode::Auto
    );
    assert!(!defaults.server.allow_overflow_uid);
    let errors = resolve(
        &Flags::default(),
        &env(&[("GRANTD_PEER_LOOKUP", "sockdiag")]),
    )
    .unwrap_err();
    assert!(
        errors[0].contains("GRANTD_PEER_LOOKUP") && errors[0].contains("auto, netlink or proc"),
        "{errors:?}"
    );
}

#[test]
fn allow_remote_lets_a_remote_listen_address_through() {
    let s = resolve(
        &Flags {
            server: ServerFlags {
                listen: Some("0.0.0.0:0".into()),
                allow_remote: true,
                ..ServerFlags::default()
            },
            ..Flags::default()
        },
        &env(&[]),
    )
    .unwrap();
    assert!(s.server.allow_remote);
}

#[test]
fn profiles_keep_file_order_with_the_default_first() {
    let text = r#"
[profiles.usera]
target = "s3://blog-bucket/UserA/*"
permission = "READWRITE"
duration_seconds = 3600

[profiles.product]
target = "s3://blog-bucket/Product/*"
permission = "READ"
privilege = "Minimal"
account_id = "444455556666"
region = "eu-west-1"
"#;
    let f = file(text);
    let s = resolve_file(f.path()).unwrap();
    assert_eq!(s.profiles.default.as_deref(), Some("usera"));
    let product = s.profile("product").unwrap();
    assert_eq!(product.request.privilege, Privilege::Minimal);
    assert_eq!(product.request.account_id.as_deref(), Some("444455556666"));
    assert_eq!(
        s.profile("usera").unwrap().request.duration_seconds,
        Some(3600)
    );

    let e = env(&[("GRANTD_DEFAULT_PROFILE", "product")]);
    let s = resolve(
        &Flags {
            config: Some(f.path().to_path_buf()),
            ..Flags::default()
        },
        &e,
    )
    .unwrap();
    let names: Vec<_> = s.profiles.list.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["product", "usera"]);

    let e = env(&[("GRANTD_DEFAULT_PROFILE", "nope")]);
    let errors = resolve(
        &Flags {
            config: Some(f.path().to_path_buf()),
            ..Flags::default()
        },
        &e,
    )
    .unwrap_err();
    assert!(
        errors[0].contains("GRANTD_DEFAULT_PROFILE: no profile named \"nope\""),
        "{errors:?}"
    );
}

/// Every problem line, word for word and in order, with the file path
/// replaced by `FILE`: the wording is part of the contract.
fn problems_of(text: &str, flags: Flags, e: &[(&str, &str)]) -> Vec<String> {
    let f = file(text);
    let name = f.path().display().to_string();
    let flags = Flags {
        config: Some(f.path().to_path_buf()),
        ..flags
    };
    resolve(&flags, &env(e))
        .unwrap_err()
        .into_iter()
        .map(|p| p.replace(&name, "FILE"))
        .collect()
}

#[test]
fn problems_are_worded_as_the_contract_shows() {
    let text = r#"
colour = "blue"
listen = 7911
allow_remote = "sometimes"
addr_file = true
account_id = "12"
region = "Mars"
imds = 1
imds_list_all_profiles = "perhaps"
log_format = "xml"
log_level = "[["
max_entries = -1
max_connections = "many"
max_new_scopes_per_second = 100001
default_profile = "ghost"
shape = 1

[profiles."bad name!"]
target = 5
permission = "READ"

[profiles.flat]
target = "s3://bucket/flat/*"
permission = "READ"
duration_seconds = "long"
account_id = "1"
region = "-x"
privilege = 3
"#;
    let got = problems_of(
        text,
        Flags::default(),
        &[("AWS_ENDPOINT_URL", "ftp://x"), ("GRANTD_IMDS", "later")],
    );
    let want = [
        "FILE: unknown key \"colour\"",
        "FILE: unknown key \"shape\"",
        // The server's settings,
        "FILE: allow_remote: expected true or false, got string",
        "FILE: listen: expected a string, got integer",
        "GRANTD_IMDS: expected true or false, got \"later\"",
        "FILE: imds_list_all_profiles: expected true or false, got string",
        "FILE: max_connections: expected a whole number from 1 to 65536",
        // the S3 endpoint's (AWS_ENDPOINT_URL is S3's too),
        "AWS_ENDPOINT_URL: expected an http:// or https:// URL, got \"ftp://x\"",
        // the files',
        "FILE: addr_file: expected a string, got boolean",
        // the upstream's (the endpoints once for S3 Control and once for
        // STS, as both fall back to AWS_ENDPOINT_URL),
        "FILE: account_id: expected a 12-digit AWS account id",
        "FILE: region: expected an AWS region such as us-east-1",
        "AWS_ENDPOINT_URL: expected an http:// or https:// URL, got \"ftp://x\"",
        "AWS_ENDPOINT_URL: expected an http:// or https:// URL, got \"ftp://x\"",
        // the cache's,
        "FILE: max_entries: expected a whole number from 1 to 10000000",
        "FILE: max_new_scopes_per_second: expected a whole number from 1 to 100000",
        // the log's (the filter's problem is checked below),
        "FILE: log_format: expected text or json, got \"xml\"",
        // and the profiles'.
        "FILE: profiles.bad name!: profile names may hold only A-Z, a-z, 0-9, '.', '_' and '-' (at most 64)",
        "FILE: profiles.bad name!.target: expected a string, got integer",
        "FILE: profiles.bad name!: missing target (e.g. target = \"s3://bucket/prefix/*\")",
        "FILE: profiles.flat.privilege: expected a string, got integer",
        "FILE: profiles.flat.duration_seconds: expected a whole number from 900 to 43200",
        "FILE: profiles.flat.account_id: expected a 12-digit AWS account id",
        "FILE: profiles.flat.region: expected an AWS region such as us-east-1",
        "FILE: default_profile: no profile named \"ghost\"",
    ];
    // The filter's own reason comes from tracing-subscriber; only its place is ours.
    let mut got = got;
    let log_level = got
        .iter()
        .position(|p| p.starts_with("FILE: log_level: invalid log filter \"[[\": "));
    assert_eq!(log_level, Some(16), "{got:#?}");
    got.remove(16);
    assert_eq!(got, want);
}

#[test]
fn profile_sections_that_are_not_tables_are_reported() {
    assert_eq!(
        problems_of("profiles = 5\n", Flags::default(), &[]),
        ["FILE: profiles: expected a table of [profiles.NAME] sections"]
    );
    assert_eq!(
        problems_of("[profiles]\na = 1\n", Flags::default(), &[]),
        ["FILE: profiles.a: expected a table"]
    );
    assert_eq!(
        problems_of(
            "",
            Flags {
                server: ServerFlags {
                    listen: Some("localhost:x".into()),
                    ..ServerFlags::default()
                },
                ..Flags::default()
            },
            &[("GRANTD_MAX_ENTRIES", "0")]
        ),
        [
            "--listen: invalid port in \"localhost:x\"",
            "GRANTD_MAX_ENTRIES: expected a whole number from 1 to 10000000"
        ]
    );
}

#[test]
fn every_flag_s_help_names_its_variable() {
    use clap::Args;
    let command = Flags::augment_args(clap::Command::new("grantd"));
    let mut seen = 0;
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let var = format!("GRANTD_{}", long.replace('-', "_").to_uppercase());
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        assert!(help.contains(&format!("[env: {var}")), "--{long}: {help}");
        seen += 1;
    }
    assert_eq!(seen, 15);
}

mod uids;
