//! What a replica remembers about each peer, across restarts: how far each side has
//! acknowledged the other, which bundle generations it has seen, and when it last sent.

use super::Tx;
use crate::error::{Error, Result};
use crate::ids::{ItemId, ReplicaId};
use crate::vv::VersionVector;
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
    /// Entries the peer sent live copies of that we forgot after their removal reached
    /// everyone, with the removal's context: told in our next bundle, so it drops them too.
    #[serde(default)]
    pub purged_to_tell: Vec<(ItemId, VersionVector)>,
    /// While this store relearns: the peer's clock at the first bundle it sent since, which
    /// this store must hold the peer's sequence up to.
    #[serde(default)]
    pub relearn_target: Option<u64>,
}

/// How many purged entries one peer is told of at most per bundle (and kept waiting).
pub(super) const MAX_PURGED_TO_TELL: usize = 1024;

impl PeerState {
    pub fn tell_purged(&mut self, id: ItemId, removal: VersionVector) {
        if self.purged_to_tell.len() < MAX_PURGED_TO_TELL
            && !self.purged_to_tell.iter().any(|(known, _)| *known == id)
        {
            self.purged_to_tell.push((id, removal));
        }
    }

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

/// The `meta` value of `relearning` while the store waits for every peer it knows.
const RELEARNING_FROM_KNOWN_PEERS: i64 = 1;
/// The `meta` value of `relearning` while a store made anew knows no peer yet: with none to
/// wait for it would otherwise count as caught up at once.
const RELEARNING_UNTIL_A_FIRST_PEER: i64 = 2;

/// A store that lost history (restored from a backup, made anew for an account it served,
/// found older than its peers know it) relearns before it serves clients: until then it
/// would show them an older mailbox under the UIDVALIDITY they cached, and give new mail
/// UIDs the peers have already given to other messages.
pub(super) fn start_relearning(tx: &Tx<'_>) -> Result<()> {
    set_relearning(tx, RELEARNING_FROM_KNOWN_PEERS)?;
    for (peer, mut s) in all(tx)? {
        s.relearn_target = None;
        save(tx, peer, &s)?;
    }
    Ok(())
}

/// A new store standing in for a lost one: its peers are made known to it later, by the
/// transport, and it relearns from them.
pub(super) fn wait_for_a_first_peer(tx: &Tx<'_>) -> Result<()> {
    set_relearning(tx, RELEARNING_UNTIL_A_FIRST_PEER)
}

/// A peer is known now (added, or an admin forgot one): from here on the store waits for
/// the peers it knows, and for none when it knows none.
pub(super) fn peers_known(tx: &Tx<'_>) -> Result<()> {
    if super::meta_get(&tx.sql, "relearning")? == Some(RELEARNING_UNTIL_A_FIRST_PEER) {
        set_relearning(tx, RELEARNING_FROM_KNOWN_PEERS)?;
    }
    Ok(())
}

fn set_relearning(tx: &Tx<'_>, value: i64) -> Result<()> {
    tx.sql
        .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('relearning', ?1)")?
        .execute([value])?;
    Ok(())
}

pub(super) fn is_relearning(tx: &Tx<'_>) -> Result<bool> {
    Ok(super::meta_get(&tx.sql, "relearning")?.is_some())
}

/// Relearning ends when every peer has been heard from and its sequence is held up to its
/// clock of then; or when no peer is left to learn from (but not before a store made anew
/// has been told of one).
pub(super) fn end_relearning_if_caught_up(tx: &Tx<'_>) -> Result<bool> {
    match super::meta_get(&tx.sql, "relearning")? {
        None | Some(RELEARNING_UNTIL_A_FIRST_PEER) => return Ok(false),
        Some(_) => {}
    }
    let caught_up = all(tx)?
        .iter()
        .all(|(_, s)| s.relearn_target.is_some_and(|t| s.received >= t));
    if caught_up {
        tx.sql
            .prepare_cached("DELETE FROM meta WHERE key = 'relearning'")?
            .execute([])?;
    }
    Ok(caught_up)
}

/// Drops what we keep about `peer` and remembers that it was forgotten; returns whether
/// there was anything.
pub(super) fn forget(tx: &Tx<'_>, peer: ReplicaId) -> Result<bool> {
    let removed = tx
        .sql
        .prepare_cached("DELETE FROM peers WHERE id = ?1")?
        .execute([peer.0 as i64])?;
    tx.sql
        .prepare_cached("INSERT OR IGNORE INTO forgotten_peers (id) VALUES (?1)")?
        .execute([peer.0 as i64])?;
    for sql in [
        "DELETE FROM peer_blobs WHERE peer = ?1",
        "DELETE FROM quarantine WHERE peer = ?1",
    ] {
        tx.sql.prepare_cached(sql)?.execute([peer.0 as i64])?;
    }
    Ok(removed > 0)
}

/// Whether `peer` was forgotten here. Purges stopped waiting for it, so what it still holds
/// may be what they removed: a forgotten replica that comes back is not taken again under
/// its old id.
pub(super) fn is_forgotten(tx: &Tx<'_>, peer: ReplicaId) -> Result<bool> {
    Ok(tx
        .sql
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM forgotten_peers WHERE id = ?1)")?
        .query_row([peer.0 as i64], |r| r.get(0))?)
}

/// Whether a forgotten `peer` is to be told so now (once per `every_ms`, since the notice
/// may be lost like any bundle); if so, records that it was.
pub(super) fn take_forgotten_notice(
    tx: &Tx<'_>,
    peer: ReplicaId,
    now_ms: u64,
    every_ms: u64,
) -> Result<bool> {
    let told_at: Option<i64> = tx
        .sql
        .prepare_cached("SELECT told_at FROM forgotten_peers WHERE id = ?1")?
        .query_row([peer.0 as i64], |r| r.get(0))?;
    if told_at.is_some_and(|at| !crate::wallclock::waited(at as u64, now_ms, every_ms)) {
        return Ok(false);
    }
    tx.sql
        .prepare_cached("UPDATE forgotten_peers SET told_at = ?2 WHERE id = ?1")?
        .execute(params![peer.0 as i64, now_ms as i64])?;
    Ok(true)
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
