//! SUBSCRIBE and UNSUBSCRIBE.

use crate::imap::reply::Outcome;
use crate::imap::state::Session;
use imap_types::mailbox::Mailbox;

pub fn run(session: &mut Session, mailbox: Mailbox<'_>, subscribe: bool) -> Outcome {
    let (store, info) = match super::authenticated_mailbox(session, &mailbox) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    match store.write(|r| r.set_subscribed(info.id, subscribe)) {
        Ok(()) => Outcome::ok("completed"),
        Err(error) => error.into(),
    }
}
