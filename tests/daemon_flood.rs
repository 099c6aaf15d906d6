//! A connection flood from another Unix user: the owner's clients are still
//! served, and none of their connects waits for a SYN the kernel dropped.
//! (Its own test binary, so no other test shares the machine with the
//! flood; `daemon_flood_proc` is the same flood where netlink is refused.)

mod common;

use common::*;

#[test]
fn the_owner_is_served_while_another_user_floods_connections() {
    let s = stack(PROFILES);
    let run = owner_during_flood(s.daemon.addr, &s.token);
    assert!(
        run.served * 100 >= run.requests * 95,
        "only {} of {} owner requests were served within {CLIENT_TIMEOUT:?}",
        run.served,
        run.requests
    );
    // A full accept queue drops SYNs, and a client retries after 1 s.
    assert!(
        run.slowest_connect < CONNECT_BUDGET,
        "an owner's connect took {:?}",
        run.slowest_connect
    );
    // The flood is over: the daemon is healthy, and says what it shed.
    assert_eq!(get(s.daemon.addr, "/healthz", None).status, 200);
    assert!(
        shed_count(s.daemon.addr) > 0,
        "the flood's surplus connections were counted"
    );
}
