//! The emulator's mutable state, as the control API sees it.
//!
//! Owns the call log (last [`MAX_CALLS`] calls plus per-operation counts),
//! the registry of issued access keys and what they cover, the fault table
//! and the runtime lifetime override. All of it sits behind one mutex in
//! [`super::Emulator`]; nothing here awaits, so the lock is never held across
//! an `.await`.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use serde::Serialize;

use grantd_common::credentials::format_timestamp;
use grantd_common::scope::{Permission, Privilege};

use super::Operation;
use super::faults::FaultTable;

/// Calls kept in the log; older ones are dropped (counts keep counting).
pub(super) const MAX_CALLS: usize = 10_000;
/// Issued keys remembered; past this, expired then oldest entries go first.
pub(super) const MAX_ISSUED: usize = 100_000;

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) faults: FaultTable,
    pub(super) calls: VecDeque<CallRecord>,
    pub(super) counts: Counts,
    /// Issued access key id → what it covers.
    pub(super) issued: HashMap<String, Issued>,
    /// Issue order of `issued`, oldest first, for eviction.
    pub(super) issued_order: VecDeque<String>,
    /// Lifetime of every vended credential, when set.
    pub(super) lifetime_override: Option<u64>,
}

/// One call as the control API reports it; values as the caller sent them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(super) struct CallRecord {
    pub(super) operation: &'static str,
    pub(super) access_key_id: Option<String>,
    pub(super) account_id: Option<String>,
    pub(super) target: Option<String>,
    pub(super) permission: Option<String>,
    pub(super) privilege: Option<String>,
    pub(super) duration_seconds: Option<u64>,
    /// `auditContext` of a `GetDataAccess` call, as sent.
    pub(super) audit_context: Option<String>,
    /// The `Host` header: shows the account label a client put in front.
    pub(super) host: Option<String>,
    pub(super) status: u16,
}

#[derive(Debug, Default, Clone, Serialize)]
pub(super) struct Counts {
    #[serde(rename = "GetDataAccess")]
    get_data_access: u64,
    #[serde(rename = "GetAccessGrantsInstanceForPrefix")]
    get_access_grants_instance_for_prefix: u64,
    #[serde(rename = "ListCallerAccessGrants")]
    list_caller_access_grants: u64,
    #[serde(rename = "GetCallerIdentity")]
    get_caller_identity: u64,
}

/// What an issued access key covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Issued {
    pub(super) grantee: String,
    pub(super) account_id: String,
    pub(super) matched_grant_target: String,
    /// The matched grant's target for `Default`, the request target for `Minimal`.
    pub(super) scope: String,
    /// The permission asked for, which is what the keys allow.
    pub(super) permission: Permission,
    pub(super) privilege: Privilege,
    pub(super) expiration: SystemTime,
}

impl Issued {
    pub(super) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "grantee": self.grantee,
            "account_id": self.account_id,
            "matched_grant_target": self.matched_grant_target,
            "scope": self.scope,
            "permission": self.permission.as_str(),
            "privilege": self.privilege.as_str(),
            "expiration": format_timestamp(self.expiration),
        })
    }
}

impl State {
    pub(super) fn record(&mut self, call: CallRecord, operation: Operation) {
        match operation {
            Operation::GetDataAccess => self.counts.get_data_access += 1,
            Operation::GetAccessGrantsInstanceForPrefix => {
                self.counts.get_access_grants_instance_for_prefix += 1;
            }
            Operation::ListCallerAccessGrants => self.counts.list_caller_access_grants += 1,
            Operation::GetCallerIdentity => self.counts.get_caller_identity += 1,
        }
        if self.calls.len() == MAX_CALLS {
            self.calls.pop_front();
        }
        self.calls.push_back(call);
    }

    pub(super) fn register(&mut self, access_key_id: String, issued: Issued, now: SystemTime) {
        if self.issued.len() >= MAX_ISSUED {
            self.issued.retain(|_, i| i.expiration > now);
            let issued = &self.issued;
            self.issued_order.retain(|k| issued.contains_key(k));
            while self.issued.len() >= MAX_ISSUED {
                match self.issued_order.pop_front() {
                    Some(oldest) => {
                        self.issued.remove(&oldest);
                    }
                    None => break,
                }
            }
        }
        if self.issued.insert(access_key_id.clone(), issued).is_none() {
            self.issued_order.push_back(access_key_id);
        }
    }

    /// Clears calls, faults and issued keys; the lifetime override stays.
    pub(super) fn reset(&mut self) {
        self.faults.clear();
        self.calls.clear();
        self.counts = Counts::default();
        self.issued.clear();
        self.issued_order.clear();
    }

    pub(super) fn calls_json(&self) -> serde_json::Value {
        serde_json::json!({"counts": self.counts, "calls": self.calls})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn call(n: u64) -> CallRecord {
        CallRecord {
            operation: "GetCallerIdentity",
            access_key_id: None,
            account_id: None,
            target: None,
            permission: None,
            privilege: None,
            duration_seconds: Some(n),
            audit_context: None,
            host: None,
            status: 200,
        }
    }

    #[test]
    fn call_log_keeps_the_last_calls_and_counts_all() {
        let mut state = State::default();
        for n in 0..(MAX_CALLS as u64 + 5) {
            state.record(call(n), Operation::GetCallerIdentity);
        }
        assert_eq!(state.calls.len(), MAX_CALLS);
        assert_eq!(state.calls.front().unwrap().duration_seconds, Some(5));
        assert_eq!(state.counts.get_caller_identity, MAX_CALLS as u64 + 5);
    }

    #[test]
    fn registry_evicts_expired_keys_first_when_full() {
        let mut state = State::default();
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let issued = |expiration| Issued {
            grantee: "g".into(),
            account_id: "a".into(),
            matched_grant_target: "t".into(),
            scope: "t".into(),
            permission: Permission::Read,
            privilege: Privilege::Default,
            expiration,
        };
        state.register(
            "OLD-LIVE".into(),
            issued(now + Duration::from_secs(60)),
            now,
        );
        for n in 1..MAX_ISSUED {
            state.register(format!("K{n}"), issued(now - Duration::from_secs(1)), now);
        }
        state.register("NEW".into(), issued(now + Duration::from_secs(60)), now);
        assert!(state.issued.contains_key("OLD-LIVE"));
        assert!(state.issued.contains_key("NEW"));
        assert_eq!(state.issued.len(), 2);
    }
}
