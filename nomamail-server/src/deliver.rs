//! `deliver --user U`: a local delivery agent. One message on standard input goes into the
//! user's INBOX: straight into the store when no daemon holds it, else through the daemon's
//! LMTP listener (so IMAP clients and sync see it at once). Exit codes follow sysexits, as
//! MTAs expect of a delivery agent: 67 unknown user, 75 try again later, 65 bad input.

use anyhow::{Context, Result};
use nomamail_core::accounts::Accounts;
use nomamail_core::{Durability, Error as EngineError, INBOX_ID};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
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
    let message = normalize_line_ends(&message);
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
        Err(nomamail_core::accounts::AccountError::Replica { source, .. })
            if matches!(*source, EngineError::Locked(_)) =>
        {
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
            match lmtp_deliver(
                lmtp,
                &config.server.hostname,
                from,
                &format!("{user}@{domain}"),
                &message,
            ) {
                Ok(()) => {
                    println!("delivered to {user} through the daemon");
                    Ok(ExitCode::SUCCESS)
                }
                Err(LmtpError::Refused(reply)) => {
                    eprintln!("the daemon refused the message: {reply}");
                    Ok(ExitCode::from(if reply.starts_with('4') {
                        EX_TEMPFAIL
                    } else {
                        EX_DATAERR
                    }))
                }
                Err(LmtpError::Io(e)) => {
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

/// Mail from a pipe often has bare LF line ends; stores and IMAP want CRLF.
fn normalize_line_ends(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 40);
    let mut previous = 0u8;
    for &byte in message {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        previous = byte;
    }
    out
}

enum LmtpError {
    Io(std::io::Error),
    Refused(String),
}

impl From<std::io::Error> for LmtpError {
    fn from(e: std::io::Error) -> Self {
        LmtpError::Io(e)
    }
}

fn lmtp_deliver(
    address: std::net::SocketAddr,
    hostname: &str,
    from: &str,
    recipient: &str,
    message: &[u8],
) -> Result<(), LmtpError> {
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let expect = |reader: &mut BufReader<TcpStream>, code: char| -> Result<(), LmtpError> {
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Err(LmtpError::Refused("connection closed".into()));
            }
            if line.as_bytes().get(3) == Some(&b'-') {
                continue;
            }
            return if line.starts_with(code) {
                Ok(())
            } else {
                Err(LmtpError::Refused(line.trim_end().to_string()))
            };
        }
    };
    expect(&mut reader, '2')?;
    for (command, code) in [
        (format!("LHLO {hostname}"), '2'),
        (format!("MAIL FROM:<{from}>"), '2'),
        (format!("RCPT TO:<{recipient}>"), '2'),
        ("DATA".to_string(), '3'),
    ] {
        writer.write_all(format!("{command}\r\n").as_bytes())?;
        expect(&mut reader, code)?;
    }
    let mut stuffed = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(line);
    }
    if !stuffed.ends_with(b"\r\n") {
        stuffed.extend_from_slice(b"\r\n");
    }
    stuffed.extend_from_slice(b".\r\n");
    writer.write_all(&stuffed)?;
    expect(&mut reader, '2')?;
    let _ = writer.write_all(b"QUIT\r\n");
    Ok(())
}
