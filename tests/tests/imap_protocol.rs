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

fn append_raw(wire: &mut Wire, message: &str) {
    wire.ok(&format!("APPEND INBOX {{{}+}}\r\n{message}", message.len()));
}

#[test]
fn search_reads_attached_messages_and_decoded_headers_only() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut wire = session(&server);
    append_raw(
        &mut wire,
        "From: a@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Bonn\r\n\
         Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n\
         Content-Type: text/plain\r\n\r\nsee attached\r\n--x\r\n\
         Content-Type: message/rfc822\r\n\r\nFrom: b@example.org\r\nSubject: old\r\n\r\n\
         the quarterly invoice is inside\r\n--x--\r\n",
    );
    append_raw(
        &mut wire,
        "From: c@example.org\r\nSubject: plain\r\nMessage-ID: <m2@example.org>\r\n\r\nnothing here\r\n",
    );
    wire.ok("SELECT INBOX");
    let found = wire.ok("SEARCH BODY invoice");
    assert!(found.contains("* SEARCH 1\r\n"), "{found}");
    let found = wire.ok("SEARCH TEXT quarterly");
    assert!(found.contains("* SEARCH 1\r\n"), "{found}");
    let found = wire.ok("SEARCH CHARSET UTF-8 SUBJECT {7+}\r\ngrüße");
    assert!(
        found.contains("* SEARCH 1\r\n"),
        "decoded, without case: {found}"
    );
    let found = wire.ok("SEARCH SUBJECT \"=?utf-8?q\"");
    assert!(
        found.contains("* SEARCH\r\n"),
        "the raw form is not what people read: {found}"
    );
    let found = wire.ok("SEARCH HEADER Message-ID \"<m2@example.org>\"");
    assert!(found.contains("* SEARCH 2\r\n"), "{found}");
}

#[test]
fn appended_mail_is_indexed_in_the_background() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut wire = session(&server);
    for i in 0..20 {
        wire.append_message("INBOX", &format!("m{i}"), "text to index later");
    }
    let store = server.store("alice");
    let started = std::time::Instant::now();
    while store.read(|r| r.texts_waiting()).expect("count") > 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the indexer never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    wire.ok("SELECT INBOX");
    let found = wire.ok("SEARCH BODY \"index later\"");
    assert!(found.contains("* SEARCH 1 2 3"), "{found}");
}

#[test]
fn body_search_is_exact_for_short_strings_and_for_texts_too_large_to_index() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut wire = session(&server);
    let mut big = String::from("From: a@example.org\r\nSubject: log\r\n\r\n");
    while big.len() < (1 << 20) + 100 {
        big.push_str("all is well today\r\n");
    }
    big.push_str("Disk FULL at last\r\n");
    append_raw(&mut wire, &big);
    append_raw(
        &mut wire,
        "From: c@example.org\r\nSubject: short\r\n\r\nOK, 2 GB free\r\n",
    );
    wire.ok("SELECT INBOX");
    let found = wire.ok("SEARCH BODY \"disk full\"");
    assert!(found.contains("* SEARCH 1\r\n"), "{found}");
    let found = wire.ok("SEARCH BODY gb");
    assert!(found.contains("* SEARCH 2\r\n"), "{found}");
    let found = wire.ok("SEARCH OR BODY \"disk full\" TEXT \"2 gb\"");
    assert!(found.contains("* SEARCH 1 2\r\n"), "{found}");
    let found = wire.ok("SEARCH NOT BODY well");
    assert!(found.contains("* SEARCH 2\r\n"), "{found}");
    let found = wire.ok("SEARCH BODY \"\"");
    assert!(found.contains("* SEARCH 1 2\r\n"), "{found}");
}

