//! The full-text index behind SEARCH BODY and TEXT: an FTS5 table with the trigram tokenizer
//! over each body's `SearchableText`, one row per body (copies of a message share it), kept
//! in the transaction that stores or drops the body.
//!
//! Trigrams find any substring of three characters or more, so the index is a prefilter that
//! never misses: case folding maps characters one by one, and a substring of the lower-case
//! text stays a substring after folding. Each row it returns is then checked against the
//! stored lower-case text, so the answer is RFC 3501's substring match exactly. Shorter
//! needles read every stored text; they never parse a message.

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

pub(super) fn forget(sql: &Connection, hash: BlobHash) -> Result<()> {
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

/// Indexes the bodies that have no current row (stored before the index existed), a batch
/// per transaction.
pub(super) fn index_missing(conn: &mut Connection) -> Result<u64> {
    let complete: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'text_index_complete'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if complete == Some(TEXT_INDEX_VERSION) {
        return Ok(0);
    }
    let mut done = 0;
    loop {
        let tx = conn.transaction()?;
        let batch: Vec<Vec<u8>> = {
            let mut stmt = tx.prepare(
                "SELECT hash FROM blobs WHERE hash NOT IN
                 (SELECT blob FROM text_index WHERE version = ?1) LIMIT 500",
            )?;
            stmt.query_map([TEXT_INDEX_VERSION], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?
        };
        if batch.is_empty() {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('text_index_complete', ?1)",
                [TEXT_INDEX_VERSION],
            )?;
            tx.commit()?;
            return Ok(done);
        }
        for hash in &batch {
            let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
                continue;
            };
            let hash = BlobHash(hash);
            if let Some(bytes) = super::blobs::read_range(&tx, hash, 0, u64::MAX)? {
                index(&tx, hash, &SearchableText::of(&bytes))?;
                done += 1;
            }
        }
        tx.commit()?;
    }
}

/// An FTS5 string: the needle as one phrase, quotes doubled.
fn phrase(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
}

impl Replica {
    /// The bodies whose indexed text contains `needle` (lower case), or `None` when the index
    /// cannot answer for this needle and every message must be read. Bodies too large to be
    /// indexed are never in the set: see `unindexed_texts`.
    pub fn text_search(&self, needle: &str, scope: TextScope) -> Result<Option<HashSet<BlobHash>>> {
        if !searchable(needle) {
            return Ok(None);
        }
        // Fewer than three characters make no trigram: read every stored text instead.
        let uses_trigrams = needle.chars().count() >= 3;
        let mut stmt = self.conn.prepare_cached(if uses_trigrams {
            "SELECT t.blob, f.body, f.head FROM text_fts f
             JOIN text_index t ON t.doc = f.rowid WHERE text_fts MATCH ?1"
        } else {
            "SELECT t.blob, f.body, f.head FROM text_index t JOIN text_fts f ON f.rowid = t.doc"
        })?;
        let mut rows = if uses_trigrams {
            let query = match scope {
                TextScope::Body => format!("body : {}", phrase(needle)),
                TextScope::BodyOrHeader => phrase(needle),
            };
            stmt.query([query])?
        } else {
            stmt.query([])?
        };
        let mut found = HashSet::new();
        while let Some(row) = rows.next()? {
            let body: String = row.get(1)?;
            let hit = body.contains(needle)
                || (scope == TextScope::BodyOrHeader && row.get::<_, String>(2)?.contains(needle));
            if hit {
                let blob: Vec<u8> = row.get(0)?;
                if let Ok(hash) = <[u8; 32]>::try_from(blob.as_slice()) {
                    found.insert(BlobHash(hash));
                }
            }
        }
        Ok(Some(found))
    }

    /// Bodies whose text is too large for the index: a search reads these.
    pub fn unindexed_texts(&self) -> Result<HashSet<BlobHash>> {
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
