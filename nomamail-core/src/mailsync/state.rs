//! `sync.db`: the host-level state of sync mail, beside the per-account replicas. Paired
//! peers (key, sync address, where to deliver), each peer's outgoing sequence counter and
//! replay filter, which replica serves each account there, the outbox of sealed mails not yet
//! handed to an MTA, and the rejects. Every change is one fsynced transaction.

use super::seal::PeerKey;
use super::seen::Seen;
use crate::ids::ReplicaId;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("sync state: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("sync state file {0}")]
    Io(String),
    #[error("sync state is corrupt: {0}")]
    Corrupt(String),
    #[error("a peer named {0} is already paired")]
    NameTaken(String),
    #[error("that key is already paired as {0}")]
    KeyTaken(String),
    #[error("no paired peer named {0}")]
    NoSuchPeer(String),
}

type Result<T, E = StateError> = std::result::Result<T, E>;

/// The longest a refused sync mail waits before it is tried again.
pub const MAX_SEND_RETRY_MS: u64 = 3_600_000;

/// A paired host as the admin entered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub key: PeerKey,
    /// Where its sync mail goes (an address its listener or mailbox receives).
    pub address: String,
    /// Its SMTP listener (`host:port`), for delivery straight to it when no relay is set.
    pub endpoint: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRecord {
    pub peer: Peer,
    pub paired_ms: u64,
    pub last_contact_ms: Option<u64>,
    pub mails_in: u64,
    pub mails_out: u64,
    pub rejects: u64,
    pub queued: u64,
    /// The accounts this pairing carries; `None`: every account.
    pub accounts: Option<Vec<String>>,
}

impl PeerRecord {
    /// Whether this pairing carries `user`: only those accounts are sent to the peer and
    /// taken from it.
    pub fn carries(&self, user: &str) -> bool {
        self.accounts
            .as_ref()
            .is_none_or(|list| list.iter().any(|a| a == user))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutMail {
    pub id: i64,
    pub peer: String,
    pub recipient: String,
    pub endpoint: Option<String>,
    pub mail: Vec<u8>,
    pub attempts: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub at_ms: u64,
    pub peer: Option<String>,
    pub reason: String,
}

/// Rejects kept for `status`; older ones are only counted.
const REJECT_LOG: i64 = 200;

pub struct SyncState {
    conn: Connection,
}

/// Sequence numbers that start from the time lie above any used before it, at a thousand
/// mails a millisecond.
fn first_seq(now_ms: u64) -> u64 {
    now_ms.saturating_mul(1000).clamp(1, i64::MAX as u64 / 2)
}

impl SyncState {
    /// Opens the state file. Our sequence numbers to each peer go on from the time if that
    /// is above where they stood: a state file restored from a backup would otherwise number
    /// new mail as mail the peer has already applied, and it would be refused as a replay.
    pub fn open(path: &Path) -> Result<SyncState> {
        crate::private_files::database(path)
            .map_err(|e| StateError::Io(format!("{}: {e}", path.display())))?;
        let conn = Connection::open(path)?;
        let state = Self::init(conn)?;
        state.conn.execute(
            "UPDATE peers SET next_seq = max(next_seq, ?1)",
            [first_seq(crate::wallclock::now_ms()) as i64],
        )?;
        Ok(state)
    }

    pub fn open_in_memory() -> Result<SyncState> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SyncState> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS peers (
                name TEXT PRIMARY KEY,
                key BLOB NOT NULL UNIQUE,
                address TEXT NOT NULL,
                endpoint TEXT,
                paired_ms INTEGER NOT NULL DEFAULT 0,
                next_seq INTEGER NOT NULL DEFAULT 1,
                seen BLOB,
                last_contact_ms INTEGER,
                mails_in INTEGER NOT NULL DEFAULT 0,
                mails_out INTEGER NOT NULL DEFAULT 0,
                rejects INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE IF NOT EXISTS peer_accounts (
                peer TEXT NOT NULL,
                account TEXT NOT NULL,
                replica INTEGER,
                hello_ms INTEGER,
                PRIMARY KEY (peer, account)
            );
            CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                peer TEXT NOT NULL,
                recipient TEXT NOT NULL,
                mail BLOB NOT NULL,
                created_ms INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_ms INTEGER NOT NULL,
                last_error TEXT
            );
            CREATE TABLE IF NOT EXISTS rejects (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at_ms INTEGER NOT NULL,
                peer TEXT,
                reason TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )?;
        // Added when a peer's replica became replaceable: the sequence number of the letter
        // that named the current one, so an older letter cannot name an earlier one back.
        let has_replica_seq: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('peer_accounts') WHERE name = 'replica_seq'")?
            .exists([])?;
        if !has_replica_seq {
            conn.execute(
                "ALTER TABLE peer_accounts ADD COLUMN replica_seq INTEGER NOT NULL DEFAULT 0",
                [],
            )?;
        }
        // Added with the trust model: the accounts a pairing carries, one per line (NULL:
        // all of them).
        let has_accounts: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('peers') WHERE name = 'accounts'")?
            .exists([])?;
        if !has_accounts {
            conn.execute("ALTER TABLE peers ADD COLUMN accounts TEXT", [])?;
        }
        Ok(SyncState { conn })
    }

    /// Pairs with `peer` at `now_ms`. Its mail sealed before then is refused (a re-pair
    /// forgets the replay filter, so old mail must not count as new), and our sequence
    /// numbers to it start from the time, so they stay above any from an earlier pairing.
    pub fn add_peer(&mut self, peer: &Peer, now_ms: u64) -> Result<()> {
        if let Some(existing) = self.peer_by_key(&peer.key)? {
            return Err(StateError::KeyTaken(existing.peer.name));
        }
        if self.peer(&peer.name)?.is_some() {
            return Err(StateError::NameTaken(peer.name.clone()));
        }
        let first_seq = first_seq(now_ms);
        self.conn.execute(
            "INSERT INTO peers (name, key, address, endpoint, paired_ms, next_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                peer.name,
                &peer.key.0[..],
                peer.address,
                peer.endpoint,
                now_ms as i64,
                first_seq as i64
            ],
        )?;
        Ok(())
    }

