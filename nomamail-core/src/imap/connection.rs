//! One client connection: reads bytes into commands (with bounded buffers and literal
//! continuations), hands each command to the session off the reactor, writes the replies,
//! and does the waiting parts of IDLE and AUTHENTICATE itself.

use super::config::Limits;
use super::reply::{Outcome, Replies};
use super::state::{Reply, Session, Shared};
use bounded_static::IntoBoundedStatic;
use imap_codec::fragmentizer::{
    DecodeMessageError, FragmentInfo, Fragmentizer, LiteralAnnouncement,
};
use imap_codec::{AuthenticateDataCodec, CommandCodec, IdleDoneCodec};
use imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_types::command::{Command, CommandBody};
use imap_types::core::{LiteralMode, Tag};
use imap_types::response::Code;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

const READ_CHUNK: usize = 16 << 10;

/// Asks the kernel to acknowledge what arrives next at once instead of delaying the ACK.
///
/// After `+ go ahead` a client sends the literal and then, in a separate write, the CRLF that
/// ends the command (imaplib, Thunderbird and imapsync all do). With Nagle's algorithm on the
/// client, that small CRLF waits until the literal is acknowledged, and a receiver that has
/// nothing to answer yet delays its ACK by up to 40 ms: every APPEND then took 44 ms.
/// Quick-ack mode sends the ACK at once, so the CRLF follows the literal immediately.
pub struct QuickAck(Option<std::os::fd::OwnedFd>);

impl QuickAck {
    /// Holds a duplicate of the socket's descriptor (the same socket, so options set on it
    /// apply to the connection); `none` where there is no TCP socket (tests on pipes).
    pub fn of(stream: &tokio::net::TcpStream) -> QuickAck {
        use std::os::fd::AsFd;
        QuickAck(stream.as_fd().try_clone_to_owned().ok())
    }

    pub fn none() -> QuickAck {
        QuickAck(None)
    }

    fn now(&self) {
        if let Some(fd) = &self.0 {
            // Only a latency hint: a socket that refuses it still works.
            let _ = socket2::SockRef::from(fd).set_tcp_quickack(true);
        }
    }
}

enum Incoming {
    /// A complete message sits in the fragmentizer.
    Message,
    /// The client closed the connection, or must be dropped.
    Closed,
}

enum Checked {
    NoPassword,
    Go(super::throttle::InFlight),
    Refused,
}

enum Wait {
    Incoming(io::Result<Incoming>),
    Stop,
    Timeout,
}

pub struct Connection {
    io: Box<dyn Io>,
    fragments: Fragmentizer,
    /// Where the current line started in the message buffer; tells a line that outgrows
    /// `max_line` from a literal that may be large.
    line_start: usize,
    in_literal: bool,
    session: Option<Session>,
    limits: Limits,
    max_message: u32,
    /// Where socket reads land before the fragmentizer takes them.
    chunk: Box<[u8]>,
    stop: watch::Receiver<bool>,
    acks: QuickAck,
    peer: SocketAddr,
    /// When the connection must have logged in by.
    login_deadline: tokio::time::Instant,
    shared: Arc<Shared>,
    /// What this connection holds of the literal budget for the message it is reading.
    reserved: u64,
    /// The last message was large: the buffer it grew is let go before the next one.
    shrink: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.literals.release(self.reserved);
    }
}

/// Serves one client. With `implicit_tls`, the TLS handshake comes first (port 993 style).
pub async fn run(
    io: Box<dyn Io>,
    acks: QuickAck,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    implicit_tls: bool,
) {
    let io = if implicit_tls {
        let Some(tls) = shared.config.tls.clone() else {
            return;
        };
        let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(io);
        match tokio::time::timeout(shared.config.limits.handshake_timeout, handshake).await {
            Ok(Ok(stream)) => Box::new(stream) as Box<dyn Io>,
            _ => return,
        }
    } else {
        io
    };
    let secure = implicit_tls;
    let limits = shared.config.limits.clone();
    let limits_deadline = limits.login_deadline;
    let max_message = limits
        .max_literal
        .saturating_add(u32::try_from(limits.max_line * 4).unwrap_or(u32::MAX));
    let mut connection = Connection {
        io,
        fragments: Fragmentizer::new(max_message),
        line_start: 0,
        in_literal: false,
        session: Some(Session::new(shared.clone(), peer, secure)),
        limits,
        max_message,
        chunk: vec![0u8; READ_CHUNK].into_boxed_slice(),
        stop,
        acks,
        peer,
        login_deadline: tokio::time::Instant::now() + limits_deadline,
        shared,
        reserved: 0,
        shrink: false,
    };
    // An error here is the client going away; there is no one left to tell.
    let _ = connection.serve().await;
}

