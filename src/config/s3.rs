//! The S3 endpoint's settings: its listen address, its fallback, and where
//! it sends requests (`AWS_ENDPOINT_URL_S3`, as the AWS SDKs read it).

use grantd_common::fields::Problems;

use super::Describe;
use super::layers::{Key, Layers};
use super::source::Source;
use super::values;
use crate::s3::{Fallback, S3Settings};

/// The S3 endpoint's flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct S3Flags {
    /// Also serve S3 here (path-style), choosing a grant per request [env: GRANTD_S3_LISTEN]
    /// [default: off]
    #[arg(long, value_name = "ADDR")]
    pub s3_listen: Option<String>,
    /// What an S3 request no grant covers gets: base (the daemon's own identity) or deny
    /// [env: GRANTD_S3_FALLBACK] [default: base]
    #[arg(long, value_name = "MODE")]
    pub s3_fallback: Option<String>,
}

const S3_LISTEN: Key = Key {
    file: "s3_listen",
    flag: Some("--s3-listen"),
    env: "GRANTD_S3_LISTEN",
};
const S3_FALLBACK: Key = Key {
    file: "s3_fallback",
    flag: Some("--s3-fallback"),
    env: "GRANTD_S3_FALLBACK",
};

const S3_UPSTREAM_TIMEOUT: Key = Key {
    file: "s3_upstream_timeout",
    flag: None,
    env: "GRANTD_S3_UPSTREAM_TIMEOUT",
};
const UPSTREAM_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=3600;

/// The keys of the config file this component reads.
pub(super) const FILE_KEYS: &[&str] = &[S3_LISTEN.file, S3_FALLBACK.file, S3_UPSTREAM_TIMEOUT.file];

/// `allow_remote` is the server's: one switch for both listeners.
pub(super) fn read(
    flags: &S3Flags,
    allow_remote: bool,
    env: &dyn Source,
    look: &mut Layers,
    problems: &mut Problems,
) -> S3Settings {
    let listen = look
        .get(&S3_LISTEN, flags.s3_listen.clone())
        .and_then(|value| values::listen(value, allow_remote, problems));
    let fallback = match look.get(&S3_FALLBACK, flags.s3_fallback.clone()) {
        None => Fallback::default(),
        Some(value) => match value.str(problems).as_deref() {
            Some("base") => Fallback::Base,
            Some("deny") => Fallback::Deny,
            Some(other) => {
                value.reject(format!("expected base or deny, got {other:?}"), problems);
                Fallback::default()
            }
            None => Fallback::default(),
        },
    };
    let upstream_timeout = look
        .get(&S3_UPSTREAM_TIMEOUT, None)
        .and_then(|value| value.whole_number(UPSTREAM_TIMEOUT_RANGE, problems))
        .map_or(
            crate::s3::settings::DEFAULT_UPSTREAM_TIMEOUT,
            std::time::Duration::from_secs,
        );
    S3Settings {
        listen,
        fallback,
        upstream_endpoint: super::endpoints::s3(env, problems),
        upstream_timeout,
    }
}

pub(super) fn describe(s: &S3Settings, out: &mut Describe) {
    match s.listen {
        Some(addr) => out.line("s3_listen", addr),
        None => out.line("s3_listen", "off"),
    }
    out.line("s3_fallback", s.fallback.as_str());
    out.line(
        "s3_upstream_timeout",
        format_args!("{} s", s.upstream_timeout.as_secs()),
    );
    out.line(
        "s3_endpoint",
        s.upstream_endpoint.as_deref().unwrap_or("AWS default"),
    );
}
