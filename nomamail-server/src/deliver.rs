//! `deliver --user U`: a local delivery agent. One message on standard input goes into the
//! user's INBOX: straight into the store when no daemon holds it, else through the daemon's
//! LMTP listener (so IMAP clients and sync see it at once). Exit codes follow sysexits, as
//! MTAs expect of a delivery agent: 67 unknown user, 75 try again later, 65 bad input.

use anyhow::{Context, Result};
use nomamail_core::accounts::Accounts;
use nomamail_core::smtp::client::{self, ClientError};
use nomamail_core::{Durability, Error as EngineError, INBOX_ID};
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

const EX_DATAERR: u8 = 65;
const EX_NOUSER: u8 = 67;
const EX_TEMPFAIL: u8 = 75;

pub fn run(
    data_dir: &Path,
    config: &crate::config::Config,
    user: &str,
    from: &str,
) -> Result<ExitCode> {
    let mut message = Vec::new();
    std::io::stdin()
        .lock()
        .take(config.smtp.max_message_bytes as u64 + 1)
        .read_to_end(&mut message)
        .context("reading the message from standard input")?;
    if message.len() > config.smtp.max_message_bytes {
        eprintln!(
            "message larger than {} bytes",
            config.smtp.max_message_bytes
        );
        return Ok(ExitCode::from(EX_DATAERR));
    }
    if nomamail_core::mailsync::is_sync_mail(&message) {
        eprintln!("sync mail is not delivered to users");
        return Ok(ExitCode::from(EX_DATAERR));
    }
    let message = crate::import::crlf(&message);
    let accounts = Accounts::open(data_dir)?;
    if accounts.get(user)?.is_none() {
        eprintln!("no such user: {user}");
        return Ok(ExitCode::from(EX_NOUSER));
    }
    match accounts.open_replica(user, Durability::Full) {
        Ok(mut replica) => {
            let now = chrono::Utc::now();
            let mut stored = format!(
                "Return-Path: <{from}>\r\nDelivered-To: {user}\r\nReceived: by {host} (NomaMail deliver); {date}\r\n",
                host = config.server.hostname,
                date = now.to_rfc2822()
            )
            .into_bytes();
            stored.extend_from_slice(&message);
            match replica.append(INBOX_ID, &stored, &[], now.timestamp(), 0) {
                Ok(appended) => {
                    println!("delivered to {user} (UID {})", appended.uid);
                    Ok(ExitCode::SUCCESS)
                }
                Err(EngineError::MessageTooLarge(_)) => Ok(ExitCode::from(EX_DATAERR)),
                Err(e) => {
                    eprintln!("cannot store the message: {e}");
                    Ok(ExitCode::from(EX_TEMPFAIL))
                }
            }
        }
        Err(e) if e.is_locked() => {
            let running_at = std::fs::read_to_string(crate::run::lmtp_address_path(data_dir))
                .ok()
                .and_then(|text| text.trim().parse().ok());
            let Some(lmtp) = running_at.or(config.smtp.lmtp_listen) else {
                eprintln!("the daemon holds the store and has no LMTP listener configured");
                return Ok(ExitCode::from(EX_TEMPFAIL));
            };
            let domain = config
                .smtp
                .domains
                .first()
                .map_or("localhost", String::as_str);
            let recipient = format!("{user}@{domain}");
            let handed = client::send(
                lmtp,
                true,
                &config.server.hostname,
                &client::Message {
                    from,
                    recipient: &recipient,
                    bytes: &message,
                },
                Duration::from_secs(300),
            );
            match handed {
                Ok(()) => {
                    println!("delivered to {user} through the daemon");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ ClientError::Refused(_)) => {
                    eprintln!("the daemon {e}");
                    Ok(ExitCode::from(if e.is_permanent() {
                        EX_DATAERR
                    } else {
                        EX_TEMPFAIL
                    }))
                }
                Err(ClientError::Io(e)) => {
                    eprintln!("cannot reach the daemon's LMTP listener at {lmtp}: {e}");
                    Ok(ExitCode::from(EX_TEMPFAIL))
                }
            }
        }
        Err(e) => {
            eprintln!("cannot open the store of {user}: {e}");
            Ok(ExitCode::from(EX_TEMPFAIL))
        }
    }
}
