//! STORE and UID STORE, with CONDSTORE's UNCHANGEDSINCE (RFC 7162 §3.1.3).

use super::{flag_names, targets};
use crate::flags::FlagOp;
use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::{Session, flags_fetch};
use imap_types::command::StoreModifier;
use imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_types::response::Code;
use imap_types::sequence::SequenceSet;

#[allow(clippy::too_many_arguments)]
pub fn run(
    session: &mut Session,
    set: SequenceSet,
    kind: StoreType,
    response: StoreResponse,
    flags: Vec<Flag<'_>>,
    by_uid: bool,
    modifiers: Vec<StoreModifier>,
    out: &mut Replies,
) -> Outcome {
    let unchanged_since = modifiers
        .iter()
        .map(|StoreModifier::UnchangedSince(m)| *m)
        .min();
    if unchanged_since.is_some() {
        session.condstore = true;
    }
    let condstore = session.condstore;
    let (store, selected) = match super::selected(session) {
        Ok(selected) => selected,
        Err(outcome) => return outcome,
    };
    if selected.read_only {
        return Outcome::no("mailbox is read-only");
    }
    let flags = match flag_names(&flags) {
        Ok(flags) => flags,
        Err(outcome) => return outcome,
    };
    let op = match kind {
        StoreType::Add => FlagOp::Add,
        StoreType::Remove => FlagOp::Remove,
        StoreType::Replace => FlagOp::Replace,
    };
    let messages = match targets(&store, selected, &set, by_uid) {
        Ok(messages) => messages,
        Err(outcome) => return outcome,
    };
    let (allowed, modified): (Vec<_>, Vec<_>) = messages
        .into_iter()
        .partition(|(_, e)| unchanged_since.is_none_or(|m| e.modseq <= store.local_modseq(m)));
    let ids: Vec<_> = allowed.iter().map(|(_, e)| e.id).collect();
    let changed = store.write(|r| {
        r.store_flags(&ids, op, &flags)?;
        super::current_entries(r, &ids)
    });
    let after = match changed {
        Ok(after) => after,
        Err(error) => return error.into(),
    };
    for (seq, before) in &allowed {
        let Some(now) = after.get(&before.id) else {
            continue;
        };
        selected.view.note(now.uid, &now.flags, now.modseq);
        selected.announce(out, &now.flags);
        // .SILENT still reports MODSEQ under CONDSTORE (RFC 7162 §3.2).
        if response == StoreResponse::Answer || (condstore && now.modseq != before.modseq) {
            flags_fetch(
                out,
                *seq,
                now.uid,
                &now.flags,
                selected.recent.contains(now.uid),
                condstore.then_some(store.wire_modseq(now.modseq)),
            );
        }
    }
    if modified.is_empty() {
        return Outcome::ok("STORE completed");
    }
    let numbers: Vec<u32> = modified
        .iter()
        .map(|(seq, e)| if by_uid { e.uid } else { *seq })
        .collect();
    match super::sequence_set(&numbers) {
        Some(set) => Outcome::ok_with(Code::Modified(set), "some messages changed meanwhile"),
        None => Outcome::ok("STORE completed"),
    }
}
