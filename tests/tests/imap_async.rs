//! The IMAP server driven by a real client library (async-imap), over loopback, through
//! every command and extension the server offers.

use async_imap::types::{Fetch, UnsolicitedResponse};
use futures::TryStreamExt;
use nomamail_core::INBOX_ID;
use nomamail_tests::imap_server::TestServer;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

type Session = async_imap::Session<TcpStream>;

async fn connect(server: &TestServer) -> async_imap::Client<TcpStream> {
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .expect("greeting")
        .expect("greeting");
    client
}

async fn login(server: &TestServer, user: &str, password: &str) -> Session {
    connect(server)
        .await
        .login(user, password)
        .await
        .map_err(|(e, _)| e)
        .expect("login")
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ann Example <ann@example.org>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
         Date: Fri, 27 Nov 2026 09:00:00 +0100\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn fetch(session: &mut Session, set: &str, query: &str, uid: bool) -> Vec<Fetch> {
    if uid {
        let stream = session.uid_fetch(set, query).await.expect("uid fetch");
        stream.try_collect().await.expect("uid fetch stream")
    } else {
        let stream = session.fetch(set, query).await.expect("fetch");
        stream.try_collect().await.expect("fetch stream")
    }
}

async fn names(session: &mut Session, pattern: &str) -> Vec<(String, String)> {
    let listed: Vec<_> = session
        .list(Some(""), Some(pattern))
        .await
        .expect("list")
        .try_collect()
        .await
        .expect("list stream");
    listed
        .iter()
        .map(|n| (n.name().to_string(), format!("{:?}", n.attributes())))
        .collect()
}

fn drain(session: &mut Session) -> Vec<UnsolicitedResponse> {
    let mut seen = Vec::new();
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        seen.push(response);
    }
    seen
}

#[tokio::test]
async fn login_capabilities_and_wrong_passwords() {
    let server = TestServer::start(&[("alice", "wonderland")]);
    let refused = connect(&server).await.login("alice", "guess").await;
    assert!(refused.is_err(), "a wrong password is refused");
    let refused = connect(&server).await.login("nobody", "guess").await;
    assert!(refused.is_err(), "an unknown user is refused");
    let mut session = login(&server, "alice", "wonderland").await;
    let caps = session.capabilities().await.expect("capabilities");
    for cap in [
        "IMAP4rev1",
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "CONDSTORE",
        "SPECIAL-USE",
        "CHILDREN",
        "NAMESPACE",
        "ENABLE",
        "ID",
        "UNSELECT",
        "LITERAL+",
    ] {
        assert!(caps.has_str(cap), "{cap} offered");
    }
    assert!(!caps.has_str("LOGINDISABLED"));
    session.noop().await.expect("noop");
    session.check().await.expect("check");
    session
        .run_command_and_check_ok("ID (\"name\" \"test\")")
        .await
        .expect("id");
    session
        .run_command_and_check_ok("ENABLE CONDSTORE")
        .await
        .expect("enable");
    session.logout().await.expect("logout");
}