impl Connection {
    async fn serve(&mut self) -> io::Result<()> {
        let greeting = match &self.session {
            Some(session) => super::commands::capability::greeting(session),
            None => return Ok(()),
        };
        self.send(&greeting).await?;
        loop {
            let authenticated = self.authenticated();
            let timeout = if authenticated {
                self.limits.autologout
            } else {
                let left = self
                    .login_deadline
                    .saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return self.limit_bye("not logged in in time").await;
                }
                self.limits.login_timeout.min(left)
            };
            match self.wait(timeout).await {
                Wait::Incoming(Ok(Incoming::Message)) => {}
                Wait::Incoming(Ok(Incoming::Closed)) | Wait::Incoming(Err(_)) => return Ok(()),
                Wait::Stop => return self.bye("server shutting down").await,
                Wait::Timeout if authenticated => {
                    return self.limit_bye("autologout: idle for too long").await;
                }
                Wait::Timeout => return self.limit_bye("not logged in in time").await,
            }
            // `$` is written out as the set it stands for now, before anything parses it.
            let substituted = self.session.as_ref().and_then(|session| {
                super::searchres::substitute(self.fragments.message_bytes(), &|by_uid| {
                    session.saved_numbers(by_uid)
                })
            });
            let bytes = match &substituted {
                Some(substituted) => &substituted.bytes[..],
                None => self.fragments.message_bytes(),
            };
            // Extended syntax imap-codec does not read comes out as a plain command and what
            // the extension adds.
            let parsed = match super::extended::parse(bytes) {
                Ok(Some((command, extension))) => Ok((command, Some(extension))),
                Ok(None) if substituted.is_some() => super::extended::decode(bytes)
                    .map(|command| (command, None))
                    .map_err(|error| error.0),
                Ok(None) => match self.fragments.decode_message(&CommandCodec::default()) {
                    Ok(command) => Ok((command.into_static(), None)),
                    Err(error) => Err(error_text(&error)),
                },
                Err(error) => Err(error.0),
            };
            let (command, mut extension) = match parsed {
                Ok(parsed) => parsed,
                Err(text) => {
                    self.refuse_message(text).await?;
                    continue;
                }
            };
            if substituted.is_some_and(|s| s.nothing_saved) {
                extension = Some(super::extended::Extension::NothingSaved);
            }
            if !self.command(command, extension).await? {
                return Ok(());
            }
        }
    }

    /// Runs one command; false when the connection must close.
    async fn command(
        &mut self,
        command: Command<'static>,
        extension: Option<super::extended::Extension>,
    ) -> io::Result<bool> {
        match &command.body {
            CommandBody::Idle => return self.idle(command.tag).await,
            CommandBody::StartTLS => return self.start_tls(command.tag).await,
            CommandBody::Compress { .. } => return self.compress(command.tag).await,
            CommandBody::Authenticate {
                mechanism: AuthMechanism::Plain,
                initial_response: None,
            } => return self.authenticate_plain(command.tag).await,
            _ => {}
        }
        // A FETCH of flags that the selected view holds answers in microseconds: handing it
        // to a blocking thread would cost more than the answer.
        if extension.is_none()
            && let Some(session) = self.session.as_mut()
            && session.answers_from_view(&command)
        {
            let reply = session.handle_from_view(command);
            return self.reply(reply).await;
        }
        let _checking = match self.hold_back_password_check(&command).await? {
            Checked::NoPassword => None,
            Checked::Go(in_flight) => Some(in_flight),
            Checked::Refused => return Ok(true),
        };
        // Large answers (FETCH of many bodies) go out in pieces while the handler runs; the
        // bounded channel makes a client that does not read stall its own command instead of
        // growing the server's memory.
        let (pieces, mut ready) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
        let store = self.session.as_ref().and_then(|s| s.store().cloned());
        let _turn = match &store {
            Some(store) => match store.running.acquire().await {
                Ok(turn) => Some(turn),
                Err(_) => return Ok(false),
            },
            None => None,
        };
        let Some(mut session) = self.session.take() else {
            return Ok(false);
        };
        let mut handler = tokio::task::spawn_blocking(move || {
            let reply = session.handle_streaming(command, extension, pieces);
            (session, reply)
        });
        let finished = loop {
            tokio::select! {
                piece = ready.recv() => match piece {
                    Some(piece) => self.send(&piece).await?,
                    None => break (&mut handler).await,
                },
                finished = &mut handler => break finished,
            }
        };
        let Ok((session, reply)) = finished else {
            return Ok(false);
        };
        // Pieces sent before the handler returned are all in the channel already.
        while let Ok(piece) = ready.try_recv() {
            self.send(&piece).await?;
        }
        self.session = Some(session);
        self.reply(reply).await
    }

    async fn reply(&mut self, reply: Reply) -> io::Result<bool> {
        if let Some(delay) = reply.delay {
            tokio::time::sleep(delay).await;
        }
        self.send(&reply.bytes).await?;
        Ok(!reply.logout)
    }

    /// Runs `f` on the session on a blocking thread: the store does disk I/O and fsyncs.
    async fn in_session<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Session) -> T + Send + 'static,
    ) -> Option<T> {
        let mut session = self.session.take()?;
        let (session, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut session);
            (session, out)
        })
        .await
        .ok()?;
        self.session = Some(session);
        Some(out)
    }

    /// RFC 3501 §6.2.1: answer OK in the clear, then handshake. Bytes the client sent after
    /// STARTTLS but before the handshake would be read as if protected (CVE-2011-0411
    /// class), so their presence ends the connection.
    async fn start_tls(&mut self, tag: Tag<'static>) -> io::Result<bool> {
        let (secure, tls, logged_in) = match &self.session {
            Some(session) => (
                session.secure,
                session.shared.config.tls.clone(),
                session.store().is_some(),
            ),
            None => return Ok(false),
        };
        let mut out = Replies::default();
        let refusal = match (&tls, secure, logged_in) {
            (None, _, _) => Some(Outcome::no("TLS is not configured on this server")),
            (_, true, _) => Some(Outcome::bad("TLS is already active")),
            (_, _, true) => Some(Outcome::bad("STARTTLS comes before login")),
            _ => None,
        };
        if let Some(refusal) = refusal {
            out.tagged(&tag, refusal);
            self.send(&out.take()).await?;
            return Ok(true);
        }
        let Some(tls) = tls else {
            return Ok(false);
        };
        if self.fragments.progress().is_some() || !self.fragments.message_bytes().is_empty() {
            self.limit_bye("data after STARTTLS").await?;
            return Ok(false);
        }
        out.tagged(&tag, Outcome::ok("begin TLS negotiation now"));
        self.send(&out.take()).await?;
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::empty()));
        let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(plain);
        let Ok(Ok(stream)) = tokio::time::timeout(self.limits.handshake_timeout, handshake).await
        else {
            return Ok(false);
        };
        self.io = Box::new(stream);
        self.fragments = Fragmentizer::new(self.max_message);
        self.line_start = 0;
        self.in_literal = false;
        if let Some(session) = self.session.as_mut() {
            session.secure = true;
        }
        Ok(true)
    }

    /// Before a password is checked: at most a few checks at once per source, each after the
    /// wait its source's and user name's failures have earned (`throttle`). Waiting here, on
    /// the reactor, holds no blocking thread.
    async fn hold_back_password_check(
        &mut self,
        command: &Command<'static>,
    ) -> io::Result<Checked> {
        let Some(user) = super::commands::login::user_of(&command.body) else {
            return Ok(Checked::NoPassword);
        };
        let shared = self.shared.clone();
        let ip = self.peer.ip();
        let Some(in_flight) = shared.throttle.start(ip) else {
            tracing::warn!("imap login refused: too many at once: rip={ip}");
            let mut out = Replies::default();
            out.tagged(
                &command.tag,
                Outcome::no_with(
                    super::reply::code("UNAVAILABLE"),
                    "too many logins at once from your address; try again",
                ),
            );
            self.send(&out.take()).await?;
            return Ok(Checked::Refused);
        };
        let wait = shared.throttle.wait(ip, &user);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(Checked::Go(in_flight))
    }

    /// RFC 4978: answer OK uncompressed, then both directions deflate. Only after login, as
    /// Dovecot has it: compression before the password would only help an attacker guess.
    async fn compress(&mut self, tag: Tag<'static>) -> io::Result<bool> {
        let mut out = Replies::default();
        let refusal = if !self.authenticated() {
            Some(Outcome::bad("log in first"))
        } else if self.session.as_ref().is_some_and(|s| s.compressed) {
            Some(Outcome::no_with(
                Code::CompressionActive,
                "DEFLATE is already active",
            ))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            out.tagged(&tag, refusal);
            self.send(&out.take()).await?;
            return Ok(true);
        }
        // The client waits for the OK before it compresses; bytes already here were sent
        // uncompressed after the command and cannot be read either way.
        if self.fragments.progress().is_some() || !self.fragments.message_bytes().is_empty() {
            self.limit_bye("data after COMPRESS").await?;
            return Ok(false);
        }
        out.tagged(&tag, Outcome::ok("DEFLATE active"));
        self.send(&out.take()).await?;
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::empty()));
        self.io = Box::new(super::compress::Deflated::new(plain));
        if let Some(session) = self.session.as_mut() {
            session.compressed = true;
        }
        Ok(true)
    }

    /// RFC 4616 PLAIN without an initial response: ask for it, then run the command with it.
    async fn authenticate_plain(&mut self, tag: Tag<'static>) -> io::Result<bool> {
        self.send(b"+ \r\n").await?;
        match self.wait(self.limits.login_timeout).await {
            Wait::Incoming(Ok(Incoming::Message)) => {}
            Wait::Incoming(_) => return Ok(false),
            Wait::Stop => {
                self.bye("server shutting down").await?;
                return Ok(false);
            }
            Wait::Timeout => {
                self.bye("no answer to the authentication challenge")
                    .await?;
                return Ok(false);
            }
        }
        let data = match self
            .fragments
            .decode_message(&AuthenticateDataCodec::default())
        {
            Ok(AuthenticateData::Continue(data)) => data.declassify().clone().into_owned(),
            Ok(AuthenticateData::Cancel) => {
                let mut out = Replies::default();
                out.tagged(&tag, Outcome::bad("authentication cancelled"));
                self.send(&out.take()).await?;
                return Ok(true);
            }
            Err(_) => {
                let mut out = Replies::default();
                out.tagged(&tag, Outcome::bad("the answer is not valid base64"));
                self.send(&out.take()).await?;
                return Ok(true);
            }
        };
        let command = Command {
            tag,
            body: CommandBody::Authenticate {
                mechanism: AuthMechanism::Plain,
                initial_response: Some(imap_types::secret::Secret::new(data.into())),
            },
        };
        let _checking = match self.hold_back_password_check(&command).await? {
            Checked::NoPassword => None,
            Checked::Go(in_flight) => Some(in_flight),
            Checked::Refused => return Ok(true),
        };
        let Some(reply) = self
            .in_session(move |session| session.handle(command))
            .await
        else {
            return Ok(false);
        };
        self.reply(reply).await
    }

    /// RFC 2177: report changes as they happen until the client says DONE.
    async fn idle(&mut self, tag: Tag<'static>) -> io::Result<bool> {
        let Some(store) = self.session.as_ref().and_then(|s| s.store().cloned()) else {
            let mut out = Replies::default();
            out.tagged(&tag, Outcome::bad("log in first"));
            self.send(&out.take()).await?;
            return Ok(true);
        };
        let mut changes = store.watch();
        self.send(b"+ idling\r\n").await?;
        self.catch_up().await?;
        let deadline = tokio::time::Instant::now() + self.limits.idle_timeout;
        let mut stop = self.stop.clone();
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(false);
                    }
                    self.catch_up().await?;
                }
                incoming = self.next_message() => {
                    match incoming? {
                        Incoming::Message => break,
                        Incoming::Closed => return Ok(false),
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.limit_bye("IDLE lasted too long").await?;
                    return Ok(false);
                }
                _ = stop.changed() => {
                    self.bye("server shutting down").await?;
                    return Ok(false);
                }
            }
        }
        let outcome = match self.fragments.decode_message(&IdleDoneCodec::default()) {
            Ok(_) => Outcome::ok("IDLE terminated"),
            Err(_) => Outcome::bad("expected DONE"),
        };
        let Some(bytes) = self
            .in_session(move |session| {
                let mut out = Replies::default();
                session.catch_up(&mut out, true);
                out.tagged(&tag, outcome);
                out.take()
            })
            .await
        else {
            return Ok(false);
        };
        self.send(&bytes).await?;
        Ok(true)
    }

    async fn catch_up(&mut self) -> io::Result<()> {
        let bytes = self
            .in_session(|session| {
                let mut out = Replies::default();
                session.catch_up(&mut out, true);
                out.take()
            })
            .await
            .unwrap_or_default();
        if !bytes.is_empty() {
            self.send(&bytes).await?;
        }
        Ok(())
    }

    async fn wait(&mut self, timeout: std::time::Duration) -> Wait {
        if *self.stop.borrow() {
            return Wait::Stop;
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            incoming = self.next_message() => Wait::Incoming(incoming),
            _ = stop.changed() => Wait::Stop,
            _ = tokio::time::sleep(timeout) => Wait::Timeout,
        }
    }

    /// Reads until a whole message (a command line and its literals) is buffered, answering
    /// literal announcements as it goes. Buffers stay bounded: the fragmentizer keeps at most
    /// one message, a line may not pass `max_line`, a literal not `max_literal`.
    async fn next_message(&mut self) -> io::Result<Incoming> {
        // The message before this one has been handled: its literals' memory is free.
        self.shared
            .literals
            .release(std::mem::take(&mut self.reserved));
        loop {
            match self.fragments.progress() {
                Some(FragmentInfo::Line {
                    end, announcement, ..
                }) => {
                    self.line_start = end;
                    if let Some(LiteralAnnouncement { mode, length }) = announcement {
                        // Before login, only what a user name and password need: a thousand
                        // strangers cannot make the server buffer a thousand messages.
                        let max_literal = if self.authenticated() {
                            self.limits.max_literal
                        } else {
                            self.limits
                                .max_literal_before_login
                                .min(self.limits.max_literal)
                        };
                        if length > max_literal {
                            if mode == LiteralMode::NonSync {
                                self.limit_bye("literal too large").await?;
                                return Ok(Incoming::Closed);
                            }
                            self.refuse_literal(Code::TooBig, "literal too large")
                                .await?;
                            continue;
                        }
                        let length64 = u64::from(length);
                        if !self
                            .shared
                            .literals
                            .reserve(length64, self.limits.literal_budget)
                        {
                            tracing::warn!(
                                "imap literal refused: the server's literal memory is taken: rip={}",
                                self.peer.ip()
                            );
                            if mode == LiteralMode::NonSync {
                                self.limit_bye("server short of memory for literals")
                                    .await?;
                                return Ok(Incoming::Closed);
                            }
                            self.refuse_literal(
                                super::reply::code("LIMIT"),
                                "the server is short of memory for literals now; try again",
                            )
                            .await?;
                            continue;
                        }
                        self.reserved += length64;
                        self.in_literal = true;
                        if mode == LiteralMode::Sync {
                            self.send(b"+ go ahead\r\n").await?;
                            self.acks.now();
                        }
                    }
                }
                Some(FragmentInfo::Literal { end, .. }) => {
                    self.line_start = end;
                    self.in_literal = false;
                }
                None => {
                    let pending = self
                        .fragments
                        .message_bytes()
                        .len()
                        .saturating_sub(self.line_start);
                    if !self.in_literal && pending > self.limits.max_line {
                        self.limit_bye("command line too long").await?;
                        return Ok(Incoming::Closed);
                    }
                    // Between messages, nothing buffered: a buffer a large literal grew is
                    // given back rather than kept for the life of the connection.
                    if self.shrink && self.fragments.message_bytes().is_empty() {
                        self.fragments = Fragmentizer::new(self.max_message);
                        self.line_start = 0;
                        self.shrink = false;
                    }
                    let n = self.io.read(&mut self.chunk).await?;
                    if n == 0 {
                        return Ok(Incoming::Closed);
                    }
                    self.fragments.enqueue_bytes(&self.chunk[..n]);
                    continue;
                }
            }
            if self.fragments.is_message_complete() {
                self.shrink = self.fragments.message_bytes().len() > READ_CHUNK * 4;
                self.line_start = 0;
                self.in_literal = false;
                return Ok(Incoming::Message);
            }
        }
    }

    /// A synchronizing literal refused (over the size limit, or the memory budget): the
    /// client has not sent it yet, so refuse the command and start afresh (RFC 7888 §4 allows
    /// exactly this).
    async fn refuse_literal(&mut self, code: Code<'static>, text: &str) -> io::Result<()> {
        let mut out = Replies::default();
        match self.fragments.decode_tag() {
            Some(tag) => out.tagged(&tag.into_static(), Outcome::no_with(code, text)),
            None => out.untagged_bad(text),
        }
        self.fragments.skip_message();
        self.line_start = 0;
        self.in_literal = false;
        self.send(&out.take()).await
    }

    async fn refuse_message(&mut self, text: &str) -> io::Result<()> {
        let mut out = Replies::default();
        match self.fragments.decode_tag() {
            Some(tag) => out.tagged(&tag.into_static(), Outcome::bad(text)),
            None => out.untagged_bad(text),
        }
        self.send(&out.take()).await
    }

    async fn bye(&mut self, text: &str) -> io::Result<()> {
        let mut out = Replies::default();
        out.bye(text);
        self.send(&out.take()).await
    }

    /// BYE for a limit the client ran into, logged with its address.
    async fn limit_bye(&mut self, text: &str) -> io::Result<()> {
        tracing::warn!("imap connection closed: {text}: rip={}", self.peer.ip());
        self.bye(text).await
    }

    fn authenticated(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.store().is_some())
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let write = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(self.limits.write_timeout, write).await {
            Ok(written) => written,
            Err(_) => {
                tracing::warn!(
                    "imap connection closed: the client did not read for {:?}: rip={}",
                    self.limits.write_timeout,
                    self.peer.ip()
                );
                Err(io::ErrorKind::TimedOut.into())
            }
        }
    }
}

fn error_text<C: imap_codec::decode::Decoder>(error: &DecodeMessageError<'_, C>) -> &'static str {
    match error {
        DecodeMessageError::MessageTooLong { .. } => "command too long",
        _ => "could not parse the command",
    }
}

#[cfg(test)]
mod tests {
    use super::QuickAck;

    #[tokio::test]
    async fn quick_ack_switches_the_connection_itself_into_quick_ack_mode() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, _client) = tokio::join!(listener.accept(), client);
        let (server, _) = accepted.unwrap();
        let sock = socket2::SockRef::from(&server);
        sock.set_tcp_quickack(false).unwrap();
        QuickAck::of(&server).now();
        assert!(
            sock.tcp_quickack().unwrap(),
            "set through the duplicate descriptor"
        );
    }
}
