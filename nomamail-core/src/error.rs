//! The engine's error type: everything a caller of the replica API can be told.

use crate::codec::{DecodeError, EncodeError};
use crate::ids::{EntryId, ItemId, MailboxId, ReplicaId};
use crate::item::MergeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("store at schema version {found} is newer than this build ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("store {0} is open for writing elsewhere")]
    Locked(String),
    #[error("{0}")]
    Io(String),
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    #[error("bundle rejected: {0}")]
    Decode(#[from] DecodeError),
    #[error("bundle could not be built: {0}")]
    Encode(#[from] EncodeError),
    #[error("bundle rejected: {0}")]
    Merge(#[from] MergeError),
    #[error("bundle rejected: addressed to {to:?}, this replica is {me:?}")]
    WrongRecipient { to: ReplicaId, me: ReplicaId },
    #[error("bundle rejected: it claims to come from {claimed:?}, delivered as from {peer:?}")]
    WrongSender { claimed: ReplicaId, peer: ReplicaId },
    #[error("bundle rejected: {0:?} is not a known peer")]
    UnknownPeer(ReplicaId),
    #[error(
        "bundle rejected: {0:?} was forgotten here (unpaired or replaced); it is told to go on \
         under a new id"
    )]
    ForgottenPeer(ReplicaId),
    #[error("bundle rejected: the peer acknowledges changes this replica never made ({0})")]
    AckFromTheFuture(u64),
    #[error("a replica cannot be its own peer")]
    SelfPeer,
    #[error("no such mailbox: {0}")]
    NoSuchMailbox(String),
    #[error("no such mailbox id: {0}")]
    NoSuchMailboxId(MailboxId),
    #[error("no such message: {0}")]
    NoSuchEntry(EntryId),
    #[error("mailbox already exists: {0}")]
    MailboxExists(String),
    #[error("invalid mailbox name: {0:?}")]
    InvalidMailboxName(String),
    #[error("invalid flag: {0:?}")]
    InvalidFlag(String),
    #[error("INBOX cannot be deleted or renamed")]
    InboxIsPermanent,
    #[error("message body {0} is not on this replica yet")]
    BlobMissing(String),
    #[error("no such conflict: {0}")]
    NoSuchConflict(String),
    #[error("choice {choice} does not fit conflict {conflict}")]
    BadChoice { conflict: String, choice: String },
    #[error(
        "a message may carry at most {} distinct flags",
        crate::flags::MAX_FLAGS_PER_MESSAGE
    )]
    TooManyFlags,
    #[error("mailbox {0} has run out of UIDs")]
    MailboxFull(MailboxId),
    #[error("message too large: {0} bytes")]
    MessageTooLarge(usize),
    #[error("item {0} has an unexpected kind")]
    WrongKind(ItemId),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
