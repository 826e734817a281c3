//! Sync between paired servers over ordinary mail: keys and seals (`seal`), what a sealed
//! mail carries (`letter`), its MIME form (`mime`), the host's sync state (`state`, `seen`)
//! and the host logic that joins them to the account replicas (`host`).

pub mod host;
pub mod letter;
pub mod mime;
pub mod seal;
pub mod seen;
pub mod state;

pub use host::{Accepted, MailSyncConfig, OutgoingError, Rejection, SyncHost, retransmit_delay};
pub use letter::{AccountCard, Letter};
pub use mime::{SyncMail, is_sync_mail};
pub use seal::{HostKey, PeerKey, SealError};
pub use state::{MAX_SEND_RETRY_MS, OutMail, Peer, PeerRecord, Reject, StateError, SyncState};
