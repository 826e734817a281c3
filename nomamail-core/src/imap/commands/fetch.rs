//! FETCH and UID FETCH (RFC 3501 §6.4.5), with CONDSTORE's MODSEQ and CHANGEDSINCE.
//! Fetching a body section without PEEK sets `\Seen` first, so the FLAGS sent are current.

use super::targets_held;
use crate::EntryInfo;
use crate::flags::FlagOp;
use crate::imap::message::{self, binary, envelope, structure};
use crate::imap::reply::{Outcome, Replies, code};
use crate::imap::state::Session;
use crate::imap::wire;
use crate::summary::Summary;
use imap_types::command::FetchModifier;
use imap_types::core::{NString, Vec1};
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
    let condstore = session.condstore;
    if by_uid {
        // UID first, as Dovecot and Cyrus answer UID FETCH.
        names.retain(|n| *n != MessageDataItemName::Uid);
        names.insert(0, MessageDataItemName::Uid);
    }
    if condstore && !names.contains(&MessageDataItemName::ModSeq) {
        names.push(MessageDataItemName::ModSeq);
    }
    let from_view = session.from_view;
    let (store, selected) = match super::selected(session) {
        Ok(selected) => selected,
        Err(outcome) => return outcome,
    };
    // What mail clients ask most (a whole mailbox's flags on every sync) is all in the view
    // when it is current: no store read, and lines written straight out.
    let view_only = crate::imap::view::holds_all(&names);
    // (On the connection's task the view answers even if a change raced in since the check:
    // the next command reports it.)
    if view_only && !vanished && (from_view || store.version() == selected.seen_version) {
        return flags_from_view(&store, selected, &set, by_uid, &names, changed_since, out);
    }
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
                    | MessageDataItemName::Binary { peek: false, .. }
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
    let needs = Needs::of(&names);
    let mut unavailable = 0;
    let newly_seen: std::collections::HashSet<_> = newly_seen.into_iter().collect();
    let reads_store = needs.summary || needs.bytes != Bytes::None;
    for (seq, entry, _) in &messages {
        let read = if !reads_store {
            // FLAGS, UID, sizes and dates are in the entry already.
            Ok((None, None))
        } else {
            store.read(|r| -> crate::Result<(Option<Summary>, Option<Vec<u8>>)> {
                let summary =
                    if needs.summary || needs.bytes == Bytes::Header {
                        Some(r.summary(entry.blob)?.ok_or_else(|| {
                            crate::Error::BlobMissing(format!("{:?}", entry.blob))
                        })?)
                    } else {
                        None
                    };
                let raw = match needs.bytes {
                    Bytes::None => None,
                    Bytes::Header => {
                        let header_end = summary.as_ref().map_or(0, |s| s.header().end);
                        Some(r.blob_prefix(entry.blob, u64::from(header_end))?)
                    }
                    Bytes::Whole => Some(r.blob(entry.blob)?),
                };
                Ok((summary, raw))
            })
        };
        let (summary, raw) = match read {
            Ok(read) => read,
            Err(crate::Error::BlobMissing(_)) => {
                unavailable += 1;
                continue;
            }
            Err(error) => return error.into(),
        };
        let mut items = Vec::with_capacity(names.len() + 1);
        // BINARY sections, in wire form: imap-types has no partial BINARY answer.
        let mut binaries: Vec<Vec<u8>> = Vec::new();
        let modseq = store.wire_modseq(entry.modseq);
        let recent = selected.recent.contains(entry.uid);
        for name in &names {
            let decoded = |section: &[NonZeroU32]| {
                let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
                match (summary.as_ref(), raw.as_deref()) {
                    (Some(summary), Some(raw)) => binary::section(summary, raw, &path),
                    _ => Ok(binary::Decoded {
                        bytes: Vec::new(),
                        decoded: false,
                    }),
                }
            };
            match name {
                MessageDataItemName::Binary {
                    section, partial, ..
                } => match decoded(section) {
                    Ok(decoded) => binaries.push(binary_item(section, *partial, decoded)),
                    Err(error) => return binary_refusal(&error),
                },
                MessageDataItemName::BinarySize { section } => match decoded(section) {
                    Ok(decoded) => items.push(MessageDataItem::BinarySize {
                        section: section.clone(),
                        size: u32::try_from(decoded.bytes.len()).unwrap_or(u32::MAX),
                    }),
                    Err(error) => return binary_refusal(&error),
                },
                _ => {
                    if let Some(item) = item(
                        name,
                        entry,
                        recent,
                        modseq,
                        raw.as_deref(),
                        summary.as_ref(),
                    ) {
                        items.push(item);
                    }
                }
            }
        }
        if newly_seen.contains(&entry.id) && !names.contains(&MessageDataItemName::Flags) {
            items.push(MessageDataItem::Flags(wire::fetch_flags(
                &entry.flags,
                recent,
            )));
        }
        let Some(seq) = NonZeroU32::new(*seq) else {
            continue;
        };
        if items.iter().any(|i| matches!(i, MessageDataItem::Flags(_))) {
            selected.announce(out, &entry.flags);
        }
        match Vec1::try_from(items) {
            Ok(items) if binaries.is_empty() => out.data(Data::Fetch { seq, items }),
            items => out.raw(&with_binaries(seq, items.ok(), &binaries)),
        }
    }
    if unavailable > 0 {
        return Outcome::no_with(
            code("UNAVAILABLE"),
            format!("{unavailable} message bodies are not on this replica yet; try again later"),
        );
    }
    Outcome::ok("FETCH completed")
}