#[test]
fn envelope_and_structure_come_from_the_summary_for_nested_messages() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut wire = session(&server);
    append_raw(
        &mut wire,
        "From: a@example.org\r\nTo: team: Ann <ann@example.org>;\r\nSubject: fwd\r\n\
         Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n\
         Content-Type: text/plain\r\n\r\nhi\r\n--x\r\n\
         Content-Type: message/rfc822\r\n\r\nFrom: b@example.org\r\nSubject: inner\r\n\r\n\
         inner text\r\n--x--\r\n",
    );
    wire.ok("SELECT INBOX");
    let data = wire.ok("FETCH 1 (ENVELOPE)");
    assert!(
        data.contains(
            "((NIL NIL \"team\" NIL)(\"Ann\" NIL \"ann\" \"example.org\")(NIL NIL NIL NIL))"
        ),
        "{data}"
    );
    let data = wire
        .ok("FETCH 1 (BODY.PEEK[2.TEXT] BODY.PEEK[2.HEADER.FIELDS (SUBJECT)] BODY.PEEK[2.MIME])");
    assert!(data.contains("inner text"), "{data}");
    assert!(data.contains("Subject: inner\r\n\r\n"), "{data}");
    assert!(
        data.contains("Content-Type: message/rfc822\r\n\r\n"),
        "{data}"
    );
}

#[test]
fn recent_belongs_to_the_first_session_that_selects_after_arrival() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut writer = session(&server);
    writer.append_message("INBOX", "one", "1");
    writer.append_message("INBOX", "two", "2");
    let status = writer.ok("STATUS INBOX (RECENT MESSAGES)");
    assert!(status.contains("RECENT 2"), "{status}");

    let mut peeker = session(&server);
    let examined = peeker.ok("EXAMINE INBOX");
    assert!(
        examined.contains("* 2 RECENT"),
        "EXAMINE sees them: {examined}"
    );

    let mut first = session(&server);
    let selected = first.ok("SELECT INBOX");
    assert!(selected.contains("* 2 RECENT"), "{selected}");
    let flags = first.ok("FETCH 1:* (FLAGS)");
    assert!(flags.matches("\\Recent").count() == 2, "{flags}");
    let found = first.ok("SEARCH RECENT");
    assert!(found.contains("* SEARCH 1 2"), "{found}");
    let found = first.ok("SEARCH NEW");
    assert!(found.contains("* SEARCH 1 2"), "{found}");

    let mut second = session(&server);
    let selected = second.ok("SELECT INBOX");
    assert!(
        selected.contains("* 0 RECENT"),
        "claimed by the first: {selected}"
    );
    let found = second.ok("SEARCH OLD");
    assert!(found.contains("* SEARCH 1 2"), "{found}");
    let flags = second.ok("FETCH 1:* (FLAGS)");
    assert!(!flags.contains("\\Recent"), "{flags}");

    // New mail while both are selected: recent to the first that hears of it.
    writer.append_message("INBOX", "three", "3");
    let noop = second.ok("NOOP");
    assert!(
        noop.contains("* 3 EXISTS") && noop.contains("* 1 RECENT"),
        "{noop}"
    );
    let noop = first.ok("NOOP");
    assert!(noop.contains("* 3 EXISTS"), "{noop}");
    assert!(noop.contains("* 2 RECENT"), "only its own two: {noop}");
    let status = writer.ok("STATUS INBOX (RECENT)");
    assert!(status.contains("RECENT 0"), "{status}");
}

#[test]
fn a_new_keyword_is_announced_in_flags_before_a_fetch_shows_it() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut one = session(&server);
    let mut two = session(&server);
    one.append_message("INBOX", "one", "1");
    one.ok("SELECT INBOX");
    two.ok("SELECT INBOX");
    let stored = two.ok("STORE 1 +FLAGS ($Project)");
    let flags_at = stored.find("* FLAGS (").expect(&stored);
    assert!(stored[flags_at..].find("$Project").is_some(), "{stored}");
    assert!(flags_at < stored.find("FETCH").expect("fetch"), "{stored}");
    assert!(stored.contains("PERMANENTFLAGS ("), "{stored}");
    // The other session hears of the keyword before the flag change that carries it.
    let noop = one.ok("NOOP");
    let flags_at = noop.find("* FLAGS (").expect(&noop);
    assert!(flags_at < noop.find("FETCH").expect("fetch"), "{noop}");
    // Once announced, not again.
    let again = one.ok("FETCH 1 (FLAGS)");
    assert!(!again.contains("* FLAGS"), "{again}");
}

