//! Reads: what an IMAP front-end lists and fetches. Reads see only committed state and the
//! derived tables, never undecided internals.

use super::Replica;
use crate::error::{Error, Result};
use crate::ids::{BlobHash, EntryId, ItemId, MailboxId};
use rusqlite::{OptionalExtension, Row, params};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxInfo {
    pub id: MailboxId,
    /// The name users see (a clashing name is shown with the mailbox id appended).
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub subscribed: bool,
    /// The RFC 6154 attribute, e.g. `\Sent`.
    pub special_use: Option<String>,
    pub modseq: u64,
}

/// STATUS's counts of one mailbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxCounts {
    pub messages: u64,
    pub unseen: u64,
    pub deleted: u64,
    pub deleted_bytes: u64,
    /// Above the replica's `\Recent` horizon: not yet shown as recent to any session.
    pub recent: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    pub id: EntryId,
    pub mailbox: MailboxId,
    pub uid: u32,
    pub flags: Vec<String>,
    pub size: u64,
    pub internal_date: i64,
    pub date_offset_minutes: i16,
    pub blob: BlobHash,
    pub modseq: u64,
}

/// Where an entry found by id stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    Live,
    /// Expunged (or never placed); the row is a tombstone until every peer has it.
    Removed,
}

/// One entry's change since a modseq, as a reader following a mailbox needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryChange {
    /// Live now, in `mailbox` at `uid` (perhaps not the mailbox the reader follows).
    Live(EntryInfo),
    /// Expunged, or forgotten after being expunged.
    Gone(EntryId),
}

const MAILBOX_COLUMNS: &str =
    "id, shown_name, uidvalidity, uidnext, subscribed, special_use, modseq";
const ENTRY_COLUMNS: &str =
    "id, mailbox, uid, flags, size, internal_date, date_offset, blob, modseq";

fn mailbox_row(r: &Row<'_>) -> rusqlite::Result<(Vec<u8>, MailboxInfo)> {
    let id: Vec<u8> = r.get(0)?;
    Ok((
        id.clone(),
        MailboxInfo {
            id: ItemId::from_bytes(&id).unwrap_or(super::INBOX_ID),
            name: r.get(1)?,
            uidvalidity: r.get(2)?,
            uidnext: r.get(3)?,
            subscribed: r.get(4)?,
            special_use: r.get(5)?,
            modseq: r.get::<_, i64>(6)? as u64,
        },
    ))
}

fn entry_row(r: &Row<'_>) -> rusqlite::Result<Option<EntryInfo>> {
    // Borrowed, not copied: SELECT reads every row of a mailbox through here.
    let blob_at = |i: usize| r.get_ref(i).map(|v| v.as_blob().ok());
    let (Some(id), Some(mailbox), Some(blob)) = (
        blob_at(0)?.and_then(ItemId::from_bytes),
        blob_at(1)?.and_then(ItemId::from_bytes),
        blob_at(7)?.and_then(|b| <[u8; 32]>::try_from(b).ok()),
    ) else {
        return Ok(None);
    };
    let flags = r.get_ref(3)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Some(EntryInfo {
        id,
        mailbox,
        uid: r.get(2)?,
        flags: flags.split_whitespace().map(str::to_string).collect(),
        size: r.get::<_, i64>(4)? as u64,
        internal_date: r.get(5)?,
        date_offset_minutes: r.get(6)?,
        blob: BlobHash(blob),
        modseq: r.get::<_, i64>(8)? as u64,
    }))
}

