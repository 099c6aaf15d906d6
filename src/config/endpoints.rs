//! Upstream endpoints (S3 Control, STS, and S3 for the S3 endpoint), by the AWS SDK conventions: the service's own
//! variable, else `AWS_ENDPOINT_URL`, unless
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true.
//!
//! Read from the environment only, as the SDKs read them, so a shell set up
//! for a local emulator points grantd at it too.

use grantd_common::fields::Problems;

use super::source::Source;

const S3_CONTROL_ENV: &str = "AWS_ENDPOINT_URL_S3_CONTROL";
const STS_ENV: &str = "AWS_ENDPOINT_URL_STS";
const S3_ENV: &str = "AWS_ENDPOINT_URL_S3";
const ANY_SERVICE_ENV: &str = "AWS_ENDPOINT_URL";
const IGNORE_ENV: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";

/// The S3 Control endpoint URL, without a trailing `/`.
pub(super) fn s3control(env: &dyn Source, problems: &mut Problems) -> Option<String> {
    endpoint(env, S3_CONTROL_ENV, problems)
}

/// The STS endpoint URL, without a trailing `/`.
pub(super) fn sts(env: &dyn Source, problems: &mut Problems) -> Option<String> {
    endpoint(env, STS_ENV, problems)
}

/// The S3 endpoint URL the S3 endpoint forwards to, without a trailing `/`.
pub(super) fn s3(env: &dyn Source, problems: &mut Problems) -> Option<String> {
    endpoint(env, S3_ENV, problems)
}

fn endpoint(env: &dyn Source, service_var: &str, problems: &mut Problems) -> Option<String> {
    if env
        .get(IGNORE_ENV)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return None;
    }
    let (var, url) = env
        .get(service_var)
        .map(|u| (service_var, u))
        .or_else(|| env.get(ANY_SERVICE_ENV).map(|u| (ANY_SERVICE_ENV, u)))?;
    if url.starts_with("http://") || url.starts_with("https://") {
        Some(url.trim_end_matches('/').to_string())
    } else {
        problems.push(format!(
            "{var}: expected an http:// or https:// URL, got {url:?}"
        ));
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::config::source::env;
    use crate::config::{Flags, resolve};

    #[test]
    fn endpoints_follow_the_sdk_variables() {
        let e = env(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
            ("AWS_ENDPOINT_URL_S3_CONTROL", "http://127.0.0.1:7912"),
        ]);
        let s = resolve(&Flags::default(), &e).unwrap();
        assert_eq!(
            s.upstream.s3control_endpoint.as_deref(),
            Some("http://127.0.0.1:7912")
        );
        assert_eq!(
            s.upstream.sts_endpoint.as_deref(),
            Some("http://127.0.0.1:9000")
        );

        let mut ignored = e.clone();
        ignored.insert("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS".into(), "true".into());
        let s = resolve(&Flags::default(), &ignored).unwrap();
        assert_eq!(s.upstream.s3control_endpoint, None);

        let errors = resolve(
            &Flags::default(),
            &env(&[("AWS_ENDPOINT_URL_STS", "localhost:1")]),
        )
        .unwrap_err();
        assert!(
            errors[0].contains("AWS_ENDPOINT_URL_STS: expected an http"),
            "{errors:?}"
        );
    }
}
