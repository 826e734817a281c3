//! A replica: one account's store on one host, and the only writer of its SQLite database.
//!
//! Every public operation runs in one SQLite transaction (`Replica::write`), which also keeps
//! the derived tables in step, renumbers UID clashes and purges acknowledged tombstones; a
//! call returns only after its commit, which is durable per `Durability`. The sync protocol
//! lives in `sync`, local IMAP-shaped operations in `ops`, reads in `read`, conflicts in
//! `resolve`; this module owns the connection, the clock and item persistence.

mod blobs;
mod derive;
mod ops;
mod peers;
mod purge;
mod quarantine;
mod read;
mod resolve;
mod search_cache;
mod sync;
mod text_index;

use crate::error::{Error, Result};
use crate::ids::{Dot, ItemId, MailboxId, ReplicaId};
use crate::item::{Body, ItemState, MailboxState, Removal, SpecialUse};
use crate::reg::Reg;
use crate::schema::{self, Durability};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeSet;
use std::path::Path;

pub use ops::{Appended, MAX_MESSAGE_BYTES, NewMessage};
pub use peers::PeerStatus;
pub use quarantine::Quarantined;
pub use read::{EntryChange, EntryInfo, MailboxCounts, MailboxInfo, Placed, StoreStats};
pub use resolve::{Choice, Conflict, ConflictKind};
pub use sync::{Report, SyncSettings};
pub use text_index::TextScope;

/// How to open a replica's store.
#[derive(Clone, Debug)]
pub struct ReplicaOptions {
    /// The identity given to a *new* store (pick it at random); an existing store keeps its own.
    pub id_if_new: ReplicaId,
    /// Shared by every replica of one account, so that the mailboxes each creates at genesis
    /// (INBOX, Sent, …) are the same items with the same UIDVALIDITY everywhere.
    pub account_seed: u64,
    pub durability: Durability,
    pub sync: SyncSettings,
    /// The identity the store takes if its file turns out to be a copy (restored from a
    /// backup, cloned to another disk): pick it at random. Without one, a copy keeps its id.
    pub id_if_copied: Option<ReplicaId>,
    /// A *new* store stands in for one that was lost (its file deleted or gone with a disk)
    /// while it had peers: it is relearning until a first peer has caught it up, and until
    /// then is not shown to clients (an empty mailbox under the UIDVALIDITY they cached reads
    /// as everything expunged).
    pub relearn_if_new: bool,
    /// The id of the lost store a *new* one stands in for: bundles peers still address to
    /// it carry states worth taking (though their acknowledgements mean nothing here).
    pub replaces: Option<ReplicaId>,
}

impl ReplicaOptions {
    pub fn new(id_if_new: ReplicaId, account_seed: u64) -> Self {
        ReplicaOptions {
            id_if_new,
            account_seed,
            durability: Durability::Full,
            sync: SyncSettings::default(),
            id_if_copied: None,
            relearn_if_new: false,
            replaces: None,
        }
    }
}

pub struct Replica {
    conn: Connection,
    me: ReplicaId,
    account_seed: u64,
    /// Highest modification sequence / dot counter used; persisted with every commit.
    clock: u64,
    settings: SyncSettings,
    /// The id to go on under if a peer shows this store is older than the history it knows
    /// of it (`ReplicaOptions::id_if_copied`, while not taken at open).
    spare_id: Option<ReplicaId>,
    /// See `relearning`; the `meta` row is the truth, this its copy.
    relearning: bool,
    search_cache: search_cache::SearchTextCache,
    /// Held for the life of the replica: the OS releases it when the process dies.
    _writer_lock: Option<std::fs::File>,
}