#[tokio::test]
async fn mailboxes_create_rename_delete_subscribe_and_status() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut s = login(&server, "alice", "pw").await;
    let listed = names(&mut s, "*").await;
    for (name, attribute) in [
        ("Sent", "Sent"),
        ("Drafts", "Drafts"),
        ("Trash", "Trash"),
        ("Junk", "Junk"),
        ("Archive", "Archive"),
    ] {
        let (_, attributes) = listed
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} listed: {listed:?}"));
        assert!(
            attributes.contains(attribute),
            "{name} is marked {attribute}: {attributes}"
        );
    }
    s.create("Projects/2026/Q4")
        .await
        .expect("create with parents");
    let listed = names(&mut s, "Projects/%").await;
    assert_eq!(listed.len(), 1, "% stops at one level: {listed:?}");
    assert!(listed[0].1.contains("HasChildren"), "{listed:?}");
    assert!(
        s.create("Projects").await.is_err(),
        "an existing name is refused"
    );
    s.rename("Projects", "Work")
        .await
        .expect("rename with children");
    let listed = names(&mut s, "Work/*").await;
    let listed: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(listed, ["Work/2026", "Work/2026/Q4"]);
    // Modified UTF-7 on the wire: "Entwürfe".
    s.create("Entw&APw-rfe")
        .await
        .expect("create non-ASCII name");
    assert!(
        names(&mut s, "Entw*")
            .await
            .iter()
            .any(|(n, _)| n == "Entw&APw-rfe")
    );
    assert!(
        s.create("Bad&name").await.is_err(),
        "malformed modified UTF-7 is refused"
    );
    s.subscribe("Work/2026").await.expect("subscribe");
    let subscribed: Vec<_> = s
        .lsub(Some(""), Some("*"))
        .await
        .expect("lsub")
        .try_collect()
        .await
        .expect("lsub stream");
    assert!(subscribed.iter().any(|n| n.name() == "Work/2026"));
    s.unsubscribe("Work/2026").await.expect("unsubscribe");
    let subscribed: Vec<_> = s
        .lsub(Some(""), Some("*"))
        .await
        .expect("lsub")
        .try_collect()
        .await
        .expect("lsub stream");
    assert!(!subscribed.iter().any(|n| n.name() == "Work/2026"));
    s.delete("Work/2026/Q4").await.expect("delete");
    assert!(s.delete("INBOX").await.is_err(), "INBOX cannot be deleted");
    assert!(
        s.select("Work/2026/Q4").await.is_err(),
        "a deleted mailbox cannot be selected"
    );
    s.append("INBOX", Some("(\\Seen)"), None, message("one", "hello"))
        .await
        .expect("append");
    s.append("INBOX", None, None, message("two", "hello"))
        .await
        .expect("append");
    let status = s
        .status(
            "INBOX",
            "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ)",
        )
        .await
        .expect("status");
    assert_eq!(status.exists, 2);
    assert_eq!(status.unseen, Some(1));
    assert_eq!(status.uid_next, Some(3));
    assert!(status.uid_validity.is_some() && status.highest_modseq.is_some());
    s.logout().await.expect("logout");
}

