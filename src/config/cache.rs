//! The cache's settings that a user may change: how many scopes it holds and
//! how fast it may start new upstream loads. The rest are the cache's own
//! named defaults ([`crate::cache::CacheSettings`]).

use std::ops::RangeInclusive;

use grantd_common::fields::Problems;

use super::Describe;
use super::layers::{Key, Layers};
use crate::cache::CacheSettings;

/// New upstream loads per second. Defaults to 20 (GetDataAccess has no published quota).
pub const DEFAULT_MAX_NEW_SCOPES_PER_SECOND: u32 = 20;
/// Burst of new loads: this many seconds' worth of the rate.
const LOAD_BURST_SECONDS: f64 = 5.0;

const MAX_ENTRIES: Key = Key {
    file: "max_entries",
    flag: None,
    env: "GRANTD_MAX_ENTRIES",
};
const MAX_NEW_SCOPES_PER_SECOND: Key = Key {
    file: "max_new_scopes_per_second",
    flag: None,
    env: "GRANTD_MAX_NEW_SCOPES_PER_SECOND",
};

/// The keys of the config file this component reads.
pub(super) const FILE_KEYS: &[&str] = &[MAX_ENTRIES.file, MAX_NEW_SCOPES_PER_SECOND.file];

const MAX_ENTRIES_RANGE: RangeInclusive<u64> = 1..=10_000_000;
const MAX_NEW_SCOPES_PER_SECOND_RANGE: RangeInclusive<u64> = 1..=100_000;

pub(super) fn read(look: &mut Layers, problems: &mut Problems) -> CacheSettings {
    let mut number = |key: &Key, range: RangeInclusive<u64>| {
        look.get(key, None)
            .and_then(|value| value.whole_number(range, problems))
    };
    let defaults = CacheSettings::default();
    let max_entries = number(&MAX_ENTRIES, MAX_ENTRIES_RANGE).unwrap_or(defaults.max_entries);
    // The range keeps it within u32.
    let per_second = number(&MAX_NEW_SCOPES_PER_SECOND, MAX_NEW_SCOPES_PER_SECOND_RANGE)
        .map_or(DEFAULT_MAX_NEW_SCOPES_PER_SECOND, |n| n as u32);
    CacheSettings {
        max_entries,
        loads_per_second: f64::from(per_second),
        load_burst: f64::from(per_second) * LOAD_BURST_SECONDS,
        ..defaults
    }
}

pub(super) fn describe(s: &CacheSettings, out: &mut Describe) {
    out.line("max_entries", s.max_entries);
    // Whole numbers only go in (see `read`).
    out.line("max_new_scopes/s", s.loads_per_second as u32);
}
