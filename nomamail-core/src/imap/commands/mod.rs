//! One file per command handler. Each takes the session and the parsed arguments, writes
//! untagged data to `Replies`, and returns the tagged `Outcome`; `Session::dispatch` is the
//! one place that routes commands here.

pub mod append;
pub mod authenticate;
pub mod capability;
pub mod close;
pub mod copy;
pub mod create;
pub mod delete;
pub mod enable;
pub mod expunge;
pub mod fetch;
pub mod id;
pub mod list;
pub mod login;
pub mod logout;
pub mod namespace;
pub mod noop;
pub mod quota;
pub mod rename;
pub mod search;
pub mod select;
pub mod sort;
pub mod status;
pub mod store;
pub mod subscribe;
pub mod thread;

use super::mailstores::Mailstore;
use super::reply::Outcome;
use super::state::{Selected, Session, State};
use super::wire;
use crate::replica::MailboxInfo;
use imap_types::mailbox::Mailbox;
use std::sync::Arc;

/// The mailbox a command names, or the NO to answer with.
pub fn existing_mailbox(store: &Mailstore, mailbox: &Mailbox<'_>) -> Result<MailboxInfo, Outcome> {
    // A name that is not modified UTF-7 names no mailbox: NO, as for any unknown name (BAD
    // would tell the client its command was malformed, and some give up the connection).
    let name = wire::mailbox_name(mailbox).ok_or_else(|| {
        Outcome::no_with(
            super::reply::code("NONEXISTENT"),
            "no such mailbox (the name is not valid modified UTF-7)",
        )
    })?;
    match store.read(|r| r.mailbox(&name)) {
        Ok(Some(info)) => Ok(info),
        Ok(None) => Err(Outcome::no_with(
            super::reply::code("NONEXISTENT"),
            format!("no mailbox named {name}"),
        )),
        Err(error) => Err(error.into()),
    }
}

/// The session's store and the mailbox a command names, or the answer to give.
pub fn authenticated_mailbox(
    session: &Session,
    mailbox: &Mailbox<'_>,
) -> Result<(Arc<Mailstore>, MailboxInfo), Outcome> {
    let store = authenticated(session)?;
    let info = existing_mailbox(&store, mailbox)?;
    Ok((store, info))
}

pub fn authenticated(session: &Session) -> Result<Arc<Mailstore>, Outcome> {
    session
        .store()
        .cloned()
        .ok_or_else(|| Outcome::bad("log in first"))
}

pub fn selected(session: &mut Session) -> Result<(Arc<Mailstore>, &mut Selected), Outcome> {
    match &mut session.state {
        State::Selected { store, selected } => Ok((store.clone(), selected)),
        _ => Err(Outcome::bad("select a mailbox first")),
    }
}

/// The messages a sequence set names that are still in the mailbox, as (sequence number,
/// current entry), ascending. Messages the client still sees but that have left are left out:
/// what STORE, COPY, MOVE and UID EXPUNGE act on.
pub fn targets(
    store: &Mailstore,
    selected: &Selected,
    set: &imap_types::sequence::SequenceSet,
    by_uid: bool,
) -> Result<Vec<(u32, crate::EntryInfo)>, Outcome> {
    let seqs = super::seqset::resolve(set, &selected.view, by_uid)
        .map_err(|_| Outcome::bad("no such message sequence number"))?;
    Ok(entries_at(store, selected, seqs)?
        .into_iter()
        .filter(|(_, _, placed)| *placed == crate::Placed::Live)
        .map(|(seq, entry, _)| (seq, entry))
        .collect())
}

/// As `targets`, with the messages the client still sees after they left the mailbox (no
/// EXPUNGE sent yet): those stay fetchable and searchable with the data they had, under the
/// UID the client knows (RFC 3501 §7.4.1). Only a message already forgotten is missing.
pub fn targets_held(
    store: &Mailstore,
    selected: &Selected,
    set: &imap_types::sequence::SequenceSet,
    by_uid: bool,
) -> Result<Vec<(u32, crate::EntryInfo, crate::Placed)>, Outcome> {
    let seqs = super::seqset::resolve(set, &selected.view, by_uid)
        .map_err(|_| Outcome::bad("no such message sequence number"))?;
    entries_at(store, selected, seqs)
}

