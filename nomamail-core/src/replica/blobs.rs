//! Blob storage: message bytes by hash, stored once, assembled from chunks in order and
//! verified against their hash before anyone can read them.

use super::Tx;
use crate::bundle::{Chunk, Want};
use crate::error::{Error, Result};
use crate::ids::BlobHash;
use rusqlite::{OptionalExtension, params};

pub(super) fn put(tx: &Tx<'_>, bytes: &[u8]) -> Result<BlobHash> {
    let hash = BlobHash::of(bytes);
    let added = tx
        .sql
        .prepare_cached("INSERT OR IGNORE INTO blobs (hash, data) VALUES (?1, ?2)")?
        .execute(params![hash.0, bytes])?;
    if added > 0 {
        summarize(&tx.sql, hash, bytes)?;
    }
    forget_partial(tx, hash)?;
    Ok(hash)
}

/// Stores the summary of a body just stored; every body has one from then on.
pub(super) fn summarize(sql: &rusqlite::Connection, hash: BlobHash, bytes: &[u8]) -> Result<()> {
    let summary = crate::summary::Summary::of(bytes);
    super::text_index::queue(sql, hash)?;
    let text = summary.fields.search_text();
    sql.prepare_cached(
        "INSERT OR REPLACE INTO summaries
         (blob, version, summary, subject, from_text, to_text, cc_text, bcc_text, sent, sent_zone,
          from_mailbox, to_mailbox, cc_mailbox, from_display, to_display)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        hash.0,
        crate::summary::SUMMARY_VERSION,
        summary.encode(),
        text.subject,
        text.from,
        text.to,
        text.cc,
        text.bcc,
        text.sent.map(|s| s.0),
        text.sent.map(|s| s.1),
        text.from_mailbox,
        text.to_mailbox,
        text.cc_mailbox,
        text.from_display,
        text.to_display,
    ])?;
    Ok(())
}

/// Bodies without a current summary (stored before summaries existed, or under another
/// summary version) get one, a batch per transaction so a large store is not one huge commit.
pub(super) fn summarize_missing(conn: &mut rusqlite::Connection) -> Result<u64> {
    // Once every body has a current summary, every body stored later gets one as it comes:
    // later openings need not look again.
    let complete: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'summaries_complete'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if complete == Some(i64::from(crate::summary::SUMMARY_VERSION)) {
        return Ok(0);
    }
    let mut done = 0;
    loop {
        let tx = conn.transaction()?;
        let batch: Vec<Vec<u8>> = {
            let mut stmt = tx.prepare(
                "SELECT hash FROM blobs WHERE hash NOT IN
                 (SELECT blob FROM summaries WHERE version = ?1) LIMIT 500",
            )?;
            stmt.query_map([crate::summary::SUMMARY_VERSION], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?
        };
        if batch.is_empty() {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('summaries_complete', ?1)",
                [crate::summary::SUMMARY_VERSION],
            )?;
            tx.commit()?;
            return Ok(done);
        }
        for hash in &batch {
            let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
                continue;
            };
            let hash = BlobHash(hash);
            if let Some(bytes) = read_range(&tx, hash, 0, u64::MAX)? {
                summarize(&tx, hash, &bytes)?;
                done += 1;
            }
        }
        tx.commit()?;
    }
}

pub(super) fn has(tx: &Tx<'_>, hash: BlobHash) -> Result<bool> {
    Ok(tx
        .sql
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM blobs WHERE hash = ?1)")?
        .query_row([hash.0], |r| r.get(0))?)
}

pub(super) fn len(tx: &Tx<'_>, hash: BlobHash) -> Result<Option<u64>> {
    Ok(tx
        .sql
        .prepare_cached("SELECT length(data) FROM blobs WHERE hash = ?1")?
        .query_row([hash.0], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|n| n as u64))
}

