//! One SMTP or LMTP client. Commands go through smtp-proto's `RequestReceiver` (which bounds a
//! line at 4 KiB), message data through its `DataReceiver` (dot-unstuffing); a message over
//! the size limit is read to its end and discarded, then refused. Replies are written here.

use super::{Delivery, Envelope, Refusal, SmtpConfig};
use crate::imap::connection::Io;
use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver, RequestReceiver};
use smtp_proto::{Error as ParseError, Request};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

const READ_CHUNK: usize = 16 << 10;

struct Session {
    io: Box<dyn Io>,
    /// Bytes read but not yet parsed.
    pending: Vec<u8>,
    chunk: Box<[u8]>,
    peer: SocketAddr,
    delivery: Arc<dyn Delivery>,
    config: Arc<SmtpConfig>,
    stop: watch::Receiver<bool>,
    helo: Option<String>,
    from: Option<String>,
    recipients: Vec<String>,
    errors: usize,
    secure: bool,
}

enum Read {
    Data,
    Closed,
    Stop,
}

enum Next {
    Continue,
    Close,
    Data,
    StartTls,
}

pub async fn run(
    io: Box<dyn Io>,
    peer: SocketAddr,
    delivery: Arc<dyn Delivery>,
    config: Arc<SmtpConfig>,
    stop: watch::Receiver<bool>,
) {
    let mut session = Session {
        io,
        pending: Vec::new(),
        chunk: vec![0u8; READ_CHUNK].into_boxed_slice(),
        peer,
        delivery,
        config,
        stop,
        helo: None,
        from: None,
        recipients: Vec::new(),
        errors: 0,
        secure: false,
    };
    let deadline = session.config.session_deadline;
    // An error here is the client going away; there is no one left to tell.
    if tokio::time::timeout(deadline, session.serve())
        .await
        .is_err()
    {
        let _ = session
            .send("421 4.4.2 this connection has lasted too long, closing\r\n")
            .await;
    }
}

impl Session {
    async fn serve(&mut self) -> io::Result<()> {
        let kind = if self.config.lmtp { "LMTP" } else { "ESMTP" };
        let greeting = format!("220 {} {kind} NomaMail ready\r\n", self.config.hostname);
        self.send(&greeting).await?;
        let mut receiver = RequestReceiver::default();
        loop {
            let request = {
                let mut bytes = self.pending.iter();
                let parsed = receiver.ingest(&mut bytes).map(Request::into_owned);
                let consumed = self.pending.len() - bytes.as_slice().len();
                self.pending.drain(..consumed);
                parsed
            };
            let next = match request {
                Ok(request) => self.command(request).await?,
                Err(ParseError::NeedsMoreData { .. }) => {
                    // The receiver keeps any partial line itself.
                    self.pending.clear();
                    match self.read(true).await? {
                        Read::Data => continue,
                        Read::Closed => return Ok(()),
                        Read::Stop => {
                            let line = "421 4.3.2 server shutting down\r\n";
                            return self.send(line).await;
                        }
                    }
                }
                Err(error) => {
                    self.refuse_syntax(&error).await?;
                    if self.errors >= self.config.max_errors {
                        return self.send("421 4.7.0 too many errors\r\n").await;
                    }
                    Next::Continue
                }
            };
            match next {
                Next::Continue => {}
                Next::Close => return Ok(()),
                Next::Data => {
                    if !self.data().await? {
                        return Ok(());
                    }
                }
                Next::StartTls => {
                    if !self.start_tls().await? {
                        return Ok(());
                    }
                    receiver = RequestReceiver::default();
                }
            }
        }
    }

    async fn refuse_syntax(&mut self, error: &ParseError) -> io::Result<()> {
        self.errors += 1;
        let line = match error {
            ParseError::UnknownCommand => "500 5.5.2 command not recognized".to_string(),
            ParseError::ResponseTooLong => "500 5.5.6 line too long".to_string(),
            ParseError::InvalidSenderAddress => "501 5.1.7 bad sender address".to_string(),
            ParseError::InvalidRecipientAddress => "501 5.1.3 bad recipient address".to_string(),
            ParseError::SyntaxError { syntax } => format!("501 5.5.4 syntax: {syntax}"),
            ParseError::InvalidParameter { param } => format!("501 5.5.4 bad parameter {param}"),
            ParseError::UnsupportedParameter { param } => {
                format!("555 5.5.4 unsupported parameter {param}")
            }
            _ => "500 5.5.2 syntax error".to_string(),
        };
        self.send(&format!("{line}\r\n")).await
    }

