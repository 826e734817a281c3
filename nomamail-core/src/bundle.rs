//! What one sync message carries, as plain data: the wire type, kept apart from its codec.
//!
//! A bundle holds the *current state* of the items the sender changed in a range of its
//! modification sequence, chunks of blobs the receiver may lack, and the sender's
//! acknowledgement of what it has received. Every part is idempotent to apply.

use crate::ids::{BlobHash, ItemId, ReplicaId};
use crate::item::ItemState;
use crate::vv::VersionVector;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub from: ReplicaId,
    pub to: ReplicaId,
    /// The sender's bundle counter towards this receiver: strictly increasing, never reused.
    pub generation: u64,
    /// The sender's modification-sequence range `(base, high]` whose item changes this bundle
    /// carries in full (items the receiver is known to hold already are left out).
    pub range: Option<SeqRange>,
    pub items: Vec<ItemState>,
    pub chunks: Vec<Chunk>,
    pub ack: Ack,
    /// The sender's clock when it built the bundle: a receiver that is relearning (restored,
    /// or made anew) is caught up with the sender once it holds its sequence to here. Left
    /// out when 0, so bundles without it read and write as before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sender_clock: u64,
    /// The sender was told to forget the addressee (unpaired, or taken for replaced) and
    /// takes nothing from it any more: the addressee is to go on under a new id and relearn,
    /// as a store restored from a backup does. Such a bundle carries nothing else. Left out
    /// when false, so bundles without it read and write as before.
    #[serde(default, skip_serializing_if = "is_false")]
    pub forgotten: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    pub base: u64,
    pub high: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub hash: BlobHash,
    pub total: u64,
    pub offset: u64,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Every change of the receiver's (this ack's addressee's) sequence up to here is applied.
    pub through: u64,
    /// Blobs the acknowledging side needs, with how many leading bytes it already holds.
    pub wants: Vec<Want>,
    /// Messages the acknowledging side forgot after their removal reached every replica,
    /// named because the addressee sent live copies of them (it is older than the removal:
    /// restored from a backup), with what each removal had seen. Left out when empty, so
    /// bundles without it read and write as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purged: Vec<Purged>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purged {
    pub id: ItemId,
    pub removal: VersionVector,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Want {
    pub hash: BlobHash,
    pub have: u64,
}
