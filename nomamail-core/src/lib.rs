//! NomaMail's replica engine.
//!
//! The pure centre — identifiers, version vectors, registers, item states and their merge,
//! the conflict policy, the bundle types and codec — does no IO and reads no clock. Around it,
//! `replica` keeps one account's store in SQLite and speaks the sans-IO sync protocol:
//! `outgoing(peer, now, max_bytes)` and `incoming(peer, bytes, now)`. Transports (SMTP, the
//! laptop link, the test simulator) only move the bytes.

pub mod accounts;
pub mod bundle;
pub mod codec;
pub mod error;
pub mod flags;
pub mod ids;
pub mod imap;
pub mod item;
pub mod mailsync;
pub mod names;
pub mod policy;
pub mod private_files;
pub mod reg;
pub mod replica;
pub mod schema;
pub mod smtp;
pub mod summary;
pub mod vv;
pub mod wallclock;

pub use error::{Error, Result};
pub use flags::FlagOp;
pub use ids::{BlobHash, Dot, EntryId, ItemId, MailboxId, ReplicaId};
pub use replica::{
    Appended, Choice, Conflict, ConflictKind, EntryChange, EntryInfo, INBOX_ID, MailboxCounts,
    MailboxInfo, NewMessage, PeerStatus, Placed, Quarantined, Replica, ReplicaOptions, Report,
    StoreStats, SyncSettings, TextScope,
};
pub use schema::Durability;