#[test]
fn lsub_lists_a_hidden_parent_as_noselect_and_forgets_unsubscribed_names() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut wire = session(&server);
    wire.ok("CREATE Projects/Alpha");
    wire.ok("UNSUBSCRIBE Projects");
    wire.ok("SUBSCRIBE Projects/Alpha");
    let listed = wire.ok("LSUB \"\" %");
    assert!(
        listed.contains("* LSUB (\\Noselect) \"/\" Projects\r\n"),
        "{listed}"
    );
    assert!(!listed.contains("Projects/Alpha"), "{listed}");
    let listed = wire.ok("LSUB \"\" *");
    assert!(listed.contains("Projects/Alpha"), "{listed}");
    assert!(
        !listed.contains("\" Projects\r\n"),
        "nothing hidden under *: {listed}"
    );
    wire.ok("UNSUBSCRIBE Projects/Alpha");
    let listed = wire.ok("LSUB \"\" *");
    assert!(!listed.contains("Projects"), "{listed}");
}

#[test]
fn names_that_are_not_modified_utf7_get_no_or_nothing_never_bad_or_a_hangup() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut wire = session(&server);
    let (_, status) = wire.command(b"SELECT &'").expect("answer");
    assert!(status.contains(" NO "), "{status}");
    let (data, status) = wire.command(b"LIST \"\" \"&'\"").expect("answer");
    assert!(status.contains(" OK"), "{status}");
    assert!(!String::from_utf8_lossy(&data).contains("* LIST"));
    let (_, status) = wire.command(b"LIST \"\" &'*").expect("answer");
    assert!(!status.contains(" BAD"), "{status}");
    let (_, status) = wire.command(b"CREATE &Jjo").expect("answer");
    assert!(status.contains(" NO "), "{status}");
    wire.ok("NOOP");
}

#[test]
fn compress_deflate_carries_a_whole_session_after_login() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut wire = Wire::open(server.addr).expect("connect");
    assert!(!wire.greeting.contains("COMPRESS"), "{}", wire.greeting);
    let (_, status) = wire.command(b"COMPRESS DEFLATE").expect("compress");
    assert!(status.contains(" BAD"), "only after login: {status}");
    wire.ok("LOGIN alice pw");
    assert!(wire.ok("CAPABILITY").contains("COMPRESS=DEFLATE"));
    let status = wire.compress().expect("compress");
    assert!(status.contains(" OK"), "{status}");

    let text = "the same words again and again ".repeat(400);
    wire.append_message("INBOX", "squeezed", &text);
    wire.ok("SELECT INBOX");
    let fetched = wire.ok("FETCH 1 BODY[TEXT]");
    assert!(
        fetched.contains(&text),
        "{}",
        &fetched[..200.min(fetched.len())]
    );
    assert!(!wire.ok("CAPABILITY").contains("COMPRESS"));
    let (_, status) = wire.command(b"COMPRESS DEFLATE").expect("again");
    assert!(status.contains("NO [COMPRESSIONACTIVE]"), "{status}");

    // IDLE's waiting happens in the connection: news must get through the deflater too.
    wire.send(b"i1 IDLE\r\n").expect("idle");
    assert!(wire.line().expect("continuation").starts_with('+'));
    let mut other = session(&server);
    other.append_message("INBOX", "news", "arrives while idling");
    let line = wire.line().expect("exists");
    assert_eq!(line, "* 2 EXISTS\r\n");
    wire.send(b"DONE\r\n").expect("done");
    assert!(
        wire.until("i1")
            .expect("idle ends")
            .last()
            .is_some_and(|l| l.contains(" OK"))
    );
    wire.ok("LOGOUT");
}

