//! `import` of a Maildir (with Maildir++ subfolders and flags) and of an mbox, directly and
//! through a running daemon; run twice, it adds nothing. `deliver` without a daemon.

use nomamail_tests::daemon::{Daemon, FAST_SYNC, snapshot};
use nomamail_tests::wire::Wire;
use std::path::Path;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn maildir(root: &Path) {
    for dir in [
        "cur",
        "new",
        "tmp",
        ".Archive.2024/cur",
        ".Archive.2024/new",
        ".Archive.2024/tmp",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    write(&root.join("new/1.host"), "Subject: new one\n\nunread\n");
    write(&root.join("cur/2.host:2,S"), "Subject: read one\n\nread\n");
    write(
        &root.join("cur/3.host:2,FR"),
        "Subject: flagged one\n\nanswered\n",
    );
    write(
        &root.join(".Archive.2024/cur/4.host:2,S"),
        "Subject: old one\n\narchived\n",
    );
}

const MBOX: &str = "From ann@example.org Mon Jan  1 10:00:00 2024\n\
Subject: mbox one\n\nbody one\n>From the start of a line\n\n\
From bob@example.org Tue Jan  2 10:00:00 2024\n\
Subject: mbox two\nStatus: RO\n\nbody two\n\n\
From carol@example.org Wed Jan  3 10:00:00 2024\n\
Subject: mbox three\nX-Status: F\n\nbody three\n";

fn flags_of(snap: &nomamail_tests::daemon::Snapshot, mailbox: &str) -> Vec<Vec<String>> {
    snap.mailbox(mailbox)
        .unwrap_or_else(|| panic!("no {mailbox}"))
        .messages
        .iter()
        .map(|m| m.1.clone())
        .collect()
}

#[test]
fn maildir_and_mbox_import_once_directly_and_through_the_daemon() {
    let bin = Path::new(env!("CARGO_BIN_EXE_nomamail-server"));
    let mut server = Daemon::new(bin, "office", FAST_SYNC, "");
    server.add_user("alice", "pw");
    let source = tempfile::tempdir().unwrap();
    let mail = source.path().join("Maildir");
    maildir(&mail);
    let mbox = source.path().join("old.mbox");
    write(&mbox, MBOX);
    let mail_arg = mail.to_str().unwrap();
    let mbox_arg = mbox.to_str().unwrap();

    let first = server.cli_ok(&["import", "--user", "alice", mail_arg], "");
    assert!(first.contains("imported 4 messages"), "{first}");
    let again = server.cli_ok(&["import", "--user", "alice", mail_arg], "");
    assert!(
        again.contains("imported 0 messages") && again.contains("4 were there"),
        "{again}"
    );
    let delivered = server.cli_ok(&["deliver", "--user", "alice"], "Subject: piped\n\nhi\n");
    assert!(
        delivered.contains("delivered to alice (UID 4)"),
        "{delivered}"
    );
    let refused = server.cli(&["import", "--user", "nobody", mail_arg], "");
    assert!(!refused.status.success());

    server.start();
    let through = server.cli_ok(
        &["import", "--user", "alice", mbox_arg, "--mailbox", "Old"],
        "",
    );
    assert!(through.contains("imported 3 messages"), "{through}");
    let again = server.cli_ok(
        &["import", "--user", "alice", mbox_arg, "--mailbox", "Old"],
        "",
    );
    assert!(again.contains("imported 0 messages"), "{again}");

    let snap = snapshot(server.imap_addr(), "alice", "pw").unwrap();
    let inbox = flags_of(&snap, "INBOX");
    assert_eq!(inbox.len(), 4);
    assert!(inbox.contains(&vec!["\\Seen".to_string()]));
    assert!(inbox.contains(&vec!["\\Answered".to_string(), "\\Flagged".to_string()]));
    assert_eq!(
        flags_of(&snap, "Archive/2024"),
        vec![vec!["\\Seen".to_string()]]
    );
    let old = flags_of(&snap, "Old");
    assert_eq!(old.len(), 3);
    assert!(old.contains(&vec!["\\Seen".to_string()]));
    assert!(old.contains(&vec!["\\Flagged".to_string()]));

    let mut wire = Wire::open(server.imap_addr()).unwrap();
    wire.command(b"LOGIN alice pw").unwrap();
    wire.command(b"SELECT Old").unwrap();
    let (body, _) = wire
        .command(b"UID FETCH 1:* (INTERNALDATE BODY.PEEK[])")
        .unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("body one\r\nFrom the start of a line\r\n"),
        "{body}"
    );
    assert!(
        body.contains("01-Jan-2024"),
        "internal date from the From_ line: {body}"
    );
    server.stop();
}

