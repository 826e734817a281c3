//! Computing a summary from message bytes. Parsing is mail-parser's; offsets are its part
//! offsets, which for messages inside message/rfc822 parts are already offsets into the same
//! bytes. Only a message inside a transfer-encoded message/rfc822 part (base64, say) has bytes
//! of its own; its parts cannot be cut from the stored message, so they all name the
//! enclosing part's content.

use super::header::{header_text, raw_header_value};
use super::{
    Address, Envelope, FirstAddress, MAX_DEPTH, Part, PartKind, SUMMARY_VERSION, SearchFields, Span,
};
use mail_parser::{
    Addr, ContentType, HeaderName, HeaderValue, Message, MessageParser, MessagePart, PartType,
};

pub fn summary(raw: &[u8]) -> super::Summary {
    let whole = Span {
        start: 0,
        end: u32::try_from(raw.len()).unwrap_or(u32::MAX),
    };
    match MessageParser::default().parse(raw) {
        Some(message) => super::Summary {
            version: SUMMARY_VERSION,
            size: raw.len() as u64,
            envelope: envelope(&message),
            root: part(&message, 0, whole.end, Addressable::Yes, 0),
            fields: fields(&message),
        },
        None => super::Summary {
            version: SUMMARY_VERSION,
            size: raw.len() as u64,
            envelope: Envelope::default(),
            root: plain_text(Span::default(), whole, lines(raw)),
            fields: SearchFields::default(),
        },
    }
}

/// Whether a message's part offsets point into the stored bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Addressable {
    Yes,
    /// No: every span is this one (the enclosing part's content).
    No(Span),
}

fn plain_text(header: Span, body: Span, lines: u32) -> Part {
    Part {
        header,
        body,
        media_type: "TEXT".into(),
        media_subtype: "PLAIN".into(),
        params: vec![("CHARSET".into(), "us-ascii".into())],
        id: None,
        description: None,
        encoding: "7BIT".into(),
        md5: None,
        disposition: None,
        language: Vec::new(),
        location: None,
        lines,
        kind: PartKind::Single,
    }
}

fn header_block<'a>(message: &'a Message<'_>, part: &MessagePart<'_>) -> &'a [u8] {
    slice(&message.raw_message, part.offset_header, part.offset_body)
}

fn slice(raw: &[u8], start: u32, end: u32) -> &[u8] {
    let end = (end as usize).min(raw.len());
    let start = (start as usize).min(end);
    &raw[start..end]
}