/// FETCH of UID, FLAGS and MODSEQ from the selected view, which `catch_up` keeps equal to
/// the store while the store's version is the one it last saw.
fn flags_from_view(
    store: &crate::imap::mailstores::Mailstore,
    selected: &mut crate::imap::state::Selected,
    set: &SequenceSet,
    by_uid: bool,
    names: &[MessageDataItemName<'_>],
    changed_since: Option<u64>,
    out: &mut Replies,
) -> Outcome {
    use std::fmt::Write;
    let seqs = match crate::imap::seqset::resolve(set, &selected.view, by_uid) {
        Ok(seqs) => seqs,
        Err(_) => return Outcome::bad("no such message sequence number"),
    };
    let since = changed_since.map(|m| store.local_modseq(m));
    let mut line = String::with_capacity(96);
    for seq in seqs {
        let Some(known) = selected.view.at(seq) else {
            continue;
        };
        if since.is_some_and(|since| known.modseq <= since) {
            continue;
        }
        let (uid, wire_modseq) = (known.uid, store.wire_modseq(known.modseq));
        let asks_flags = names.contains(&MessageDataItemName::Flags);
        if asks_flags
            && known
                .flags
                .iter()
                .any(|f| !f.starts_with('\\') && !selected.announced.contains(f))
        {
            let flags = known.flags.clone();
            selected.announce(out, &flags);
        }
        let Some(known) = selected.view.at(seq) else {
            continue;
        };
        line.clear();
        let _ = write!(line, "* {seq} FETCH (");
        let mut first_item = true;
        for name in names {
            let separator = if first_item { "" } else { " " };
            match name {
                MessageDataItemName::Uid => {
                    let _ = write!(line, "{separator}UID {uid}");
                }
                MessageDataItemName::Flags => {
                    line.push_str(separator);
                    line.push_str("FLAGS (");
                    let mut first = true;
                    for flag in known.flags.iter().filter(|f| wire::flag(f).is_some()) {
                        if !first {
                            line.push(' ');
                        }
                        line.push_str(flag);
                        first = false;
                    }
                    if selected.recent.contains(uid) {
                        line.push_str(if first { "\\Recent" } else { " \\Recent" });
                    }
                    line.push(')');
                }
                // As the general path: no MODSEQ item for a modseq of 0.
                _ if wire_modseq == 0 => continue,
                _ => {
                    let _ = write!(line, "{separator}MODSEQ ({wire_modseq})");
                }
            }
            first_item = false;
        }
        line.push_str(")\r\n");
        out.raw(line.as_bytes());
    }
    Outcome::ok("FETCH completed")
}

/// `BINARY[1.2]<origin> ~{n}` and the bytes: a literal8 when decoding may have made any
/// octet (as Dovecot sends it), else a literal.
fn binary_item(
    section: &[NonZeroU32],
    partial: Option<(u32, NonZeroU32)>,
    decoded: binary::Decoded,
) -> Vec<u8> {
    let path: Vec<String> = section.iter().map(|n| n.to_string()).collect();
    let mut out = format!("BINARY[{}]", path.join(".")).into_bytes();
    let data = match partial {
        Some((start, length)) => {
            out.extend_from_slice(format!("<{start}>").as_bytes());
            let from = (start as usize).min(decoded.bytes.len());
            let to = from
                .saturating_add(length.get() as usize)
                .min(decoded.bytes.len());
            &decoded.bytes[from..to]
        }
        None => &decoded.bytes[..],
    };
    let literal8 = decoded.decoded || data.contains(&0);
    let marker = if literal8 { " ~{" } else { " {" };
    out.extend_from_slice(format!("{marker}{}}}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out
}

/// A FETCH response whose BINARY sections come after the items imap-codec encodes.
fn with_binaries(
    seq: NonZeroU32,
    items: Option<Vec1<MessageDataItem<'_>>>,
    binaries: &[Vec<u8>],
) -> Vec<u8> {
    use imap_codec::encode::Encoder;
    let mut line = match items {
        Some(items) => {
            let mut encoded = imap_codec::ResponseCodec::default()
                .encode(&imap_types::response::Response::Data(Data::Fetch {
                    seq,
                    items,
                }))
                .dump();
            // `* n FETCH (…)\r\n`: open the list again for what follows.
            encoded.truncate(encoded.len().saturating_sub(3));
            encoded.push(b' ');
            encoded
        }
        None => format!("* {seq} FETCH (").into_bytes(),
    };
    for (i, binary) in binaries.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        line.extend_from_slice(binary);
    }
    line.extend_from_slice(b")\r\n");
    line
}

fn binary_refusal(error: &binary::BinaryError) -> Outcome {
    match error {
        binary::BinaryError::UnknownEncoding(_) => {
            Outcome::no_with(code("UNKNOWN-CTE"), error.to_string())
        }
        binary::BinaryError::Undecodable(_) => Outcome::no_with(code("PARSE"), error.to_string()),
    }
}

fn nstring(bytes: &[u8]) -> NString<'static> {
    message::envelope::nstring(Some(bytes.to_vec()))
}

/// How much of a message's bytes a FETCH needs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Bytes {
    None,
    /// The header block only (RFC822.HEADER, BODY[HEADER], BODY[HEADER.FIELDS …]).
    Header,
    Whole,
}

