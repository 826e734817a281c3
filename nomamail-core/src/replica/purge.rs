//! Forgetting removed messages: the tombstone purge, which waits for every known peer, the
//! purge log that keeps what was forgotten (and the context its removal had seen), and the
//! answer to a peer that still holds a live copy of a forgotten message — a store restored
//! from a backup taken before the removal — so the message does not come back.

use super::Tx;
use super::blobs;
use super::peers::{all, save};
use crate::error::{Error, Result};
use crate::ids::ItemId;
use crate::item::ItemState;
use crate::vv::VersionVector;
use rusqlite::{OptionalExtension, params};

/// Expunged entries every known peer has acknowledged are forgotten, and their blobs retired
/// when nothing else uses them. Kept: mailbox tombstones (few and small; mail a peer added
/// concurrently to a deleted mailbox must find the mailbox to bring it back), and tombstones
/// this replica holds only as a shadow (`origin` 0, never sent): a peer's acknowledgement says
/// nothing about whether it has that removal, so the shadow must outlive any live copy.
pub(super) fn purge_acknowledged_tombstones(tx: &mut Tx<'_>, now_ms: u64) -> Result<()> {
    let peers = all(tx)?;
    let horizon = peers.iter().map(|(_, s)| s.acked).min().unwrap_or(tx.clock);
    let doomed: Vec<(Vec<u8>, i64)> = {
        let mut stmt = tx.sql.prepare_cached(
            "SELECT e.id, e.modseq FROM entries e JOIN items i ON i.id = e.id
                 WHERE e.removed = 1 AND e.modseq <= ?1 AND coalesce(i.origin, -1) != 0",
        )?;
        stmt.query_map([horizon as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    if doomed.is_empty() {
        return Ok(());
    }
    for (id, modseq) in &doomed {
        let id = ItemId::from_bytes(id).ok_or_else(|| Error::Corrupt("entry id".into()))?;
        forget_entry(tx, id, *modseq as u64, now_ms)?;
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

/// Drops every trace of an entry but its line in the purge log, which keeps when it went
/// (readers that last looked before must still learn of it) and what its state had seen.
fn forget_entry(tx: &mut Tx<'_>, id: ItemId, modseq: u64, now_ms: u64) -> Result<()> {
    let state = tx.load_entry(id)?;
    let blob = state.as_entry().map(|e| e.blob);
    let mut ctx = Vec::new();
    ciborium::into_writer(&state.ctx, &mut ctx).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut tombstone = Vec::new();
    ciborium::into_writer(&state, &mut tombstone).map_err(|e| Error::Corrupt(e.to_string()))?;
    let id = id.to_bytes();
    tx.sql
        .prepare_cached(
            "INSERT OR REPLACE INTO purged_entries (id, modseq, removal, tombstone)
                 VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id, modseq as i64, ctx, tombstone])?;
    for sql in [
        "DELETE FROM items WHERE id = ?1",
        "DELETE FROM entries WHERE id = ?1",
        "DELETE FROM conflicts WHERE item = ?1",
        "DELETE FROM vacated_uids WHERE entry = ?1",
    ] {
        tx.sql.prepare_cached(sql)?.execute([id])?;
    }
    if let Some(hash) = blob {
        blobs::retire_if_unreferenced(tx, hash, now_ms)?;
    }
    Ok(())
}

/// What the removal of a forgotten entry had seen, if the purge log still holds it (and it
/// was purged by a build that kept the context).
pub(super) fn removal_of_purged(tx: &Tx<'_>, id: ItemId) -> Result<Option<VersionVector>> {
    let ctx: Option<Option<Vec<u8>>> = tx
        .sql
        .prepare_cached("SELECT removal FROM purged_entries WHERE id = ?1")?
        .query_row([id.to_bytes()], |r| r.get(0))
        .optional()?;
    match ctx.flatten() {
        None => Ok(None),
        Some(bytes) => ciborium::from_reader(bytes.as_slice())
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("purge log of {id}: {e}"))),
    }
}

/// The last state of a forgotten entry, taken back out of the purge log, when a copy with a
/// change its removal never saw arrives (a store restored from an older backup renumbered
/// or flagged it). The copy must merge into this state, not stand alone: standing alone,
/// our next write to it would claim in its context the forgotten removal's dot without the
/// removal, and a replica still holding the tombstone would merge the two into a state with
/// no removal at all. `None` if the removal saw all of the copy (nothing to merge), or the
/// log no longer holds it (or a build before it kept it).
pub(super) fn take_back_purged(tx: &Tx<'_>, incoming: &ItemState) -> Result<Option<ItemState>> {
    let id = incoming.id;
    let bytes: Option<Option<Vec<u8>>> = tx
        .sql
        .prepare_cached("SELECT tombstone FROM purged_entries WHERE id = ?1")?
        .query_row([id.to_bytes()], |r| r.get(0))
        .optional()?;
    let Some(bytes) = bytes.flatten() else {
        return Ok(None);
    };
    let state = super::decode_state(&bytes, id)?;
    if state.ctx.dominates(&incoming.ctx) {
        return Ok(None);
    }
    tx.sql
        .prepare_cached("DELETE FROM purged_entries WHERE id = ?1")?
        .execute([id.to_bytes()])?;
    Ok(Some(state))
}

/// A peer forgot `id` after a removal that had seen `removal`: a copy here that the removal
/// saw all of is stale (this store is older than the removal: restored from a backup) and
/// goes the same way. A copy with a change the removal never saw stays: it is mail kept on
/// the safe side, and travels as such. Returns whether the copy went.
pub(super) fn forget_if_seen_by(
    tx: &mut Tx<'_>,
    id: ItemId,
    removal: &VersionVector,
    now_ms: u64,
) -> Result<bool> {
    let Some(state) = tx.load(id)? else {
        return Ok(false);
    };
    if state.as_entry().is_none() || !removal.dominates(&state.ctx) {
        return Ok(false);
    }
    let modseq = tx.tick();
    forget_entry(tx, id, modseq, now_ms)?;
    Ok(true)
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