    /// Limits the pairing with `name` to `accounts` (`None`: every account, the default).
    pub fn set_accounts(&mut self, name: &str, accounts: Option<&[String]>) -> Result<()> {
        let text = accounts.map(|list| list.join("\n"));
        if self.conn.execute(
            "UPDATE peers SET accounts = ?2 WHERE name = ?1",
            params![name, text],
        )? == 0
        {
            return Err(StateError::NoSuchPeer(name.to_string()));
        }
        Ok(())
    }

    /// Forgets a peer: its mail is refused from now on, and its queued mail is dropped.
    /// Unpairs the peer. Returns, per account, the replica it had there: the stores must
    /// forget those, or their tombstones wait for it for ever.
    pub fn remove_peer(&mut self, name: &str) -> Result<Vec<(String, ReplicaId)>> {
        let tx = self.conn.transaction()?;
        let replicas = {
            let mut stmt = tx.prepare(
                "SELECT account, replica FROM peer_accounts
                 WHERE peer = ?1 AND replica IS NOT NULL ORDER BY account",
            )?;
            let rows = stmt.query_map([name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    ReplicaId(r.get::<_, i64>(1)? as u64),
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        if tx.execute("DELETE FROM peers WHERE name = ?1", [name])? == 0 {
            return Err(StateError::NoSuchPeer(name.to_string()));
        }
        tx.execute("DELETE FROM peer_accounts WHERE peer = ?1", [name])?;
        tx.execute("DELETE FROM outbox WHERE peer = ?1", [name])?;
        tx.commit()?;
        Ok(replicas)
    }

    const PEER_COLUMNS: &str = "name, key, address, endpoint, last_contact_ms, mails_in, \
         mails_out, rejects, (SELECT COUNT(*) FROM outbox WHERE outbox.peer = peers.name), \
         paired_ms, accounts";

    pub fn peers(&self) -> Result<Vec<PeerRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM peers ORDER BY name",
            Self::PEER_COLUMNS
        ))?;
        let rows = stmt.query_map([], peer_row)?;
        rows.map(|r| r?).collect()
    }

