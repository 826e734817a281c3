//! Two `nomamail-server` processes, "office" and "internet", paired through the CLI and
//! syncing only by mail, each delivering straight to the other's SMTP listener on loopback.

use nomamail_tests::daemon::{Daemon, FAST_SYNC, Snapshot, eventually, snapshot};
use nomamail_tests::wire::Wire;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nomamail-server"))
}

fn login(addr: SocketAddr, user: &str, password: &str) -> Wire {
    let mut wire = Wire::open(addr).expect("connect");
    let (_, status) = wire
        .command(format!("LOGIN {user} {password}").as_bytes())
        .expect("login");
    assert!(status.contains(" OK"), "{status}");
    wire
}

/// Waits until both servers show the same account, with `check` true of it.
fn converged(a: &Daemon, b: &Daemon, what: &str, check: impl Fn(&Snapshot) -> bool) -> Snapshot {
    eventually(LIMIT, what, || {
        let left = snapshot(a.imap_addr(), "alice", "pw")?;
        let right = snapshot(b.imap_addr(), "alice", "pw")?;
        (left == right && check(&left)).then_some(left)
    })
}

fn paired_pair() -> (Daemon, Daemon) {
    paired_pair_with(FAST_SYNC)
}

/// Office (with `office_sync` in its `[sync]` section) and internet, paired, alice on both.
fn paired_pair_with(office_sync: &str) -> (Daemon, Daemon) {
    let mut office = Daemon::new(bin(), "office", office_sync, "");
    let mut internet = Daemon::new(bin(), "internet", FAST_SYNC, "");
    office.add_user("alice", "pw");
    office.start();
    internet.start();
    office.pair_with(&internet, internet.smtp);
    internet.pair_with(&office, office.smtp);
    (office, internet)
}

