//! The flood of `daemon_flood` where the kernel refuses netlink (a seccomp
//! filter, as some sandboxes have): the daemon finds peers' users in
//! `/proc/net/tcp`, says so at start, and still serves its owner, because
//! the flood's lookups are answered together and shed before any table
//! read rather than each reading the table. (Its own test binary.)

mod common;

use common::*;

#[test]
fn the_owner_is_served_during_a_flood_when_netlink_is_refused() {
    let emu = emulator(None);
    let dir = scratch("flood-proc");
    let cmd = wrap(&daemon_command(&emu, dir.path(), PROFILES), &no_netlink());
    let d = spawn_daemon(cmd, dir);
    let logs = plain(&d.logs());
    assert!(logs.contains("peer_lookup=\"proc\""), "{logs}");
    assert!(logs.contains("refuses sock_diag netlink"), "{logs}");
    let token = token(&d);
    assert_owner_served_through_a_flood(d.addr, &token);
}
