//! Identifiers shared by every layer: replicas, items, dots and blob hashes.
//!
//! Item ids are the dot of the write that created the item, so two replicas can create
//! items independently without ever picking the same id, and no RNG is needed in the core.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A replica of one account's store. Chosen at random once, by the caller, and kept forever.
///
/// Zero is reserved for the genesis writes that every replica of an account makes alike
/// (INBOX and the special-use mailboxes), so those items are identical everywhere.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReplicaId(pub u64);

impl ReplicaId {
    pub const GENESIS: ReplicaId = ReplicaId(0);
}

impl fmt::Debug for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{:016x}", self.0)
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One write: the replica that made it and that replica's counter at the time.
/// Ordered by counter first so "the latest dot" is a deterministic tie-break everywhere.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub counter: u64,
    pub replica: ReplicaId,
}

impl Dot {
    pub fn new(replica: ReplicaId, counter: u64) -> Dot {
        Dot { counter, replica }
    }
}

impl PartialOrd for Dot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dot {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.counter, self.replica).cmp(&(other.counter, other.replica))
    }
}

impl fmt::Debug for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{}", self.replica, self.counter)
    }
}

/// Stable id of a mailbox or a message entry: the dot of its creating write.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemId(pub Dot);

impl ItemId {
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.0.replica.0.to_be_bytes());
        out[8..].copy_from_slice(&self.0.counter.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<ItemId> {
        let replica = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let counter = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        (bytes.len() == 16).then_some(ItemId(Dot::new(ReplicaId(replica), counter)))
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0.replica, self.0.counter)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::str::FromStr for ItemId {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (r, c) = s.split_once('-').ok_or(())?;
        let replica = u64::from_str_radix(r, 16).map_err(|_| ())?;
        let counter = c.parse().map_err(|_| ())?;
        Ok(ItemId(Dot::new(ReplicaId(replica), counter)))
    }
}

/// BLAKE3 of a message's RFC 5322 bytes: blobs are stored and transferred once by this name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlobHash(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl BlobHash {
    pub fn of(bytes: &[u8]) -> BlobHash {
        BlobHash(*blake3::hash(bytes).as_bytes())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

pub type MailboxId = ItemId;
pub type EntryId = ItemId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_id_round_trips_through_bytes_and_text() {
        let id = ItemId(Dot::new(ReplicaId(0xdead_beef), 42));
        assert_eq!(ItemId::from_bytes(&id.to_bytes()), Some(id));
        assert_eq!(id.to_string().parse::<ItemId>(), Ok(id));
        assert_eq!(ItemId::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn dots_order_by_counter_then_replica() {
        let a = Dot::new(ReplicaId(9), 1);
        let b = Dot::new(ReplicaId(1), 2);
        let c = Dot::new(ReplicaId(2), 2);
        assert!(a < b && b < c);
    }
}
