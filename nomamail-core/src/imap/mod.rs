//! The IMAP4rev1 front-end shared by the server and the laptop cache: a listener
//! (`server`), one connection loop per client (`connection`), the session state and its one
//! dispatch `match` (`session`), and one handler per command (`commands`). Around them, the
//! pure pieces: mailbox names on the wire (`mutf7`), the selected-mailbox view that turns
//! store changes into untagged responses (`view`), sequence sets (`seqset`), and message
//! sections, envelopes and body structures (`message`).

pub mod budget;
pub mod catenate;
pub mod commands;
pub mod compress;
pub mod config;
pub mod connection;
pub mod extended;
pub mod mailstores;
pub mod message;
pub mod modseq;
pub mod mutf7;
pub mod recent;
pub mod reply;
pub mod searchres;
pub mod seqset;
pub mod server;
pub mod session;
pub mod state;
pub mod syntax;
pub mod thread;
pub mod throttle;
pub mod view;
pub mod wire;

pub use config::{Limits, PlaintextPasswords, ServerConfig};
pub use mailstores::{Mailstore, Mailstores};
pub use server::{Listener, serve, serve_listeners};
