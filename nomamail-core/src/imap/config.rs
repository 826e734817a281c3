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
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    pub limits: Limits,
    /// Certificate and key for STARTTLS and implicit-TLS listeners. Without it the server
    /// offers no TLS, and only loopback clients can log in.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Accept LOGIN and AUTHENTICATE PLAIN without TLS from anywhere. Off by default: then only
    /// clients on a loopback address may send a password in the clear.
    pub allow_plaintext_anywhere: bool,
}

impl ServerConfig {
    pub fn plaintext_allowed(&self, peer: SocketAddr) -> bool {
        self.allow_plaintext_anywhere || peer.ip().is_loopback()
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
            allow_plaintext_anywhere: true,
            ..ServerConfig::default()
        };
        assert!(open.plaintext_allowed("192.0.2.7:5000".parse().expect("addr")));
    }
}
