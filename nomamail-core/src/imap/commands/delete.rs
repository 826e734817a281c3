//! DELETE: removes the mailbox and expunges its messages; mailboxes below it stay.

use super::existing_mailbox;
use crate::imap::reply::Outcome;
use crate::imap::session::Session;
use imap_types::mailbox::Mailbox;

pub fn run(session: &mut Session, mailbox: Mailbox<'_>) -> Outcome {
    let store = match super::authenticated(session) {
        Ok(store) => store,
        Err(outcome) => return outcome,
    };
    let info = match existing_mailbox(&store, &mailbox) {
        Ok(info) => info,
        Err(outcome) => return outcome,
    };
    match store.write(|r| r.delete_mailbox(info.id)) {
        Ok(()) => Outcome::ok("DELETE completed"),
        Err(error) => error.into(),
    }
}
