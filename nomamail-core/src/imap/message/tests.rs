use super::*;
use crate::summary::header::raw_header_value;
use imap_types::core::Vec1;
use imap_types::fetch::{Part, Section};

const NESTED: &[u8] = b"From: Ann <ann@example.org>\r\n\
To: Bob <bob@example.org>, undisclosed: ;\r\n\
Subject: =?iso-8859-1?q?Gr=FC=DFe?= from\r\n  Ann\r\n\
Date: Fri, 27 Nov 2026 09:00:00 +0100\r\n\
Message-ID: <outer@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
preamble\r\n\
--outer\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Hello J=C3=B6rg\r\n\
--outer\r\n\
Content-Type: message/rfc822\r\n\
Content-Description: forwarded\r\n\
\r\n\
From: Carl <carl@example.org>\r\n\
Subject: inner\r\n\
Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain\r\n\
\r\n\
inner plain\r\n\
--inner\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>inner html</p>\r\n\
--inner--\r\n\
\r\n\
--outer--\r\n";

fn part(path: &[u32]) -> Part {
    let numbers: Vec<_> = path
        .iter()
        .filter_map(|&n| std::num::NonZeroU32::new(n))
        .collect();
    Part(Vec1::try_from(numbers).expect("non-empty path"))
}

fn section(section: Section<'_>) -> String {
    let summary = Summary::of(NESTED);
    String::from_utf8(section_bytes(&summary, NESTED, &section).unwrap_or_default()).expect("utf-8")
}

#[test]
fn header_and_text_split_at_the_blank_line() {
    let summary = Summary::of(NESTED);
    let header = summary.header().of(NESTED);
    let text = summary.root.body.of(NESTED);
    assert!(header.starts_with(b"From: Ann"));
    assert!(header.ends_with(b"boundary=\"outer\"\r\n\r\n"));
    assert!(text.starts_with(b"preamble\r\n--outer"));
    assert_eq!(header.len() + text.len(), NESTED.len());
}

#[test]
fn parts_are_cut_in_their_transfer_encoding() {
    assert_eq!(section(Section::Part(part(&[1]))), "Hello J=C3=B6rg");
    assert_eq!(
        section(Section::Mime(part(&[1]))),
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    );
}

#[test]
fn numbers_after_a_message_part_go_into_the_message_inside() {
    assert_eq!(section(Section::Part(part(&[2, 1]))), "inner plain");
    assert_eq!(section(Section::Part(part(&[2, 2]))), "<p>inner html</p>");
    assert!(section(Section::Header(Some(part(&[2])))).starts_with("From: Carl"));
    assert!(section(Section::Text(Some(part(&[2])))).starts_with("--inner"));
    assert_eq!(section(Section::Part(part(&[3]))), "", "no third part");
    assert_eq!(
        section(Section::Part(part(&[1, 2]))),
        "",
        "a text part has no children"
    );
}

#[test]
fn header_fields_keep_continuations_and_match_without_case() {
    let subject = imap_types::core::AString::try_from("SUBJECT").expect("atom");
    let wanted = Section::HeaderFields(None, Vec1::from(subject.clone()));
    assert_eq!(
        section(wanted),
        "Subject: =?iso-8859-1?q?Gr=FC=DFe?= from\r\n  Ann\r\n\r\n"
    );
    let without = section(Section::HeaderFieldsNot(None, Vec1::from(subject)));
    assert!(without.contains("From: Ann") && !without.contains("Subject"));
    assert_eq!(
        raw_header_value(Summary::of(NESTED).header().of(NESTED), "subject").as_deref(),
        Some(&b"=?iso-8859-1?q?Gr=FC=DFe?= from  Ann"[..])
    );
}

#[test]
fn envelope_keeps_raw_subject_and_lists_groups() {
    let envelope = envelope::to_imap(&Summary::of(NESTED).envelope);
    let subject = envelope.subject.0.expect("subject");
    assert_eq!(subject.as_ref(), b"=?iso-8859-1?q?Gr=FC=DFe?= from  Ann");
    assert_eq!(envelope.from.len(), 1);
    assert_eq!(envelope.sender, envelope.from, "sender defaults to from");
    // Bob, then the empty group's start and end markers.
    assert_eq!(envelope.to.len(), 3, "{:?}", envelope.to);
}

#[test]
fn body_structure_describes_the_tree() {
    use imap_types::body::{BodyStructure, SpecificFields};
    let BodyStructure::Multi {
        bodies, subtype, ..
    } = structure::to_imap(&Summary::of(NESTED).root, true)
    else {
        panic!("multipart expected");
    };
    assert_eq!(subtype.as_ref(), b"MIXED");
    let bodies = bodies.into_inner();
    assert_eq!(bodies.len(), 2);
    let BodyStructure::Single { body, .. } = &bodies[0] else {
        panic!("text part expected");
    };
    assert_eq!(
        body.basic.content_transfer_encoding.as_ref(),
        b"QUOTED-PRINTABLE"
    );
    assert_eq!(body.basic.size, "Hello J=C3=B6rg".len() as u32);
    let BodyStructure::Single { body, .. } = &bodies[1] else {
        panic!("message part expected");
    };
    let SpecificFields::Message { body_structure, .. } = &body.specific else {
        panic!("message/rfc822 expected, got {:?}", body.specific);
    };
    assert!(matches!(**body_structure, BodyStructure::Multi { .. }));
}

#[test]
fn garbage_never_panics() {
    for input in [
        &b""[..],
        b"\r\n",
        b"no header",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x--",
        &[0xff; 64],
    ] {
        let summary = Summary::of(input);
        let _ = structure::to_imap(&summary.root, true);
        let _ = envelope::to_imap(&summary.envelope);
        for p in [&[1u32][..], &[1, 1], &[2, 3, 4]] {
            let _ = section_bytes(&summary, input, &Section::Part(part(p)));
            let _ = section_bytes(&summary, input, &Section::Header(Some(part(p))));
        }
    }
}