/// The entries behind sequence numbers of the view (ascending), each with the UID the client
/// knows it by. Costs what the set costs: a dense set reads its UID range in one pass, a
/// sparse one looks its messages up one by one.
pub fn entries_at(
    store: &Mailstore,
    selected: &Selected,
    seqs: Vec<u32>,
) -> Result<Vec<(u32, crate::EntryInfo, crate::Placed)>, Outcome> {
    let view = &selected.view;
    let wanted: Vec<(u32, &super::view::Known)> = seqs
        .into_iter()
        .filter_map(|seq| view.at(seq).map(|m| (seq, m)))
        .collect();
    let (Some(first), Some(last)) = (wanted.first(), wanted.last()) else {
        return Ok(Vec::new());
    };
    let mailbox = selected.mailbox;
    // Nothing has changed since the view was brought up to date: it is the store's state.
    if store.version() == selected.seen_version && !view.holds_expunges() {
        return Ok(wanted
            .into_iter()
            .map(|(seq, known)| (seq, known.to_entry(mailbox), crate::Placed::Live))
            .collect());
    }
    let span = (last.0 - first.0) as usize + 1;
    let (low, high) = (first.1.uid, last.1.uid);
    store
        .read(|r| {
            // Both the view and the range are in UID order: one walk pairs them up.
            let mut ranged = if wanted.len() * 4 >= span && wanted.len() > 8 {
                r.entries_in_uid_range(mailbox, low, high)?
            } else {
                Vec::new()
            }
            .into_iter()
            .peekable();
            let mut out = Vec::with_capacity(wanted.len());
            for (seq, known) in wanted {
                while ranged.next_if(|e| e.uid < known.uid).is_some() {}
                let paired = ranged.next_if(|e| e.uid == known.uid && e.id == known.id);
                let found = match paired {
                    Some(entry) if !view.is_gone(known.uid) => Some((entry, crate::Placed::Live)),
                    _ => r.entry_anywhere(known.id)?,
                };
                let Some((mut entry, mut placed)) = found else {
                    continue;
                };
                // Moved, renumbered or expunged since the client was told: to this session it
                // is still the message it knows, under its old UID, until EXPUNGE is sent.
                if entry.mailbox != mailbox || entry.uid != known.uid {
                    placed = crate::Placed::Removed;
                    entry.uid = known.uid;
                    entry.mailbox = mailbox;
                }
                out.push((seq, entry, placed));
            }
            Ok::<_, crate::Error>(out)
        })
        .map_err(Outcome::from)
}

/// The entries `ids` as they are now (those still anywhere), keyed by id.
pub fn current_entries(
    replica: &crate::Replica,
    ids: &[crate::EntryId],
) -> crate::Result<std::collections::HashMap<crate::EntryId, crate::EntryInfo>> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for id in ids {
        if let Some((entry, crate::Placed::Live)) = replica.entry_anywhere(*id)? {
            out.insert(*id, entry);
        }
    }
    Ok(out)
}

/// Expunges the messages of `mailbox` marked `\Deleted`; with `within`, only those.
pub fn expunge_deleted(
    store: &Mailstore,
    mailbox: crate::MailboxId,
    within: Option<&std::collections::HashSet<crate::EntryId>>,
) -> crate::Result<()> {
    store.write(|r| {
        let doomed: Vec<_> = r
            .entries(mailbox)?
            .into_iter()
            .filter(|e| e.flags.iter().any(|f| f == crate::flags::DELETED))
            .filter(|e| within.is_none_or(|ids| ids.contains(&e.id)))
            .map(|e| e.id)
            .collect();
        r.expunge(&doomed)
    })
}

