//! RFC 3501 cases a client notices, each a regression test on the raw wire: what two sessions
//! of one account see of each other's changes, and what each is told when.

use nomamail_tests::imap_server::TestServer;
use nomamail_tests::wire::Wire;

fn session(server: &TestServer) -> Wire {
    let mut wire = Wire::open(server.addr).expect("connect");
    wire.ok("LOGIN alice pw");
    wire
}

#[test]
fn a_message_expunged_elsewhere_stays_fetchable_until_this_session_is_told() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut one = session(&server);
    let mut two = session(&server);
    one.append_message("INBOX", "first", "the first body");
    one.append_message("INBOX", "second", "the second body");
    one.append_message("INBOX", "third", "the third body");
    one.ok("SELECT INBOX");
    two.ok("SELECT INBOX");
    two.ok("STORE 2 +FLAGS (\\Deleted)");
    two.ok("EXPUNGE");

    // FETCH may not send EXPUNGE (RFC 3501 §7.4.1): message 2 is still there for `one`.
    let (data, status) = one
        .command(b"FETCH 2 (UID BODY.PEEK[TEXT])")
        .expect("fetch");
    let data = String::from_utf8_lossy(&data);
    assert!(status.contains(" OK"), "{status}");
    assert!(data.contains("* 2 FETCH"), "{data}");
    assert!(
        data.contains("the second body"),
        "its data, not a NO: {data}"
    );
    assert!(!data.contains("EXPUNGE"), "{data}");
    let (data, status) = one.command(b"UID SEARCH ALL").expect("search");
    assert!(status.contains(" OK"), "{status}");
    assert!(
        String::from_utf8_lossy(&data).contains("* SEARCH 1 2 3"),
        "still three messages to this session"
    );
    // STORE to it changes nothing and is no error either.
    let (_, status) = one.command(b"STORE 2 +FLAGS (\\Flagged)").expect("store");
    assert!(status.contains(" OK"), "{status}");

    // A command that may expunge tells it, and the numbers move up.
    let noop = one.ok("NOOP");
    assert!(noop.contains("* 2 EXPUNGE"), "{noop}");
    let data = one.ok("FETCH 2 (UID)");
    assert!(data.contains("* 2 FETCH (UID 3)"), "{data}");
}

#[test]
fn a_message_moved_away_elsewhere_is_expunged_here_and_arrives_there() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut one = session(&server);
    let mut two = session(&server);
    one.ok("CREATE Archive2");
    one.append_message("INBOX", "a", "aaa");
    one.append_message("INBOX", "b", "bbb");
    one.ok("SELECT INBOX");
    two.ok("SELECT Archive2");
    let mut mover = session(&server);
    mover.ok("SELECT INBOX");
    mover.ok("MOVE 1 Archive2");
    let noop = one.ok("NOOP");
    assert!(noop.contains("* 1 EXPUNGE"), "{noop}");
    let noop = two.ok("NOOP");
    assert!(noop.contains("* 1 EXISTS"), "{noop}");
    let data = two.ok("FETCH 1 (BODY.PEEK[TEXT])");
    assert!(data.contains("aaa"), "{data}");
}