#[tokio::test]
async fn messages_append_fetch_store_search_copy_move_expunge() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut s = login(&server, "alice", "pw").await;
    s.append(
        "INBOX",
        Some("(\\Flagged $Work)"),
        Some("\"27-Nov-2026 09:00:00 +0100\""),
        message("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "first body"),
    )
    .await
    .expect("append");
    s.append(
        "INBOX",
        None,
        None,
        message("second", "a longer second body with words"),
    )
    .await
    .expect("append");
    s.append("INBOX", None, None, message("third", "third"))
        .await
        .expect("append");
    let mailbox = s.select("INBOX").await.expect("select");
    assert_eq!(mailbox.exists, 3);
    assert_eq!(mailbox.uid_next, Some(4));
    assert!(
        mailbox
            .permanent_flags
            .iter()
            .any(|f| format!("{f:?}").contains("MayCreate"))
    );

    let fetched = fetch(&mut s, "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)])", false).await;
    assert_eq!(fetched.len(), 3);
    let first = &fetched[0];
    assert_eq!(first.uid, Some(1));
    assert!(first.flags().any(|f| format!("{f:?}") == "Flagged"));
    assert!(first.flags().any(|f| format!("{f:?}").contains("$Work")));
    assert_eq!(
        first.size,
        Some(message("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "first body").len() as u32)
    );
    let date = first.internal_date().expect("internal date");
    assert_eq!(date.to_rfc3339(), "2026-11-27T09:00:00+01:00");
    let envelope = first.envelope().expect("envelope");
    assert_eq!(
        envelope.subject.as_deref(),
        Some(&b"=?utf-8?q?Gr=C3=BC=C3=9Fe?="[..])
    );
    assert!(first.bodystructure().is_some());
    assert_eq!(
        first.header(),
        Some(&b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n"[..])
    );
    assert!(
        !first.flags().any(|f| format!("{f:?}") == "Seen"),
        "PEEK leaves \\Seen alone"
    );

    let body = fetch(&mut s, "2", "BODY[]", true).await;
    assert_eq!(
        body[0].body(),
        Some(&message("second", "a longer second body with words")[..])
    );
    let partial = fetch(&mut s, "2", "BODY.PEEK[TEXT]<2.6>", true).await;
    assert_eq!(
        partial[0].text(),
        Some(&b"longer"[..]),
        "partial fetch of the text"
    );
    let flags = fetch(&mut s, "2", "FLAGS", true).await;
    assert!(
        flags[0].flags().any(|f| format!("{f:?}") == "Seen"),
        "BODY[] sets \\Seen"
    );

    let stored: Vec<_> = s
        .store("3", "+FLAGS (\\Answered)")
        .await
        .expect("store")
        .try_collect()
        .await
        .expect("store stream");
    assert!(stored[0].flags().any(|f| format!("{f:?}") == "Answered"));
    let stored: Vec<_> = s
        .uid_store("1", "-FLAGS.SILENT (\\Flagged)")
        .await
        .expect("store")
        .try_collect()
        .await
        .expect("store stream");
    assert!(stored.is_empty(), ".SILENT sends no FETCH");

    let found = |hits: std::collections::HashSet<u32>| {
        let mut v: Vec<u32> = hits.into_iter().collect();
        v.sort();
        v
    };
    assert_eq!(found(s.search("UNSEEN").await.expect("search")), [1, 3]);
    // Non-ASCII search text travels as a literal (LITERAL+ lets it go in one write).
    assert_eq!(
        found(
            s.search("CHARSET UTF-8 SUBJECT {7+}\r\ngrüße")
                .await
                .expect("search decoded subject")
        ),
        [1]
    );
    assert_eq!(
        found(
            s.search("CHARSET UTF-8 SUBJECT {7+}\r\nGRÜßE")
                .await
                .expect("search ignores case")
        ),
        [1]
    );
    assert_eq!(
        found(
            s.search("BODY \"longer SECOND\"")
                .await
                .expect("search body")
        ),
        [2]
    );
    assert_eq!(
        found(s.search("TEXT third").await.expect("search text")),
        [3]
    );
    assert_eq!(
        found(s.search("FROM ann@example.org").await.expect("search from")),
        [1, 2, 3]
    );
    assert_eq!(
        found(
            s.search("OR ANSWERED KEYWORD $Work")
                .await
                .expect("search or")
        ),
        [1, 3]
    );
    assert_eq!(
        found(s.search("NOT SEEN LARGER 10").await.expect("search not")),
        [1, 3]
    );
    assert_eq!(
        found(s.uid_search("UID 2:*").await.expect("uid search")),
        [2, 3]
    );
    assert_eq!(
        found(s.search("ON 27-Nov-2026").await.expect("search on")),
        [1]
    );
    assert_eq!(
        found(
            s.search("SENTBEFORE 28-Nov-2026 SENTSINCE 27-Nov-2026")
                .await
                .expect("search sent")
        ),
        [1, 2, 3]
    );
    assert_eq!(
        found(
            s.search("HEADER Message-ID <third@example.org>")
                .await
                .expect("search header")
        ),
        [3]
    );

    s.uid_copy("1", "Archive").await.expect("uid copy");
    s.uid_mv("2", "Trash").await.expect("uid move");
    assert!(
        drain(&mut s)
            .iter()
            .any(|r| matches!(r, UnsolicitedResponse::Expunge(2))),
        "MOVE expunges from the source"
    );
    assert!(
        s.copy("1", "Nowhere").await.is_err(),
        "COPY to a missing mailbox fails (TRYCREATE)"
    );

    s.store("1", "+FLAGS.SILENT (\\Deleted)")
        .await
        .expect("store")
        .try_collect::<Vec<_>>()
        .await
        .expect("store stream");
    let expunged: Vec<u32> = s
        .expunge()
        .await
        .expect("expunge")
        .try_collect()
        .await
        .expect("expunge stream");
    assert_eq!(expunged, [1]);
    s.store("1", "+FLAGS.SILENT (\\Deleted)")
        .await
        .expect("store")
        .try_collect::<Vec<_>>()
        .await
        .expect("store stream");
    let expunged: Vec<u32> = s
        .uid_expunge("1:2")
        .await
        .expect("uid expunge")
        .try_collect()
        .await
        .expect("stream");
    assert!(
        expunged.is_empty(),
        "UID EXPUNGE leaves messages outside its set"
    );
    s.close().await.expect("close expunges the rest");
    assert_eq!(s.select("INBOX").await.expect("select").exists, 0);
    assert_eq!(s.select("Trash").await.expect("select").exists, 1);
    assert_eq!(s.examine("Archive").await.expect("examine").exists, 1);
    // async-imap's STORE stream hides a tagged NO, so check the status line itself.
    let refused = s.run_command_and_check_ok("STORE 1 +FLAGS (\\Seen)").await;
    assert!(refused.is_err(), "EXAMINE is read-only");
    s.run_command_and_check_ok("UNSELECT")
        .await
        .expect("unselect");
    s.logout().await.expect("logout");
}

#[tokio::test]
async fn condstore_reports_modseq_and_changes_since() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut s = login(&server, "alice", "pw").await;
    s.append("INBOX", None, None, message("a", "a"))
        .await
        .expect("append");
    s.append("INBOX", None, None, message("b", "b"))
        .await
        .expect("append");
    let mailbox = s.select_condstore("INBOX").await.expect("select condstore");
    let highest = mailbox.highest_modseq.expect("HIGHESTMODSEQ");
    s.store("2", "+FLAGS.SILENT (\\Seen)")
        .await
        .expect("store")
        .try_collect::<Vec<_>>()
        .await
        .expect("store stream");
    let changed = fetch(
        &mut s,
        "1:*",
        &format!("(FLAGS) (CHANGEDSINCE {highest})"),
        false,
    )
    .await;
    assert_eq!(changed.len(), 1, "only the changed message");
    assert_eq!(changed[0].message, 2);
    assert!(changed[0].modseq.is_some_and(|m| m > highest));
    s.logout().await.expect("logout");
}

#[tokio::test]
async fn concurrent_sessions_see_each_others_changes() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut a = login(&server, "alice", "pw").await;
    let mut b = login(&server, "alice", "pw").await;
    a.append("INBOX", None, None, message("x", "x"))
        .await
        .expect("append");
    a.select("INBOX").await.expect("select");
    assert_eq!(b.select("INBOX").await.expect("select").exists, 1);
    a.append("INBOX", None, None, message("y", "y"))
        .await
        .expect("append");
    b.noop().await.expect("noop");
    assert!(
        drain(&mut b)
            .iter()
            .any(|r| matches!(r, UnsolicitedResponse::Exists(2))),
        "B hears of the new message"
    );
    a.store("1", "+FLAGS.SILENT (\\Flagged)")
        .await
        .expect("store")
        .try_collect::<Vec<_>>()
        .await
        .expect("stream");
    a.store("2", "+FLAGS.SILENT (\\Deleted)")
        .await
        .expect("store")
        .try_collect::<Vec<_>>()
        .await
        .expect("stream");
    a.expunge()
        .await
        .expect("expunge")
        .try_collect::<Vec<_>>()
        .await
        .expect("stream");
    // During FETCH, B may hear of the flag change but never of the expunge.
    let during = fetch(&mut b, "1:2", "(UID)", false).await;
    assert!(
        !drain(&mut b)
            .iter()
            .any(|r| matches!(r, UnsolicitedResponse::Expunge(_))),
        "no EXPUNGE during FETCH"
    );
    assert!(!during.is_empty());
    b.noop().await.expect("noop");
    assert!(
        drain(&mut b)
            .iter()
            .any(|r| matches!(r, UnsolicitedResponse::Expunge(2))),
        "EXPUNGE after NOOP"
    );
    let flags = fetch(&mut b, "1", "FLAGS", false).await;
    assert!(flags[0].flags().any(|f| format!("{f:?}") == "Flagged"));
    a.logout().await.expect("logout");
    b.logout().await.expect("logout");
}

#[tokio::test]
async fn idle_hears_a_change_made_through_the_engine() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut session = login(&server, "alice", "pw").await;
    session.select("INBOX").await.expect("select");
    let mut idle = session.idle();
    idle.init().await.expect("idle");
    let store = server.store("alice");
    let started = Instant::now();
    // A change from outside any IMAP session, as a sync peer's bundle makes it.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        store
            .write(|r| {
                r.append(
                    INBOX_ID,
                    &message("synced", "from a peer"),
                    &[],
                    1_790_000_000,
                    0,
                )
            })
            .expect("append through the engine");
    });
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(20));
    let response = wait.await.expect("idle wait");
    let latency = started.elapsed();
    assert!(
        matches!(
            response,
            async_imap::extensions::idle::IdleResponse::NewData(_)
        ),
        "IDLE woke with data, not {response:?}"
    );
    println!(
        "IDLE heard the engine's change {latency:?} after it started waiting (200 ms of it the writer's sleep)"
    );
    writer.join().expect("writer");
    let mut session = idle.done().await.expect("done");
    session.noop().await.expect("noop after idle");
    session.logout().await.expect("logout");
}

#[tokio::test]
async fn a_hundred_sessions_of_one_user_at_once() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut sessions = Vec::new();
    for _ in 0..100 {
        sessions.push(login(&server, "alice", "pw").await);
    }
    for session in &mut sessions {
        session.select("INBOX").await.expect("select");
    }
    sessions[0]
        .append("INBOX", None, None, message("all", "see"))
        .await
        .expect("append");
    for session in &mut sessions[1..] {
        session.noop().await.expect("noop");
        assert!(
            drain(session)
                .iter()
                .any(|r| matches!(r, UnsolicitedResponse::Exists(1)))
        );
    }
    for mut session in sessions {
        session.logout().await.expect("logout");
    }
}
