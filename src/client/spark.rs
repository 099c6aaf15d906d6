//! A Spark configuration that sends s3a through the S3 endpoint.
//!
//! `grantd env --s3 --spark-conf-dir DIR` writes `DIR/spark-defaults.conf`:
//! the settings Spark already had (the files of `SPARK_CONF_DIR`, else of
//! `SPARK_HOME/conf`, copied in), less their s3a endpoint and credentials
//! provider, then grantd's: the endpoint, path-style, plain http, and the
//! container credentials provider, which reads the base identity from
//! grantd. No secret goes into the file. Written whole on every run, so
//! running it again changes nothing.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::Source;

/// The s3a settings grantd writes; Spark's own values for them are dropped.
const KEYS: [&str; 4] = [
    "spark.hadoop.fs.s3a.endpoint",
    "spark.hadoop.fs.s3a.path.style.access",
    "spark.hadoop.fs.s3a.connection.ssl.enabled",
    "spark.hadoop.fs.s3a.aws.credentials.provider",
];

/// Hadoop 3.3's provider of the container credentials (AWS SDK v1), which
/// reads `AWS_CONTAINER_CREDENTIALS_FULL_URI` and the token from the JVM's
/// environment.
const PROVIDER: &str = "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider";

/// Where Spark's own configuration is, when it has one apart from `dir`.
fn previous(dir: &Path, env: &dyn Source) -> Option<PathBuf> {
    let prev = env
        .get("SPARK_CONF_DIR")
        .map(PathBuf::from)
        .or_else(|| env.get("SPARK_HOME").map(|h| Path::new(&h).join("conf")))?;
    (prev.is_dir() && prev != dir).then_some(prev)
}

/// The key of a `spark-defaults.conf` line (Java properties: `key value`,
/// `key=value` or `key:value`).
fn key_of(line: &str) -> &str {
    line.trim_start()
        .split(|c: char| c.is_whitespace() || c == '=' || c == ':')
        .next()
        .unwrap_or("")
}

/// Writes `dir/spark-defaults.conf` for the S3 endpoint at `s3_endpoint`.
pub fn write(dir: &Path, s3_endpoint: &str, env: &dyn Source) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut defaults = String::new();
    if let Some(prev) = previous(dir, env) {
        for entry in std::fs::read_dir(&prev)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
            }
        }
    }
    match std::fs::read_to_string(dir.join("spark-defaults.conf")) {
        Ok(text) => {
            for line in text.lines().filter(|l| !KEYS.contains(&key_of(l))) {
                defaults.push_str(line);
                defaults.push('\n');
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let values = [s3_endpoint, "true", "false", PROVIDER];
    for (key, value) in KEYS.iter().zip(values) {
        defaults.push_str(&format!("{key} {value}\n"));
    }
    grantd_common::fs::write_atomic(&dir.join("spark-defaults.conf"), defaults.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source_for_tests as env;

    #[test]
    fn spark_s_own_settings_stay_and_its_s3a_endpoint_is_replaced_once() {
        let d = tempfile::tempdir().unwrap();
        let image = d.path().join("image");
        std::fs::create_dir(&image).unwrap();
        std::fs::write(
            image.join("spark-defaults.conf"),
            "spark.executor.memory 2g\nspark.hadoop.fs.s3a.endpoint=https://s3.example\n",
        )
        .unwrap();
        std::fs::write(image.join("log4j2.properties"), "rootLogger.level = warn\n").unwrap();
        let ours = d.path().join("ours");
        let e = env(&[("SPARK_CONF_DIR", image.to_str().unwrap())]);
        write(&ours, "http://127.0.0.1:7913", &e).unwrap();
        write(&ours, "http://127.0.0.1:7913", &e).unwrap();
        let conf = std::fs::read_to_string(ours.join("spark-defaults.conf")).unwrap();
        assert_eq!(
            conf,
            "spark.executor.memory 2g\n\
             spark.hadoop.fs.s3a.endpoint http://127.0.0.1:7913\n\
             spark.hadoop.fs.s3a.path.style.access true\n\
             spark.hadoop.fs.s3a.connection.ssl.enabled false\n\
             spark.hadoop.fs.s3a.aws.credentials.provider org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider\n"
        );
        assert!(ours.join("log4j2.properties").is_file());
        // Run from a shell that already points at ours: the same file again.
        write(
            &ours,
            "http://127.0.0.1:7913",
            &env(&[("SPARK_CONF_DIR", ours.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(ours.join("spark-defaults.conf")).unwrap(),
            conf
        );
    }

    #[test]
    fn without_a_spark_configuration_only_ours_is_written() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "http://127.0.0.1:1",
            &env(&[("SPARK_HOME", "/nonexistent")]),
        )
        .unwrap();
        let conf = std::fs::read_to_string(d.path().join("spark-defaults.conf")).unwrap();
        assert_eq!(conf.lines().count(), 4);
        assert!(conf.starts_with("spark.hadoop.fs.s3a.endpoint http://127.0.0.1:1\n"));
    }
}
