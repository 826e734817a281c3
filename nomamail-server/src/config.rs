//! `server.toml`: what the daemon listens on, its sync identity, where its sync mail goes out
//! and, optionally, a hosted mailbox to poll for sync mail. Every field has a default, so a
//! missing file or section means "the defaults"; `init` writes the commented template below.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSection,
    pub imap: ImapSection,
    pub smtp: SmtpSection,
    pub sync: SyncSection,
    pub relay: Option<RelaySection>,
    pub poll: Option<PollSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// This server's name, shown to its peers and in its sync mail.
    pub name: String,
    /// The host name in SMTP greetings and Received headers.
    pub hostname: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            name: "nomamail".into(),
            hostname: "localhost".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapSection {
    pub listen: SocketAddr,
    pub listen_tls: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_connections: usize,
    pub max_literal: u32,
    pub max_line: usize,
    pub idle_timeout_secs: u64,
    /// Refuse passwords in the clear even from loopback (behind a local TLS proxy every
    /// client seems to come from 127.0.0.1).
    pub require_tls: bool,
    /// Every account's storage limit, MiB (QUOTA); none: no limit, QUOTA not offered.
    pub quota_mib: Option<u64>,
}

impl Default for ImapSection {
    fn default() -> Self {
        ImapSection {
            listen: ([127, 0, 0, 1], 1143).into(),
            listen_tls: None,
            tls_cert: None,
            tls_key: None,
            max_connections: 1000,
            max_literal: 64 << 20,
            max_line: 64 << 10,
            idle_timeout_secs: 30 * 60,
            require_tls: false,
            quota_mib: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSection {
    /// SMTP listener for MTAs and peers (mail for local users, and sync mail).
    pub listen: Option<SocketAddr>,
    /// LMTP listener for a local MTA and `deliver`.
    pub lmtp_listen: Option<SocketAddr>,
    /// Mail domains taken for local users; empty takes any.
    pub domains: Vec<String>,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    /// What all SMTP and LMTP connections may hold at once in messages being received
    /// (never less than `max_message_bytes`); beyond it a message waits (452).
    pub buffer_budget_bytes: usize,
    /// How long one connection may last in all.
    pub session_deadline_secs: u64,
}

impl Default for SmtpSection {
    fn default() -> Self {
        SmtpSection {
            listen: Some(([127, 0, 0, 1], 2525).into()),
            lmtp_listen: Some(([127, 0, 0, 1], 2424).into()),
            domains: Vec::new(),
            max_message_bytes: 64 << 20,
            max_connections: 200,
            buffer_budget_bytes: 256 << 20,
            session_deadline_secs: 3600,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSection {
    /// The address this server's sync mail arrives at.
    pub address: String,
    /// Where peers may deliver sync mail straight to this server (`host:port`); given to
    /// them in the pairing token.
    pub endpoint: Option<String>,
    pub max_mail_bytes: usize,
    /// Changes are gathered this long after the first one before mail goes out.
    pub batch_ms: u64,
    /// Look for work this often even when nothing woke the sender.
    pub interval_ms: u64,
    pub hello_every_ms: u64,
    pub retransmit_after_ms: u64,
    pub retransmit_max_ms: u64,
    /// A bare acknowledgement waits this long for data to travel with.
    pub ack_delay_ms: u64,
    /// Delay before an MTA that refused a mail is tried again (doubling, capped at 1 hour).
    /// Short, so two servers started at the same moment find each other at once; the
    /// doubling keeps a peer that is down for long from being hammered.
    pub send_retry_ms: u64,
    /// `status` shows a peer silent for longer than this as holding up purges (expunged
    /// mail's tombstones and bodies wait for every peer), with the command that forgets it.
    pub silent_peer_days: u64,
    /// Accounts one paired server may make here in a day (mail for more waits).
    pub max_new_accounts_per_day: u32,
}

impl Default for SyncSection {
    fn default() -> Self {
        SyncSection {
            address: "sync@localhost".into(),
            endpoint: Some("127.0.0.1:2525".into()),
            // Below Postfix's default message_size_limit (10,240,000), with room for the
            // headers MTAs add on the way.
            max_mail_bytes: 8_000_000,
            batch_ms: 500,
            interval_ms: 60_000,
            hello_every_ms: 10 * 60_000,
            retransmit_after_ms: 10 * 60_000,
            retransmit_max_ms: 24 * 3_600_000,
            ack_delay_ms: 60_000,
            send_retry_ms: 1_000,
            silent_peer_days: 90,
            max_new_accounts_per_day: 1000,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySection {
    pub host: String,
    #[serde(default = "default_relay_port")]
    pub port: u16,
    #[serde(default = "default_relay_security")]
    pub security: Security,
    pub username: Option<String>,
    /// The relay password's file (first line), never the password itself.
    pub password_file: Option<PathBuf>,
}

fn default_relay_port() -> u16 {
    25
}

fn default_relay_security() -> Security {
    Security::Starttls
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PollSection {
    pub host: String,
    #[serde(default = "default_poll_port")]
    pub port: u16,
    #[serde(default = "default_true")]
    pub tls: bool,
    pub username: String,
    pub password_file: PathBuf,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// How often to look when the server offers no IDLE.
    #[serde(default = "default_poll_interval")]
    pub interval_ms: u64,
}

fn default_poll_port() -> u16 {
    993
}
fn default_true() -> bool {
    true
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_poll_interval() -> u64 {
    60_000
}

pub const TEMPLATE: &str = r#"# NomaMail server configuration. Every setting shows its default.

[server]
# This server's name, shown to its paired server and in its sync mail.
name = "nomamail"
# Host name in SMTP greetings and Received headers.
hostname = "localhost"

[imap]
listen = "127.0.0.1:1143"
# IMAP with TLS from the first byte (port 993 style):
# listen_tls = "0.0.0.0:993"
# Certificate and key (PEM); without them a self-signed pair in the data directory is used.
# tls_cert = "/etc/ssl/certs/mail.pem"
# tls_key = "/etc/ssl/private/mail.key"
max_connections = 1000
max_literal = 67108864
max_line = 65536
idle_timeout_secs = 1800
# Passwords in the clear are taken only from loopback addresses; true refuses them there too
# (for a server behind a local TLS proxy, where every client comes from 127.0.0.1).
require_tls = false
# Every account's storage limit in MiB, reported by QUOTA (RFC 9208); APPEND and COPY past it
# are refused. Without it there is no limit.
# quota_mib = 2048

[smtp]
# SMTP listener: your MTA (or the paired server) delivers local users' mail and sync mail here.
listen = "127.0.0.1:2525"
# LMTP listener for a local MTA and `nomamail-server deliver`.
lmtp_listen = "127.0.0.1:2424"
# Mail domains taken for local users; empty takes any.
domains = []
max_message_bytes = 67108864
max_connections = 200
# Messages being received on all connections together hold at most this much memory;
# past it a message is refused for now (452) and its sender tries again.
buffer_budget_bytes = 268435456
# A connection is closed (421) after this long, however busy.
session_deadline_secs = 3600

[sync]
# The address this server's sync mail arrives at. Route it to the SMTP listener above.
address = "sync@localhost"
# Where the paired server may deliver straight to this one (given out with the pairing token).
endpoint = "127.0.0.1:2525"
# Bundles bigger than this are split across several mails.
max_mail_bytes = 8000000
batch_ms = 500
interval_ms = 60000
hello_every_ms = 600000
# Unacknowledged changes are sent again after this long; the delay doubles while the
# peer is silent, up to retransmit_max_ms.
retransmit_after_ms = 600000
retransmit_max_ms = 86400000
# A bare acknowledgement waits this long for data to travel with (keep it well below the
# peer's retransmit_after_ms).
ack_delay_ms = 60000
# A mail the MTA (or the peer) did not take is tried again after this long, doubling up to
# an hour: quick at first, so servers started together need not wait.
send_retry_ms = 1000
# `status` shows a peer silent for longer than this as holding up purges.
silent_peer_days = 90
# Accounts a paired server may make here in a day; its mail for more waits until the next.
# Only the server an account came from may change its password here.
max_new_accounts_per_day = 1000

# Send sync mail through a relay instead of straight to the peer's endpoint:
# [relay]
# host = "smtp.example.com"
# port = 587
# security = "starttls"      # none, starttls or tls
# username = "office-sync"
# password_file = "/etc/nomamail/relay-password"

# Read sync mail from a hosted mailbox (for a server that receives no SMTP itself):
# [poll]
# host = "imap.example.com"
# port = 993
# tls = true
# username = "sync@example.com"
# password_file = "/etc/nomamail/poll-password"
# mailbox = "INBOX"
# interval_ms = 60000
"#;

/// Where the configuration lives: `--config`/`NOMAMAIL_CONFIG`, else the platform's.
pub fn path(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(path) => Ok(path),
        None => Ok(dirs::config_dir()
            .context("no platform configuration directory: pass --config")?
            .join("nomamail")
            .join("server.toml")),
    }
}

pub fn load(path: &Path) -> Result<Config> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("in {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the commented template unless a configuration is there.
pub fn write_template(path: &Path) -> Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, TEMPLATE).with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

pub fn read_secret(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(TEMPLATE).unwrap();
        let defaults = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn unknown_settings_are_errors() {
        assert!(toml::from_str::<Config>("[smtp]\nlisten_on = \"x\"\n").is_err());
    }
}
