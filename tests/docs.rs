//! The documentation keeps up with the code: every relative link in the
//! repository's Markdown resolves, every long flag that `grantd <command>
//! --help` prints is in `docs/reference.md`, so is every `GRANTD_*` name
//! the source mentions, and every test `SECURITY.md` names as the proof of
//! a claim exists.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The commands whose flags the reference must name.
const COMMANDS: &[&str] = &[
    "serve", "env", "creds", "check", "ready", "ls", "emulate", "demo",
];

/// Flags every command has; the reference need not list them.
const UNIVERSAL_FLAGS: &[&str] = &["--help", "--version"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn reference() -> String {
    read(&root().join("docs/reference.md"))
}

/// Whether `text` holds `word` with no name character right after it, so
/// that `--list` is not found in `--listen`, nor `GRANTD_TOKEN` in
/// `GRANTD_TOKEN_FILE`.
fn mentions(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        text[at + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    })
}

/// The Markdown files git tracks or would track (new, not ignored), minus
/// fuzz corpora; paths relative to the root.
fn markdown_files() -> Vec<PathBuf> {
    let out = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .args(["-z", "--", "*.md"])
        .current_dir(root())
        .output()
        .expect("running git ls-files");
    assert!(out.status.success(), "git ls-files failed: {out:?}");
    let mut files: Vec<PathBuf> = String::from_utf8(out.stdout)
        .expect("git paths are UTF-8")
        .split('\0')
        .filter(|p| !p.is_empty() && !p.starts_with("fuzz/corpus/"))
        .map(PathBuf::from)
        // A tracked file deleted in the work tree has nothing to check.
        .filter(|p| root().join(p).is_file())
        .collect();
    files.sort();
    files.dedup();
    files
}

