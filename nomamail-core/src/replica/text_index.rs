//! The full-text index behind SEARCH BODY and TEXT: an FTS5 table with the trigram tokenizer
//! over each body's `SearchableText`, one row per body (copies of a message share it).
//!
//! Storing a body only queues it (`text_pending`, in the same transaction); bodies are
//! indexed in batches by `index_pending_texts`, which the server runs in the background
//! after writes and every text search runs first, so a search never misses a body. Indexing
//! one message per transaction made each APPEND pay for an FTS5 segment of its own.
//!
//! A search is `LIKE '%needle%'` on the stored lower-case text. FTS5 answers it from the
//! trigram index as a prefilter (the bodies holding every trigram of the needle) and then
//! checks LIKE itself on each candidate's stored text, so the answer is RFC 3501's substring
//! match exactly: both sides are lower case already, and LIKE compares anything else octet
//! for octet. A needle under three characters has no trigram; LIKE then reads every stored
//! text, which is still no message parsed.

use super::Replica;
use crate::error::Result;
use crate::ids::BlobHash;
use crate::summary::text::{MAX_INDEXED, SearchableText, searchable};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

/// Bumped when `SearchableText` would read a message differently; bodies indexed under an
/// older version are indexed again when the store opens.
const TEXT_INDEX_VERSION: i64 = 1;

/// What a text search looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextScope {
    /// SEARCH BODY: the text parts.
    Body,
    /// SEARCH TEXT: the text parts or the header values.
    BodyOrHeader,
}

/// Replaces the index row of a body. Text over `MAX_INDEXED` is left out (the row says so),
/// and searches read that message instead.
pub(super) fn index(sql: &Connection, hash: BlobHash, text: &SearchableText) -> Result<()> {
    forget(sql, hash)?;
    let doc = if text.len() <= MAX_INDEXED {
        sql.prepare_cached("INSERT INTO text_fts (body, head) VALUES (?1, ?2)")?
            .execute(params![text.body, text.head])?;
        Some(sql.last_insert_rowid())
    } else {
        None
    };
    sql.prepare_cached("INSERT INTO text_index (blob, doc, version) VALUES (?1, ?2, ?3)")?
        .execute(params![hash.0, doc, TEXT_INDEX_VERSION])?;
    Ok(())
}

/// A stored body's bytes (read here rather than through `blobs`, which calls this module).
fn body(sql: &Connection, hash: BlobHash) -> Result<Option<Vec<u8>>> {
    Ok(sql
        .prepare_cached("SELECT data FROM blobs WHERE hash = ?1")?
        .query_row([hash.0], |r| r.get(0))
        .optional()?)
}

/// Queues a body just stored for indexing.
pub(super) fn queue(sql: &Connection, hash: BlobHash) -> Result<()> {
    sql.prepare_cached("INSERT OR IGNORE INTO text_pending (blob) VALUES (?1)")?
        .execute([hash.0])?;
    Ok(())
}

pub(super) fn forget(sql: &Connection, hash: BlobHash) -> Result<()> {
    sql.prepare_cached("DELETE FROM text_pending WHERE blob = ?1")?
        .execute([hash.0])?;
    let doc: Option<Option<i64>> = sql
        .prepare_cached("SELECT doc FROM text_index WHERE blob = ?1")?
        .query_row([hash.0], |r| r.get(0))
        .optional()?;
    if let Some(doc) = doc {
        if let Some(doc) = doc {
            sql.prepare_cached("DELETE FROM text_fts WHERE rowid = ?1")?
                .execute([doc])?;
        }
        sql.prepare_cached("DELETE FROM text_index WHERE blob = ?1")?
            .execute([hash.0])?;
    }
    Ok(())
}

/// Queues the bodies that have no current row (stored before the index existed, or indexed
/// by another version), once: later bodies are queued as they are stored.
pub(super) fn queue_missing(conn: &mut Connection) -> Result<()> {
    let complete: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'text_index_complete'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if complete == Some(TEXT_INDEX_VERSION) {
        return Ok(());
    }
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT OR IGNORE INTO text_pending (blob) SELECT hash FROM blobs WHERE hash NOT IN
         (SELECT blob FROM text_index WHERE version = ?1)",
        [TEXT_INDEX_VERSION],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('text_index_complete', ?1)",
        [TEXT_INDEX_VERSION],
    )?;
    tx.commit()?;
    Ok(())
}

/// A LIKE pattern matching `needle` anywhere, its wildcards escaped with `\`.
fn anywhere(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Replica {
    /// Indexes up to `limit` queued bodies in one transaction; returns how many it took off
    /// the queue (0: the index is complete).
    pub fn index_pending_texts(&mut self, limit: usize) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let batch: Vec<Vec<u8>> = {
            let mut stmt = tx.prepare_cached("SELECT blob FROM text_pending LIMIT ?1")?;
            stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?
        };
        for blob in &batch {
            if let Ok(hash) = <[u8; 32]>::try_from(blob.as_slice()) {
                let hash = BlobHash(hash);
                // A body dropped meanwhile has nothing to index.
                if let Some(bytes) = body(&tx, hash)? {
                    index(&tx, hash, &SearchableText::of(&bytes))?;
                }
            }
            tx.prepare_cached("DELETE FROM text_pending WHERE blob = ?1")?
                .execute([blob])?;
        }
        tx.commit()?;
        Ok(batch.len())
    }

    /// The bodies whose indexed text contains `needle` (lower case), or `None` when the index
    /// cannot answer for this needle and every message must be read. Bodies too large to be
    /// indexed are never in the set: see `unindexed_texts`. Queued bodies are indexed first.
    pub fn text_search(
        &mut self,
        needle: &str,
        scope: TextScope,
    ) -> Result<Option<HashSet<BlobHash>>> {
        if !searchable(needle) {
            return Ok(None);
        }
        while self.index_pending_texts(500)? > 0 {}
        let pattern = anywhere(needle);
        let mut found = HashSet::new();
        let columns: &[&str] = match scope {
            TextScope::Body => &["body"],
            TextScope::BodyOrHeader => &["body", "head"],
        };
        for column in columns {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT t.blob FROM text_fts f JOIN text_index t ON t.doc = f.rowid
                 WHERE f.{column} LIKE ?1 ESCAPE '\\'"
            ))?;
            let mut rows = stmt.query([&pattern])?;
            while let Some(row) = rows.next()? {
                let blob: Vec<u8> = row.get(0)?;
                if let Ok(hash) = <[u8; 32]>::try_from(blob.as_slice()) {
                    found.insert(BlobHash(hash));
                }
            }
        }
        Ok(Some(found))
    }

    /// How many bodies wait for the full-text index.
    pub fn texts_waiting(&self) -> Result<u64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM text_pending")?
            .query_row([], |r| r.get(0))?)
    }

    /// Bodies whose text is too large for the index: a search reads these. Queued bodies are
    /// indexed first.
    pub fn unindexed_texts(&mut self) -> Result<HashSet<BlobHash>> {
        while self.index_pending_texts(500)? > 0 {}
        let mut stmt = self
            .conn
            .prepare_cached("SELECT blob FROM text_index WHERE doc IS NULL")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = HashSet::new();
        for row in rows {
            if let Ok(hash) = <[u8; 32]>::try_from(row?.as_slice()) {
                out.insert(BlobHash(hash));
            }
        }
        Ok(out)
    }
}
