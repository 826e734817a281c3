//! `nomamail-server run`: serving IMAP from the shell, stopping cleanly on SIGTERM, and
//! keeping everything it answered OK to through `kill -9`.

use nomamail_tests::wire::Wire;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn server(data: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nomamail-server"));
    // A configuration file that is not there: the defaults, not the platform's file.
    let config = data.with_file_name("no-such-server.toml");
    command
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .env("NOMAMAIL_LOG", "warn");
    command
}

fn init_with_user(data: &std::path::Path) {
    assert!(
        server(data)
            .arg("init")
            .output()
            .expect("init")
            .status
            .success()
    );
    let mut add = server(data)
        .args(["user", "add", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("user add");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(b"pw\n")
        .expect("password");
    assert!(add.wait().expect("user add").success());
}

/// Starts `run` on free ports and returns the child and the addresses it printed.
fn start(data: &std::path::Path) -> (Child, SocketAddr, SocketAddr) {
    let mut child = server(data)
        .args(["run", "--imap", "127.0.0.1:0", "--imaps", "127.0.0.1:0"])
        .args(["--smtp", "127.0.0.1:0", "--lmtp", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut address = |prefix: &str| -> SocketAddr {
        let line = lines.next().expect("a line").expect("readable");
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?}"))
            .parse()
            .expect("address")
    };
    let imap = address("imap listening on ");
    let imaps = address("imaps listening on ");
    // Keep reading stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, imap, imaps)
}

fn open(addr: SocketAddr) -> Wire {
    let wire = Wire::open(addr).expect("connect");
    assert!(wire.greeting.starts_with("* OK"), "{}", wire.greeting);
    wire
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn run_serves_imap_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    init_with_user(&data);
    assert!(
        data.join("tls/cert.pem").exists(),
        "init made a certificate"
    );
    let (mut child, imap, imaps) = start(&data);
    let mut wire = open(imap);
    let (caps, _) = wire.command(b"CAPABILITY").expect("capability");
    let caps = String::from_utf8_lossy(&caps);
    assert!(
        caps.contains("STARTTLS") && caps.contains("IMAP4REV1"),
        "{caps}"
    );
    let (_, ok) = wire.command(b"LOGIN alice pw").expect("login");
    assert!(ok.contains("OK"), "{ok}");
    // The implicit-TLS port expects a TLS handshake: plain IMAP gets no greeting and no
    // answer, only a TLS alert or a closed connection.
    let mut tls_port = TcpStream::connect(imaps).expect("connect imaps");
    tls_port
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    tls_port.write_all(b"a LOGIN alice pw\r\n").expect("send");
    let mut answer = Vec::new();
    let _ = tls_port.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"* ") && !answer.windows(4).any(|w| w == b"a OK"),
        "plain IMAP on the TLS port: {:?}",
        String::from_utf8_lossy(&answer)
    );
    kill(&child, "-TERM");
    let started = Instant::now();
    let status = child.wait().expect("wait");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(
        wire.line().is_ok_and(|l| l.starts_with("* BYE")),
        "sessions hear BYE"
    );
}

#[test]
fn everything_answered_ok_survives_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    init_with_user(&data);
    let mut appended: Vec<u32> = Vec::new();
    let mut flagged: Vec<(u32, String)> = Vec::new();
    for round in 0..5u32 {
        let (mut child, imap, _) = start(&data);
        let mut wire = open(imap);
        wire.command(b"LOGIN alice pw").expect("login");
        wire.command(b"SELECT INBOX").expect("select");
        let deadline = Instant::now() + Duration::from_millis(300 + 150 * u64::from(round));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            kill(&child, "-KILL");
            let _ = child.wait();
        });
        for n in 0.. {
            let body = format!("Subject: round {round} message {n}\r\n\r\nbody {n}\r\n");
            let mut append = format!("APPEND INBOX {{{}+}}\r\n", body.len()).into_bytes();
            append.extend_from_slice(body.as_bytes());
            let Ok((_, ok)) = wire.command(&append) else {
                break;
            };
            let Some(uid) = ok
                .split("APPENDUID ")
                .nth(1)
                .and_then(|rest| rest.split([' ', ']']).nth(1))
                .and_then(|uid| uid.parse::<u32>().ok())
            else {
                panic!("APPEND answered {ok}");
            };
            appended.push(uid);
            let keyword = format!("$r{round}n{n}");
            let store = format!("UID STORE {uid} +FLAGS.SILENT ({keyword})");
            let Ok((_, ok)) = wire.command(store.as_bytes()) else {
                break;
            };
            assert!(ok.contains("OK"), "{ok}");
            flagged.push((uid, keyword));
        }
        killer.join().expect("killer");
    }
    assert!(
        appended.len() > 10,
        "the server answered only {} appends",
        appended.len()
    );
    let (mut child, imap, _) = start(&data);
    let mut wire = open(imap);
    wire.command(b"LOGIN alice pw").expect("login");
    wire.command(b"SELECT INBOX").expect("select");
    let (data, ok) = wire.command(b"UID FETCH 1:* (FLAGS)").expect("fetch");
    assert!(ok.contains("OK"), "{ok}");
    let text = String::from_utf8_lossy(&data);
    let lines: Vec<&str> = text.lines().collect();
    for uid in &appended {
        assert!(
            text.contains(&format!("UID {uid} ")),
            "appended UID {uid} lost after kill -9"
        );
    }
    for (uid, keyword) in &flagged {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("UID {uid} ")))
            .unwrap_or_else(|| panic!("UID {uid} lost"));
        assert!(
            line.contains(keyword.as_str()),
            "flag {keyword} on UID {uid} lost: {line}"
        );
    }
    println!(
        "{} appends and {} stores answered OK, all present after 5 × kill -9",
        appended.len(),
        flagged.len()
    );
    kill(&child, "-TERM");
    assert!(child.wait().expect("wait").success());
}
