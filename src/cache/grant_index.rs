//! The index of live `Privilege=Default` entries by the grant that matched, so
//! a target inside a cached grant finds that entry without an upstream call.

use std::collections::HashMap;

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
    /// Grant target less its trailing `*` (ends in `/`) → entry keys.
    by_prefix: HashMap<Box<str>, Vec<DataAccessRequest>>,
    other: Vec<DataAccessRequest>,
}

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
    pub(super) fn find(&self, request: &DataAccessRequest) -> Option<DataAccessRequest> {
        let target = request.target.as_str();
        let searched = target.strip_suffix('*').unwrap_or(target);
        let mut best: Option<&DataAccessRequest> = None;
        for (i, _) in searched.rmatch_indices('/') {
            let prefix = &searched[..=i];
            if prefix.len() <= "s3://".len() {
                break;
            }
            if let Some(hit) = self
                .by_prefix
                .get(prefix)
                .and_then(|keys| keys.iter().find(|k| same_class(k, request)))
            {
                best = Some(hit);
                break;
            }
        }
        for key in &self.other {
            if same_class(key, request)
                && key.target.contains(&request.target)
                && best.is_none_or(|b| key.target.as_str().len() > b.target.as_str().len())
            {
                best = Some(key);
            }
        }
        best.cloned()
    }

    pub(super) fn add(&mut self, key: &DataAccessRequest) {
        let list = match slash_prefix(key) {
            Some(prefix) => self.by_prefix.entry(prefix.into()).or_default(),
            None => &mut self.other,
        };
        if !list.contains(key) {
            list.push(key.clone());
        }
    }

    /// Every indexed entry key, for tests that hold the index to the entries.
    #[cfg(test)]
    pub(super) fn keys(&self) -> impl Iterator<Item = &DataAccessRequest> {
        self.by_prefix.values().flatten().chain(&self.other)
    }

    pub(super) fn remove(&mut self, key: &DataAccessRequest) {
        match slash_prefix(key) {
            Some(prefix) => {
                if let Some(list) = self.by_prefix.get_mut(prefix) {
                    list.retain(|k| k != key);
                    if list.is_empty() {
                        self.by_prefix.remove(prefix);
                    }
                }
            }
            None => self.other.retain(|k| k != key),
        }
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
        for grant in grants {
            index.add(&req(grant, Permission::Read));
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
        index.add(&req("s3://bkt/p/*", Permission::Read));
        index.add(&req("s3://bkt/User*", Permission::Read));
        assert_eq!(index.keys().count(), 2);
    }
}