#[test]
fn list_extended_selects_special_use_and_reports_status_as_thunderbird_asks() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut wire = session(&server);
    assert!(wire.ok("CAPABILITY").contains("LIST-STATUS"));
    wire.append_message("Sent", "sent one", "a sent message");
    let special = wire.ok("LIST (SPECIAL-USE) \"\" \"*\"");
    assert!(special.contains("\\Sent) \"/\" Sent"), "{special}");
    assert!(
        !special.contains("INBOX"),
        "only special-use folders: {special}"
    );
    let status = wire.ok("LIST \"\" \"Sent\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))");
    assert!(
        status.contains("* STATUS Sent (MESSAGES 1 UNSEEN 1)"),
        "{status}"
    );
    let (_, bad) = wire
        .command(b"LIST (NOSUCHOPTION) \"\" \"*\"")
        .expect("answered");
    assert!(bad.contains(" BAD"), "{bad}");
    wire.ok("SELECT Sent");
    let counted = wire.ok("SEARCH RETURN (COUNT MIN) ALL");
    assert!(counted.contains(" MIN 1 COUNT 1"), "{counted}");
    wire.ok("LOGOUT");
}

#[test]
fn quota_reports_the_accounts_size_and_refuses_what_would_pass_it() {
    let config = nomamail_core::imap::ServerConfig {
        quota_kib: Some(64),
        ..Default::default()
    };
    let server = TestServer::start_with(&[("alice", "pw")], config);
    let mut wire = session(&server);
    assert!(wire.ok("CAPABILITY").contains("QUOTA=RES-STORAGE"));
    wire.append_message("INBOX", "twenty", &"x".repeat(20 * 1024));
    let root = wire.ok("GETQUOTAROOT INBOX");
    assert!(root.contains("* QUOTAROOT INBOX \"\""), "{root}");
    assert!(root.contains("* QUOTA \"\" (STORAGE 21 64)"), "{root}");
    let (_, refused) = wire
        .command(
            format!(
                "APPEND INBOX {{{}+}}\r\n{}",
                50 * 1024,
                "y".repeat(50 * 1024)
            )
            .as_bytes(),
        )
        .expect("append");
    assert!(refused.contains("NO [OVERQUOTA]"), "{refused}");
    wire.ok("SELECT INBOX");
    wire.ok("COPY 1 INBOX");
    let (_, refused) = wire.command(b"COPY 1:2 INBOX").expect("copy");
    assert!(refused.contains("NO [OVERQUOTA]"), "{refused}");
    assert!(wire.ok("GETQUOTA \"\"").contains("(STORAGE 41 64)"));
    let (_, set) = wire
        .command(b"SETQUOTA \"\" (STORAGE 1)")
        .expect("setquota");
    assert!(set.contains(" NO"), "{set}");

    let unlimited = TestServer::start(&[("bob", "pw")]);
    let mut wire = Wire::open(unlimited.addr).expect("connect");
    wire.ok("LOGIN bob pw");
    assert!(!wire.ok("CAPABILITY").contains("QUOTA"));
    assert!(
        wire.ok("GETQUOTAROOT INBOX")
            .contains("* QUOTAROOT INBOX\r\n")
    );
}

#[test]
fn status_counts_flags_as_whole_words() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut wire = session(&server);
    for i in 0..4 {
        wire.append_message("INBOX", &format!("s{i}"), "status");
    }
    wire.ok("SELECT INBOX");
    wire.ok("STORE 1 +FLAGS (\\Seen)");
    wire.ok("STORE 2 +FLAGS (\\Deleted \\Seen)");
    // Keywords that merely contain a system flag's name are not that flag.
    wire.ok("STORE 3 +FLAGS (NotSeen $Deletedness)");
    wire.ok("UNSELECT");
    let status = wire.ok("STATUS INBOX (MESSAGES UNSEEN)");
    assert!(status.contains("(MESSAGES 4 UNSEEN 2)"), "{status}");
}

