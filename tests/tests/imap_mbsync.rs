//! mbsync (isync), a widely used IMAP synchroniser, mirrors an account into a Maildir;
//! changes made in the Maildir go back to the server. `.ci/run` installs isync.

use nomamail_core::{FlagOp, INBOX_ID};
use nomamail_tests::imap_server::TestServer;
use std::path::{Path, PathBuf};
use std::process::Command;

fn message(subject: &str) -> Vec<u8> {
    format!("From: ann@example.org\r\nTo: alice@example.org\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n\r\nbody of {subject}\r\n").into_bytes()
}

fn mbsync(config: &Path) -> String {
    let output = Command::new("mbsync")
        .arg("-c")
        .arg(config)
        .arg("-a")
        .output()
        .expect("mbsync must be installed (Debian package isync; .ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "mbsync failed:\n{text}");
    text
}

/// Message files of a Maildir folder, in `cur` and `new`.
fn files(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for sub in ["cur", "new"] {
        if let Ok(entries) = std::fs::read_dir(folder.join(sub)) {
            found.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
    found.sort();
    found
}

/// The Maildir name for the same message with one more flag: into `cur`, with the flags
/// after `:2,` kept in ASCII order as the Maildir spec asks.
fn with_flag(path: &Path, flag: char) -> PathBuf {
    let name = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .to_string();
    let (base, flags) = name.split_once(":2,").unwrap_or((&name, ""));
    let mut flags: Vec<char> = flags.chars().chain(std::iter::once(flag)).collect();
    flags.sort();
    flags.dedup();
    let folder = path
        .parent()
        .and_then(Path::parent)
        .expect("maildir folder");
    folder.join("cur").join(format!(
        "{base}:2,{}",
        flags.into_iter().collect::<String>()
    ))
}

fn subject_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read message");
    text.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn mbsync_mirrors_to_a_maildir_and_back() {
    let server = TestServer::start(&[("alice", "pw")]);
    let store = server.store("alice");
    store
        .write(|r| {
            for subject in ["one", "two", "three"] {
                r.append(INBOX_ID, &message(subject), &[], 1_790_000_000, 0)?;
            }
            let archive = r.mailbox_named("Archive")?.id;
            r.append(
                archive,
                &message("archived"),
                &["\\Seen".to_string()],
                1_790_000_000,
                0,
            )
        })
        .expect("seed the account");

    let dir = tempfile::tempdir().expect("temp dir");
    let maildir = dir.path().join("mail");
    std::fs::create_dir_all(&maildir).expect("maildir");
    let config = dir.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount test\nHost {host}\nPort {port}\nUser alice\nPass pw\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount test\n\n\
             MaildirStore local\nPath {path}/\nInbox {path}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            host = server.addr.ip(),
            port = server.addr.port(),
            path = maildir.display(),
        ),
    )
    .expect("config");

    mbsync(&config);
    let inbox = files(&maildir.join("INBOX"));
    let mut subjects: Vec<String> = inbox.iter().map(|p| subject_of(p)).collect();
    subjects.sort();
    assert_eq!(subjects, ["one", "three", "two"], "INBOX mirrored");
    let archived = files(&maildir.join("Archive"));
    assert_eq!(archived.len(), 1);
    assert!(
        archived[0].to_string_lossy().ends_with(",S"),
        "\\Seen became the Maildir S flag: {archived:?}"
    );

    // Local changes, as a Maildir mail client makes them.
    let one = inbox
        .iter()
        .find(|p| subject_of(p) == "one")
        .expect("one")
        .clone();
    let two = inbox
        .iter()
        .find(|p| subject_of(p) == "two")
        .expect("two")
        .clone();
    std::fs::rename(&one, with_flag(&one, 'F')).expect("flag one");
    std::fs::remove_file(&two).expect("delete two");
    std::fs::write(
        maildir.join("INBOX/new/1790000000.local.nomamail"),
        message("written offline"),
    )
    .expect("new");
    std::fs::create_dir_all(maildir.join("Local/cur")).expect("folder");
    std::fs::create_dir_all(maildir.join("Local/new")).expect("folder");
    std::fs::create_dir_all(maildir.join("Local/tmp")).expect("folder");
    std::fs::write(
        maildir.join("Local/new/1790000001.local.nomamail"),
        message("in a new folder"),
    )
    .expect("new");

    mbsync(&config);
    let (inbox_now, local) = store
        .read(|r| {
            let inbox = r.entries(INBOX_ID)?;
            let mut subjects = Vec::new();
            for e in &inbox {
                let raw = r.message(e.id)?;
                let text = String::from_utf8_lossy(&raw).to_string();
                let subject = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Subject: "))
                    .unwrap_or_default()
                    .to_string();
                subjects.push((subject, e.flags.clone()));
            }
            let local = r.mailbox("Local")?.map(|m| m.id);
            let local = match local {
                Some(id) => r.entries(id)?.len(),
                None => 0,
            };
            Ok::<_, nomamail_core::Error>((subjects, local))
        })
        .expect("read the server's store");
    let names: Vec<&str> = inbox_now.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        !names.contains(&"two"),
        "deleted in the Maildir, expunged on the server: {names:?}"
    );
    assert!(
        names.contains(&"written offline"),
        "new Maildir message appended: {names:?}"
    );
    let (_, flags) = inbox_now
        .iter()
        .find(|(s, _)| s == "one")
        .expect("one kept");
    assert!(
        flags.iter().any(|f| f == "\\Flagged"),
        "Maildir F became \\Flagged: {flags:?}"
    );
    assert_eq!(
        local, 1,
        "the new Maildir folder was created on the server with its message"
    );

    // And a change on the server comes back on the next run.
    store
        .write(|r| {
            let three = r
                .entries(INBOX_ID)?
                .into_iter()
                .find(|e| e.uid == 3)
                .map(|e| e.id);
            r.store_flags(
                &three.into_iter().collect::<Vec<_>>(),
                FlagOp::Add,
                &["\\Answered".to_string()],
            )
        })
        .expect("flag on the server");
    mbsync(&config);
    let three = files(&maildir.join("INBOX"))
        .into_iter()
        .find(|p| subject_of(p) == "three")
        .expect("three");
    assert!(
        three.to_string_lossy().contains(",R"),
        "\\Answered became R: {three:?}"
    );
}
