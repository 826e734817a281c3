//! Server settings: limits against slow or hostile clients, and when plaintext passwords
//! are acceptable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest literal (an APPENDed message, mostly) a client may send.
    pub max_literal: u32,
    /// Longest command line, literals not counted.
    pub max_line: usize,
    /// Open connections at once, all users together.
    pub max_connections: usize,
    /// How long IDLE may last before the server says BYE (RFC 2177 asks for 29 minutes at least).
    pub idle_timeout: Duration,
    /// How long a connection may sit without sending a command (RFC 3501 asks for 30 minutes at least).
    pub autologout: Duration,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Unauthenticated connections are dropped sooner.
    pub login_timeout: Duration,
    /// However active, a connection that has not logged in by then is closed.
    pub login_deadline: Duration,
    /// Largest literal before login: enough for a user name and password, not for a flood.
    pub max_literal_before_login: u32,
    /// A write to a client that has not completed by then ends the connection: a client
    /// that stops reading cannot hold a session (and a blocking thread) for ever.
    pub write_timeout: Duration,
    /// Bytes of literals all connections together may be buffering at once.
    pub literal_budget: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_literal: 64 << 20,
            max_line: 64 << 10,
            max_connections: 1000,
            idle_timeout: Duration::from_secs(30 * 60),
            autologout: Duration::from_secs(30 * 60),
            handshake_timeout: Duration::from_secs(30),
            login_timeout: Duration::from_secs(60),
            login_deadline: Duration::from_secs(180),
            max_literal_before_login: 8 << 10,
            write_timeout: Duration::from_secs(120),
            literal_budget: 512 << 20,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    pub limits: Limits,
    /// Certificate and key for STARTTLS and implicit-TLS listeners. Without it the server
    /// offers no TLS, and only loopback clients can log in.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Where LOGIN and AUTHENTICATE PLAIN may come without TLS.
    pub plaintext: PlaintextPasswords,
    /// Every account's storage limit in KiB (QUOTA, RFC 9208); `None`: no quota.
    pub quota_kib: Option<u64>,
}

/// Where a password may travel in the clear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlaintextPasswords {
    /// From loopback addresses only (the default): nothing crosses a network unprotected.
    #[default]
    LoopbackOnly,
    /// Nowhere, not even from loopback: for a server behind a local proxy, where every
    /// connection comes from 127.0.0.1 whoever the client is.
    Never,
    /// From anywhere (tests and closed networks only).
    Anywhere,
}

impl ServerConfig {
    pub fn plaintext_allowed(&self, peer: SocketAddr) -> bool {
        match self.plaintext {
            PlaintextPasswords::LoopbackOnly => peer.ip().is_loopback(),
            PlaintextPasswords::Never => false,
            PlaintextPasswords::Anywhere => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_passwords_only_from_loopback_unless_allowed() {
        let config = ServerConfig::default();
        assert!(config.plaintext_allowed("127.0.0.1:5000".parse().expect("addr")));
        assert!(config.plaintext_allowed("[::1]:5000".parse().expect("addr")));
        assert!(!config.plaintext_allowed("192.0.2.7:5000".parse().expect("addr")));
        let open = ServerConfig {
            plaintext: PlaintextPasswords::Anywhere,
            ..ServerConfig::default()
        };
        assert!(open.plaintext_allowed("192.0.2.7:5000".parse().expect("addr")));
        let closed = ServerConfig {
            plaintext: PlaintextPasswords::Never,
            ..ServerConfig::default()
        };
        assert!(!closed.plaintext_allowed("127.0.0.1:5000".parse().expect("addr")));
    }
}
