//! NomaMail beside Dovecot: the same messages APPENDed to both, then the same FETCH and SEARCH
//! commands, answers compared after normalising what may legitimately differ (a string sent
//! as a literal or quoted; case where RFC 3501 makes it insignificant in body structures).
//! Dovecot is Debian's `dovecot-imapd`, started by the test on loopback (`.ci/run` installs
//! it); without it the test says so and passes, unless `NOMAMAIL_REQUIRE_DOVECOT=1`.

use nomamail_tests::dovecot::Dovecot;
use nomamail_tests::imap_server::TestServer;
use nomamail_tests::wire::Wire;

/// Messages that exercise what servers tend to disagree on.
fn corpus() -> Vec<Vec<u8>> {
    let messages: [&str; 9] = [
        // Plain, no MIME headers at all.
        "From: Ann Example <ann@example.org>\r\nTo: bob@example.org\r\nSubject: plain\r\n\
         Date: Tue, 1 Dec 2026 10:00:00 +0100\r\nMessage-ID: <p1@example.org>\r\n\r\n\
         just text\r\nsecond line\r\n",
        // RFC 2047 words in the subject and a display name; several recipients.
        "From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>\r\n\
         To: Ann <ann@example.org>, \"Bob, Jr.\" <bob@example.org>\r\n\
         Cc: carol@example.org\r\nSubject: =?utf-8?b?R3LDvMOfZQ==?= invoice\r\n\
         Date: Wed, 2 Dec 2026 08:30:00 -0500\r\n\r\nGrüße\r\n",
        // Groups: named, empty, mixed with plain addresses.
        "From: ann@example.org\r\nTo: team: Ann <ann@example.org>, bob@example.org;, \
         solo@example.org\r\nCc: undisclosed-recipients:;\r\nSubject: groups\r\n\r\nhi\r\n",
        // Multipart with an attached message that is itself multipart.
        "From: a@example.org\r\nSubject: fwd invoice\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         preamble\r\n--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\nsee J=C3=B6rg's mail\r\n\
         --outer\r\nContent-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n\
         From: Carl <carl@example.org>\r\nSubject: inner\r\nDate: Mon, 30 Nov 2026 12:00:00 +0000\r\n\
         Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n\
         --inner\r\nContent-Type: text/plain\r\n\r\nthe quarterly figures\r\n\
         --inner\r\nContent-Type: text/html\r\n\r\n<p>the quarterly figures</p>\r\n\
         --inner--\r\n\r\n--outer--\r\n",
        // An attachment with disposition, language and a filename.
        "From: a@example.org\r\nSubject: attachment\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\nbody\r\n--b\r\n\
         Content-Type: application/pdf; name=\"r.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"r.pdf\"\r\n\
         Content-Language: en\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQK\r\n--b--\r\n",
        // Malformed MIME: the closing boundary never comes.
        "From: a@example.org\r\nSubject: broken\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"never\"\r\n\r\n--never\r\n\
         Content-Type: text/plain\r\n\r\nunterminated\r\n",
        // 8-bit header text, unencoded.
        "From: Zoë <zoe@example.org>\r\nSubject: café\r\n\r\n8-bit header\r\n",
        // For BINARY: base64 content with NULs and a quoted-printable attached message.
        "From: a@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"c\"\r\n\r\n--c\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         AAECA2hlbGxvAA==\r\n--c\r\nContent-Type: message/rfc822\r\n\r\n\
         Subject: inner\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n\
         caf=C3=A9 =\r\nau lait\r\n--c--\r\n",
        // An encoding no one decodes: BINARY answers NO [UNKNOWN-CTE].
        "From: a@example.org\r\nSubject: uu\r\nMIME-Version: 1.0\r\n\
         Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\nend\r\n",
    ];
    messages.iter().map(|m| m.as_bytes().to_vec()).collect()
}

