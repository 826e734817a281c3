//! The accounts a host serves: user names, argon2 password hashes, and each account's own
//! replica (one SQLite store per account, with its replica id and account seed).
//!
//! Layout under the data directory: `accounts.db` (this module's table) and
//! `mail/<user>.db` (the account's replica). Passwords never touch the disk: only their
//! argon2id hashes (PHC strings, salt included) are stored, and verification costs the same
//! for an unknown user as for a known one, so timing does not tell which names exist.

use crate::ids::ReplicaId;
pub use crate::mailsync::AccountCard;
use crate::replica::{Replica, ReplicaOptions, SyncSettings};
use crate::schema::Durability;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use rusqlite::{Connection, OptionalExtension, params};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("accounts store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid user name {0:?}: use 1 to 64 letters, digits or . _ - @ +")]
    InvalidName(String),
    #[error("user {0} already exists")]
    Exists(String),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("the password is empty")]
    EmptyPassword,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error(
        "user {0} exists here with another mail store than on the paired server; remove one of them"
    )]
    SeedClash(String),
    #[error(
        "user {wanted} differs from the existing {existing} only in case: their mail store files \
         would be one on a case-insensitive filesystem; pick another name"
    )]
    CaseClash { wanted: String, existing: String },
    #[error("mail store of {user}: {source}")]
    Replica {
        user: String,
        source: Box<crate::Error>,
    },
    #[error(
        "user {user} came from the paired server with key {upstream}: its password is set there \
         (the server an account came from alone changes it)"
    )]
    NotHome { user: String, upstream: String },
    #[error(
        "the paired server made {limit} accounts here in the last day, its limit \
         (sync.max_new_accounts_per_day); {user} waits"
    )]
    TooManyNewAccounts { user: String, limit: u32 },
}

impl AccountError {
    /// The account's store is held by another writer (a running daemon).
    pub fn is_locked(&self) -> bool {
        matches!(self, AccountError::Replica { source, .. } if matches!(**source, crate::Error::Locked(_)))
    }
}

/// A password in memory: never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(text: impl Into<String>) -> Password {
        Password(text.into())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adopted {
    Created,
    PasswordChanged,
    Unchanged,
    /// The card's password differs and was not taken, for the reason given.
    PasswordRefused(&'static str),
}

/// How far ahead of our clock a paired server's password time may be: beyond it, a time set
/// far in the future would make that password win for ever.
pub const MAX_PASSWORD_TIME_SKEW_MS: u64 = 10 * 60 * 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    pub user: String,
    pub replica: ReplicaId,
    pub account_seed: u64,
}

pub struct Accounts {
    conn: Connection,
    dir: PathBuf,
    /// Whether this host syncs with peers (the transport says so): a store made anew in
    /// place of a lost one then relearns from them before it serves.
    paired: bool,
}

/// A hash verified when the user is unknown, so a miss costs what a hit costs.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bm9tYW1haWwtZGVjb3k$5O3Qk8Jb1+0ZuX4f0p1y3kQm1H1n0m6s9Qq2l9Q0d3M";

pub fn is_valid_user_name(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@+".contains(&b))
        && !user.starts_with('.')
}