#[test]
fn fs_layout_maildirs_import_every_folder_and_name_what_they_skip() {
    let bin = Path::new(env!("CARGO_BIN_EXE_nomamail-server"));
    let mut server = Daemon::new(bin, "office", FAST_SYNC, "");
    server.add_user("alice", "pw");
    let source = tempfile::tempdir().unwrap();
    // As Dovecot's LAYOUT=fs writes it: INBOX at the top, folders as subdirectories, nested.
    let root = source.path().join("Maildir");
    for dir in ["", "Archive", "Archive/2024", "Lists/rust"] {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(root.join(dir).join(sub)).unwrap();
        }
    }
    write(&root.join("cur/1.host:2,S"), "Subject: top\n\ninbox\n");
    write(
        &root.join("Archive/cur/2.host:2,"),
        "Subject: archived\n\nold\n",
    );
    write(
        &root.join("Archive/2024/new/3.host"),
        "Subject: nested\n\nolder\n",
    );
    write(
        &root.join("Lists/rust/cur/4.host:2,F"),
        "Subject: list\n\nmail\n",
    );
    std::fs::create_dir_all(root.join("attachments-not-mail")).unwrap();
    write(&root.join("dovecot-uidlist"), "3 V1 N5\n");
    let first = server.cli_ok(&["import", "--user", "alice", root.to_str().unwrap()], "");
    assert!(first.contains("imported 4 messages"), "{first}");
    assert!(first.contains("1 folders skipped"), "{first}");
    let skipped = server.cli(&["import", "--user", "alice", root.to_str().unwrap()], "");
    let said = String::from_utf8_lossy(&skipped.stderr);
    assert!(
        said.contains("attachments-not-mail"),
        "named, not silent: {said}"
    );

    // As mbsync's `SubFolders Verbatim` writes it: no Maildir at the top at all.
    let verbatim = source.path().join("mbsync");
    for dir in ["INBOX", "Sent"] {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(verbatim.join(dir).join(sub)).unwrap();
        }
    }
    write(&verbatim.join("INBOX/cur/5.host:2,S"), "Subject: m1\n\nx\n");
    write(&verbatim.join("Sent/cur/6.host:2,S"), "Subject: m2\n\ny\n");
    let out = server.cli_ok(
        &["import", "--user", "alice", verbatim.to_str().unwrap()],
        "",
    );
    assert!(out.contains("imported 2 messages"), "{out}");

    server.start();
    let snap = snapshot(server.imap_addr(), "alice", "pw").unwrap();
    assert_eq!(flags_of(&snap, "INBOX").len(), 2);
    assert_eq!(flags_of(&snap, "Archive").len(), 1);
    assert_eq!(flags_of(&snap, "Archive/2024").len(), 1);
    assert_eq!(
        flags_of(&snap, "Lists/rust"),
        vec![vec!["\\Flagged".to_string()]]
    );
    assert_eq!(flags_of(&snap, "Sent").len(), 1);
    server.stop();
}

