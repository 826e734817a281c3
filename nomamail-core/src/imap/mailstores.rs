//! The accounts a server serves, and each account's one open replica shared by all of its
//! sessions and its sync transport. Every write goes through `Mailstore::write`,
//! which tells the account's other sessions that the store moved, so IDLE and the next
//! command of each session pick the change up.

use crate::accounts::{AccountError, Accounts, Password};
use crate::replica::{Replica, SyncSettings};
use crate::schema::Durability;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

type VerifyJob = Box<dyn FnOnce() + Send>;
use tokio::sync::watch;

pub struct Mailstores {
    accounts: Mutex<Accounts>,
    /// Password checks run on a few threads of their own. Each argon2 verification takes
    /// 19 MiB for a moment, and the allocator keeps such blocks per thread; on the many
    /// blocking threads of the runtime that added up to ~300 MiB after 100 logins.
    verifiers: mpsc::Sender<VerifyJob>,
    open: Arc<Mutex<HashMap<String, Arc<Mailstore>>>>,
    /// Accounts whose stores have bodies waiting for the full-text index, and mailboxes
    /// whose search fields are wanted in memory.
    indexer: mpsc::Sender<Background>,
    durability: Durability,
    sync: SyncSettings,
    /// Bumped after a write to any account: the sync sender waits on it.
    any_change: Arc<watch::Sender<u64>>,
}

pub struct Mailstore {
    user: String,
    replica_id: crate::ids::ReplicaId,
    replica: Mutex<Replica>,
    /// Bumped after every write; sessions compare it with the value they last caught up to.
    changes: watch::Sender<u64>,
    any_change: Arc<watch::Sender<u64>>,
    indexer: mpsc::Sender<Background>,
    /// Set while the indexer has this account queued, so a burst of writes queues it once.
    index_queued: AtomicBool,
    /// Commands of this account running on blocking threads at once. They take turns on the
    /// store lock anyway; the rest wait on the reactor, so one account's many connections
    /// cannot fill the runtime's blocking pool and starve every other account.
    pub running: tokio::sync::Semaphore,
}

/// Blocking threads one account's commands may hold at once.
pub const COMMANDS_PER_ACCOUNT: usize = 8;

