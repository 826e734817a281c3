//! Blob storage: message bytes by hash, stored once, assembled from chunks in order and
//! verified against their hash before anyone can read them.

use super::Tx;
use super::derive::blob_needed;
use crate::bundle::{Chunk, Want};
use crate::error::Result;
use crate::ids::BlobHash;
use rusqlite::{OptionalExtension, params};

pub(super) fn put(tx: &Tx<'_>, bytes: &[u8]) -> Result<BlobHash> {
    let hash = BlobHash::of(bytes);
    tx.sql.execute(
        "INSERT OR IGNORE INTO blobs (hash, data) VALUES (?1, ?2)",
        params![hash.0, bytes],
    )?;
    forget_partial(tx, hash)?;
    Ok(hash)
}

pub(super) fn has(tx: &Tx<'_>, hash: BlobHash) -> Result<bool> {
    Ok(tx.sql.query_row(
        "SELECT EXISTS(SELECT 1 FROM blobs WHERE hash = ?1)",
        [hash.0],
        |r| r.get(0),
    )?)
}

pub(super) fn len(tx: &Tx<'_>, hash: BlobHash) -> Result<Option<u64>> {
    Ok(tx
        .sql
        .query_row(
            "SELECT length(data) FROM blobs WHERE hash = ?1",
            [hash.0],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .map(|n| n as u64))
}

pub(super) fn read_range(
    tx: &Tx<'_>,
    hash: BlobHash,
    offset: u64,
    len: u64,
) -> Result<Option<Vec<u8>>> {
    Ok(tx
        .sql
        .query_row(
            "SELECT substr(data, ?2, ?3) FROM blobs WHERE hash = ?1",
            params![hash.0, offset as i64 + 1, len as i64],
            |r| r.get(0),
        )
        .optional()?)
}

fn forget_partial(tx: &Tx<'_>, hash: BlobHash) -> Result<()> {
    tx.sql
        .execute("DELETE FROM partial_blobs WHERE hash = ?1", [hash.0])?;
    tx.sql
        .execute("DELETE FROM missing_blobs WHERE hash = ?1", [hash.0])?;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum ChunkOutcome {
    /// Already stored whole, or not contiguous with what we hold (asked for again by want).
    Ignored,
    Stored,
    Completed,
    /// All bytes arrived but they do not hash to the name: thrown away, asked for again.
    Corrupt,
}

pub(super) fn accept_chunk(tx: &Tx<'_>, chunk: &Chunk) -> Result<ChunkOutcome> {
    if has(tx, chunk.hash)? {
        return Ok(ChunkOutcome::Ignored);
    }
    let partial: Option<(i64, Vec<u8>)> = tx
        .sql
        .query_row(
            "SELECT total, data FROM partial_blobs WHERE hash = ?1",
            [chunk.hash.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let mut data = match partial {
        Some((total, data)) if total as u64 == chunk.total => data,
        _ => Vec::new(),
    };
    let have = data.len() as u64;
    let end = chunk.offset + chunk.data.len() as u64;
    if chunk.offset > have || end <= have {
        return Ok(ChunkOutcome::Ignored);
    }
    data.extend_from_slice(&chunk.data[(have - chunk.offset) as usize..]);
    if data.len() as u64 == chunk.total {
        forget_partial(tx, chunk.hash)?;
        if BlobHash::of(&data) != chunk.hash {
            if blob_needed(tx, chunk.hash)? {
                tx.sql.execute(
                    "INSERT OR IGNORE INTO missing_blobs VALUES (?1)",
                    [chunk.hash.0],
                )?;
            }
            return Ok(ChunkOutcome::Corrupt);
        }
        tx.sql.execute(
            "INSERT INTO blobs (hash, data) VALUES (?1, ?2)",
            params![chunk.hash.0, data],
        )?;
        return Ok(ChunkOutcome::Completed);
    }
    tx.sql.execute(
        "INSERT OR REPLACE INTO partial_blobs (hash, total, data) VALUES (?1, ?2, ?3)",
        params![chunk.hash.0, chunk.total as i64, data],
    )?;
    Ok(ChunkOutcome::Stored)
}

/// Blobs live entries need and this replica lacks, with how much of each it holds.
pub(super) fn wants(tx: &Tx<'_>, limit: usize) -> Result<Vec<Want>> {
    let rows: Vec<(Vec<u8>, i64)> = {
        let mut stmt = tx.sql.prepare_cached(
            "SELECT m.hash, coalesce(length(p.data), 0) FROM missing_blobs m
             LEFT JOIN partial_blobs p ON p.hash = m.hash LIMIT ?1",
        )?;
        stmt.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for (bytes, have) in rows {
        let Ok(arr) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            continue;
        };
        let hash = BlobHash(arr);
        if has(tx, hash)? || !blob_needed(tx, hash)? {
            forget_partial(tx, hash)?;
            continue;
        }
        out.push(Want {
            hash,
            have: have as u64,
        });
    }
    Ok(out)
}

/// Once no entry refers to a blob any more, it is retired rather than dropped: a change to
/// the message made concurrently on a replica some hops away may still be on its way, and
/// would bring the message back.
pub(super) fn retire_if_unreferenced(tx: &Tx<'_>, hash: BlobHash, now_ms: u64) -> Result<()> {
    let referenced: bool = tx.sql.query_row(
        "SELECT EXISTS(SELECT 1 FROM entries WHERE blob = ?1)",
        [hash.0],
        |r| r.get(0),
    )?;
    if !referenced {
        tx.sql.execute(
            "INSERT OR IGNORE INTO retired_blobs (hash, since) VALUES (?1, ?2)",
            params![hash.0, now_ms as i64],
        )?;
        forget_partial(tx, hash)?;
    }
    Ok(())
}

/// A message that needs a retired blob brings it back into service.
pub(super) fn unretire(tx: &Tx<'_>, hash: BlobHash) -> Result<()> {
    tx.sql
        .execute("DELETE FROM retired_blobs WHERE hash = ?1", [hash.0])?;
    Ok(())
}

/// Drop blobs retired for longer than `keep_ms`.
pub(super) fn drop_retired(tx: &Tx<'_>, now_ms: u64, keep_ms: u64) -> Result<()> {
    let Some(cutoff) = now_ms.checked_sub(keep_ms) else {
        return Ok(());
    };
    let cutoff = cutoff as i64;
    let doomed: Vec<Vec<u8>> = {
        let mut stmt = tx
            .sql
            .prepare_cached("SELECT hash FROM retired_blobs WHERE since <= ?1")?;
        stmt.query_map([cutoff], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    for hash in doomed {
        tx.sql
            .execute("DELETE FROM blobs WHERE hash = ?1", [&hash])?;
        tx.sql
            .execute("DELETE FROM peer_blobs WHERE hash = ?1", [&hash])?;
        tx.sql
            .execute("DELETE FROM retired_blobs WHERE hash = ?1", [&hash])?;
    }
    Ok(())
}
