//! MODSEQ values on the wire. A replica's mod-sequence is its own clock, so the office and
//! the internet server give the same change different numbers. A CONDSTORE or QRESYNC client
//! that switched servers and sent the other server's HIGHESTMODSEQ would be told "nothing
//! changed" about changes it never saw. So every value we give out carries a tag of the
//! serving replica in its top 15 bits, and a value with another tag counts as 0 ("before
//! everything"): such a client is sent every message's flags once, never a stale view.
//! Within one server the values stay strictly increasing.

use crate::ids::ReplicaId;

const SHIFT: u32 = 48;
const COUNTER: u64 = (1 << SHIFT) - 1;

/// 1 to 32,766: never 0, and the tagged value stays below 2^63 as RFC 7162 requires.
fn tag(replica: ReplicaId) -> u64 {
    1 + replica.0 % 0x7FFE
}

/// Whether two replicas' MODSEQs would look alike on the wire.
pub fn same_tag(a: ReplicaId, b: ReplicaId) -> bool {
    tag(a) == tag(b)
}

/// The value a client sees for our `modseq` (0, "none", stays 0).
pub fn to_wire(replica: ReplicaId, modseq: u64) -> u64 {
    if modseq == 0 {
        return 0;
    }
    (tag(replica) << SHIFT) | (modseq & COUNTER)
}

/// Our mod-sequence for a value a client sent; 0 when it came from another server.
pub fn from_wire(replica: ReplicaId, value: u64) -> u64 {
    if value >> SHIFT == tag(replica) {
        value & COUNTER
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_on_their_server_and_count_as_zero_elsewhere() {
        let office = ReplicaId(0x1234_5678_9abc);
        let internet = ReplicaId(0x1234_5678_9abd);
        for modseq in [1, 2, 77, COUNTER] {
            let wire = to_wire(office, modseq);
            assert!(wire < 1 << 63);
            assert_eq!(from_wire(office, wire), modseq);
            assert_eq!(from_wire(internet, wire), 0);
        }
        assert!(to_wire(office, 5) < to_wire(office, 6));
        assert_eq!(to_wire(office, 0), 0);
        assert_eq!(from_wire(office, 0), 0);
        assert_eq!(from_wire(office, 12), 0, "an untagged number is not ours");
    }
}
