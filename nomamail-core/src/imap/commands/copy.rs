//! COPY and MOVE (RFC 6851), with UIDPLUS's COPYUID.

use super::{existing_mailbox, targets, uid_set};
use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::Session;
use imap_types::mailbox::Mailbox;
use imap_types::response::Code;
use imap_types::sequence::SequenceSet;
use std::num::NonZeroU32;

pub fn run(
    session: &mut Session,
    set: SequenceSet,
    mailbox: Mailbox<'_>,
    by_uid: bool,
    moving: bool,
    out: &mut Replies,
) -> Outcome {
    let quota = session.shared.config.quota_kib;
    let (store, selected) = match super::selected(session) {
        Ok(selected) => selected,
        Err(outcome) => return outcome,
    };
    if moving && selected.read_only {
        return Outcome::no("mailbox is read-only");
    }
    let dest = match existing_mailbox(&store, &mailbox) {
        Ok(info) => info,
        Err(Outcome::No { .. }) => {
            return Outcome::no_with(Code::TryCreate, "no such mailbox; create it first");
        }
        Err(outcome) => return outcome,
    };
    let messages = match targets(&store, selected, &set, by_uid) {
        Ok(messages) => messages,
        Err(outcome) => return outcome,
    };
    let verb = if moving { "MOVE" } else { "COPY" };
    if messages.is_empty() {
        return Outcome::ok(format!("{verb} completed: nothing to do"));
    }
    if !moving {
        let adding = messages.iter().map(|(_, e)| e.size).sum();
        if let Err(outcome) = super::quota::refuse_if_over(quota, &store, adding) {
            return outcome;
        }
    }
    let ids: Vec<_> = messages.iter().map(|(_, e)| e.id).collect();
    let landed = store.write(|r| {
        if moving {
            r.move_to(&ids, dest.id)
        } else {
            r.copy(&ids, dest.id)
        }
    });
    let landed = match landed {
        Ok(landed) => landed,
        Err(error) => return error.into(),
    };
    let source: Vec<u32> = messages.iter().map(|(_, e)| e.uid).collect();
    let destination: Vec<u32> = landed.iter().map(|a| a.uid).collect();
    let copy_uid = match (
        NonZeroU32::new(dest.uidvalidity),
        uid_set(&source),
        uid_set(&destination),
    ) {
        (Some(uid_validity), Some(source), Some(destination)) => Some(Code::CopyUid {
            uid_validity,
            source,
            destination,
        }),
        _ => None,
    };
    match copy_uid {
        // RFC 6851 §4.3: MOVE reports COPYUID before the EXPUNGEs, in an untagged OK.
        Some(code) if moving => {
            out.untagged_ok(Some(code), "moved");
            Outcome::ok("MOVE completed")
        }
        Some(code) => Outcome::ok_with(code, "COPY completed"),
        None => Outcome::ok(format!("{verb} completed")),
    }
}
