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