    pub fn peer(&self, name: &str) -> Result<Option<PeerRecord>> {
        self.conn
            .query_row(
                &format!("SELECT {} FROM peers WHERE name = ?1", Self::PEER_COLUMNS),
                [name],
                peer_row,
            )
            .optional()?
            .transpose()
    }

    pub fn peer_by_key(&self, key: &PeerKey) -> Result<Option<PeerRecord>> {
        self.conn
            .query_row(
                &format!("SELECT {} FROM peers WHERE key = ?1", Self::PEER_COLUMNS),
                [&key.0[..]],
                peer_row,
            )
            .optional()?
            .transpose()
    }

    /// Hands out the next sequence number for mail to `peer`; never the same one twice.
    pub fn take_seq(&mut self, peer: &str) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let seq: i64 = tx
            .query_row("SELECT next_seq FROM peers WHERE name = ?1", [peer], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| StateError::NoSuchPeer(peer.to_string()))?;
        tx.execute(
            "UPDATE peers SET next_seq = next_seq + 1 WHERE name = ?1",
            [peer],
        )?;
        tx.commit()?;
        Ok(seq as u64)
    }

    pub fn seen(&self, peer: &str) -> Result<Seen> {
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT seen FROM peers WHERE name = ?1", [peer], |r| {
                r.get(0)
            })
            .optional()?
            .flatten();
        match blob {
            None => Ok(Seen::default()),
            Some(bytes) => ciborium::from_reader(bytes.as_slice())
                .map_err(|e| StateError::Corrupt(format!("replay filter of {peer}: {e}"))),
        }
    }

    /// Records an applied mail: its sequence number joins the replay filter.
    pub fn record_received(&mut self, peer: &str, seq: u64, now_ms: u64) -> Result<()> {
        let mut seen = self.seen(peer)?;
        seen.insert(seq);
        let mut bytes = Vec::new();
        ciborium::into_writer(&seen, &mut bytes).map_err(|e| StateError::Corrupt(e.to_string()))?;
        self.conn.execute(
            "UPDATE peers SET seen = ?2, last_contact_ms = ?3, mails_in = mails_in + 1
             WHERE name = ?1",
            params![peer, bytes, now_ms as i64],
        )?;
        Ok(())
    }

    pub fn peer_replica(&self, peer: &str, account: &str) -> Result<Option<ReplicaId>> {
        Ok(self
            .peer_replica_since(peer, account)?
            .map(|(replica, _)| replica))
    }

    /// The peer's replica of the account, and the sequence number of the letter that first
    /// named it.
    pub fn peer_replica_since(
        &self,
        peer: &str,
        account: &str,
    ) -> Result<Option<(ReplicaId, u64)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT replica, replica_seq FROM peer_accounts WHERE peer = ?1 AND account = ?2",
                [peer, account],
                |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()?
            .and_then(|(replica, seq)| Some((ReplicaId(replica? as u64), seq as u64))))
    }

    /// Records that the peer's letter `seq` named `replica` as its replica of the account.
    pub fn set_peer_replica(
        &mut self,
        peer: &str,
        account: &str,
        replica: ReplicaId,
        seq: u64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO peer_accounts (peer, account, replica, replica_seq) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (peer, account) DO UPDATE SET replica = ?3, replica_seq = ?4",
            params![peer, account, replica.0 as i64, seq as i64],
        )?;
        Ok(())
    }

    pub fn last_hello(&self, peer: &str, account: &str) -> Result<Option<u64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT hello_ms FROM peer_accounts WHERE peer = ?1 AND account = ?2",
                [peer, account],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten()
            .map(|v| v as u64))
    }

    pub fn set_last_hello(&mut self, peer: &str, account: &str, now_ms: u64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO peer_accounts (peer, account, hello_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (peer, account) DO UPDATE SET hello_ms = ?3",
            params![peer, account, now_ms as i64],
        )?;
        Ok(())
    }

    pub fn enqueue(&mut self, peer: &Peer, mail: &[u8], now_ms: u64) -> Result<i64> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO outbox (peer, recipient, mail, created_ms, next_attempt_ms)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![peer.name, peer.address, mail, now_ms as i64],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE peers SET mails_out = mails_out + 1 WHERE name = ?1",
            [&peer.name],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Mail whose next attempt is due, oldest first. No retry is put off longer than
    /// `MAX_SEND_RETRY_MS`, so one set further ahead was set by a clock since stepped back:
    /// it is due now.
    pub fn due(&self, now_ms: u64, limit: usize) -> Result<Vec<OutMail>> {
        let mut stmt = self.conn.prepare(
            "SELECT outbox.id, outbox.peer, outbox.recipient, peers.endpoint, outbox.mail,
                    outbox.attempts
             FROM outbox JOIN peers ON peers.name = outbox.peer
             WHERE outbox.next_attempt_ms <= ?1 OR outbox.next_attempt_ms > ?1 + ?3
             ORDER BY outbox.id LIMIT ?2",
        )?;
        let now = now_ms.min(i64::MAX as u64 / 2) as i64;
        let rows = stmt.query_map(params![now, limit as i64, MAX_SEND_RETRY_MS as i64], |r| {
            Ok(OutMail {
                id: r.get(0)?,
                peer: r.get(1)?,
                recipient: r.get(2)?,
                endpoint: r.get(3)?,
                mail: r.get(4)?,
                attempts: r.get::<_, i64>(5)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn queued(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// The next attempt of any queued mail, if there is one.
    pub fn next_attempt(&self) -> Result<Option<u64>> {
        Ok(self
            .conn
            .query_row("SELECT MIN(next_attempt_ms) FROM outbox", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .map(|v| v as u64))
    }

    /// The MTA took the mail: it is its job now.
    pub fn sent(&mut self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn failed(&mut self, id: i64, error: &str, retry_at_ms: u64) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3
             WHERE id = ?1",
            params![id, error, retry_at_ms as i64],
        )?;
        Ok(())
    }

    /// Counts and logs a refused mail (`peer` when the sender is a paired host).
    pub fn reject(&mut self, peer: Option<&str>, reason: &str, now_ms: u64) -> Result<()> {
        let tx = self.conn.transaction()?;
        match peer {
            Some(name) => {
                tx.execute(
                    "UPDATE peers SET rejects = rejects + 1 WHERE name = ?1",
                    [name],
                )?;
            }
            None => {
                tx.execute(
                    "INSERT INTO counters VALUES ('unpaired', 1)
                     ON CONFLICT (name) DO UPDATE SET value = value + 1",
                    [],
                )?;
            }
        }
        tx.execute(
            "INSERT INTO rejects (at_ms, peer, reason) VALUES (?1, ?2, ?3)",
            params![now_ms as i64, peer, reason],
        )?;
        tx.execute(
            "DELETE FROM rejects WHERE id <= (SELECT MAX(id) FROM rejects) - ?1",
            [REJECT_LOG],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Mail refused because no paired host sent it (or it did not say who did).
    pub fn unpaired_rejects(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM counters WHERE name = 'unpaired'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .unwrap_or(0) as u64)
    }

    pub fn recent_rejects(&self, limit: usize) -> Result<Vec<Reject>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at_ms, peer, reason FROM rejects ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(Reject {
                at_ms: r.get::<_, i64>(0)? as u64,
                peer: r.get(1)?,
                reason: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn peer_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<PeerRecord>> {
    let key: Vec<u8> = r.get(1)?;
    let name: String = r.get(0)?;
    let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
        return Ok(Err(StateError::Corrupt(format!("key of peer {name}"))));
    };
    Ok(Ok(PeerRecord {
        peer: Peer {
            name,
            key: PeerKey(key),
            address: r.get(2)?,
            endpoint: r.get(3)?,
        },
        last_contact_ms: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
        mails_in: r.get::<_, i64>(5)? as u64,
        mails_out: r.get::<_, i64>(6)? as u64,
        rejects: r.get::<_, i64>(7)? as u64,
        queued: r.get::<_, i64>(8)? as u64,
        paired_ms: r.get::<_, i64>(9)? as u64,
        accounts: r
            .get::<_, Option<String>>(10)?
            .map(|text| text.lines().map(str::to_string).collect()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str, key: u8) -> Peer {
        Peer {
            name: name.into(),
            key: PeerKey([key; 32]),
            address: format!("sync@{name}.example"),
            endpoint: Some("127.0.0.1:2525".into()),
        }
    }

    #[test]
    fn peers_sequence_numbers_outbox_and_rejects() {
        let mut state = SyncState::open_in_memory().unwrap();
        state.add_peer(&peer("internet", 1), 0).unwrap();
        assert!(matches!(
            state.add_peer(&peer("other", 1), 0),
            Err(StateError::KeyTaken(_))
        ));
        assert!(matches!(
            state.add_peer(&peer("internet", 2), 0),
            Err(StateError::NameTaken(_))
        ));
        assert_eq!(state.take_seq("internet").unwrap(), 1);
        assert_eq!(state.take_seq("internet").unwrap(), 2);

        let id = state.enqueue(&peer("internet", 1), b"mail", 100).unwrap();
        assert_eq!(state.due(99, 10).unwrap(), vec![]);
        let due = state.due(100, 10).unwrap();
        assert_eq!(due[0].mail, b"mail");
        assert_eq!(due[0].recipient, "sync@internet.example");
        state.failed(id, "refused", 500).unwrap();
        assert_eq!(state.next_attempt().unwrap(), Some(500));
        assert_eq!(state.due(499, 10).unwrap().len(), 0);
        assert_eq!(state.due(500, 10).unwrap()[0].attempts, 1);
        // Set for later than any retry waits: the clock has since been stepped back.
        state
            .failed(id, "refused", 500 + MAX_SEND_RETRY_MS + 1)
            .unwrap();
        assert_eq!(state.due(499, 10).unwrap().len(), 1);
        assert_eq!(state.peer("internet").unwrap().unwrap().queued, 1);
        state.sent(id).unwrap();
        assert_eq!(state.queued().unwrap(), 0);

        state.record_received("internet", 4, 700).unwrap();
        assert!(state.seen("internet").unwrap().contains(4));
        state.reject(Some("internet"), "replayed", 800).unwrap();
        state.reject(None, "unpaired", 900).unwrap();
        let record = state.peer_by_key(&PeerKey([1; 32])).unwrap().unwrap();
        assert_eq!(
            (record.mails_in, record.rejects, record.last_contact_ms),
            (1, 1, Some(700))
        );
        assert_eq!(state.unpaired_rejects().unwrap(), 1);
        assert_eq!(state.recent_rejects(10).unwrap()[0].reason, "unpaired");

        state.set_last_hello("internet", "alice", 5).unwrap();
        assert_eq!(state.peer_replica("internet", "alice").unwrap(), None);
        state
            .set_peer_replica("internet", "alice", ReplicaId(77), 1)
            .unwrap();
        assert_eq!(
            state.peer_replica("internet", "alice").unwrap(),
            Some(ReplicaId(77))
        );
        assert_eq!(state.last_hello("internet", "alice").unwrap(), Some(5));
        state.remove_peer("internet").unwrap();
        assert!(state.peer_by_key(&PeerKey([1; 32])).unwrap().is_none());
    }
}
