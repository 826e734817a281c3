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
