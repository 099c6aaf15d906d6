//! The `AuditContext` grantd sends with every `GetDataAccess`, which
//! CloudTrail records: who on this host asked.
//!
//! One value per daemon, fixed at start, so credentials cached for one
//! process still serve every other (the cache key does not hold it). It is
//! the setting (`--audit-context`, `GRANTD_AUDIT_CONTEXT`, `audit_context`)
//! when given; otherwise it is derived from where grantd runs: on a
//! SageMaker Processing job, the job's name from
//! `/opt/ml/config/processingjobconfig.json`; in SageMaker Studio, the
//! domain, user profile and space from `/opt/ml/metadata/resource-metadata.json`;
//! elsewhere there is none. Only those named fields are read (the job's
//! file also holds its environment, which may hold secrets, and is never
//! copied), and the result is cut to [`MAX_LEN`] bytes of the characters
//! the API documents.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Longest value sent, in bytes (the API takes 2048 characters; bytes
/// bound the UTF-16 count the service may use too). Defaults to 2048.
pub const MAX_LEN: usize = 2048;
/// Where SageMaker mounts its metadata in a job or a Studio app.
pub const SAGEMAKER_DIR: &str = "/opt/ml";
/// Largest metadata file read; SageMaker's are a few KiB.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

const PROCESSING_FILE: &str = "config/processingjobconfig.json";
const STUDIO_FILE: &str = "metadata/resource-metadata.json";

/// The value sent, and where it came from (for `grantd check` and the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditContext {
    value: String,
    origin: Origin,
}

/// Where an [`AuditContext`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The setting; `changed` when sanitising altered it.
    Setting { changed: bool },
    /// A SageMaker metadata file.
    File(PathBuf),
}

impl AuditContext {
    /// The setting's value, sanitised; `None` when nothing is left of it.
    pub fn from_setting(raw: &str) -> Option<AuditContext> {
        let value = sanitise(raw)?;
        let changed = value != raw;
        Some(AuditContext {
            value,
            origin: Origin::Setting { changed },
        })
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}

impl fmt::Display for AuditContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Setting { changed: false } => write!(f, "{:?}", self.value),
            Origin::Setting { changed: true } => write!(f, "{:?} (sanitised)", self.value),
            Origin::File(path) => write!(f, "{:?} (from {})", self.value, path.display()),
        }
    }
}

/// `raw` with every character the API does not take, and every other
/// control character, replaced by `_`, trimmed, and cut to [`MAX_LEN`]
/// bytes at a character boundary; `None` when that leaves nothing.
pub fn sanitise(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(MAX_LEN));
    for c in raw.trim().chars() {
        // The API takes tab and U+0020 up, except U+FFFE and U+FFFF; C1
        // controls and DEL are taken too, but would garble a log line.
        let c = if (c.is_control() && c != '\t') || matches!(c, '\u{fffe}' | '\u{ffff}') {
            '_'
        } else {
            c
        };
        if out.len() + c.len_utf8() > MAX_LEN {
            break;
        }
        out.push(c);
    }
    let out = out.trim_end().to_string();
    (!out.is_empty()).then_some(out)
}

/// The context of where grantd runs, from SageMaker's files under `dir`
/// (normally [`SAGEMAKER_DIR`]): a Processing job first, then Studio.
pub fn derive(dir: &Path) -> Option<AuditContext> {
    let processing = dir.join(PROCESSING_FILE);
    if let Some(doc) = read_json(&processing)
        && let Some(job) = field(&doc, "ProcessingJobName")
    {
        return found(format!("sagemaker-processing job={job}"), processing);
    }
    let studio = dir.join(STUDIO_FILE);
    let doc = read_json(&studio)?;
    let parts: Vec<String> = [
        ("domain", "DomainId"),
        ("user-profile", "UserProfileName"),
        ("space", "SpaceName"),
    ]
    .iter()
    .filter_map(|(name, key)| field(&doc, key).map(|v| format!("{name}={v}")))
    .collect();
    if parts.is_empty() {
        return None;
    }
    found(format!("sagemaker-studio {}", parts.join(" ")), studio)
}

fn found(value: String, path: PathBuf) -> Option<AuditContext> {
    Some(AuditContext {
        value: sanitise(&value)?,
        origin: Origin::File(path),
    })
}

