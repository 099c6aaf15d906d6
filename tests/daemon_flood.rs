//! A connection flood from another Unix user: the owner's clients are still
//! served, and none of their connects waits for a SYN the kernel dropped.
//! (Its own test binary, so no other test shares the machine with the
//! flood; `daemon_flood_proc` is the same flood where netlink is refused.)

mod common;

use common::*;

#[test]
fn the_owner_is_served_while_another_user_floods_connections() {
    let s = stack(PROFILES);
    assert_owner_served_through_a_flood(s.daemon.addr, &s.token);
}