/// The well-known mailboxes every replica of an account creates alike at genesis.
pub const INBOX_ID: MailboxId = ItemId(Dot {
    counter: 1,
    replica: ReplicaId::GENESIS,
});
fn genesis_mailboxes() -> impl Iterator<Item = (u64, &'static str, Option<SpecialUse>)> {
    std::iter::once((1, "INBOX", None)).chain(
        SpecialUse::ALL
            .into_iter()
            .zip(2..)
            .map(|(s, n)| (n, s.default_name(), Some(s))),
    )
}

impl Replica {
    /// Opens (or creates) the store at `path`. A store has one writer: a second `open` of the
    /// same file, from this process or another, fails with `Error::Locked` while this one lives.
    pub fn open(path: &Path, options: ReplicaOptions) -> Result<Replica> {
        let lock = Self::hold(path)?;
        crate::private_files::database(path).map_err(io_error(path))?;
        let conn = Connection::open(path)?;
        let id_if_copied = options.id_if_copied;
        let mut replica = Self::init(conn, options, Some(lock))?;
        replica.check_file_identity(path, id_if_copied)?;
        Ok(replica)
    }

    /// Records which file the store is (device, inode, birth time), and takes on `fresh`
    /// as its id if it is a copy.
    fn record_file_identity(
        &mut self,
        dev: i64,
        ino: i64,
        born: Option<i64>,
        fresh: Option<ReplicaId>,
    ) -> Result<()> {
        let former = self.me;
        self.write(|tx| {
            let born = born.map(|b| ("file_born", b));
            for (key, value) in [("file_dev", dev), ("file_ino", ino)]
                .into_iter()
                .chain(born)
            {
                tx.sql
                    .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
                    .execute(params![key, value])?;
            }
            if let Some(fresh) = fresh {
                sync::reincarnate(tx, former, fresh)?;
            }
            Ok(())
        })
    }

