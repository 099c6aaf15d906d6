//! The names of every setting: its key in the config file, its flag and its
//! environment variable.
//!
//! Each name is written out in full, so a search for `GRANTD_MAX_ENTRIES`
//! lands here and, through the constant, where it is read.

/// One setting's names. `flag` is `None` for settings only the file and the
/// environment can give.
pub(super) struct Key {
    pub file: &'static str,
    pub flag: Option<&'static str>,
    pub env: &'static str,
}

/// The config file's path; a flag or the environment, never the file itself.
pub(super) const CONFIG_ENV: &str = "GRANTD_CONFIG";

/// A token given from outside (one job-wide token on every instance of a
/// multi-instance job); the environment only: a flag would show it in `ps`,
/// a file already has `token_file`.
pub(super) const TOKEN_ENV: &str = "GRANTD_TOKEN";

pub(super) const LISTEN: Key = Key {
    file: "listen",
    flag: Some("--listen"),
    env: "GRANTD_LISTEN",
};
pub(super) const ALLOW_REMOTE: Key = Key {
    file: "allow_remote",
    flag: Some("--allow-remote"),
    env: "GRANTD_ALLOW_REMOTE",
};
pub(super) const ALLOWED_UIDS: Key = Key {
    file: "allowed_uids",
    flag: Some("--allowed-uids"),
    env: "GRANTD_ALLOWED_UIDS",
};
pub(super) const ADDR_FILE: Key = Key {
    file: "addr_file",
    flag: Some("--addr-file"),
    env: "GRANTD_ADDR_FILE",
};
pub(super) const TOKEN_FILE: Key = Key {
    file: "token_file",
    flag: Some("--token-file"),
    env: "GRANTD_TOKEN_FILE",
};
pub(super) const ACCOUNT_ID: Key = Key {
    file: "account_id",
    flag: Some("--account-id"),
    env: "GRANTD_ACCOUNT_ID",
};
pub(super) const REGION: Key = Key {
    file: "region",
    flag: Some("--region"),
    env: "GRANTD_REGION",
};
pub(super) const DEFAULT_PROFILE: Key = Key {
    file: "default_profile",
    flag: Some("--default-profile"),
    env: "GRANTD_DEFAULT_PROFILE",
};
pub(super) const IMDS: Key = Key {
    file: "imds",
    flag: Some("--imds"),
    env: "GRANTD_IMDS",
};
pub(super) const IMDS_LIST_ALL_PROFILES: Key = Key {
    file: "imds_list_all_profiles",
    flag: None,
    env: "GRANTD_IMDS_LIST_ALL_PROFILES",
};
pub(super) const LOG_FORMAT: Key = Key {
    file: "log_format",
    flag: Some("--log-format"),
    env: "GRANTD_LOG_FORMAT",
};
pub(super) const LOG_LEVEL: Key = Key {
    file: "log_level",
    flag: Some("--log-level"),
    env: "GRANTD_LOG_LEVEL",
};
pub(super) const MAX_ENTRIES: Key = Key {
    file: "max_entries",
    flag: None,
    env: "GRANTD_MAX_ENTRIES",
};
pub(super) const MAX_CONNECTIONS: Key = Key {
    file: "max_connections",
    flag: None,
    env: "GRANTD_MAX_CONNECTIONS",
};
pub(super) const MAX_NEW_SCOPES_PER_SECOND: Key = Key {
    file: "max_new_scopes_per_second",
    flag: None,
    env: "GRANTD_MAX_NEW_SCOPES_PER_SECOND",
};

/// The `[profiles.NAME]` sections; only the file holds them.
pub(super) const PROFILES: &str = "profiles";

/// Every key the top of the config file may hold.
pub(super) const FILE_KEYS: &[&str] = &[
    LISTEN.file,
    ALLOW_REMOTE.file,
    ALLOWED_UIDS.file,
    ADDR_FILE.file,
    TOKEN_FILE.file,
    ACCOUNT_ID.file,
    REGION.file,
    DEFAULT_PROFILE.file,
    IMDS.file,
    LOG_FORMAT.file,
    LOG_LEVEL.file,
    MAX_ENTRIES.file,
    MAX_CONNECTIONS.file,
    MAX_NEW_SCOPES_PER_SECOND.file,
    IMDS_LIST_ALL_PROFILES.file,
    PROFILES,
];
