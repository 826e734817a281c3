//! Item states a peer sent that this replica cannot take: ill formed, or not mergeable with
//! the state it holds (another kind of item, other fixed fields: a bug or a forgery on the
//! other side, or a dot reused by a store rolled back in place). Such a state is set aside
//! here with its reason, and the rest of its bundle is applied and acknowledged, so one bad
//! item never stalls a link; `status` shows the count, and the daemon logs each one.

use super::Tx;
use crate::error::{Error, Result};
use crate::ids::{ItemId, ReplicaId};
use crate::item::ItemState;
use rusqlite::params;

/// Rows kept at most; the oldest go first. A peer that keeps sending bad states only
/// replaces its own rows (one per item), so this bounds a hostile peer too.
const KEEP: i64 = 10_000;

/// One state set aside, as `status` and logs show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    pub item: ItemId,
    pub peer: ReplicaId,
    pub reason: String,
    pub at_ms: u64,
}

pub(super) fn set_aside(
    tx: &Tx<'_>,
    peer: ReplicaId,
    state: &ItemState,
    reason: &str,
    now_ms: u64,
) -> Result<()> {
    let mut bytes = Vec::new();
    ciborium::into_writer(state, &mut bytes).map_err(|e| Error::Corrupt(e.to_string()))?;
    tx.sql
        .prepare_cached(
            "INSERT OR REPLACE INTO quarantine (item, peer, reason, state, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            state.id.to_bytes(),
            peer.0 as i64,
            reason,
            bytes,
            now_ms as i64
        ])?;
    tx.sql
        .prepare_cached(
            "DELETE FROM quarantine WHERE rowid IN
             (SELECT rowid FROM quarantine ORDER BY at DESC, rowid DESC LIMIT -1 OFFSET ?1)",
        )?
        .execute([KEEP])?;
    Ok(())
}

/// Forgets what was set aside of `item` from `peer` (a later state is judged afresh).
pub(super) fn release(tx: &Tx<'_>, peer: ReplicaId, item: ItemId) -> Result<()> {
    tx.sql
        .prepare_cached("DELETE FROM quarantine WHERE item = ?1 AND peer = ?2")?
        .execute(params![item.to_bytes(), peer.0 as i64])?;
    Ok(())
}

pub(super) fn count_from(tx: &Tx<'_>, peer: ReplicaId) -> Result<u64> {
    let n: i64 = tx
        .sql
        .prepare_cached("SELECT count(*) FROM quarantine WHERE peer = ?1")?
        .query_row([peer.0 as i64], |r| r.get(0))?;
    Ok(n as u64)
}

/// The latest `limit` states set aside, newest first.
pub(super) fn latest(tx: &Tx<'_>, limit: usize) -> Result<Vec<Quarantined>> {
    let mut stmt = tx.sql.prepare_cached(
        "SELECT item, peer, reason, at FROM quarantine ORDER BY at DESC, rowid DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (item, peer, reason, at) = row?;
        let item = ItemId::from_bytes(&item)
            .ok_or_else(|| Error::Corrupt("quarantined item id".into()))?;
        out.push(Quarantined {
            item,
            peer: ReplicaId(peer as u64),
            reason,
            at_ms: at as u64,
        });
    }
    Ok(out)
}