    /// Takes the store's writer lock without opening it (`Error::Locked` while another
    /// writer lives), for as long as the file handle is kept.
    pub fn hold(path: &Path) -> Result<std::fs::File> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = Path::new(&lock_path);
        crate::private_files::file(lock_path).map_err(io_error(lock_path))?;
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .open(lock_path)
            .map_err(io_error(lock_path))?;
        lock.try_lock()
            .map_err(|_| Error::Locked(path.display().to_string()))?;
        Ok(lock)
    }

    /// A store file is where it was made, or a copy of it: restored from a backup, or cloned
    /// to another disk or machine. A copy holds an older (or the same) state as its original,
    /// whose replica id the peers know with changes the copy never saw; writing on under
    /// that id would reuse dots the peers hold for other changes. So a copy takes a new id,
    /// and offers every change again to every peer (they drop what they have). The file's
    /// device and inode tell a copy: a restore, `cp` or `rsync` writes a new file.
    fn check_file_identity(&mut self, path: &Path, id_if_copied: Option<ReplicaId>) -> Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
            let (dev, ino) = (meta.dev() as i64, meta.ino() as i64);
            // A file deleted and restored in place can get the same inode number back; its
            // birth time tells it apart, where the filesystem keeps one.
            let born = meta
                .created()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos().min(i64::MAX as u128) as i64);
            let stored = (
                meta_get(&self.conn, "file_dev")?,
                meta_get(&self.conn, "file_ino")?,
            );
            let stored_born = meta_get(&self.conn, "file_born")?;
            let same_birth = match (stored_born, born) {
                (Some(then), Some(now)) => then == now,
                _ => true,
            };
            let copied = match stored {
                (Some(d), Some(i)) if (d, i) == (dev, ino) && same_birth => {
                    if stored_born.is_none() && born.is_some() {
                        // Recorded before birth times were: add it now.
                        self.record_file_identity(dev, ino, born, None)?;
                    }
                    return Ok(());
                }
                (Some(_), Some(_)) => true,
                // Stores from before this check: take them as they are.
                _ => false,
            };
            let fresh = match (copied, id_if_copied) {
                (true, Some(fresh)) if fresh != self.me && fresh != ReplicaId::GENESIS => {
                    Some(fresh)
                }
                // No new id to take: leave the mark as it was, so the next opener that has
                // one still sees a copy.
                (true, _) => return Ok(()),
                (false, _) => None,
            };
            self.record_file_identity(dev, ino, born, fresh)?;
            if let Some(fresh) = fresh {
                self.me = fresh;
                self.spare_id = None;
                self.refresh_relearning()?;
            }
        }
        Ok(())
    }

    /// Opens a store for reading beside its writer (status, conflict listings): no lock is
    /// taken and every write through it fails. The store must exist at this build's schema.
    pub fn open_read_only(path: &Path) -> Result<Replica> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found != schema::SCHEMA_VERSION {
            return Err(Error::Corrupt(format!(
                "store is at schema version {found}, this build reads {}; let the daemon open it first",
                schema::SCHEMA_VERSION
            )));
        }
        let me = meta_get(&conn, "replica_id")?
            .ok_or_else(|| Error::Corrupt("store has no replica id".into()))?;
        Ok(Replica {
            me: ReplicaId(me as u64),
            account_seed: meta_get(&conn, "account_seed")?.unwrap_or(0) as u64,
            clock: meta_get(&conn, "clock")?.unwrap_or(0) as u64,
            settings: SyncSettings::default(),
            spare_id: None,
            relearning: meta_get(&conn, "relearning")?.is_some(),
            search_cache: Default::default(),
            conn,
            _writer_lock: None,
        })
    }

    pub fn open_in_memory(options: ReplicaOptions) -> Result<Replica> {
        Self::init(Connection::open_in_memory()?, options, None)
    }

    fn init(
        mut conn: Connection,
        options: ReplicaOptions,
        writer_lock: Option<std::fs::File>,
    ) -> Result<Replica> {
        schema::configure(&conn, options.durability)?;
        schema::migrate(&mut conn)?;
        blobs::summarize_missing(&mut conn)?;
        text_index::queue_missing(&mut conn)?;
        let stored_id = meta_get(&conn, "replica_id")?;
        let mut replica = Replica {
            me: stored_id.map_or(options.id_if_new, |v| ReplicaId(v as u64)),
            account_seed: meta_get(&conn, "account_seed")?
                .map_or(options.account_seed, |v| v as u64),
            clock: meta_get(&conn, "clock")?.unwrap_or(0) as u64,
            settings: options.sync,
            relearning: meta_get(&conn, "relearning")?.is_some(),
            spare_id: options.id_if_copied.filter(|id| {
                *id != ReplicaId::GENESIS && Some(*id) != stored_id.map(|v| ReplicaId(v as u64))
            }),
            search_cache: Default::default(),
            conn,
            _writer_lock: writer_lock,
        };
        if replica.me == ReplicaId::GENESIS {
            return Err(Error::Corrupt("replica id 0 is reserved".into()));
        }
        if stored_id.is_none() {
            replica.genesis(options.relearn_if_new, options.replaces)?;
            replica.refresh_relearning()?;
        }
        Ok(replica)
    }

    fn genesis(&mut self, relearn: bool, replaces: Option<ReplicaId>) -> Result<()> {
        let seed = self.account_seed;
        let me = self.me;
        self.write(|tx| {
            if relearn {
                peers::wait_for_a_first_peer(tx)?;
            }
            if let Some(lost) = replaces.filter(|lost| *lost != me) {
                tx.sql
                    .prepare_cached("INSERT INTO meta VALUES ('former_replica_id', ?1)")?
                    .execute([lost.0 as i64])?;
            }
            tx.sql
                .prepare_cached("INSERT INTO meta VALUES ('replica_id', ?1)")?
                .execute([me.0 as i64])?;
            tx.sql
                .prepare_cached("INSERT INTO meta VALUES ('account_seed', ?1)")?
                .execute([seed as i64])?;
            for (counter, name, special) in genesis_mailboxes() {
                let dot = Dot::new(ReplicaId::GENESIS, counter);
                let state = new_mailbox_state(dot, seed, name, special);
                tx.save(&state, None)?;
            }
            Ok(())
        })
    }

    pub fn id(&self) -> ReplicaId {
        self.me
    }

    /// Whether the store lost history and is catching up with its peers: restored from a
    /// backup or a snapshot, or made anew for an account it served. Until it has every
    /// peer's changes up to what the peer had when first heard from, it is not to be shown
    /// to clients or given new mail (it would show an older mailbox under the UIDVALIDITY
    /// they cached, and hand out UIDs the peers gave to other messages).
    pub fn relearning(&self) -> bool {
        self.relearning
    }

    fn refresh_relearning(&mut self) -> Result<()> {
        self.relearning = meta_get(&self.conn, "relearning")?.is_some();
        Ok(())
    }

    /// Highest modification sequence of this replica (CONDSTORE's HIGHESTMODSEQ).
    pub fn highest_modseq(&self) -> u64 {
        self.clock
    }

    /// Run `f` in one transaction, settle derived state, and commit durably.
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let sql = self.conn.transaction()?;
        let mut tx = Tx::new(sql, self.me, self.clock);
        let out = f(&mut tx)?;
        derive::settle(&mut tx)?;
        let clock = tx.clock;
        if clock != self.clock {
            tx.sql
                .prepare_cached("INSERT OR REPLACE INTO meta VALUES ('clock', ?1)")?
                .execute([clock as i64])?;
        }
        tx.sql.commit()?;
        self.clock = clock;
        Ok(out)
    }

    /// Housekeeping a daemon runs now and then (sync calls it too): forget tombstones every
    /// peer has acknowledged, and drop bodies retired longer than the configured time.
    pub fn maintain(&mut self, now_ms: u64) -> Result<()> {
        let keep = self.settings.keep_expunged_bodies_ms;
        self.write(|tx| maintain(tx, now_ms, keep))
    }

    /// A transaction for reading consistently across several queries; dropped, not committed.
    pub(crate) fn read_tx(&mut self) -> Result<Tx<'_>> {
        Ok(Tx::new(self.conn.transaction()?, self.me, self.clock))
    }

    /// SQLite's own check of the database file.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .prepare_cached("PRAGMA integrity_check")?
            .query_row([], |r| r.get(0))?)
    }
}