/// UIDVALIDITY, UIDNEXT and each message's UID and flags of `mailbox`, as a client caches them.
fn uid_state(wire: &mut Wire, mailbox: &str) -> (u32, u32, Vec<(u32, Vec<String>)>) {
    let status = wire.ok(&format!("STATUS \"{mailbox}\" (UIDVALIDITY UIDNEXT)"));
    let number = |key: &str| -> u32 {
        let at = status
            .find(key)
            .unwrap_or_else(|| panic!("{key} in {status}"))
            + key.len();
        let digits: String = status[at..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    };
    let (uidvalidity, uidnext) = (number("UIDVALIDITY"), number("UIDNEXT"));
    wire.ok(&format!("EXAMINE \"{mailbox}\""));
    let fetched = wire.ok("UID FETCH 1:* (FLAGS)");
    let mut messages: Vec<(u32, Vec<String>)> = fetched
        .lines()
        .filter(|l| l.contains("FETCH"))
        .map(|line| {
            let uid = line.split("UID ").nth(1).unwrap();
            let uid = uid.split(|c: char| !c.is_ascii_digit()).next().unwrap();
            let flags = line.split("FLAGS (").nth(1).unwrap();
            let flags = flags.split(')').next().unwrap();
            let mut flags: Vec<String> = flags
                .split_whitespace()
                .filter(|f| *f != "\\Recent")
                .map(str::to_string)
                .collect();
            flags.sort();
            (uid.parse().unwrap(), flags)
        })
        .collect();
    messages.sort();
    (uidvalidity, uidnext, messages)
}

#[test]
fn a_dovecot_maildir_moves_in_with_its_uidvalidity_uids_and_keywords() {
    let Some(dovecot) = nomamail_tests::dovecot::Dovecot::for_test() else {
        return;
    };
    // What a user leaves behind on Dovecot: mail in INBOX and a nested folder, some expunged
    // (so UIDs have gaps and UIDNEXT is past the last message), flags and a keyword.
    let mut theirs = Wire::open(dovecot.addr).unwrap();
    theirs.ok(&format!("LOGIN {} {}", dovecot.user, dovecot.password));
    theirs.ok("CREATE Archive/2024");
    for i in 1..=6 {
        theirs.append_message("INBOX", &format!("inbox {i}"), "text");
    }
    for i in 1..=3 {
        theirs.append_message("Archive/2024", &format!("archived {i}"), "old");
    }
    theirs.ok("SELECT INBOX");
    theirs.ok("UID STORE 2,6 +FLAGS (\\Deleted)");
    theirs.ok("EXPUNGE");
    theirs.ok("UID STORE 1 +FLAGS (\\Seen $Forwarded)");
    theirs.ok("UID STORE 3 +FLAGS (\\Flagged Work)");
    theirs.ok("SELECT Archive/2024");
    theirs.ok("UID STORE 1:* +FLAGS (\\Seen)");
    let before: Vec<_> = ["INBOX", "Archive/2024"]
        .iter()
        .map(|m| uid_state(&mut theirs, m))
        .collect();
    theirs.ok("LOGOUT");
    assert_eq!(before[0].2.len(), 4);
    assert_eq!(before[0].1, 7, "UIDNEXT past the expunged UID 6");
    assert_eq!(
        before[0].2[0],
        (1, vec!["$Forwarded".to_string(), "\\Seen".to_string()])
    );

    let bin = Path::new(env!("CARGO_BIN_EXE_nomamail-server"));
    let mut server = Daemon::new(bin, "office", FAST_SYNC, "");
    server.add_user("alice", "pw");
    let source = dovecot.maildir();
    let source = source.to_str().unwrap();
    let out = server.cli_ok(&["import", "--user", "alice", source], "");
    assert!(out.contains("imported 7 messages"), "{out}");
    assert!(!out.contains("could not keep"), "{out}");

    server.start();
    let mut ours = Wire::open(server.imap_addr()).unwrap();
    ours.ok("LOGIN alice pw");
    let after: Vec<_> = ["INBOX", "Archive/2024"]
        .iter()
        .map(|m| uid_state(&mut ours, m))
        .collect();
    assert_eq!(after, before, "(UIDVALIDITY, UIDNEXT, [(UID, FLAGS)])");

    // New mail takes a UID Dovecot never gave out, and a second import changes nothing.
    ours.append_message("INBOX", "after the move", "new");
    let again = server.cli_ok(&["import", "--user", "alice", source], "");
    assert!(again.contains("imported 0 messages"), "{again}");
    let inbox = uid_state(&mut ours, "INBOX");
    assert_eq!((inbox.0, inbox.1), (before[0].0, 8));
    assert_eq!(inbox.2.last().unwrap().0, 7);
    server.stop();
}

#[test]
fn a_folder_that_already_holds_mail_is_imported_under_its_own_uids_and_says_so() {
    let bin = Path::new(env!("CARGO_BIN_EXE_nomamail-server"));
    let mut server = Daemon::new(bin, "office", FAST_SYNC, "");
    server.add_user("alice", "pw");
    server.cli_ok(
        &["deliver", "--user", "alice"],
        "Subject: here first\n\nhi\n",
    );
    let source = tempfile::tempdir().unwrap();
    let root = source.path().join("Maildir");
    for sub in [
        "cur",
        "new",
        "tmp",
        ".Lists/cur",
        ".Lists/new",
        ".Lists/tmp",
    ] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    write(
        &root.join("dovecot-uidlist"),
        "3 V1700000000 N12 G00\n10 :10.host\n11 :11.host\n",
    );
    write(&root.join("cur/10.host:2,S"), "Subject: ten\n\nx\n");
    write(&root.join("cur/11.host:2,"), "Subject: eleven\n\ny\n");
    write(
        &root.join(".Lists/dovecot-uidlist"),
        "3 V1600000000 N9 G00\n5 :5.host\n8 :8.host\n",
    );
    write(&root.join(".Lists/dovecot-keywords"), "0 Later\n");
    write(&root.join(".Lists/cur/8.host:2,a"), "Subject: eight\n\nz\n");
    write(&root.join(".Lists/cur/5.host:2,S"), "Subject: five\n\nw\n");
    // Through the running daemon this time.
    server.start();
    let out = server.cli_ok(&["import", "--user", "alice", root.to_str().unwrap()], "");
    assert!(out.contains("imported 4 messages"), "{out}");
    assert!(out.contains("1 folders could not keep their UIDs"), "{out}");
    let mut wire = Wire::open(server.imap_addr()).unwrap();
    wire.ok("LOGIN alice pw");
    let inbox = uid_state(&mut wire, "INBOX");
    assert_ne!(inbox.0, 1_700_000_000, "INBOX keeps its own UIDVALIDITY");
    let uids: Vec<u32> = inbox.2.iter().map(|m| m.0).collect();
    assert_eq!(uids, vec![1, 2, 3]);
    let lists = uid_state(&mut wire, "Lists");
    assert_eq!(
        lists,
        (
            1_600_000_000,
            9,
            vec![
                (5, vec!["\\Seen".to_string()]),
                (8, vec!["Later".to_string()])
            ]
        )
    );
    server.stop();
}