    async fn command(&mut self, request: Request<String>) -> io::Result<Next> {
        let lmtp = self.config.lmtp;
        let reply = match request {
            Request::Lhlo { host } if lmtp => return self.hello(host, true).await,
            Request::Ehlo { host } if !lmtp => return self.hello(host, true).await,
            Request::Helo { host } if !lmtp => return self.hello(host, false).await,
            Request::Lhlo { .. } | Request::Ehlo { .. } | Request::Helo { .. } => {
                self.errors += 1;
                if lmtp {
                    "500 5.5.1 this is an LMTP server: use LHLO".to_string()
                } else {
                    "500 5.5.1 this is an SMTP server: use EHLO or HELO".to_string()
                }
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    self.errors += 1;
                    "503 5.5.1 say hello first".to_string()
                } else if self.from.is_some() {
                    self.errors += 1;
                    "503 5.5.1 sender already given".to_string()
                } else if from.size > self.config.max_message_bytes {
                    format!(
                        "552 5.3.4 message size exceeds the limit of {} bytes",
                        self.config.max_message_bytes
                    )
                } else {
                    self.from = Some(from.address);
                    "250 2.1.0 sender ok".to_string()
                }
            }
            Request::Rcpt { to } => {
                if self.from.is_none() {
                    self.errors += 1;
                    "503 5.5.1 MAIL first".to_string()
                } else if self.recipients.len() >= self.config.max_recipients {
                    "452 4.5.3 too many recipients".to_string()
                } else {
                    match self.delivery.recipient(&to.address) {
                        Ok(()) => {
                            self.recipients.push(to.address);
                            "250 2.1.5 recipient ok".to_string()
                        }
                        Err(refusal) => {
                            // Probing for user names counts against the error limit.
                            self.errors += 1;
                            refusal.line().trim_end().to_string()
                        }
                    }
                }
            }
            Request::Data => {
                if self.recipients.is_empty() {
                    self.errors += 1;
                    "503 5.5.1 no valid recipients".to_string()
                } else {
                    self.send("354 end data with <CR><LF>.<CR><LF>\r\n").await?;
                    return Ok(Next::Data);
                }
            }
            Request::Bdat { .. } => {
                self.errors += 1;
                "502 5.5.1 CHUNKING is not offered".to_string()
            }
            Request::Rset => {
                self.reset();
                "250 2.0.0 reset".to_string()
            }
            Request::Noop { .. } => "250 2.0.0 ok".to_string(),
            Request::Vrfy { .. } => "252 2.5.0 cannot verify; send the mail".to_string(),
            Request::Help { .. } => "214 2.0.0 see RFC 5321".to_string(),
            Request::Quit => {
                self.send("221 2.0.0 bye\r\n").await?;
                return Ok(Next::Close);
            }
            Request::StartTls => {
                if self.config.tls.is_none() || self.secure {
                    "502 5.5.1 STARTTLS is not offered".to_string()
                } else if !self.pending.is_empty() {
                    // Commands pipelined behind STARTTLS would be injected into the TLS
                    // session as if the client had sent them after the handshake.
                    self.send("554 5.5.1 data after STARTTLS\r\n").await?;
                    return Ok(Next::Close);
                } else {
                    self.send("220 2.0.0 ready to start TLS\r\n").await?;
                    return Ok(Next::StartTls);
                }
            }
            Request::Auth { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => {
                self.errors += 1;
                "502 5.5.1 command not offered".to_string()
            }
        };
        self.send(&format!("{reply}\r\n")).await?;
        if self.errors >= self.config.max_errors {
            self.send("421 4.7.0 too many errors\r\n").await?;
            return Ok(Next::Close);
        }
        Ok(Next::Continue)
    }

    async fn hello(&mut self, host: String, extended: bool) -> io::Result<Next> {
        self.reset();
        let mut reply = format!("250-{} greets {host}\r\n", self.config.hostname);
        self.helo = Some(host);
        if !extended {
            reply = reply.replacen("250-", "250 ", 1);
            self.send(&reply).await?;
            return Ok(Next::Continue);
        }
        let mut capabilities = vec![
            "PIPELINING".to_string(),
            format!("SIZE {}", self.config.max_message_bytes),
            "8BITMIME".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if self.config.tls.is_some() && !self.secure {
            capabilities.push("STARTTLS".to_string());
        }
        let last = capabilities.len() - 1;
        for (i, capability) in capabilities.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            reply.push_str(&format!("250{sep}{capability}\r\n"));
        }
        self.send(&reply).await?;
        Ok(Next::Continue)
    }

    fn reset(&mut self) {
        self.from = None;
        self.recipients.clear();
    }