/// One part, `index` in `message.parts`. The root's content runs to `root_end` (the end of the
/// message, or of the message/rfc822 part it sits in).
fn part(
    message: &Message<'_>,
    index: usize,
    root_end: u32,
    addressable: Addressable,
    depth: usize,
) -> Part {
    let raw = &message.raw_message;
    let Some(p) = message.parts.get(index) else {
        return plain_text(Span::default(), Span::default(), 0);
    };
    // The root's content is the message text: everything after its header.
    let end = if index == 0 { root_end } else { p.offset_end };
    let (header, body) = match addressable {
        Addressable::Yes => (
            Span {
                start: p.offset_header,
                end: p.offset_body,
            },
            Span {
                start: p.offset_body.min(end),
                end,
            },
        ),
        Addressable::No(span) => (Span::default(), span),
    };
    let content = slice(raw, p.offset_body, end);
    let mime = header_block(message, p);
    let ct = content_type(p, HeaderName::ContentType);
    let params = parameters(ct);
    let disposition = content_type(p, HeaderName::ContentDisposition)
        .map(|d| (d.c_type.to_ascii_uppercase(), parameters(Some(d))));
    let language = raw_header_value(mime, "Content-Language")
        .map(|l| {
            String::from_utf8_lossy(&l)
                .split(',')
                .map(|tag| tag.trim().to_string())
                .filter(|tag| !tag.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let encoding = raw_header_value(mime, "Content-Transfer-Encoding")
        .map(|e| String::from_utf8_lossy(&e).to_ascii_uppercase())
        .unwrap_or_else(|| "7BIT".to_string());
    let (media_type, media_subtype) = match ct {
        Some(ct) => (
            ct.c_type.to_ascii_uppercase(),
            ct.c_subtype.as_deref().unwrap_or("").to_ascii_uppercase(),
        ),
        None => ("TEXT".to_string(), "PLAIN".to_string()),
    };
    let mut out = Part {
        header,
        body,
        media_type,
        media_subtype,
        params,
        id: raw_header_value(mime, "Content-ID"),
        description: raw_header_value(mime, "Content-Description"),
        encoding,
        md5: raw_header_value(mime, "Content-MD5"),
        disposition,
        language,
        location: raw_header_value(mime, "Content-Location"),
        lines: lines(content),
        kind: PartKind::Single,
    };
    // RFC 2045 §5.2: text without a charset is US-ASCII; say so, as Dovecot does.
    if out.media_type == "TEXT" && !out.params.iter().any(|(name, _)| name == "CHARSET") {
        out.params.insert(0, ("CHARSET".into(), "us-ascii".into()));
    }
    match &p.body {
        PartType::Multipart(children) => {
            if out.media_subtype.is_empty() {
                out.media_subtype = "MIXED".into();
            }
            let children = if depth >= MAX_DEPTH {
                Vec::new()
            } else {
                children
                    .iter()
                    .map(|&child| part(message, child as usize, root_end, addressable, depth + 1))
                    .collect()
            };
            out.kind = if children.is_empty() {
                PartKind::Multipart(vec![plain_text(Span::default(), Span::default(), 0)])
            } else {
                PartKind::Multipart(children)
            };
        }
        PartType::Message(inner) if depth < MAX_DEPTH => {
            // mail-parser hands a message inside the same bytes the whole buffer; one it had
            // to decode first comes with bytes of its own.
            let same_bytes =
                inner.raw_message.as_ptr() == raw.as_ptr() && inner.raw_message.len() == raw.len();
            let addressable = match addressable {
                Addressable::Yes if same_bytes => Addressable::Yes,
                Addressable::Yes => Addressable::No(body),
                no => no,
            };
            let inner_end = match addressable {
                Addressable::Yes => end,
                Addressable::No(_) => u32::try_from(inner.raw_message.len()).unwrap_or(u32::MAX),
            };
            out.kind = PartKind::Message {
                envelope: Box::new(envelope(inner)),
                inner: Box::new(part(inner, 0, inner_end, addressable, depth + 1)),
            };
        }
        _ => {}
    }
    out
}

fn content_type<'a>(
    part: &'a MessagePart<'a>,
    name: HeaderName<'_>,
) -> Option<&'a ContentType<'a>> {
    part.headers
        .iter()
        .find(|h| h.name == name)
        .and_then(|h| match &h.value {
            HeaderValue::ContentType(ct) => Some(ct),
            _ => None,
        })
}

fn parameters(ct: Option<&ContentType<'_>>) -> Vec<(String, String)> {
    ct.and_then(|ct| ct.attributes.as_ref())
        .map(|attributes| {
            attributes
                .iter()
                .map(|a| (a.name.to_ascii_uppercase(), a.value.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Lines as IMAP servers count them: line ends in the content (the CRLF before a boundary
/// belongs to the boundary, so a one-line part without its own line end has 0).
fn lines(body: &[u8]) -> u32 {
    let newlines = body.iter().filter(|&&b| b == b'\n').count();
    u32::try_from(newlines).unwrap_or(u32::MAX)
}

fn envelope(message: &Message<'_>) -> Envelope {
    let block = match message.parts.first() {
        Some(root) => header_block(message, root),
        None => &[],
    };
    let raw = |name: &str| raw_header_value(block, name);
    let from = addresses(message, HeaderName::From);
    let sender = match addresses(message, HeaderName::Sender) {
        none if none.is_empty() => from.clone(),
        some => some,
    };
    let reply_to = match addresses(message, HeaderName::ReplyTo) {
        none if none.is_empty() => from.clone(),
        some => some,
    };
    Envelope {
        date: raw("Date"),
        subject: raw("Subject"),
        from,
        sender,
        reply_to,
        to: addresses(message, HeaderName::To),
        cc: addresses(message, HeaderName::Cc),
        bcc: addresses(message, HeaderName::Bcc),
        in_reply_to: raw("In-Reply-To"),
        message_id: raw("Message-ID"),
    }
}

fn addresses(message: &Message<'_>, name: HeaderName<'_>) -> Vec<Address> {
    let Some(root) = message.parts.first() else {
        return Vec::new();
    };
    let Some(found) = root.headers.iter().find(|h| h.name == name) else {
        return Vec::new();
    };
    let raw = slice(&message.raw_message, found.offset_start, found.offset_end);
    let one = |addr: &Addr<'_>| one(addr, raw);
    let HeaderValue::Address(address) = &found.value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match address {
        mail_parser::Address::List(list) => out.extend(list.iter().map(one)),
        mail_parser::Address::Group(groups) => {
            for group in groups {
                match &group.name {
                    // RFC 3501 group syntax: a start marker with the group name in the mailbox
                    // field, the members, then an end marker of all NILs.
                    Some(group_name) => {
                        out.push(Address {
                            mailbox: Some(group_name.as_bytes().to_vec()),
                            ..Address::default()
                        });
                        out.extend(group.addresses.iter().map(one));
                        out.push(Address::default());
                    }
                    None => out.extend(group.addresses.iter().map(one)),
                }
            }
        }
    }
    out
}

fn one(addr: &Addr<'_>, raw: &[u8]) -> Address {
    let (mailbox, host) = match addr.address.as_deref() {
        Some(address) => match address.rsplit_once('@') {
            Some((local, domain)) => (Some(local), Some(domain)),
            None => (Some(address), None),
        },
        None => (None, None),
    };
    Address {
        name: addr.name.as_deref().map(|name| {
            addr.address
                .as_deref()
                .and_then(|address| raw_display_name(raw, address))
                .unwrap_or_else(|| encoded_word(name))
        }),
        adl: None,
        mailbox: mailbox.map(|m| m.as_bytes().to_vec()),
        host: host.map(|h| h.as_bytes().to_vec()),
    }
}

/// The display name in front of `<address>` in the raw field, as written (encoded words
/// left encoded, 8-bit text as it came), quotes removed: what ENVELOPE carries. `None` where
/// it cannot be found plainly.
fn raw_display_name(raw: &[u8], address: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(raw);
    let bracket = format!("<{address}>");
    let at = text.find(&bracket)?;
    let before = &text[..at];
    // Back to the start of this address: the last comma or colon outside quotes.
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in before.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' | ':' if !quoted => start = i + 1,
            _ => {}
        }
    }
    let name: String = before[start..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let name = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => name,
    };
    (!name.is_empty()).then(|| name.into_bytes())
}

/// ASCII names as they are; others as one RFC 2047 `B` word, which every client decodes.
fn encoded_word(name: &str) -> Vec<u8> {
    if name.is_ascii() {
        return name.as_bytes().to_vec();
    }
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
    format!("=?utf-8?b?{encoded}?=").into_bytes()
}

fn fields(message: &Message<'_>) -> SearchFields {
    let Some(root) = message.parts.first() else {
        return SearchFields::default();
    };
    let text = |name: HeaderName<'_>| -> String {
        root.headers
            .iter()
            .filter(|h| h.name == name)
            .map(|h| header_text(&h.value))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ids = |name: HeaderName<'_>| -> Vec<String> {
        root.headers
            .iter()
            .filter(|h| h.name == name)
            .flat_map(|h| match &h.value {
                HeaderValue::Text(id) => vec![id.to_string()],
                HeaderValue::TextList(list) => list.iter().map(|id| id.to_string()).collect(),
                _ => Vec::new(),
            })
            .collect()
    };
    SearchFields {
        subject: text(HeaderName::Subject),
        from: text(HeaderName::From),
        to: text(HeaderName::To),
        cc: text(HeaderName::Cc),
        bcc: text(HeaderName::Bcc),
        sent: message
            .date()
            .map(|d| (d.to_timestamp(), sent_offset_minutes(d))),
        message_id: message.message_id().map(str::to_string),
        in_reply_to: ids(HeaderName::InReplyTo),
        references: ids(HeaderName::References),
        first_from: first_address(root, HeaderName::From),
        first_to: first_address(root, HeaderName::To),
        first_cc: first_address(root, HeaderName::Cc),
    }
}

fn first_address(root: &MessagePart<'_>, name: HeaderName<'_>) -> FirstAddress {
    let first = root
        .headers
        .iter()
        .find(|h| h.name == name)
        .and_then(|h| match &h.value {
            HeaderValue::Address(address) => address.iter().find(|a| a.address.is_some()),
            _ => None,
        });
    let Some(addr) = first else {
        return FirstAddress::default();
    };
    let address = addr.address.as_deref().unwrap_or_default();
    let mailbox = address
        .rsplit_once('@')
        .map_or(address, |(local, _)| local)
        .to_string();
    let display = match addr.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => address.to_string(),
    };
    FirstAddress { mailbox, display }
}

fn sent_offset_minutes(date: &mail_parser::DateTime) -> i16 {
    let minutes = i16::from(date.tz_hour) * 60 + i16::from(date.tz_minute);
    if date.tz_before_gmt {
        -minutes
    } else {
        minutes
    }
}