/// Messages for SORT and THREAD: reply chains (with a missing parent, a loop-free duplicate
/// Message-ID, replies that only share a subject), list tags and forward markers in subjects,
/// senders with and without display names; each with its internal date, in another order
/// than the sent dates (all in the past: Dovecot takes a future one as now).
fn thread_corpus() -> Vec<(String, Vec<u8>)> {
    let messages: [(&str, &str); 11] = [
        (
            "23-Nov-2026 09:00:00 +0000",
            "From: Zed Last <zed@example.org>\r\nTo: bob@example.org\r\n\
          Subject: Plan\r\nMessage-ID: <t1@example.org>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\nplan\r\n",
        ),
        (
            "23-Nov-2026 08:00:00 +0000",
            "From: bob@example.org\r\nTo: Zed Last <zed@example.org>\r\nCc: carol@example.org\r\n\
          Subject: Re: Plan\r\nMessage-ID: <t2@example.org>\r\nIn-Reply-To: <t1@example.org>\r\n\
          References: <t1@example.org>\r\nDate: Tue, 1 Dec 2026 11:00:00 +0000\r\n\r\nyes\r\n",
        ),
        (
            "22-Nov-2026 09:00:00 +0000",
            "From: =?utf-8?q?=C3=84nne?= <anne@example.org>\r\nTo: amy@example.org\r\n\
          Subject: RE: [team] Re: Plan\r\nMessage-ID: <t3@example.org>\r\n\
          References: <t1@example.org> <t2@example.org>\r\nDate: Tue, 1 Dec 2026 12:00:00 +0100\r\n\r\nok\r\n",
        ),
        (
            "25-Nov-2026 09:00:00 +0000",
            "From: carol@example.org\r\nTo: bob@example.org\r\n\
          Subject: Re: Plan\r\nMessage-ID: <t4@example.org>\r\nReferences: <t1@example.org>\r\n\
          Date: Tue, 1 Dec 2026 10:30:00 +0000\r\n\r\nearlier reply\r\n",
        ),
        (
            "21-Nov-2026 09:00:00 +0000",
            "From: Bob <bob@example.org>\r\nTo: zed@example.org\r\n\
          Subject: Lunch\r\nMessage-ID: <t5@example.org>\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\nfood\r\n",
        ),
        (
            "24-Nov-2026 09:00:00 +0000",
            "From: amy@example.org\r\nTo: bob@example.org\r\n\
          Subject: Re: Lunch\r\nMessage-ID: <t6@example.org>\r\nReferences: <gone@example.org>\r\n\
          Date: Tue, 1 Dec 2026 13:00:00 +0000\r\n\r\nme too\r\n",
        ),
        (
            "24-Nov-2026 10:00:00 +0000",
            "From: dan@example.org\r\nTo: bob@example.org\r\n\
          Subject: Re: Lunch\r\nMessage-ID: <t7@example.org>\r\nReferences: <gone@example.org>\r\n\
          Date: Tue, 1 Dec 2026 13:30:00 +0000\r\n\r\nand me\r\n",
        ),
        (
            "26-Nov-2026 09:00:00 +0000",
            "From: zed@example.org\r\nTo: carol@example.org\r\n\
          Subject: Fwd: Plan\r\nMessage-ID: <t8@example.org>\r\nDate: Tue, 1 Dec 2026 14:00:00 +0000\r\n\r\nfyi\r\n",
        ),
        (
            "22-Nov-2026 10:00:00 +0000",
            "From: eve@example.org\r\nSubject: orphan\r\n\r\nno id, no date\r\n",
        ),
        (
            "27-Nov-2026 09:00:00 +0000",
            "From: Mallory <m@example.org>\r\nTo: bob@example.org\r\n\
          Subject: dup\r\nMessage-ID: <t1@example.org>\r\nDate: Tue, 1 Dec 2026 15:00:00 +0000\r\n\r\nsame id\r\n",
        ),
        (
            "27-Nov-2026 10:00:00 +0000",
            "From: bob@example.org\r\nTo: carol@example.org\r\n\
          Subject: [fwd: Lunch]\r\nMessage-ID: <t9@example.org>\r\nDate: Wed, 2 Dec 2026 09:00:00 +0000\r\n\r\nwrapped\r\n",
        ),
    ];
    messages
        .iter()
        .map(|(date, m)| (date.to_string(), m.as_bytes().to_vec()))
        .collect()
}

