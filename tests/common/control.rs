//! The emulator's control API (`/_emulator/…`): its call log and injected
//! faults, as the tests use them.

use super::{Proc, get, post_json, raw, wait_for};

/// How many calls of `operation` the emulator has answered.
pub fn upstream_calls(emu: &Proc, operation: &str) -> u64 {
    get(emu.addr, "/_emulator/calls", None).json()["counts"][operation]
        .as_u64()
        .unwrap_or(0)
}

/// Adds one fault (the JSON of `POST /_emulator/faults`); fails the test if
/// the emulator refuses it.
pub fn add_fault(emu: &Proc, fault: &str) {
    let reply = post_json(emu.addr, "/_emulator/faults", fault);
    assert_eq!(reply.status, 200, "fault refused: {}", reply.body);
}

pub fn clear_faults(emu: &Proc) {
    raw(
        emu.addr,
        b"DELETE /_emulator/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
}

/// Waits until every fault is used up. A fault is spent when a call
/// arrives, before its latency, so after a `"times": 1` fault with
/// `latency_ms` this means the call is now being held by the emulator.
pub fn wait_for_faults_spent(emu: &Proc) {
    wait_for(
        "the emulator to spend its faults",
        || {
            let faults = get(emu.addr, "/_emulator/faults", None).json();
            faults["faults"]
                .as_array()
                .is_some_and(|f| f.is_empty())
                .then_some(())
        },
        || emu.logs(),
    );
}
