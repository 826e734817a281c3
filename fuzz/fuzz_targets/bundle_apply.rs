//! Arbitrary bytes delivered to a replica as a bundle from a known peer: `incoming` must
//! answer with a report or an error, never panic, and leave a consistent store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nomamail_core::{Durability, Replica, ReplicaId, ReplicaOptions};

fuzz_target!(|data: &[u8]| {
    let mut options = ReplicaOptions::new(ReplicaId(2), 1);
    options.durability = Durability::Process;
    let mut replica = Replica::open_in_memory(options).expect("in-memory store");
    replica.add_peer(ReplicaId(1)).expect("peer");
    let _ = replica.incoming(ReplicaId(1), data, 0);
    assert_eq!(replica.integrity_check().expect("check"), "ok");
});