/// What may differ in LIST-EXTENDED and ESEARCH answers made uniform: the order of LIST
/// attributes and of STATUS items (neither carries meaning); \HasChildren and
/// \HasNoChildren, which NomaMail always sends (RFC 3348) and Dovecot only for RETURN
/// (CHILDREN); CHILDINFO quoted (as RFC 5258's examples write it) or not; ESEARCH tags (each
/// side's client numbers its own commands), and the order of the mailboxes.
fn comparable_list(command: &str, answer: &str) -> String {
    let children_asked = command.contains("CHILDREN");
    let mut lines: Vec<String> = answer
        .lines()
        .map(|line| {
            let line = match (line.find("(TAG \""), line.find("\")")) {
                (Some(start), Some(end)) if line.starts_with("* ESEARCH") => {
                    format!("{}(TAG){}", &line[..start], &line[end + 2..])
                }
                _ => line.replace("(\"CHILDINFO\"", "(CHILDINFO"),
            };
            if let Some(open) = line.strip_prefix("* STATUS ").and_then(|_| line.find('(')) {
                let inside = line[open + 1..].trim_end_matches(')');
                let words: Vec<&str> = inside.split(' ').collect();
                let mut pairs: Vec<String> = words.chunks(2).map(|pair| pair.join(" ")).collect();
                pairs.sort();
                return format!("{}({})", &line[..open], pairs.join(" "));
            }
            if !line.starts_with("* LIST (") {
                return line;
            }
            let Some(close) = line.find(')') else {
                return line;
            };
            let mut attributes: Vec<String> = line[8..close]
                .split(' ')
                .filter(|a| !a.is_empty())
                .map(str::to_lowercase)
                .filter(|a| children_asked || !a.starts_with("\\has"))
                .collect();
            attributes.sort();
            format!("* LIST ({}){}", attributes.join(" "), &line[close + 1..])
        })
        .collect();
    // Mailboxes come in no particular order; a STATUS stays after its LIST line.
    if !lines.iter().any(|l| l.starts_with("* STATUS")) {
        lines.sort();
    }
    lines.join("\n")
}

