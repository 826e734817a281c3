//! The ENVELOPE structure (RFC 3501 §7.4.2). Strings are the raw header text, so encoded
//! words reach the client as sent; address parts come from mail-parser's parse, with
//! non-ASCII display names re-encoded as RFC 2047 words.

use super::{header, raw_header_value};
use imap_types::core::{IString, NString};
use imap_types::envelope::{Address, Envelope};
use mail_parser::{Addr, HeaderName, HeaderValue, Message};

pub fn envelope(message: &Message<'_>) -> Envelope<'static> {
    let block = header(message);
    let raw = |name: &str| nstring(raw_header_value(block, name));
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

pub fn nstring(bytes: Option<Vec<u8>>) -> NString<'static> {
    NString(bytes.and_then(|b| IString::try_from(b).ok()))
}

fn text(value: Option<&str>) -> NString<'static> {
    nstring(value.map(|v| v.as_bytes().to_vec()))
}

fn addresses(message: &Message<'_>, name: HeaderName<'_>) -> Vec<Address<'static>> {
    let Some(root) = message.parts.first() else {
        return Vec::new();
    };
    let Some(found) = root.headers.iter().find(|h| h.name == name) else {
        return Vec::new();
    };
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
                            name: NString(None),
                            adl: NString(None),
                            mailbox: text(Some(group_name)),
                            host: NString(None),
                        });
                        out.extend(group.addresses.iter().map(one));
                        out.push(Address {
                            name: NString(None),
                            adl: NString(None),
                            mailbox: NString(None),
                            host: NString(None),
                        });
                    }
                    None => out.extend(group.addresses.iter().map(one)),
                }
            }
        }
    }
    out
}

fn one(addr: &Addr<'_>) -> Address<'static> {
    let (mailbox, host) = match addr.address.as_deref() {
        Some(address) => match address.rsplit_once('@') {
            Some((local, domain)) => (Some(local), Some(domain)),
            None => (Some(address), None),
        },
        None => (None, None),
    };
    Address {
        name: nstring(addr.name.as_deref().map(encoded_word)),
        adl: NString(None),
        mailbox: text(mailbox),
        host: text(host),
    }
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
