//! FETCH and UID FETCH (RFC 3501 §6.4.5), with CONDSTORE's MODSEQ and CHANGEDSINCE.
//! Fetching a body section without PEEK sets `\Seen` first, so the FLAGS sent are current.

use super::targets_held;
use crate::EntryInfo;
use crate::flags::FlagOp;
use crate::imap::message::{self, envelope::envelope, structure::body_structure};
use crate::imap::reply::{Outcome, Replies, code};
use crate::imap::session::Session;
use crate::imap::wire;
use imap_types::command::FetchModifier;
use imap_types::core::{AString, NString, Vec1};
use imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_types::response::Data;
use imap_types::sequence::SequenceSet;
use std::num::{NonZeroU32, NonZeroU64};

pub fn run(
    session: &mut Session,
    set: SequenceSet,
    items: MacroOrMessageDataItemNames<'_>,
    by_uid: bool,
    modifiers: Vec<FetchModifier>,
    out: &mut Replies,
) -> Outcome {
    let mut changed_since = None;
    let mut vanished = false;
    for modifier in &modifiers {
        match modifier {
            FetchModifier::ChangedSince(m) => changed_since = Some(m.get()),
            FetchModifier::Vanished => vanished = true,
        }
    }
    if vanished && !(by_uid && session.qresync && changed_since.is_some()) {
        return Outcome::bad("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
    }
    if changed_since.is_some() {
        session.condstore = true;
    }
    let mut names: Vec<MessageDataItemName<'_>> = match items {
        MacroOrMessageDataItemNames::Macro(m) => m
            .expand()
            .into_iter()
            .map(bounded_static::IntoBoundedStatic::into_static)
            .collect(),
        MacroOrMessageDataItemNames::MessageDataItemNames(names) => names,
    };
    if names.iter().any(|n| {
        matches!(
            n,
            MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. }
        )
    }) {
        return Outcome::bad("BINARY is not offered");
    }
    let condstore = session.condstore;
    if by_uid && !names.contains(&MessageDataItemName::Uid) {
        names.insert(0, MessageDataItemName::Uid);
    }
    if condstore && !names.contains(&MessageDataItemName::ModSeq) {
        names.push(MessageDataItemName::ModSeq);
    }
    let (store, selected) = match super::selected(session) {
        Ok(selected) => selected,
        Err(outcome) => return outcome,
    };
    let mut messages = match targets_held(&store, selected, &set, by_uid) {
        Ok(messages) => messages,
        Err(outcome) => return outcome,
    };
    if vanished {
        // RFC 7162 §3.2.6: the UIDs of the set that are gone, before the FETCH responses.
        let mailbox = selected.mailbox;
        let now = store.read(|r| Ok::<_, crate::Error>((r.entries(mailbox)?, r.mailboxes()?)));
        let (entries, mailboxes) = match now {
            Ok(now) => now,
            Err(error) => return error.into(),
        };
        let highest = mailboxes
            .iter()
            .find(|m| m.id == mailbox)
            .map_or(0, |m| m.uidnext.saturating_sub(1));
        let present: Vec<u32> = entries.iter().map(|e| e.uid).collect();
        let gone = super::missing_uids(&set, &present, highest);
        if let Some(known_uids) = super::range_set(&gone) {
            out.data(Data::Vanished {
                earlier: true,
                known_uids,
            });
        }
    }
    if let Some(since) = changed_since {
        let since = store.local_modseq(since);
        messages.retain(|(_, e, _)| e.modseq > since);
    }
    let sets_seen = !selected.read_only
        && names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::BodyExt { peek: false, .. }
                    | MessageDataItemName::Rfc822
                    | MessageDataItemName::Rfc822Text
            )
        });
    let mut newly_seen = Vec::new();
    if sets_seen {
        let unseen: Vec<_> = messages
            .iter()
            .filter(|(_, e, placed)| {
                *placed == crate::Placed::Live && !e.flags.iter().any(|f| f == "\\Seen")
            })
            .map(|(_, e, _)| e.id)
            .collect();
        if !unseen.is_empty() {
            let marked = store.write(|r| {
                r.store_flags(&unseen, FlagOp::Add, &["\\Seen".to_string()])?;
                super::current_entries(r, &unseen)
            });
            match marked {
                Ok(now) => {
                    let unseen: std::collections::HashSet<_> = unseen.into_iter().collect();
                    for (_, entry, _) in messages.iter_mut() {
                        let fresh = now.get(&entry.id).filter(|f| f.uid == entry.uid);
                        if let Some(fresh) = fresh.filter(|_| unseen.contains(&entry.id)) {
                            newly_seen.push(entry.id);
                            selected.view.note(fresh.uid, &fresh.flags, fresh.modseq);
                            *entry = fresh.clone();
                        }
                    }
                }
                Err(error) => return error.into(),
            }
        }
    }
    let needs_body = names.iter().any(|n| {
        !matches!(
            n,
            MessageDataItemName::Flags
                | MessageDataItemName::Uid
                | MessageDataItemName::InternalDate
                | MessageDataItemName::Rfc822Size
                | MessageDataItemName::ModSeq
        )
    });
    // Parsing a large message costs several times its size; whole-message items skip it.
    let needs_structure = names.iter().any(|n| {
        matches!(
            n,
            MessageDataItemName::Envelope
                | MessageDataItemName::BodyStructure
                | MessageDataItemName::Body
                | MessageDataItemName::Rfc822Header
                | MessageDataItemName::Rfc822Text
                | MessageDataItemName::BodyExt {
                    section: Some(_),
                    ..
                }
        )
    });
    let mut unavailable = 0;
    for (seq, entry, _) in &messages {
        let raw = if needs_body {
            match store.read(|r| r.blob(entry.blob)) {
                Ok(raw) => Some(raw),
                Err(crate::Error::BlobMissing(_)) => {
                    unavailable += 1;
                    continue;
                }
                Err(error) => return error.into(),
            }
        } else {
            None
        };
        let parsed = if needs_structure {
            raw.as_deref().and_then(message::parse)
        } else {
            None
        };
        let mut items = Vec::with_capacity(names.len() + 1);
        for name in &names {
            let modseq = store.wire_modseq(entry.modseq);
            if let Some(item) = item(name, entry, modseq, raw.as_deref(), parsed.as_ref()) {
                items.push(item);
            }
        }
        if newly_seen.contains(&entry.id) && !names.contains(&MessageDataItemName::Flags) {
            items.push(MessageDataItem::Flags(wire::fetch_flags(&entry.flags)));
        }
        let (Some(seq), Ok(items)) = (NonZeroU32::new(*seq), Vec1::try_from(items)) else {
            continue;
        };
        out.data(Data::Fetch { seq, items });
    }
    if unavailable > 0 {
        return Outcome::no_with(
            code("UNAVAILABLE"),
            format!("{unavailable} message bodies are not on this replica yet; try again later"),
        );
    }
    Outcome::ok("FETCH completed")
}

