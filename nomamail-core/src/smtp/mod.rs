//! The SMTP and LMTP listener: an MTA (or a peer server, or `deliver`) hands mail to it.
//! Commands are parsed by `smtp-proto`; what happens to a mail is the `Delivery`'s business
//! (`local::LocalDelivery` files ordinary mail into users' INBOXes and gives sync mail to the
//! sync host). The listener never relays: it only accepts mail for recipients the delivery
//! knows.

mod budget;
pub mod client;
mod local;
mod server;
mod session;

pub use budget::BufferBudget;
pub use local::LocalDelivery;
pub use server::serve;
pub use session::run as run_session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct SmtpConfig {
    /// The name the listener gives in its greeting and Received headers.
    pub hostname: String,
    /// LMTP (RFC 2033: LHLO, one reply per recipient after DATA) instead of SMTP.
    pub lmtp: bool,
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    pub max_connections: usize,
    /// How long the listener waits for the next command or the next piece of a message.
    pub timeout: Duration,
    /// How long one connection may last in all: a client that sends a byte just before
    /// each `timeout` must not hold its connection slot for ever. It is told 421.
    pub session_deadline: Duration,
    /// What all connections sharing this config may hold at once in messages being
    /// received; beyond it a message is refused with a temporary failure (452).
    pub buffer_budget: Arc<BufferBudget>,
    /// Bad commands a client may send before it is disconnected.
    pub max_errors: usize,
    /// Offered with STARTTLS when present.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostname: "localhost".into(),
            lmtp: false,
            max_message_bytes: 64 << 20,
            max_recipients: 100,
            max_connections: 200,
            timeout: Duration::from_secs(300),
            // A sync mail of 8 MB takes about 35 minutes at 32 kbit/s.
            session_deadline: Duration::from_secs(3600),
            buffer_budget: BufferBudget::new(256 << 20),
            max_errors: 10,
            tls: None,
        }
    }
}

/// One mail's envelope as the client gave it.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub peer: SocketAddr,
    pub helo: String,
    pub lmtp: bool,
    pub from: String,
    pub recipients: Vec<String>,
}

/// A refusal with its SMTP reply code, enhanced status code (RFC 3463) and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub status: &'static str,
    pub text: String,
}

impl Refusal {
    pub fn permanent(status: &'static str, text: impl Into<String>) -> Refusal {
        Refusal {
            code: 550,
            status,
            text: text.into(),
        }
    }

    /// Try again later: the MTA keeps the mail queued.
    pub fn temporary(text: impl Into<String>) -> Refusal {
        Refusal {
            code: 451,
            status: "4.3.0",
            text: text.into(),
        }
    }

    fn line(&self) -> String {
        format!("{} {} {}\r\n", self.code, self.status, self.text)
    }
}

/// What the listener hands mail to. Both calls may block (they touch the stores); the
/// listener runs them off the async threads.
pub trait Delivery: Send + Sync + 'static {
    /// Whether mail for `address` is taken here at all (RCPT TO).
    fn recipient(&self, address: &str) -> Result<(), Refusal>;
    /// Delivers one message; one result per recipient of the envelope, in order. `Ok` means
    /// the message is durably stored (or, for sync mail, applied or known to be a copy).
    fn deliver(&self, envelope: &Envelope, message: &[u8]) -> Vec<Result<(), Refusal>>;
}
