//! The SMTP/LMTP listener over a real socket on 127.0.0.1: local delivery into INBOX with
//! trace headers, dot-unstuffing, per-recipient LMTP replies, unknown users, size and error
//! limits, and sync mail kept out of INBOXes.

use nomamail_core::accounts::{Accounts, Password};
use nomamail_core::imap::Mailstores;
use nomamail_core::smtp::{BufferBudget, LocalDelivery, SmtpConfig, serve};
use nomamail_core::{Durability, INBOX_ID};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Listener {
    _dir: tempfile::TempDir,
    stores: Arc<Mailstores>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(lmtp: bool, max_message_bytes: usize) -> Listener {
    start_with(lmtp, |config| config.max_message_bytes = max_message_bytes).await
}

async fn start_with(lmtp: bool, tweak: impl FnOnce(&mut SmtpConfig)) -> Listener {
    let dir = tempfile::tempdir().unwrap();
    let mut accounts = Accounts::open(dir.path()).unwrap();
    accounts.add("alice", &Password::new("a")).unwrap();
    accounts.add("bob", &Password::new("b")).unwrap();
    let stores = Arc::new(Mailstores::new(accounts, Durability::Process));
    let delivery = Arc::new(LocalDelivery::new(
        stores.clone(),
        None,
        "mx.example".into(),
        vec!["example.com".into()],
    ));
    let mut config = SmtpConfig {
        hostname: "mx.example".into(),
        lmtp,
        max_errors: 3,
        ..SmtpConfig::default()
    };
    tweak(&mut config);
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(socket, delivery, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Listener {
        _dir: dir,
        stores,
        addr,
        stop: Some(stop),
        task,
    }
}

impl Listener {
    fn inbox(&self, user: &str) -> Vec<String> {
        let store = self.stores.open(user).unwrap();
        store.read(|r| {
            r.entries(INBOX_ID)
                .unwrap()
                .into_iter()
                .map(|e| String::from_utf8(r.message(e.id).unwrap()).unwrap())
                .collect()
        })
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

struct Client {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut client = Client {
            reader: BufReader::new(read),
            writer: write,
        };
        assert!(client.reply().await[0].starts_with("220 "));
        client
    }

    /// One reply: its lines, up to the one with a space after the code.
    async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await.unwrap() == 0 {
                lines.push("<closed>".to_string());
                return lines;
            }
            let last = line.as_bytes().get(3) == Some(&b' ');
            lines.push(line.trim_end().to_string());
            if last {
                return lines;
            }
        }
    }

    async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.unwrap();
    }

    async fn command(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await.last().unwrap().clone()
    }
}