fn nstring(bytes: &[u8]) -> NString<'static> {
    message::envelope::nstring(Some(bytes.to_vec()))
}

fn item(
    name: &MessageDataItemName<'_>,
    entry: &EntryInfo,
    wire_modseq: u64,
    raw: Option<&[u8]>,
    parsed: Option<&mail_parser::Message<'_>>,
) -> Option<MessageDataItem<'static>> {
    use MessageDataItemName as N;
    Some(match name {
        N::Uid => MessageDataItem::Uid(NonZeroU32::new(entry.uid)?),
        N::Flags => MessageDataItem::Flags(wire::fetch_flags(&entry.flags)),
        N::InternalDate => MessageDataItem::InternalDate(wire::date_time(
            entry.internal_date,
            entry.date_offset_minutes,
        )?),
        N::Rfc822Size => MessageDataItem::Rfc822Size(u32::try_from(entry.size).unwrap_or(u32::MAX)),
        N::ModSeq => MessageDataItem::ModSeq(NonZeroU64::new(wire_modseq)?),
        N::Rfc822 => MessageDataItem::Rfc822(nstring(raw?)),
        N::Rfc822Header => MessageDataItem::Rfc822Header(nstring(message::header(parsed?))),
        N::Rfc822Text => MessageDataItem::Rfc822Text(nstring(message::text(parsed?))),
        N::Envelope => MessageDataItem::Envelope(envelope(parsed?)),
        N::BodyStructure => MessageDataItem::BodyStructure(body_structure(parsed?, true)),
        N::Body => MessageDataItem::Body(body_structure(parsed?, false)),
        N::BodyExt {
            section, partial, ..
        } => {
            let bytes = match section {
                None => raw?.to_vec(),
                Some(section) => section_bytes(parsed?, section).unwrap_or_default(),
            };
            let (origin, data) = match partial {
                Some((start, length)) => {
                    let start_at = (*start as usize).min(bytes.len());
                    let end = start_at
                        .saturating_add(length.get() as usize)
                        .min(bytes.len());
                    (Some(*start), &bytes[start_at..end])
                }
                None => (None, &bytes[..]),
            };
            MessageDataItem::BodyExt {
                section: section
                    .clone()
                    .map(bounded_static::IntoBoundedStatic::into_static),
                origin,
                data: nstring(data),
            }
        }
        N::Binary { .. } | N::BinarySize { .. } => return None,
    })
}

fn field_names<'a>(names: &'a Vec1<AString<'_>>) -> Vec<&'a [u8]> {
    names.as_ref().iter().map(|n| n.as_ref()).collect()
}

/// The bytes of a section; `None` for a part number the message does not have (RFC 3501
/// leaves this to the server; an empty string is what clients cope with best).
pub fn section_bytes(parsed: &mail_parser::Message<'_>, section: &Section<'_>) -> Option<Vec<u8>> {
    // HEADER, TEXT and HEADER.FIELDS apply to the whole message, or after a part number to the
    // message inside a message/rfc822 part.
    let message_at = |part: &Option<imap_types::fetch::Part>| -> Option<&mail_parser::Message<'_>> {
        match part {
            None => Some(parsed),
            Some(path) => {
                let (container, index) = message::locate(parsed, path.0.as_ref())?;
                message::inner_message(container, index)
            }
        }
    };
    Some(match section {
        Section::Header(part) => message::header(message_at(part)?).to_vec(),
        Section::Text(part) => message::text(message_at(part)?).to_vec(),
        Section::HeaderFields(part, names) => message::header_fields(
            message::header(message_at(part)?),
            &field_names(names),
            true,
        ),
        Section::HeaderFieldsNot(part, names) => message::header_fields(
            message::header(message_at(part)?),
            &field_names(names),
            false,
        ),
        Section::Part(path) => {
            let (container, index) = message::locate(parsed, path.0.as_ref())?;
            message::part_body(container, index).to_vec()
        }
        Section::Mime(path) => {
            let (container, index) = message::locate(parsed, path.0.as_ref())?;
            message::part_mime(container, index).to_vec()
        }
    })
}