pub(crate) fn maintain(tx: &mut Tx<'_>, now_ms: u64, keep_expunged_bodies_ms: u64) -> Result<()> {
    purge::purge_acknowledged_tombstones(tx, now_ms)?;
    blobs::drop_retired(tx, now_ms, keep_expunged_bodies_ms)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |e| Error::Io(format!("{path}: {e}"))
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// UIDVALIDITY for a mailbox: fixed by its creating dot and the account, so every replica
/// computes the same one and a re-created name gets a different one.
fn uidvalidity_for(dot: Dot, account_seed: u64) -> u32 {
    let mut h = blake3::Hasher::new();
    h.update(&account_seed.to_be_bytes());
    h.update(&dot.replica.0.to_be_bytes());
    h.update(&dot.counter.to_be_bytes());
    let b = h.finalize();
    let v = u32::from_be_bytes([
        b.as_bytes()[0],
        b.as_bytes()[1],
        b.as_bytes()[2],
        b.as_bytes()[3],
    ]);
    (v >> 1).max(1)
}

fn new_mailbox_state(
    dot: Dot,
    account_seed: u64,
    name: &str,
    special: Option<SpecialUse>,
) -> ItemState {
    ItemState {
        id: ItemId(dot),
        ctx: [dot].into_iter().collect(),
        body: Body::Mailbox(MailboxState {
            uidvalidity: uidvalidity_for(dot, account_seed),
            imported_uidvalidity: Reg::default(),
            uidnext: 1,
            name: Reg::new(dot, name.to_string()),
            subscribed: Reg::new(dot, true),
            special_use: Reg::new(dot, special),
            removal: Reg::new(dot, Removal::Kept),
        }),
    }
}

/// One write transaction and what it has touched, so derived state is settled once at the end.
pub(crate) struct Tx<'c> {
    pub(crate) sql: rusqlite::Transaction<'c>,
    pub(crate) me: ReplicaId,
    pub(crate) clock: u64,
    touched_entries: BTreeSet<ItemId>,
    touched_mailboxes: BTreeSet<ItemId>,
    names_dirty: bool,
    /// Entries that took a new place in this transaction.
    arrived: BTreeSet<ItemId>,
    /// Each mailbox's UIDNEXT as clients could see it before this transaction.
    uidnext_before: std::collections::HashMap<MailboxId, Option<u32>>,
}

