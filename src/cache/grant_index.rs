//! The index of live `Privilege=Default` entries by the grant that matched, so
//! a target inside a cached grant finds that entry without an upstream call.
//! Each key is indexed with the id of its entry, so removing an entry that
//! has since been replaced under the same key leaves the key in place.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use moka::notification::RemovalCause;

use super::KeyHasher;
use crate::scope::DataAccessRequest;

/// Grant targets of live `Default` entries, so a new target finds the entry of
/// a grant that contains it without an upstream call.
///
/// Grants whose prefix ends in `/` (nearly all) are found by walking the
/// target's `/` boundaries from the longest down, one hash lookup each, so a
/// lookup costs the same with one grant or thousands. The rare others (object
/// grants, prefixes such as `s3://b/User*`) sit in a short list scanned whole.
#[derive(Default)]
pub(super) struct GrantIndex {
    /// Grant target less its trailing `*` (ends in `/`) → entry keys and ids.
    by_prefix: HashMap<Box<str>, Vec<Indexed>, KeyHasher>,
    other: Vec<Indexed>,
}

/// An entry key (the entry's own allocation, shared) and the id of the
/// entry indexed under it.
type Indexed = (Arc<DataAccessRequest>, u64);

fn same_class(key: &DataAccessRequest, request: &DataAccessRequest) -> bool {
    key.permission == request.permission
        && key.privilege == request.privilege
        && key.duration_seconds == request.duration_seconds
        && key.account_id == request.account_id
        && key.region == request.region
}

/// The `s3://bucket/dir/` prefix a slash-ending grant is indexed under.
fn slash_prefix(key: &DataAccessRequest) -> Option<&str> {
    key.target
        .as_str()
        .strip_suffix('*')
        .filter(|p| p.ends_with('/'))
}

impl GrantIndex {
    /// The most specific indexed entry key that answers `request`.
    /// A shared handle, not a copy: a warm vend allocates nothing here.
    pub(super) fn find(&self, request: &DataAccessRequest) -> Option<Arc<DataAccessRequest>> {
        let target = request.target.as_str();
        let searched = target.strip_suffix('*').unwrap_or(target);
        let mut best: Option<&Arc<DataAccessRequest>> = None;
        for (i, _) in searched.rmatch_indices('/') {
            let prefix = &searched[..=i];
            if prefix.len() <= "s3://".len() {
                break;
            }
            if let Some(hit) = self
                .by_prefix
                .get(prefix)
                .and_then(|keys| keys.iter().map(|(k, _)| k).find(|k| same_class(k, request)))
            {
                best = Some(hit);
                break;
            }
        }
        for (key, _) in &self.other {
            if same_class(key, request)
                && key.target.contains(&request.target)
                && best.is_none_or(|b| key.target.as_str().len() > b.target.as_str().len())
            {
                best = Some(key);
            }
        }
        best.cloned()
    }

    /// Indexes `key` for entry `id`, taking over from any earlier entry of the key.
    pub(super) fn add(&mut self, key: &Arc<DataAccessRequest>, id: u64) {
        let list = match slash_prefix(key) {
            Some(prefix) => self.by_prefix.entry(prefix.into()).or_default(),
            None => &mut self.other,
        };
        match list.iter_mut().find(|(k, _)| k == key) {
            Some(indexed) => *indexed = (key.clone(), id),
            None => list.push((key.clone(), id)),
        }
    }

    /// Every indexed entry key, for tests that hold the index to the entries.
    #[cfg(test)]
    pub(super) fn keys(&self) -> impl Iterator<Item = &DataAccessRequest> {
        (self.by_prefix.values().flatten().chain(&self.other)).map(|(k, _)| &**k)
    }

    /// Removes `key` if it is indexed for entry `id`.
    pub(super) fn remove_entry(&mut self, key: &DataAccessRequest, id: u64) {
        self.remove_where(key, |indexed| indexed == id);
    }

    /// Removes `key` whatever entry it is indexed for, as a lost key would be.
    #[cfg(test)]
    pub(super) fn remove(&mut self, key: &DataAccessRequest) {
        self.remove_where(key, |_| true);
    }

    fn remove_where(&mut self, key: &DataAccessRequest, id_matches: impl Fn(u64) -> bool) {
        let gone = |(k, id): &Indexed| **k == *key && id_matches(*id);
        match slash_prefix(key) {
            Some(prefix) => {
                if let Some(list) = self.by_prefix.get_mut(prefix) {
                    list.retain(|indexed| !gone(indexed));
                    if list.is_empty() {
                        self.by_prefix.remove(prefix);
                    }
                }
            }
            None => self.other.retain(|indexed| !gone(indexed)),
        }
    }
}