/// `text` without fenced code blocks and inline code spans, which hold
/// examples rather than links. A code span may run over a line break, not
/// over a blank line.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<&str> = None;
    let mut in_code = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match fence {
            Some(marker) => {
                if trimmed.starts_with(marker) {
                    fence = None;
                }
            }
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None if trimmed.is_empty() => in_code = false,
            None => {
                for c in line.chars() {
                    if c == '`' {
                        in_code = !in_code;
                    } else if !in_code {
                        out.push(c);
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The destinations of `[text](dest)` links and images, and of
/// `[label]: dest` definitions.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for (at, _) in text.match_indices("](") {
        let rest = &text[at + 2..];
        let Some(end) = rest.find(')') else { continue };
        targets.push(rest[..end].to_string());
    }
    for line in text.lines() {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix('[')
            && let Some((label, dest)) = rest.split_once("]:")
            && !label.is_empty()
        {
            targets.push(dest.to_string());
        }
    }
    targets
        .into_iter()
        .map(|t| {
            // Drop a title (`dest "title"`) and angle brackets (`<dest>`).
            let t = t.trim();
            let t = t.split_whitespace().next().unwrap_or("");
            t.trim_start_matches('<').trim_end_matches('>').to_string()
        })
        .collect()
}

/// Whether `target` is a link into the repository, to be checked.
fn is_relative(target: &str) -> bool {
    !(target.is_empty()
        || target.starts_with('#')
        || target.starts_with("http://")
        || target.starts_with("https://")
        || target.starts_with("mailto:"))
}

#[test]
fn every_relative_link_in_the_markdown_resolves() {
    let root = root();
    let files = markdown_files();
    assert!(
        files.iter().any(|f| f == Path::new("README.md")),
        "no README.md among {files:?}"
    );
    let mut broken = Vec::new();
    for file in &files {
        let dir = file.parent().unwrap_or(Path::new(""));
        for target in link_targets(&prose(&read(&root.join(file)))) {
            if !is_relative(&target) {
                continue;
            }
            let path = target.split(['#', '?']).next().unwrap_or("");
            let resolved = match path.strip_prefix('/') {
                Some(from_root) => root.join(from_root),
                None => root.join(dir).join(path),
            };
            if !resolved.exists() {
                broken.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
}

/// The long flags in `grantd <command> --help`.
fn long_flags(command: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_grantd"))
        .args([command, "--help"])
        .output()
        .expect("running grantd");
    assert!(out.status.success(), "grantd {command} --help: {out:?}");
    let help = String::from_utf8(out.stdout).expect("help is UTF-8");
    let mut flags = Vec::new();
    for (at, _) in help.match_indices("--") {
        let starts_word = help[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-'));
        let name: String = help[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if starts_word && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            flags.push(format!("--{name}"));
        }
    }
    flags.sort();
    flags.dedup();
    flags
}

#[test]
fn every_flag_of_every_command_is_in_the_reference() {
    let reference = reference();
    let mut missing = Vec::new();
    for command in COMMANDS {
        let flags = long_flags(command);
        assert!(
            flags.iter().any(|f| !UNIVERSAL_FLAGS.contains(&f.as_str())),
            "found no flags in grantd {command} --help"
        );
        for flag in flags {
            if !UNIVERSAL_FLAGS.contains(&flag.as_str()) && !mentions(&reference, &flag) {
                missing.push(format!("grantd {command} {flag}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "flags missing from docs/reference.md:\n  {}",
        missing.join("\n  ")
    );
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("reading a directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The names matching `GRANTD_[A-Z0-9_]+` in `text`.
fn grantd_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in text.match_indices("GRANTD_") {
        let tail: String = text[at + "GRANTD_".len()..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !tail.is_empty() {
            names.push(format!("GRANTD_{tail}"));
        }
    }
    names
}

#[test]
fn every_grantd_variable_in_the_source_is_in_the_reference() {
    let reference = reference();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut names: Vec<String> = files.iter().flat_map(|f| grantd_names(&read(f))).collect();
    names.sort();
    names.dedup();
    assert!(
        names.iter().any(|n| n == "GRANTD_LISTEN"),
        "the scan of src/ found {names:?}"
    );
    let missing: Vec<&String> = names.iter().filter(|n| !mentions(&reference, n)).collect();
    assert!(
        missing.is_empty(),
        "GRANTD_* names of src/ missing from docs/reference.md: {missing:?}"
    );
}

#[test]
fn the_scanners_find_what_they_should() {
    let text = prose(
        "see [a](docs/a.md#x) and `[b](not/a/link.md)`\n```\n[c](nor/this.md)\n```\n[d]: d.md \"title\"\n",
    );
    assert_eq!(link_targets(&text), ["docs/a.md#x", "d.md"]);
    assert!(!is_relative("#anchor") && !is_relative("https://x") && is_relative("../x.md"));
    assert!(mentions("`--listen ADDR`", "--listen"));
    assert!(!mentions("--listen-address", "--listen"));
    assert!(!mentions("GRANTD_TOKEN_FILE", "GRANTD_TOKEN"));
    assert_eq!(
        grantd_names("GRANTD_TOKEN, GRANTD_<NAME>, GRANTD_MAX_ENTRIES."),
        ["GRANTD_TOKEN", "GRANTD_MAX_ENTRIES"]
    );
}

/// The tests `SECURITY.md` names: each `` `path::to::test_name` `` code span
/// (an integration test file or a module path, then the test), but
/// `file::*`, which names a whole file.
fn named_tests(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            span.contains("::")
                && span
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':')
        })
        .filter_map(|span| span.rsplit("::").next().map(str::to_string))
        .collect()
}

#[test]
fn every_test_security_md_names_exists() {
    let named = named_tests(&read(&root().join("SECURITY.md")));
    assert!(named.len() > 20, "found only {named:?}");
    let mut files = Vec::new();
    for dir in ["src", "tests", "crates"] {
        rust_files(&root().join(dir), &mut files);
    }
    let sources: Vec<String> = files.iter().map(|f| read(f)).collect();
    let missing: Vec<&String> = named
        .iter()
        .filter(|name| {
            let def = format!("fn {name}(");
            !sources.iter().any(|s| s.contains(&def))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "tests named in SECURITY.md that do not exist: {missing:?}"
    );
}