impl Replica {
    /// Live mailboxes, by name.
    pub fn mailboxes(&self) -> Result<Vec<MailboxInfo>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE removed = 0 ORDER BY shown_name"
        ))?;
        let rows = stmt.query_map([], mailbox_row)?;
        Ok(rows.map(|r| r.map(|(_, m)| m)).collect::<Result<_, _>>()?)
    }

    pub fn mailbox(&self, name: &str) -> Result<Option<MailboxInfo>> {
        let name = crate::names::normalize(name);
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE removed = 0 AND shown_name = ?1"
        ))?;
        Ok(stmt
            .query_row([name], mailbox_row)
            .optional()?
            .map(|(_, m)| m))
    }

    pub fn mailbox_named(&self, name: &str) -> Result<MailboxInfo> {
        self.mailbox(name)?
            .ok_or_else(|| Error::NoSuchMailbox(name.to_string()))
    }

    /// The messages of a mailbox, in UID order.
    pub fn entries(&self, mailbox: MailboxId) -> Result<Vec<EntryInfo>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries
             WHERE mailbox = ?1 AND removed = 0 AND uid IS NOT NULL ORDER BY uid"
        ))?;
        let rows = stmt.query_map([mailbox.to_bytes()], entry_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row?);
        }
        Ok(out)
    }

    /// What STATUS reports of a mailbox, counted by SQLite in one pass without building the
    /// entries: `recent` counts UIDs above `recent_horizon`.
    pub fn mailbox_counts(&self, mailbox: MailboxId, recent_horizon: u32) -> Result<MailboxCounts> {
        // Flags are stored space-separated; padding with spaces makes a whole-word match.
        let mut stmt = self.conn.prepare_cached(
            "SELECT count(*),
                    coalesce(sum((' ' || flags || ' ') NOT LIKE '% \\Seen %'), 0),
                    coalesce(sum((' ' || flags || ' ') LIKE '% \\Deleted %'), 0),
                    coalesce(sum(CASE WHEN (' ' || flags || ' ') LIKE '% \\Deleted %'
                                 THEN size ELSE 0 END), 0),
                    coalesce(sum(uid > ?2), 0)
             FROM entries WHERE mailbox = ?1 AND removed = 0 AND uid IS NOT NULL",
        )?;
        let counts = stmt.query_row(params![mailbox.to_bytes(), recent_horizon], |r| {
            let count = |i: usize| r.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
            Ok(MailboxCounts {
                messages: count(0)?,
                unseen: count(1)?,
                deleted: count(2)?,
                deleted_bytes: count(3)?,
                recent: count(4)?,
            })
        })?;
        Ok(counts)
    }

    /// The messages of a mailbox whose state changed after `modseq`, in UID order
    /// (CONDSTORE's `CHANGEDSINCE`).
    pub fn entries_changed_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Vec<EntryInfo>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries
             WHERE mailbox = ?1 AND modseq > ?2 AND removed = 0 AND uid IS NOT NULL ORDER BY uid"
        ))?;
        let rows = stmt.query_map(params![mailbox.to_bytes(), modseq as i64], entry_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row?);
        }
        Ok(out)
    }

    pub fn entry(&self, id: EntryId) -> Result<Option<EntryInfo>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?1 AND removed = 0 AND uid IS NOT NULL"
        ))?;
        Ok(stmt
            .query_row([id.to_bytes()], entry_row)
            .optional()?
            .flatten())
    }

    /// The whole message.
    pub fn message(&self, id: EntryId) -> Result<Vec<u8>> {
        self.message_range(id, 0, u64::MAX)
    }

    /// `len` bytes of the message from `offset` (fewer at the end).
    pub fn message_range(&self, id: EntryId, offset: u64, len: u64) -> Result<Vec<u8>> {
        let entry = self.entry(id)?.ok_or(Error::NoSuchEntry(id))?;
        super::blobs::read_range(&self.conn, entry.blob, offset, len)?
            .ok_or_else(|| Error::BlobMissing(format!("{:?}", entry.blob)))
    }

    /// The live messages of a mailbox with UIDs from `low` to `high`, in UID order.
    pub fn entries_in_uid_range(
        &self,
        mailbox: MailboxId,
        low: u32,
        high: u32,
    ) -> Result<Vec<EntryInfo>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries
             WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3 AND removed = 0 ORDER BY uid"
        ))?;
        let rows = stmt.query_map(params![mailbox.to_bytes(), low, high], entry_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row?);
        }
        Ok(out)
    }

    /// An entry wherever it is now: live in a mailbox, or expunged and not yet forgotten (then
    /// `Placed::Removed`, with the last place it had, UID 0 if it never had one).
    pub fn entry_anywhere(&self, id: EntryId) -> Result<Option<(EntryInfo, Placed)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, mailbox, coalesce(uid, 0), flags, size, internal_date, date_offset, blob,
                    modseq, removed = 0 AND uid IS NOT NULL
             FROM entries WHERE id = ?1",
        )?;
        let found = stmt
            .query_row([id.to_bytes()], |r| {
                let live: bool = r.get(9)?;
                Ok(entry_row(r)?.map(|e| (e, if live { Placed::Live } else { Placed::Removed })))
            })
            .optional()?;
        Ok(found.flatten())
    }

    /// Every entry whose state changed after `modseq`, wherever it is now, and the entries
    /// forgotten since that had been removed after it; `None` when the purge log no longer
    /// reaches back that far (read the mailbox afresh then).
    pub fn entry_changes_since(&self, modseq: u64) -> Result<Option<Vec<EntryChange>>> {
        let floor = super::meta_get(&self.conn, "purge_log_floor")?.unwrap_or(0);
        if (modseq as i64) < floor {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, mailbox, coalesce(uid, 0), flags, size, internal_date, date_offset, blob,
                    modseq, removed = 0 AND uid IS NOT NULL
             FROM entries WHERE modseq > ?1 ORDER BY modseq",
        )?;
        let rows = stmt.query_map([modseq as i64], |r| {
            let live: bool = r.get(9)?;
            Ok(entry_row(r)?.map(|e| {
                if live {
                    EntryChange::Live(e)
                } else {
                    EntryChange::Gone(e.id)
                }
            }))
        })?;
        for row in rows {
            out.extend(row?);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM purged_entries WHERE modseq > ?1")?;
        let rows = stmt.query_map([modseq as i64], |r| r.get::<_, Vec<u8>>(0))?;
        for row in rows {
            if let Some(id) = ItemId::from_bytes(&row?) {
                out.push(EntryChange::Gone(id));
            }
        }
        Ok(Some(out))
    }

    /// The summary of a body this replica holds; `None` while the body has not arrived.
    pub fn summary(&self, hash: BlobHash) -> Result<Option<crate::summary::Summary>> {
        let stored: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT summary FROM summaries WHERE blob = ?1 AND version = ?2")?
            .query_row(params![hash.0, crate::summary::SUMMARY_VERSION], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(summary) = stored.and_then(|s| crate::summary::Summary::decode(&s).ok()) {
            return Ok(Some(summary));
        }
        // Not stored (or unreadable): it is a function of the body, so compute it.
        Ok(super::blobs::read_range(&self.conn, hash, 0, u64::MAX)?
            .map(|bytes| crate::summary::Summary::of(&bytes)))
    }

    /// The search and sort fields of the given entries, from the in-memory cache where it
    /// has them. A cold cache is filled with one read of the mailbox's rows; an entry the
    /// mailbox no longer holds (a message that left but is still shown) is read alone.
    pub fn search_texts(
        &mut self,
        mailbox: MailboxId,
        entries: &[(EntryId, BlobHash)],
    ) -> Result<crate::summary::TextsById> {
        /// Past this many misses, one walk of the mailbox beats a lookup per body.
        const BULK_AFTER: usize = 32;
        let misses = entries
            .iter()
            .filter(|(_, blob)| !self.search_cache.contains(blob))
            .count();
        if misses > BULK_AFTER {
            self.cache_mailbox_texts(mailbox)?;
        }
        let mut out = crate::summary::TextsById::default();
        for (id, blob) in entries {
            let text = match self.search_cache.get(blob) {
                Some(text) => Some(text.clone()),
                None => self
                    .body_search_text(*blob)?
                    .map(|text| self.search_cache.insert(*blob, text)),
            };
            if let Some(text) = text {
                out.insert(*id, text);
            }
        }
        Ok(out)
    }

    /// Reads the search fields of up to `batch` of the mailbox's bodies above UID `after`
    /// into memory, so the first search after a SELECT finds them; the caller lets go of the
    /// store between batches. Returns where the next batch starts, or `None` once the whole
    /// mailbox is in (at once, when it was since the cache last started again).
    pub fn fill_search_texts(
        &mut self,
        mailbox: MailboxId,
        after: u32,
        batch: usize,
    ) -> Result<Option<u32>> {
        if self.search_cache.is_filled(mailbox) {
            return Ok(None);
        }
        let last = self.cache_texts_above(mailbox, after, Some(batch))?;
        if last.is_none() {
            self.search_cache.mark_filled(mailbox);
        }
        Ok(last)
    }

    fn cache_mailbox_texts(&mut self, mailbox: MailboxId) -> Result<()> {
        self.cache_texts_above(mailbox, 0, None)?;
        self.search_cache.mark_filled(mailbox);
        Ok(())
    }

    /// Caches the texts of the mailbox's bodies above UID `after`, in UID order, at most
    /// `limit` rows; returns the last UID read when the limit cut the walk short.
    fn cache_texts_above(
        &mut self,
        mailbox: MailboxId,
        after: u32,
        limit: Option<usize>,
    ) -> Result<Option<u32>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT e.uid, s.blob, {SEARCH_TEXT_COLUMNS}
             FROM entries e JOIN summaries s ON s.blob = e.blob AND s.version = ?2
             WHERE e.mailbox = ?1 AND e.removed = 0 AND e.uid > ?3
             ORDER BY e.uid LIMIT ?4"
        ))?;
        // SQLite reads a negative LIMIT as none.
        let limit_sql = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut rows = stmt.query(params![
            mailbox.to_bytes(),
            crate::summary::SUMMARY_VERSION,
            after,
            limit_sql
        ])?;
        let (mut read, mut last_uid) = (0usize, after);
        while let Some(row) = rows.next()? {
            read += 1;
            last_uid = row.get(0)?;
            let Some(Ok(blob)) = row.get_ref(1)?.as_bytes().ok().map(<[u8; 32]>::try_from) else {
                continue;
            };
            let blob = BlobHash(blob);
            if !self.search_cache.contains(&blob) {
                self.search_cache
                    .insert(blob, search_text_from_row(row, 2)?);
            }
        }
        Ok(limit.filter(|&n| read >= n).map(|_| last_uid))
    }

    fn body_search_text(&self, blob: BlobHash) -> Result<Option<crate::summary::SearchText>> {
        let stored = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SEARCH_TEXT_COLUMNS} FROM summaries s WHERE s.blob = ?1 AND s.version = ?2"
            ))?
            .query_row(params![blob.0, crate::summary::SUMMARY_VERSION], |r| {
                search_text_from_row(r, 0)
            })
            .optional()?;
        match stored {
            Some(text) => Ok(Some(text)),
            None => Ok(self.summary(blob)?.map(|s| s.fields.search_text())),
        }
    }

    /// The first `len` bytes of a body (its header, say), without reading the rest.
    pub fn blob_prefix(&self, hash: BlobHash, len: u64) -> Result<Vec<u8>> {
        super::blobs::read_range(&self.conn, hash, 0, len)?
            .ok_or_else(|| Error::BlobMissing(format!("{hash:?}")))
    }

    /// The highest UID of a mailbox already shown as `\Recent` to some session here; above
    /// it, messages are recent to the next session that claims them.
    pub fn recent_horizon(&self, mailbox: MailboxId) -> Result<u32> {
        Ok(self
            .conn
            .prepare_cached("SELECT uid FROM recent_horizons WHERE mailbox = ?1")?
            .query_row([mailbox.to_bytes()], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    /// Claims the messages up to `upto` as recent for the calling session: returns the
    /// horizon before, so the session's recent messages are those above it. Local state, not
    /// an item: it is never replicated and takes no dot.
    pub fn claim_recent(&mut self, mailbox: MailboxId, upto: u32) -> Result<u32> {
        let before = self.recent_horizon(mailbox)?;
        if upto > before {
            self.conn
                .prepare_cached(
                    "INSERT INTO recent_horizons (mailbox, uid) VALUES (?1, ?2)
                     ON CONFLICT (mailbox) DO UPDATE SET uid = excluded.uid",
                )?
                .execute(params![mailbox.to_bytes(), upto])?;
        }
        Ok(before)
    }

    /// A stored body by its hash, whichever entry refers to it (or none any more).
    pub fn blob(&self, hash: BlobHash) -> Result<Vec<u8>> {
        super::blobs::read_range(&self.conn, hash, 0, u64::MAX)?
            .ok_or_else(|| Error::BlobMissing(format!("{hash:?}")))
    }

    pub fn has_blob(&self, hash: BlobHash) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM blobs WHERE hash = ?1)")?
            .query_row([hash.0], |r| r.get(0))?)
    }
}

