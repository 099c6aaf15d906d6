//! The pip wheel's recipe: `pyproject.toml` ships the `grantd` binary with
//! maturin's `bin` bindings under Cargo's name and version, and
//! `scripts/build-wheel` refuses what it cannot build. Building the wheel
//! itself (a release build for a manylinux target, minutes) is opt-in:
//! `GRANTD_TEST_WHEEL=1 scripts/test`, or `scripts/build-wheel --check`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_toml(path: &Path) -> toml::Table {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn get<'a>(table: &'a toml::Table, dotted: &str) -> Option<&'a toml::Value> {
    let mut parts = dotted.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

fn get_str<'a>(table: &'a toml::Table, dotted: &str) -> Option<&'a str> {
    get(table, dotted).and_then(toml::Value::as_str)
}

#[test]
fn pyproject_builds_the_binary_with_maturin_bin_bindings() {
    let py = read_toml(&root().join("pyproject.toml"));
    assert_eq!(get_str(&py, "build-system.build-backend"), Some("maturin"));
    assert_eq!(get_str(&py, "tool.maturin.bindings"), Some("bin"));
    let manifest = get_str(&py, "tool.maturin.manifest-path").unwrap_or("Cargo.toml");
    let cargo = read_toml(&root().join(manifest));
    assert_eq!(get_str(&cargo, "package.name"), Some("grantd"));
    let bins = get(&cargo, "bin").and_then(toml::Value::as_array);
    let ships_grantd = bins.is_some_and(|bins| {
        bins.iter()
            .any(|b| b.get("name").and_then(toml::Value::as_str) == Some("grantd"))
    });
    assert!(ships_grantd, "{manifest} has no [[bin]] named grantd");
}

#[test]
fn wheel_name_and_version_are_cargos() {
    let py = read_toml(&root().join("pyproject.toml"));
    assert_eq!(get_str(&py, "project.name"), Some(env!("CARGO_PKG_NAME")));
    // One version to bump: maturin reads it from Cargo.toml.
    assert_eq!(get(&py, "project.version"), None, "version is set twice");
    let dynamic = get(&py, "project.dynamic").and_then(toml::Value::as_array);
    let is_dynamic = dynamic.is_some_and(|d| d.iter().any(|v| v.as_str() == Some("version")));
    assert!(is_dynamic, "project.dynamic must list \"version\"");
}

/// Runs scripts/build-wheel with `args`; only argument checks run, so this
/// is quick and installs nothing.
fn build_wheel(args: &[&str]) -> std::process::Output {
    Command::new(root().join("scripts/build-wheel"))
        .args(args)
        .output()
        .expect("running scripts/build-wheel")
}

#[test]
fn build_wheel_refuses_an_unknown_argument_with_usage() {
    let out = build_wheel(&["--bogus"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("unknown argument: --bogus"), "{stderr}");
    assert!(stderr.contains("--target"), "usage expected: {stderr}");
    assert!(out.stdout.is_empty(), "no wheel path on a refusal");
}

#[test]
fn build_wheel_refuses_an_unsupported_target() {
    let out = build_wheel(&["--target", "sparc64-unknown-linux-gnu"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("unsupported target 'sparc64-unknown-linux-gnu'"),
        "{stderr}"
    );
    let out = build_wheel(&["--target"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("--target needs a triple"), "{stderr}");
}

#[test]
fn test_script_refuses_a_malformed_grantd_test_wheel_before_running_anything() {
    // scripts/test checks GRANTD_TEST_WHEEL before its first step, so this
    // runs no cargo command.
    let out = Command::new(root().join("scripts/test"))
        .env("GRANTD_TEST_WHEEL", "yes")
        .output()
        .expect("running scripts/test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("GRANTD_TEST_WHEEL must be 0 or 1, not 'yes'"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "no step ran: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