#[test]
fn a_saved_search_result_names_its_messages_until_they_are_expunged() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut one = session(&server);
    for (subject, body) in [
        ("one", "x"),
        ("invoice 1", "x"),
        ("two", "x"),
        ("invoice 2", "x"),
    ] {
        one.append_message("INBOX", subject, body);
    }
    let caps = one.ok("CAPABILITY");
    assert!(caps.contains(" SEARCHRES"), "{caps}");
    one.ok("SELECT INBOX");
    // Pipelined, as RFC 5182 means it: the FETCH uses what the SEARCH before it saved.
    one.send(b"p1 SEARCH RETURN (SAVE) SUBJECT invoice\r\np2 FETCH $ (UID)\r\n")
        .expect("send");
    let lines = one.until("p2").expect("answers").join("");
    assert!(
        !lines.contains("ESEARCH"),
        "SAVE alone answers nothing: {lines}"
    );
    assert!(
        lines.contains("* 2 FETCH (UID 2)") && lines.contains("* 4 FETCH (UID 4)"),
        "{lines}"
    );
    assert!(
        !lines.contains("* 1 FETCH") && !lines.contains("* 3 FETCH"),
        "{lines}"
    );

    one.ok("STORE 2 +FLAGS (\\Deleted)");
    one.ok("EXPUNGE");
    let data = one.ok("UID FETCH $ (UID)");
    assert_eq!(data.matches("FETCH").count(), 1, "{data}");
    assert!(data.contains("(UID 4)"), "{data}");
    let data = one.ok("UID SEARCH UID $");
    assert!(data.contains("* SEARCH 4\r\n"), "{data}");

    // A failed SAVE empties `$`; commands on it then do nothing, and say OK.
    let (_, status) = one
        .command(b"SEARCH RETURN (SAVE) CHARSET KOI8-NONE SUBJECT x")
        .expect("search");
    assert!(status.contains(" NO"), "{status}");
    let data = one.ok("UID COPY $ Trash");
    assert!(!data.contains("COPYUID"), "{data}");
    let data = one.ok("SEARCH $");
    assert!(data.contains("* SEARCH\r\n"), "{data}");

    // Selecting again starts with nothing saved.
    one.ok("SEARCH RETURN (SAVE) ALL");
    one.ok("SELECT INBOX");
    let data = one.ok("FETCH $ (UID)");
    assert!(!data.contains("FETCH"), "{data}");
}

#[test]
fn multiappend_stores_every_message_or_none() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut one = session(&server);
    let caps = one.ok("CAPABILITY");
    assert!(caps.contains(" MULTIAPPEND"), "{caps}");
    let first = "Subject: one\r\n\r\nfirst\r\n";
    let second = "Subject: two\r\n\r\nsecond\r\n";
    // Synchronizing literals: the server asks for each in turn.
    one.send(format!("m1 APPEND INBOX (\\Seen) {{{}}}\r\n", first.len()).as_bytes())
        .expect("send");
    assert!(one.line().expect("go ahead").starts_with('+'));
    one.send(
        format!(
            "{first} (\\Flagged) \"01-Dec-2026 10:00:00 +0100\" {{{}}}\r\n",
            second.len()
        )
        .as_bytes(),
    )
    .expect("send");
    assert!(one.line().expect("go ahead").starts_with('+'));
    one.send(format!("{second}\r\n").as_bytes()).expect("send");
    let lines = one.until("m1").expect("answer").join("");
    assert!(lines.contains("m1 OK [APPENDUID "), "{lines}");
    assert!(lines.contains(" 1:2]"), "both UIDs, as a set: {lines}");
    one.ok("SELECT INBOX");
    let data = one.ok("FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[TEXT])");
    assert!(data.contains("first") && data.contains("second"), "{data}");
    assert!(
        data.contains("\\Seen") && data.contains("\\Flagged"),
        "{data}"
    );
    assert!(data.contains("01-Dec-2026 10:00:00 +0100"), "{data}");

    // One bad message (empty) and none is stored.
    let (_, status) = one
        .command(format!("APPEND INBOX {{{}+}}\r\n{first} {{0+}}\r\n", first.len()).as_bytes())
        .expect("append");
    assert!(status.contains(" NO"), "{status}");
    let data = one.ok("SEARCH ALL");
    assert!(data.contains("* SEARCH 1 2\r\n"), "{data}");
}

