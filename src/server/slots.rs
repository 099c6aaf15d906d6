//! Connection admission: how many connections each local user may hold open.
//!
//! Owns the open-connection counts. The accept loop never waits for a place:
//! it accepts every connection, finds its peer's uid, and asks here. A
//! connection with no place is closed at once (shed), so a flood cannot park
//! the daemon's own clients in the kernel backlog. The daemon's own user may
//! use every place; every other uid (and all peers of unknown uid, as one)
//! may hold at most `max_per_uid`, and all of them together at most half of
//! the places, so one other user cannot starve the owner, and several cannot
//! either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most connections one Unix user other than the daemon's own may hold open.
/// Defaults to 64: a pool of worker processes each keeping one connection.
pub const DEFAULT_MAX_CONNECTIONS_PER_UID: usize = 64;

/// Why a connection was shed.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Shed {
    #[error("every connection place is taken")]
    Full,
    #[error("other users hold all the places they may share")]
    OthersFull,
    #[error("this user holds as many connections as one user may")]
    UidFull,
}

impl Shed {
    /// The reason's label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Shed::Full => "full",
            Shed::OthersFull => "others_full",
            Shed::UidFull => "uid_full",
        }
    }
}

/// Open connections, counted per peer.
#[derive(Debug)]
pub struct Slots {
    max_total: usize,
    max_others: usize,
    max_per_uid: usize,
    /// A mutex is fine: held for a few integer updates per connection.
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    others: usize,
    /// Connections of users other than the owner; `None` = uid unknown.
    per_uid: HashMap<Option<u32>, usize>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    /// `None` for the owner, who is counted in the total only.
    other: Option<Option<u32>>,
}

impl Slots {
    pub fn new(max_total: usize, max_per_uid: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max_total,
            max_others: (max_total / 2).max(1),
            max_per_uid,
            counts: Mutex::default(),
        })
    }

    /// A place for a connection of `uid` (`None`: unknown), unless the
    /// limits are reached.
    pub fn admit(self: &Arc<Self>, uid: Option<u32>, is_owner: bool) -> Result<Slot, Shed> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.max_total {
            return Err(Shed::Full);
        }
        if !is_owner {
            if c.others >= self.max_others {
                return Err(Shed::OthersFull);
            }
            let mine = c.per_uid.entry(uid).or_default();
            if *mine >= self.max_per_uid {
                return Err(Shed::UidFull);
            }
            *mine += 1;
            c.others += 1;
        }
        c.total += 1;
        Ok(Slot {
            slots: self.clone(),
            other: (!is_owner).then_some(uid),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.slots.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total -= 1;
        if let Some(uid) = self.other {
            c.others -= 1;
            if let Some(n) = c.per_uid.get_mut(&uid) {
                *n -= 1;
                if *n == 0 {
                    // Forget users with no connection, so the map stays small.
                    c.per_uid.remove(&uid);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: u32 = 1000;

    fn fill(slots: &Arc<Slots>, uid: Option<u32>, n: usize) -> Vec<Slot> {
        (0..n)
            .map(|_| slots.admit(uid, uid == Some(OWNER)).unwrap())
            .collect()
    }

    #[test]
    fn another_user_is_capped_while_the_owner_still_gets_in() {
        let slots = Slots::new(100, 3);
        let _held = fill(&slots, Some(65_534), 3);
        assert_eq!(slots.admit(Some(65_534), false).unwrap_err(), Shed::UidFull);
        assert!(slots.admit(Some(OWNER), true).is_ok());
        assert!(
            slots.admit(Some(1001), false).is_ok(),
            "another uid has its own cap"
        );
    }

    #[test]
    fn unknown_peers_share_one_cap() {
        let slots = Slots::new(100, 2);
        let _held = fill(&slots, None, 2);
        assert_eq!(slots.admit(None, false).unwrap_err(), Shed::UidFull);
    }

    #[test]
    fn other_users_together_take_at_most_half() {
        let slots = Slots::new(10, 4);
        let _a = fill(&slots, Some(1), 4);
        let _b = fill(&slots, Some(2), 1);
        assert_eq!(slots.admit(Some(3), false).unwrap_err(), Shed::OthersFull);
        let _owner = fill(&slots, Some(OWNER), 5);
        assert_eq!(slots.admit(Some(OWNER), true).unwrap_err(), Shed::Full);
        assert_eq!(slots.open(), 10);
    }

    #[test]
    fn a_dropped_slot_frees_its_place() {
        let slots = Slots::new(10, 1);
        let held = slots.admit(Some(7), false).unwrap();
        assert!(slots.admit(Some(7), false).is_err());
        drop(held);
        let again = slots.admit(Some(7), false).unwrap();
        assert_eq!(slots.open(), 1);
        drop(again);
        assert_eq!(slots.open(), 0);
        assert!(
            slots.counts.lock().unwrap().per_uid.is_empty(),
            "idle users are forgotten"
        );
    }
}
