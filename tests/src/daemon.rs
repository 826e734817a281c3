//! A `nomamail-server` process for tests and benchmarks: its own data directory and
//! configuration, started on free loopback ports (read back from what it prints), paired
//! with other daemons through the real CLI, stopped with SIGTERM or killed.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    pub imap: Option<SocketAddr>,
    pub smtp: Option<SocketAddr>,
    pub lmtp: Option<SocketAddr>,
}

/// Sync settings that make a test converge in seconds instead of minutes.
pub const FAST_SYNC: &str = "batch_ms = 20\ninterval_ms = 500\nhello_every_ms = 500\n\
    retransmit_after_ms = 1500\nretransmit_max_ms = 8000\nack_delay_ms = 300\n\
    send_retry_ms = 200\n";

impl Daemon {
    /// `init`s a daemon named `name`. `sync` goes into its `[sync]` section after the address;
    /// `extra` is appended (for `[relay]` or `[poll]`).
    pub fn new(bin: &Path, name: &str, sync: &str, extra: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("server.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nname = \"{name}\"\nhostname = \"{name}.test\"\n\n\
                 [sync]\naddress = \"sync@{name}.test\"\n{sync}\n{extra}"
            ),
        )
        .expect("config");
        let daemon = Daemon {
            name: name.to_string(),
            dir,
            config,
            bin: bin.to_path_buf(),
            child: None,
            imap: None,
            smtp: None,
            lmtp: None,
        };
        daemon.cli_ok(&["init"], "");
        daemon
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .arg("--data-dir")
            .arg(self.data())
            .arg("--config")
            .arg(&self.config)
            .env("NOMAMAIL_LOG", "warn");
        command
    }

    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server binary");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        child.wait_with_output().expect("server binary output")
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn cli_ok(&self, args: &[&str], stdin: &str) -> String {
        let output = self.cli(args, stdin);
        assert!(
            output.status.success(),
            "{} {args:?}: {}{}",
            self.name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn add_user(&self, user: &str, password: &str) {
        self.cli_ok(
            &["user", "add", user, "--password-stdin"],
            &format!("{password}\n"),
        );
    }

    /// Starts `run`, on the ports of the previous run if there was one (so peers' endpoints
    /// stay right across a restart), else on free ones.
    pub fn start(&mut self) {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let mut child = self
            .command()
            .arg("run")
            .arg("--imap")
            .arg(self.imap.unwrap_or(any).to_string())
            .arg("--smtp")
            .arg(self.smtp.unwrap_or(any).to_string())
            .arg("--lmtp")
            .arg(self.lmtp.unwrap_or(any).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        for line in lines.by_ref() {
            let line = line.expect("readable");
            let address = |prefix: &str| {
                line.strip_prefix(prefix)
                    .map(|a| a.parse::<SocketAddr>().expect("address"))
            };
            if let Some(a) = address("imap listening on ") {
                self.imap = Some(a);
            } else if let Some(a) = address("smtp listening on ") {
                self.smtp = Some(a);
            } else if let Some(a) = address("lmtp listening on ") {
                self.lmtp = Some(a);
            } else if line == "running" {
                break;
            }
        }
        // Keep reading stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let status = child.wait().expect("wait");
            assert!(status.success(), "{} exited with {status}", self.name);
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn token(&self) -> String {
        self.cli_ok(&["pair", "show"], "").trim().to_string()
    }

    /// Adds `other` as this daemon's peer, delivering to `endpoint` (its listener, or a
    /// relay in front of it).
    pub fn pair_with(&self, other: &Daemon, endpoint: Option<SocketAddr>) {
        let token = other.token();
        let mut args = vec!["pair", "add", token.as_str()];
        let endpoint = endpoint.map(|e| e.to_string());
        if let Some(endpoint) = &endpoint {
            args.extend(["--endpoint", endpoint.as_str()]);
        }
        self.cli_ok(&args, "");
    }

    pub fn status(&self) -> String {
        self.cli_ok(&["status"], "")
    }

    pub fn imap_addr(&self) -> SocketAddr {
        self.imap.expect("the daemon has run")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What an IMAP client sees of an account: per mailbox, UIDVALIDITY, UIDNEXT and each
/// message's UID, flags and size. Two servers that look like one show equal snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub mailboxes: Vec<MailboxSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxSnapshot {
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    /// (UID, flags sorted, RFC822.SIZE)
    pub messages: Vec<(u32, Vec<String>, u64)>,
}

impl Snapshot {
    pub fn mailbox(&self, name: &str) -> Option<&MailboxSnapshot> {
        self.mailboxes.iter().find(|m| m.name == name)
    }

    pub fn message_count(&self) -> usize {
        self.mailboxes.iter().map(|m| m.messages.len()).sum()
    }
}

/// Logs in over IMAP and reads a `Snapshot`; `None` if the login is refused (the account
/// has not arrived yet) or the connection fails.
pub fn snapshot(addr: SocketAddr, user: &str, password: &str) -> Option<Snapshot> {
    let mut wire = crate::wire::Wire::open(addr).ok()?;
    let (_, status) = wire
        .command(format!("LOGIN {user} {password}").as_bytes())
        .ok()?;
    if !status.contains(" OK") {
        return None;
    }
    let (listing, _) = wire.command(b"LIST \"\" \"*\"").ok()?;
    let mut names: Vec<String> = String::from_utf8_lossy(&listing)
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("* LIST ")?;
            let name = rest.rsplit_once(" \"/\" ")?.1.trim();
            Some(name.trim_matches('"').to_string())
        })
        .collect();
    names.sort();
    let mut mailboxes = Vec::new();
    for name in names {
        let (selected, status) = wire.command(format!("SELECT \"{name}\"").as_bytes()).ok()?;
        if !status.contains(" OK") {
            return None;
        }
        let text = String::from_utf8_lossy(&selected).into_owned();
        let number_after = |label: &str| -> u32 {
            text.split(label)
                .nth(1)
                .and_then(|rest| {
                    rest.split(|c: char| !c.is_ascii_digit())
                        .find(|s| !s.is_empty())
                })
                .and_then(|digits| digits.parse().ok())
                .unwrap_or(0)
        };
        let uidvalidity = number_after("UIDVALIDITY ");
        let uidnext = number_after("UIDNEXT ");
        let (fetched, _) = wire.command(b"UID FETCH 1:* (FLAGS RFC822.SIZE)").ok()?;
        let mut messages = Vec::new();
        for line in String::from_utf8_lossy(&fetched).lines() {
            if !line.contains(" FETCH (") {
                continue;
            }
            let field = |label: &str| -> Option<u64> {
                line.split(label)
                    .nth(1)?
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            };
            let mut flags: Vec<String> = line
                .split("FLAGS (")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .unwrap_or("")
                .split_whitespace()
                // Session state (the first session to look sees new mail as recent), not
                // part of the store.
                .filter(|f| *f != "\\Recent")
                .map(str::to_string)
                .collect();
            flags.sort();
            messages.push((field("UID ")? as u32, flags, field("RFC822.SIZE ")?));
        }
        messages.sort();
        mailboxes.push(MailboxSnapshot {
            name,
            uidvalidity,
            uidnext,
            messages,
        });
    }
    let _ = wire.command(b"LOGOUT");
    Some(mailboxes).map(|mailboxes| Snapshot { mailboxes })
}