/// A panic while holding a lock leaves the store as SQLite left it (each write is one
/// transaction), so the lock stays usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Mailstores {
    pub fn new(accounts: Accounts, durability: Durability) -> Mailstores {
        Self::with_sync_settings(accounts, durability, SyncSettings::default())
    }

    /// Like `new`, with the replicas' sync settings (retransmission, chunk size).
    pub fn with_sync_settings(
        accounts: Accounts,
        durability: Durability,
        sync: SyncSettings,
    ) -> Mailstores {
        let (jobs, queue) = mpsc::channel::<VerifyJob>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for _ in 0..threads {
            let queue = queue.clone();
            // The threads end when `Mailstores` (the only sender) is dropped.
            let _ = std::thread::Builder::new()
                .name("password-check".into())
                .spawn(move || {
                    loop {
                        let job = lock(&queue).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
        }
        let open = Arc::new(Mutex::new(HashMap::new()));
        Mailstores {
            accounts: Mutex::new(accounts),
            verifiers: jobs,
            indexer: spawn_indexer(Arc::downgrade(&open)),
            open,
            durability,
            sync,
            any_change: Arc::new(watch::Sender::new(0)),
        }
    }

    /// The account's store if `password` is right; `None` for a wrong password or an unknown
    /// user alike.
    pub fn authenticate(
        &self,
        user: &str,
        password: &Password,
    ) -> Result<Option<Arc<Mailstore>>, AccountError> {
        if !self.verify(user, password)? {
            return Ok(None);
        }
        self.open(user).map(Some)
    }

    fn verify(&self, user: &str, password: &Password) -> Result<bool, AccountError> {
        // The hash is read under the accounts lock; the slow check runs on a verifier thread.
        let check = lock(&self.accounts).verifier(user)?;
        let password = password.clone();
        let (answer, verdict) = mpsc::channel();
        let job: VerifyJob = Box::new(move || {
            let _ = answer.send(check(&password));
        });
        if self.verifiers.send(job).is_err() {
            return Ok(false);
        }
        // A verifier that died (it cannot panic on any input, but) counts as a refusal.
        Ok(verdict.recv().unwrap_or(false))
    }

    /// The account's shared store, opened on first use.
    pub fn open(&self, user: &str) -> Result<Arc<Mailstore>, AccountError> {
        let mut open = lock(&self.open);
        if let Some(store) = open.get(user) {
            return Ok(store.clone());
        }
        let replica =
            lock(&self.accounts).open_replica_with(user, self.durability, self.sync.clone())?;
        let store = Arc::new(Mailstore {
            user: user.to_string(),
            replica_id: replica.id(),
            replica: Mutex::new(replica),
            changes: watch::Sender::new(0),
            any_change: self.any_change.clone(),
            indexer: self.indexer.clone(),
            index_queued: AtomicBool::new(false),
            running: tokio::sync::Semaphore::new(COMMANDS_PER_ACCOUNT),
        });
        open.insert(user.to_string(), store.clone());
        Ok(store)
    }
}

impl Mailstores {
    /// Runs `f` on the accounts table (user names, seeds, passwords).
    pub fn accounts<T>(&self, f: impl FnOnce(&mut Accounts) -> T) -> T {
        f(&mut lock(&self.accounts))
    }

    /// Wakes after a write to any account's store.
    pub fn any_change(&self) -> watch::Receiver<u64> {
        self.any_change.subscribe()
    }
}

impl Mailstore {
    pub fn user(&self) -> &str {
        &self.user
    }

    /// A MODSEQ for the wire (see `imap::modseq`).
    pub fn wire_modseq(&self, modseq: u64) -> u64 {
        super::modseq::to_wire(self.replica_id, modseq)
    }

    /// Our mod-sequence for a MODSEQ a client sent; 0 if it came from another server.
    pub fn local_modseq(&self, value: u64) -> u64 {
        super::modseq::from_wire(self.replica_id, value)
    }

    pub fn read<T>(&self, f: impl FnOnce(&mut Replica) -> T) -> T {
        f(&mut lock(&self.replica))
    }

    /// Runs a change and wakes every session of the account, whether or not it succeeded:
    /// a spurious wake-up costs one comparison, a missed one a stale client.
    pub fn write<T>(&self, f: impl FnOnce(&mut Replica) -> T) -> T {
        let out = f(&mut lock(&self.replica));
        self.changes.send_modify(|version| *version += 1);
        self.any_change.send_modify(|version| *version += 1);
        if !self.index_queued.swap(true, Ordering::AcqRel) {
            // No indexer (the server is going away): searches index what they need.
            let _ = self.indexer.send(Background::Index(self.user.clone()));
        }
        out
    }

    /// Has the mailbox's search and sort fields read into memory in the background (a
    /// session just selected it), unless they are there already.
    pub fn prepare_searches(&self, mailbox: crate::ids::MailboxId) {
        let _ = self
            .indexer
            .send(Background::FillSearchTexts(self.user.clone(), mailbox));
    }

    pub fn version(&self) -> u64 {
        *self.changes.borrow()
    }

    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// Work the store does on a thread of its own, so no client command waits for it.
enum Background {
    /// Bodies of this account wait for the full-text index.
    Index(String),
    /// A session selected this mailbox: read its search fields into memory before the
    /// client's first search asks for them.
    FillSearchTexts(String, crate::ids::MailboxId),
}

/// Bodies wait for the full-text index, indexed in batches once the account's writes pause,
/// so no APPEND or sync waits for it (a search indexes what it needs first); the store lock is
/// let go between batches, so sessions get their turn. The thread ends when the server's
/// stores are gone.
fn spawn_indexer(open: Weak<Mutex<HashMap<String, Arc<Mailstore>>>>) -> mpsc::Sender<Background> {
    const BATCH: usize = 50;
    let (queue, jobs) = mpsc::channel::<Background>();
    let _ = std::thread::Builder::new()
        .name("text-indexer".into())
        .spawn(move || {
            while let Ok(job) = jobs.recv() {
                let user = match &job {
                    Background::Index(user) | Background::FillSearchTexts(user, _) => user,
                };
                let Some(open) = open.upgrade() else {
                    return;
                };
                let store = lock(&open).get(user).cloned();
                drop(open);
                let Some(store) = store else {
                    continue;
                };
                match job {
                    Background::Index(_) => {
                        let Some(store) = wait_for_a_pause(Arc::downgrade(&store), store) else {
                            continue;
                        };
                        store.index_queued.store(false, Ordering::Release);
                        loop {
                            match store.read(|r| r.index_pending_texts(BATCH)) {
                                Ok(0) => break,
                                Ok(_) => {}
                                Err(error) => {
                                    tracing::warn!("text index for {user}: {error}");
                                    break;
                                }
                            }
                        }
                    }
                    Background::FillSearchTexts(_, mailbox) => {
                        let mut after = 0;
                        loop {
                            // Small batches with a pause between: a session that wants the
                            // store meanwhile (the client's next commands) waits one batch
                            // at most.
                            match store.read(|r| r.fill_search_texts(mailbox, after, BATCH * 2)) {
                                Ok(Some(next)) => {
                                    after = next;
                                    std::thread::sleep(std::time::Duration::from_micros(200));
                                }
                                Ok(None) => break,
                                Err(error) => {
                                    tracing::warn!("search fields for {user}: {error}");
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        });
    queue
}

/// Waits until the account has gone a moment without a write, so a burst of APPENDs is
/// indexed after it rather than between its messages (each batch holds the store lock), but
/// no longer than a few seconds under a steady stream of writes.
/// The store is not held while waiting, so a server shutting down closes it at once; `None`
/// when it was closed meanwhile.
fn wait_for_a_pause(weak: Weak<Mailstore>, store: Arc<Mailstore>) -> Option<Arc<Mailstore>> {
    const QUIET: std::time::Duration = std::time::Duration::from_millis(200);
    const AT_MOST: std::time::Duration = std::time::Duration::from_secs(5);
    let started = std::time::Instant::now();
    let mut version = store.version();
    drop(store);
    loop {
        std::thread::sleep(QUIET);
        let store = weak.upgrade()?;
        let now = store.version();
        if now == version || started.elapsed() >= AT_MOST {
            return Some(store);
        }
        version = now;
    }
}
