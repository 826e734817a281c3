//! Writes real bundles into a directory, as a starting corpus for the fuzz targets in `fuzz/`
//! (a fuzzer that starts from valid bundles gets past the magic, zstd and CBOR at once).
//!
//! Usage: fuzz-seeds DIR (bundles, for `bundle_decode` and `bundle_apply`), or
//! fuzz-seeds --imap DIR (client sessions, for `imap_session`), or fuzz-seeds --smtp DIR
//! (SMTP sessions, some carrying sync mail sealed for the `smtp_session` target's keys).

use anyhow::{Context, Result};
use nomamail_core::{Durability, FlagOp, INBOX_ID, Replica, ReplicaId, ReplicaOptions};
use nomamail_tests::{corpus, rng::Rng};

/// Client sides of IMAP sessions that reach deep into the handlers: literals, sections,
/// search keys, flags, IDLE, CONDSTORE. Each logs in first, as the fuzz target's store has
/// the user `alice` with password `pw`.
const IMAP_SESSIONS: [&str; 9] = [
    "a LOGIN alice pw\r\nb SELECT INBOX\r\nc APPEND INBOX (\\Seen $x) {40+}\r\nSubject: hi\r\nFrom: a@b.c\r\n\r\nbody text\r\n\r\nd FETCH 1:* (FLAGS UID ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[1]<0.4> RFC822.SIZE INTERNALDATE)\r\ne LOGOUT\r\n",
    "a AUTHENTICATE PLAIN AGFsaWNlAHB3\r\nb EXAMINE INBOX\r\nc UID SEARCH CHARSET UTF-8 OR SUBJECT {2+}\r\nhi NOT (SEEN LARGER 10) SINCE 1-Jan-2020\r\nd STATUS INBOX (MESSAGES UNSEEN UIDNEXT HIGHESTMODSEQ)\r\n",
    "a LOGIN alice pw\r\nb CREATE Work/Sub\r\nc LIST \"\" *\r\nd RENAME Work Play\r\ne LSUB \"\" %\r\nf SUBSCRIBE Play\r\ng DELETE Play/Sub\r\nh NAMESPACE\r\ni ID NIL\r\n",
    "a LOGIN alice pw\r\nb ENABLE CONDSTORE\r\nc SELECT INBOX (CONDSTORE)\r\nd STORE 1:* +FLAGS.SILENT (\\Deleted) (UNCHANGEDSINCE 5)\r\ne FETCH 1:* (FLAGS) (CHANGEDSINCE 1)\r\nf UID EXPUNGE 1:*\r\ng EXPUNGE\r\nh CLOSE\r\n",
    "a LOGIN alice pw\r\nb SELECT INBOX\r\nc IDLE\r\nDONE\r\nd UID COPY 1:* Archive\r\ne UID MOVE 1 Trash\r\nf UNSELECT\r\ng NOOP\r\n",
    "a LOGIN alice pw\r\nb APPEND INBOX {66+}\r\nSubject: Re: x\r\nMessage-ID: <1@h>\r\nReferences: <0@h> <2@h>\r\n\r\nhi\r\n\r\nc SELECT INBOX\r\nd SORT (REVERSE SUBJECT DATE DISPLAYFROM) UTF-8 ALL\r\ne UID THREAD REFERENCES UTF-8 OR BODY hi TEXT x\r\nf THREAD ORDEREDSUBJECT US-ASCII SEEN\r\ng UID SORT (ARRIVAL CC SIZE) UTF-8 UNSEEN\r\n",
    "a LOGIN alice pw\r\nb SELECT INBOX\r\nc SEARCH RETURN (MIN MAX COUNT ALL) BODY {3+}\r\nabc\r\nd UID SEARCH RETURN () UNDELETED\r\ne LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"%\" {3+}\r\nW/*) RETURN (CHILDREN STATUS (MESSAGES UNSEEN HIGHESTMODSEQ))\r\nf LIST (SPECIAL-USE) \"\" *\r\ng GETQUOTAROOT INBOX\r\nh GETQUOTA \"\"\r\n",
    "a LOGIN alice pw\r\nb APPEND INBOX (\\Seen) {3+}\r\nabc (\\Draft) \"01-Dec-2026 10:00:00 +0000\" ~{3+}\r\ndef\r\nc SELECT INBOX\r\nd SEARCH RETURN (SAVE MIN) ALL\r\ne FETCH $ (FLAGS)\r\nf UID SEARCH OR UID $ (NOT $)\r\ng UID STORE $ +FLAGS (x)\r\nh MOVE $ Trash\r\ni UID FETCH $ UID\r\nj FETCH 1:* (BINARY[1]<0.3> BINARY.SIZE[] BINARY.PEEK[] BINARY.PEEK[2.1])\r\nk APPEND Drafts CATENATE (TEXT {3+}\r\nab\n URL \"/INBOX/;UID=1/;SECTION=1.MIME/;PARTIAL=0.9\" URL \"/Trash;UIDVALIDITY=1/;UID=2\") {1+}\r\nx\r\n",
    "a CAPABILITY\r\nb STARTTLS\r\nc LOGIN {5}\r\nalice {2}\r\npw\r\nd SELECT \"Entw&APw-rfe\"\r\ne APPEND INBOX {3}\r\nabc\r\nf FETCH * BODY[]\r\n",
];