#[test]
fn binary_fetches_decoded_parts_and_append_takes_a_literal8() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut one = session(&server);
    let caps = one.ok("CAPABILITY");
    assert!(caps.contains(" BINARY"), "{caps}");
    // RFC 3516 §4.4: a message with a binary part (NULs and all) sent as a literal8.
    let mut message = b"From: a@example.org\r\nSubject: raw\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"z\"\r\n\r\n--z\r\n\
        Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n\
        --z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    message.extend_from_slice(b"\0\x01\xff\0tail");
    message.extend_from_slice(b"\r\n--z--\r\n");
    let mut command = format!("APPEND INBOX ~{{{}+}}\r\n", message.len()).into_bytes();
    command.extend_from_slice(&message);
    let (_, status) = one.command(&command).expect("append");
    assert!(status.contains(" OK"), "{status}");
    one.ok("SELECT INBOX");

    let (data, _) = one
        .command(b"FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.SIZE[2])")
        .expect("fetch");
    let data = String::from_utf8_lossy(&data);
    assert!(data.contains("BINARY[1] ~{11}\r\nhello world"), "{data}");
    assert!(data.contains("BINARY.SIZE[1] 11"), "{data}");
    assert!(data.contains("BINARY.SIZE[2] 8"), "{data}");
    // The binary part comes back byte for byte, as a literal8 since it holds NULs.
    let (data, _) = one.command(b"FETCH 1 (BINARY.PEEK[2])").expect("fetch");
    let at = data
        .windows(5)
        .position(|w| w == b"~{8}\r")
        .expect("a literal8 of 8 bytes");
    assert_eq!(&data[at + 6..at + 14], b"\0\x01\xff\0tail");
    // A partial fetch names its origin, as BODY[]<n> does.
    let data = one.ok("FETCH 1 (BINARY.PEEK[1]<6.100>)");
    assert!(data.contains("BINARY[1]<6> ~{5}\r\nworld"), "{data}");
    // Without PEEK the message becomes \Seen, and FLAGS say so.
    let data = one.ok("FETCH 1 (BINARY[1])");
    assert!(data.contains("\\Seen"), "{data}");
    // An encoding nobody decodes is refused with its code, the session goes on.
    let uu = "Subject: uu\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n";
    one.ok(&format!("APPEND INBOX {{{}+}}\r\n{uu}", uu.len()));
    let (_, status) = one.command(b"FETCH 2 (BINARY.PEEK[1])").expect("fetch");
    assert!(status.contains("NO [UNKNOWN-CTE]"), "{status}");
    one.ok("NOOP");
}

