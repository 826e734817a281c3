//! The full-text index behind SEARCH BODY and TEXT: exact substring answers, whichever way a
//! body came and however old the store.

use nomamail_core::{Durability, INBOX_ID, Replica, ReplicaId, ReplicaOptions, TextScope};

fn options() -> ReplicaOptions {
    let mut opts = ReplicaOptions::new(ReplicaId(1), 0x5eed);
    opts.durability = Durability::Process;
    opts
}

const LETTER: &str = "From: a@example.org\r\nSubject: Greetings from Bonn\r\n\
    Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n\
    Content-Type: text/plain\r\n\r\nYour INVOICE, as \"promised\".\r\n--x\r\n\
    Content-Type: text/html\r\n\r\n<p>Kind regards</p>\r\n--x\r\n\
    Content-Type: message/rfc822\r\n\r\nFrom: b@example.org\r\nSubject: old\r\n\r\n\
    the quarterly report\r\n--x--\r\n";

fn found(r: &mut Replica, needle: &str, scope: TextScope) -> usize {
    r.text_search(needle, scope)
        .unwrap()
        .expect("the index answers")
        .len()
}

#[test]
fn substrings_match_without_case_in_every_text_part_and_attached_message() {
    let mut r = Replica::open_in_memory(options()).unwrap();
    r.append(INBOX_ID, LETTER.as_bytes(), &[], 0, 0).unwrap();
    r.append(
        INBOX_ID,
        b"Subject: other\r\n\r\nnothing to see\r\n",
        &[],
        0,
        0,
    )
    .unwrap();
    for needle in [
        "voic",
        "your invoice",
        "kind regards",
        "quarterly",
        "\"promised\"",
    ] {
        assert_eq!(found(&mut r, needle, TextScope::Body), 1, "{needle}");
    }
    assert_eq!(found(&mut r, "nothing", TextScope::Body), 1);
    assert_eq!(found(&mut r, "no such words", TextScope::Body), 0);
    assert_eq!(
        found(&mut r, "ou", TextScope::Body),
        1,
        "under three characters"
    );
    assert_eq!(
        found(&mut r, "greetings", TextScope::Body),
        0,
        "a header is not body"
    );
    assert_eq!(found(&mut r, "greetings", TextScope::BodyOrHeader), 1);
    for across in ["\"promised\".<p>kind", "\"promised\".\r\n<p>kind"] {
        assert_eq!(
            found(&mut r, across, TextScope::Body),
            0,
            "a match never runs from one part into the next"
        );
    }
}

#[test]
fn a_text_too_large_to_index_is_left_for_reading() {
    let mut r = Replica::open_in_memory(options()).unwrap();
    let mut big = String::from("Subject: log\r\n\r\n");
    while big.len() < (1 << 20) + 10 {
        big.push_str("all is well today\r\n");
    }
    big.push_str("needle at the end\r\n");
    r.append(INBOX_ID, big.as_bytes(), &[], 0, 0).unwrap();
    let blob = r.entries(INBOX_ID).unwrap()[0].blob;
    assert!(r.unindexed_texts().unwrap().contains(&blob));
    assert_eq!(found(&mut r, "needle at", TextScope::Body), 0);
}

#[test]
fn a_store_from_before_the_index_is_indexed_when_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut r = Replica::open(&path, options()).unwrap();
    r.append(INBOX_ID, LETTER.as_bytes(), &[], 0, 0).unwrap();
    drop(r);
    let sql = rusqlite::Connection::open(&path).unwrap();
    sql.execute_batch(
        "DELETE FROM text_fts; DELETE FROM text_index;
         DELETE FROM meta WHERE key = 'text_index_complete';",
    )
    .unwrap();
    drop(sql);
    let mut r = Replica::open(&path, options()).unwrap();
    assert_eq!(found(&mut r, "quarterly", TextScope::Body), 1);
}

#[test]
fn bodies_are_indexed_in_batches_and_a_search_never_misses_a_queued_one() {
    let mut r = Replica::open_in_memory(options()).unwrap();
    for i in 0..5 {
        let m = format!("Subject: n{i}\r\n\r\nqueued body number {i}\r\n");
        r.append(INBOX_ID, m.as_bytes(), &[], 0, 0).unwrap();
    }
    assert_eq!(r.index_pending_texts(3).unwrap(), 3);
    // Two are still queued: the search indexes them before it looks.
    assert_eq!(found(&mut r, "body number", TextScope::Body), 5);
    assert_eq!(r.index_pending_texts(100).unwrap(), 0);
}

#[test]
fn a_needle_holding_the_part_separator_is_left_to_the_caller() {
    let mut r = Replica::open_in_memory(options()).unwrap();
    assert!(
        r.text_search("a\u{1f}b", TextScope::Body)
            .unwrap()
            .is_none()
    );
}