/// A session that turns on COMPRESS=DEFLATE and sends `c LOGOUT` deflated (sync-flushed, as
/// clients send each command).
const COMPRESSED_SESSION: &[u8] =
    b"a LOGIN alice pw\r\nb COMPRESS DEFLATE\r\nJV\xf0\xf1w\xf7\x0f\r\xe1\xe5\x02\x00\x00\x00\xff\xff";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let first = args
        .next()
        .context("usage: fuzz-seeds [--imap | --smtp] DIR")?;
    if first == "--smtp" {
        let dir = args.next().context("usage: fuzz-seeds --smtp DIR")?;
        return smtp_seeds(&dir);
    }
    if first == "--imap" {
        let dir = args.next().context("usage: fuzz-seeds --imap DIR")?;
        std::fs::create_dir_all(&dir).context("creating the corpus directory")?;
        for (n, session) in IMAP_SESSIONS.iter().enumerate() {
            std::fs::write(format!("{dir}/session-{n:02}"), session)?;
        }
        std::fs::write(format!("{dir}/session-compressed"), COMPRESSED_SESSION)?;
        println!("{} IMAP sessions written to {dir}", IMAP_SESSIONS.len() + 1);
        return Ok(());
    }
    let dir = first;
    std::fs::create_dir_all(&dir).context("creating the corpus directory")?;
    let open = |id| {
        let mut o = ReplicaOptions::new(ReplicaId(id), 5);
        o.durability = Durability::Process;
        Replica::open_in_memory(o)
    };
    // Replica 1 sends to replica 2: the fuzz target `bundle_apply` plays replica 2.
    let (mut a, mut b) = (open(1)?, open(2)?);
    a.add_peer(b.id())?;
    b.add_peer(a.id())?;
    let mut rng = Rng::new(3);
    let mut written = 0;
    for round in 0..12u64 {
        let work = a.mailbox("Work")?.map(|m| m.id);
        let work = match work {
            Some(id) => id,
            None => a.create_mailbox("Work")?,
        };
        let size = if round % 4 == 3 { 40_000 } else { 600 };
        let m = a.append(
            INBOX_ID,
            &corpus::message(&mut rng, round, size, 0),
            &["\\Seen".into()],
            0,
            0,
        )?;
        if round % 2 == 1 {
            a.store_flags(&[m.id], FlagOp::Add, &["$Work".into(), "\\Flagged".into()])?;
        }
        if round % 3 == 2 {
            a.move_to(&[m.id], work)?;
        }
        if round % 5 == 4 {
            a.expunge(&[m.id])?;
        }
        while let Some(wire) = a.outgoing(b.id(), round * 1000, 16 * 1024)? {
            std::fs::write(format!("{dir}/bundle-{written:03}"), &wire)?;
            written += 1;
            b.incoming(a.id(), &wire, round * 1000)?;
        }
        while let Some(wire) = b.outgoing(a.id(), round * 1000, 16 * 1024)? {
            a.incoming(b.id(), &wire, round * 1000)?;
        }
    }
    println!("{written} bundles written to {dir}");
    Ok(())
}

