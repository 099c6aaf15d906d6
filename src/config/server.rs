//! The server's settings: where it listens, whom it serves, its limits.

use std::ops::RangeInclusive;

use grantd_common::fields::Problems;

use super::Describe;
use super::layers::{Key, Layers};
use super::values::{self, switch};
use crate::server::peer::LookupMode;
use crate::server::{DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, Limits, ServerSettings};

/// The server's flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ServerFlags {
    /// Address to bind; port 0 picks a free port [env: GRANTD_LISTEN] [default: 127.0.0.1:7911]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Allow a non-loopback --listen address [env: GRANTD_ALLOW_REMOTE]
    #[arg(long)]
    pub allow_remote: bool,
    /// Unix users besides the daemon's own that may get credentials, e.g. 1000,1001
    /// [env: GRANTD_ALLOWED_UIDS] [default: none]
    #[arg(long, value_name = "UIDS")]
    pub allowed_uids: Option<String>,
    /// Also serve the IMDSv2-compatible routes [env: GRANTD_IMDS]
    #[arg(long)]
    pub imds: bool,
}

const LISTEN: Key = Key {
    file: "listen",
    flag: Some("--listen"),
    env: "GRANTD_LISTEN",
};
const ALLOW_REMOTE: Key = Key {
    file: "allow_remote",
    flag: Some("--allow-remote"),
    env: "GRANTD_ALLOW_REMOTE",
};
const ALLOWED_UIDS: Key = Key {
    file: "allowed_uids",
    flag: Some("--allowed-uids"),
    env: "GRANTD_ALLOWED_UIDS",
};
/// The other users served the base identity; deliberately apart from
/// `allowed_uids`, and with no flag, since the base identity opens more than
/// any grant.
const BASE_ALLOWED_UIDS: Key = Key {
    file: "base_allowed_uids",
    flag: None,
    env: "GRANTD_BASE_ALLOWED_UIDS",
};
const IMDS: Key = Key {
    file: "imds",
    flag: Some("--imds"),
    env: "GRANTD_IMDS",
};
const IMDS_LIST_ALL_PROFILES: Key = Key {
    file: "imds_list_all_profiles",
    flag: None,
    env: "GRANTD_IMDS_LIST_ALL_PROFILES",
};
const MAX_CONNECTIONS: Key = Key {
    file: "max_connections",
    flag: None,
    env: "GRANTD_MAX_CONNECTIONS",
};
/// How each connection's Unix user is found: `auto`, `netlink` or `proc`.
const PEER_LOOKUP: Key = Key {
    file: "peer_lookup",
    flag: None,
    env: "GRANTD_PEER_LOOKUP",
};
/// Lets a daemon run as the overflow uid of a user namespace, where every
/// user the namespace cannot map looks like it. No flag: it is dangerous.
const ALLOW_OVERFLOW_UID: Key = Key {
    file: "allow_overflow_uid",
    flag: None,
    env: "GRANTD_ALLOW_OVERFLOW_UID",
};

/// The keys of the config file this component reads.
pub(super) const FILE_KEYS: &[&str] = &[
    LISTEN.file,
    ALLOW_REMOTE.file,
    ALLOWED_UIDS.file,
    BASE_ALLOWED_UIDS.file,
    IMDS.file,
    IMDS_LIST_ALL_PROFILES.file,
    MAX_CONNECTIONS.file,
    PEER_LOOKUP.file,
    ALLOW_OVERFLOW_UID.file,
];

/// Any uid but `(uid_t)-1`, which the kernel reserves for "no user".
const UID_RANGE: RangeInclusive<u64> = 0..=(u32::MAX as u64 - 1);
const MAX_CONNECTIONS_RANGE: RangeInclusive<u64> = 1..=65_536;

pub(super) fn read(
    flags: &ServerFlags,
    look: &mut Layers,
    problems: &mut Problems,
) -> ServerSettings {
    // `allow_remote` first, as it decides which addresses may be listened on.
    let allow_remote = switch(
        look.get(&ALLOW_REMOTE, values::flag_switch(flags.allow_remote)),
        problems,
    );
    let listen = look
        .get(&LISTEN, flags.listen.clone())
        .and_then(|value| values::listen(value, allow_remote, problems))
        .unwrap_or(DEFAULT_LISTEN);
    // `allowed_uids = [1000, 1001]`, `GRANTD_ALLOWED_UIDS=1000,1001` or `--allowed-uids 1000,1001`.
    let mut uids = |key: &Key, flag: Option<String>| -> Vec<u32> {
        look.get(key, flag)
            .and_then(|value| value.whole_numbers(UID_RANGE, problems))
            .unwrap_or_default()
            .into_iter()
            // UID_RANGE keeps each within u32.
            .map(|uid| uid as u32)
            .collect()
    };
    let allowed_uids = uids(&ALLOWED_UIDS, flags.allowed_uids.clone());
    let base_allowed_uids = uids(&BASE_ALLOWED_UIDS, None);
    let imds = switch(look.get(&IMDS, values::flag_switch(flags.imds)), problems);
    let imds_list_all_profiles = switch(look.get(&IMDS_LIST_ALL_PROFILES, None), problems);
    let max_connections = look
        .get(&MAX_CONNECTIONS, None)
        .and_then(|value| value.whole_number(MAX_CONNECTIONS_RANGE, problems))
        // The range keeps it within usize.
        .map_or(DEFAULT_MAX_CONNECTIONS, |n| n as usize);
    let peer_lookup = match look.get(&PEER_LOOKUP, None) {
        None => LookupMode::default(),
        Some(value) => match value.str(problems) {
            Some(text) => LookupMode::parse(&text).unwrap_or_else(|| {
                value.reject(
                    format!("expected auto, netlink or proc, got {text:?}"),
                    problems,
                );
                LookupMode::default()
            }),
            None => LookupMode::default(),
        },
    };
    let allow_overflow_uid = switch(look.get(&ALLOW_OVERFLOW_UID, None), problems);
    ServerSettings {
        listen,
        allow_remote,
        allowed_uids,
        base_allowed_uids,
        imds,
        imds_list_all_profiles,
        peer_lookup,
        allow_overflow_uid,
        limits: Limits {
            max_connections,
            ..Limits::default()
        },
        ..ServerSettings::default()
    }
}

pub(super) fn describe(s: &ServerSettings, out: &mut Describe) {
    out.line("listen", s.listen);
    out.line("allow_remote", s.allow_remote);
    out.line("allowed_uids", format_args!("{:?}", s.allowed_uids));
    out.line(
        "base_allowed_uids",
        format_args!("{:?}", s.base_allowed_uids),
    );
    out.line("imds", s.imds);
    out.line("imds_list_all", s.imds_list_all_profiles);
    out.line("max_connections", s.limits.max_connections);
    out.line("peer_lookup", s.peer_lookup.as_str());
    out.line("allow_overflow_uid", s.allow_overflow_uid);
}
