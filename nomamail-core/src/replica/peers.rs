//! What a replica remembers about each peer, across restarts: how far each side has
//! acknowledged the other, which bundle generations it has seen, and when it last sent.
//! Also the tombstone purge, which waits for every known peer.

use super::Tx;
use super::blobs;
use crate::error::{Error, Result};
use crate::ids::{BlobHash, ItemId, ReplicaId};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PeerState {
    /// Our modseq through which the peer has applied every change.
    pub acked: u64,
    /// Our modseq through which we have sent (maybe not yet acknowledged).
    pub sent: u64,
    /// When the oldest change still unacknowledged was sent (or acks last made progress).
    pub unacked_since: Option<u64>,
    /// Our bundle counter towards the peer.
    pub generation: u64,
    /// The peer's modseq through which we have applied every change it sent.
    pub received: u64,
    /// Ranges of the peer's modseq applied above `received`, sorted, disjoint.
    pub received_above: Vec<(u64, u64)>,
    /// The peer sent data since our last bundle to it: it is owed an acknowledgement.
    pub ack_due: bool,
    /// Since when the acknowledgement has been owed (stores from before this field have
    /// none, which counts as "long ago").
    #[serde(default)]
    pub ack_due_since: Option<u64>,
    pub last_wants_at: Option<u64>,
    pub highest_generation_seen: u64,
    /// Bundles from the peer with a lower generation were made before it had seen tombstones
    /// we have since purged: items in them that we do not know are purged, not new.
    pub stale_below: u64,
    pub last_contact: Option<u64>,
    pub bundles_in: u64,
    pub bundles_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rejected: u64,
}

impl PeerState {
    /// Record that every change of the peer in `(base, high]` is applied here.
    pub fn record_received(&mut self, base: u64, high: u64) {
        if high <= self.received {
            return;
        }
        self.received_above.push((base, high));
        self.received_above.sort_unstable();
        let mut rest = Vec::new();
        for (b, h) in std::mem::take(&mut self.received_above) {
            if b <= self.received {
                self.received = self.received.max(h);
            } else {
                rest.push((b, h));
            }
        }
        // A range that joined may let later ones join too.
        rest.retain(|&(b, h)| {
            if b <= self.received {
                self.received = self.received.max(h);
                false
            } else {
                true
            }
        });
        self.received_above = rest;
    }
}

/// A peer as status screens show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: ReplicaId,
    /// Changes of ours the peer has not acknowledged yet.
    pub unacknowledged: u64,
    pub last_contact: Option<u64>,
    pub bundles_in: u64,
    pub bundles_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rejected: u64,
    /// Item states from the peer set aside because they could not be taken.
    pub quarantined: u64,
}

pub(super) fn load(tx: &Tx<'_>, peer: ReplicaId) -> Result<PeerState> {
    let bytes: Option<Vec<u8>> = tx
        .sql
        .prepare_cached("SELECT state FROM peers WHERE id = ?1")?
        .query_row([peer.0 as i64], |r| r.get(0))
        .optional()?;
    let bytes = bytes.ok_or(Error::UnknownPeer(peer))?;
    ciborium::from_reader(bytes.as_slice())
        .map_err(|e| Error::Corrupt(format!("peer {peer:?}: {e}")))
}

pub(super) fn save(tx: &Tx<'_>, peer: ReplicaId, state: &PeerState) -> Result<()> {
    let mut bytes = Vec::new();
    ciborium::into_writer(state, &mut bytes).map_err(|e| Error::Corrupt(e.to_string()))?;
    tx.sql
        .prepare_cached("INSERT OR REPLACE INTO peers (id, state) VALUES (?1, ?2)")?
        .execute(params![peer.0 as i64, bytes])?;
    Ok(())
}

/// Drops what we keep about `peer`; returns whether there was anything.
pub(super) fn forget(tx: &Tx<'_>, peer: ReplicaId) -> Result<bool> {
    let removed = tx
        .sql
        .prepare_cached("DELETE FROM peers WHERE id = ?1")?
        .execute([peer.0 as i64])?;
    tx.sql
        .prepare_cached("DELETE FROM peer_blobs WHERE peer = ?1")?
        .execute([peer.0 as i64])?;
    Ok(removed > 0)
}