/// What a FETCH must read per message: the summary, and how many of the bytes.
struct Needs {
    summary: bool,
    bytes: Bytes,
}

impl Needs {
    fn of(names: &[MessageDataItemName<'_>]) -> Needs {
        use MessageDataItemName as N;
        let mut needs = Needs {
            summary: false,
            bytes: Bytes::None,
        };
        for name in names {
            let (summary, bytes) = match name {
                N::Flags | N::Uid | N::InternalDate | N::Rfc822Size | N::ModSeq => {
                    (false, Bytes::None)
                }
                N::Envelope | N::BodyStructure | N::Body => (true, Bytes::None),
                N::Rfc822Header => (true, Bytes::Header),
                N::BodyExt {
                    section:
                        Some(
                            Section::Header(None)
                            | Section::HeaderFields(None, _)
                            | Section::HeaderFieldsNot(None, _),
                        ),
                    ..
                } => (true, Bytes::Header),
                N::BodyExt { section: None, .. } | N::Rfc822 => (false, Bytes::Whole),
                N::BodyExt { .. } | N::Rfc822Text => (true, Bytes::Whole),
                N::Binary { .. } | N::BinarySize { .. } => (true, Bytes::Whole),
            };
            needs.summary |= summary;
            needs.bytes = needs.bytes.max(bytes);
        }
        needs
    }
}

fn item(
    name: &MessageDataItemName<'_>,
    entry: &EntryInfo,
    recent: bool,
    wire_modseq: u64,
    raw: Option<&[u8]>,
    summary: Option<&Summary>,
) -> Option<MessageDataItem<'static>> {
    use MessageDataItemName as N;
    Some(match name {
        N::Uid => MessageDataItem::Uid(NonZeroU32::new(entry.uid)?),
        N::Flags => MessageDataItem::Flags(wire::fetch_flags(&entry.flags, recent)),
        N::InternalDate => MessageDataItem::InternalDate(wire::date_time(
            entry.internal_date,
            entry.date_offset_minutes,
        )?),
        N::Rfc822Size => MessageDataItem::Rfc822Size(u32::try_from(entry.size).unwrap_or(u32::MAX)),
        N::ModSeq => MessageDataItem::ModSeq(NonZeroU64::new(wire_modseq)?),
        N::Rfc822 => MessageDataItem::Rfc822(nstring(raw?)),
        N::Rfc822Header => MessageDataItem::Rfc822Header(nstring(summary?.header().of(raw?))),
        N::Rfc822Text => MessageDataItem::Rfc822Text(nstring(summary?.root.body.of(raw?))),
        N::Envelope => MessageDataItem::Envelope(envelope::to_imap(&summary?.envelope)),
        N::BodyStructure => {
            MessageDataItem::BodyStructure(structure::to_imap(&summary?.root, true))
        }
        N::Body => MessageDataItem::Body(structure::to_imap(&summary?.root, false)),
        N::BodyExt {
            section, partial, ..
        } => {
            let bytes = match section {
                None => raw?.to_vec(),
                Some(section) => {
                    message::section_bytes(summary?, raw?, section).unwrap_or_default()
                }
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