/// Literals become quoted strings, so the same string compares equal however it was sent.
fn normalise(data: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'{'
            && let Some(close) = data[i..].iter().position(|&b| b == b'}')
            && let Ok(length) = std::str::from_utf8(&data[i + 1..i + close])
                .unwrap_or("x")
                .trim_end_matches('+')
                .parse::<usize>()
            && data[i + close + 1..].starts_with(b"\r\n")
        {
            let start = i + close + 3;
            let end = (start + length).min(data.len());
            out.push(b'"');
            for &b in &data[start..end] {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
            i = end;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn login(addr: std::net::SocketAddr, user: &str, password: &str) -> Wire {
    let mut wire = Wire::open(addr).expect("connect");
    wire.ok(&format!("LOGIN {user} {password}"));
    wire
}

/// The untagged answer to a command, normalised; `NO`/`BAD` answers as their status word.
fn answer(wire: &mut Wire, command: &str) -> String {
    let (data, status) = wire.command(command.as_bytes()).expect("answer");
    let word = status.split_whitespace().nth(1).unwrap_or("").to_string();
    if word != "OK" {
        return word;
    }
    normalise(&data)
}

#[test]
fn fetch_and_search_answer_as_dovecot_does() {
    let Some(dovecot) = Dovecot::for_test() else {
        return;
    };
    let ours = TestServer::start(&[("alice", "pw")]);
    let mut a = login(ours.addr, "alice", "pw");
    let mut b = login(dovecot.addr, &dovecot.user, &dovecot.password);
    let messages = corpus();
    for wire in [&mut a, &mut b] {
        for message in &messages {
            let mut command = format!("APPEND INBOX {{{}+}}\r\n", message.len()).into_bytes();
            command.extend_from_slice(message);
            let (_, status) = wire.command(&command).expect("append");
            assert!(status.contains(" OK"), "{status}");
        }
        wire.ok("SELECT INBOX");
    }
    let items = [
        "RFC822.SIZE",
        "ENVELOPE",
        "BODY",
        "BODYSTRUCTURE",
        "BODY.PEEK[HEADER]",
        "BODY.PEEK[TEXT]",
        "BODY.PEEK[1]",
        "BODY.PEEK[2]",
        "BODY.PEEK[1.MIME]",
        "BODY.PEEK[2.MIME]",
        "BODY.PEEK[2.HEADER]",
        "BODY.PEEK[2.TEXT]",
        "BODY.PEEK[2.1]",
        "BODY.PEEK[2.2]",
        "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]",
        "BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM DATE)]",
        "BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]",
        "BINARY.PEEK[1]",
        "BINARY.PEEK[2]",
        "BINARY.PEEK[2.1]",
        "BINARY.PEEK[3]",
        "BINARY.SIZE[1]",
        "BINARY.SIZE[2]",
        "BINARY.PEEK[1]<2.5>",
        "BINARY.PEEK[]",
        "BINARY.SIZE[]",
    ];
    let mut differences = Vec::new();
    let mut compared = 0;
    for n in 1..=messages.len() {
        for item in items {
            let command = format!("FETCH {n} ({item})");
            let (ours, theirs) = (answer(&mut a, &command), answer(&mut b, &command));
            // Body structures: type, subtype, encoding and parameter names are
            // case-insensitive (RFC 3501 §7.4.2; Dovecot writes them as the message does).
            let fold = item.starts_with("BODY") && !item.contains('[');
            let same = if fold {
                ours.to_lowercase() == theirs.to_lowercase()
            } else {
                ours == theirs
            };
            compared += 1;
            if !same {
                differences.push(format!(
                    "{command}\n  ours:    {ours:?}\n  Dovecot: {theirs:?}"
                ));
            }
        }
    }
    for search in [
        "SEARCH SUBJECT invoice",
        "SEARCH FROM joerg",
        "SEARCH CHARSET UTF-8 FROM {5+}\r\nJörg",
        "SEARCH TO bob",
        "SEARCH CC carol",
        "SEARCH BODY quarterly",
        "SEARCH TEXT quarterly",
        "SEARCH TEXT invoice",
        "SEARCH HEADER Message-ID \"<p1@example.org>\"",
        "SEARCH SENTSINCE 2-Dec-2026",
        "SEARCH LARGER 300",
        "SEARCH OR SUBJECT groups SUBJECT broken",
    ] {
        let command = search.to_string();
        let (ours, theirs) = (answer(&mut a, &command), answer(&mut b, &command));
        compared += 1;
        if ours != theirs {
            differences.push(format!(
                "{command}\n  ours:    {ours:?}\n  Dovecot: {theirs:?}"
            ));
        }
    }
    for wire in [&mut a, &mut b] {
        wire.ok("CREATE Threads");
        for (date, message) in thread_corpus() {
            let mut command =
                format!("APPEND Threads \"{date}\" {{{}+}}\r\n", message.len()).into_bytes();
            command.extend_from_slice(&message);
            let (_, status) = wire.command(&command).expect("append");
            assert!(status.contains(" OK"), "{status}");
        }
        wire.ok("SELECT Threads");
    }
    for command in [
        "SORT (SUBJECT) UTF-8 ALL",
        "SORT (REVERSE SUBJECT) UTF-8 ALL",
        "SORT (DATE) UTF-8 ALL",
        "SORT (REVERSE DATE) UTF-8 ALL",
        "SORT (ARRIVAL) UTF-8 ALL",
        "SORT (SIZE) UTF-8 ALL",
        "SORT (FROM) UTF-8 ALL",
        "SORT (TO DATE) UTF-8 ALL",
        "SORT (CC ARRIVAL) UTF-8 ALL",
        "SORT (DISPLAYFROM) UTF-8 ALL",
        "SORT (DISPLAYTO REVERSE ARRIVAL) UTF-8 ALL",
        "SORT (SUBJECT DATE) UTF-8 FROM bob",
        "UID SORT (REVERSE ARRIVAL) UTF-8 SUBJECT lunch",
        "THREAD ORDEREDSUBJECT UTF-8 ALL",
        "THREAD REFERENCES UTF-8 ALL",
        "UID THREAD REFERENCES UTF-8 NOT FROM zed",
        "THREAD REFERENCES UTF-8 SUBJECT lunch",
    ] {
        let (ours, theirs) = (answer(&mut a, command), answer(&mut b, command));
        compared += 1;
        if ours != theirs {
            differences.push(format!(
                "{command}\n  ours:    {ours:?}\n  Dovecot: {theirs:?}"
            ));
        }
    }
    // LIST-EXTENDED, LIST-STATUS and ESEARCH over the same folders and subscriptions.
    for wire in [&mut a, &mut b] {
        for name in ["Work", "Work/2026", "Work/2026/Q4", "Home"] {
            wire.ok(&format!("CREATE {name}"));
        }
        // NomaMail subscribes what it creates (its special-use folders too); Dovecot does not.
        for name in [
            "Work",
            "Work/2026",
            "Threads",
            "Archive",
            "Drafts",
            "Junk",
            "Sent",
            "Trash",
        ] {
            wire.ok(&format!("UNSUBSCRIBE {name}"));
        }
        wire.ok("SUBSCRIBE Work/2026/Q4");
        wire.ok("SUBSCRIBE Home");
        wire.ok("SUBSCRIBE INBOX");
    }
    for command in [
        "LIST (SUBSCRIBED) \"\" \"*\"",
        "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"",
        "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"Work/%\"",
        "LIST \"\" (\"Home\" \"Work/*\")",
        "LIST \"\" (Work Home INBOX Threads) RETURN (SUBSCRIBED)",
        "LIST \"\" \"Threads\" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))",
        "LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN)",
        "SEARCH RETURN (MIN MAX COUNT) ALL",
        "SEARCH RETURN () FROM bob",
        "UID SEARCH RETURN (ALL COUNT) NOT FROM bob",
        "SEARCH RETURN (MIN) SUBJECT nothing-matches",
        // SEARCHRES: `$` in each place a sequence set may stand.
        "SEARCH RETURN (SAVE) FROM bob",
        "FETCH $ (UID)",
        "UID FETCH $ (UID)",
        "UID SEARCH UID $",
        "SEARCH OR $ SUBJECT orphan",
        "SEARCH NOT $",
        "STORE $ +FLAGS.SILENT (\\Flagged)",
        "SEARCH FLAGGED",
        "UID SEARCH RETURN (SAVE MAX) NOT FROM bob",
        "SEARCH $",
        "SEARCH RETURN (SAVE COUNT) SUBJECT lunch",
        "UID SEARCH $",
        "SEARCH RETURN (SAVE) SUBJECT nothing-matches",
        "FETCH $ (UID)",
        "UID STORE $ +FLAGS (\\Seen)",
        "SEARCH $",
        "SEARCH FROM $",
        // Flags as mail clients fetch them on every sync.
        "FETCH 1:* (FLAGS)",
        "UID FETCH 2:4 (FLAGS UID)",
        "FETCH 3,1 (UID FLAGS)",
    ] {
        let (ours, theirs) = (
            comparable_list(command, &answer(&mut a, command)),
            comparable_list(command, &answer(&mut b, command)),
        );
        // Each of these succeeds on both: equal refusals would prove nothing.
        assert!(
            !matches!(theirs.as_str(), "NO" | "BAD"),
            "{command}: {theirs}"
        );
        compared += 1;
        if ours != theirs {
            differences.push(format!(
                "{command}\n  ours:    {ours:?}\n  Dovecot: {theirs:?}"
            ));
        }
    }
    // CATENATE: messages made of text and URLs of stored messages, then read back.
    let header = "From: a@example.org\r\nSubject: catenated\r\n\r\n";
    for command in [
        format!(
            "APPEND Home CATENATE (TEXT {{{}+}}\r\n{header} URL \"/INBOX/;UID=1/;SECTION=TEXT\")",
            header.len()
        ),
        "APPEND Home (\\Seen) CATENATE (URL \"/INBOX/;UID=3\")".to_string(),
        format!(
            "APPEND Home CATENATE (TEXT {{{}+}}\r\n{header} URL \"/INBOX/;UID=4/;SECTION=2\" \
             URL \"/INBOX/;UID=4/;SECTION=2.2.1/;PARTIAL=4.9\" URL \"/INBOX/;UID=2/;SECTION=HEADER.FIELDS%20(SUBJECT)\")",
            header.len()
        ),
        format!(
            "APPEND Home CATENATE (TEXT {{{}+}}\r\n{header}) (\\Flagged) {{3+}}\r\nabc",
            header.len()
        ),
        "APPEND Home CATENATE (URL \"/INBOX/;UID=99\")".to_string(),
        "APPEND Home CATENATE (URL \"/Nowhere/;UID=1\")".to_string(),
        // (A part the message does not have: Dovecot stores an empty message and answers
        // OK; NomaMail refuses with BADURL, as RFC 4469 §3 asks.)
        "SELECT Home".to_string(),
        "FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[])".to_string(),
    ] {
        let (ours, theirs) = (answer(&mut a, &command), answer(&mut b, &command));
        let refused = command.contains("UID=99") || command.contains("Nowhere");
        assert_eq!(
            matches!(theirs.as_str(), "NO" | "BAD"),
            refused,
            "{command}: {theirs}"
        );
        // The mailbox's UIDVALIDITY and HIGHESTMODSEQ are each server's own.
        let mine = |text: &str| {
            text.lines()
                .filter(|l| !l.contains("[UIDVALIDITY") && !l.contains("[HIGHESTMODSEQ"))
                .map(|l| match l.strip_prefix("* OK [") {
                    Some(rest) => rest.split(']').next().unwrap_or("").to_string(),
                    None => l.to_string(),
                })
                .collect::<Vec<_>>()
        };
        compared += 1;
        if mine(&ours) != mine(&theirs) {
            differences.push(format!(
                "{command}\n  ours:    {ours:?}\n  Dovecot: {theirs:?}"
            ));
        }
    }
    eprintln!(
        "{compared} answers compared, {} differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert!(
        differences.is_empty(),
        "{} answers differ from Dovecot's",
        differences.len()
    );
}
