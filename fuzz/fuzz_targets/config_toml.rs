//! The configuration reader (`grantd::config::resolve`) over a TOML file and
//! `GRANTD_*` variables.
//!
//! The input is the file's text, optionally followed by a line `%%` and
//! `GRANTD_NAME=value` lines for the environment (a map, never the process
//! environment). The text is written to one scratch file per process, since
//! `resolve` reads the file itself. Properties: resolve never panics and is
//! deterministic; a refusal lists at least one problem, each one non-empty
//! line; text that is not TOML is always refused as such; accepted settings
//! hold only valid values (loopback unless allowed, limits in range, valid
//! profiles, the default profile first).

#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use grantd::config::{Flags, Settings, resolve};
use grantd::profile::is_profile_name;
use grantd::scope::{DURATION_RANGE, S3Target};
use libfuzzer_sys::fuzz_target;

/// Separates the file's text from the environment lines.
const ENV_SEPARATOR: &str = "\n%%\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (file_text, env_text) = text.split_once(ENV_SEPARATOR).unwrap_or((text, ""));
    let env: HashMap<String, String> = env_text
        .lines()
        .filter_map(|line| line.split_once('='))
        // GRANTD_CONFIG would point resolve at another file.
        .filter(|(name, _)| name.starts_with("GRANTD_") && *name != "GRANTD_CONFIG")
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let path = scratch_file();
    std::fs::write(path, file_text).expect("write the scratch config file");
    let flags = Flags {
        config: Some(path.clone()),
        ..Flags::default()
    };

    let first = resolve(&flags, &env);
    let second = resolve(&flags, &env);
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "not deterministic"
    );
    match first {
        Ok(settings) => accepted(&settings, file_text, path),
        Err(problems) => refused(&problems, file_text),
    }
});

fn scratch_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("grantd-fuzz-config-{}.toml", std::process::id()))
    })
}

fn accepted(settings: &Settings, file_text: &str, path: &PathBuf) {
    assert!(
        file_text.parse::<toml::Table>().is_ok(),
        "accepted text that is not TOML"
    );
    assert_eq!(settings.config_file.as_ref(), Some(path));
    let server = &settings.server;
    assert!(server.allow_remote || server.listen.ip().is_loopback());
    assert!(settings.cache.max_entries >= 1 && server.limits.max_connections >= 1);
    assert!(settings.cache.loads_per_second >= 1.0);
    let profiles = &settings.profiles.list;
    assert_eq!(
        settings.profiles.default.as_deref(),
        profiles.first().map(|p| p.name.as_str())
    );
    for (i, profile) in profiles.iter().enumerate() {
        assert!(is_profile_name(&profile.name), "{:?}", profile.name);
        assert!(
            profiles[..i]
                .iter()
                .all(|p| p.name != profile.name),
            "profile {:?} twice",
            profile.name
        );
        let request = &profile.request;
        assert_eq!(
            S3Target::parse(request.target.as_str()).as_ref(),
            Ok(&request.target)
        );
        if let Some(d) = request.duration_seconds {
            assert!(DURATION_RANGE.contains(&d));
        }
    }
}

fn refused(problems: &[String], file_text: &str) {
    assert!(!problems.is_empty(), "refused without a problem");
    for problem in problems {
        assert!(!problem.trim().is_empty(), "an empty problem: {problems:?}");
        assert!(
            !problem.contains('\n'),
            "a problem over several lines: {problem:?}"
        );
    }
    if file_text.parse::<toml::Table>().is_err() {
        assert!(
            problems.iter().any(|p| p.contains("not valid TOML")),
            "{problems:?}"
        );
    }
}
