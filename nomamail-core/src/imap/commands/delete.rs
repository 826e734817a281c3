//! DELETE: removes the mailbox and expunges its messages; mailboxes below it stay.

use crate::imap::reply::Outcome;
use crate::imap::state::Session;
use imap_types::mailbox::Mailbox;

pub fn run(session: &mut Session, mailbox: Mailbox<'_>) -> Outcome {
    let (store, info) = match super::authenticated_mailbox(session, &mailbox) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    match store.write(|r| r.delete_mailbox(info.id)) {
        Ok(()) => Outcome::ok("DELETE completed"),
        Err(error) => error.into(),
    }
}
