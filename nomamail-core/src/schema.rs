//! The SQLite schema and its migrations. `PRAGMA user_version` is the schema version; each
//! migration runs in the same transaction that raises it, so a crash never leaves a half
//! migrated store.
//!
//! `items` is the replicated truth (one CBOR state per item). `mailboxes`, `entries`,
//! `conflicts` and `missing_blobs` are derived from it inside the same transaction, for
//! reads by UID, by modseq and by blob without decoding states.

use crate::error::{Error, Result};
use rusqlite::Connection;

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE items (
        id BLOB PRIMARY KEY,
        modseq INTEGER NOT NULL,
        -- the peer whose state this is verbatim; it need not be sent back there
        origin INTEGER,
        state BLOB NOT NULL
    );
    CREATE INDEX items_by_modseq ON items(modseq);
    CREATE TABLE mailboxes (
        id BLOB PRIMARY KEY,
        name TEXT NOT NULL,
        shown_name TEXT NOT NULL,
        removed INTEGER NOT NULL,
        uidvalidity INTEGER NOT NULL,
        uidnext INTEGER NOT NULL,
        subscribed INTEGER NOT NULL,
        special_use TEXT,
        modseq INTEGER NOT NULL
    );
    CREATE TABLE entries (
        id BLOB PRIMARY KEY,
        mailbox BLOB NOT NULL,
        uid INTEGER,
        removed INTEGER NOT NULL,
        flags TEXT NOT NULL,
        blob BLOB NOT NULL,
        size INTEGER NOT NULL,
        internal_date INTEGER NOT NULL,
        date_offset INTEGER NOT NULL,
        modseq INTEGER NOT NULL
    );
    CREATE INDEX entries_by_place ON entries(mailbox, uid);
    CREATE INDEX entries_by_blob ON entries(blob);
    CREATE INDEX entries_removed ON entries(modseq) WHERE removed = 1;
    -- UIDs entries have left in a mailbox: dead, never to be given to another message
    CREATE TABLE vacated_uids (
        mailbox BLOB NOT NULL,
        uid INTEGER NOT NULL,
        entry BLOB NOT NULL,
        PRIMARY KEY (mailbox, uid, entry)
    );
    CREATE INDEX vacated_by_entry ON vacated_uids(entry);
    CREATE TABLE blobs (hash BLOB PRIMARY KEY, data BLOB NOT NULL);
    -- a blob arriving in chunks: its contiguous prefix, one row per chunk, joined once complete
    CREATE TABLE partial_blobs (hash BLOB PRIMARY KEY, total INTEGER NOT NULL, have INTEGER NOT NULL);
    CREATE TABLE partial_chunks (
        hash BLOB NOT NULL,
        offset INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (hash, offset)
    );
    CREATE TABLE missing_blobs (hash BLOB PRIMARY KEY);
    -- bodies of purged messages, kept a while for a concurrent change still on its way
    CREATE TABLE retired_blobs (hash BLOB PRIMARY KEY, since INTEGER NOT NULL);
    CREATE INDEX retired_by_age ON retired_blobs(since);
    CREATE TABLE conflicts (id TEXT PRIMARY KEY, item BLOB NOT NULL);
    CREATE INDEX conflicts_by_item ON conflicts(item);
    CREATE TABLE peers (id INTEGER PRIMARY KEY, state BLOB NOT NULL);
    -- blobs sent or to send to a peer: `have` is how far it has them (as far as we know);
    -- a finished row stays, so a blob is pushed to a peer once, not at every flag change
    CREATE TABLE peer_blobs (
        peer INTEGER NOT NULL,
        hash BLOB NOT NULL,
        have INTEGER NOT NULL,
        total INTEGER NOT NULL,
        served_at INTEGER,
        PRIMARY KEY (peer, hash)
    );
    CREATE INDEX peer_blobs_pending ON peer_blobs(peer) WHERE have < total;
    ",
    // 2: where the next list of wanted bodies starts, so long lists take turns.
    "
    CREATE TABLE wants_cursor (id INTEGER PRIMARY KEY CHECK (id = 0), hash BLOB NOT NULL);
    ",
    // 3: what changed in a mailbox since a modseq, without reading the whole mailbox.
    "
    CREATE INDEX entries_by_change ON entries(mailbox, modseq);
    ",
    // 4: what changed anywhere since a modseq (a message moved out of a mailbox is found by
    // its new row), and which forgotten tombstones were removed after it, so an IMAP view
    // follows the changes instead of re-reading its mailbox. `purged_entries` is local and
    // trimmed; below `meta.purge_log_floor` it no longer tells, and readers start afresh.
    "
    CREATE INDEX entries_by_modseq ON entries(modseq);
    CREATE TABLE purged_entries (id BLOB PRIMARY KEY, modseq INTEGER NOT NULL);
    CREATE INDEX purged_by_modseq ON purged_entries(modseq);
    ",
    // 5: message summaries (see `summary`), one per body, computed when the body is stored;
    // bodies stored before this version get theirs when the store is next opened.
    "
    -- The fields header SEARCH compares, lower case, beside the summary: a search reads one
    -- row per message without decoding a summary.
    CREATE TABLE summaries (
        blob BLOB PRIMARY KEY,
        version INTEGER NOT NULL,
        summary BLOB NOT NULL,
        subject TEXT NOT NULL,
        from_text TEXT NOT NULL,
        to_text TEXT NOT NULL,
        cc_text TEXT NOT NULL,
        bcc_text TEXT NOT NULL,
        sent INTEGER,
        sent_zone INTEGER
    );
    ",
    // 6: \Recent (RFC 3501 §2.3.2) is this replica's own, never replicated: per mailbox, the
    // highest UID some session has already been shown as recent. Mail already here when this
    // version came is not recent.
    "
    CREATE TABLE recent_horizons (mailbox BLOB PRIMARY KEY, uid INTEGER NOT NULL);
    INSERT INTO recent_horizons (mailbox, uid) SELECT id, max(uidnext - 1, 0) FROM mailboxes;
    ",
    // 7: the full-text index for SEARCH BODY and TEXT (see `replica::text_index`): one FTS5
    // row of lower-case decoded text per body; `doc` is that row, NULL for a text too large
    // to index. Searches are LIKE over trigrams, which need no token positions (detail =
    // none keeps the index a fraction of the size). Bodies wait in `text_pending` until they
    // are indexed, in batches, off the path that stored them.
    "
    CREATE VIRTUAL TABLE text_fts USING fts5(body, head, tokenize = 'trigram', detail = none);
    CREATE TABLE text_index (blob BLOB PRIMARY KEY, doc INTEGER, version INTEGER NOT NULL);
    CREATE TABLE text_pending (blob BLOB PRIMARY KEY);
    ",
    // 8: SORT's keys beside the search fields (summary version 2 carries them; every summary
    // is computed again when the store opens).
    "
    ALTER TABLE summaries ADD COLUMN from_mailbox TEXT NOT NULL DEFAULT '';
    ALTER TABLE summaries ADD COLUMN to_mailbox TEXT NOT NULL DEFAULT '';
    ALTER TABLE summaries ADD COLUMN cc_mailbox TEXT NOT NULL DEFAULT '';
    ALTER TABLE summaries ADD COLUMN from_display TEXT NOT NULL DEFAULT '';
    ALTER TABLE summaries ADD COLUMN to_display TEXT NOT NULL DEFAULT '';
    ",
    // 9: item states a peer sent that could not be taken (ill formed, or not mergeable with
    // ours: another kind, other fixed fields), kept aside with why and when, so the rest of
    // their bundle is applied and acknowledged. One row per item and peer, the latest.
    "
    CREATE TABLE quarantine (
        item BLOB NOT NULL,
        peer INTEGER NOT NULL,
        reason TEXT NOT NULL,
        state BLOB NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (item, peer)
    );
    CREATE INDEX quarantine_by_time ON quarantine(at);
    ",
    // 10: the purge log keeps what a forgotten entry's state had seen (CBOR version vector),
    // so a live copy that arrives later from a store restored from an older backup is
    // known for a stale one, and its sender told (see `replica::purge`).
    "
    ALTER TABLE purged_entries ADD COLUMN removal BLOB;
    ",
    // 11: replicas this store was told to forget (unpaired, replaced). One that comes back
    // under the same id is not taken again: it is told, at most once per retransmission
    // delay (`told_at`), to go on under a new id and relearn.
    "
    CREATE TABLE forgotten_peers (id INTEGER PRIMARY KEY, told_at INTEGER);
    ",
    // 12: the purge log keeps a forgotten entry's whole last state (CBOR), so a copy that
    // comes back with a change its removal never saw merges into that state instead of
    // being taken as new: its context would cover the forgotten removal's dot without
    // holding it (see `replica::purge`).
    "
    ALTER TABLE purged_entries ADD COLUMN tombstone BLOB;
    ",
];

/// Durability of a committed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsync at every commit: survives power loss. The default for daemons.
    Full,
    /// WAL written but not synced at commit: survives `kill -9` of the process (the OS still
    /// holds the pages), not a power cut. For simulations and benchmarks.
    Process,
}

pub fn configure(conn: &Connection, durability: Durability) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Process => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A write runs a few dozen distinct statements; re-parsing them was two fifths of an
    // APPEND's time with the default cache of 16.
    conn.set_prepared_statement_cache_capacity(256);
    // Reads of a whole mailbox (SEARCH, SORT, a first SELECT) walk every row: mapped pages
    // spare a read() and a copy per page, and a larger cache keeps a busy mailbox's tables
    // in memory. Both are caps, taken only as pages are used.
    conn.pragma_update(None, "mmap_size", 256i64 << 20)?;
    conn.pragma_update(None, "cache_size", -16_384i64)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

pub fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_store_is_brought_up_to_date_and_a_newer_one_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let has_cursor: bool = conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'wants_cursor')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(has_cursor);

        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(Error::SchemaTooNew { .. })
        ));
    }
}
