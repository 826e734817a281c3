//! RFC 4469 CATENATE: an APPEND whose message is put together from literal text and IMAP
//! URLs (RFC 5092) of messages and parts already on this server, so a client forwarding an
//! attachment need not download it and upload it again — what matters on a slow link.
//!
//! Only URLs with an absolute path on this server are taken
//! (`/INBOX;UIDVALIDITY=7/;UID=20/;SECTION=1.2/;PARTIAL=0.1024`); a URL naming a server
//! (`imap://…`), or a relative one, gets `NO [BADURL]`. This module reads URLs; the
//! append handler fetches what they name.

use imap_types::fetch::{MessageDataItemName, Section};

/// One piece of a CATENATE list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatPart {
    Text(Vec<u8>),
    Url(String),
}

/// What an IMAP URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageUrl {
    /// The mailbox name as the store writes it (UTF-8, `/` between levels).
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
    pub uid: u32,
    /// `None`: the whole message.
    pub section: Option<Section<'static>>,
    /// Offset and optional length, in bytes of the section.
    pub partial: Option<(u32, Option<u32>)>,
}

/// Reads an absolute-path IMAP URL naming one message or part; `None` for any other.
pub fn parse_url(url: &str) -> Option<MessageUrl> {
    let path = url.strip_prefix('/')?;
    let mut segments = path.split("/;");
    let mailbox_ref = segments.next()?;
    let (mailbox, uidvalidity) = match split_parameter(mailbox_ref, ";UIDVALIDITY=") {
        Some((mailbox, value)) => (mailbox, Some(number(value)?)),
        None => (mailbox_ref, None),
    };
    let mailbox = percent_decoded(mailbox)?;
    if mailbox.is_empty() {
        return None;
    }
    let uid = number(strip_name(segments.next()?, "UID=")?)?;
    let mut url = MessageUrl {
        mailbox,
        uidvalidity,
        uid,
        section: None,
        partial: None,
    };
    for segment in segments {
        if let Some(section) = strip_name(segment, "SECTION=") {
            if url.section.is_some() || url.partial.is_some() {
                return None;
            }
            url.section = Some(section_of(&percent_decoded(section)?)?);
        } else if let Some(partial) = strip_name(segment, "PARTIAL=") {
            if url.partial.is_some() {
                return None;
            }
            url.partial = Some(match partial.split_once('.') {
                Some((offset, length)) => (number(offset)?, Some(number(length)?)),
                None => (number(partial)?, None),
            });
        } else {
            return None;
        }
    }
    Some(url)
}

/// `name=` at the start of a segment, without regard to case.
fn strip_name<'a>(segment: &'a str, name: &str) -> Option<&'a str> {
    let head = segment.get(..name.len())?;
    head.eq_ignore_ascii_case(name)
        .then(|| &segment[name.len()..])
}

fn split_parameter<'a>(text: &'a str, parameter: &str) -> Option<(&'a str, &'a str)> {
    let upper = text.to_ascii_uppercase();
    let at = upper.find(parameter)?;
    Some((&text[..at], &text[at + parameter.len()..]))
}

fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// RFC 3986 percent-decoding; the result must be UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A URL's section (`1.2.MIME`, `HEADER.FIELDS (SUBJECT)`) read as FETCH would read it.
fn section_of(text: &str) -> Option<Section<'static>> {
    use bounded_static::IntoBoundedStatic;
    use imap_codec::CommandCodec;
    use imap_codec::decode::Decoder;
    use imap_types::command::CommandBody;
    use imap_types::fetch::MacroOrMessageDataItemNames;
    if text.bytes().any(|b| b == b']' || b == b'\r' || b == b'\n') {
        return None;
    }
    let command = format!("s FETCH 1 BODY.PEEK[{text}]\r\n");
    let (_, command) = CommandCodec::default().decode(command.as_bytes()).ok()?;
    let CommandBody::Fetch {
        macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
        ..
    } = command.body
    else {
        return None;
    };
    match names.into_iter().next()? {
        MessageDataItemName::BodyExt {
            section: Some(section),
            partial: None,
            ..
        } => Some(section.into_static()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_urls_name_a_message_a_part_and_a_range() {
        let url =
            parse_url("/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9").expect("url");
        assert_eq!(url.mailbox, "INBOX");
        assert_eq!(url.uidvalidity, Some(785_799_047));
        assert_eq!(url.uid, 113_330);
        assert!(matches!(url.section, Some(Section::Part(_))));
        let url = parse_url(
            "/Sent%20Items/Caf%C3%A9/;uid=20/;section=HEADER.FIELDS%20(SUBJECT)/;partial=0.100",
        )
        .expect("url");
        assert_eq!(url.mailbox, "Sent Items/Café");
        assert!(matches!(url.section, Some(Section::HeaderFields(None, _))));
        assert_eq!(url.partial, Some((0, Some(100))));
        let url = parse_url("/INBOX/;UID=3").expect("url");
        assert_eq!(
            (url.section, url.partial, url.uidvalidity),
            (None, None, None)
        );
    }

    #[test]
    fn other_urls_are_not_taken() {
        for url in [
            "imap://alice@example.org/INBOX/;UID=1",
            ";UID=1",
            "INBOX/;UID=1",
            "/INBOX",
            "/INBOX/;UID=0x1",
            "/INBOX/;UID=1/;SECTION=1]",
            "/INBOX/;UID=1/;SECTION=NONSENSE",
            "/INBOX/;UID=1/;PARTIAL=1/;SECTION=1",
            "/%ZZ/;UID=1",
            "/%FF/;UID=1",
            "/;UID=1",
        ] {
            assert_eq!(parse_url(url), None, "{url}");
        }
    }
}
