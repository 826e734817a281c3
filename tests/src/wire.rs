//! A bare IMAP client on a blocking socket, for tests and benchmarks that want to see (and
//! time) exactly what goes over the wire.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Wire {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
    /// The server's first line.
    pub greeting: String,
    tag: u32,
}

impl Wire {
    /// Connects and reads the greeting.
    pub fn open(addr: SocketAddr) -> std::io::Result<Wire> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut wire = Wire {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            greeting: String::new(),
            tag: 0,
        };
        wire.greeting = wire.line()?;
        Ok(wire)
    }

    /// Sends bytes exactly as given.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Lines up to and including the one tagged `tag` (for commands sent with `send`).
    pub fn until(&mut self, tag: &str) -> std::io::Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return Ok(lines);
            }
        }
    }

    /// Reads to the end: true once the server has closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut self.reader, &mut rest).is_ok()
    }

    pub fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        Ok(line)
    }

    /// Sends one command (literals inline, `{n+}`); returns the bytes of every response line
    /// and literal up to and including the tagged status line.
    pub fn command(&mut self, text: &[u8]) -> std::io::Result<(Vec<u8>, String)> {
        self.tag += 1;
        let tag = format!("w{} ", self.tag);
        let mut bytes = tag.clone().into_bytes();
        bytes.extend_from_slice(text);
        bytes.extend_from_slice(b"\r\n");
        self.writer.write_all(&bytes)?;
        let mut data = Vec::new();
        loop {
            let mut line = Vec::new();
            self.reader.read_until(b'\n', &mut line)?;
            if line.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line.starts_with(tag.as_bytes()) {
                return Ok((data, String::from_utf8_lossy(&line).into_owned()));
            }
            // A literal announced at the end of a line: read exactly its bytes.
            let literal = line
                .strip_suffix(b"}\r\n")
                .and_then(|head| {
                    head.iter()
                        .rposition(|&b| b == b'{')
                        .map(|at| &head[at + 1..])
                })
                .and_then(|digits| std::str::from_utf8(digits).ok()?.parse::<usize>().ok());
            data.extend_from_slice(&line);
            if let Some(length) = literal {
                let mut body = vec![0; length];
                std::io::Read::read_exact(&mut self.reader, &mut body)?;
                data.extend_from_slice(&body);
            }
        }
    }

    /// Sends a command that must succeed (panics otherwise, naming it); returns the
    /// untagged responses as text.
    pub fn ok(&mut self, command: &str) -> String {
        let (data, status) = self.command(command.as_bytes()).expect("IMAP command");
        assert!(status.contains(" OK"), "{command}: {status}");
        String::from_utf8_lossy(&data).into_owned()
    }

    /// APPENDs a small message with this subject and body to `mailbox`.
    pub fn append_message(&mut self, mailbox: &str, subject: &str, body: &str) {
        let message = format!(
            "From: Ann <ann@example.org>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
             Message-ID: <{subject}@example.org>\r\n\r\n{body}\r\n"
        );
        self.ok(&format!(
            "APPEND \"{mailbox}\" {{{}+}}\r\n{message}",
            message.len()
        ));
    }
}
