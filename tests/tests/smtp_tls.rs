//! STARTTLS on the SMTP listener: offered in EHLO, the session starts over inside TLS (no
//! second STARTTLS, a new EHLO needed), mail delivered over it; commands pipelined behind
//! STARTTLS end the connection.

use nomamail_core::accounts::{Accounts, Password};
use nomamail_core::imap::Mailstores;
use nomamail_core::smtp::{LocalDelivery, SmtpConfig, serve};
use nomamail_core::{Durability, INBOX_ID};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Listener {
    addr: SocketAddr,
    stores: Arc<Mailstores>,
    connector: tokio_rustls::TlsConnector,
    _dir: tempfile::TempDir,
}

async fn start() -> Listener {
    let (server_tls, connector) = nomamail_tests::tls::self_signed();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut accounts = Accounts::open(dir.path()).expect("accounts");
    accounts.add("alice", &Password::new("pw")).expect("user");
    let stores = Arc::new(Mailstores::new(accounts, Durability::Process));
    let delivery = Arc::new(LocalDelivery::new(
        stores.clone(),
        None,
        "mx.test".into(),
        Vec::new(),
    ));
    let config = SmtpConfig {
        tls: Some(server_tls),
        ..SmtpConfig::default()
    };
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = socket.local_addr().expect("address");
    tokio::spawn(serve(socket, delivery, config, std::future::pending()));
    Listener {
        addr,
        stores,
        connector,
        _dir: dir,
    }
}

/// One reply's lines.
async fn reply<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.expect("read") == 0 {
            lines.push("<closed>".to_string());
            return lines;
        }
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line.trim_end().to_string());
        if last {
            return lines;
        }
    }
}

async fn say<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    line: &str,
) -> Vec<String> {
    stream
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .expect("send");
    reply(stream).await
}

#[tokio::test]
async fn starttls_then_mail_inside_tls() {
    let server = start().await;
    let mut plain = BufReader::new(TcpStream::connect(server.addr).await.expect("connect"));
    reply(&mut plain).await;
    let ehlo = say(&mut plain, "EHLO client.test").await;
    assert!(ehlo.iter().any(|l| l.ends_with("STARTTLS")), "{ehlo:?}");
    assert!(say(&mut plain, "STARTTLS").await[0].starts_with("220"));
    let tls = server
        .connector
        .connect(nomamail_tests::tls::localhost(), plain.into_inner())
        .await
        .expect("handshake");
    let mut tls = BufReader::new(tls);
    assert!(
        say(&mut tls, "MAIL FROM:<a@b.test>").await[0].starts_with("503"),
        "the session starts over: EHLO first"
    );
    let ehlo = say(&mut tls, "EHLO client.test").await;
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    assert!(say(&mut tls, "MAIL FROM:<a@b.test>").await[0].starts_with("250"));
    assert!(say(&mut tls, "RCPT TO:<alice@mx.test>").await[0].starts_with("250"));
    assert!(say(&mut tls, "DATA").await[0].starts_with("354"));
    assert!(say(&mut tls, "Subject: sealed in TLS\r\n\r\nhi\r\n.").await[0].starts_with("250"));
    let stored = server
        .stores
        .open("alice")
        .expect("store")
        .read(|r| r.entries(INBOX_ID).expect("entries").len());
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn commands_pipelined_behind_starttls_end_the_connection() {
    let server = start().await;
    let mut plain = BufReader::new(TcpStream::connect(server.addr).await.expect("connect"));
    reply(&mut plain).await;
    say(&mut plain, "EHLO client.test").await;
    let answer = say(&mut plain, "STARTTLS\r\nMAIL FROM:<injected@evil.test>").await;
    assert!(answer[0].starts_with("554"), "{answer:?}");
    assert_eq!(reply(&mut plain).await, vec!["<closed>".to_string()]);
}
