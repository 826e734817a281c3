//! Python's imaplib, a client written without us in mind, runs a scripted session.

use nomamail_tests::imap_server::TestServer;
use std::process::Command;

#[test]
fn python_imaplib_scripted_session() {
    let server = TestServer::start(&[("zoe", "secret pw")]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/imaplib_session.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .arg("zoe")
        .arg("secret pw")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "imaplib session failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("imaplib session ok"));
}
