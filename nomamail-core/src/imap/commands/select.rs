//! SELECT and EXAMINE (RFC 3501 §6.3.1–2, with RFC 7162's CONDSTORE parameter).

use super::existing_mailbox;
use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::{Selected, Session, State};
use crate::imap::view::{Known, SelectedView};
use imap_types::command::SelectParameter;
use imap_types::mailbox::Mailbox;
use imap_types::response::{Code, Data};
use std::collections::BTreeSet;
use std::num::{NonZeroU32, NonZeroU64};

pub fn run(
    session: &mut Session,
    mailbox: Mailbox<'_>,
    parameters: Vec<SelectParameter>,
    read_only: bool,
    out: &mut Replies,
) -> Outcome {
    let store = match super::authenticated(session) {
        Ok(store) => store,
        Err(outcome) => return outcome,
    };
    // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
    if matches!(session.state, State::Selected { .. }) {
        out.untagged_ok(
            Some(crate::imap::reply::code("CLOSED")),
            "previous mailbox closed",
        );
    }
    session.state = State::Authenticated {
        store: store.clone(),
    };
    if parameters
        .iter()
        .any(|p| matches!(p, SelectParameter::CondStore))
    {
        session.condstore = true;
    }
    let resync = parameters.iter().find_map(|p| match p {
        SelectParameter::QResync {
            uid_validity,
            mod_sequence_value,
            known_uids,
            ..
        } => Some((
            uid_validity.get(),
            mod_sequence_value.get(),
            known_uids.clone(),
        )),
        _ => None,
    });
    if resync.is_some() && !session.qresync {
        return Outcome::bad("ENABLE QRESYNC first");
    }
    let info = match existing_mailbox(&store, &mailbox) {
        Ok(info) => info,
        Err(outcome) => return outcome,
    };
    // The version is read first: a change racing the read is then reported again, not lost.
    let version = store.version();
    let read = store.read(|r| Ok::<_, crate::Error>((r.entries(info.id)?, r.highest_modseq())));
    let (entries, highest_modseq) = match read {
        Ok(read) => read,
        Err(error) => return error.into(),
    };
    let keywords: BTreeSet<String> = entries
        .iter()
        .flat_map(|e| e.flags.iter())
        .filter(|f| !f.starts_with('\\'))
        .cloned()
        .collect();
    // FLAGS and PERMANENTFLAGS go out together; the order of untagged data is free.
    crate::imap::state::mailbox_flags(out, &keywords);
    out.data(Data::Exists(entries.len() as u32));
    let mut selected = Selected {
        mailbox: info.id,
        read_only,
        view: SelectedView::new(entries.into_iter().map(Known::from).collect()),
        seen_version: version,
        seen_modseq: highest_modseq,
        announced: keywords,
        recent: Default::default(),
        saved: Vec::new(),
    };
    let upto = selected.view.messages().last().map_or(0, |m| m.uid);
    selected.take_recent(&store, upto);
    let messages = selected.view.messages();
    out.data(Data::Recent(selected.recent.count(&selected.view)));
    if let Some(first_unseen) = messages
        .iter()
        .position(|e| !e.flags.iter().any(|f| f == "\\Seen"))
        && let Some(seq) = NonZeroU32::new(first_unseen as u32 + 1)
    {
        out.untagged_ok(Some(Code::Unseen(seq)), "first unseen");
    }
    if let Some(v) = NonZeroU32::new(info.uidvalidity) {
        out.untagged_ok(Some(Code::UidValidity(v)), "UIDs valid");
    }
    if let Some(n) = NonZeroU32::new(info.uidnext) {
        out.untagged_ok(Some(Code::UidNext(n)), "predicted next UID");
    }
    if let Some(m) = NonZeroU64::new(store.wire_modseq(highest_modseq)) {
        out.untagged_ok(Some(Code::HighestModSeq(m)), "highest");
    }
    // RFC 7162 §3.2.5: what changed since the client's last visit, before the tagged OK.
    if let Some((_, since, known_uids)) = resync.filter(|r| r.0 == info.uidvalidity) {
        let present: Vec<u32> = messages.iter().map(|m| m.uid).collect();
        let highest = info.uidnext.saturating_sub(1);
        let everything = imap_types::sequence::SequenceSet::try_from("1:*");
        if let Some(known) = known_uids.or(everything.ok()) {
            let gone = super::missing_uids(&known, &present, highest);
            if let Some(known_uids) = super::range_set(&gone) {
                out.data(Data::Vanished {
                    earlier: true,
                    known_uids,
                });
            }
        }
        let since = store.local_modseq(since);
        for (index, entry) in messages.iter().enumerate() {
            if entry.modseq > since {
                crate::imap::state::flags_fetch(
                    out,
                    index as u32 + 1,
                    entry.uid,
                    &entry.flags,
                    selected.recent.contains(entry.uid),
                    Some(store.wire_modseq(entry.modseq)),
                );
            }
        }
    }
    // Last, so the background read does not hold up this command's own.
    store.prepare_searches(info.id);
    session.state = State::Selected {
        store,
        selected: Box::new(selected),
    };
    if read_only {
        Outcome::ok_with(Code::ReadOnly, "EXAMINE completed")
    } else {
        Outcome::ok_with(Code::ReadWrite, "SELECT completed")
    }
}