#[test]
fn catenate_builds_a_message_from_text_and_stored_parts() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut one = session(&server);
    let caps = one.ok("CAPABILITY");
    assert!(caps.contains(" CATENATE"), "{caps}");
    let original = "From: a@example.org\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\n\
        see attached\r\n--q\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        JVBERi0xLjQK\r\n--q--\r\n";
    one.ok(&format!(
        "APPEND INBOX {{{}+}}\r\n{original}",
        original.len()
    ));
    let status = one.ok("STATUS INBOX (UIDVALIDITY)");
    let validity: String = status
        .split("UIDVALIDITY ")
        .nth(1)
        .expect("uidvalidity")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    // A forward: new text, then the stored attachment with its MIME header, by URL.
    let head = "From: b@example.org\r\nSubject: Fwd: report\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"f\"\r\n\r\n--f\r\nContent-Type: text/plain\r\n\r\n\
        fyi\r\n--f\r\n";
    let tail = "\r\n--f--\r\n";
    // Synchronizing literals: the server asks for each.
    one.send(format!("c1 APPEND Drafts CATENATE (TEXT {{{}}}\r\n", head.len()).as_bytes())
        .expect("send");
    assert!(one.line().expect("go ahead").starts_with('+'));
    one.send(
        format!(
            "{head} URL \"/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=2.MIME\" \
             URL \"/INBOX/;UID=1/;SECTION=2\" TEXT {{{}}}\r\n",
            tail.len()
        )
        .as_bytes(),
    )
    .expect("send");
    assert!(one.line().expect("go ahead").starts_with('+'));
    one.send(format!("{tail})\r\n").as_bytes()).expect("send");
    let lines = one.until("c1").expect("answer").join("");
    assert!(lines.contains("c1 OK [APPENDUID "), "{lines}");
    one.ok("SELECT Drafts");
    let data = one.ok("FETCH 1 (BINARY.PEEK[2] BODY.PEEK[1])");
    assert!(
        data.contains("%PDF-1.4"),
        "the attachment arrived whole: {data}"
    );
    assert!(data.contains("fyi"), "{data}");

    for (url, why) in [
        ("/INBOX/;UID=9", "no such message"),
        ("/INBOX;UIDVALIDITY=1/;UID=1", "another UIDVALIDITY"),
        ("/INBOX/;UID=1/;SECTION=7", "no such part"),
        (
            "imap://alice@elsewhere.example/INBOX/;UID=1",
            "another server",
        ),
    ] {
        let (_, status) = one
            .command(format!("APPEND Drafts CATENATE (TEXT {{2+}}\r\nhi URL \"{url}\")").as_bytes())
            .expect("append");
        assert!(
            status.contains(&format!("NO [BADURL {url}]")),
            "{why}: {status}"
        );
    }
    let data = one.ok("STATUS Drafts (MESSAGES)");
    assert!(
        data.contains("MESSAGES 1"),
        "nothing more was stored: {data}"
    );
}

#[test]
fn subject_searches_and_sorts_follow_new_and_departed_mail_after_the_first_search() {
    let server = TestServer::start(&[("alice", "pw")]);
    let mut one = session(&server);
    let mut two = session(&server);
    // Enough messages that the first search reads the whole mailbox at once.
    for n in 1..=40 {
        let subject = if n % 10 == 0 { "invoice" } else { "hello" };
        one.append_message("INBOX", &format!("{subject} {n:02}"), "body");
    }
    one.ok("SELECT INBOX");
    let found = one.ok("UID SEARCH SUBJECT invoice");
    assert!(found.contains("* SEARCH 10 20 30 40"), "{found}");

    // A few more, found one by one; and one that left but this session still shows.
    one.append_message("INBOX", "Re: invoice 41", "body");
    one.append_message("INBOX", "an invoice 00", "body");
    two.ok("SELECT INBOX");
    two.ok("UID STORE 20 +FLAGS (\\Deleted)");
    two.ok("UID EXPUNGE 20");
    let found = one.ok("UID SEARCH SUBJECT invoice");
    assert!(found.contains("* SEARCH 10 20 30 40 41 42"), "{found}");

    // The base subject drops "Re:", so "invoice 41" sorts after "invoice 40".
    let sorted = one.ok("UID SORT (SUBJECT) UTF-8 SUBJECT invoice");
    assert!(sorted.contains("* SORT 42 10 20 30 40 41"), "{sorted}");
    let again = one.ok("UID SORT (REVERSE SUBJECT) UTF-8 SUBJECT invoice");
    assert!(again.contains("* SORT 41 40 30 20 10 42"), "{again}");
}