#[tokio::test]
async fn smtp_delivers_into_the_inbox_with_trace_headers_and_refuses_strangers() {
    let server = start(false, 1 << 20).await;
    let mut c = Client::connect(server.addr).await;
    c.send("EHLO client.example\r\n").await;
    let ehlo = c.reply().await;
    assert!(ehlo.iter().any(|l| l.contains("PIPELINING")), "{ehlo:?}");
    assert!(ehlo.iter().any(|l| l.contains("SIZE 1048576")), "{ehlo:?}");
    assert!(
        c.command("MAIL FROM:<carol@remote.example>")
            .await
            .starts_with("250")
    );
    assert!(
        c.command("RCPT TO:<alice@example.com>")
            .await
            .starts_with("250")
    );
    assert!(
        c.command("RCPT TO:<nobody@example.com>")
            .await
            .starts_with("550 5.1.1")
    );
    assert!(
        c.command("RCPT TO:<bob@elsewhere.example>")
            .await
            .starts_with("550 5.7.1")
    );
    assert!(c.command("DATA").await.starts_with("354"));
    c.send("Subject: hello\r\n\r\n..a line that began with a dot\r\nend\r\n.\r\n")
        .await;
    assert!(c.reply().await[0].starts_with("250"));
    let inbox = server.inbox("alice");
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].starts_with("Return-Path: <carol@remote.example>\r\n"));
    assert!(inbox[0].contains("Received: from client.example ([127.0.0.1])"));
    assert!(inbox[0].ends_with("Subject: hello\r\n\r\n.a line that began with a dot\r\nend\r\n"));
    assert!(server.inbox("bob").is_empty());

    // Pipelined: the whole transaction in one write, one reply per command.
    c.send("MAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        .await;
    for expected in ["250", "250", "354"] {
        assert!(c.reply().await[0].starts_with(expected));
    }
    c.send("Subject: bounce\r\n\r\nbody\r\n.\r\nQUIT\r\n").await;
    assert!(c.reply().await[0].starts_with("250"));
    assert!(c.reply().await[0].starts_with("221"));
    assert_eq!(server.inbox("bob").len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn lmtp_answers_once_per_recipient() {
    let server = start(true, 1 << 20).await;
    let mut c = Client::connect(server.addr).await;
    assert!(
        c.command("EHLO x").await.starts_with("500"),
        "LMTP wants LHLO"
    );
    assert!(c.command("LHLO mta.example").await.starts_with("250"));
    c.command("MAIL FROM:<carol@remote.example>").await;
    c.command("RCPT TO:<alice@example.com>").await;
    c.command("RCPT TO:<bob@example.com>").await;
    assert!(c.command("DATA").await.starts_with("354"));
    c.send("Subject: both\r\n\r\nhi\r\n.\r\n").await;
    assert!(c.reply().await[0].starts_with("250"));
    assert!(c.reply().await[0].starts_with("250"));
    assert!(server.inbox("alice")[0].contains("with LMTP"));
    assert_eq!(server.inbox("bob").len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn oversized_mail_is_refused_and_the_session_goes_on() {
    let server = start(false, 1_000).await;
    let mut c = Client::connect(server.addr).await;
    c.command("EHLO x").await;
    assert!(
        c.command("MAIL FROM:<a@b> SIZE=5000")
            .await
            .starts_with("552")
    );
    c.command("MAIL FROM:<a@b>").await;
    c.command("RCPT TO:<alice@example.com>").await;
    c.command("DATA").await;
    let big = "x".repeat(100);
    for _ in 0..50 {
        c.send(&format!("{big}\r\n")).await;
    }
    c.send(".\r\n").await;
    assert!(c.reply().await[0].starts_with("552 5.3.4"));
    assert!(server.inbox("alice").is_empty());
    c.command("MAIL FROM:<a@b>").await;
    c.command("RCPT TO:<alice@example.com>").await;
    c.command("DATA").await;
    c.send("small\r\n.\r\n").await;
    assert!(c.reply().await[0].starts_with("250"));
    assert_eq!(server.inbox("alice").len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn sync_mail_never_reaches_an_inbox_and_bad_clients_are_cut_off() {
    let server = start(false, 1 << 20).await;
    let mut c = Client::connect(server.addr).await;
    c.command("EHLO x").await;
    c.command("MAIL FROM:<a@b>").await;
    c.command("RCPT TO:<alice@example.com>").await;
    c.command("DATA").await;
    c.send("X-NomaMail-Sync: 1\r\nSubject: sync\r\n\r\nsealed\r\n.\r\n")
        .await;
    let r = c.reply().await;
    assert!(r[0].starts_with("550"), "{r:?}");
    assert!(server.inbox("alice").is_empty());

    assert!(c.command("FROB").await.starts_with("500"));
    assert!(
        c.command("RCPT TO:<alice@example.com>")
            .await
            .starts_with("503")
    );
    c.send("DATA\r\n").await;
    assert!(c.reply().await[0].starts_with("503"));
    assert!(c.reply().await[0].starts_with("421"), "third error ends it");
    assert_eq!(c.reply().await[0], "<closed>");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_says_421_to_idle_clients() {
    let server = start(false, 1 << 20).await;
    let mut c = Client::connect(server.addr).await;
    c.command("EHLO x").await;
    let Listener { stop, task, .. } = server;
    let _ = stop.unwrap().send(());
    assert!(c.reply().await[0].starts_with("421"));
    task.await.unwrap();
}

/// Opens a transaction for alice and starts its DATA.
async fn begin_data(c: &mut Client) {
    c.command("EHLO x").await;
    assert!(c.command("MAIL FROM:<a@b>").await.starts_with("250"));
    assert!(
        c.command("RCPT TO:<alice@example.com>")
            .await
            .starts_with("250")
    );
    assert!(c.command("DATA").await.starts_with("354"));
}

#[tokio::test]
async fn messages_arriving_at_once_share_a_memory_budget_and_over_it_wait() {
    let server = start_with(false, |config| {
        config.max_message_bytes = 1 << 20;
        config.buffer_budget = BufferBudget::new(300 << 10);
    })
    .await;
    let body = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(200 << 10));
    // The first message is half sent and held; the second does not fit beside it.
    let mut first = Client::connect(server.addr).await;
    begin_data(&mut first).await;
    first.send(&body).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut second = Client::connect(server.addr).await;
    begin_data(&mut second).await;
    second.send(&format!("{body}.\r\n")).await;
    let refused = second.reply().await;
    assert!(refused[0].starts_with("452 4.3.1"), "{refused:?}");
    first.send(".\r\n").await;
    assert!(first.reply().await[0].starts_with("250"));
    // With the first one delivered, the room is back: the second sender's retry goes in.
    begin_data(&mut second).await;
    second.send(&format!("{body}.\r\n")).await;
    assert!(second.reply().await[0].starts_with("250"));
    assert_eq!(server.inbox("alice").len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_keeps_its_connection_alive_for_ever_is_closed_at_the_deadline() {
    let server = start_with(false, |config| {
        config.session_deadline = std::time::Duration::from_millis(800);
    })
    .await;
    let mut c = Client::connect(server.addr).await;
    let started = std::time::Instant::now();
    let mut last = String::new();
    // Never idle for long, so the per-read timeout never fires.
    while started.elapsed() < std::time::Duration::from_secs(10) {
        last = c.command("NOOP").await;
        if !last.starts_with("250") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(last.starts_with("421 4.4.2"), "{last}");
    assert_eq!(c.reply().await, ["<closed>"]);
    server.stop().await;
}
