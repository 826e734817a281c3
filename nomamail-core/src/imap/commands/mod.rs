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
pub mod rename;
pub mod search;
pub mod select;
pub mod status;
pub mod store;
pub mod subscribe;

use super::mailstores::Mailstore;
use super::reply::Outcome;
use super::session::{Selected, Session, State};
use super::wire;
use crate::replica::MailboxInfo;
use imap_types::mailbox::Mailbox;
use std::sync::Arc;

/// The mailbox a command names, or the NO to answer with.
pub fn existing_mailbox(store: &Mailstore, mailbox: &Mailbox<'_>) -> Result<MailboxInfo, Outcome> {
    let name = wire::mailbox_name(mailbox)
        .ok_or_else(|| Outcome::bad("mailbox name is not valid modified UTF-7"))?;
    match store.read(|r| r.mailbox(&name)) {
        Ok(Some(info)) => Ok(info),
        Ok(None) => Err(Outcome::no_with(
            super::reply::code("NONEXISTENT"),
            format!("no mailbox named {name}"),
        )),
        Err(error) => Err(error.into()),
    }
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

/// The messages a sequence set names, as (sequence number, current entry), ascending.
/// Messages the client still sees but that are gone from the store are left out.
pub fn targets(
    store: &Mailstore,
    selected: &Selected,
    set: &imap_types::sequence::SequenceSet,
    by_uid: bool,
) -> Result<Vec<(u32, crate::EntryInfo)>, Outcome> {
    let seqs = super::seqset::resolve(set, &selected.view, by_uid)
        .map_err(|_| Outcome::bad("no such message sequence number"))?;
    let entries = store
        .read(|r| r.entries(selected.mailbox))
        .map_err(Outcome::from)?;
    let mut out = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let Some(uid) = selected.view.uid_of(seq) else {
            continue;
        };
        if let Ok(at) = entries.binary_search_by_key(&uid, |e| e.uid) {
            out.push((seq, entries[at].clone()));
        }
    }
    Ok(out)
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
/// position, so no sorting or merging across the order).
pub fn uid_set(uids: &[u32]) -> Option<imap_types::extensions::uidplus::UidSet> {
    use imap_types::extensions::uidplus::{UidElement, UidSet};
    use std::num::NonZeroU32;
    let mut elements: Vec<UidElement> = Vec::new();
    for &uid in uids {
        let uid = NonZeroU32::new(uid)?;
        match elements.last_mut() {
            Some(UidElement::Single(a)) if a.get().checked_add(1) == Some(uid.get()) => {
                *elements.last_mut()? = UidElement::Range(*a, uid);
            }
            Some(UidElement::Range(_, b)) if b.get().checked_add(1) == Some(uid.get()) => *b = uid,
            _ => elements.push(UidElement::Single(uid)),
        }
    }
    imap_types::core::Vec1::try_from(elements).ok().map(UidSet)
}

/// A sequence set naming exactly `numbers` (ascending).
pub fn sequence_set(numbers: &[u32]) -> Option<imap_types::sequence::SequenceSet> {
    let numbers: Vec<std::num::NonZeroU32> = numbers
        .iter()
        .filter_map(|&n| std::num::NonZeroU32::new(n))
        .collect();
    imap_types::sequence::SequenceSet::try_from(numbers).ok()
}