/// Keys of the `smtp_session` fuzz target: its host, and the peer it is paired with.
const FUZZ_HOST_SECRET: [u8; 32] = [1; 32];
const FUZZ_PEER_SECRET: [u8; 32] = [2; 32];

fn smtp_session(from: &str, to: &str, mail: &[u8]) -> Vec<u8> {
    let mut session =
        format!("EHLO peer.test\r\nMAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n").into_bytes();
    for line in mail.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            session.push(b'.');
        }
        session.extend_from_slice(line);
    }
    session.extend_from_slice(b".\r\nQUIT\r\n");
    session
}

fn smtp_seeds(dir: &str) -> Result<()> {
    use nomamail_core::accounts::{Accounts, Password};
    use nomamail_core::imap::Mailstores;
    use nomamail_core::mailsync::{HostKey, MailSyncConfig, Peer, SyncHost, SyncState};
    std::fs::create_dir_all(dir).context("creating the corpus directory")?;
    let work = tempfile::tempdir()?;
    let mut accounts = Accounts::open(work.path())?;
    // Not the target's own `alice`: the target adopts `carol` from the first sync mail, so
    // the bundles behind it reach the engine.
    accounts.add("carol", &Password::new("pw"))?;
    let stores = std::sync::Arc::new(Mailstores::new(accounts, Durability::Process));
    let mut state = SyncState::open(&work.path().join("sync.db"))?;
    state.add_peer(
        &Peer {
            name: "host".into(),
            key: HostKey::from_bytes(FUZZ_HOST_SECRET).public(),
            address: "sync@host.test".into(),
            endpoint: None,
        },
        0,
    )?;
    let peer = SyncHost::new(
        HostKey::from_bytes(FUZZ_PEER_SECRET),
        state,
        stores.clone(),
        MailSyncConfig {
            name: "peer".into(),
            address: "sync@peer.test".into(),
            max_mail_bytes: 64 << 10,
            ..MailSyncConfig::default()
        },
    );
    let mut written = 0;
    let mut write = |bytes: &[u8]| -> Result<()> {
        std::fs::write(format!("{dir}/session-{written:03}"), bytes)?;
        written += 1;
        Ok(())
    };
    write(b"EHLO a\r\nMAIL FROM:<bob@example.org> SIZE=100\r\nRCPT TO:<alice@host.test>\r\nDATA\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nRSET\r\nNOOP\r\nVRFY alice\r\nQUIT\r\n")?;
    write(b"HELO a\r\nMAIL FROM:<>\r\nRCPT TO:<nobody@host.test>\r\nRCPT TO:<alice@host.test>\r\nDATA\r\nX-NomaMail-Sync: 1\r\n\r\nnot sealed\r\n.\r\nBDAT 10 LAST\r\nSTARTTLS\r\n")?;
    let store = stores.open("carol")?;
    let mut rng = Rng::new(9);
    // A hello first (no peer replica known yet), then bundles as mail changes.
    for round in 0..6u64 {
        if round > 0 {
            // Pretend the host answered, so bundles flow: its replica id is made up.
            peer.state(|s| s.set_peer_replica("host", "carol", ReplicaId(77), 1))?;
            store.write(|r| -> Result<()> {
                r.add_peer(ReplicaId(77)).ok();
                let m = r.append(
                    INBOX_ID,
                    &corpus::message(&mut rng, round, 800, 0),
                    &[],
                    0,
                    0,
                )?;
                r.store_flags(&[m.id], FlagOp::Add, &["\\Flagged".into()])?;
                Ok(())
            })?;
        }
        peer.fill_outbox(round * 1000)?;
        for mail in peer.state(|s| s.due(u64::MAX, 100))? {
            write(&smtp_session(
                "sync@peer.test",
                "sync@host.test",
                &mail.mail,
            ))?;
            peer.state(|s| s.sent(mail.id))?;
        }
    }
    println!("{written} SMTP sessions written to {dir}");
    Ok(())
}
