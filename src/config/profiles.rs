//! The profiles' settings: the `[profiles.NAME]` sections of the config
//! file, and which profile is the default.

use grantd_common::fields::{Problems, Table};

use super::Describe;
use super::layers::{Key, Layers, Value, reject_unknown_keys};
use super::values::{ACCOUNT_ID_EXPECTED, REGION_EXPECTED, checked, is_region};
use crate::profile::{Profile, Profiles, is_profile_name};
use crate::scope::{
    DURATION_RANGE, DataAccessRequest, Permission, Privilege, S3Target, is_account_id,
};

/// The profiles' flag.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ProfileFlags {
    /// Profile served by GET /v1/credentials [env: GRANTD_DEFAULT_PROFILE] [default: first in the file]
    #[arg(long, value_name = "NAME")]
    pub default_profile: Option<String>,
}

const DEFAULT_PROFILE: Key = Key {
    file: "default_profile",
    flag: Some("--default-profile"),
    env: "GRANTD_DEFAULT_PROFILE",
};
/// The `[profiles.NAME]` sections; only the file holds them.
const PROFILES: &str = "profiles";

/// The keys of the config file this component reads.
pub(super) const FILE_KEYS: &[&str] = &[DEFAULT_PROFILE.file, PROFILES];

pub(super) fn read(flags: &ProfileFlags, look: &mut Layers, problems: &mut Problems) -> Profiles {
    let mut list = sections(look.file(), problems);
    let default = choose_default(
        look.get(&DEFAULT_PROFILE, flags.default_profile.clone()),
        &mut list,
        problems,
    );
    Profiles { default, list }
}

pub(super) fn describe(s: &Profiles, out: &mut Describe) {
    out.line("default_profile", s.default.as_deref().unwrap_or("none"));
    for p in &s.list {
        let r = &p.request;
        let mut extra = String::new();
        if let Some(d) = r.duration_seconds {
            extra.push_str(&format!(" duration={d}s"));
        }
        if let Some(a) = &r.account_id {
            extra.push_str(&format!(" account={a}"));
        }
        if let Some(g) = &r.region {
            extra.push_str(&format!(" region={g}"));
        }
        out.line(
            &format!("profile {}", p.name),
            format_args!("{} {} {}{extra}", r.target, r.permission, r.privilege),
        );
    }
}

/// Every key a profile may hold.
const PROFILE_KEYS: &[&str] = &[
    "target",
    "permission",
    "privilege",
    "duration_seconds",
    "account_id",
    "region",
];

/// The valid profiles in file order; every problem with any is reported.
fn sections(file: Option<&mut Table<'_, toml::Value>>, problems: &mut Problems) -> Vec<Profile> {
    let Some(file) = file else {
        return Vec::new();
    };
    let at = file.path_of(PROFILES);
    let Some(section) = file.value(PROFILES) else {
        return Vec::new();
    };
    let Some(section) = section.as_table() else {
        problems.push(format!(
            "{at}: expected a table of [profiles.NAME] sections"
        ));
        return Vec::new();
    };
    section
        .iter()
        .filter_map(|(name, body)| read_profile(name, body, &format!("{at}.{name}"), problems))
        .collect()
}

fn read_profile(
    name: &str,
    body: &toml::Value,
    at: &str,
    problems: &mut Problems,
) -> Option<Profile> {
    if !is_profile_name(name) {
        problems.push(format!(
            "{at}: profile names may hold only A-Z, a-z, 0-9, '.', '_' and '-' (at most 64)"
        ));
    }
    if !body.is_table() {
        problems.push(format!("{at}: expected a table"));
        return None;
    }
    let mut table = Table::new(body, at, problems)?;
    table.expect(PROFILE_KEYS);
    reject_unknown_keys(&table, problems);

    let target = match table.str("target", problems) {
        Some(t) => S3Target::parse(t)
            .map_err(|e| problems.push(format!("{at}.target: {e}")))
            .ok(),
        None => {
            problems.push(format!(
                "{at}: missing target (e.g. target = \"s3://bucket/prefix/*\")"
            ));
            None
        }
    };
    let permission = match table.str("permission", problems) {
        Some(p) => p
            .parse::<Permission>()
            .map_err(|e| problems.push(format!("{at}.permission: {e}")))
            .ok(),
        None => {
            problems.push(format!(
                "{at}: missing permission (READ, WRITE or READWRITE)"
            ));
            None
        }
    };
    let privilege = match table.str("privilege", problems) {
        Some(p) => p
            .parse::<Privilege>()
            .map_err(|e| problems.push(format!("{at}.privilege: {e}")))
            .ok(),
        None => Some(Privilege::Default),
    };
    let durations = u64::from(*DURATION_RANGE.start())..=u64::from(*DURATION_RANGE.end());
    let duration_seconds = match table.field("duration_seconds") {
        None => Some(None),
        Some(value) => value
            .whole_number(durations, problems)
            .map(|n| Some(n as u32)),
    };
    let account_id = checked(
        table.field("account_id"),
        is_account_id,
        ACCOUNT_ID_EXPECTED,
        problems,
    );
    let region = checked(table.field("region"), is_region, REGION_EXPECTED, problems);

    Some(Profile {
        name: name.to_string(),
        request: DataAccessRequest {
            target: target?,
            permission: permission?,
            privilege: privilege?,
            duration_seconds: duration_seconds?,
            account_id,
            region,
        },
    })
}

/// The default profile's name, moved to the front of `profiles`: the one
/// `value` names, else the first in the file.
fn choose_default(
    value: Option<Value>,
    profiles: &mut Vec<Profile>,
    problems: &mut Problems,
) -> Option<String> {
    let name = match value {
        Some(value) => {
            let name = value.str(problems)?;
            if !profiles.iter().any(|p| p.name == name) {
                value.reject(format!("no profile named {name:?}"), problems);
                return None;
            }
            name
        }
        None => profiles.first()?.name.clone(),
    };
    if let Some(i) = profiles.iter().position(|p| p.name == name) {
        let p = profiles.remove(i);
        profiles.insert(0, p);
    }
    Some(name)
}