impl Accounts {
    /// Opens (creating if needed) the accounts of the data directory `dir`.
    pub fn open(dir: &Path) -> Result<Accounts, AccountError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| AccountError::Io { path, source }
        };
        crate::private_files::dir(dir).map_err(io(dir))?;
        crate::private_files::dir(&dir.join("mail")).map_err(io(&dir.join("mail")))?;
        let db = dir.join("accounts.db");
        crate::private_files::database(&db).map_err(io(&db))?;
        let conn = Connection::open(&db)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS accounts (
                user TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                replica INTEGER NOT NULL,
                account_seed INTEGER NOT NULL
            )",
        )?;
        // Added with server pairing: when the password was last set, so the later of two
        // paired hosts' passwords wins on both.
        let has_set_ms: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('accounts') WHERE name = 'password_set_ms'")?
            .exists([])?;
        if !has_set_ms {
            conn.execute(
                "ALTER TABLE accounts ADD COLUMN password_set_ms INTEGER NOT NULL DEFAULT 0",
                [],
            )?;
        }
        // Added with the trust model: the key of the paired server an account was adopted
        // from (NULL: made here), the only one whose password changes it takes, and when,
        // for the limit on accounts one server may make in a day.
        let has_upstream: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('accounts') WHERE name = 'upstream'")?
            .exists([])?;
        if !has_upstream {
            conn.execute_batch(
                "ALTER TABLE accounts ADD COLUMN upstream BLOB;
                 ALTER TABLE accounts ADD COLUMN adopted_ms INTEGER;",
            )?;
        }
        Ok(Accounts {
            conn,
            dir: dir.to_path_buf(),
            paired: false,
        })
    }

    pub fn add(&mut self, user: &str, password: &Password) -> Result<AccountInfo, AccountError> {
        if !is_valid_user_name(user) {
            return Err(AccountError::InvalidName(user.to_string()));
        }
        if self.get(user)?.is_some() {
            return Err(AccountError::Exists(user.to_string()));
        }
        self.refuse_case_variant(user)?;
        let hash = hash_password(password)?;
        let info = AccountInfo {
            user: user.to_string(),
            // Zero is reserved for genesis writes.
            replica: ReplicaId(random_u64()?.max(1)),
            account_seed: random_u64()?,
        };
        self.conn.execute(
            "INSERT INTO accounts (user, password_hash, replica, account_seed, password_set_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                info.user,
                hash,
                info.replica.0 as i64,
                info.account_seed as i64,
                crate::wallclock::now_ms() as i64
            ],
        )?;
        // Create the store now, so a fresh account already has INBOX and the special mailboxes.
        self.create_store(user, info.replica, info.account_seed)?;
        Ok(info)
    }

    /// Sets the password of an account made here. One adopted from a paired server is
    /// refused (`NotHome`): its password is that server's to set, and it would not take ours.
    pub fn set_password(&mut self, user: &str, password: &Password) -> Result<(), AccountError> {
        if let Some(upstream) = self.upstream(user)? {
            return Err(AccountError::NotHome {
                user: user.to_string(),
                upstream: key_text(&upstream),
            });
        }
        let hash = hash_password(password)?;
        let changed = self.conn.execute(
            "UPDATE accounts SET password_hash = ?2, password_set_ms = ?3 WHERE user = ?1",
            params![user, hash, crate::wallclock::now_ms() as i64],
        )?;
        if changed == 0 {
            return Err(AccountError::NoSuchUser(user.to_string()));
        }
        Ok(())
    }

    /// What a paired host needs to serve the same account: its seed and password record.
    pub fn card(&self, user: &str) -> Result<AccountCard, AccountError> {
        self.conn
            .query_row(
                "SELECT user, account_seed, password_hash, password_set_ms FROM accounts
                 WHERE user = ?1",
                [user],
                |r| {
                    Ok(AccountCard {
                        user: r.get(0)?,
                        seed: r.get::<_, i64>(1)? as u64,
                        password_hash: r.get(2)?,
                        password_set_ms: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| AccountError::NoSuchUser(user.to_string()))
    }

    /// The key of the paired server the account was adopted from; `None` if made here.
    pub fn upstream(&self, user: &str) -> Result<Option<Vec<u8>>, AccountError> {
        Ok(self
            .conn
            .query_row(
                "SELECT upstream FROM accounts WHERE user = ?1",
                [user],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Takes in the account card of the paired server with key `from`: creates the account
    /// here with the same seed (so both stores start from the same genesis mailboxes) under
    /// a replica id of its own, or takes the card's password if it was set later than ours.
    /// An account of the same name with another seed is a different mail store and is
    /// refused.
    ///
    /// Trust: a password is taken only from the server the account came from (an account
    /// made here takes none), and only if set no later than `MAX_PASSWORD_TIME_SKEW_MS`
    /// after `now_ms`; one server makes at most `max_new_per_day` accounts here a day.
    ///
    /// A new replica id is chosen so that its MODSEQ tag differs from `peer_replica`'s
    /// (`imap::modseq`), so a CONDSTORE client switching servers always notices.
    pub fn adopt(
        &mut self,
        card: &AccountCard,
        peer_replica: ReplicaId,
        from: &[u8],
        now_ms: u64,
        max_new_per_day: u32,
    ) -> Result<Adopted, AccountError> {
        if !is_valid_user_name(&card.user) {
            return Err(AccountError::InvalidName(card.user.clone()));
        }
        match PasswordHash::new(&card.password_hash) {
            Ok(parsed) if bounded_argon2id(&parsed) => {}
            _ => {
                return Err(AccountError::Hash(format!(
                    "the password record of {} is not an argon2id hash within this server's \
                     cost bounds",
                    card.user
                )));
            }
        }
        match self.get(&card.user)? {
            Some(info) if info.account_seed != card.seed => {
                Err(AccountError::SeedClash(card.user.clone()))
            }
            Some(_) => {
                let (hash, set_ms, upstream): (String, i64, Option<Vec<u8>>) =
                    self.conn.query_row(
                        "SELECT password_hash, password_set_ms, upstream FROM accounts
                         WHERE user = ?1",
                        [&card.user],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )?;
                if card.password_hash == hash || card.password_set_ms <= set_ms as u64 {
                    return Ok(Adopted::Unchanged);
                }
                if upstream.is_none() {
                    return Ok(Adopted::PasswordRefused(
                        "the account was made on this server, which alone sets its password",
                    ));
                }
                if upstream.as_deref() != Some(from) {
                    return Ok(Adopted::PasswordRefused(
                        "the account came from another paired server, which alone sets its \
                         password",
                    ));
                }
                if card.password_set_ms > now_ms.saturating_add(MAX_PASSWORD_TIME_SKEW_MS) {
                    return Ok(Adopted::PasswordRefused(
                        "the password's time is ahead of this server's clock by more than the \
                         allowed skew",
                    ));
                }
                self.conn.execute(
                    "UPDATE accounts SET password_hash = ?2, password_set_ms = ?3 WHERE user = ?1",
                    params![card.user, card.password_hash, card.password_set_ms as i64],
                )?;
                Ok(Adopted::PasswordChanged)
            }
            None => {
                self.refuse_case_variant(&card.user)?;
                let made_today: u32 = self.conn.query_row(
                    "SELECT count(*) FROM accounts WHERE upstream = ?1 AND adopted_ms > ?2",
                    params![from, now_ms.saturating_sub(24 * 3_600_000) as i64],
                    |r| r.get(0),
                )?;
                if made_today >= max_new_per_day {
                    return Err(AccountError::TooManyNewAccounts {
                        user: card.user.clone(),
                        limit: max_new_per_day,
                    });
                }
                let mut replica = ReplicaId(random_u64()?.max(1));
                while crate::imap::modseq::same_tag(replica, peer_replica) {
                    replica = ReplicaId(random_u64()?.max(1));
                }
                self.conn.execute(
                    "INSERT INTO accounts (user, password_hash, replica, account_seed,
                                           password_set_ms, upstream, adopted_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        card.user,
                        card.password_hash,
                        replica.0 as i64,
                        card.seed as i64,
                        // A time ahead of ours would outrank the next real change.
                        card.password_set_ms.min(now_ms) as i64,
                        from,
                        now_ms as i64
                    ],
                )?;
                self.create_store(&card.user, replica, card.seed)?;
                Ok(Adopted::Created)
            }
        }
    }

    /// A store file is named after its user; on a case-insensitive filesystem (macOS, a
    /// Windows share) `Alice.db` is `alice.db`, so two names that differ only in case would
    /// share one store.
    fn refuse_case_variant(&self, user: &str) -> Result<(), AccountError> {
        let existing: Option<String> = self
            .conn
            .query_row(
                "SELECT user FROM accounts WHERE user = ?1 COLLATE NOCASE",
                [user],
                |r| r.get(0),
            )
            .optional()?;
        match existing {
            Some(existing) if existing != user => Err(AccountError::CaseClash {
                wanted: user.to_string(),
                existing,
            }),
            _ => Ok(()),
        }
    }

    /// Removes the account and its mail store. Refused (`is_locked`) while a daemon holds
    /// the store: deleting the files under it would lose what it writes next, unseen.
    pub fn remove(&mut self, user: &str) -> Result<(), AccountError> {
        let db = self.replica_path(user);
        let _held = Replica::hold(&db).map_err(|source| AccountError::Replica {
            user: user.to_string(),
            source: Box::new(source),
        })?;
        if self
            .conn
            .execute("DELETE FROM accounts WHERE user = ?1", [user])?
            == 0
        {
            return Err(AccountError::NoSuchUser(user.to_string()));
        }
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let mut path = db.clone().into_os_string();
            path.push(suffix);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(AccountError::Io {
                        path: PathBuf::from(path).display().to_string(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<AccountInfo>, AccountError> {
        let mut stmt = self
            .conn
            .prepare("SELECT user, replica, account_seed FROM accounts ORDER BY user")?;
        let rows = stmt.query_map([], account_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn get(&self, user: &str) -> Result<Option<AccountInfo>, AccountError> {
        Ok(self
            .conn
            .query_row(
                "SELECT user, replica, account_seed FROM accounts WHERE user = ?1",
                [user],
                account_row,
            )
            .optional()?)
    }

    /// Whether `password` is the user's. Unknown users cost a full verification too.
    pub fn verify(&self, user: &str, password: &Password) -> Result<bool, AccountError> {
        Ok(self.verifier(user)?(password))
    }

    /// Reads the user's hash now and returns the (slow) check, so a caller can run it
    /// without holding whatever guards this `Accounts`.
    pub fn verifier(
        &self,
        user: &str,
    ) -> Result<impl FnOnce(&Password) -> bool + use<>, AccountError> {
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT password_hash FROM accounts WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .optional()?;
        let known = stored.is_some();
        let text = stored.unwrap_or_else(|| DECOY_HASH.to_string());
        Ok(move |password: &Password| {
            let Ok(parsed) = PasswordHash::new(&text) else {
                return false;
            };
            let matches = argon2_matches(&parsed, password.0.as_bytes());
            known && matches
        })
    }

    /// The sync transport tells whether this host has peers. A store made anew for an account
    /// that had one (its file deleted, or lost with a disk) waits for them if so, and is
    /// served at once if not: there is no one else to fill it.
    pub fn set_paired(&mut self, paired: bool) {
        self.paired = paired;
    }

    pub fn replica_path(&self, user: &str) -> PathBuf {
        self.dir.join("mail").join(format!("{user}.db"))
    }

    /// Opens the account's replica (creating it on first use).
    pub fn open_replica(
        &self,
        user: &str,
        durability: Durability,
    ) -> Result<Replica, AccountError> {
        self.open_replica_with(user, durability, SyncSettings::default())
    }

    pub fn open_replica_with(
        &self,
        user: &str,
        durability: Durability,
        sync: SyncSettings,
    ) -> Result<Replica, AccountError> {
        let info = self
            .get(user)?
            .ok_or_else(|| AccountError::NoSuchUser(user.to_string()))?;
        let path = self.replica_path(user);
        let made_anew = !path.exists();
        let replica = if made_anew {
            self.replace_replica(&info)?
        } else {
            info.replica
        };
        let mut options = ReplicaOptions::new(replica, info.account_seed);
        options.relearn_if_new = made_anew && self.paired;
        options.replaces = made_anew.then_some(info.replica);
        options.durability = durability;
        options.sync = sync;
        options.id_if_copied = Some(fresh_replica_id(replica)?);
        let opened = Replica::open(&path, options).map_err(|e| AccountError::Replica {
            user: user.to_string(),
            source: Box::new(e),
        })?;
        // The store's own id is the truth: it changes when the file proves to be a copy.
        if opened.id() != replica {
            tracing::warn!(
                user,
                old = %replica,
                new = %opened.id(),
                "the account's store is a copy (restored from a backup, or cloned): it goes on \
                 under a new replica id and offers its changes to the paired servers again"
            );
            self.record_replica(user, opened.id())?;
        }
        Ok(opened)
    }

    /// The account's store went on under a new id (it proved older than its own history):
    /// the letters to paired servers name this one from now on.
    pub fn record_replica(&self, user: &str, replica: ReplicaId) -> Result<(), AccountError> {
        self.conn.execute(
            "UPDATE accounts SET replica = ?2 WHERE user = ?1",
            params![user, replica.0 as i64],
        )?;
        Ok(())
    }

    /// The account's store is gone (deleted, lost with a disk): the one made in its place
    /// starts with nothing, so it must not write under the old replica id — its peers hold
    /// that id's changes, and would take new ones with reused dots for old ones. It gets an
    /// id of its own, with another MODSEQ tag, so CONDSTORE clients resynchronise.
    fn replace_replica(&self, info: &AccountInfo) -> Result<ReplicaId, AccountError> {
        let replica = fresh_replica_id(info.replica)?;
        self.conn.execute(
            "UPDATE accounts SET replica = ?2 WHERE user = ?1",
            params![info.user, replica.0 as i64],
        )?;
        tracing::warn!(
            user = info.user,
            old = %info.replica,
            new = %replica,
            "the account's store was missing: a new, empty one is made under a new replica \
             id, and fills again from the paired servers"
        );
        Ok(replica)
    }

    /// Makes the store of an account just added here.
    fn create_store(
        &self,
        user: &str,
        replica: ReplicaId,
        account_seed: u64,
    ) -> Result<(), AccountError> {
        let mut options = ReplicaOptions::new(replica, account_seed);
        options.durability = Durability::Full;
        Replica::open(&self.replica_path(user), options)
            .map(drop)
            .map_err(|e| AccountError::Replica {
                user: user.to_string(),
                source: Box::new(e),
            })
    }
}

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountInfo> {
    Ok(AccountInfo {
        user: r.get(0)?,
        replica: ReplicaId(r.get::<_, i64>(1)? as u64),
        account_seed: r.get::<_, i64>(2)? as u64,
    })
}

/// A random replica id whose MODSEQ tag differs from `former`'s, so CONDSTORE clients of
/// the store it replaces notice that every MODSEQ they hold is void.
fn fresh_replica_id(former: ReplicaId) -> Result<ReplicaId, AccountError> {
    let mut replica = ReplicaId(random_u64()?.max(1));
    while replica == former || crate::imap::modseq::same_tag(replica, former) {
        replica = ReplicaId(random_u64()?.max(1));
    }
    Ok(replica)
}

/// A stored peer key as `pair list` shows it.
fn key_text(bytes: &[u8]) -> String {
    match <[u8; 32]>::try_from(bytes) {
        Ok(key) => crate::mailsync::PeerKey(key).to_string(),
        Err(_) => "(unreadable)".into(),
    }
}

fn random_u64() -> Result<u64, AccountError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| AccountError::Random(e.to_string()))?;
    Ok(u64::from_le_bytes(bytes))
}

fn hash_password(password: &Password) -> Result<String, AccountError> {
    if password.0.is_empty() {
        return Err(AccountError::EmptyPassword);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AccountError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.0.as_bytes(), &salt)
        .map_err(|e| AccountError::Hash(e.to_string()))?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_verify_change_and_remove_an_account() {
        let dir = tempfile::tempdir().unwrap();
        let mut accounts = Accounts::open(dir.path()).unwrap();
        let info = accounts
            .add("alice", &Password::new("correct horse"))
            .unwrap();
        assert!(
            accounts
                .verify("alice", &Password::new("correct horse"))
                .unwrap()
        );
        assert!(!accounts.verify("alice", &Password::new("wrong")).unwrap());
        assert!(
            !accounts
                .verify("bob", &Password::new("correct horse"))
                .unwrap()
        );
        assert!(matches!(
            accounts.add("alice", &Password::new("x")),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            accounts.add("../etc", &Password::new("x")),
            Err(AccountError::InvalidName(_))
        ));
        assert!(matches!(
            accounts.add("bob", &Password::new("")),
            Err(AccountError::EmptyPassword)
        ));

        let replica = accounts.open_replica("alice", Durability::Process).unwrap();
        assert_eq!(replica.id(), info.replica);
        assert!(replica.mailbox("INBOX").unwrap().is_some());
        drop(replica);

        accounts
            .set_password("alice", &Password::new("battery staple"))
            .unwrap();
        assert!(
            !accounts
                .verify("alice", &Password::new("correct horse"))
                .unwrap()
        );
        assert!(
            accounts
                .verify("alice", &Password::new("battery staple"))
                .unwrap()
        );
        let stored: String = accounts
            .conn
            .query_row("SELECT password_hash FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with("$argon2id$") && !stored.contains("battery"));

        accounts.remove("alice").unwrap();
        assert!(accounts.list().unwrap().is_empty());
        assert!(!accounts.replica_path("alice").exists());
        assert!(matches!(
            accounts.remove("alice"),
            Err(AccountError::NoSuchUser(_))
        ));
    }

    const OFFICE: [u8; 32] = [1; 32];
    const INTERNET: [u8; 32] = [2; 32];
    const BRANCH: [u8; 32] = [3; 32];
    const DAY: u64 = 24 * 3_600_000;

    #[test]
    fn a_paired_hosts_account_is_adopted_with_its_seed_and_the_later_password() {
        let office = tempfile::tempdir().unwrap();
        let internet = tempfile::tempdir().unwrap();
        let mut office = Accounts::open(office.path()).unwrap();
        let mut internet = Accounts::open(internet.path()).unwrap();
        let now = crate::wallclock::now_ms();
        let info = office.add("alice", &Password::new("first")).unwrap();
        let card = office.card("alice").unwrap();
        assert_eq!(
            internet
                .adopt(&card, info.replica, &OFFICE, now, 1000)
                .unwrap(),
            Adopted::Created
        );
        let adopted = internet.get("alice").unwrap().unwrap();
        assert_eq!(adopted.account_seed, info.account_seed);
        assert_ne!(adopted.replica, info.replica);
        assert!(!crate::imap::modseq::same_tag(
            adopted.replica,
            info.replica
        ));
        assert!(internet.verify("alice", &Password::new("first")).unwrap());
        assert_eq!(internet.upstream("alice").unwrap(), Some(OFFICE.to_vec()));
        assert_eq!(office.upstream("alice").unwrap(), None);
        assert_eq!(
            internet
                .adopt(&card, info.replica, &OFFICE, now, 1000)
                .unwrap(),
            Adopted::Unchanged
        );
        let twin = office.add("Alice", &Password::new("other"));
        assert!(
            matches!(twin, Err(AccountError::CaseClash { .. })),
            "{twin:?}"
        );
        let mut card_of_twin = card.clone();
        card_of_twin.user = "ALICE".into();
        let adopted_twin = internet.adopt(&card_of_twin, info.replica, &OFFICE, now, 1000);
        assert!(
            matches!(adopted_twin, Err(AccountError::CaseClash { .. })),
            "{adopted_twin:?}"
        );

        // The password is the office's to set: the internet server's admin is told where.
        let here = internet.set_password("alice", &Password::new("second"));
        assert!(
            matches!(here, Err(AccountError::NotHome { .. })),
            "{here:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
        office
            .set_password("alice", &Password::new("second"))
            .unwrap();
        let newer = office.card("alice").unwrap();
        assert_eq!(
            internet
                .adopt(&newer, info.replica, &OFFICE, now + 1000, 1000)
                .unwrap(),
            Adopted::PasswordChanged
        );
        assert!(internet.verify("alice", &Password::new("second")).unwrap());
        assert_eq!(
            internet
                .adopt(&card, info.replica, &OFFICE, now, 1000)
                .unwrap(),
            Adopted::Unchanged,
            "older"
        );
        assert!(internet.verify("alice", &Password::new("second")).unwrap());

        internet.add("bob", &Password::new("x")).unwrap();
        office.add("bob", &Password::new("x")).unwrap();
        let clash = internet.card("bob").unwrap();
        assert!(matches!(
            office.adopt(&clash, info.replica, &INTERNET, now, 1000),
            Err(AccountError::SeedClash(_))
        ));
        let mut bad = card.clone();
        bad.user = "../x".into();
        assert!(matches!(
            office.adopt(&bad, info.replica, &INTERNET, now, 1000),
            Err(AccountError::InvalidName(_))
        ));
    }

    /// A card with the hash of `password`, set at `set_ms`, for `card`'s account.
    fn forged(card: &AccountCard, password: &str, set_ms: u64) -> AccountCard {
        AccountCard {
            password_hash: hash_password(&Password::new(password)).unwrap(),
            password_set_ms: set_ms,
            ..card.clone()
        }
    }

    #[test]
    fn only_the_server_an_account_came_from_changes_its_password_and_never_for_ever() {
        let dirs = [(); 2].map(|_| tempfile::tempdir().unwrap());
        let mut office = Accounts::open(dirs[0].path()).unwrap();
        let mut internet = Accounts::open(dirs[1].path()).unwrap();
        let now = crate::wallclock::now_ms();
        let info = office.add("alice", &Password::new("first")).unwrap();
        let card = office.card("alice").unwrap();
        internet
            .adopt(&card, info.replica, &OFFICE, now, 1000)
            .unwrap();
        let refused = |accounts: &mut Accounts, card: &AccountCard, from: &[u8]| {
            let outcome = accounts.adopt(card, info.replica, from, now, 1000).unwrap();
            assert!(
                matches!(outcome, Adopted::PasswordRefused(_)),
                "{outcome:?}"
            );
        };
        // The internet server cannot change the password of an account made on the office.
        refused(
            &mut office,
            &forged(&card, "taken over", now + 1000),
            &INTERNET,
        );
        assert!(office.verify("alice", &Password::new("first")).unwrap());
        // Nor can a third paired server change it on the internet server.
        refused(
            &mut internet,
            &forged(&card, "taken over", now + 1000),
            &BRANCH,
        );
        // Not even the office itself, with a time that would make the password permanent.
        refused(
            &mut internet,
            &forged(&card, "for ever", now + 365 * DAY),
            &OFFICE,
        );
        assert!(internet.verify("alice", &Password::new("first")).unwrap());
        // Within the allowed skew, it may.
        let slightly_ahead = forged(&card, "next", now + MAX_PASSWORD_TIME_SKEW_MS / 2);
        assert_eq!(
            internet
                .adopt(&slightly_ahead, info.replica, &OFFICE, now, 1000)
                .unwrap(),
            Adopted::PasswordChanged
        );
        assert!(internet.verify("alice", &Password::new("next")).unwrap());
    }

    #[test]
    fn a_paired_server_makes_a_limited_number_of_accounts_a_day() {
        let dirs = [(); 2].map(|_| tempfile::tempdir().unwrap());
        let mut office = Accounts::open(dirs[0].path()).unwrap();
        let mut internet = Accounts::open(dirs[1].path()).unwrap();
        let now = crate::wallclock::now_ms();
        let mut cards = Vec::new();
        for user in ["a", "b", "c"] {
            let info = office.add(user, &Password::new("pw")).unwrap();
            cards.push((office.card(user).unwrap(), info.replica));
        }
        for (card, replica) in &cards[..2] {
            assert_eq!(
                internet.adopt(card, *replica, &OFFICE, now, 2).unwrap(),
                Adopted::Created
            );
        }
        let (card, replica) = &cards[2];
        let over = internet.adopt(card, *replica, &OFFICE, now, 2);
        assert!(
            matches!(over, Err(AccountError::TooManyNewAccounts { limit: 2, .. })),
            "{over:?}"
        );
        assert!(internet.get("c").unwrap().is_none(), "nothing made");
        // Another server has a limit of its own; and the next day the office may again.
        assert_eq!(
            internet.adopt(card, *replica, &BRANCH, now, 2).unwrap(),
            Adopted::Created
        );
        internet.remove("c").unwrap();
        assert_eq!(
            internet
                .adopt(card, *replica, &OFFICE, now + DAY + 1, 2)
                .unwrap(),
            Adopted::Created
        );
    }

    #[test]
    fn the_decoy_hash_parses() {
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
        assert!(bounded_argon2id(&PasswordHash::new(DECOY_HASH).unwrap()));
    }

    #[test]
    fn hashes_beyond_the_cost_bounds_or_not_argon2id_are_never_run() {
        let tail = "$bm9tYW1haWwtZGVjb3k$5O3Qk8Jb1+0ZuX4f0p1y3kQm1H1n0m6s9Qq2l9Q0d3M";
        for head in [
            "$argon2id$v=19$m=4194304,t=2,p=1",
            "$argon2id$v=19$m=19456,t=100000,p=1",
            "$argon2id$v=19$m=19456,t=2,p=64",
            "$argon2i$v=19$m=19456,t=2,p=1",
        ] {
            let text = format!("{head}{tail}");
            let parsed = PasswordHash::new(&text).expect("a PHC string");
            assert!(!bounded_argon2id(&parsed), "{head}");
            assert!(!argon2_matches(&parsed, b"anything"), "{head}");
        }
    }
}

thread_local! {
    /// Argon2's working memory (19 MiB with the default parameters), kept per thread. Taking
    /// it fresh for every check made a server's resident memory grow by that much per login,
    /// because the allocator did not reuse the freed, 64-byte-aligned block.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Recomputes the hash with the parameters and salt in `hash` and compares in constant time
/// (`Output`'s equality is constant-time).
/// Highest argon2 costs a stored hash may ask for: a login costs at most 64 MiB and a few
/// passes, whatever a hash (perhaps brought by a paired server) says.
const MAX_ARGON2_MEMORY_KIB: u32 = 64 << 10;
const MAX_ARGON2_PASSES: u32 = 8;
const MAX_ARGON2_LANES: u32 = 4;

/// An argon2id hash whose memory, passes and lanes are within the bounds above.
fn bounded_argon2id(hash: &PasswordHash<'_>) -> bool {
    let Ok(argon2::Algorithm::Argon2id) = argon2::Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    argon2::Params::try_from(hash).is_ok_and(|params| {
        params.m_cost() <= MAX_ARGON2_MEMORY_KIB
            && params.t_cost() <= MAX_ARGON2_PASSES
            && params.p_cost() <= MAX_ARGON2_LANES
    })
}

fn argon2_matches(hash: &PasswordHash<'_>, password: &[u8]) -> bool {
    if !bounded_argon2id(hash) {
        return false;
    }
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut computed = vec![0u8; expected.len()];
    let hasher = Argon2::new(algorithm, version, params.clone());
    let hashed = ARGON2_MEMORY.with(|memory| {
        let mut blocks = memory.borrow_mut();
        if blocks.len() < params.block_count() {
            blocks.resize(params.block_count(), argon2::Block::default());
        }
        hasher
            .hash_password_into_with_memory(password, salt, &mut computed, &mut blocks[..])
            .is_ok()
    });
    hashed && argon2::password_hash::Output::new(&computed).is_ok_and(|output| output == expected)
}