/// A string field, as a single word: SageMaker names have no spaces, so
/// any whitespace in one is replaced rather than let it pass for a separator.
fn field(doc: &serde_json::Value, key: &str) -> Option<String> {
    let value = doc.get(key)?.as_str()?.trim();
    let word: String = value
        .chars()
        .take(256)
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    (!word.is_empty()).then_some(word)
}

/// A JSON file of at most [`MAX_FILE_BYTES`]; `None` when it is missing,
/// unreadable or not JSON (it then says nothing about where grantd runs).
fn read_json(path: &Path) -> Option<serde_json::Value> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_processing_job_is_named_and_its_environment_never_read() {
        let dir = dir_with(&[(
            PROCESSING_FILE,
            r#"{"ProcessingJobName": "nightly-etl-2026-11-23",
                "Environment": {"DB_PASSWORD": "hunter2-secret"},
                "RoleArn": "arn:aws:iam::111122223333:role/Job"}"#,
        )]);
        let context = derive(dir.path()).unwrap();
        assert_eq!(
            context.value(),
            "sagemaker-processing job=nightly-etl-2026-11-23"
        );
        assert!(!context.to_string().contains("hunter2"));
        assert_eq!(
            context.origin(),
            &Origin::File(dir.path().join(PROCESSING_FILE))
        );
    }

    #[test]
    fn a_studio_space_names_domain_user_profile_and_space() {
        let dir = dir_with(&[(
            STUDIO_FILE,
            r#"{"AppType": "JupyterLab", "DomainId": "d-abc123",
                "UserProfileName": "alice", "SpaceName": "team-space",
                "ResourceArn": "arn:aws:sagemaker:us-east-1:111122223333:app/d-abc123/alice/JupyterLab/default"}"#,
        )]);
        assert_eq!(
            derive(dir.path()).unwrap().value(),
            "sagemaker-studio domain=d-abc123 user-profile=alice space=team-space"
        );
        let classic = dir_with(&[(
            STUDIO_FILE,
            r#"{"DomainId": "d-x", "UserProfileName": "bob"}"#,
        )]);
        assert_eq!(
            derive(classic.path()).unwrap().value(),
            "sagemaker-studio domain=d-x user-profile=bob"
        );
    }

    #[test]
    fn processing_comes_before_studio_and_nothing_gives_none() {
        let both = dir_with(&[
            (PROCESSING_FILE, r#"{"ProcessingJobName": "job-1"}"#),
            (STUDIO_FILE, r#"{"DomainId": "d-x"}"#),
        ]);
        assert_eq!(
            derive(both.path()).unwrap().value(),
            "sagemaker-processing job=job-1"
        );
        assert_eq!(derive(dir_with(&[]).path()), None);
        let junk = dir_with(&[
            (PROCESSING_FILE, "not json"),
            (STUDIO_FILE, r#"{"Other": 1}"#),
        ]);
        assert_eq!(derive(junk.path()), None);
    }

    #[test]
    fn a_field_with_spaces_or_controls_stays_one_word() {
        let dir = dir_with(&[(PROCESSING_FILE, r#"{"ProcessingJobName": "a b\nc\u0000d"}"#)]);
        assert_eq!(
            derive(dir.path()).unwrap().value(),
            "sagemaker-processing job=a_b_c_d"
        );
    }

    #[test]
    fn values_are_sanitised_and_bounded() {
        assert_eq!(sanitise("  team\tjob  ").as_deref(), Some("team\tjob"));
        assert_eq!(sanitise("a\nb\u{7}c\u{ffff}").as_deref(), Some("a_b_c_"));
        assert_eq!(sanitise("   "), None);
        assert_eq!(
            sanitise("é".repeat(MAX_LEN).as_str()).unwrap().len(),
            MAX_LEN
        );
        let long = sanitise(&"x".repeat(5000)).unwrap();
        assert_eq!(long.len(), MAX_LEN);
        let context = AuditContext::from_setting("run 42\n").unwrap();
        assert_eq!(context.value(), "run 42");
        assert_eq!(context.origin(), &Origin::Setting { changed: true });
        assert_eq!(
            AuditContext::from_setting("run 42").unwrap().origin(),
            &Origin::Setting { changed: false }
        );
    }
}
