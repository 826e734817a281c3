//! ENVELOPE (RFC 3501 §7.4.2) on the wire, from a summary's envelope.

use crate::summary;
use imap_types::core::{IString, NString};
use imap_types::envelope::{Address, Envelope};

pub fn to_imap(envelope: &summary::Envelope) -> Envelope<'static> {
    let list = |addresses: &[summary::Address]| addresses.iter().map(address).collect();
    Envelope {
        date: nstring(envelope.date.clone()),
        subject: nstring(envelope.subject.clone()),
        from: list(&envelope.from),
        sender: list(&envelope.sender),
        reply_to: list(&envelope.reply_to),
        to: list(&envelope.to),
        cc: list(&envelope.cc),
        bcc: list(&envelope.bcc),
        in_reply_to: nstring(envelope.in_reply_to.clone()),
        message_id: nstring(envelope.message_id.clone()),
    }
}

fn address(address: &summary::Address) -> Address<'static> {
    Address {
        name: nstring(address.name.clone()),
        adl: nstring(address.adl.clone()),
        mailbox: nstring(address.mailbox.clone()),
        host: nstring(address.host.clone()),
    }
}

/// A string for the wire; bytes no IMAP string can carry (a NUL) send NIL instead.
pub fn nstring(bytes: Option<Vec<u8>>) -> NString<'static> {
    NString(bytes.and_then(|b| IString::try_from(b).ok()))
}