#[test]
fn changes_on_either_server_appear_on_the_other_with_the_same_uids() {
    let (office, internet) = paired_pair();

    let mut client = login(office.imap_addr(), "alice", "pw");
    client.append_message("INBOX", "first", "body");
    client.append_message("INBOX", "second", "body");
    client.ok("CREATE Projects");
    client.append_message("Projects", "plan", "body");
    client.ok("SELECT INBOX");
    client.ok("UID STORE 1 +FLAGS (\\Flagged)");

    let seen = converged(&office, &internet, "office's changes on internet", |s| {
        s.mailbox("Projects").is_some_and(|m| m.messages.len() == 1)
            && s.mailbox("INBOX").is_some_and(|m| {
                m.messages.len() == 2 && m.messages[0].1 == ["\\Flagged".to_string()]
            })
    });

    // A client of the office switches to the internet server: same UIDVALIDITY, same
    // UIDNEXT, same UIDs and flags, so its cache stays valid without a resync.
    let inbox = seen.mailbox("INBOX").unwrap();
    let mut switched = login(internet.imap_addr(), "alice", "pw");
    let selected = switched.ok("SELECT INBOX");
    assert!(selected.contains(&format!("UIDVALIDITY {}", inbox.uidvalidity)));
    assert!(selected.contains(&format!("UIDNEXT {}", inbox.uidnext)));
    let fetched = switched.ok("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(fetched.contains("Subject: first") && fetched.contains("Subject: second"));

    // A CONDSTORE client brings the office's HIGHESTMODSEQ along. The internet server's
    // mod-sequences are its own, so it must not answer "nothing changed": it sends every
    // message's flags, and this client's view cannot go stale.
    let mut condstore = login(office.imap_addr(), "alice", "pw");
    let at_office = condstore.ok("SELECT INBOX (CONDSTORE)");
    let office_modseq: u64 = at_office
        .split("HIGHESTMODSEQ ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .expect("HIGHESTMODSEQ at the office");
    let mut moved = login(internet.imap_addr(), "alice", "pw");
    moved.ok("SELECT INBOX (CONDSTORE)");
    let changed = moved.ok(&format!(
        "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {office_modseq})"
    ));
    assert_eq!(changed.matches(" FETCH (").count(), 2, "{changed}");
    let own = moved.ok("SELECT INBOX (CONDSTORE)");
    let internet_modseq = own
        .split("HIGHESTMODSEQ ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("HIGHESTMODSEQ at the internet server")
        .to_string();
    let unchanged = moved.ok(&format!(
        "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {internet_modseq})"
    ));
    assert_eq!(
        unchanged.matches(" FETCH (").count(),
        0,
        "its own value works: {unchanged}"
    );

    // Changes made on the internet side come back to the office.
    switched.ok("UID STORE 2 +FLAGS (\\Seen)");
    switched.append_message("INBOX", "from outside", "body");
    switched.ok("UID MOVE 1 Projects");
    converged(&internet, &office, "internet's changes on office", |s| {
        s.mailbox("INBOX").is_some_and(|m| {
            m.messages.len() == 2
                && m.messages
                    .iter()
                    .any(|(_, f, _)| f.contains(&"\\Seen".to_string()))
        }) && s.mailbox("Projects").is_some_and(|m| m.messages.len() == 2)
    });

    let status = eventually(LIMIT, "status to settle", || {
        let status = office.status();
        (status.contains("unacknowledged changes: 0") && status.contains("queued sync mail: 0"))
            .then_some(status)
    });
    assert!(
        status.contains("peer internet <sync@internet.test>"),
        "{status}"
    );
    assert!(!status.contains("last contact: never"), "{status}");
    println!("{status}");
}

#[test]
fn a_stopped_peer_gets_everything_after_restarts_and_queued_mail_survives_sigterm() {
    let (mut office, mut internet) = paired_pair();
    converged(&office, &internet, "the account on both", |s| {
        s.mailbox("INBOX").is_some()
    });

    internet.stop();
    let mut client = login(office.imap_addr(), "alice", "pw");
    for n in 0..5 {
        client.append_message("INBOX", &format!("while-away-{n}"), "body");
    }
    drop(client);
    let queued = eventually(LIMIT, "mail queued for the stopped peer", || {
        let status = office.status();
        let line = status
            .lines()
            .find(|l| l.starts_with("queued sync mail: "))?;
        let n: u64 = line.trim_start_matches("queued sync mail: ").parse().ok()?;
        (n > 0).then_some(n)
    });
    office.stop();
    let status = office.status();
    assert!(
        !status.contains("queued sync mail: 0"),
        "queued mail kept over SIGTERM ({queued} before): {status}"
    );

    internet.start();
    office.start();
    converged(
        &office,
        &internet,
        "the changes made while the peer was down",
        |s| s.mailbox("INBOX").is_some_and(|m| m.messages.len() == 5),
    );
}

#[test]
fn mail_delivered_through_the_daemons_lmtp_reaches_both_servers() {
    let (office, internet) = paired_pair();
    converged(&office, &internet, "the account on both", |s| {
        s.mailbox("INBOX").is_some()
    });

    // `deliver` while the daemon runs goes through its LMTP listener.
    let output = {
        use std::io::Write;
        let mut child = office
            .command()
            .args(["deliver", "--user", "alice", "--from", "bob@example.org"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"Subject: delivered\n\n.leading dot\nbody\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(output.status.success(), "{output:?}");
    let unknown = office.cli(&["deliver", "--user", "nobody"], "Subject: x\n\nx\n");
    assert_eq!(unknown.status.code(), Some(67), "EX_NOUSER");

    let seen = converged(&office, &internet, "delivered mail on both", |s| {
        s.mailbox("INBOX").is_some_and(|m| m.messages.len() == 1)
    });
    assert_eq!(seen.message_count(), 1);
    let mut client = login(internet.imap_addr(), "alice", "pw");
    client.ok("SELECT INBOX");
    let body = client.ok("UID FETCH 1 BODY.PEEK[]");
    assert!(body.contains("Return-Path: <bob@example.org>"), "{body}");
    assert!(body.contains("\r\n.leading dot\r\nbody\r\n"), "{body}");
}

#[test]
fn a_server_that_only_has_a_hosted_mailbox_polls_it_for_sync_mail() {
    use nomamail_tests::imap_server::TestServer;
    use nomamail_tests::relay::FaultyRelay;
    // The hosting provider: an IMAP server with the internet server's sync mailbox, fed by
    // the provider's MTA (the relay files mail for sync@internet.test into it).
    let hosting = TestServer::start(&[("sync", "hosted-pw")]);
    let relay = FaultyRelay::start(7);
    relay.route_to_mailbox("sync@internet.test", hosting.stores.open("sync").unwrap());
    let password_file = hosting_password_file();
    let mut office = Daemon::new(
        bin(),
        "office",
        FAST_SYNC,
        &format!(
            "[relay]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n",
            relay.addr.port()
        ),
    );
    let mut internet = Daemon::new(
        bin(),
        "internet",
        FAST_SYNC,
        &format!(
            "[poll]\nhost = \"127.0.0.1\"\nport = {}\ntls = false\nusername = \"sync\"\n\
             password_file = \"{}\"\n",
            hosting.addr.port(),
            password_file.path().display()
        ),
    );
    office.add_user("alice", "pw");
    office.start();
    internet.start();
    relay.route("sync@office.test", office.smtp.unwrap());
    office.pair_with(&internet, None);
    internet.pair_with(&office, office.smtp);

    let mut client = login(office.imap_addr(), "alice", "pw");
    client.append_message("INBOX", "via the hosted mailbox", "body");
    converged(&office, &internet, "office's message on internet", |s| {
        s.mailbox("INBOX").is_some_and(|m| m.messages.len() == 1)
    });
    // Applied sync mail is removed from the hosted mailbox.
    eventually(LIMIT, "the hosted mailbox emptied", || {
        let left = hosting
            .stores
            .open("sync")
            .unwrap()
            .read(|r| r.entries(nomamail_core::INBOX_ID).unwrap().len());
        (left == 0).then_some(())
    });
}

fn hosting_password_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "hosted-pw\n").unwrap();
    file
}

/// The replicas the account's store on `daemon` syncs with (read beside the running daemon).
fn store_peers(daemon: &Daemon) -> Vec<nomamail_core::ReplicaId> {
    let path = daemon.data().join("mail").join("alice.db");
    let mut store = nomamail_core::Replica::open_read_only(&path).expect("read the store");
    store
        .peers()
        .expect("peers")
        .into_iter()
        .map(|p| p.peer)
        .collect()
}

#[test]
fn an_unpaired_peer_is_forgotten_by_every_account_and_a_silent_one_is_pointed_out() {
    let (mut office, mut internet) =
        paired_pair_with(&format!("{FAST_SYNC}silent_peer_days = 0\n"));
    login(office.imap_addr(), "alice", "pw").append_message("INBOX", "first", "body");
    converged(&office, &internet, "the first message on both", |s| {
        s.mailbox("INBOX").is_some_and(|m| m.messages.len() == 1)
    });

    // Silent for longer than the setting (here: any time at all): named, with the way out.
    let status = office.status();
    assert!(
        status.contains("holding up purges") && status.contains("pair remove internet"),
        "{status}"
    );
    let theirs = internet.status();
    assert!(!theirs.contains("holding up purges"), "{theirs}");

    assert_eq!(store_peers(&office).len(), 1);
    // The daemon holds the store, so the forgetting goes through it.
    let out = office.cli_ok(&["pair", "remove", "internet"], "");
    assert!(out.contains("1 accounts no longer wait for it"), "{out}");
    assert!(store_peers(&office).is_empty(), "the store forgot internet");
    assert!(!office.status().contains("peer internet"));

    // Paired again, the internet server still speaks under the replica the office forgot
    // (purges stopped waiting for it): it is told to go on under a new id, and relearns.
    let forgotten = nomamail_core::Replica::open_read_only(&internet.data().join("mail/alice.db"))
        .expect("read the store")
        .id();
    office.pair_with(&internet, internet.smtp);
    login(office.imap_addr(), "alice", "pw").append_message("INBOX", "second", "body");
    converged(&office, &internet, "both messages on both", |s| {
        s.mailbox("INBOX").is_some_and(|m| m.messages.len() == 2)
    });
    let peers = store_peers(&office);
    assert_eq!(peers.len(), 1);
    assert_ne!(
        peers[0], forgotten,
        "the office syncs with the internet server's new id"
    );
    office.stop();
    internet.stop();
}

/// A store that is relearning shows no client its mailbox: LOGIN is refused as unavailable,
/// and `status` says why.
fn held_back_while_relearning(office: &Daemon) {
    let mut early = Wire::open(office.imap_addr()).expect("connect");
    let (_, answer) = early.command(b"LOGIN alice pw").expect("login");
    assert!(answer.contains("NO [UNAVAILABLE]"), "{answer}");
    let status = office.status();
    assert!(status.contains("alice: relearning"), "{status}");
}

fn logged_in_once_caught_up(office: &Daemon) -> Wire {
    eventually(LIMIT, "the office caught up and lets alice in", || {
        let mut wire = Wire::open(office.imap_addr()).ok()?;
        let (_, status) = wire.command(b"LOGIN alice pw").ok()?;
        status.contains(" OK").then_some(wire)
    })
}

fn inbox_len(s: &Snapshot) -> usize {
    s.mailbox("INBOX").map_or(0, |m| m.messages.len())
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
}

/// What an admin does after a disk loss: the office's whole data directory comes back from
/// a backup taken some messages ago, and the office is started again.
#[test]
fn a_server_restored_from_a_backup_relearns_and_mail_expunged_since_stays_gone() {
    let (mut office, mut internet) = paired_pair();
    let mut client = login(office.imap_addr(), "alice", "pw");
    for n in 0..4 {
        client.append_message("INBOX", &format!("before backup {n}"), "body");
    }
    drop(client);
    converged(&office, &internet, "the first four on both", |s| {
        inbox_len(s) == 4
    });
    office.stop();
    let backup = tempfile::tempdir().expect("backup dir");
    copy_dir(&office.data(), backup.path());
    office.start();

    let mut client = login(office.imap_addr(), "alice", "pw");
    for n in 0..3 {
        client.append_message("INBOX", &format!("after backup {n}"), "body");
    }
    client.ok("SELECT INBOX");
    client.ok("UID STORE 1 +FLAGS (\\Deleted)");
    client.ok("EXPUNGE");
    drop(client);
    let before = converged(&office, &internet, "the later mail on both", |s| {
        inbox_len(s) == 6
    });
    office.stop();
    internet.stop();
    std::fs::remove_dir_all(office.data()).expect("lose the data directory");
    std::fs::create_dir(office.data()).expect("data directory");
    copy_dir(backup.path(), &office.data());
    office.start();

    // Until it has caught up, the office shows no client its older mailbox and takes no mail
    // (it would give the new mail UIDs the internet server holds for other messages).
    held_back_while_relearning(&office);
    internet.start();
    let mut client = logged_in_once_caught_up(&office);
    for n in 0..2 {
        client.append_message("INBOX", &format!("after restore {n}"), "body");
    }
    drop(client);
    let after = converged(
        &office,
        &internet,
        "the restored office and the internet server agree",
        |s| inbox_len(s) == 8,
    );
    let inbox = after.mailbox("INBOX").expect("INBOX");
    assert!(
        inbox.messages.iter().all(|m| m.0 != 1),
        "the message expunged after the backup stays expunged: {inbox:?}"
    );
    let kept = before.mailbox("INBOX").expect("INBOX");
    for m in &kept.messages {
        assert!(
            inbox.messages.contains(m),
            "every message from before the restore is still there under its UID: {m:?} in \
             {inbox:?}"
        );
    }
    for server in [&office, &internet] {
        let status = server.status();
        assert!(
            !status.contains("set aside") && !status.contains("recent refusals"),
            "nothing was set aside or refused: {status}"
        );
    }
}

/// What an admin does with a store that is corrupt: deletes `mail/alice.db` and starts the
/// server again. The new, empty store is not shown under the UIDVALIDITY clients cached (it
/// would read as everything expunged); it fills from the peer, with the same UIDs.
#[test]
fn a_deleted_store_is_held_back_until_it_has_refilled_from_the_peer() {
    let (mut office, mut internet) = paired_pair();
    let mut client = login(office.imap_addr(), "alice", "pw");
    for n in 0..3 {
        client.append_message("INBOX", &format!("message {n}"), "body");
    }
    client.ok("SELECT INBOX");
    client.ok("UID STORE 2 +FLAGS (\\Flagged)");
    drop(client);
    let before = converged(&office, &internet, "three messages on both", |s| {
        inbox_len(s) == 3
    });
    office.stop();
    internet.stop();
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(office.data().join(format!("mail/alice.db{suffix}")));
    }
    office.start();

    held_back_while_relearning(&office);
    internet.start();
    let client = logged_in_once_caught_up(&office);
    drop(client);
    let after = snapshot(office.imap_addr(), "alice", "pw").expect("snapshot");
    assert_eq!(
        after.mailbox("INBOX"),
        before.mailbox("INBOX"),
        "the first mailbox a client sees again is the whole one, under the same UIDs and flags"
    );
    login(office.imap_addr(), "alice", "pw").append_message("INBOX", "after", "body");
    converged(&office, &internet, "new mail on both", |s| {
        inbox_len(s) == 4
    });
}

/// Office – internet – branch, only neighbours paired: what the office does reaches the
/// branch through the internet server, and the other way round, with the same UIDs on all
/// three, also when the office and the branch each took a message at the same UID.
#[test]
fn three_servers_in_a_line_converge_with_the_same_uids_everywhere() {
    let (office, internet) = paired_pair();
    let mut branch = Daemon::new(bin(), "branch", FAST_SYNC, "");
    branch.start();
    branch.pair_with(&internet, internet.smtp);
    internet.pair_with(&branch, branch.smtp);

    let same_on_all = |what: &str, check: &dyn Fn(&Snapshot) -> bool| -> Snapshot {
        eventually(LIMIT, what, || {
            let first = snapshot(office.imap_addr(), "alice", "pw")?;
            let middle = snapshot(internet.imap_addr(), "alice", "pw")?;
            let last = snapshot(branch.imap_addr(), "alice", "pw")?;
            (first == middle && middle == last && check(&first)).then_some(first)
        })
    };

    login(office.imap_addr(), "alice", "pw").append_message("INBOX", "from the office", "body");
    same_on_all(
        "the account and its first message reach the branch through the internet server",
        &|s| inbox_len(s) == 1,
    );

    // Both ends take a message at once, neither knowing of the other's: both are given
    // UID 2 there, and the clash is settled the same way on all three.
    let mut at_office = login(office.imap_addr(), "alice", "pw");
    let mut at_branch = login(branch.imap_addr(), "alice", "pw");
    at_office.append_message("INBOX", "office second", "body");
    at_branch.append_message("INBOX", "branch second", "body");
    at_branch.ok("CREATE Branch");
    at_branch.append_message("Branch", "filed at the branch", "body");
    at_branch.ok("SELECT INBOX");
    at_branch.ok("UID STORE 1 +FLAGS (\\Flagged)");
    drop(at_branch);
    let settled = same_on_all("both new messages and the flag on all three", &|s| {
        inbox_len(s) == 3
            && s.mailbox("Branch").is_some_and(|m| m.messages.len() == 1)
            && s.mailbox("INBOX")
                .is_some_and(|m| m.messages[0].1 == ["\\Flagged".to_string()])
    });
    let inbox = settled.mailbox("INBOX").expect("INBOX");
    let mut uids: Vec<u32> = inbox.messages.iter().map(|m| m.0).collect();
    uids.dedup();
    assert_eq!(uids.len(), 3, "three messages, three UIDs: {inbox:?}");

    // A client of the office sees the branch's messages by subject under those UIDs.
    at_office.ok("SELECT INBOX");
    let fetched = at_office.ok("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(
        fetched.contains("Subject: branch second") && fetched.contains("Subject: office second"),
        "{fetched}"
    );
    branch.stop();
}
