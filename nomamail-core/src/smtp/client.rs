//! A small blocking SMTP/LMTP client for handing one message to a listener: `deliver`
//! giving mail to a running daemon's LMTP port, and test relays forwarding mail. One message,
//! one recipient, no extensions; dot-stuffing is done here.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server's reply, e.g. `550 5.1.1 no such user here`.
    #[error("refused: {0}")]
    Refused(String),
}

impl ClientError {
    /// A refusal the sender should not retry (5xx).
    pub fn is_permanent(&self) -> bool {
        matches!(self, ClientError::Refused(reply) if reply.starts_with('5'))
    }
}

pub struct Message<'a> {
    pub from: &'a str,
    pub recipient: &'a str,
    pub bytes: &'a [u8],
}

/// Sends `message` to the SMTP (or, with `lmtp`, LMTP) listener at `to`.
pub fn send(
    to: SocketAddr,
    lmtp: bool,
    helo: &str,
    message: &Message<'_>,
    timeout: Duration,
) -> Result<(), ClientError> {
    let stream = TcpStream::connect_timeout(&to, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    expect(&mut reader, '2')?;
    let hello = if lmtp { "LHLO" } else { "EHLO" };
    for (command, code) in [
        (format!("{hello} {helo}"), '2'),
        (format!("MAIL FROM:<{}>", message.from), '2'),
        (format!("RCPT TO:<{}>", message.recipient), '2'),
        ("DATA".to_string(), '3'),
    ] {
        writer.write_all(format!("{command}\r\n").as_bytes())?;
        expect(&mut reader, code)?;
    }
    writer.write_all(&dot_stuff(message.bytes))?;
    expect(&mut reader, '2')?;
    let _ = writer.write_all(b"QUIT\r\n");
    Ok(())
}

/// One reply (skipping continuation lines); an error unless its code starts with `class`.
fn expect(reader: &mut impl BufRead, class: char) -> Result<(), ClientError> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(ClientError::Refused("connection closed".into()));
        }
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        return if line.starts_with(class) {
            Ok(())
        } else {
            Err(ClientError::Refused(line.trim_end().to_string()))
        };
    }
}

/// The DATA form of a message: lines starting with a dot get another, and `.` ends it.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
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
    stuffed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_ends_the_message() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n..c"), b"..a\r\nb\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b"\r\n.\r\n");
    }
}