/// Sizes of a store, for status screens and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub mailboxes: u64,
    pub messages: u64,
    /// Expunged messages not yet acknowledged by every peer.
    pub tombstones: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub missing_blobs: u64,
    pub conflicts: u64,
}

impl Replica {
    /// Bytes of the account's live messages, every copy counted (what QUOTA's STORAGE is).
    pub fn storage_used(&self) -> Result<u64> {
        let used: i64 = self
            .conn
            .prepare_cached(
                "SELECT coalesce(sum(size), 0) FROM entries WHERE removed = 0 AND uid IS NOT NULL",
            )?
            .query_row([], |r| r.get(0))?;
        Ok(u64::try_from(used).unwrap_or(0))
    }

    pub fn store_stats(&self) -> Result<StoreStats> {
        let count = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(StoreStats {
            mailboxes: count("SELECT count(*) FROM mailboxes WHERE removed = 0")?,
            messages: count("SELECT count(*) FROM entries WHERE removed = 0")?,
            tombstones: count("SELECT count(*) FROM entries WHERE removed = 1")?,
            blobs: count("SELECT count(*) FROM blobs")?,
            blob_bytes: count("SELECT coalesce(sum(length(data)), 0) FROM blobs")?,
            missing_blobs: count("SELECT count(*) FROM missing_blobs")?,
            conflicts: count("SELECT count(*) FROM conflicts")?,
        })
    }
}

/// The `summaries` columns a `SearchText` is read from, in `search_text_from_row`'s order.
const SEARCH_TEXT_COLUMNS: &str = "s.subject, s.from_text, s.to_text, s.cc_text, s.bcc_text, \
    s.sent, s.sent_zone, s.from_mailbox, s.to_mailbox, s.cc_mailbox, s.from_display, s.to_display";

fn search_text_from_row(
    r: &rusqlite::Row<'_>,
    first: usize,
) -> rusqlite::Result<crate::summary::SearchText> {
    let sent: Option<i64> = r.get(first + 5)?;
    let zone: Option<i16> = r.get(first + 6)?;
    Ok(crate::summary::SearchText {
        subject: r.get(first)?,
        from: r.get(first + 1)?,
        to: r.get(first + 2)?,
        cc: r.get(first + 3)?,
        bcc: r.get(first + 4)?,
        sent: sent.map(|s| (s, zone.unwrap_or(0))),
        from_mailbox: r.get(first + 7)?,
        to_mailbox: r.get(first + 8)?,
        cc_mailbox: r.get(first + 9)?,
        from_display: r.get(first + 10)?,
        to_display: r.get(first + 11)?,
        sort_subject: Default::default(),
    })
}