/// Flags a client sent, in the engine's spelling; BAD for `\Recent`, `\*` or unknown
/// system flags.
pub fn flag_names(flags: &[imap_types::flag::Flag<'_>]) -> Result<Vec<String>, Outcome> {
    flags
        .iter()
        .map(|f| {
            wire::flag_name(f).ok_or_else(|| Outcome::bad(format!("flag {f} cannot be stored")))
        })
        .collect()
}

/// A UIDPLUS set from UIDs in the order given (RFC 4315 pairs source and destination by
/// position, so runs are only merged where the order already ascends by one).
pub fn uid_set(uids: &[u32]) -> Option<imap_types::extensions::uidplus::UidSet> {
    use imap_types::extensions::uidplus::{UidElement, UidSet};
    use std::num::NonZeroU32;
    let elements: Vec<UidElement> = runs(uids)
        .into_iter()
        .filter_map(|(a, b)| {
            let (a, b) = (NonZeroU32::new(a)?, NonZeroU32::new(b)?);
            Some(if a == b {
                UidElement::Single(a)
            } else {
                UidElement::Range(a, b)
            })
        })
        .collect();
    imap_types::core::Vec1::try_from(elements).ok().map(UidSet)
}

/// Consecutive numbers (each one more than the last) folded into inclusive ranges, in the
/// order given; zeros are dropped.
fn runs(numbers: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &n in numbers.iter().filter(|&&n| n > 0) {
        match runs.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(n) => *end = n,
            _ => runs.push((n, n)),
        }
    }
    runs
}

/// A sequence set naming exactly `numbers` (ascending), consecutive runs as ranges.
pub fn sequence_set(numbers: &[u32]) -> Option<imap_types::sequence::SequenceSet> {
    range_set(&runs(numbers))
}

/// A sequence set of inclusive ranges (each low ≤ high, none containing 0).
pub fn range_set(ranges: &[(u32, u32)]) -> Option<imap_types::sequence::SequenceSet> {
    use imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
    use std::num::NonZeroU32;
    let sequences: Vec<Sequence> = ranges
        .iter()
        .filter_map(|&(a, b)| {
            let (a, b) = (NonZeroU32::new(a)?, NonZeroU32::new(b)?);
            Some(if a == b {
                Sequence::Single(SeqOrUid::Value(a))
            } else {
                Sequence::Range(SeqOrUid::Value(a), SeqOrUid::Value(b))
            })
        })
        .collect();
    SequenceSet::try_from(sequences).ok()
}

/// The UIDs in `set` (with `*` as `highest`) that are not in `present` (ascending), as
/// ranges: what QRESYNC reports as VANISHED when the server keeps no per-UID expunge
/// history. It may name UIDs the client never saw, which RFC 7162 allows.
pub fn missing_uids(
    set: &imap_types::sequence::SequenceSet,
    present: &[u32],
    highest: u32,
) -> Vec<(u32, u32)> {
    use imap_types::sequence::{SeqOrUid, Sequence};
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => highest,
    };
    let mut wanted: Vec<(u32, u32)> = set
        .0
        .as_ref()
        .iter()
        .map(|s| match s {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(a, b) => (value(a).min(value(b)), value(a).max(value(b))),
        })
        .map(|(a, b)| (a, b.min(highest)))
        .filter(|(a, b)| a <= b)
        .collect();
    wanted.sort_unstable();
    let mut gaps = Vec::new();
    for (low, high) in wanted {
        let mut next = low;
        let start = present.partition_point(|&u| u < low);
        for &uid in present[start..].iter().take_while(|&&u| u <= high) {
            if uid > next {
                gaps.push((next, uid - 1));
            }
            next = uid.saturating_add(1);
        }
        if next <= high {
            gaps.push((next, high));
        }
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_types::sequence::SequenceSet;

    fn set(text: &str) -> SequenceSet {
        SequenceSet::try_from(text).expect("valid set")
    }

    #[test]
    fn sets_compress_runs() {
        assert_eq!(sequence_set(&[1, 2, 3, 5, 7, 8]), Some(set("1:3,5,7:8")));
        assert_eq!(sequence_set(&[]), None);
    }

    #[test]
    fn missing_uids_are_the_gaps_within_the_asked_ranges() {
        let present = [2, 3, 7, 10];
        assert_eq!(
            missing_uids(&set("1:*"), &present, 12),
            [(1, 1), (4, 6), (8, 9), (11, 12)]
        );
        assert_eq!(missing_uids(&set("3:8"), &present, 12), [(4, 6), (8, 8)]);
        assert_eq!(missing_uids(&set("2:3,10"), &present, 12), []);
        assert_eq!(
            missing_uids(&set("20:30"), &present, 12),
            [],
            "beyond UIDNEXT nothing vanished"
        );
        assert_eq!(
            missing_uids(&set("1:4294967295"), &[], 3),
            [(1, 3)],
            "huge ranges stay cheap"
        );
    }
}
