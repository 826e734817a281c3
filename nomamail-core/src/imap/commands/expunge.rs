//! EXPUNGE and UID EXPUNGE (RFC 4315). The EXPUNGE responses themselves come from the
//! session's catch-up, which numbers them as the client sees the mailbox.

use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::Session;
use imap_types::sequence::SequenceSet;
use std::collections::HashSet;

pub fn run(session: &mut Session, uids: Option<SequenceSet>, _out: &mut Replies) -> Outcome {
    let (store, selected) = match super::selected(session) {
        Ok(selected) => selected,
        Err(outcome) => return outcome,
    };
    if selected.read_only {
        return Outcome::no("mailbox is read-only");
    }
    let allowed = match &uids {
        Some(set) => match super::targets(&store, selected, set, true) {
            Ok(targets) => Some(
                targets
                    .into_iter()
                    .map(|(_, e)| e.id)
                    .collect::<HashSet<_>>(),
            ),
            Err(outcome) => return outcome,
        },
        None => None,
    };
    match super::expunge_deleted(&store, selected.mailbox, allowed.as_ref()) {
        Ok(()) => Outcome::ok("EXPUNGE completed"),
        Err(error) => error.into(),
    }
}
