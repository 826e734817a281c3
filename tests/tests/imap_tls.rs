//! TLS: STARTTLS on the plain port and TLS from the first byte on the implicit port, with a
//! certificate the client is told to trust, and the STARTTLS injection guard.

use futures::TryStreamExt;
use nomamail_core::imap::ServerConfig;
use nomamail_tests::imap_server::TestServer;
use nomamail_tests::tls::{localhost, self_signed};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A server with a fresh self-signed certificate for `localhost`, and a client connector
/// that trusts exactly that certificate.
fn tls_pair() -> (TestServer, tokio_rustls::TlsConnector) {
    let (server_tls, connector) = self_signed();
    let config = ServerConfig {
        tls: Some(server_tls),
        ..ServerConfig::default()
    };
    (
        TestServer::start_with(&[("alice", "pw")], config),
        connector,
    )
}

#[tokio::test]
async fn starttls_upgrades_the_plain_port() {
    let (server, connector) = tls_pair();
    let mut plain = BufReader::new(TcpStream::connect(server.addr).await.expect("connect"));
    let mut greeting = String::new();
    plain.read_line(&mut greeting).await.expect("greeting");
    assert!(greeting.contains("STARTTLS"), "{greeting}");
    plain.write_all(b"a1 STARTTLS\r\n").await.expect("send");
    let mut answer = String::new();
    plain.read_line(&mut answer).await.expect("answer");
    assert!(answer.starts_with("a1 OK"), "{answer}");
    let tls = connector
        .connect(localhost(), plain.into_inner())
        .await
        .expect("handshake");
    let client = async_imap::Client::new(tls);
    let mut session = client
        .login("alice", "pw")
        .await
        .map_err(|(e, _)| e)
        .expect("login over TLS");
    let caps = session.capabilities().await.expect("capabilities");
    assert!(!caps.has_str("STARTTLS"), "no second STARTTLS");
    session
        .append("INBOX", None, None, b"Subject: over tls\r\n\r\nhi\r\n")
        .await
        .expect("append");
    assert_eq!(session.select("INBOX").await.expect("select").exists, 1);
    session.logout().await.expect("logout");
}

#[tokio::test]
async fn implicit_tls_port_serves_imap_inside_tls() {
    let (server, connector) = tls_pair();
    let tcp = TcpStream::connect(server.tls_addr.expect("implicit TLS listener"))
        .await
        .expect("connect");
    let tls = connector
        .connect(localhost(), tcp)
        .await
        .expect("handshake");
    let mut client = async_imap::Client::new(tls);
    client
        .read_response()
        .await
        .expect("greeting")
        .expect("greeting");
    let mut session = client
        .login("alice", "pw")
        .await
        .map_err(|(e, _)| e)
        .expect("login");
    let listed: Vec<_> = session
        .list(Some(""), Some("*"))
        .await
        .expect("list")
        .try_collect()
        .await
        .expect("list");
    assert!(listed.iter().any(|n| n.name() == "Sent"));
    session.logout().await.expect("logout");
}

#[tokio::test]
async fn commands_pipelined_behind_starttls_end_the_connection() {
    let (server, _) = tls_pair();
    let mut plain = TcpStream::connect(server.addr).await.expect("connect");
    let mut greeting = [0u8; 512];
    let _ = plain.read(&mut greeting).await.expect("greeting");
    // An attacker in the middle appends a command in the clear that must never run as if
    // it came through TLS.
    plain
        .write_all(b"a1 STARTTLS\r\na2 LOGIN alice pw\r\n")
        .await
        .expect("send");
    let mut rest = String::new();
    plain.read_to_string(&mut rest).await.expect("read");
    assert!(rest.starts_with("* BYE"), "{rest}");
    assert!(!rest.contains("a1 OK") && !rest.contains("a2 OK"), "{rest}");
}

#[tokio::test]
async fn without_a_certificate_starttls_is_neither_offered_nor_accepted() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut plain = BufReader::new(TcpStream::connect(server.addr).await.expect("connect"));
    let mut greeting = String::new();
    plain.read_line(&mut greeting).await.expect("greeting");
    assert!(!greeting.contains("STARTTLS"), "{greeting}");
    plain.write_all(b"a1 STARTTLS\r\n").await.expect("send");
    let mut answer = String::new();
    plain.read_line(&mut answer).await.expect("answer");
    assert!(answer.starts_with("a1 NO"), "{answer}");
}
