//! A bare IMAP client on a blocking socket, for tests and benchmarks that want to see (and
//! time) exactly what goes over the wire.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Wire {
    pub reader: BufReader<Box<dyn Read + Send>>,
    /// Flushed after every command (a compressing writer sends only then).
    pub writer: Box<dyn Write + Send>,
    stream: TcpStream,
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
            reader: BufReader::new(Box::new(stream.try_clone()?)),
            writer: Box::new(stream.try_clone()?),
            stream,
            greeting: String::new(),
            tag: 0,
        };
        wire.greeting = wire.line()?;
        Ok(wire)
    }

    /// Turns on COMPRESS=DEFLATE (RFC 4978): from the OK on, both directions are deflated.
    pub fn compress(&mut self) -> std::io::Result<String> {
        let (_, status) = self.command(b"COMPRESS DEFLATE")?;
        if status.contains(" OK") {
            // Nothing is buffered past the OK: the server sends nothing more until asked.
            let read = Inflating {
                stream: self.stream.try_clone()?,
                inflate: flate2::Decompress::new(false),
                ready: Vec::new(),
                at: 0,
            };
            self.reader = BufReader::new(Box::new(read));
            self.writer = Box::new(flate2::write::DeflateEncoder::new(
                self.stream.try_clone()?,
                flate2::Compression::default(),
            ));
        }
        Ok(status)
    }

    /// Closes the sending direction (the server sees end of input).
    pub fn shutdown_write(&mut self) -> std::io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }

    /// Sends bytes exactly as given.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
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
        self.send(&bytes)?;
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

/// Inflates what the server sends as it arrives: every read hands on all the output the
/// bytes read so far make (the server sync-flushes each response).
struct Inflating {
    stream: TcpStream,
    inflate: flate2::Decompress,
    ready: Vec<u8>,
    at: usize,
}

impl Read for Inflating {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.ready.len() {
            let mut raw = [0u8; 16 << 10];
            let n = self.stream.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.ready.clear();
            self.at = 0;
            let mut input = &raw[..n];
            while !input.is_empty() {
                self.ready.reserve(64 << 10);
                let before = self.inflate.total_in();
                self.inflate
                    .decompress_vec(input, &mut self.ready, flate2::FlushDecompress::Sync)
                    .map_err(std::io::Error::other)?;
                let used = (self.inflate.total_in() - before) as usize;
                if used == 0 && self.ready.len() < self.ready.capacity() {
                    return Err(std::io::Error::other("the deflate stream is stuck"));
                }
                input = &input[used..];
            }
        }
        let n = out.len().min(self.ready.len() - self.at);
        out[..n].copy_from_slice(&self.ready[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
