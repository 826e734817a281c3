//! EXPUNGE and UID EXPUNGE (RFC 4315). The EXPUNGE responses themselves come from the
//! session's catch-up, which numbers them as the client sees the mailbox.

use crate::imap::reply::{Outcome, Replies};
use crate::imap::session::Session;
use imap_types::sequence::SequenceSet;

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
            Ok(targets) => Some(targets.into_iter().map(|(_, e)| e.id).collect::<Vec<_>>()),
            Err(outcome) => return outcome,
        },
        None => None,
    };
    let mailbox = selected.mailbox;
    let removed = store.write(|r| {
        let doomed: Vec<_> = r
            .entries(mailbox)?
            .into_iter()
            .filter(|e| e.flags.iter().any(|f| f == "\\Deleted"))
            .filter(|e| allowed.as_ref().is_none_or(|ids| ids.contains(&e.id)))
            .map(|e| e.id)
            .collect();
        r.expunge(&doomed)
    });
    match removed {
        Ok(()) => Outcome::ok("EXPUNGE completed"),
        Err(error) => error.into(),
    }
}
