use super::*;

/// message/rfc822 inside a multipart inside a multipart, the inner message itself
/// multipart: every RFC 3501 section path of it.
const DEEP: &[u8] = b"From: a@example.org\r\n\
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\
To: friends: Ann <ann@example.org>, bob@example.org;, solo@example.org, empty: ;\r\n\
Date: Tue, 1 Dec 2026 10:00:00 -0500\r\n\
Content-Type: multipart/mixed; boundary=\"a\"\r\n\
\r\n\
--a\r\n\
Content-Type: text/plain\r\n\
\r\n\
first\r\n\
--a\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
\r\n\
second\r\n\
--b\r\n\
Content-Type: message/rfc822\r\n\
Content-Disposition: attachment\r\n\
\r\n\
From: c@example.org\r\n\
Subject: attached\r\n\
Content-Type: multipart/alternative; boundary=\"c\"\r\n\
\r\n\
--c\r\n\
Content-Type: text/plain\r\n\
\r\n\
needle in the attachment\r\n\
--c\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>html</p>\r\n\
--c--\r\n\
\r\n\
--b--\r\n\
\r\n\
--a--\r\n";

fn at(summary: &Summary, path: &[u32]) -> String {
    let part = summary
        .part(path)
        .map(|p| p.body.of(DEEP))
        .unwrap_or_default();
    String::from_utf8_lossy(part).into_owned()
}

#[test]
fn nested_message_sections_cut_where_rfc_3501_says() {
    let s = Summary::of(DEEP);
    assert_eq!(at(&s, &[1]), "first");
    assert_eq!(at(&s, &[2, 1]), "second");
    assert!(
        at(&s, &[2, 2]).starts_with("From: c@example.org"),
        "the whole attached message"
    );
    assert_eq!(at(&s, &[2, 2, 1]), "needle in the attachment");
    assert_eq!(at(&s, &[2, 2, 2]), "<p>html</p>");
    let inner = s.message_at(&[2, 2]).expect("message part");
    assert!(inner.header.of(DEEP).starts_with(b"From: c@example.org"));
    assert!(inner.header.of(DEEP).ends_with(b"boundary=\"c\"\r\n\r\n"));
    assert!(inner.body.of(DEEP).starts_with(b"--c\r\n"));
    assert!(inner.body.of(DEEP).ends_with(b"--c--\r\n"));
    let mime = s.part(&[2, 2]).expect("part").header.of(DEEP);
    assert_eq!(
        mime,
        b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
    );
    let inner_mime = s.part(&[2, 2, 1]).expect("part").header.of(DEEP);
    assert_eq!(inner_mime, b"Content-Type: text/plain\r\n\r\n");
    assert!(
        s.message_at(&[2, 1]).is_none(),
        "a text part holds no message"
    );
    assert_eq!(
        at(&s, &[1, 1]),
        "first",
        "part 1 of a single part is itself"
    );
    assert!(s.part(&[1, 2]).is_none());
    assert!(s.part(&[3]).is_none());
    assert!(s.part(&[2, 2, 3]).is_none());
}

#[test]
fn groups_are_listed_with_start_and_end_markers() {
    let s = Summary::of(DEEP);
    type MailboxAndHost<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);
    let to: Vec<MailboxAndHost<'_>> = s
        .envelope
        .to
        .iter()
        .map(|a| (a.mailbox.as_deref(), a.host.as_deref()))
        .collect();
    assert_eq!(
        to,
        vec![
            (Some(&b"friends"[..]), None),
            (Some(&b"ann"[..]), Some(&b"example.org"[..])),
            (Some(&b"bob"[..]), Some(&b"example.org"[..])),
            (None, None),
            (Some(&b"solo"[..]), Some(&b"example.org"[..])),
            (Some(&b"empty"[..]), None),
            (None, None),
        ]
    );
    assert_eq!(s.envelope.to[1].name.as_deref(), Some(&b"Ann"[..]));
}

#[test]
fn search_fields_are_decoded_and_the_date_keeps_its_zone() {
    let s = Summary::of(DEEP);
    assert_eq!(s.fields.subject, "Grüße");
    assert_eq!(
        s.envelope.subject.as_deref(),
        Some(&b"=?utf-8?q?Gr=C3=BC=C3=9Fe?="[..]),
        "ENVELOPE keeps the words as written"
    );
    assert_eq!(s.fields.sent, Some((1_796_137_200, -300)));
}

#[test]
fn a_summary_is_a_function_of_the_bytes_and_survives_the_wire() {
    let s = Summary::of(DEEP);
    assert_eq!(s, Summary::of(DEEP));
    assert_eq!(Summary::decode(&s.encode()).expect("decodes"), s);
    let mut other = s.clone();
    other.version += 1;
    assert!(matches!(
        Summary::decode(&other.encode()),
        Err(SummaryError::Version { .. })
    ));
    assert!(Summary::decode(b"\xff\x00garbage").is_err());
    assert_eq!(s.size, DEEP.len() as u64);
}

#[test]
fn anything_has_a_summary() {
    for input in [
        &b""[..],
        b"\r\n",
        b"no header",
        &[0xff; 64],
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x--",
    ] {
        let s = Summary::of(input);
        assert_eq!(s.size, input.len() as u64);
        let _ = s.part(&[1, 2, 3]);
    }
}