/// The entries' eviction listener: a removed entry's key leaves the grant
/// index, but only while the index names that very entry (`id`). A notice
/// that comes late, after a newer entry took the key (a size eviction racing
/// a load), leaves the newer entry indexed.
pub(super) fn unindex_removed(
    index: &RwLock<GrantIndex>,
    key: &DataAccessRequest,
    id: u64,
    cause: RemovalCause,
) {
    if cause != RemovalCause::Replaced {
        index
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove_entry(key, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{Permission, S3Target};

    fn req(target: &str, permission: Permission) -> DataAccessRequest {
        DataAccessRequest::new(S3Target::parse(target).unwrap(), permission)
    }

    fn index(grants: &[&str]) -> GrantIndex {
        let mut index = GrantIndex::default();
        for (id, grant) in grants.iter().enumerate() {
            index.add(&Arc::new(req(grant, Permission::Read)), id as u64);
        }
        index
    }

    fn found(index: &GrantIndex, target: &str) -> Option<String> {
        index
            .find(&req(target, Permission::Read))
            .map(|k| k.target.to_string())
    }

    #[test]
    fn the_longest_containing_grant_is_found() {
        let index = index(&["s3://bkt/p/*", "s3://bkt/p/q/*"]);
        assert_eq!(
            found(&index, "s3://bkt/p/q/r/x").as_deref(),
            Some("s3://bkt/p/q/*")
        );
        assert_eq!(
            found(&index, "s3://bkt/p/other").as_deref(),
            Some("s3://bkt/p/*")
        );
        assert_eq!(
            found(&index, "s3://bkt/p/q/*").as_deref(),
            Some("s3://bkt/p/q/*")
        );
        assert_eq!(found(&index, "s3://bkt/pq/x"), None);
        assert_eq!(found(&index, "s3://other/p/x"), None);
    }

    #[test]
    fn grants_not_ending_in_a_slash_are_scanned() {
        let index = index(&[
            "s3://bkt/User*",
            "s3://bkt/UserA/report.csv",
            "s3://bkt/UserA/*",
        ]);
        assert_eq!(
            found(&index, "s3://bkt/UserA/report.csv").as_deref(),
            Some("s3://bkt/UserA/report.csv")
        );
        assert_eq!(
            found(&index, "s3://bkt/UserA/x").as_deref(),
            Some("s3://bkt/UserA/*")
        );
        assert_eq!(
            found(&index, "s3://bkt/UserZ/x").as_deref(),
            Some("s3://bkt/User*")
        );
    }

    #[test]
    fn only_a_request_of_the_same_class_matches() {
        let index = index(&["s3://bkt/p/*"]);
        let write = req("s3://bkt/p/x", Permission::Write);
        assert_eq!(index.find(&write), None);
        let mut longer = req("s3://bkt/p/x", Permission::Read);
        longer.duration_seconds = Some(900);
        assert_eq!(index.find(&longer), None);
    }

    #[test]
    fn removed_grants_are_gone_and_leave_no_empty_slot() {
        let mut index = index(&["s3://bkt/p/*", "s3://bkt/User*"]);
        index.remove(&req("s3://bkt/p/*", Permission::Read));
        index.remove(&req("s3://bkt/User*", Permission::Read));
        assert_eq!(found(&index, "s3://bkt/p/x"), None);
        assert_eq!(found(&index, "s3://bkt/UserA"), None);
        assert_eq!(index.keys().count(), 0);
        assert!(index.by_prefix.is_empty());
    }

    #[test]
    fn adding_a_grant_twice_indexes_it_once() {
        let mut index = index(&["s3://bkt/p/*", "s3://bkt/User*"]);
        index.add(&Arc::new(req("s3://bkt/p/*", Permission::Read)), 7);
        index.add(&Arc::new(req("s3://bkt/User*", Permission::Read)), 8);
        assert_eq!(index.keys().count(), 2);
    }

    #[test]
    fn a_key_is_removed_only_for_the_entry_it_is_indexed_for() {
        let mut index = index(&["s3://bkt/p/*", "s3://bkt/User*"]);
        for (grant, old, new) in [("s3://bkt/p/*", 0, 10), ("s3://bkt/User*", 1, 11)] {
            let key = Arc::new(req(grant, Permission::Read));
            index.add(&key, new);
            index.remove_entry(&key, old);
            assert!(
                index.keys().any(|k| *k == *key),
                "{grant} kept for entry {new}"
            );
            index.remove_entry(&key, new);
            assert!(
                !index.keys().any(|k| *k == *key),
                "{grant} gone with entry {new}"
            );
        }
    }
}
