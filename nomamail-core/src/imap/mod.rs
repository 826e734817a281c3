//! The IMAP4rev1 front-end shared by the server and the laptop cache. Built so far: its pure
//! pieces — mailbox names on the wire (`mutf7`) and the selected-mailbox view that turns store
//! changes into untagged responses (`view`). The session loop and command handlers come next.

pub mod mutf7;
pub mod view;