/// `len` bytes of a stored blob from `offset` (fewer at its end), read incrementally so a
/// chunk of a large message does not load the whole message.
pub(crate) fn read_range(
    conn: &rusqlite::Connection,
    hash: BlobHash,
    offset: u64,
    len: u64,
) -> Result<Option<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    let rowid: Option<i64> = conn
        .prepare_cached("SELECT rowid FROM blobs WHERE hash = ?1")?
        .query_row([hash.0], |r| r.get(0))
        .optional()?;
    let Some(rowid) = rowid else { return Ok(None) };
    let mut blob = conn.blob_open(rusqlite::MAIN_DB, c"blobs", c"data", rowid, true)?;
    let size = blob.len() as u64;
    let start = offset.min(size);
    let take = len.min(size - start);
    let io = |e: std::io::Error| Error::Io(format!("reading blob: {e}"));
    blob.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut out = vec![0; take as usize];
    blob.read_exact(&mut out).map_err(io)?;
    Ok(Some(out))
}

fn forget_partial(tx: &Tx<'_>, hash: BlobHash) -> Result<()> {
    tx.sql
        .prepare_cached("DELETE FROM partial_blobs WHERE hash = ?1")?
        .execute([hash.0])?;
    tx.sql
        .prepare_cached("DELETE FROM partial_chunks WHERE hash = ?1")?
        .execute([hash.0])?;
    tx.sql
        .prepare_cached("DELETE FROM missing_blobs WHERE hash = ?1")?
        .execute([hash.0])?;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum ChunkOutcome {
    /// Not waited for, already stored whole, or not contiguous with what we hold (asked for
    /// again by a want).
    Ignored,
    Stored,
    Completed,
    /// All bytes arrived but they do not hash to the name: thrown away, asked for again.
    Corrupt,
}

pub(super) fn accept_chunk(tx: &Tx<'_>, chunk: &Chunk) -> Result<ChunkOutcome> {
    // Only bodies a message here is waiting for: a peer cannot fill the disk with others.
    let wanted: bool = tx
        .sql
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM missing_blobs WHERE hash = ?1)")?
        .query_row([chunk.hash.0], |r| r.get(0))?;
    if !wanted || has(tx, chunk.hash)? {
        return Ok(ChunkOutcome::Ignored);
    }
    let partial: Option<(i64, i64)> = tx
        .sql
        .prepare_cached("SELECT total, have FROM partial_blobs WHERE hash = ?1")?
        .query_row([chunk.hash.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let have = match partial {
        Some((total, have)) if total as u64 == chunk.total => have as u64,
        Some(_) => {
            // Another size for the same hash: at most one is right, so start over.
            forget_partial(tx, chunk.hash)?;
            0
        }
        None => 0,
    };
    let end = chunk.offset + chunk.data.len() as u64;
    if chunk.offset > have || end <= have {
        return Ok(ChunkOutcome::Ignored);
    }
    let tail = &chunk.data[(have - chunk.offset) as usize..];
    tx.sql
        .prepare_cached(
            "INSERT OR REPLACE INTO partial_chunks (hash, offset, data) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![chunk.hash.0, have as i64, tail])?;
    if end < chunk.total {
        tx.sql
            .prepare_cached(
                "INSERT OR REPLACE INTO partial_blobs (hash, total, have) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![chunk.hash.0, chunk.total as i64, end as i64])?;
        return Ok(ChunkOutcome::Stored);
    }
    let mut data = Vec::with_capacity(chunk.total as usize);
    {
        let mut stmt = tx
            .sql
            .prepare_cached("SELECT data FROM partial_chunks WHERE hash = ?1 ORDER BY offset")?;
        let mut rows = stmt.query([chunk.hash.0])?;
        while let Some(row) = rows.next()? {
            let part = row
                .get_ref(0)?
                .as_blob()
                .map_err(|e| Error::Corrupt(format!("partial blob: {e}")))?;
            data.extend_from_slice(part);
        }
    }
    // Missing stays recorded until the blob is really there.
    tx.sql
        .prepare_cached("DELETE FROM partial_blobs WHERE hash = ?1")?
        .execute([chunk.hash.0])?;
    tx.sql
        .prepare_cached("DELETE FROM partial_chunks WHERE hash = ?1")?
        .execute([chunk.hash.0])?;
    if data.len() as u64 != chunk.total || BlobHash::of(&data) != chunk.hash {
        return Ok(ChunkOutcome::Corrupt);
    }
    tx.sql
        .prepare_cached("INSERT INTO blobs (hash, data) VALUES (?1, ?2)")?
        .execute(params![chunk.hash.0, data])?;
    summarize(&tx.sql, chunk.hash, &data)?;
    tx.sql
        .prepare_cached("DELETE FROM missing_blobs WHERE hash = ?1")?
        .execute([chunk.hash.0])?;
    Ok(ChunkOutcome::Completed)
}

/// Blobs live entries need and this replica lacks, with how much of each it holds.
/// Up to `limit` of them at a time, taking turns in hash order from where the last call
/// stopped, so bodies nobody can supply yet do not keep the others from being asked for.
pub(super) fn wants(tx: &Tx<'_>, limit: usize) -> Result<Vec<Want>> {
    let cursor: Vec<u8> = tx
        .sql
        .prepare_cached("SELECT hash FROM wants_cursor")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_default();
    let mut rows = missing_after(tx, &cursor, limit)?;
    if rows.len() < limit && !cursor.is_empty() {
        let mut from_start = missing_after(tx, &[], limit - rows.len())?;
        from_start.retain(|(h, _)| h.as_slice() <= cursor.as_slice());
        rows.extend(from_start);
    }
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

/// The next list of wants starts after `last`. Called only for a bundle that is really sent,
/// so polling, or a bundle rebuilt smaller, does not skip anything.
pub(super) fn advance_wants_cursor(tx: &Tx<'_>, last: BlobHash) -> Result<()> {
    tx.sql
        .prepare_cached("INSERT OR REPLACE INTO wants_cursor (id, hash) VALUES (0, ?1)")?
        .execute([last.0])?;
    Ok(())
}

fn missing_after(tx: &Tx<'_>, cursor: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, i64)>> {
    let mut stmt = tx.sql.prepare_cached(
        "SELECT m.hash, coalesce(p.have, 0) FROM missing_blobs m
         LEFT JOIN partial_blobs p ON p.hash = m.hash
         WHERE m.hash > ?1 ORDER BY m.hash LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![cursor, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Once no entry refers to a blob any more, it is retired rather than dropped: a change to
/// the message made concurrently on a replica some hops away may still be on its way, and
/// would bring the message back.
pub(super) fn retire_if_unreferenced(tx: &Tx<'_>, hash: BlobHash, now_ms: u64) -> Result<()> {
    let referenced: bool = tx
        .sql
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM entries WHERE blob = ?1)")?
        .query_row([hash.0], |r| r.get(0))?;
    if !referenced {
        tx.sql
            .prepare_cached("INSERT OR IGNORE INTO retired_blobs (hash, since) VALUES (?1, ?2)")?
            .execute(params![hash.0, now_ms as i64])?;
        forget_partial(tx, hash)?;
    }
    Ok(())
}

/// Whether a live entry still needs this blob.
fn blob_needed(tx: &Tx<'_>, hash: BlobHash) -> Result<bool> {
    Ok(tx
        .sql
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM entries WHERE blob = ?1 AND removed = 0)")?
        .query_row([hash.0], |r| r.get(0))?)
}

/// A message that needs a retired blob brings it back into service.
pub(super) fn unretire(tx: &Tx<'_>, hash: BlobHash) -> Result<()> {
    tx.sql
        .prepare_cached("DELETE FROM retired_blobs WHERE hash = ?1")?
        .execute([hash.0])?;
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
            .prepare_cached("DELETE FROM blobs WHERE hash = ?1")?
            .execute([&hash])?;
        tx.sql
            .prepare_cached("DELETE FROM summaries WHERE blob = ?1")?
            .execute([&hash])?;
        if let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) {
            super::text_index::forget(&tx.sql, BlobHash(hash))?;
        }
        tx.sql
            .prepare_cached("DELETE FROM peer_blobs WHERE hash = ?1")?
            .execute([&hash])?;
        tx.sql
            .prepare_cached("DELETE FROM retired_blobs WHERE hash = ?1")?
            .execute([&hash])?;
    }
    Ok(())
}