    /// Reads a message, delivers it and replies. `false` when the connection is over.
    async fn data(&mut self) -> io::Result<bool> {
        let mut receiver = DataReceiver::new();
        let mut message = Vec::new();
        let mut discard: Option<DummyDataReceiver> = None;
        // Why a message being discarded is refused once it has been read to its end.
        let mut refusal: Option<Refusal> = None;
        let mut reservation = super::budget::Reservation::new(&self.config.buffer_budget);
        loop {
            let done = {
                let mut bytes = self.pending.iter();
                let done = match discard.as_mut() {
                    Some(discard) => discard.ingest(&mut bytes),
                    None => receiver.ingest(&mut bytes, &mut message),
                };
                let consumed = self.pending.len() - bytes.as_slice().len();
                self.pending.drain(..consumed);
                done
            };
            if discard.is_none() {
                if message.len() > self.config.max_message_bytes {
                    refusal = Some(Refusal {
                        code: 552,
                        status: "5.3.4",
                        text: format!(
                            "message exceeds the limit of {} bytes",
                            self.config.max_message_bytes
                        ),
                    });
                } else if !reservation.grow_to(message.len()) {
                    tracing::warn!(
                        peer = %self.peer,
                        budget = self.config.buffer_budget.limit(),
                        "smtp: messages being received fill the memory budget; one refused for now"
                    );
                    refusal = Some(Refusal {
                        code: 452,
                        status: "4.3.1",
                        text: "too much mail is being received at once; try again later".into(),
                    });
                }
                if refusal.is_some() {
                    discard = Some(DummyDataReceiver::new_data(&receiver));
                    message = Vec::new();
                    reservation = super::budget::Reservation::new(&self.config.buffer_budget);
                }
            }
            if done {
                break;
            }
            // A message in progress is finished even during shutdown.
            match self.read(false).await? {
                Read::Data => {}
                Read::Closed | Read::Stop => return Ok(false),
            }
        }
        let recipients = self.recipients.len();
        let results = if let Some(refusal) = refusal {
            vec![Err(refusal); recipients]
        } else {
            let envelope = Envelope {
                peer: self.peer,
                helo: self.helo.clone().unwrap_or_default(),
                lmtp: self.config.lmtp,
                from: self.from.clone().unwrap_or_default(),
                recipients: self.recipients.clone(),
            };
            let delivery = self.delivery.clone();
            let mut results =
                tokio::task::spawn_blocking(move || delivery.deliver(&envelope, &message))
                    .await
                    .unwrap_or_default();
            results.resize(recipients, Err(Refusal::temporary("delivery failed")));
            results
        };
        let mut reply = String::new();
        if self.config.lmtp {
            for result in &results {
                reply.push_str(&outcome_line(result));
            }
        } else {
            // SMTP has one reply per message: the first refusal, or success.
            let first_refusal = results.iter().find(|r| r.is_err());
            reply.push_str(&outcome_line(first_refusal.unwrap_or(&Ok(()))));
        }
        self.reset();
        self.send(&reply).await?;
        Ok(true)
    }

    async fn start_tls(&mut self) -> io::Result<bool> {
        let Some(tls) = self.config.tls.clone() else {
            return Ok(false);
        };
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::empty()));
        let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(plain);
        let Ok(Ok(stream)) = tokio::time::timeout(self.config.timeout, handshake).await else {
            return Ok(false);
        };
        self.io = Box::new(stream);
        self.secure = true;
        // RFC 3207: the client starts over with EHLO.
        self.helo = None;
        self.reset();
        Ok(true)
    }

    async fn read(&mut self, stoppable: bool) -> io::Result<Read> {
        let read = self.io.read(&mut self.chunk);
        let mut stop = self.stop.clone();
        let stopping = async move {
            if stoppable {
                let _ = stop.wait_for(|stopped| *stopped).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = tokio::time::timeout(self.config.timeout, read) => match result {
                Ok(Ok(0)) | Err(_) => Ok(Read::Closed),
                Ok(Ok(n)) => {
                    self.pending.extend_from_slice(&self.chunk[..n]);
                    Ok(Read::Data)
                }
                Ok(Err(e)) => Err(e),
            },
            _ = stopping => Ok(Read::Stop),
        }
    }

    /// A client that never reads must not hold its task (and a connection slot) for ever.
    async fn send(&mut self, text: &str) -> io::Result<()> {
        let write = async {
            self.io.write_all(text.as_bytes()).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(self.config.timeout, write).await {
            Ok(result) => result,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }
}

fn outcome_line(result: &Result<(), Refusal>) -> String {
    match result {
        Ok(()) => "250 2.0.0 delivered\r\n".to_string(),
        Err(refusal) => refusal.line(),
    }
}
