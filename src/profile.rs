//! Named scopes: a profile is a name for one [`DataAccessRequest`].
//!
//! Profiles come from the config file; the server answers
//! `/v1/credentials/<name>` and the IMDS role names with them, and the
//! `env`/`creds` clients check a name before asking. Owning the type here,
//! below config and server alike, keeps the server from importing config.

use crate::scope::DataAccessRequest;

/// Longest profile name.
pub const MAX_NAME_LEN: usize = 64;

/// A named scope from the config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub request: DataAccessRequest,
}

/// Profile names hold only `A-Z a-z 0-9 . _ -`, 1 to 64 of them, so they are
/// safe in a URL path, a log line and a shell word alike.
pub fn is_profile_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Every profile of the configuration, and which is the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profiles {
    /// Name of the profile served without a target; `None` when there are none.
    pub default: Option<String>,
    /// In file order, the default first.
    pub list: Vec<Profile>,
}

impl Profiles {
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.list.iter().find(|p| p.name == name)
    }
}