impl<'c> Tx<'c> {
    fn new(sql: rusqlite::Transaction<'c>, me: ReplicaId, clock: u64) -> Tx<'c> {
        Tx {
            sql,
            me,
            clock,
            touched_entries: BTreeSet::new(),
            touched_mailboxes: BTreeSet::new(),
            names_dirty: false,
            arrived: BTreeSet::new(),
            uidnext_before: Default::default(),
        }
    }
}

impl Tx<'_> {
    pub(crate) fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// A fresh dot for a local write.
    pub(crate) fn dot(&mut self) -> Dot {
        Dot::new(self.me, self.tick())
    }

    pub(crate) fn load(&self, id: ItemId) -> Result<Option<ItemState>> {
        let bytes: Option<Vec<u8>> = self
            .sql
            .prepare_cached("SELECT state FROM items WHERE id = ?1")?
            .query_row([id.to_bytes()], |r| r.get(0))
            .optional()?;
        bytes.map(|b| decode_state(&b, id)).transpose()
    }

    pub(crate) fn load_mailbox(&self, id: MailboxId) -> Result<ItemState> {
        match self.load(id)? {
            Some(st) if st.as_mailbox().is_some() => Ok(st),
            Some(_) => Err(Error::WrongKind(id)),
            None => Err(Error::NoSuchMailboxId(id)),
        }
    }

    pub(crate) fn load_entry(&self, id: ItemId) -> Result<ItemState> {
        match self.load(id)? {
            Some(st) if st.as_entry().is_some() => Ok(st),
            Some(_) => Err(Error::WrongKind(id)),
            None => Err(Error::NoSuchEntry(id)),
        }
    }

    /// Store a new state of an item under a fresh modseq. `origin`: the peer this exact state
    /// came from, which therefore need not be sent it back.
    pub(crate) fn save(&mut self, state: &ItemState, origin: Option<ReplicaId>) -> Result<u64> {
        let modseq = self.tick();
        let mut bytes = Vec::new();
        ciborium::into_writer(state, &mut bytes).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.sql
            .prepare_cached(
                "INSERT INTO items (id, modseq, origin, state) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET modseq = ?2, origin = ?3, state = ?4",
            )?
            .execute(params![
                state.id.to_bytes(),
                modseq as i64,
                origin.map(|o| o.0 as i64),
                bytes
            ])?;
        match &state.body {
            Body::Entry(_) => {
                derive::entry_row(self, state, modseq)?;
                self.touched_entries.insert(state.id);
            }
            Body::Mailbox(_) => {
                self.touched_mailboxes.insert(state.id);
            }
        }
        Ok(modseq)
    }
}

pub(crate) fn decode_state(bytes: &[u8], id: ItemId) -> Result<ItemState> {
    let st: ItemState =
        ciborium::from_reader(bytes).map_err(|e| Error::Corrupt(format!("item {id}: {e}")))?;
    if st.id != id {
        return Err(Error::Corrupt(format!(
            "item {id} holds the state of {}",
            st.id
        )));
    }
    Ok(st)
}