pub(super) fn all(tx: &Tx<'_>) -> Result<Vec<(ReplicaId, PeerState)>> {
    let rows: Vec<i64> = {
        let mut stmt = tx.sql.prepare_cached("SELECT id FROM peers ORDER BY id")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    rows.into_iter()
        .map(|id| {
            let peer = ReplicaId(id as u64);
            Ok((peer, load(tx, peer)?))
        })
        .collect()
}

pub(super) fn status(tx: &Tx<'_>) -> Result<Vec<PeerStatus>> {
    all(tx)?
        .into_iter()
        .map(|(peer, s)| {
            Ok(PeerStatus {
                peer,
                unacknowledged: tx.clock.saturating_sub(s.acked),
                last_contact: s.last_contact,
                bundles_in: s.bundles_in,
                bundles_out: s.bundles_out,
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                rejected: s.rejected,
                quarantined: super::quarantine::count_from(tx, peer)?,
            })
        })
        .collect()
}

/// Expunged entries every known peer has acknowledged are forgotten, and their blobs retired
/// when nothing else uses them. Kept: mailbox tombstones (few and small; mail a peer added
/// concurrently to a deleted mailbox must find the mailbox to bring it back), and tombstones
/// this replica holds only as a shadow (`origin` 0, never sent): a peer's acknowledgement says
/// nothing about whether it has that removal, so the shadow must outlive any live copy.
pub(super) fn purge_acknowledged_tombstones(tx: &mut Tx<'_>, now_ms: u64) -> Result<()> {
    let peers = all(tx)?;
    let horizon = peers.iter().map(|(_, s)| s.acked).min().unwrap_or(tx.clock);
    let doomed: Vec<(Vec<u8>, Vec<u8>, i64)> = {
        let mut stmt = tx.sql.prepare_cached(
            "SELECT e.id, e.blob, e.modseq FROM entries e JOIN items i ON i.id = e.id
                 WHERE e.removed = 1 AND e.modseq <= ?1 AND coalesce(i.origin, -1) != 0",
        )?;
        stmt.query_map([horizon as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?
    };
    if doomed.is_empty() {
        return Ok(());
    }
    for (id, blob, modseq) in &doomed {
        // Readers that last looked before the removal must still learn of it.
        tx.sql
            .prepare_cached("INSERT OR REPLACE INTO purged_entries (id, modseq) VALUES (?1, ?2)")?
            .execute(params![id, modseq])?;
        tx.sql
            .prepare_cached("DELETE FROM items WHERE id = ?1")?
            .execute([id])?;
        tx.sql
            .prepare_cached("DELETE FROM entries WHERE id = ?1")?
            .execute([id])?;
        tx.sql
            .prepare_cached("DELETE FROM conflicts WHERE item = ?1")?
            .execute([id])?;
        tx.sql
            .prepare_cached("DELETE FROM vacated_uids WHERE entry = ?1")?
            .execute([id])?;
        if let Ok(hash) = <[u8; 32]>::try_from(blob.as_slice()) {
            blobs::retire_if_unreferenced(tx, BlobHash(hash), now_ms)?;
        }
        debug_assert!(ItemId::from_bytes(id).is_some());
    }
    for (peer, mut s) in peers {
        s.stale_below = s.stale_below.max(s.highest_generation_seen);
        save(tx, peer, &s)?;
    }
    trim_purge_log(tx, doomed.len() as i64)
}

/// Whether `id` is an entry this replica forgot after its removal was acknowledged. Asked of
/// an unknown item in a bundle the peer made before it saw our purge: only such an item is a
/// stale copy to ignore; any other unknown item is new (mail arrives out of order). Below the
/// purge log's floor the log no longer tells, and any unknown item may be a purged one.
pub(super) fn was_purged(tx: &Tx<'_>, id: ItemId) -> Result<bool> {
    let logged: bool = tx
        .sql
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM purged_entries WHERE id = ?1)")?
        .query_row([id.to_bytes()], |r| r.get(0))?;
    Ok(logged || super::meta_get(&tx.sql, "purge_log_floor")?.is_some())
}

/// How many forgotten removals the purge log keeps for readers that fell behind.
const PURGE_LOG_KEEP: i64 = 50_000;

/// Keeps the purge log near `PURGE_LOG_KEEP` entries, raising the floor below which it no
/// longer answers. The size is counted in `meta`, and trimmed in batches once it is half as
/// large again, so a purge costs the same however long the log is.
fn trim_purge_log(tx: &mut Tx<'_>, added: i64) -> Result<()> {
    let count = super::meta_get(&tx.sql, "purge_log_count")?.unwrap_or(0) + added;
    let mut kept = count;
    if count > PURGE_LOG_KEEP + PURGE_LOG_KEEP / 2 {
        let cut: Option<i64> = tx
            .sql
            .prepare_cached(
                "SELECT modseq FROM purged_entries ORDER BY modseq DESC LIMIT 1 OFFSET ?1",
            )?
            .query_row([PURGE_LOG_KEEP], |r| r.get(0))
            .optional()?;
        if let Some(cut) = cut {
            let dropped = tx
                .sql
                .prepare_cached("DELETE FROM purged_entries WHERE modseq <= ?1")?
                .execute([cut])?;
            kept -= dropped as i64;
            tx.sql
                .prepare_cached(
                    "INSERT INTO meta (key, value) VALUES ('purge_log_floor', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                )?
                .execute([cut])?;
        }
    }
    tx.sql
        .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('purge_log_count', ?1)")?
        .execute([kept])?;
    Ok(())
}
